"""Tests of vaelib.vmf: Wood's sampler against the exact marginal law, the Bessel quantities
against quadrature, the two-term gradient against finite differences of the exact mean."""

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.stats as st
import torch

from vaelib import vmf


@pytest.fixture(autouse=True)
def float64():
    # checks at a few standard errors need accurate sums; restore the default afterwards
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def marginal_cdf_on_grid(kappa, d, n=20_001):
    # the CDF of w by the trapezoid rule on a fine grid: an oracle independent of Bessel functions
    w = np.linspace(-1, 1, n)
    log_f = kappa * w + 0.5 * (d - 3) * np.log(np.clip(1 - w * w, 1e-300, None))
    f = np.exp(log_f - log_f.max())
    if d == 2:  # integrable endpoint singularities: use the change of variables w = cos(t)
        t = np.linspace(np.pi, 0, n)
        w = np.cos(t)
        f = np.exp(kappa * w)
        c = scipy.integrate.cumulative_trapezoid(f, -t, initial=0)
        return w, c / c[-1]
    c = scipy.integrate.cumulative_trapezoid(f, w, initial=0)
    return w, c / c[-1]


@pytest.mark.parametrize("d, kappa", [(2, 1.0), (3, 2.0), (5, 0.3), (10, 5.0), (20, 50.0)])
def test_wood_w_follows_the_marginal_law(d, kappa):
    s = vmf.wood_w(torch.tensor(kappa), d, sample_shape=(20_000,), generator=torch.Generator().manual_seed(d))
    grid, cdf = marginal_cdf_on_grid(kappa, d)
    assert st.kstest(s.w.numpy(), lambda x: np.interp(x, grid, cdf)).pvalue > 1e-3
    se = s.w.std().item() / math.sqrt(20_000)
    assert abs(s.w.mean().item() - vmf.mean_resultant_length(torch.tensor(kappa), d).item()) < 4 * se
    assert s.proposals >= 20_000


def test_wood_w_rejects_a_near_miss_law():
    # the same sampler's w at a kappa 10% off fails the KS test: the test has power
    s = vmf.wood_w(torch.tensor(2.2), 3, sample_shape=(20_000,), generator=torch.Generator().manual_seed(0))
    grid, cdf = marginal_cdf_on_grid(2.0, 3)
    assert st.kstest(s.w.numpy(), lambda x: np.interp(x, grid, cdf)).pvalue < 1e-3


@pytest.mark.parametrize("d, kappa", [(3, 2.0), (7, 0.5), (16, 30.0)])
def test_bessel_quantities_against_quadrature(d, kappa):
    f = lambda w: math.exp(kappa * w) * (1 - w * w) ** ((d - 3) / 2)  # noqa: E731
    total = scipy.integrate.quad(f, -1, 1, limit=200)[0]
    mean = scipy.integrate.quad(lambda w: w * f(w), -1, 1, limit=200)[0] / total
    assert vmf.mean_resultant_length(torch.tensor(kappa), d).item() == pytest.approx(mean, rel=1e-8)
    dens = lambda w: math.exp(vmf.marginal_log_density(torch.tensor(w), torch.tensor(kappa), d).item())  # noqa: E731
    assert scipy.integrate.quad(dens, -1, 1, limit=200)[0] == pytest.approx(1.0, abs=1e-8)
    # the accepted proposal's density integrates to 1 over (0, 1)
    acc = lambda e: math.exp(vmf.log_accepted_density(torch.tensor(e), torch.tensor(kappa), d).item())  # noqa: E731
    assert scipy.integrate.quad(acc, 0, 1, limit=200)[0] == pytest.approx(1.0, abs=1e-6)


def test_d3_closed_forms():
    kappa = torch.tensor(3.0)
    assert vmf.mean_resultant_length(kappa, 3).item() == pytest.approx(1 / math.tanh(3.0) - 1 / 3.0, rel=1e-10)
    assert vmf.log_normalizer(kappa, 3).item() == pytest.approx(
        math.log(3.0 / (4 * math.pi * math.sinh(3.0))), rel=1e-10
    )


def test_sample_is_on_the_sphere_with_the_right_mean():
    mu = torch.tensor([0.6, 0.0, 0.8])
    z = vmf.sample(mu, torch.tensor(4.0), sample_shape=(20_000,), generator=torch.Generator().manual_seed(2))
    assert z.shape == (20_000, 3)
    assert torch.allclose(z.norm(dim=-1), torch.ones(20_000), atol=1e-12)
    expected = vmf.mean_resultant_length(torch.tensor(4.0), 3) * mu
    se = z.std(0) / math.sqrt(20_000)
    assert ((z.mean(0) - expected).abs() < 4 * se).all()
    # the law of mu^T z is the marginal, whatever mu is
    grid, cdf = marginal_cdf_on_grid(4.0, 3)
    assert st.kstest((z @ mu).numpy(), lambda x: np.interp(x, grid, cdf)).pvalue > 1e-3


def test_sample_batches_and_gradient_in_mu():
    mu = torch.nn.functional.normalize(
        torch.randn(4, 5, generator=torch.Generator().manual_seed(0)), dim=-1
    ).requires_grad_(True)
    kappa = torch.tensor([1.0, 2.0, 5.0, 10.0])
    z = vmf.sample(mu, kappa, sample_shape=(3,), generator=torch.Generator().manual_seed(1))
    assert z.shape == (3, 4, 5)
    z.sum().backward()
    assert mu.grad is not None and torch.isfinite(mu.grad).all()


def test_kl_to_uniform_against_monte_carlo():
    mu = torch.tensor([0.0, 0.0, 1.0, 0.0])
    z = vmf.sample(mu, torch.tensor(3.0), sample_shape=(40_000,), generator=torch.Generator().manual_seed(3))
    log_area = math.log(2 * math.pi**2)  # |S^3| = 2 pi^2
    terms = vmf.log_prob(z, mu, torch.tensor(3.0)) + log_area
    se = terms.std().item() / math.sqrt(len(terms))
    assert abs(terms.mean().item() - vmf.kl_to_uniform(torch.tensor(3.0), 4).item()) < 4 * se


@pytest.mark.parametrize("d, kappa", [(3, 2.0), (10, 5.0)])
def test_rejection_gradient_terms(d, kappa):
    g_rep, g_cor = vmf.rejection_gradient_terms(
        lambda w: w, kappa, d, 20_000, generator=torch.Generator().manual_seed(1)
    )
    h = 1e-4
    exact = (
        vmf.mean_resultant_length(torch.tensor(kappa + h), d) - vmf.mean_resultant_length(torch.tensor(kappa - h), d)
    ).item() / (2 * h)
    total = g_rep + g_cor
    assert abs(total.mean().item() - exact) < 4 * total.std().item() / math.sqrt(len(total))
    assert abs(g_rep.mean().item() - exact) > 10 * g_rep.std().item() / math.sqrt(len(g_rep))  # g_rep alone is biased


def test_generator_makes_draws_reproducible():
    a = vmf.wood_w(torch.tensor(2.0), 3, sample_shape=(50,), generator=torch.Generator().manual_seed(5)).w
    b = vmf.wood_w(torch.tensor(2.0), 3, sample_shape=(50,), generator=torch.Generator().manual_seed(5)).w
    assert torch.equal(a, b)


def test_bad_inputs():
    with pytest.raises(ValueError, match="kappa"):
        vmf.wood_w(torch.tensor(-1.0), 3)
    with pytest.raises(ValueError, match="d must be an integer >= 2"):
        vmf.wood_w(torch.tensor(1.0), 1)
    with pytest.raises(ValueError, match="unit vectors"):
        vmf.sample(torch.tensor([1.0, 1.0, 0.0]), torch.tensor(1.0))
    with pytest.raises(ValueError, match="num_samples"):
        vmf.rejection_gradient_terms(lambda w: w, 1.0, 3, 0)
