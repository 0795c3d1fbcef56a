"""Checks for exercise sheet 02, moment matching (solutions/02_moment_matching.ipynb).

Moment matching with uniform noise, moments with standard errors, a sampler for a given covariance
(any square root passes), when two scales give the same law, and the inverse of the Cholesky head.
"""

from __future__ import annotations

import math

import torch

from vaelib import gaussians, reparam
from vaelib.checks import Case, CheckFailed, Mistake, call, check_function, format_value

__all__ = [
    "check_sample_matching_moments",
    "check_moments_with_stderr",
    "check_sample_with_covariance",
    "check_same_law",
    "check_raw_from_covariance",
]

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed), dtype=F64)


# --------------------------------------------------------------------------- Exercise 1
# Moment matching with uniform noise: u ~ U(0, 1) has mean 1/2 and variance 1/12, so
# z = mu + std * sqrt(12) (u - 1/2) has mean mu and variance std^2 (and so has its mirror image).

SQRT12 = math.sqrt(12.0)


def _uniform_reference(mu, log_var, u):
    return mu + torch.exp(0.5 * log_var) * SQRT12 * (u - 0.5)


def _uniform_mirrored(mu, log_var, u):  # the same law, from 1 - u
    return mu - torch.exp(0.5 * log_var) * SQRT12 * (u - 0.5)


def _either_direction(mu, log_var, u):
    """A property: z = mu + std sqrt(12) (u - 1/2), or its mirror mu - ..., in every entry alike."""
    right = [_uniform_reference(mu, log_var, u), _uniform_mirrored(mu, log_var, u)]

    def verdict(got):
        if not isinstance(got, torch.Tensor) or got.shape != u.shape:
            return f"expected a tensor of shape {tuple(u.shape)} (one z per u), got {format_value(got)}"
        if got.dtype != u.dtype:
            return f"your result is {str(got.dtype).replace('torch.', '')} but the inputs are float64"
        if not any(torch.allclose(got.detach(), r, atol=1e-8, rtol=1e-6) for r in right):
            return "values differ from mu + std * sqrt(12) * (u - 1/2) (or its mirror image mu - ..., the same law)"
        return None

    return verdict


UNIFORM_MISTAKES = [
    Mistake(
        lambda mu, log_var, u: mu + torch.exp(0.5 * log_var) * (u - 0.5),
        "the centred uniform u - 1/2 has variance 1/12, not 1: scale it by sqrt(12) before multiplying by std.",
    ),
    Mistake(
        lambda mu, log_var, u: mu + torch.exp(0.5 * log_var) * SQRT12 * u,
        "u has mean 1/2: centre it first (u - 1/2), or z has mean mu + std * sqrt(3).",
    ),
    Mistake(
        lambda mu, log_var, u: mu + torch.exp(0.5 * log_var) * (2 * u - 1),
        "2u - 1 is uniform on (-1, 1), whose variance is 1/3: multiply by sqrt(3) too.",
    ),
    Mistake(
        lambda mu, log_var, u: mu + torch.exp(log_var) * SQRT12 * (u - 0.5),
        "you scaled by the variance exp(log_var); the noise needs the standard deviation exp(0.5 * log_var).",
    ),
    Mistake(
        lambda mu, log_var, u: mu + torch.exp(0.5 * log_var) * 12 * (u - 0.5),
        "a standard deviation scales by sqrt(12), not 12: Var[c (u - 1/2)] = c^2 / 12 = 1 needs c = sqrt(12).",
    ),
    Mistake(
        lambda mu, log_var, u: mu + torch.exp(0.5 * log_var) * torch.special.ndtri(u),
        "mu + std * Phi^-1(u) has the right moments too (it is the Gaussian sampler), but this exercise asks "
        "for an affine map of u, z = a + b u: the uniform law, moment-matched.",
    ),
]


def check_sample_matching_moments(sample_matching_moments) -> None:
    """Exercise 1: ``sample_matching_moments(mu, log_var, u)`` = mu + std sqrt(12) (u - 1/2), or its mirror.

    Simplest first: mu = 0, log_var = 0 (z is the standardised noise alone), then log_var = 0
    (the shift), then general values; then the gradients reaching mu and log_var, checked against
    whichever of the two directions the answer uses.
    """
    u = torch.rand(2, 3, generator=_gen(6), dtype=F64)
    zeros, mu = torch.zeros(2, 3, dtype=F64), _randn(2, 3, seed=7)
    inputs = [((zeros, zeros, u), "mu = 0, log_var = 0 (z is the standardised noise)"), ((mu, zeros, u), "log_var = 0")]
    for (B, K), seed in [((3, 2), 1), ((1, 5), 2)]:
        log_var = 3 * torch.rand(B, K, generator=_gen(seed + 200), dtype=F64) - 1.5
        u = torch.rand(B, K, generator=_gen(seed + 100), dtype=F64)
        inputs.append(((_randn(B, K, seed=seed), log_var, u), f"B = {B}, K = {K}"))
    cases = [Case(args, _either_direction(*args), label=label) for args, label in inputs]
    hint = (
        "u ~ U(0, 1) has mean 1/2 and variance 1/12: standardise it, (u - 1/2) * sqrt(12), then shift by mu "
        "and scale by std = exp(0.5 * log_var)."
    )
    kwargs = dict(noise=2, exercise=1, name="sample_matching_moments", hint=hint, quiet=True)
    check_function(sample_matching_moments, cases, mistakes=UNIFORM_MISTAKES, **kwargs)
    probe = call(sample_matching_moments, inputs[0][0], exercise=1, name="sample_matching_moments", label="probe")
    reference = _uniform_reference if torch.allclose(probe, _uniform_reference(*inputs[0][0])) else _uniform_mirrored
    args = (_randn(2, 3, seed=3), 0.5 * _randn(2, 3, seed=4), torch.rand(2, 3, generator=_gen(5), dtype=F64))
    grad_case = Case(args, label="mu and log_var require gradients", atol=1e-8, rtol=1e-6, grad=(0, 1))
    check_function(sample_matching_moments, [grad_case], reference=reference, **kwargs)
    print(f"Exercise 1: sample_matching_moments passed all {len(cases) + 1} checks.")


# --------------------------------------------------------------------------- Exercise 2


def _moments_reference(z):
    N = z.shape[0]
    mean = z.mean(0)
    squared_dev = (z - mean) ** 2  # (N, K)
    return mean, z.std(0) / math.sqrt(N), z.var(0), squared_dev.std(0) / math.sqrt(N)


def _with(index: int, replacement):
    """The reference answer with item ``index`` replaced by ``replacement(z)``: one mistake."""

    def wrong(z):
        answer = list(_moments_reference(z))
        answer[index] = replacement(z)
        return tuple(answer)

    return wrong


MOMENT_MISTAKES = [
    Mistake(
        _with(1, lambda z: z.std(0)),
        "the standard error of the mean is std / sqrt(N): the sample std is the spread of one "
        "sample, the mean of N samples spreads sqrt(N) times less.",
    ),
    Mistake(
        _with(1, lambda z: z.std(0) / z.shape[0]),
        "divide the std by sqrt(N), not by N (the variance of a mean is var / N).",
    ),
    Mistake(
        _with(1, lambda z: z.var(0) / math.sqrt(z.shape[0])),
        "use the standard deviation, not the variance: standard error = std / sqrt(N).",
    ),
    Mistake(
        _with(3, lambda z: math.sqrt(2 / z.shape[0]) * z.var(0)),
        "sqrt(2 / N) * var is the standard error for Gaussian data only; these samples are not "
        "Gaussian. Use the spread of the squared deviations: std((z - mean)^2) / sqrt(N).",
    ),
    Mistake(
        _with(3, lambda z: z.std(0) / math.sqrt(z.shape[0])),
        "that is the standard error of the mean; the sample variance is the mean of the squared "
        "deviations d = (z - mean)^2, so its standard error is std(d) / sqrt(N).",
    ),
    Mistake(
        _with(2, lambda z: z.std(0)),
        "item 2 is the variance (std squared), not the standard deviation.",
    ),
    Mistake(
        lambda z: _moments_reference(z.T),
        "reduce over the N samples (dim 0), giving one number per coordinate, shape (K,).",
    ),
]


def check_moments_with_stderr(moments_with_stderr) -> None:
    """Exercise 2: ``moments_with_stderr(z)`` -> (mean, mean_se, var, var_se), each (K,).

    The tolerance (relative 2e-3 with N = 1000) accepts either the 1/N or the 1/(N - 1)
    convention in the standard deviations.
    """
    rate = torch.tensor([1.0, 0.5], dtype=F64)
    z_exponential = -torch.log(torch.rand(1000, 2, generator=_gen(7), dtype=F64)) / rate  # Exp(rate) samples
    z_gauss = torch.tensor([1.0, -2.0, 0.5], dtype=F64) + torch.tensor([0.5, 2.0, 1.0], dtype=F64) * _randn(
        1000, 3, seed=8
    )
    cases = [
        Case((z,), _moments_reference(z), label=label, atol=1e-9, rtol=2e-3)
        for z, label in [
            (z_exponential, "N = 1000 exponential samples, K = 2"),
            (z_gauss, "N = 1000 Gaussian samples, K = 3"),
        ]
    ]
    check_function(
        moments_with_stderr,
        cases,
        exercise=2,
        name="moments_with_stderr",
        hint=(
            "return a tuple (mean, mean_se, var, var_se), each of shape (K,): mean_se = std / sqrt(N); "
            "var_se = std((z - mean)^2) / sqrt(N)."
        ),
        mistakes=MOMENT_MISTAKES,
    )


# --------------------------------------------------------------------------- Exercise 4
# Any S with S S^T = cov gives N(mu, cov). The check recovers the student's S from z (z - mu = eps S^T,
# a linear fit over many noise rows) and judges S S^T, so every square root passes.


def _fitted_scale(z: torch.Tensor, mu: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, float]:
    """The S with z - mu ~= eps S^T (least squares), and the largest residual."""
    centred = (z - mu).detach().to(F64)
    S_T = torch.linalg.lstsq(eps, centred).solution  # (K, K)
    return S_T.T, (eps @ S_T - centred).abs().max().item()


def _what_S_is(S: torch.Tensor, cov: torch.Tensor) -> str:
    """A sentence on which wrong matrix the answer multiplied the noise by."""
    close = lambda a, b: torch.allclose(a, b, atol=1e-6, rtol=1e-5)  # noqa: E731
    if close(S, cov) or close(S @ S.T, cov @ cov.T):
        return "you multiplied the noise by cov itself; its covariance is then cov @ cov^T = cov^2. Use a square root S of cov (S S^T = cov)"
    if close(S @ S.T, torch.diag(torch.diagonal(cov))):
        return "your z has only the variances of cov (a diagonal scale): the off-diagonal covariances are lost. Use a matrix square root, e.g. torch.linalg.cholesky(cov)"
    if close(S, cov.clamp(min=0).sqrt()):
        return "torch.sqrt(cov) takes the square root of each entry, which is not a matrix square root: S S^T != cov"
    if close(S.T @ S, cov):
        return "your S has S^T S = cov but S S^T != cov: eps @ L applies L^T; for rows eps_n, z_n = mu + L eps_n is eps @ L.T"
    return "the covariance S S^T of your z = mu + S eps differs from cov"


def _covariance_verdict(mu, cov, eps):
    def verdict(got):
        if not isinstance(got, torch.Tensor) or got.shape != eps.shape:
            return f"expected shape {tuple(eps.shape)} (one sample per row of eps), got {format_value(got)}"
        if got.dtype != eps.dtype:
            return f"your result is {str(got.dtype).replace('torch.', '')} but the inputs are float64"
        S, residual = _fitted_scale(got, mu, eps)
        if residual > 1e-6 * (1 + float(got.detach().abs().max())):
            return "your z is not of the form mu + S eps (the same S for every row of the given noise)"
        if not torch.allclose(S @ S.T, cov, atol=1e-7, rtol=1e-6):
            return _what_S_is(S, cov)
        return None

    return verdict


def check_sample_with_covariance(sample_with_covariance) -> None:
    """Exercise 4: ``sample_with_covariance(mu, cov, eps)``: rows z_n = mu + S eps_n with S S^T = cov.

    Any square root S passes. Simplest first: a diagonal cov (S = the standard deviations), then
    K = 1, then correlated covariances; then the gradients must reach mu and cov.
    """
    A, name = _randn(4, 4, seed=51), "sample_with_covariance"
    covs = [
        (torch.diag(torch.tensor([4.0, 0.25, 1.0], dtype=F64)), "a diagonal cov = diag(4, 1/4, 1)"),
        (torch.tensor([[2.25]], dtype=F64), "K = 1, cov = [[2.25]]"),
        (torch.tensor([[1.0, 0.8], [0.8, 1.0]], dtype=F64), "K = 2, correlation 0.8"),
        (A @ A.T + 0.5 * torch.eye(4, dtype=F64), "K = 4, a random covariance"),
    ]
    inputs = [
        ((_randn(c.shape[0], seed=60 + i), c, _randn(50, c.shape[0], seed=70 + i)), s) for i, (c, s) in enumerate(covs)
    ]
    cases = [Case(args, _covariance_verdict(*args), label=label) for args, label in inputs]
    check_function(
        sample_with_covariance,
        cases,
        noise=2,
        exercise=4,
        name=name,
        hint="find S with S S^T = cov (torch.linalg.cholesky(cov) is one), then z = mu + eps @ S.T for rows eps_n.",
        quiet=True,
    )
    mu, cov, eps = (a.detach().clone().requires_grad_(i < 2) for i, a in enumerate(cases[-1].args))
    z = call(sample_with_covariance, (mu, cov, eps), exercise=4, name=name, label="gradients", copy_inputs=False)
    grads = torch.autograd.grad(z.sum(), (mu, cov), allow_unused=True) if z.requires_grad else (None, None)
    if any(g is None for g in grads):
        missing = " and ".join(n for n, g in zip(("mu", "cov"), grads) if g is None)
        raise CheckFailed(
            f"Exercise 4, {cases[-1].label}: the values are right but no gradient reaches {missing}: keep every step "
            f"a torch computation of the inputs (no numpy, .item(), .detach() or torch.tensor(...) of a result)."
        )
    print(f"Exercise 4: sample_with_covariance passed all {len(cases)} checks, with gradients reaching mu and cov.")


# --------------------------------------------------------------------------- Exercise 5


def _close(a, b) -> bool:
    return torch.allclose(a, b, atol=1e-8, rtol=1e-6)


SAME_LAW_MISTAKES = [
    Mistake(
        lambda S1, S2: _close(S1, S2),
        "different matrices can give the same law: S and S Q (Q orthogonal) both give N(0, S S^T). "
        "Compare the covariances S1 S1^T and S2 S2^T, not the matrices.",
    ),
    Mistake(
        lambda S1, S2: _close(S1.T @ S1, S2.T @ S2),
        "you compared S^T S; the covariance of S eps is S S^T. (Q S has the same S^T S as S but "
        "a different covariance Q S S^T Q^T.)",
    ),
    Mistake(
        lambda S1, S2: _close(torch.linalg.eigvalsh(S1 @ S1.T), torch.linalg.eigvalsh(S2 @ S2.T)),
        "equal eigenvalues of the covariance are not enough (S^T gives the same eigenvalues as S "
        "along rotated axes): compare the whole covariance S S^T.",
    ),
    Mistake(
        lambda S1, S2: math.isclose(S1.norm().item(), S2.norm().item(), rel_tol=1e-6),
        "equal Frobenius norms (equal traces of S S^T) are necessary but not sufficient: compare "
        "the whole covariance S S^T.",
    ),
    Mistake(
        lambda S1, S2: math.isclose(abs(torch.linalg.det(S1).item()), abs(torch.linalg.det(S2).item()), rel_tol=1e-6),
        "equal determinants are necessary but not sufficient (S and S diag(2, 1/2, 1) have the "
        "same |det| and different laws): compare the whole covariance S S^T.",
    ),
]


def _same_norm_other_spectrum(S):
    """A matrix with the Frobenius norm of S but other singular values (so another law)."""
    U, sigma, Vh = torch.linalg.svd(S)
    mixed = sigma.clone()
    mixed[:2] = ((sigma[0] ** 2 + sigma[1] ** 2) / 2).sqrt()  # same sum of squares
    return U @ torch.diag(mixed) @ Vh


def check_same_law(same_law) -> None:
    """Exercise 5: ``same_law(S1, S2)`` is True iff mu + S1 eps and mu + S2 eps have the same law."""
    S = _randn(3, 3, seed=31)
    Q = gaussians.random_orthogonal(3, generator=_gen(32), dtype=F64)
    stretch = torch.diag(torch.tensor([2.0, 0.5, 1.0], dtype=F64))
    L = torch.linalg.cholesky(S @ S.T)
    cases = [
        Case((S, S @ stretch), False, label="S vs S diag(2, 1/2, 1) (same |det|)"),
        Case((S, _same_norm_other_spectrum(S)), False, label="S vs a matrix with the same Frobenius norm"),
        Case((S, S.T), False, label="S vs S^T"),
        Case((S, Q @ S), False, label="S vs Q S (Q orthogonal, on the left)"),
        Case((S, S @ Q), True, label="S vs S Q (Q orthogonal, on the right)"),
        Case((S, -S), True, label="S vs -S"),
        Case((S, L), True, label="S vs the Cholesky factor of S S^T"),
        Case((S, S[:, [2, 0, 1]]), True, label="S vs S with its columns permuted"),
        Case((S, 2 * S), False, label="S vs 2 S"),
        Case((S, S[[2, 0, 1], :]), False, label="S vs S with its rows permuted"),
    ]
    check_function(
        same_law,
        cases,
        exercise=5,
        name="same_law",
        hint=(
            "return a bool: the laws N(0, S1 S1^T) and N(0, S2 S2^T) are equal iff the covariances are, "
            "e.g. torch.allclose(S1 @ S1.T, S2 @ S2.T)."
        ),
        mistakes=SAME_LAW_MISTAKES,
    )


# --------------------------------------------------------------------------- Exercise 6
# The inverse of the Cholesky head: cov -> the unique raw vector whose L = scale_tril_from_unconstrained(raw)
# has L L^T = cov. L = cholesky(cov) (unique with a positive diagonal); raw_ii = softplus^-1(L_ii) = log(expm1(L_ii)).


def _raw_with(cov, *, diag_fn=lambda d: torch.log(torch.expm1(d)), factor=None, order="rows"):
    """A wrong inverse, for the mistakes below."""
    K = cov.shape[-1]
    L = torch.linalg.cholesky(cov) if factor is None else factor(cov)
    rows, cols = torch.tril_indices(K, K)
    if order == "columns":
        cols, rows = torch.triu_indices(K, K)
    raw = L[..., rows, cols]
    return torch.where(rows == cols, diag_fn(raw), raw)


RAW_MISTAKES = [
    Mistake(
        lambda cov: _raw_with(cov, diag_fn=lambda d: d),
        "the head maps the raw diagonal through softplus, so raw_ii must be its inverse, softplus^-1(L_ii) = "
        "log(expm1(L_ii)), not L_ii itself.",
    ),
    Mistake(
        lambda cov: _raw_with(cov, diag_fn=torch.log),
        "log inverts exp; this head uses softplus(r) = log(1 + e^r), whose inverse is log(e^L - 1) = log(expm1(L)).",
    ),
    Mistake(
        lambda cov: _raw_with(cov, order="columns"),
        "wrong order: the head fills the lower triangle row by row, in the order of torch.tril_indices(K, K).",
    ),
    Mistake(
        lambda cov: _raw_with(cov, factor=lambda c: torch.linalg.cholesky(c, upper=True)),
        "cholesky(cov, upper=True) is the upper factor U = L^T, whose lower triangle holds only the diagonal: "
        "the head needs the lower factor L = torch.linalg.cholesky(cov).",
    ),
    Mistake(
        lambda cov: _raw_with(cov, factor=lambda c: torch.linalg.cholesky(torch.linalg.inv(c))),
        "you factorised the precision cov^-1; the head's L L^T is the covariance itself.",
    ),
]


def _round_trip(cov, K):
    """A property: scale_tril_from_unconstrained(raw) L L^T reproduces cov."""

    def verdict(got):
        n = K * (K + 1) // 2
        if not isinstance(got, torch.Tensor) or got.shape != (*cov.shape[:-2], n):
            return f"expected shape {(*cov.shape[:-2], n)} (K(K+1)/2 = {n} numbers per row), got {format_value(got)}"
        if not torch.isfinite(got).all():
            return "the raw vector contains NaN or inf: log(expm1(y)) needs y > 0"
        L = reparam.scale_tril_from_unconstrained(got.detach().to(F64), K)
        if not torch.allclose(L @ L.mT, cov, atol=1e-7, rtol=1e-6):
            return "values differ: feeding your raw vector to the head does not give back cov (L L^T != cov)"
        return None

    return verdict


def check_raw_from_covariance(raw_from_covariance) -> None:
    """Exercise 6: ``raw_from_covariance(cov)``: the raw head output whose Cholesky factor gives ``cov`` back.

    Checked by the round trip through ``vaelib.reparam.scale_tril_from_unconstrained`` (the inverse is
    unique, so this is the same as comparing raw vectors). Simplest first: K = 1, then diagonal, then general.
    """
    A = _randn(2, 3, 3, seed=81)
    covs = [
        (torch.tensor([[[0.25]], [[4.0]]], dtype=F64), "K = 1, cov = 1/4 and 4"),
        (torch.diag_embed(torch.tensor([[1.0, 0.09, 2.25]], dtype=F64)), "a diagonal cov"),
        (A @ A.mT + 0.2 * torch.eye(3, dtype=F64), "B = 2, K = 3, correlated"),
    ]
    cases = [Case((cov,), _round_trip(cov, cov.shape[-1]), label=label) for cov, label in covs]
    check_function(
        raw_from_covariance,
        cases,
        exercise=6,
        name="raw_from_covariance",
        hint=(
            "L = torch.linalg.cholesky(cov); read its lower triangle in the order of torch.tril_indices(K, K); "
            "replace each diagonal entry L_ii by softplus^-1(L_ii) = log(expm1(L_ii))."
        ),
        mistakes=RAW_MISTAKES,
    )
