"""Tests of vaelib.targets: the 1-d Gaussian mixture and the reverse / forward KL fits."""

import math

import pytest
import torch

from vaelib import kl, targets

DT = torch.float64


def mixture(weights=(0.4, 0.6), means=(-2.0, 2.0), stds=(0.6, 0.6)):
    return targets.GaussianMixture1d(
        torch.tensor(weights, dtype=DT), torch.tensor(means, dtype=DT), torch.tensor(stds, dtype=DT)
    )


def test_log_prob_and_moments_match_torch():
    p = mixture((0.2, 0.5, 0.3), (-1.0, 0.5, 3.0), (0.3, 1.0, 0.7))
    z = torch.linspace(-5, 6, 101, dtype=DT)
    assert torch.allclose(p.log_prob(z), p.to_torch().log_prob(z), atol=1e-12)
    assert torch.allclose(p.mean(), p.to_torch().mean) and torch.allclose(p.variance(), p.to_torch().variance)


@pytest.mark.parametrize("mu, std", [(0.3, 0.5), (-1.0, 2.0)])
def test_kls_with_one_component_equal_the_gaussian_kl(mu, std):
    """Oracle: the closed-form Gaussian KL of lecture 03 (a one-component 'mixture')."""
    p = targets.GaussianMixture1d(
        torch.tensor([1.0], dtype=DT), torch.tensor([0.7], dtype=DT), torch.tensor([0.8], dtype=DT)
    )
    mu_t, std_t = torch.tensor([mu], dtype=DT), torch.tensor([[std]], dtype=DT)
    p_mu, p_std = torch.tensor([0.7], dtype=DT), torch.tensor([[0.8]], dtype=DT)
    reverse = kl.gaussian_to_gaussian(mu_t, std_t, p_mu, p_std)
    forward = kl.gaussian_to_gaussian(p_mu, p_std, mu_t, std_t)
    assert abs(targets.reverse_kl(p, torch.tensor(mu, dtype=DT), torch.tensor(std, dtype=DT)) - reverse) < 1e-10
    assert abs(targets.forward_kl(p, torch.tensor(mu, dtype=DT), torch.tensor(std, dtype=DT)) - forward) < 1e-10


def test_kls_match_monte_carlo_within_5_standard_errors():
    p = mixture()
    g = torch.Generator().manual_seed(0)
    n = 200_000
    mu, std = torch.tensor(0.4, dtype=DT), torch.tensor(1.5, dtype=DT)
    q = torch.distributions.Normal(mu, std)
    z = mu + std * torch.randn(n, generator=g, dtype=DT)
    values = q.log_prob(z) - p.log_prob(z)
    assert abs(values.mean() - targets.reverse_kl(p, mu, std)) < 5 * values.std() / math.sqrt(n)
    component = (torch.rand(n, generator=g, dtype=DT) < 0.6).long()
    z = p.means[component] + p.stds[component] * torch.randn(n, generator=g, dtype=DT)
    values = p.log_prob(z) - q.log_prob(z)
    assert abs(values.mean() - targets.forward_kl(p, mu, std)) < 5 * values.std() / math.sqrt(n)


def test_kls_broadcast_and_are_differentiable():
    p = mixture()
    mu = torch.tensor([0.0, 1.0, 2.0], dtype=DT, requires_grad=True)
    std = torch.tensor(0.8, dtype=DT)
    for fn in (targets.reverse_kl, targets.forward_kl):
        values = fn(p, mu, std)
        assert values.shape == (3,)
        assert torch.allclose(values[1], fn(p, torch.tensor(1.0, dtype=DT), std))
        (grad,) = torch.autograd.grad(values.sum(), mu)
        assert torch.isfinite(grad).all()


def test_forward_fit_is_moment_matching():
    p = mixture((0.3, 0.7), (-1.5, 2.5), (0.5, 0.9))
    fit = targets.fit_gaussian(p, "forward", init_mu=-3.0, init_std=0.5)
    assert abs(fit.mu - p.mean().item()) < 1e-6
    assert abs(fit.std**2 - p.variance().item()) < 1e-6


def test_reverse_fit_locks_onto_the_mode_it_starts_near():
    p = mixture()
    right = targets.fit_gaussian(p, "reverse", init_mu=1.0, init_std=0.5)
    left = targets.fit_gaussian(p, "reverse", init_mu=-1.0, init_std=0.5)
    assert abs(right.mu - 2.0) < 0.01 and abs(right.std - 0.6) < 0.01
    assert abs(left.mu + 2.0) < 0.01 and abs(left.std - 0.6) < 0.01
    # separated modes: locking onto component c costs about -log w_c nats
    assert abs(right.kl + math.log(0.6)) < 0.01 and abs(left.kl + math.log(0.4)) < 0.01
    forward = targets.fit_gaussian(p, "forward", init_mu=1.0)
    assert right.kl < targets.reverse_kl(p, torch.tensor(forward.mu, dtype=DT), torch.tensor(forward.std, dtype=DT))


def test_errors():
    with pytest.raises(ValueError, match="sum to 1"):
        mixture((0.5, 0.6))
    with pytest.raises(ValueError, match="same shape"):
        targets.GaussianMixture1d(torch.tensor([1.0]), torch.tensor([0.0, 1.0]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="stds must be strictly positive"):
        mixture(stds=(0.6, 0.0))
    p = mixture()
    with pytest.raises(ValueError, match="std must be strictly positive"):
        targets.reverse_kl(p, torch.tensor(0.0, dtype=DT), torch.tensor(-1.0, dtype=DT))
    with pytest.raises(ValueError, match="direction must be"):
        targets.fit_gaussian(p, "both", init_mu=0.0)
    with pytest.raises(ValueError, match="init_mu must be"):
        targets.fit_gaussian(p, "reverse", init_mu=float("nan"))
    with pytest.raises(ValueError, match="n_grid must be at least"):
        targets.forward_kl(p, torch.tensor(0.0, dtype=DT), torch.tensor(1.0, dtype=DT), n_grid=11)
