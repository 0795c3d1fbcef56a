"""Each sheet-02 check accepts right answers and rejects typical wrong answers, naming them."""

from __future__ import annotations

import math

import pytest
import torch
from sheet_support import rejects as _rejects

from vaelib.checks import sheet02 as checks

softplus = torch.nn.functional.softplus


# --------------------------------------------------------------------------- Exercise 1
# Answers written the way students write them, right ones in several styles.


def sample_matching_moments(mu, log_var, u):
    return mu + torch.exp(0.5 * log_var) * math.sqrt(12) * (u - 0.5)


def matching_two_u_minus_one(mu, log_var, u):
    """Right: 2u - 1 is uniform on (-1, 1), variance 1/3, so times sqrt(3)."""
    std = log_var.exp().sqrt()
    return mu + std * (2 * u - 1) * 3**0.5


def matching_mirrored(mu, log_var, u):
    """Right: from 1 - u (z decreasing in u), the same law."""
    std = torch.exp(log_var / 2)
    return mu + std * math.sqrt(12) * (0.5 - u)


def matching_affine_a_b(mu, log_var, u):
    """Right: z = a + b u with b = sqrt(12) std and a = mu - b / 2, worked out on paper."""
    b = math.sqrt(12.0) * torch.exp(0.5 * log_var)
    a = mu - b / 2
    return a + b * u


@pytest.mark.parametrize(
    "answer", [sample_matching_moments, matching_two_u_minus_one, matching_mirrored, matching_affine_a_b]
)
def test_sample_matching_moments_accepts_right_answers(answer, capsys):
    checks.check_sample_matching_moments(answer)
    assert "Exercise 1: sample_matching_moments passed all 5 checks." in capsys.readouterr().out


def matching_not_standardised(mu, log_var, u):
    sigma = torch.exp(0.5 * log_var)
    return mu + sigma * (u - 0.5)


def matching_not_centred(mu, log_var, u):
    return mu + torch.sqrt(12 * log_var.exp()) * u


def matching_variance_scale(mu, log_var, u):
    var = torch.exp(log_var)
    return mu + var * (u - 0.5) * 12**0.5


def matching_gaussian_icdf(mu, log_var, u):
    """The Gaussian sampler: right moments, but not the affine map the exercise asks for."""
    return torch.distributions.Normal(mu, torch.exp(0.5 * log_var)).icdf(u)


def matching_fresh_noise(mu, log_var, u):
    return mu + torch.exp(0.5 * log_var) * math.sqrt(12) * (torch.rand(u.shape, dtype=u.dtype) - 0.5)


def matching_python_floats(mu, log_var, u):
    """Wrong: builds the result from Python floats, so no gradient reaches mu and log_var."""
    z = [
        [m + math.exp(lv / 2) * math.sqrt(12) * (x - 0.5) for m, lv, x in zip(*rows)]
        for rows in zip(mu.tolist(), log_var.tolist(), u.tolist())
    ]
    return torch.tensor(z, dtype=torch.float64)


def matching_mixed_directions(mu, log_var, u):
    """Wrong: the two directions mixed, entry by entry (each is right alone; together they are not one map)."""
    sign = torch.ones_like(u)
    sign[..., 0] = -1
    return mu + sign * torch.exp(0.5 * log_var) * math.sqrt(12) * (u - 0.5)


@pytest.mark.parametrize(
    "wrong, label, words",
    [
        (matching_not_standardised, "mu = 0, log_var = 0", ["variance 1/12", "sqrt(12)"]),
        (matching_not_centred, "mu = 0, log_var = 0", ["centre it first"]),
        (matching_variance_scale, "B = 3, K = 2", ["the variance exp(log_var)"]),  # right while log_var = 0
        (matching_gaussian_icdf, "mu = 0, log_var = 0", ["Phi^-1(u)", "affine map of u"]),
        (matching_fresh_noise, "mu = 0, log_var = 0", ["draws its own noise"]),
        (matching_python_floats, "mu and log_var require gradients", ["no gradient reaches mu, log_var"]),
        (matching_mixed_directions, "mu = 0, log_var = 0", ["values differ", "mirror image"]),
    ],
)
def test_sample_matching_moments_rejects_student_mistakes(wrong, label, words):
    msg = _rejects(checks.check_sample_matching_moments, wrong, *words)
    assert msg.startswith(f"Exercise 1, {label}"), msg


# --------------------------------------------------------------------------- Exercise 2


def moments_with_stderr(z):
    N = z.shape[0]
    mean = z.mean(0)
    return mean, z.std(0) / math.sqrt(N), z.var(0), ((z - mean) ** 2).std(0) / math.sqrt(N)


def moments_with_stderr_biased(z):
    """The 1/N convention throughout is accepted too."""
    N = z.shape[0]
    mean = z.mean(0)
    return (
        mean,
        z.std(0, unbiased=False) / math.sqrt(N),
        z.var(0, unbiased=False),
        ((z - mean) ** 2).std(0, unbiased=False) / math.sqrt(N),
    )


@pytest.mark.parametrize("answer", [moments_with_stderr, moments_with_stderr_biased])
def test_moments_with_stderr_accepts_right_answers(answer, capsys):
    checks.check_moments_with_stderr(answer)
    assert "Exercise 2: moments_with_stderr passed all 2 checks." in capsys.readouterr().out


def _replace(index, fn):
    def wrong(z):
        answer = list(moments_with_stderr(z))
        answer[index] = fn(z)
        return tuple(answer)

    return wrong


@pytest.mark.parametrize(
    "wrong, words",
    [
        (_replace(1, lambda z: z.std(0)), ["item 1", "std / sqrt(N)", "spread of one sample"]),
        (_replace(1, lambda z: z.std(0) / z.shape[0]), ["by sqrt(N), not by N"]),
        (_replace(1, lambda z: z.var(0) / math.sqrt(z.shape[0])), ["standard deviation, not the variance"]),
        (_replace(3, lambda z: math.sqrt(2 / z.shape[0]) * z.var(0)), ["item 3", "Gaussian data only"]),
        (_replace(3, lambda z: z.std(0) / math.sqrt(z.shape[0])), ["squared deviations"]),
        (_replace(2, lambda z: z.std(0)), ["item 2", "variance (std squared)"]),
        (lambda z: moments_with_stderr(z.T), ["dim 0", "shape (K,)"]),
        (lambda z: moments_with_stderr(z)[:2], ["expected a tuple of 4 values"]),
    ],
)
def test_moments_with_stderr_rejects_typical_mistakes(wrong, words):
    msg = _rejects(checks.check_moments_with_stderr, wrong, *words)
    assert msg.startswith("Exercise 2, N = 1000 exponential samples, K = 2")


# --------------------------------------------------------------------------- Exercise 4
# Every square root of cov is right: the check recovers S from the answer and judges S S^T.


def with_cholesky(mu, cov, eps):
    return mu + eps @ torch.linalg.cholesky(cov).T


def with_symmetric_root(mu, cov, eps):
    """Right: the symmetric square root V diag(sqrt(w)) V^T from an eigendecomposition."""
    w, V = torch.linalg.eigh(cov)
    root = V @ torch.diag(w.sqrt()) @ V.T
    return mu + eps @ root


def with_rotated_cholesky(mu, cov, eps):
    """Right: L Q for a fixed orthogonal Q (a reflection) is a square root too."""
    L = torch.linalg.cholesky(cov)
    Q = -torch.eye(cov.shape[0], dtype=cov.dtype)
    return mu + torch.einsum("ij,nj->ni", L @ Q, eps)


def with_a_loop(mu, cov, eps):
    L = torch.linalg.cholesky(cov)
    return torch.stack([mu + L @ e for e in eps])


@pytest.mark.parametrize("answer", [with_cholesky, with_symmetric_root, with_rotated_cholesky, with_a_loop])
def test_sample_with_covariance_accepts_every_square_root(answer, capsys):
    checks.check_sample_with_covariance(answer)
    assert (
        "Exercise 4: sample_with_covariance passed all 4 checks, with gradients reaching mu and cov."
        in capsys.readouterr().out
    )


def cov_as_scale(mu, cov, eps):
    return mu + eps @ cov


def std_per_coordinate(mu, cov, eps):
    return mu + eps * cov.diagonal().sqrt()


def entrywise_sqrt(mu, cov, eps):
    return mu + eps @ torch.sqrt(cov)


def cholesky_not_transposed(mu, cov, eps):
    return mu + eps @ torch.linalg.cholesky(cov)


def multivariate_normal_rsample(mu, cov, eps):
    return torch.distributions.MultivariateNormal(mu, covariance_matrix=cov).rsample((eps.shape[0],))


def through_numpy(mu, cov, eps):
    import numpy as np

    L = np.linalg.cholesky(cov.detach().numpy())
    return torch.from_numpy(mu.detach().numpy() + eps.numpy() @ L.T)


def float32_cholesky(mu, cov, eps):
    return mu + eps @ torch.linalg.cholesky(cov.float()).T


@pytest.mark.parametrize(
    "wrong, label, words",
    [
        (cov_as_scale, "a diagonal cov", ["cov itself", "cov^2"]),
        (std_per_coordinate, "K = 2, correlation 0.8", ["only the variances", "off-diagonal"]),
        (entrywise_sqrt, "K = 2, correlation 0.8", ["square root of each entry"]),
        (cholesky_not_transposed, "K = 2, correlation 0.8", ["S^T S = cov", "eps @ L.T"]),
        (multivariate_normal_rsample, "a diagonal cov", ["draws its own noise"]),
        (through_numpy, "K = 4, a random covariance", ["no gradient reaches mu and cov", "numpy"]),
        (float32_cholesky, "a diagonal cov", ["float32"]),
    ],
)
def test_sample_with_covariance_rejects_student_mistakes(wrong, label, words):
    msg = _rejects(checks.check_sample_with_covariance, wrong, *words)
    assert msg.startswith(f"Exercise 4, {label}"), msg


# --------------------------------------------------------------------------- Exercise 5


@pytest.mark.parametrize(
    "answer",
    [
        lambda S1, S2: torch.allclose(S1 @ S1.T, S2 @ S2.T),
        lambda S1, S2: bool(((S1 @ S1.T - S2 @ S2.T).abs().max() < 1e-9).item()),
        lambda S1, S2: torch.allclose(torch.linalg.cholesky(S1 @ S1.T), torch.linalg.cholesky(S2 @ S2.T)),
    ],
)
def test_same_law_accepts_right_answers(answer, capsys):
    checks.check_same_law(answer)
    assert "Exercise 5: same_law passed all 10 checks." in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, first_case, words",
    [
        (lambda S1, S2: torch.allclose(S1, S2), "S vs S Q", ["Compare the covariances S1 S1^T and S2 S2^T"]),
        (lambda S1, S2: torch.allclose(S1.T @ S1, S2.T @ S2), "S vs Q S", ["you compared S^T S"]),
        (
            lambda S1, S2: torch.allclose(torch.linalg.eigvalsh(S1 @ S1.T), torch.linalg.eigvalsh(S2 @ S2.T)),
            "S vs S^T",
            ["equal eigenvalues"],
        ),
        (
            lambda S1, S2: math.isclose(S1.norm().item(), S2.norm().item(), rel_tol=1e-6),
            "S vs a matrix with the same Frobenius norm",
            ["Frobenius norms"],
        ),
        (
            lambda S1, S2: math.isclose(
                abs(torch.linalg.det(S1).item()), abs(torch.linalg.det(S2).item()), rel_tol=1e-6
            ),
            "S vs S diag(2, 1/2, 1)",
            ["equal determinants are necessary but not sufficient"],
        ),
        (lambda S1, S2: True, "S vs S diag(2, 1/2, 1)", ["expected False, got True"]),
    ],
)
def test_same_law_rejects_typical_mistakes(wrong, first_case, words):
    msg = _rejects(checks.check_same_law, wrong, *words)
    assert msg.startswith(f"Exercise 5, {first_case}"), msg


# --------------------------------------------------------------------------- Exercise 6
# The inverse of the Cholesky head, checked by the round trip through vaelib's head.


def raw_from_covariance(cov):
    K = cov.shape[-1]
    L = torch.linalg.cholesky(cov)
    rows, cols = torch.tril_indices(K, K)
    raw = L[..., rows, cols]
    return torch.where(rows == cols, torch.log(torch.expm1(raw)), raw)


def raw_stable_inverse_softplus(cov):
    """Right: softplus^-1(y) = y + log(1 - e^-y), stable for large y, written with a loop over the triangle."""
    K = cov.shape[-1]
    L = torch.linalg.cholesky(cov)
    entries = []
    for i in range(K):
        for j in range(i + 1):
            y = L[..., i, j]
            entries.append(y + torch.log(-torch.expm1(-y)) if i == j else y)
    return torch.stack(entries, dim=-1)


def raw_by_newton(cov):
    """Right: inverts the head numerically, solving softplus(r) = L_ii with a few Newton steps."""
    K = cov.shape[-1]
    L = torch.linalg.cholesky(cov)
    rows, cols = torch.tril_indices(K, K)
    raw = L[..., rows, cols].clone()
    diag = rows == cols
    r = raw[..., diag].clone()
    for _ in range(60):
        r = r - (softplus(r) - raw[..., diag]) / torch.sigmoid(r)
    raw[..., diag] = r
    return raw


@pytest.mark.parametrize("answer", [raw_from_covariance, raw_stable_inverse_softplus, raw_by_newton])
def test_raw_from_covariance_accepts_right_answers(answer, capsys):
    checks.check_raw_from_covariance(answer)
    assert "Exercise 6: raw_from_covariance passed all 3 checks." in capsys.readouterr().out


def raw_without_inverse_softplus(cov):
    K = cov.shape[-1]
    rows, cols = torch.tril_indices(K, K)
    return torch.linalg.cholesky(cov)[..., rows, cols]


def raw_with_log_diagonal(cov):
    K = cov.shape[-1]
    L = torch.linalg.cholesky(cov)
    L = L - torch.diag_embed(L.diagonal(dim1=-2, dim2=-1)) + torch.diag_embed(L.diagonal(dim1=-2, dim2=-1).log())
    rows, cols = torch.tril_indices(K, K)
    return L[..., rows, cols]


def raw_column_by_column(cov):
    K = cov.shape[-1]
    L = torch.linalg.cholesky(cov)
    out = []
    for j in range(K):
        for i in range(j, K):
            out.append(torch.log(torch.expm1(L[..., i, j])) if i == j else L[..., i, j])
    return torch.stack(out, -1)


def raw_from_precision(cov):
    return raw_from_covariance(torch.linalg.inv(cov))


def raw_from_sqrt_of_diagonal(cov):
    """Wrong: a diagonal factor from the variances (the correlations are lost)."""
    K = cov.shape[-1]
    rows, cols = torch.tril_indices(K, K)
    std = torch.sqrt(cov.diagonal(dim1=-2, dim2=-1))
    L = torch.diag_embed(std)
    return torch.where(rows == cols, torch.log(torch.expm1(L[..., rows, cols])), L[..., rows, cols])


@pytest.mark.parametrize(
    "wrong, label, words",
    [
        (raw_without_inverse_softplus, "K = 1", ["softplus^-1(L_ii)", "log(expm1(L_ii))"]),
        (raw_with_log_diagonal, "K = 1", ["log inverts exp"]),
        (raw_column_by_column, "a diagonal cov", ["row by row", "tril_indices"]),
        (raw_from_precision, "K = 1", ["precision"]),
        (raw_from_sqrt_of_diagonal, "B = 2, K = 3", ["does not give back cov"]),
    ],
)
def test_raw_from_covariance_rejects_student_mistakes(wrong, label, words):
    msg = _rejects(checks.check_raw_from_covariance, wrong, *words)
    assert msg.startswith(f"Exercise 6, {label}"), msg


def cholesky_of_a_detached_cov(mu, cov, eps):
    """Wrong: the square root is computed from a detached copy, so no gradient reaches cov."""
    L = torch.linalg.cholesky(cov.detach())
    return mu + eps @ L.T


def sampled_values_without_graph(mu, cov, eps):
    with torch.no_grad():
        return mu + eps @ torch.linalg.cholesky(cov).T


@pytest.mark.parametrize(
    "wrong, words",
    [(cholesky_of_a_detached_cov, "no gradient reaches cov:"), (sampled_values_without_graph, "reaches mu and cov")],
)
def test_sample_with_covariance_names_a_missing_gradient(wrong, words):
    _rejects(checks.check_sample_with_covariance, wrong, "Exercise 4, K = 4, a random covariance", words)
