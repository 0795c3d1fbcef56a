"""Tests of lecture 01's additions to vaelib.toy: the cos(kz) counter-example and the ELBO example.

Oracles: numerical integration against the Gaussian density (scipy.integrate.quad), Monte Carlo
with vaelib.estimators (tolerance in standard errors), torch.distributions log-densities, and
autograd / finite differences.
"""

from __future__ import annotations

import math

import pytest
import torch
from scipy import integrate
from torch.distributions import Normal

from vaelib import estimators, toy

pytestmark = pytest.mark.usefixtures("float64_default")  # conftest: float64 as the default dtype


def gaussian_expectation(fn, mu, std):
    """E[fn(z)] for z ~ N(mu, std^2), by quadrature over eps (independent of the closed forms)."""
    value, _ = integrate.quad(
        lambda e: fn(mu + std * e, e) * math.exp(-e * e / 2) / math.sqrt(2 * math.pi), -14, 14, limit=500
    )
    return value


SINGLE_SAMPLE = {  # (estimator, wrt) -> the single-sample estimate as a function of (z, eps, k, mu, std)
    ("pathwise", "mu"): lambda z, e, k, mu, std: -k * math.sin(k * z),
    ("pathwise", "std"): lambda z, e, k, mu, std: -k * math.sin(k * z) * e,
    ("score", "mu"): lambda z, e, k, mu, std: math.cos(k * z) * e / std,
    ("score", "std"): lambda z, e, k, mu, std: math.cos(k * z) * (e * e - 1) / std,
}


@pytest.mark.parametrize("estimator, wrt", list(SINGLE_SAMPLE))
@pytest.mark.parametrize(
    "k, mu, std", [(0.5, 0.5, 1.0), (1.0, 0.5, 1.0), (2.0, 0.5, 1.0), (3.0, -1.2, 0.7), (1.7, 2.0, 1.6)]
)
def test_cosine_moments_match_quadrature(estimator, wrt, k, mu, std):
    g = SINGLE_SAMPLE[estimator, wrt]
    mean_q = gaussian_expectation(lambda z, e: g(z, e, k, mu, std), mu, std)
    second_q = gaussian_expectation(lambda z, e: g(z, e, k, mu, std) ** 2, mu, std)
    mean, variance = toy.cosine_moments(k, mu, std, estimator=estimator, wrt=wrt)
    assert mean.item() == pytest.approx(mean_q, abs=1e-9)
    assert variance.item() == pytest.approx(second_q - mean_q**2, abs=1e-9)


@pytest.mark.parametrize("wrt", ["mu", "std"])
def test_cosine_means_are_the_derivatives_of_the_expectation(wrt):
    """The mean of every estimator is d/dparam of E[cos(kz)] = exp(-k^2 std^2/2) cos(k mu) (autograd)."""
    k, mu, std = torch.tensor(1.3), torch.tensor(0.4, requires_grad=True), torch.tensor(0.9, requires_grad=True)
    value = torch.exp(-0.5 * (k * std) ** 2) * torch.cos(k * mu)
    d_mu, d_std = torch.autograd.grad(value, (mu, std))
    for estimator in ("score", "pathwise"):
        mean, _ = toy.cosine_moments(k, mu.detach(), std.detach(), estimator=estimator, wrt=wrt)
        torch.testing.assert_close(mean, d_mu if wrt == "mu" else d_std)


@pytest.mark.parametrize("k", [0.5, 2.0])
def test_cosine_moments_match_vaelib_estimators_by_monte_carlo(k):
    """Measured with vaelib.estimators (theta = (mu, std)), within 4.5 standard errors."""
    torch.manual_seed(0)
    theta = torch.tensor([0.5, 1.0], dtype=torch.float64)
    dist = lambda th: Normal(th[..., 0], th[..., 1])  # noqa: E731
    f = lambda z: torch.cos(k * z)  # noqa: E731
    measured = {
        "score": estimators.summarize(estimators.score_function(dist, theta, f, 200_000)),
        "pathwise": estimators.summarize(estimators.pathwise(dist, theta, f, 200_000)),
    }
    for estimator, stats in measured.items():
        for i, wrt in enumerate(("mu", "std")):
            mean, variance = toy.cosine_moments(k, 0.5, 1.0, estimator=estimator, wrt=wrt)
            assert abs(stats.mean[i] - mean) < 4.5 * stats.mean_se[i], (estimator, wrt)
            assert abs(stats.variance[i] - variance) < 4.5 * stats.variance_se[i], (estimator, wrt)


def test_cosine_score_function_wins_for_fast_oscillation():
    """From k = 2 on (mu = 0.5, std = 1) the score-function variance is below the pathwise one, for
    both parameters; at k = 0.5 it is the other way round; the large-k limits are k^2/2 and 1/2, 1."""
    ks = torch.linspace(2.0, 20.0, 500, dtype=torch.float64)
    for wrt in ("mu", "std"):
        v_sf = toy.cosine_moments(ks, 0.5, 1.0, estimator="score", wrt=wrt)[1]
        v_pw = toy.cosine_moments(ks, 0.5, 1.0, estimator="pathwise", wrt=wrt)[1]
        assert (v_sf < v_pw).all()
        small = [toy.cosine_moments(0.5, 0.5, 1.0, estimator=e, wrt=wrt)[1] for e in ("score", "pathwise")]
        assert small[1] < small[0]
    big = torch.tensor(30.0, dtype=torch.float64)
    assert toy.cosine_moments(big, estimator="pathwise", wrt="mu")[1].item() == pytest.approx(450.0, rel=1e-9)
    assert toy.cosine_moments(big, estimator="score", wrt="mu")[1].item() == pytest.approx(0.5, rel=1e-9)
    assert toy.cosine_moments(big, estimator="score", wrt="std")[1].item() == pytest.approx(1.0, rel=1e-9)


def test_cosine_moments_bad_input():
    with pytest.raises(ValueError, match="estimator must be one of"):
        toy.cosine_moments(1.0, estimator="reinforce", wrt="mu")
    with pytest.raises(ValueError, match="wrt must be one of"):
        toy.cosine_moments(1.0, estimator="score", wrt="sigma")
    with pytest.raises(ValueError, match="std must be strictly positive"):
        toy.cosine_moments(1.0, 0.5, 0.0, estimator="score", wrt="mu")
    with pytest.raises(ValueError, match="k contains 1 non-finite"):
        toy.cosine_moments(float("nan"), estimator="score", wrt="mu")


# ---------------------------------------------------------------------------------------------
# The ELBO of z ~ N(0, 1), x | z ~ N(z, noise_std^2)
# ---------------------------------------------------------------------------------------------

CASES = [(1.3, 0.2, -0.4, 1.0), (-2.0, -0.5, 0.3, 0.5), (0.7, 1.1, -1.5, 2.0)]  # x, mu, log_std, noise_std


def test_log_joint_matches_torch_distributions():
    x, z = torch.tensor([0.3, -1.2]), torch.tensor([[0.5, 2.0], [-1.0, 0.1]])
    expected = Normal(0.0, 1.0).log_prob(z) + Normal(z, 0.7).log_prob(x)
    torch.testing.assert_close(toy.log_joint(x, z, 0.7), expected)


def quadrature_elbo(x, mu, log_std, noise_std):
    """E_q[log p(x, z) - log q(z)] by quadrature, with torch.distributions' log-densities."""
    s = math.exp(log_std)

    def integrand(z, e):
        zt = torch.tensor(z, dtype=torch.float64)
        log_p = Normal(0.0, 1.0).log_prob(zt) + Normal(zt, noise_std).log_prob(torch.tensor(x, dtype=torch.float64))
        return (log_p - Normal(mu, s).log_prob(zt)).item()

    return gaussian_expectation(integrand, mu, s)


@pytest.mark.parametrize("x, mu, log_std, noise_std", CASES)
def test_elbo_matches_quadrature(x, mu, log_std, noise_std):
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    value = toy.elbo(t(x), t(mu), t(log_std), t(noise_std)).item()
    assert value == pytest.approx(quadrature_elbo(x, mu, log_std, noise_std), abs=1e-8)


@pytest.mark.parametrize("x, mu, log_std, noise_std", CASES)
def test_elbo_gradient_matches_finite_differences_of_the_quadrature(x, mu, log_std, noise_std):
    h = 1e-4
    d_mu = (quadrature_elbo(x, mu + h, log_std, noise_std) - quadrature_elbo(x, mu - h, log_std, noise_std)) / (2 * h)
    d_ls = (quadrature_elbo(x, mu, log_std + h, noise_std) - quadrature_elbo(x, mu, log_std - h, noise_std)) / (2 * h)
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    g_mu, g_ls = toy.elbo_gradient(t(x), t(mu), t(log_std), t(noise_std))
    assert g_mu.item() == pytest.approx(d_mu, abs=1e-6)
    assert g_ls.item() == pytest.approx(d_ls, abs=1e-6)


def test_elbo_gradient_matches_autograd_on_a_batch():
    gen = torch.Generator().manual_seed(0)
    x, mu, log_std = (torch.randn(7, generator=gen, dtype=torch.float64) for _ in range(3))
    mu.requires_grad_(True)
    log_std.requires_grad_(True)
    d_mu, d_ls = torch.autograd.grad(toy.elbo(x, mu, log_std, 0.8).sum(), (mu, log_std))
    g_mu, g_ls = toy.elbo_gradient(x, mu.detach(), log_std.detach(), 0.8)
    torch.testing.assert_close(g_mu, d_mu)
    torch.testing.assert_close(g_ls, d_ls)


@pytest.mark.parametrize("noise_std", [0.5, 1.0, 2.0])
def test_posterior_and_evidence(noise_std):
    """The posterior is the normalised joint (quadrature); the ELBO reaches log p(x) exactly there,
    with zero gradient, and is below it elsewhere; log p(x) = log N(x; 0, 1 + noise_std^2)."""
    x = torch.tensor(1.4, dtype=torch.float64)
    mean, std = toy.posterior(x, noise_std)
    joint = lambda z: math.exp(toy.log_joint(x, torch.tensor(z, dtype=torch.float64), noise_std).item())  # noqa: E731
    evidence = integrate.quad(joint, -30, 30)[0]
    post_mean = integrate.quad(lambda z: z * joint(z), -30, 30)[0] / evidence
    post_var = integrate.quad(lambda z: (z - post_mean) ** 2 * joint(z), -30, 30)[0] / evidence
    assert mean.item() == pytest.approx(post_mean, abs=1e-9)
    assert std.item() ** 2 == pytest.approx(post_var, abs=1e-9)
    log_px = toy.log_evidence(x, noise_std)
    assert log_px.item() == pytest.approx(math.log(evidence), abs=1e-9)
    torch.testing.assert_close(log_px, Normal(0.0, math.sqrt(1 + noise_std**2)).log_prob(x))
    torch.testing.assert_close(toy.elbo(x, mean, torch.log(std), noise_std), log_px)
    for g in toy.elbo_gradient(x, mean, torch.log(std), noise_std):
        assert abs(g.item()) < 1e-12
    others = toy.elbo(x, torch.tensor([0.0, 2.0, mean.item()]), torch.tensor([0.0, -1.0, 0.3]), noise_std)
    assert (others < log_px).all()


def test_elbo_bad_input():
    with pytest.raises(ValueError, match="noise_std must be strictly positive"):
        toy.elbo(1.0, 0.0, 0.0, noise_std=0.0)
    with pytest.raises(ValueError, match="log_std contains 1 non-finite"):
        toy.elbo_gradient(1.0, 0.0, float("inf"))
    with pytest.raises(ValueError, match="do not broadcast"):
        toy.elbo(torch.zeros(3), torch.zeros(2), 0.0)
    with pytest.raises(TypeError, match="x must be a tensor"):
        toy.log_evidence("one")
    with pytest.raises(ValueError, match="noise_std must be strictly positive"):
        toy.posterior(1.0, -1.0)
