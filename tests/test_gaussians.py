"""Tests of vaelib.gaussians against independent oracles (numpy, scipy, Monte Carlo)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from vaelib import gaussians


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _spd(K: int, seed: int = 0) -> torch.Tensor:
    A = torch.randn(K, K, generator=_gen(seed), dtype=torch.float64)
    return A @ A.T + 0.5 * torch.eye(K, dtype=torch.float64)


# ----------------------------------------------------------------------------- moments


def test_mean_and_stderr_match_numpy():
    x = torch.randn(500, 3, generator=_gen(1), dtype=torch.float64)
    mean, se = gaussians.mean_and_stderr(x)
    xn = x.numpy()
    np.testing.assert_allclose(mean.numpy(), xn.mean(0), rtol=1e-12)
    np.testing.assert_allclose(se.numpy(), stats.sem(xn, axis=0), rtol=1e-12)


def test_covariance_matches_numpy_and_stderr_matches_gaussian_theory():
    N = 4000
    cov_true = _spd(3, seed=2)
    L = torch.linalg.cholesky(cov_true)
    x = torch.randn(N, 3, generator=_gen(3), dtype=torch.float64) @ L.T
    cov, se = gaussians.covariance_and_stderr(x)
    np.testing.assert_allclose(cov.numpy(), np.cov(x.numpy(), rowvar=False), rtol=1e-10)
    # for a Gaussian, Var(d_i d_j) = C_ij^2 + C_ii C_jj (Isserlis); the plug-in s.e. is close
    var_true = cov_true**2 + torch.outer(torch.diagonal(cov_true), torch.diagonal(cov_true))
    np.testing.assert_allclose(se.numpy(), (var_true / N).sqrt().numpy(), rtol=0.15)


def test_covariance_stderr_is_calibrated_by_repetition():
    # the spread of C_01 over independent repetitions equals the reported standard error
    reps, N = 300, 200
    x = torch.randn(reps, N, 2, generator=_gen(4), dtype=torch.float64)
    x[..., 1] = 0.6 * x[..., 0] + 0.8 * x[..., 1]
    covs, ses = zip(*(gaussians.covariance_and_stderr(x[r]) for r in range(reps)))
    spread = torch.stack([c[0, 1] for c in covs]).std().item()
    mean_se = torch.stack([s[0, 1] for s in ses]).mean().item()
    assert abs(spread / mean_se - 1) < 0.15


@pytest.mark.parametrize(
    "bad, match",
    [
        (torch.zeros(5), "shape \\(N, K\\)"),
        (torch.zeros(1, 3), "at least 2 samples"),
        (torch.zeros(2, 3, 4), "reshape\\(-1, K\\)"),
    ],
)
def test_moments_reject_bad_samples(bad, match):
    with pytest.raises(ValueError, match=match):
        gaussians.mean_and_stderr(bad)
    with pytest.raises(ValueError, match=match):
        gaussians.covariance_and_stderr(bad)


def test_moments_reject_integer_samples():
    with pytest.raises(TypeError, match="floating-point"):
        gaussians.mean_and_stderr(torch.zeros(5, 2, dtype=torch.long))


# ----------------------------------------------------------------------------- orthogonal


@given(K=st.integers(1, 8), seed=st.integers(0, 10_000))
@settings(max_examples=30, deadline=None)
def test_random_orthogonal_is_orthogonal(K, seed):
    Q = gaussians.random_orthogonal(K, generator=_gen(seed), dtype=torch.float64)
    assert Q.shape == (K, K)
    torch.testing.assert_close(Q.T @ Q, torch.eye(K, dtype=torch.float64), atol=1e-10, rtol=0)


def test_random_orthogonal_is_haar_distributed():
    # Haar on O(2): half rotations (det +1), half reflections; the angle of Q e_1 is uniform
    Qs = [gaussians.random_orthogonal(2, generator=_gen(s), dtype=torch.float64) for s in range(1000)]
    dets = np.array([torch.linalg.det(Q).item() for Q in Qs])
    assert abs((dets > 0).mean() - 0.5) < 4 * math.sqrt(0.25 / 1000)
    angles = np.array([math.atan2(Q[1, 0].item(), Q[0, 0].item()) for Q in Qs])
    assert stats.kstest(angles, stats.uniform(loc=-math.pi, scale=2 * math.pi).cdf).pvalue > 0.001


def test_random_orthogonal_rejects_bad_K():
    with pytest.raises(ValueError, match="K must be an integer >= 1"):
        gaussians.random_orthogonal(0)


# ----------------------------------------------------------------------------- Mahalanobis, ellipses


def test_mahalanobis_matches_scipy():
    cov = _spd(3, seed=5)
    mean = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    z = torch.randn(50, 3, generator=_gen(6), dtype=torch.float64)
    expected = [float((zi - mean.numpy()) @ np.linalg.inv(cov.numpy()) @ (zi - mean.numpy())) for zi in z.numpy()]
    np.testing.assert_allclose(gaussians.mahalanobis_sq(z, mean, cov).numpy(), expected, rtol=1e-10)


def test_mahalanobis_rejects_singular_and_mismatched_inputs():
    z = torch.zeros(4, 2, dtype=torch.float64)
    singular = torch.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match="positive definite.*degenerate"):
        gaussians.mahalanobis_sq(z, torch.zeros(2, dtype=torch.float64), singular)
    with pytest.raises(ValueError, match="mean must have shape \\(2,\\)"):
        gaussians.mahalanobis_sq(z, torch.zeros(3, dtype=torch.float64), torch.eye(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="must have shape \\(K, K\\) = \\(2, 2\\)"):
        gaussians.mahalanobis_sq(z, torch.zeros(2, dtype=torch.float64), torch.eye(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="symmetric"):
        gaussians.mahalanobis_sq(
            z, torch.zeros(2, dtype=torch.float64), torch.tensor([[1.0, 0.5], [0.0, 1.0]], dtype=torch.float64)
        )


@pytest.mark.parametrize("n_std", [0.5, 1.0, 2.0, 3.0])
def test_ellipse_points_lie_at_the_stated_mahalanobis_radius(n_std):
    cov = _spd(2, seed=7)
    mean = torch.tensor([0.3, -1.0], dtype=torch.float64)
    pts = gaussians.ellipse_points(mean, cov, n_std=n_std, num_points=64)
    assert pts.shape == (64, 2)
    torch.testing.assert_close(
        gaussians.mahalanobis_sq(pts, mean, cov), torch.full((64,), n_std**2, dtype=torch.float64)
    )
    torch.testing.assert_close(pts[0], pts[-1])  # closed curve


def test_ellipse_points_of_a_singular_covariance_form_a_segment():
    cov = torch.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=torch.float64)  # rank 1, direction (1, 2)
    pts = gaussians.ellipse_points(torch.zeros(2, dtype=torch.float64), cov)
    cross = pts[:, 0] * 2 - pts[:, 1]  # zero on the line through (1, 2)
    assert cross.abs().max() < 1e-8
    assert pts.norm(dim=1).max() == pytest.approx(math.sqrt(5), rel=1e-3)


def test_ellipse_points_reject_bad_inputs():
    with pytest.raises(ValueError, match="mean must have shape \\(2,\\)"):
        gaussians.ellipse_points(torch.zeros(3), torch.eye(3))
    with pytest.raises(ValueError, match="positive semi-definite"):
        gaussians.ellipse_points(torch.zeros(2), torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
    with pytest.raises(ValueError, match="n_std must be a finite number > 0"):
        gaussians.ellipse_points(torch.zeros(2), torch.eye(2), n_std=0.0)


@pytest.mark.parametrize("n_std, K", [(1.0, 1), (2.0, 1), (1.0, 2), (2.0, 2), (1.5, 5)])
def test_chi2_coverage(n_std, K):
    expected = {1: math.erf(n_std / math.sqrt(2)), 2: 1 - math.exp(-(n_std**2) / 2)}.get(K)
    if expected is None:  # Monte Carlo oracle
        z = np.random.default_rng(0).standard_normal((200_000, K))
        expected = float(((z**2).sum(1) <= n_std**2).mean())
        assert gaussians.chi2_coverage(n_std, K) == pytest.approx(expected, abs=0.005)
    else:
        assert gaussians.chi2_coverage(n_std, K) == pytest.approx(expected, rel=1e-12)


def test_ellipse_coverage_matches_chi2_within_standard_errors():
    cov = _spd(2, seed=8)
    mean = torch.tensor([1.0, 2.0], dtype=torch.float64)
    z = mean + torch.randn(20_000, 2, generator=_gen(9), dtype=torch.float64) @ torch.linalg.cholesky(cov).T
    for n_std in (1.0, 2.0):
        frac, se = gaussians.ellipse_coverage(z, mean, cov, n_std)
        assert abs(frac - gaussians.chi2_coverage(n_std, 2)) < 4 * se
    # the wrong covariance (S^T S instead of S S^T) is caught
    S = torch.tensor([[2.0, 0.0], [1.5, 0.3]], dtype=torch.float64)
    z = torch.randn(20_000, 2, generator=_gen(10), dtype=torch.float64) @ S.T
    frac, se = gaussians.ellipse_coverage(z, torch.zeros(2, dtype=torch.float64), S.T @ S, 1.0)
    assert abs(frac - gaussians.chi2_coverage(1.0, 2)) > 10 * se


# ----------------------------------------------------------------------------- two-sample test


def test_two_sample_test_false_alarm_rate_is_at_most_alpha():
    alpha, reps = 0.05, 100
    rejections = 0
    for r in range(reps):
        x = torch.randn(200, 3, generator=_gen(2 * r), dtype=torch.float64)
        y = torch.randn(200, 3, generator=_gen(2 * r + 1), dtype=torch.float64)
        rejections += gaussians.two_sample_projection_test(x, y, num_directions=4, seed=r) < alpha
    # Bonferroni is conservative: the rate is at most alpha (plus sampling noise)
    assert rejections / reps <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / reps)


def test_two_sample_test_detects_a_different_covariance_with_the_same_marginals():
    # equal marginal variances, opposite correlation: only a test that looks at directions sees it
    x = torch.randn(2000, 2, generator=_gen(11), dtype=torch.float64)
    y = x.clone()
    x = x @ torch.tensor([[1.0, 0.0], [0.8, 0.6]], dtype=torch.float64).T
    y = (
        torch.randn(2000, 2, generator=_gen(12), dtype=torch.float64)
        @ torch.tensor([[1.0, 0.0], [-0.8, 0.6]], dtype=torch.float64).T
    )
    assert gaussians.two_sample_projection_test(x, y) < 1e-6


def test_two_sample_test_is_deterministic_and_validates():
    x = torch.randn(100, 2, generator=_gen(13))
    y = torch.randn(100, 2, generator=_gen(14))
    assert gaussians.two_sample_projection_test(x, y, seed=3) == gaussians.two_sample_projection_test(x, y, seed=3)
    with pytest.raises(ValueError, match="same number of columns"):
        gaussians.two_sample_projection_test(x, torch.zeros(100, 3))
    with pytest.raises(ValueError, match="num_directions must be an integer >= 1"):
        gaussians.two_sample_projection_test(x, y, num_directions=0)


# ----------------------------------------------------------------------------- best diagonal q


def _reverse_kl_diag(params: np.ndarray, mu_p: np.ndarray, cov_p: np.ndarray) -> float:
    K = len(mu_p)
    m, log_var = params[:K], params[K:]
    prec = np.linalg.inv(cov_p)
    var = np.exp(log_var)
    return 0.5 * (
        np.sum(np.diag(prec) * var) + (m - mu_p) @ prec @ (m - mu_p) - K + np.linalg.slogdet(cov_p)[1] - np.sum(log_var)
    )


@pytest.mark.parametrize("K, seed", [(2, 0), (3, 1), (5, 2)])
def test_best_diagonal_reverse_kl_matches_numerical_optimisation(K, seed):
    cov_p = _spd(K, seed=seed)
    mu_p = torch.randn(K, generator=_gen(seed + 100), dtype=torch.float64)
    mu_q, var_q, kl_min = gaussians.best_diagonal_reverse_kl(mu_p, cov_p)
    res = optimize.minimize(
        _reverse_kl_diag, np.zeros(2 * K), args=(mu_p.numpy(), cov_p.numpy()), method="BFGS", options={"gtol": 1e-10}
    )
    np.testing.assert_allclose(mu_q.numpy(), res.x[:K], atol=1e-5)
    np.testing.assert_allclose(var_q.numpy(), np.exp(res.x[K:]), rtol=1e-5)
    assert kl_min.item() == pytest.approx(res.fun, abs=1e-8)
    assert (var_q <= torch.diagonal(cov_p) + 1e-12).all()  # reverse KL under-estimates marginal variances


def test_best_diagonal_reverse_kl_of_a_correlated_pair():
    rho = 0.9
    cov = torch.tensor([[1.0, rho], [rho, 1.0]], dtype=torch.float64)
    _, var_q, kl_min = gaussians.best_diagonal_reverse_kl(torch.zeros(2, dtype=torch.float64), cov)
    torch.testing.assert_close(var_q, torch.full((2,), 1 - rho**2, dtype=torch.float64))
    assert kl_min.item() == pytest.approx(-0.5 * math.log(1 - rho**2), rel=1e-12)
    _, _, kl_zero = gaussians.best_diagonal_reverse_kl(
        torch.zeros(2, dtype=torch.float64), torch.diag(torch.tensor([2.0, 3.0], dtype=torch.float64))
    )
    assert kl_zero.item() == pytest.approx(0.0, abs=1e-12)


def test_best_diagonal_reverse_kl_validates():
    with pytest.raises(ValueError, match="mu_p must have shape \\(K,\\)"):
        gaussians.best_diagonal_reverse_kl(torch.zeros(1, 2), torch.eye(2))
    with pytest.raises(ValueError, match="positive definite"):
        gaussians.best_diagonal_reverse_kl(torch.zeros(2), torch.tensor([[1.0, 1.0], [1.0, 1.0]]))


# ---------------------------------------------------------------------------------------------
# The one Gaussian log-density (issue 9): against torch.distributions
# ---------------------------------------------------------------------------------------------


@settings(max_examples=30)
@given(batch=st.lists(st.integers(1, 3), max_size=2).map(tuple), K=st.integers(1, 4), seed=st.integers(0, 10**6))
def test_log_density_matches_multivariate_normal(batch, K, seed):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(*batch, K, K, generator=g, dtype=torch.float64)
    L = torch.linalg.cholesky(A @ A.mT + 0.5 * torch.eye(K, dtype=torch.float64))
    mu = torch.randn(*batch, K, generator=g, dtype=torch.float64)
    z = torch.randn(5, *batch, K, generator=g, dtype=torch.float64)  # extra leading sample dim broadcasts
    expected = torch.distributions.MultivariateNormal(mu, scale_tril=L).log_prob(z)
    assert torch.allclose(gaussians.log_density(z, mu, L), expected, rtol=1e-10, atol=1e-10)


@settings(max_examples=30)
@given(shape=st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple), seed=st.integers(0, 10**6))
def test_diag_log_density_matches_normal_and_the_full_version(shape, seed):
    g = torch.Generator().manual_seed(seed)
    z, mu, log_var = (torch.randn(shape, generator=g, dtype=torch.float64) for _ in range(3))
    expected = torch.distributions.Normal(mu, (0.5 * log_var).exp()).log_prob(z).sum(-1)
    assert torch.allclose(gaussians.diag_log_density(z, mu, log_var), expected, rtol=1e-12, atol=1e-12)
    full = gaussians.log_density(z, mu, torch.diag_embed((0.5 * log_var).exp()))
    assert torch.allclose(gaussians.diag_log_density(z, mu, log_var), full, rtol=1e-10, atol=1e-10)


def test_log_density_refuses_a_general_factor_with_the_fix():
    S = torch.tensor([[1.0, 0.5], [0.0, 1.0]])  # upper-triangular: not a Cholesky factor
    with pytest.raises(ValueError, match=r"lower-triangular.*torch.linalg.cholesky\(S @ S.mT\)"):
        gaussians.log_density(torch.zeros(2), torch.zeros(2), S)
    with pytest.raises(ValueError, match="log_var contains 1 non-finite"):
        gaussians.diag_log_density(torch.zeros(2), torch.zeros(2), torch.tensor([0.0, -math.inf]))


def test_forward_kl_optimum_lives_beside_the_reverse_one():
    from vaelib import meanfield

    cov = torch.tensor([[2.0, 0.9], [0.9, 1.0]], dtype=torch.float64)
    mu = torch.tensor([1.0, -1.0], dtype=torch.float64)
    assert meanfield.best_diagonal_forward_kl is gaussians.best_diagonal_forward_kl  # importable there for lecture 04
    _, var_fwd, kl_fwd = gaussians.best_diagonal_forward_kl(mu, cov)
    _, var_rev, kl_rev = gaussians.best_diagonal_reverse_kl(mu, cov)
    assert torch.allclose(var_fwd, cov.diagonal()) and (var_rev < var_fwd).all()
    p = torch.distributions.MultivariateNormal(mu, cov)
    q = torch.distributions.MultivariateNormal(mu, torch.diag(var_fwd))
    assert torch.allclose(kl_fwd, torch.distributions.kl_divergence(p, q))
