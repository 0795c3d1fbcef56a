"""Tests of lecture 03's additions to vaelib.kl: the sigma form of the diagonal KL and the KL for
any square factor S. Oracles: torch.distributions.kl_divergence, the Cholesky form, Monte Carlo."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Independent, MultivariateNormal, Normal, kl_divergence

from vaelib import gaussians, kl

pytestmark = pytest.mark.usefixtures("float64_default")  # conftest: float64 as the default dtype


def std_normal(shape):
    return Independent(Normal(torch.zeros(shape), torch.ones(shape)), 1)


@pytest.mark.parametrize("shape", [(4,), (3, 5), (2, 3, 2)])
def test_sigma_form_matches_torch_and_the_log_variance_form(shape):
    gen = torch.Generator().manual_seed(1)
    mu = torch.randn(shape, generator=gen)
    std = torch.exp(torch.randn(shape, generator=gen))
    expected = kl_divergence(Independent(Normal(mu, std), 1), std_normal(shape))
    torch.testing.assert_close(kl.diag_gaussian_to_std_normal_from_std(mu, std), expected)
    torch.testing.assert_close(kl.diag_gaussian_to_std_normal(mu, 2 * torch.log(std)), expected)


def test_sigma_form_broadcasts_and_is_nonnegative_near_zero():
    mu = torch.zeros(3, 4)
    std = torch.tensor([1.0, 1.0 + 1e-9, 0.5, 2.0])
    out = kl.diag_gaussian_to_std_normal_from_std(mu, std)
    assert out.shape == (3,) and (out >= 0).all()
    assert kl.diag_gaussian_to_std_normal_from_std(torch.zeros(2), torch.ones(2)).item() == 0.0


def test_mismatched_encoder_outputs_disagree_with_torch():
    """log_std fed in as log_var, or log_var fed in as log_std: both differ from the true KL."""
    gen = torch.Generator().manual_seed(2)
    mu, log_std = torch.randn(6, 3, generator=gen), torch.randn(6, 3, generator=gen)
    truth = kl_divergence(Independent(Normal(mu, log_std.exp()), 1), std_normal((6, 3)))
    torch.testing.assert_close(kl.diag_gaussian_to_std_normal(mu, 2 * log_std), truth)
    log_std_as_log_var = kl.diag_gaussian_to_std_normal(mu, log_std)
    log_var_as_log_std = kl.diag_gaussian_to_std_normal_from_std(mu, torch.exp(2 * log_std))
    for wrong in (log_std_as_log_var, log_var_as_log_std):
        assert (wrong - truth).abs().max() > 0.1


def test_sigma_form_bad_input():
    with pytest.raises(ValueError, match="std must be strictly positive"):
        kl.diag_gaussian_to_std_normal_from_std(torch.zeros(2), torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="std contains 1 non-finite"):
        kl.diag_gaussian_to_std_normal_from_std(torch.zeros(2), torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="do not broadcast"):
        kl.diag_gaussian_to_std_normal_from_std(torch.zeros(2), torch.ones(3))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        kl.diag_gaussian_to_std_normal_from_std(torch.tensor(0.0), torch.tensor(1.0))


@pytest.mark.parametrize("K", [1, 2, 5])
def test_general_factor_matches_cholesky_form_on_S_equal_L_Q(K):
    gen = torch.Generator().manual_seed(K)
    B = 4
    L = torch.tril(torch.randn(B, K, K, generator=gen), -1) + torch.diag_embed(0.3 + torch.rand(B, K, generator=gen))
    Q = torch.stack([gaussians.random_orthogonal(K, generator=gen) for _ in range(B)])
    mu = torch.randn(B, K, generator=gen)
    expected = kl.full_gaussian_to_std_normal(mu, L)
    torch.testing.assert_close(kl.factor_gaussian_to_std_normal(mu, L @ Q), expected)
    torch.testing.assert_close(kl.factor_gaussian_to_std_normal(mu, L), expected)
    S = L @ Q
    q = MultivariateNormal(mu, covariance_matrix=S @ S.mT)
    torch.testing.assert_close(
        kl.factor_gaussian_to_std_normal(mu, S), kl_divergence(q, MultivariateNormal(torch.zeros(K), torch.eye(K)))
    )


def test_general_factor_negative_determinant_and_monte_carlo():
    """A reflection (det S < 0) is fine: the formula uses |det S|; Monte Carlo agrees within 4 s.e."""
    S = torch.tensor([[0.0, 1.5], [2.0, 0.3]])  # det = -3
    mu = torch.tensor([0.5, -1.0])
    value = kl.factor_gaussian_to_std_normal(mu, S)
    assert torch.linalg.det(S) < 0
    expected = 0.5 * ((S**2).sum() + mu @ mu - 2 - 2 * math.log(3.0))
    torch.testing.assert_close(value, expected)
    est, se = kl.monte_carlo_kl(
        MultivariateNormal(mu, covariance_matrix=S @ S.T),
        MultivariateNormal(torch.zeros(2), torch.eye(2)),
        50_000,
        generator=torch.Generator().manual_seed(3),
    )
    assert abs(est - value) < 4 * se


def test_general_factor_is_differentiable():
    S = torch.tensor([[1.0, 0.4], [-0.3, 0.8]], requires_grad=True)
    (grad,) = torch.autograd.grad(kl.factor_gaussian_to_std_normal(torch.zeros(2), S), S)
    torch.testing.assert_close(grad, S.detach() - torch.linalg.inv(S.detach()).T)  # d/dS: S - S^{-T}


def test_general_factor_bad_input():
    with pytest.raises(ValueError, match="singular"):
        kl.factor_gaussian_to_std_normal(torch.zeros(2), torch.tensor([[3.0, 4.0], [6.0, 8.0]]))
    with pytest.raises(ValueError, match="scale must be a square K x K matrix"):
        kl.factor_gaussian_to_std_normal(torch.zeros(2), torch.ones(2, 3))
    with pytest.raises(ValueError, match="K=3 latent dimensions"):
        kl.factor_gaussian_to_std_normal(torch.zeros(3), torch.eye(2))
    with pytest.raises(ValueError, match="scale contains 1 non-finite"):
        kl.factor_gaussian_to_std_normal(torch.zeros(2), torch.tensor([[1.0, float("inf")], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="do not broadcast"):
        kl.factor_gaussian_to_std_normal(torch.zeros(3, 2), torch.eye(2).expand(4, 2, 2))
