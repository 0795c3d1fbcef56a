"""vaelib.explorers.diagonal_kl: lecture 03's explorer, driven from Python and checked against closed forms."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from explorer_support import changed, differs_from_full_draw  # noqa: E402
from torch.distributions import MultivariateNormal, kl_divergence  # noqa: E402

from vaelib.explorers.diagonal_kl import (  # noqa: E402
    chain_covariance,
    diagonal_kl_explorer,
    fit_diagonal,
    reverse_kl_gradient,
    reverse_kl_to_gaussian,
)

RHOS = [-0.9, -0.5, -0.2, 0.0, 0.3, 0.6, 0.95]


@pytest.fixture(scope="module")
def explorer():
    return diagonal_kl_explorer(K_max=5, stds=(1.5, 1.0))


def test_K2_loss_is_the_closed_form_and_the_fit_finds_it(explorer):
    for rho in RHOS:
        s = explorer.set(rho=rho, K=2).shown
        assert s["kl_closed_form"] == pytest.approx(-0.5 * np.log(1 - rho**2), abs=1e-12)
        assert s["kl_fitted"] == pytest.approx(s["kl_closed_form"], abs=1e-6)
        assert s["var_q1"] == pytest.approx(1.5**2 * (1 - rho**2))  # 1 / Lambda_11: the conditional variance
        assert s["var_p1"] == pytest.approx(1.5**2)
    assert explorer.set(rho=0.0).shown["kl_closed_form"] == pytest.approx(0.0, abs=1e-15)


def test_the_loss_grows_with_abs_rho_and_with_K(explorer):
    grid = explorer.rho_grid
    shown_rhos = grid[1::3]  # -0.9, -0.75, ..., 0, ..., 0.9: symmetric about 0
    by_K = {}
    for K in (2, 3, 5):
        by_K[K] = np.array([explorer.set(rho=float(r), K=K).shown["kl_closed_form"] for r in shown_rhos])
        half = by_K[K][shown_rhos >= 0]
        assert np.all(np.diff(half) > 0) and np.allclose(by_K[K], by_K[K][::-1])  # grows with |rho|, even
        chain = -0.5 * np.log(1 - grid**2) + 0.5 * (K - 2) * np.log(1 + grid**2)  # the docstring's formula
        assert np.allclose(by_K[K], chain[1::3], atol=1e-12)
        assert np.abs(explorer.fitted[K] - chain).max() < 1e-4  # the numerical fit, at every slider value
        assert np.all(explorer.fitted[K] >= chain - 1e-12)  # a minimum: no fit goes below it
        assert explorer.shown["kl_forward"] == pytest.approx(-0.5 * (K - 1) * np.log(1 - 0.9**2))
    nonzero = shown_rhos != 0
    assert np.all(by_K[3][nonzero] > by_K[2][nonzero]) and np.all(by_K[5][nonzero] > by_K[3][nonzero])


def test_closed_form_against_torch_distributions(explorer):
    """The reverse optimum, built from what the explorer shows, has KL(q || p) = kl_closed_form (torch's KL)."""
    s = explorer.set(rho=0.6, K=4).shown
    cov = torch.from_numpy(chain_covariance(0.6, explorer.stds[:4]))
    mu = torch.from_numpy(explorer.mu_p[:4])
    var_q = 1 / torch.linalg.inv(cov).diagonal()
    assert s["var_q2"] == pytest.approx(float(var_q[1]))
    q, p = MultivariateNormal(mu, torch.diag(var_q)), MultivariateNormal(mu, cov)
    assert float(kl_divergence(q, p)) == pytest.approx(s["kl_closed_form"], abs=1e-12)
    assert float(kl_divergence(p, MultivariateNormal(mu, torch.diag(cov.diagonal())))) == pytest.approx(s["kl_forward"])


def test_the_fitting_objective_and_gradient_against_torch():
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(3, 4, 4, generator=gen, dtype=torch.float64)
    cov = A @ A.transpose(-1, -2) + 0.5 * torch.eye(4, dtype=torch.float64)
    mu_p, m = (
        torch.randn(3, 4, generator=gen, dtype=torch.float64),
        torch.randn(3, 4, generator=gen, dtype=torch.float64),
    )
    log_v = torch.randn(3, 4, generator=gen, dtype=torch.float64).requires_grad_(True)
    m.requires_grad_(True)
    precision = torch.linalg.inv(cov)
    kl = reverse_kl_to_gaussian(m, log_v, mu_p, precision, torch.linalg.slogdet(cov)[1])
    oracle = kl_divergence(MultivariateNormal(m, torch.diag_embed(log_v.exp())), MultivariateNormal(mu_p, cov))
    assert torch.allclose(kl, oracle, atol=1e-10)
    kl.sum().backward()
    d_m, d_log_v = reverse_kl_gradient(m.detach().numpy(), log_v.detach().numpy(), mu_p.numpy(), precision.numpy())
    assert np.allclose(d_m, m.grad.numpy()) and np.allclose(d_log_v, log_v.grad.numpy())
    m_fit, v_fit, kl_fit = fit_diagonal(mu_p.numpy(), cov.numpy(), num_steps=1500)
    assert np.allclose(m_fit, mu_p.numpy(), atol=1e-3) and np.allclose(
        v_fit, 1 / precision.diagonal(dim1=-2, dim2=-1).numpy(), rtol=1e-3
    )


def test_the_image_changes_with_every_control(explorer):
    before = explorer.set(rho=0.0, K=2).pixels.copy()
    moved = explorer.set(rho=0.05).pixels.copy()
    assert changed(before, moved) > 0.002
    assert changed(moved, explorer.set(K=3).pixels) > 0.002
    ellipse = np.stack(explorer.reverse_line.get_data(), 1)
    assert np.ptp(ellipse[:, 0]) == pytest.approx(4 * np.sqrt(explorer.shown["var_q1"]), rel=1e-3)  # 2 sigma each side


def test_the_fast_redraw_shows_what_a_full_draw_shows(explorer):
    assert differs_from_full_draw(explorer.set(rho=-0.7, K=4)) < 0.01


def test_redraw_is_fast(explorer):
    explorer.set(K=2)
    assert (
        explorer.measure_redraw("rho", explorer.rho_grid[::2].tolist(), cpu=True) < 100
    )  # CPU time: a busy machine adds waiting, not cost


def test_bad_settings_say_what_was_wrong(explorer):
    with pytest.raises(ValueError, match=r"rho must be in \[-0.95, 0.95\]; got 0.99"):
        explorer.set(rho=0.99)
    with pytest.raises(ValueError, match="K must be a whole number"):
        explorer.set(K=2.5)
    with pytest.raises(ValueError, match=r"K must be in \[2, 5\]"):
        explorer.set(K=6)
    with pytest.raises(ValueError, match="positive-definite"):
        chain_covariance(1.0, [1.0, 1.0])
    with pytest.raises(ValueError, match=r"K_max must be in \[2, 10\]"):
        diagonal_kl_explorer(K_max=1)
    with pytest.raises(ValueError, match="stds must be two positive numbers"):
        diagonal_kl_explorer(stds=(1.0, -1.0))
