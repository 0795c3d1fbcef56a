"""Calibration by repetition of the statistics the lecture checks rest on (issue 12, item 6).

A check "within 4 standard errors" is only as good as its standard error. Each test repeats an
experiment R times with a known truth and asks two things of a standard error ``se``:

* **ratio**: the mean of se^2 over the repetitions equals the variance of the estimate across
  them (ratio 1; the tolerance is set by R), on Gaussian *and* non-Gaussian data, where a
  Gaussian-only formula is wrong (and shown to fail the same test);
* **coverage**: the estimate lies within 1.96 se of the truth in 95% of the repetitions (up to
  the binomial standard error of R repetitions, and the normal approximation at that N).

Then the two-sample projection test's false-alarm rate (Bonferroni-corrected: at most alpha;
without the correction: far above), and the Haar law of ``random_orthogonal`` on O(3).
Every experiment is seeded, so each test is deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch.distributions import MultivariateNormal, kl_divergence

from vaelib import estimators, gaussians, kl, toy

pytestmark = pytest.mark.usefixtures("float64_default")  # conftest: float64 as the default dtype


def ratio(estimates: torch.Tensor, ses: torch.Tensor) -> torch.Tensor:
    """mean(se^2) / var(estimate) over the repetitions (dim 0): 1 for a calibrated se."""
    return (ses**2).mean(0) / estimates.var(0)


def coverage(estimates: torch.Tensor, ses: torch.Tensor, truth, z: float = 1.96) -> torch.Tensor:
    """The fraction of repetitions with |estimate - truth| <= z se."""
    return ((estimates - truth).abs() <= z * ses).double().mean(0)


MIX = torch.tensor(
    [[1.0, 0.0], [0.6, 0.8]], dtype=torch.float64
)  # correlates the two coordinates: covariance MIX MIX^T


def draws(kind: str, n: int, gen: torch.Generator) -> torch.Tensor:
    """(n, 2) samples with mean 0 and covariance MIX MIX^T: Gaussian, or centred exponentials
    (skewness 2, excess kurtosis 6 before mixing), where Gaussian-only formulas fail."""
    if kind == "gaussian":
        e = torch.randn(n, 2, generator=gen)
    else:
        e = torch.empty(n, 2).exponential_(generator=gen) - 1
    return e @ MIX.T


@pytest.mark.parametrize("kind", ["gaussian", "exponential"])
def test_mean_stderr_is_calibrated(kind):
    gen = torch.Generator().manual_seed(1)
    R, N = 2000, 100
    means, ses = zip(*(gaussians.mean_and_stderr(draws(kind, N, gen)) for _ in range(R)))
    means, ses = torch.stack(means), torch.stack(ses)  # (R, 2)
    r = ratio(means, ses)
    assert ((r - 1).abs() < 0.1).all(), r  # var of a variance from R = 2000: ~3% (s.e.)
    c = coverage(means, ses, 0.0)
    assert ((c > 0.925) & (c < 0.97)).all(), c  # 0.95 (t_99: 0.947) +- 4 binomial s.e. (0.005)
    assert (ratio(means, ses / math.sqrt(N)) < 0.05).all()  # the slip std / N instead of std / sqrt(N)


@pytest.mark.parametrize("kind", ["gaussian", "exponential"])
def test_covariance_stderr_is_calibrated_and_the_gaussian_formula_is_not(kind):
    gen = torch.Generator().manual_seed(2)
    R, N = 2000, 200
    covs, ses = zip(*(gaussians.covariance_and_stderr(draws(kind, N, gen)) for _ in range(R)))
    covs, ses = torch.stack(covs), torch.stack(ses)  # (R, 2, 2)
    r = ratio(covs, ses)
    assert ((r - 1).abs() < 0.15).all(), r
    c = coverage(covs, ses, MIX @ MIX.T)
    low = 0.925 if kind == "gaussian" else 0.87  # skewed products: the normal approximation is slower at N = 200
    assert ((c > low) & (c < 0.97)).all(), c
    diag = torch.diagonal(covs, dim1=1, dim2=2)  # (R, 2)
    gaussian_only = ((covs**2 + diag.unsqueeze(2) * diag.unsqueeze(1)) / N).sqrt()  # (R, 2, 2)
    r_gauss = ratio(covs, gaussian_only)
    if kind == "gaussian":
        assert ((r_gauss - 1).abs() < 0.15).all()  # right for Gaussian data ...
    else:
        assert (torch.diagonal(r_gauss) < 0.6).all()  # ... and far too small for exponential data


SUMMARIZE_CASES = {  # name -> (draw S samples, exact mean, exact variance)
    "gaussian": (lambda S, gen: 2 * torch.randn(S, generator=gen), 0.0, 4.0),
    "exponential": (lambda S, gen: torch.empty(S).exponential_(generator=gen), 1.0, 1.0),
    # lecture 01's score-function estimates at theta = 1: heavy tails (degree-3 polynomial of eps)
    "score function": (
        lambda S, gen: estimators.score_function(
            toy.distribution, torch.tensor(1.0), toy.f, z=1.0 + torch.randn(S, generator=gen)
        ),
        *toy.moments(1.0, "score"),
    ),
}


@pytest.mark.parametrize("name", list(SUMMARIZE_CASES))
def test_summarize_variance_se_is_calibrated_and_the_gaussian_formula_is_not(name):
    draw, exact_mean, exact = SUMMARIZE_CASES[name]
    gen = torch.Generator().manual_seed(3)
    R, S = 1500, 1000
    results = [estimators.summarize(draw(S, gen)) for _ in range(R)]
    variances = torch.stack([r.variance for r in results])
    variance_ses = torch.stack([r.variance_se for r in results])
    means = torch.stack([r.mean for r in results])
    mean_ses = torch.stack([r.mean_se for r in results])
    assert abs(ratio(variances, variance_ses) - 1) < 0.12
    assert abs(ratio(means, mean_ses) - 1) < 0.12
    assert 0.925 < coverage(means, mean_ses, exact_mean) < 0.97
    c = coverage(variances, variance_ses, exact)
    assert c > (0.925 if name == "gaussian" else 0.85), c  # heavy tails: the variance's law is skewed at S = 1000
    gaussian_only = variances * math.sqrt(2 / (S - 1))  # Var[s^2] = 2 sigma^4 / (S - 1) holds only for Gaussian data
    r_gauss = ratio(variances, gaussian_only)
    assert (abs(r_gauss - 1) < 0.12) if name == "gaussian" else (r_gauss < 0.5), r_gauss


def test_monte_carlo_kl_stderr_is_calibrated():
    q = MultivariateNormal(torch.tensor([0.5, -0.3]), scale_tril=torch.tensor([[0.7, 0.0], [0.4, 1.3]]))
    p = MultivariateNormal(torch.zeros(2), torch.eye(2))
    truth = kl_divergence(q, p)
    gen = torch.Generator().manual_seed(4)
    R, S = 1000, 200
    estimates, ses = zip(*(kl.monte_carlo_kl(q, p, S, generator=gen) for _ in range(R)))
    estimates, ses = torch.stack(estimates), torch.stack(ses)
    assert abs(ratio(estimates, ses) - 1) < 0.15
    assert 0.915 < coverage(estimates, ses, truth) < 0.97  # skewed log-ratios: 0.93 at S = 200
    assert abs(estimates.mean() - truth) < 4 * estimates.std() / math.sqrt(R)  # unbiased


def test_projection_test_false_alarm_rate_with_and_without_bonferroni():
    """Same law on both sides: rejections at alpha = 0.05 happen at most at rate alpha (up to 3
    binomial s.e.); the uncorrected minimum of the 16 p-values rejects far more often."""
    gen = torch.Generator().manual_seed(5)
    A = torch.tensor([[1.0, 0.0, 0.0], [0.5, 1.0, 0.0], [0.2, 0.3, 1.0]])
    R, n, alpha, D = 300, 100, 0.05, 16
    p = np.array(
        [
            gaussians.two_sample_projection_test(
                torch.randn(n, 3, generator=gen) @ A.T, torch.randn(n, 3, generator=gen) @ A.T, num_directions=D
            )
            for _ in range(R)
        ]
    )
    false_alarm = (p < alpha).mean()
    uncorrected = (p / D < alpha).mean()  # p = D * min p_j whenever p < 1
    assert false_alarm <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / R), false_alarm
    assert uncorrected > 2 * alpha, uncorrected


def rotation_angles(Q: torch.Tensor) -> np.ndarray:
    """The rotation angle of each (det Q) Q in SO(3): cos(angle) = (trace - 1) / 2."""
    rotations = Q * torch.linalg.det(Q).sign()[:, None, None]
    cos = ((torch.diagonal(rotations, dim1=1, dim2=2).sum(-1) - 1) / 2).clamp(-1, 1)
    return torch.arccos(cos).numpy()


def haar_angle_cdf(t):
    """Under the Haar law on SO(3) the rotation angle has density (1 - cos t) / pi on [0, pi]."""
    return (t - np.sin(t)) / np.pi


def test_random_orthogonal_is_haar_on_O3():
    gen = torch.Generator().manual_seed(6)
    R = 2000
    Q = torch.stack([gaussians.random_orthogonal(3, generator=gen) for _ in range(R)])  # (R, 3, 3)
    torch.testing.assert_close(Q @ Q.mT, torch.eye(3).expand(R, 3, 3))
    positive = (torch.linalg.det(Q) > 0).double().mean().item()
    assert abs(positive - 0.5) < 4 * math.sqrt(0.25 / R)  # both halves of O(3) equally likely
    assert stats.kstest(rotation_angles(Q), haar_angle_cdf).pvalue > 1e-3
    for i in range(3):  # a column of a Haar matrix is uniform on the sphere: each coordinate ~ U(-1, 1) (Archimedes)
        assert stats.kstest(Q[:, i, 0].numpy(), stats.uniform(-1, 2).cdf).pvalue > 1e-3
        assert stats.kstest(Q[:, 0, i].numpy(), stats.uniform(-1, 2).cdf).pvalue > 1e-3
    assert Q.mean(0).abs().max() < 4 * math.sqrt(1 / 3 / R)  # E[Q] = 0, Var[Q_ij] = 1/3
    assert ((Q**2).mean(0) - 1 / 3).abs().max() < 0.02


def test_the_haar_check_rejects_qr_without_the_sign_fix():
    """The same angle test has the power to catch the classic slip (Mezzadri 2007): Q of a QR
    factorisation without fixing the signs of diag(R) is not uniform."""
    gen = torch.Generator().manual_seed(7)
    Q = torch.linalg.qr(torch.randn(2000, 3, 3, generator=gen))[0]  # (2000, 3, 3), one QR per matrix
    assert stats.kstest(rotation_angles(Q), haar_angle_cdf).pvalue < 1e-6
