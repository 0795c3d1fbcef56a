"""Checks for exercise sheet 02, moment matching (solutions/02_moment_matching.ipynb).

The samplers of lecture 02, z = mu + std * eps and z = mu + S eps, their moments with standard
errors, the law N(mu, S S^T) and its invariance under S -> S Q, and the Cholesky factor built from
raw network outputs. Each check runs the student's function on fixed inputs, compares with the
reference answer and, when the answer matches a typical mistake, names it.
"""

from __future__ import annotations

import math

import torch

from vaelib import gaussians, reparam
from vaelib.checks import Case, Mistake, Term, check_function

__all__ = [
    "check_sample_diag_gaussian",
    "check_moments_with_stderr",
    "check_sample_full_gaussian",
    "check_covariance_from_scale",
    "check_same_law",
    "check_scale_tril_from_raw",
]

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed), dtype=F64)


# --------------------------------------------------------------------------- Exercise 1


def _diag_reference(mu, log_var, eps):
    return mu + torch.exp(0.5 * log_var) * eps


DIAG_MISTAKES = [
    Mistake(
        lambda mu, log_var, eps: mu + torch.exp(log_var) * eps,
        "you multiplied eps by the variance exp(log_var); it needs the standard deviation "
        "std = exp(0.5 * log_var) = sqrt(variance).",
    ),
    Mistake(
        lambda mu, log_var, eps: mu + log_var * eps,
        "log_var is a log-variance, not a standard deviation: std = exp(0.5 * log_var).",
    ),
    Mistake(
        lambda mu, log_var, eps: mu + torch.exp(-0.5 * log_var) * eps,
        "exp(-0.5 * log_var) is 1 / std; the standard deviation is exp(+0.5 * log_var).",
    ),
    Mistake(
        lambda mu, log_var, eps: torch.exp(0.5 * log_var) * eps,
        "you forgot the mean: z = mu + std * eps.",
    ),
    Mistake(
        lambda mu, log_var, eps: mu * eps + torch.exp(0.5 * log_var),
        "mu and std are swapped: mu shifts, std scales the noise: z = mu + std * eps.",
    ),
]


def check_sample_diag_gaussian(sample_diag_gaussian) -> None:
    """Exercise 1: ``sample_diag_gaussian(mu, log_var, eps)`` returns mu + exp(log_var / 2) * eps.

    Simplest cases first: mu = 0, log_var = 0 (z must be eps: the noise term alone), then
    log_var = 0 (z = mu + eps: the shift), then general values; the last case also checks the
    gradients reaching mu and log_var, and that the given eps is used (not fresh noise).
    """
    eps = _randn(2, 3, seed=6)
    zeros = torch.zeros(2, 3, dtype=F64)
    mu = _randn(2, 3, seed=7)
    cases = [
        Case((zeros, zeros, eps), label="mu = 0, log_var = 0 (z must equal eps)", atol=1e-8, rtol=1e-6),
        Case((mu, zeros, eps), label="log_var = 0 (z must equal mu + eps)", atol=1e-8, rtol=1e-6),
    ]
    for (B, K), seed in [((3, 2), 1), ((1, 5), 2)]:
        mu, eps = _randn(B, K, seed=seed), _randn(B, K, seed=seed + 100)
        log_var = 4 * torch.rand(B, K, generator=_gen(seed + 200), dtype=F64) - 2  # in (-2, 2), away from 0
        log_var[log_var.abs() < 0.3] = 0.7
        cases.append(Case((mu, log_var, eps), label=f"B = {B}, K = {K}", atol=1e-8, rtol=1e-6))
    mu, log_var, eps = _randn(2, 3, seed=3), 0.5 * _randn(2, 3, seed=4), _randn(2, 3, seed=5)
    cases.append(Case((mu, log_var, eps), label="mu and log_var require gradients", atol=1e-8, rtol=1e-6, grad=(0, 1)))
    check_function(
        sample_diag_gaussian,
        cases,
        noise=2,
        exercise=1,
        name="sample_diag_gaussian",
        hint="z = mu + std * eps with std = exp(0.5 * log_var), elementwise, shape (B, K).",
        mistakes=DIAG_MISTAKES,
        terms=[
            Term("shift mu", lambda mu, log_var, eps: mu),
            Term("noise term std * eps", lambda mu, log_var, eps: torch.exp(0.5 * log_var) * eps),
        ],
        reference=_diag_reference,
    )


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


# --------------------------------------------------------------------------- Exercise 3


def _full_reference(mu, S, eps):
    return mu + (S @ eps.unsqueeze(-1)).squeeze(-1)


FULL_MISTAKES = [
    Mistake(
        lambda mu, S, eps: mu + (eps.unsqueeze(-2) @ S).squeeze(-2),
        "you computed S^T eps (eps @ S multiplies from the left side): it must be S @ eps, "
        "e.g. (S @ eps.unsqueeze(-1)).squeeze(-1) or torch.einsum('bij,bj->bi', S, eps).",
    ),
    Mistake(
        lambda mu, S, eps: mu + ((S @ S.mT) @ eps.unsqueeze(-1)).squeeze(-1),
        "you multiplied eps by the covariance S S^T; the scale is S itself (z = mu + S eps has covariance S S^T).",
    ),
    Mistake(
        lambda mu, S, eps: mu + torch.diagonal(S, dim1=-2, dim2=-1) * eps,
        "you used only the diagonal of S; the off-diagonal entries are what correlates z.",
    ),
    Mistake(
        lambda mu, S, eps: (S @ eps.unsqueeze(-1)).squeeze(-1),
        "you forgot the mean: z = mu + S eps.",
    ),
]


def check_sample_full_gaussian(sample_full_gaussian) -> None:
    """Exercise 3: ``sample_full_gaussian(mu, S, eps)`` returns mu + S eps for each row."""
    cases = []
    for (B, K), seed in [((4, 3), 11), ((2, 2), 12), ((1, 5), 13)]:
        mu, S, eps = _randn(B, K, seed=seed), _randn(B, K, K, seed=seed + 100), _randn(B, K, seed=seed + 200)
        cases.append(
            Case(
                (mu, S, eps),
                _full_reference(mu, S, eps),
                label=f"B = {B}, K = {K}, S a general matrix",
                atol=1e-8,
                rtol=1e-6,
            )
        )
    check_function(
        sample_full_gaussian,
        cases,
        exercise=3,
        name="sample_full_gaussian",
        hint="for each row b: z_b = mu_b + S_b @ eps_b; shapes mu (B, K), S (B, K, K), eps (B, K) -> (B, K).",
        mistakes=FULL_MISTAKES,
    )


# --------------------------------------------------------------------------- Exercise 4


COVARIANCE_MISTAKES = [
    Mistake(
        lambda S: S.mT @ S,
        "S^T S is not the covariance: Cov[S eps] = S E[eps eps^T] S^T = S S^T (S first).",
    ),
    Mistake(
        lambda S: S.clone(),
        "S is a square root of the covariance, not the covariance: return S S^T.",
    ),
    Mistake(
        lambda S: S @ S,
        "S @ S is missing a transpose: the covariance is S @ S^T (S.mT for a batch).",
    ),
    Mistake(
        lambda S: S**2,
        "S ** 2 squares each entry; the covariance is the matrix product S @ S^T.",
    ),
]


def check_covariance_from_scale(covariance_from_scale) -> None:
    """Exercise 4: ``covariance_from_scale(S)`` returns S S^T for a batch ``(B, K, K)``.

    One case passes S Q for an orthogonal Q and expects the covariance of S: the answer must
    not depend on which square root of the covariance it is given.
    """
    S = _randn(2, 3, 3, seed=21)
    Q = gaussians.random_orthogonal(3, generator=_gen(22), dtype=F64)
    S_singular = torch.tensor([[[3.0, 4.0], [6.0, 8.0]]], dtype=F64)
    cases = [
        Case((S,), S @ S.mT, label="B = 2, K = 3", atol=1e-8, rtol=1e-6),
        Case((S @ Q,), S @ S.mT, label="S Q for an orthogonal Q (same covariance as S)", atol=1e-8, rtol=1e-6),
        Case((S_singular,), S_singular @ S_singular.mT, label="a singular S [[3, 4], [6, 8]]", atol=1e-8, rtol=1e-6),
    ]
    check_function(
        covariance_from_scale,
        cases,
        exercise=4,
        name="covariance_from_scale",
        hint="Cov[mu + S eps] = S S^T: S @ S.mT for a batch of shape (B, K, K).",
        mistakes=COVARIANCE_MISTAKES,
    )


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


def _tril_reference(raw, K):
    return reparam.scale_tril_from_unconstrained(raw, K)


def _fill(raw, K, diag_fn, *, column_major=False, transpose=False, all_fn=None):
    """A wrong construction of L from raw numbers, for the mistakes below."""
    if column_major:
        cols, rows = torch.triu_indices(K, K)
    else:
        rows, cols = torch.tril_indices(K, K)
    L = raw.new_zeros(*raw.shape[:-1], K, K)
    L[..., rows, cols] = raw if all_fn is None else all_fn(raw)
    d = torch.diagonal(L, dim1=-2, dim2=-1)
    L = L - torch.diag_embed(d) + torch.diag_embed(diag_fn(d))
    return L.mT if transpose else L


softplus = torch.nn.functional.softplus

TRIL_MISTAKES = [
    Mistake(
        lambda raw, K: _fill(raw, K, torch.exp),
        "you used exp on the diagonal; this exercise asks for softplus(r) = log(1 + e^r), which grows "
        "linearly instead of exponentially (lecture 03 shows why that matters).",
    ),
    Mistake(
        lambda raw, K: _fill(raw, K, lambda d: d),
        "the diagonal must be positive: map the raw diagonal entries through softplus.",
    ),
    Mistake(
        lambda raw, K: _fill(raw, K, torch.abs),
        "abs makes the diagonal non-negative but can give exactly 0 and has no gradient at 0; use softplus.",
    ),
    Mistake(
        lambda raw, K: _fill(raw, K, softplus, transpose=True),
        "you built an upper-triangular matrix (L^T); a Cholesky factor is lower-triangular (zeros above the diagonal).",
    ),
    Mistake(
        lambda raw, K: _fill(raw, K, softplus, column_major=True),
        "wrong order: fill the lower triangle row by row, in the order of torch.tril_indices(K, K): "
        "(0,0), (1,0), (1,1), (2,0), ...",
    ),
    Mistake(
        lambda raw, K: _fill(raw, K, lambda d: d, all_fn=softplus),
        "only the diagonal goes through softplus; the off-diagonal entries may be negative and are used as they are.",
    ),
]


def check_scale_tril_from_raw(scale_tril_from_raw) -> None:
    """Exercise 6: ``scale_tril_from_raw(raw, K)``: K(K+1)/2 numbers per row -> a Cholesky factor.

    The reference is ``vaelib.reparam.scale_tril_from_unconstrained(raw, K)`` (softplus diagonal).
    """
    cases = []
    for B, K, seed in [(2, 3, 41), (1, 4, 42), (3, 1, 43)]:
        raw = 2 * _randn(B, K * (K + 1) // 2, seed=seed)
        rows, cols = torch.tril_indices(K, K)
        on_diagonal = (rows == cols).nonzero().squeeze(1)
        raw[0, on_diagonal[0]] = -1.5  # a negative raw diagonal entry and a positive one in every case
        raw[-1, on_diagonal[-1]] = 1.2
        cases.append(Case((raw, K), _tril_reference(raw, K), label=f"B = {B}, K = {K}", atol=1e-8, rtol=1e-6))
    check_function(
        scale_tril_from_raw,
        cases,
        exercise=6,
        name="scale_tril_from_raw",
        hint=(
            "rows, cols = torch.tril_indices(K, K); put raw[..., n] at (rows[n], cols[n]); then replace "
            "the diagonal entries r by softplus(r). Shape (B, K(K+1)/2) -> (B, K, K)."
        ),
        mistakes=TRIL_MISTAKES,
    )
