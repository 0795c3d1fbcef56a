"""Checks for exercise sheet 04, amortized inference vs mean-field VI
(solutions/04_amortized_vs_mean_field.ipynb).

The linear-Gaussian model of lecture 04, z ~ N(0, I_K), x | z ~ N(W z + b, diag(noise_var)),
and Gaussian targets N(m, Sigma). Each check runs the student's function on fixed inputs,
compares with the reference (computed with ``vaelib.linear_gaussian`` and ``vaelib.gaussians``)
and, when the answer matches a typical mistake, names it.
"""

from __future__ import annotations

import torch

from vaelib.checks import Case, CheckFailed, Mistake, check_function, check_value
from vaelib.checks.predictions import prediction_value
from vaelib.gaussians import best_diagonal_reverse_kl
from vaelib.linear_gaussian import LinearGaussianModel

__all__ = [
    "check_posterior",
    "check_mean_field_variances",
    "check_moment_matching",
    "check_mean_field_gap",
    "check_gap_decomposition",
    "check_wider_prediction",
]

F64 = torch.float64


def _model_cases() -> list[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(label, x, W, b, noise_var): a 1-d model with round numbers, a 2-d factor analyser, and a
    3-d latent PPCA model (with K = 2 the forward- and reverse-KL minima coincide; K = 3 tells
    them apart)."""
    g = torch.Generator().manual_seed(404)
    one_d = (
        "1-d model W = 2, b = 1, noise_var = 0.5",
        torch.tensor([[3.0], [-1.0], [1.0]], dtype=F64),
        torch.tensor([[2.0]], dtype=F64),
        torch.tensor([1.0], dtype=F64),
        torch.tensor([0.5], dtype=F64),
    )
    W = torch.randn(4, 2, generator=g, dtype=F64)
    W[:, 1] += W[:, 0]  # correlated columns: a correlated posterior
    two_d = (
        "2-d latent, D = 4, diagonal noise",
        torch.randn(5, 4, generator=g, dtype=F64),
        W,
        torch.randn(4, generator=g, dtype=F64),
        torch.tensor([0.3, 0.8, 1.5, 0.5], dtype=F64),
    )
    W3 = torch.randn(5, 3, generator=g, dtype=F64)
    W3[:, 2] += W3[:, 1] - W3[:, 0]
    three_d = (
        "3-d latent, D = 5, isotropic noise 0.4",
        torch.randn(2, 5, generator=g, dtype=F64),
        W3,
        torch.zeros(5, dtype=F64),
        torch.full((5,), 0.4, dtype=F64),
    )
    return [one_d, two_d, three_d]


# --------------------------------------------------------------------------- Exercise 1


def _posterior_reference(x, W, b, noise_var):
    posterior = LinearGaussianModel(W, b, noise_var).posterior(x)
    return posterior.mu, posterior.cov


def _posterior_with(x, W, b, noise_var, *, prior=True, use_noise=True, use_b=True, invert=True):
    psi = noise_var if use_noise else torch.ones_like(noise_var)
    precision = W.T @ (W / psi[:, None])
    if prior:
        precision = precision + torch.eye(W.shape[1], dtype=W.dtype)
    cov = torch.linalg.inv(precision)
    centred = x - b if use_b else x
    mu = (centred / psi) @ W @ cov
    return mu, (cov if invert else precision)


POSTERIOR_MISTAKES = [
    Mistake(
        lambda x, W, b, v: _posterior_with(x, W, b, v, use_noise=False),
        "you left out the noise variance: the precision is I + W^T Psi^{-1} W and the mean "
        "S W^T Psi^{-1} (x - b); divide by noise_var (it is not 1 here).",
    ),
    Mistake(
        lambda x, W, b, v: _posterior_with(x, W, b, v, prior=False),
        "you left out the prior: N(0, I) adds the identity to the precision, "
        "Lambda = I + W^T Psi^{-1} W (without it you get the least-squares solution, not the posterior).",
    ),
    Mistake(
        lambda x, W, b, v: _posterior_with(x, W, b, v, use_b=False),
        "you forgot the offset b: the mean is S W^T Psi^{-1} (x - b).",
    ),
    Mistake(
        lambda x, W, b, v: _posterior_with(x, W, b, v, invert=False),
        "you returned the precision Lambda = I + W^T Psi^{-1} W as the covariance; the "
        "covariance is its inverse S = Lambda^{-1}.",
    ),
    Mistake(
        lambda x, W, b, v: _posterior_with(x, W, b, v.sqrt()),
        "you used the noise standard deviation where the variance belongs: noise_var is "
        "already Psi_dd, do not take its square root.",
    ),
]


def check_posterior(posterior) -> None:
    """Exercise 1: ``posterior(x, W, b, noise_var)`` returns (mu (B, K), cov (K, K))."""
    cases = [
        Case((x, W, b, v), _posterior_reference(x, W, b, v), label=label, atol=1e-8, rtol=1e-6)
        for label, x, W, b, v in _model_cases()
    ]
    check_function(
        posterior,
        cases,
        exercise=1,
        name="posterior",
        hint="return a tuple (mu, cov): mu of shape (B, K), one row per data point, and cov of "
        "shape (K, K), the same for every point. Lambda = I + W^T Psi^{-1} W, S = Lambda^{-1}, "
        "mu = S W^T Psi^{-1} (x - b).",
        mistakes=POSTERIOR_MISTAKES,
    )


# --------------------------------------------------------------------------- Exercises 2 and 3


def _target_covariances() -> list[tuple[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(4040)
    A = torch.randn(3, 3, generator=g, dtype=F64)
    return [
        ("Sigma = [[2, 1.2], [1.2, 1]]", torch.tensor([[2.0, 1.2], [1.2, 1.0]], dtype=F64)),
        ("Sigma = [[1, -0.9], [-0.9, 1]]", torch.tensor([[1.0, -0.9], [-0.9, 1.0]], dtype=F64)),
        ("a correlated 3 x 3 Sigma", A @ A.T + 0.2 * torch.eye(3, dtype=F64)),
    ]


def _reverse_variances(cov):
    return 1.0 / torch.linalg.inv(cov).diagonal()


def _forward_kl_min(cov):
    return 0.5 * (cov.diagonal().log().sum() - torch.logdet(cov))


def _reverse_kl_min(cov):
    return 0.5 * (torch.logdet(cov) + torch.linalg.inv(cov).diagonal().log().sum())


MEAN_FIELD_MISTAKES = [
    Mistake(
        lambda cov: cov.diagonal(),
        "you used Sigma_kk, the marginal variances: that is the forward-KL (moment-matching) "
        "solution. Reverse KL(q || p) matches the precision: var_k = 1 / (Sigma^{-1})_kk.",
    ),
    Mistake(
        lambda cov: torch.linalg.inv(cov).diagonal(),
        "you returned the diagonal of the precision, Lambda_kk; the variance is its reciprocal, 1 / Lambda_kk.",
    ),
    Mistake(
        lambda cov: 1.0 / cov.diagonal(),
        "you inverted the diagonal of Sigma; invert the matrix first, then take the diagonal: "
        "1 / (Sigma^{-1})_kk, not 1 / Sigma_kk.",
    ),
    Mistake(
        lambda cov: _reverse_variances(cov).sqrt(),
        "you returned standard deviations; the question asks for variances 1 / Lambda_kk.",
    ),
]


def check_mean_field_variances(mean_field_variances) -> None:
    """Exercise 2: ``mean_field_variances(cov)`` returns 1 / diag(cov^{-1}), shape (K,)."""
    cases = [
        Case((cov,), _reverse_variances(cov), label=label, atol=1e-8, rtol=1e-6) for label, cov in _target_covariances()
    ]
    check_function(
        mean_field_variances,
        cases,
        exercise=2,
        name="mean_field_variances",
        hint="one variance per coordinate, shape (K,): the optimal factor q_k has variance "
        "1 / Lambda_kk with Lambda = Sigma^{-1} (Bishop 2006, eq. 10.13).",
        mistakes=MEAN_FIELD_MISTAKES,
    )


MOMENT_MATCHING_MISTAKES = [
    Mistake(
        lambda cov: (_reverse_variances(cov), _forward_kl_min(cov)),
        "your variances are 1 / Lambda_kk, the reverse-KL (mean-field) answer. Minimising the "
        "forward KL(p || q) matches the moments: var_k = Sigma_kk.",
    ),
    Mistake(
        lambda cov: (cov.diagonal(), _reverse_kl_min(cov)),
        "the variances are right, but your KL is the reverse-KL minimum "
        "1/2 [log det Sigma + sum_k log Lambda_kk]; the forward KL(p || q*) is "
        "1/2 [sum_k log Sigma_kk - log det Sigma].",
    ),
    Mistake(
        lambda cov: (cov.diagonal(), 2 * _forward_kl_min(cov)),
        "the KL is twice too large: KL between Gaussians carries a factor 1/2.",
    ),
    Mistake(
        lambda cov: (cov.diagonal(), -_forward_kl_min(cov)),
        "your KL is negative: a KL is >= 0. Check the sign: 1/2 [sum_k log Sigma_kk - log det Sigma] "
        "(Hadamard's inequality makes it >= 0).",
    ),
    Mistake(
        lambda cov: (torch.linalg.eigvalsh(cov), _forward_kl_min(cov)),
        "you returned the eigenvalues of Sigma: the variances along the principal axes. A "
        "diagonal q has one variance per *coordinate*: Sigma_kk.",
    ),
]


def check_moment_matching(moment_matching) -> None:
    """Exercise 3: ``moment_matching(cov)`` returns (diag(cov), KL(p || q*)) for p = N(0, cov)."""
    cases = [
        Case((cov,), (cov.diagonal().clone(), _forward_kl_min(cov)), label=label, atol=1e-8, rtol=1e-6)
        for label, cov in _target_covariances()
    ]
    check_function(
        moment_matching,
        cases,
        exercise=3,
        name="moment_matching",
        hint="return a tuple (variances of shape (K,), the minimal KL as a 0-d tensor or a float).",
        mistakes=MOMENT_MATCHING_MISTAKES,
    )


# --------------------------------------------------------------------------- Exercise 4


def _gap_reference(W, noise_var):
    model = LinearGaussianModel(W, None, noise_var)
    S = model.posterior_cov()
    return best_diagonal_reverse_kl(torch.zeros(W.shape[1], dtype=W.dtype), S)[2]


def _gap_with(W, noise_var, *, use_noise=True, prior=True, formula="reverse", scale=0.5):
    psi = noise_var if use_noise else torch.ones_like(noise_var)
    precision = W.T @ (W / psi[:, None])
    if prior:
        precision = precision + torch.eye(W.shape[1], dtype=W.dtype)
    S = torch.linalg.inv(precision)
    if formula == "reverse":
        value = torch.logdet(S) + precision.diagonal().log().sum()
    else:  # the forward-KL minimum
        value = S.diagonal().log().sum() - torch.logdet(S)
    return scale * value


MEAN_FIELD_GAP_MISTAKES = [
    Mistake(
        lambda W, v: _gap_with(W, v, use_noise=False),
        "you left out the noise variance: Lambda = I + W^T Psi^{-1} W.",
    ),
    Mistake(
        lambda W, v: _gap_with(W, v, prior=False),
        "you left out the prior's identity in Lambda = I + W^T Psi^{-1} W.",
    ),
    Mistake(
        lambda W, v: _gap_with(W, v, formula="forward"),
        "that is the forward-KL minimum 1/2 [sum_k log S_kk - log det S]; the ELBO's gap is "
        "the reverse KL(q* || p(z|x)) = 1/2 [log det S + sum_k log Lambda_kk].",
    ),
    Mistake(
        lambda W, v: _gap_with(W, v, scale=-0.5),
        "your gap is negative: log p(x) - ELBO(q*) = KL(q* || p(z|x)) >= 0. Check the sign of each log-determinant.",
    ),
    Mistake(
        lambda W, v: _gap_with(W, v, scale=1.0),
        "the gap is twice too large: the Gaussian KL carries a factor 1/2.",
    ),
]


def check_mean_field_gap(mean_field_gap) -> None:
    """Exercise 4: ``mean_field_gap(W, noise_var)`` returns the mean-field approximation gap."""
    cases = []
    for label, _, W, _, v in _model_cases():
        cases.append(Case((W, v), _gap_reference(W, v), label=label, atol=1e-8, rtol=1e-6))
    check_function(
        mean_field_gap,
        cases,
        exercise=4,
        name="mean_field_gap",
        hint="one number (0-d tensor or float), the same for every x: "
        "1/2 [log det S + sum_k log Lambda_kk] with Lambda = I + W^T Psi^{-1} W and S = Lambda^{-1}. "
        "In a 1-d model it is 0: one latent is always 'factorized'.",
        mistakes=MEAN_FIELD_GAP_MISTAKES,
    )


# --------------------------------------------------------------------------- Exercise 5


def _precision_and_cov(W, noise_var):
    model = LinearGaussianModel(W, None, noise_var)
    return model.posterior_precision(), model.posterior_cov()


def _decomposition_reference(W, noise_var, enc_var):
    """(approximation, amortization) for an encoder with the exact mean and variances enc_var.

    The total gap is KL(N(mu, diag enc_var) || N(mu, S)), computed by torch.distributions (an
    oracle independent of the closed form the student derives); the approximation gap is that of
    the best diagonal q (exercise 4); the amortization gap is the difference.
    """
    _, S = _precision_and_cov(W, noise_var)
    zeros = torch.zeros(W.shape[1], dtype=W.dtype)
    q = torch.distributions.MultivariateNormal(zeros, covariance_matrix=torch.diag(enc_var))
    total = torch.distributions.kl_divergence(q, torch.distributions.MultivariateNormal(zeros, covariance_matrix=S))
    approximation = _gap_reference(W, noise_var)
    return approximation, total - approximation


def _amortization_with(W, noise_var, enc_var, *, target="precision", minus_one=True, scale=0.5):
    precision, S = _precision_and_cov(W, noise_var)
    r = enc_var * precision.diagonal() if target == "precision" else enc_var / S.diagonal()
    return scale * (r - (1.0 if minus_one else 0.0) - torch.log(r)).sum()


def _wrong_decomposition(**kw):
    return lambda W, v, e: (_gap_reference(W, v), _amortization_with(W, v, e, **kw))


GAP_MISTAKES = [
    Mistake(
        lambda W, v, e: _decomposition_reference(W, v, e)[::-1],
        "you swapped the two gaps: approximation = log p(x) - ELBO(q*) (the diagonal family's limit, exercise 4), "
        "amortization = ELBO(q*) - ELBO(q_encoder) (the encoder's shortfall within the family).",
    ),
    Mistake(
        lambda W, v, e: (_gap_reference(W, v), sum(_decomposition_reference(W, v, e))),
        "your amortization gap is the TOTAL gap KL(q_encoder || p(z|x)); subtract the approximation gap KL(q* || p(z|x)).",
    ),
    Mistake(
        _wrong_decomposition(target="marginal"),
        "you compared the encoder's variances with the marginal posterior variances S_kk; the best diagonal q* has "
        "variances 1/Lambda_kk (exercise 2), and the KL to the posterior weighs each variance by Lambda_kk.",
    ),
    Mistake(
        _wrong_decomposition(minus_one=False),
        "each dimension of KL(N(m, diag v) || N(m, S)) contributes 1/2 [Lambda_kk v_k - 1 - log(Lambda_kk v_k)] once "
        "the approximation gap is taken out: you dropped the -1 (the '- K' of the Gaussian KL).",
    ),
    Mistake(
        _wrong_decomposition(scale=1.0), "your amortization gap is twice too large: the Gaussian KL carries a 1/2."
    ),
]


def _decomposition_cases() -> list[Case]:
    cases = []
    for label, _, W, _, v in _model_cases():
        precision, S = _precision_and_cov(W, v)
        K = W.shape[1]
        encoders = [
            ("the best diagonal variances 1/Lambda_kk", 1 / precision.diagonal()),
            ("the prior's variances, 1", torch.ones(K, dtype=F64)),
        ]
        if K > 1:
            encoders.append(("the marginal posterior variances S_kk (moment matching)", S.diagonal().clone()))
        for what, enc_var in encoders:
            args = (W, v, enc_var)
            cases.append(
                Case(args, _decomposition_reference(*args), label=f"{label}; encoder: {what}", atol=1e-8, rtol=1e-6)
            )
    return cases


def check_gap_decomposition(gap_decomposition) -> None:
    """Exercise 5: ``gap_decomposition(W, noise_var, enc_var)`` -> (approximation, amortization).

    The encoder outputs the exact posterior mean and the diagonal variances ``enc_var``. Cases run
    from the 1-d model (no approximation gap) to the 3-d one, with the best, the prior's and the
    moment-matched variances.
    """
    check_function(
        gap_decomposition,
        _decomposition_cases(),
        exercise=5,
        name="gap_decomposition",
        hint="return a tuple (approximation gap, amortization gap) of numbers: approximation = exercise 4's gap; "
        "total = KL(N(mu, diag enc_var) || N(mu, S)); amortization = total - approximation.",
        mistakes=GAP_MISTAKES,
    )


def check_wider_prediction(wider) -> None:
    """Exercise 3, the prediction: for a correlated target, the forward KL gives the wider factorized Gaussian."""
    label = 'your prediction of the direction with the wider Gaussian ("reverse" or "forward")'
    wider = prediction_value(wider, exercise=3, name="wider_direction")
    choice = wider.strip().lower() if isinstance(wider, str) else None
    if choice not in ("reverse", "forward"):
        raise CheckFailed(f'Exercise 3, {label}: expected "reverse" or "forward", got {wider!r}.')
    if choice == "forward":
        print(f"Exercise 3: {label} is correct: forward (variances 1) is wider than reverse (0.19).")
        return
    check_value(
        choice,
        "forward",
        exercise=3,
        label=label,
        hint="KL(q || p) = E_q[log q - log p] is large where q puts mass that p lacks, so q must stay inside p's "
        "narrow ridge: the reverse KL SHRINKS q (variance 1 - rho^2 = 0.19); the forward KL must cover all of p's "
        "mass and matches its marginal variances (1).",
    )
