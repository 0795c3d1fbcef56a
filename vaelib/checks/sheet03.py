"""Checks for exercise sheet 03, the full-covariance KL (solutions/03_full_covariance_kl.ipynb).

The KLs of lecture 03: a general scale S and a Cholesky factor to N(0, I), two Gaussians (by
whitening p), a Monte Carlo KL with its standard error, and the best diagonal Gaussian under
reverse KL. Each check compares with vaelib's reference (tested against torch.distributions).
"""

from __future__ import annotations

import math

import torch

from vaelib import gaussians, kl, reparam
from vaelib.checks import Case, Mistake, Term, check_function

__all__ = [
    "check_kl_general_scale",
    "check_kl_full",
    "check_kl_gauss",
    "check_kl_monte_carlo",
    "check_best_diagonal_q",
]

F64 = torch.float64
SEED = 2025  # the Monte Carlo check seeds torch's global generator with this before each call


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed), dtype=F64)


def _scale_tril(B: int, K: int, seed: int) -> torch.Tensor:
    """Random Cholesky factors (B, K, K) with diagonals away from 1 and nonzero off-diagonals."""
    return reparam.scale_tril_from_unconstrained(_randn(B, K * (K + 1) // 2, seed=seed), K)


def _diag(L: torch.Tensor) -> torch.Tensor:
    return torch.diagonal(L, dim1=-2, dim2=-1)


# --------------------------------------------------------------------------- Exercise 1


def _kl_general_reference(mu, S):
    """KL(N(mu, S S^T) || N(0, I)) = 1/2 [||S||_F^2 + mu^T mu - K - 2 log |det S|], shape (B,)."""
    K = mu.shape[-1]
    log_abs_det = torch.linalg.slogdet(S).logabsdet  # (B,)
    return 0.5 * ((S**2).sum((-2, -1)) + (mu**2).sum(-1) - K - 2 * log_abs_det)


KL_GENERAL_TERMS = [
    Term("trace term 1/2 ||S||_F^2", lambda mu, S: 0.5 * (S**2).sum((-2, -1))),
    Term("mean term 1/2 mu^T mu", lambda mu, S: 0.5 * (mu**2).sum(-1)),
    Term("log-determinant term -log |det S|", lambda mu, S: -torch.linalg.slogdet(S).logabsdet),
]


def _kl_with(log_det, trace=lambda S: (S**2).sum((-2, -1))):
    return lambda mu, S: 0.5 * (trace(S) + (mu**2).sum(-1) - mu.shape[-1] - log_det(S))


KL_GENERAL_MISTAKES = [
    Mistake(
        _kl_with(lambda S: 2 * torch.log(torch.diagonal(S, dim1=-2, dim2=-1).abs()).sum(-1)),
        "log det(S S^T) = 2 sum_i log S_ii holds only for a triangular S; for a general S it is 2 log |det S| "
        "(torch.linalg.slogdet(S).logabsdet).",
    ),
    Mistake(
        _kl_with(lambda S: torch.linalg.slogdet(S).logabsdet),
        "det(S S^T) = det(S)^2, so log det Sigma = 2 log |det S|: you forgot the factor 2.",
    ),
    Mistake(
        _kl_with(
            lambda S: 2 * torch.linalg.slogdet(S).logabsdet, trace=lambda S: torch.diagonal(S, dim1=-2, dim2=-1).sum(-1)
        ),
        "tr Sigma = tr(S S^T) = ||S||_F^2 (the sum of ALL squared entries), not tr S.",
    ),
]


def check_kl_general_scale(kl_general_scale) -> None:
    """Exercise 1: ``kl_general_scale(mu, S)`` = KL(N(mu, S S^T) || N(0, I)) for any invertible S, shape (B,).

    Simplest first: S = I (the KL is 1/2 mu^T mu), a diagonal S (where the Cholesky formula still
    holds), an orthogonal S (S S^T = I again, though S is not triangular), then general S with
    negative determinants, with gradients to mu and S.
    """
    mu = _randn(3, 3, seed=21)
    eye = torch.eye(3, dtype=F64).expand(3, 3, 3).clone()
    diag = torch.diag_embed(0.5 + torch.rand(3, 3, generator=_gen(22), dtype=F64))
    Q = torch.linalg.qr(_randn(3, 3, 3, seed=23)).Q
    general = _randn(4, 3, 3, seed=24) + 2 * torch.eye(3, dtype=F64)
    signs = torch.tensor([-1.0, 1.0, -1.0, 1.0], dtype=F64) * torch.linalg.det(general).sign()
    general[:, 0] *= signs[:, None]  # flipping a row flips det: rows 0 and 2 get det S < 0, rows 1 and 3 det S > 0
    cases = [
        Case((mu, eye), label="S = I (the KL is 1/2 mu^T mu)", atol=1e-8, rtol=1e-6),
        Case((mu, diag), label="S diagonal", atol=1e-8, rtol=1e-6),
        Case(
            (mu, Q),
            label="S orthogonal (S S^T = I, but S is not triangular)",
            atol=1e-8,
            rtol=1e-6,
            hint="here S S^T = I, so the KL is 1/2 mu^T mu again. The diagonal of a non-triangular S says nothing "
            "about its determinant (and may be negative: log gives NaN): log det(S S^T) = 2 log |det S|.",
        ),
        Case(
            (_randn(4, 3, seed=25), general),
            label="a general S, some with det S < 0",
            atol=1e-8,
            rtol=1e-6,
            grad=(0, 1),
            hint="rows 0 and 2 have det S < 0, where log det S is NaN; det(S S^T) = det(S)^2 > 0, so "
            "log det Sigma = 2 log |det S| (torch.linalg.slogdet(S).logabsdet).",
        ),
    ]
    check_function(
        kl_general_scale,
        cases,
        exercise=1,
        name="kl_general_scale",
        hint="with Sigma = S S^T: tr Sigma = ||S||_F^2 and log det Sigma = log det(S)^2 = 2 log |det S|; "
        "KL = 1/2 [tr Sigma + mu^T mu - K - log det Sigma], one value per row.",
        mistakes=KL_GENERAL_MISTAKES,
        terms=KL_GENERAL_TERMS,
        reference=_kl_general_reference,
    )


# --------------------------------------------------------------------------- Exercise 2


def _kl_full_with(trace_term, log_det, *, half=0.5, reduce_mu=lambda mu: (mu**2).sum(-1), minus_K=True):
    def wrong(mu, L):
        K = mu.shape[-1]
        return half * (trace_term(L) + reduce_mu(mu) - (K if minus_K else 0) - log_det(L))

    return wrong


_frobenius = lambda L: (L**2).sum((-2, -1))  # noqa: E731
_two_log_diag = lambda L: 2 * torch.log(_diag(L)).sum(-1)  # noqa: E731

KL_FULL_MISTAKES = [
    Mistake(
        _kl_full_with(lambda L: _diag(L).sum(-1), _two_log_diag),
        "tr(Sigma) = tr(L L^T) is the squared Frobenius norm of L, sum_ij L_ij^2, not the trace of L.",
    ),
    Mistake(
        _kl_full_with(lambda L: (_diag(L) ** 2).sum(-1), _two_log_diag),
        "tr(L L^T) sums the squares of ALL entries of L, the off-diagonal ones too.",
    ),
    Mistake(
        _kl_full_with(_frobenius, lambda L: torch.log(_diag(L)).sum(-1)),
        "log det(L L^T) = 2 sum_i log L_ii: you forgot the factor 2.",
    ),
    Mistake(
        _kl_full_with(lambda L: _diag(L).sum(-1), lambda L: torch.log(_diag(L)).sum(-1)),
        "you used L as if it were the covariance; the covariance is Sigma = L L^T, so "
        "tr Sigma = ||L||_F^2 and log det Sigma = 2 sum log L_ii.",
    ),
    Mistake(
        _kl_full_with(_frobenius, _two_log_diag, half=1.0),
        "you forgot the factor 1/2 in front of the bracket.",
    ),
    Mistake(
        _kl_full_with(_frobenius, _two_log_diag, reduce_mu=lambda mu: 0 * mu.sum(-1)),
        "you left out the mean term mu^T mu.",
    ),
    Mistake(
        _kl_full_with(_frobenius, _two_log_diag, minus_K=False),
        "you forgot the -K (K = mu.shape[-1]); without it the KL of N(0, I) to itself is not zero.",
    ),
]


def check_kl_full(kl_full) -> None:
    """Exercise 2: ``kl_full(mu, scale_tril)`` = KL(N(mu, L L^T) || N(0, I)), shape (B,)."""
    cases = []
    for (B, K), seed in [((4, 3), 11), ((2, 5), 12), ((3, 1), 13)]:
        mu, L = _randn(B, K, seed=seed), _scale_tril(B, K, seed=seed + 100)
        cases.append(
            Case((mu, L), kl.full_gaussian_to_std_normal(mu, L), label=f"B = {B}, K = {K}", atol=1e-8, rtol=1e-6)
        )
    I = torch.eye(3, dtype=F64).expand(2, 3, 3)
    cases.append(
        Case(
            (torch.zeros(2, 3, dtype=F64), I),
            torch.zeros(2, dtype=F64),
            label="q = N(0, I): the KL must be 0",
            atol=1e-10,
        )
    )
    check_function(
        kl_full,
        cases,
        exercise=2,
        name="kl_full",
        hint="KL = 1/2 [||L||_F^2 + mu^T mu - K - 2 sum_i log L_ii], one value per row (shape (B,)).",
        mistakes=KL_FULL_MISTAKES,
    )


# --------------------------------------------------------------------------- Exercise 3


def _whitened(mu_q, L_q, mu_p, L_p, *, shift=True, whiten_mean=True, left=True, mean=True, log_det=2.0):
    """KL(q || p) by whitening p, w = L_p^-1 (z - mu_p), optionally with one of the typical slips."""
    K = mu_q.shape[-1]
    M = torch.linalg.solve_triangular(L_p, L_q, upper=False) if left else L_q @ torch.linalg.inv(L_p)
    m = (mu_q - mu_p if shift else mu_q).unsqueeze(-1)
    d = torch.linalg.solve_triangular(L_p, m, upper=False).squeeze(-1) if whiten_mean else m.squeeze(-1)
    mean_term = (d**2).sum(-1) if mean else 0
    return 0.5 * ((M**2).sum((-2, -1)) + mean_term - K - log_det * torch.log(_diag(M).abs()).sum(-1))


KL_GAUSS_MISTAKES = [
    Mistake(
        lambda mu_q, L_q, mu_p, L_p: kl.gaussian_to_gaussian(mu_p, L_p, mu_q, L_q),
        "you computed KL(p || q): the arguments are swapped (or you whitened q instead of p). KL is not "
        "symmetric; the map must send p, the second argument, to N(0, I): w = L_p^-1 (z - mu_p).",
    ),
    Mistake(
        lambda *a: _whitened(*a, whiten_mean=False),
        "you shifted the mean but did not whiten it: w = L_p^-1 (z - mu_p) sends mu_q to L_p^-1 (mu_q - mu_p).",
    ),
    Mistake(
        lambda *a: _whitened(*a, shift=False),
        "the map w = L_p^-1 (z - mu_p) subtracts mu_p first: q's new mean is L_p^-1 (mu_q - mu_p).",
    ),
    Mistake(
        lambda *a: _whitened(*a, left=False),
        "order of the product: w = L_p^-1 (z - mu_p) multiplies q's scale from the left, L_p^-1 L_q, not L_q L_p^-1.",
    ),
    Mistake(
        lambda *a: _whitened(*a, log_det=-2.0),
        "sign of the log-determinants: + log det Sigma_p - log det Sigma_q = -2 sum_i log M_ii.",
    ),
    Mistake(
        lambda *a: _whitened(*a, log_det=1.0),
        "log det(M M^T) = 2 sum_i log M_ii: you forgot the factor 2 in the log-determinants.",
    ),
    Mistake(
        lambda *a: _whitened(*a, mean=False),
        "you left out the mean term: after whitening, q's mean L_p^-1 (mu_q - mu_p) enters as in exercise 1.",
    ),
]


def check_kl_gauss(kl_gauss) -> None:
    """Exercise 3: ``kl_gauss(mu_q, L_q, mu_p, L_p)`` = KL(N(mu_q, L_q L_q^T) || N(mu_p, L_p L_p^T)).

    Simplest first: p = N(0, I) (exercise 2's KL), then p = N(mu_p, I) (a shift only), then equal
    means (the scales only), then general pairs, and q = p.
    """
    mu_q, L_q = _randn(2, 3, seed=20), _scale_tril(2, 3, seed=120)
    mu_p, L_p = _randn(2, 3, seed=220), _scale_tril(2, 3, seed=320)
    I = torch.eye(3, dtype=F64).expand(2, 3, 3)
    zero = torch.zeros(2, 3, dtype=F64)
    cases = [
        Case((mu_q, L_q, zero, I), label="p = N(0, I): exercise 2's KL", atol=1e-8, rtol=1e-6),
        Case((mu_q, L_q, mu_p, I), label="p = N(mu_p, I): a shift only", atol=1e-8, rtol=1e-6),
        Case((mu_q, L_q, mu_q, L_p), label="equal means, different scales", atol=1e-8, rtol=1e-6),
    ]
    for (B, K), seed in [((3, 3), 21), ((2, 2), 22), ((1, 4), 23)]:
        args = (_randn(B, K, seed=seed), _scale_tril(B, K, seed=seed + 100))
        args += (_randn(B, K, seed=seed + 200), _scale_tril(B, K, seed=seed + 300))
        cases.append(Case(args, label=f"B = {B}, K = {K}", atol=1e-8, rtol=1e-6))
    cases.append(Case((mu_q, L_q, mu_q, L_q), torch.zeros(2, dtype=F64), label="q = p: the KL must be 0", atol=1e-8))
    check_function(
        kl_gauss,
        cases,
        exercise=3,
        name="kl_gauss",
        hint=(
            "whiten p: the map w = L_p^-1 (z - mu_p) sends p to N(0, I) and q to N(L_p^-1 (mu_q - mu_p), M M^T) "
            "with M = L_p^-1 L_q (lower-triangular), and leaves the KL unchanged; then use exercise 2 (or 1)."
        ),
        mistakes=KL_GAUSS_MISTAKES,
        reference=kl.gaussian_to_gaussian,
    )


# --------------------------------------------------------------------------- Exercise 4


def _log_ratio_spread(mu_q, L_q, mu_p, L_p, num_draws: int = 200_000) -> float:
    """The standard deviation of log q(z) - log p(z) under q, from many independent draws."""
    eps = torch.randn(num_draws, mu_q.shape[-1], generator=_gen(SEED + 1), dtype=F64)
    z = mu_q + eps @ L_q.T
    return (gaussians.log_density(z, mu_q, L_q) - gaussians.log_density(z, mu_p, L_p)).std().item()


def _monte_carlo_verdict(mu_q, L_q, mu_p, L_p, num_samples):
    exact = kl.gaussian_to_gaussian(mu_q, L_q, mu_p, L_p).item()
    reverse = kl.gaussian_to_gaussian(mu_p, L_p, mu_q, L_q).item()
    se_true = _log_ratio_spread(mu_q, L_q, mu_p, L_p) / math.sqrt(num_samples)

    def verdict(got):
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"expected a tuple (estimate, standard_error), got {type(got).__name__}"
        try:
            estimate, se = (float(torch.as_tensor(v).detach()) for v in got)
        except (TypeError, ValueError, RuntimeError):
            return "expected two numbers (0-d tensors or floats): (estimate, standard_error)"
        if not (math.isfinite(estimate) and math.isfinite(se)):
            return f"the estimate ({estimate}) and its standard error ({se}) must be finite"
        if se <= 0:
            return f"a standard error is positive; got {se:.4g}"
        ratio = se / se_true
        if abs(ratio / math.sqrt(num_samples) - 1) < 0.3:
            return (
                f"your standard error {se:.4g} is about sqrt(num_samples) = {math.sqrt(num_samples):.0f} times too "
                f"large: it is the spread of ONE log-ratio; the standard error of their mean divides the "
                f"std by sqrt(num_samples)"
            )
        if abs(ratio * math.sqrt(num_samples) - 1) < 0.3:
            return (
                f"your standard error {se:.4g} is about sqrt(num_samples) times too small: divide the std "
                f"by sqrt(num_samples), not by num_samples"
            )
        if abs(estimate - reverse) < 5 * max(se, se_true) and abs(estimate - exact) > 5 * se_true:
            return (
                f"your estimate {estimate:.4f} matches KL(p || q) = {reverse:.4f}, not KL(q || p) = {exact:.4f}: "
                f"draw z from q (z = mu_q + L_q eps) and average log q(z) - log p(z)"
            )
        if abs(estimate + exact) < 5 * se_true:
            return f"your estimate {estimate:.4f} is minus the KL ({exact:.4f}): average log q(z) - log p(z), not the reverse"
        if not 0.75 < ratio < 1.33:
            return (
                f"your standard error {se:.4g} should be close to std(log q(z) - log p(z)) / sqrt(num_samples) "
                f"= {se_true:.4g}, with z drawn from q (z = mu_q + L_q eps)"
            )
        if abs(estimate - exact) >= 5 * se_true:
            return (
                f"your estimate {estimate:.4f} is {abs(estimate - exact) / se_true:.1f} standard errors from the "
                f"exact KL(q || p) = {exact:.4f}"
            )
        return None

    return verdict


def _seeded(fn):
    """fn with torch's global generator seeded first (the caller's random state is restored)."""

    def wrapped(*args):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            return fn(*args)

    wrapped.__name__ = getattr(fn, "__name__", "kl_monte_carlo")
    return wrapped


def check_kl_monte_carlo(kl_monte_carlo) -> None:
    """Exercise 4: ``kl_monte_carlo(mu_q, L_q, mu_p, L_p, num_samples)`` -> (estimate, standard_error).

    A property check (the estimate is random): the standard error must be within a factor 1.33
    of std(log q - log p) / sqrt(S), and the estimate within 5 of those standard errors of the
    exact KL. The failure message names the usual slips (no sqrt(S), dividing by S, sampling
    from p, the sign). torch is seeded before each call.
    """
    pairs = [
        (
            torch.tensor([1.0, -1.0], dtype=F64),
            torch.tensor([[0.6, 0.0], [0.9, 0.5]], dtype=F64),
            torch.tensor([0.0, 0.5], dtype=F64),
            torch.tensor([[1.5, 0.0], [-0.3, 0.8]], dtype=F64),
            4000,
        ),
        (_randn(3, seed=31), _scale_tril(1, 3, seed=33)[0], _randn(3, seed=32), _scale_tril(1, 3, seed=34)[0], 2000),
    ]
    cases = [Case(a, _monte_carlo_verdict(*a), label=f"K = {a[0].shape[0]}, {a[-1]} samples") for a in pairs]
    check_function(
        _seeded(kl_monte_carlo),
        cases,
        exercise=4,
        name="kl_monte_carlo",
        hint=(
            "draw eps = torch.randn(num_samples, K), z = mu_q + eps @ L_q.T, r = log q(z) - log p(z); return "
            "(r.mean(), r.std() / sqrt(num_samples))."
        ),
    )


# --------------------------------------------------------------------------- Exercise 5


def _best_reference(mu_p, cov_p):
    mu_q, var_q, _ = gaussians.best_diagonal_reverse_kl(mu_p, cov_p)
    return mu_q, var_q


BEST_MISTAKES = [
    Mistake(
        lambda mu_p, cov_p: (mu_p.clone(), torch.diagonal(cov_p).clone()),
        "diag(Sigma_p), the marginal variances, is what the FORWARD KL(p || q) picks (moment matching); "
        "the reverse KL(q || p) picks the conditional variances 1 / (Sigma_p^-1)_kk, which are smaller.",
    ),
    Mistake(
        lambda mu_p, cov_p: (mu_p.clone(), torch.diagonal(torch.linalg.inv(cov_p)).clone()),
        "those are the diagonal entries of the precision Lambda = Sigma_p^-1; the variances are their "
        "inverses, 1 / Lambda_kk.",
    ),
    Mistake(
        lambda mu_p, cov_p: (mu_p.clone(), 1 / torch.diagonal(cov_p)),
        "1 / Sigma_kk inverts the diagonal of the covariance; invert the matrix first, then take 1 / (Sigma^-1)_kk.",
    ),
    Mistake(
        lambda mu_p, cov_p: (mu_p.clone(), torch.diagonal(torch.linalg.inv(cov_p)).rsqrt()),
        "return variances, not standard deviations: var_k = 1 / Lambda_kk.",
    ),
    Mistake(
        lambda mu_p, cov_p: (torch.zeros_like(mu_p), _best_reference(mu_p, cov_p)[1]),
        "the best mean is mu_p: the Mahalanobis term (m - mu_p)^T Lambda (m - mu_p) vanishes there.",
    ),
]


def check_best_diagonal_q(best_diagonal_q) -> None:
    """Exercise 5: ``best_diagonal_q(mu_p, cov_p)`` -> (mu, var) of the diagonal q minimising KL(q || p)."""
    A = _randn(4, 4, seed=41)
    problems = [
        (
            torch.tensor([1.0, -1.0], dtype=F64),
            torch.tensor([[1.0, 1.2], [1.2, 2.0]], dtype=F64),
            "K = 2, correlation 0.85",
        ),
        (_randn(4, seed=42), A @ A.T + 0.3 * torch.eye(4, dtype=F64), "K = 4, a random covariance"),
        (
            _randn(3, seed=43),
            torch.diag(torch.tensor([0.5, 2.0, 3.0], dtype=F64)),
            "K = 3, a diagonal covariance (q = p)",
        ),
    ]
    cases = [
        Case((mu_p, cov_p), _best_reference(mu_p, cov_p), label=label, atol=1e-8, rtol=1e-6)
        for mu_p, cov_p, label in problems
    ]
    check_function(
        best_diagonal_q,
        cases,
        exercise=5,
        name="best_diagonal_q",
        hint="return (mu_p, 1 / diag(inverse(cov_p))): the mean of p and the conditional variances.",
        mistakes=BEST_MISTAKES,
    )
