"""vaelib.free_bits: the free-bits KL against a hand computation and torch.distributions."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vaelib.free_bits import FreeBitsVAE, free_bits_kl
from vaelib.models import VAE
from vaelib.train import fit


def test_free_bits_kl_clamps_each_dimensions_batch_mean_kl():
    torch.manual_seed(0)
    mu, log_var = torch.randn(6, 3), torch.randn(6, 3)
    kl_k = kl_divergence(Normal(mu, (0.5 * log_var).exp()), Normal(0.0, 1.0)).mean(0)  # (3,) oracle
    assert torch.allclose(free_bits_kl(mu, log_var, 0.0), kl_k.sum(), atol=1e-5)
    lam = float(kl_k.median())
    assert torch.allclose(free_bits_kl(mu, log_var, lam), torch.maximum(kl_k, torch.tensor(lam)).sum(), atol=1e-5)
    assert torch.allclose(free_bits_kl(mu, log_var, 100.0), torch.tensor(300.0))


def test_below_the_allowance_a_dimension_feels_no_pull():
    mu = torch.full((4, 2), 0.1, requires_grad=True)
    log_var = torch.zeros(4, 2, requires_grad=True)
    free_bits_kl(mu, log_var, 1.0).backward()
    assert (mu.grad == 0).all() and (log_var.grad == 0).all()


def test_errors():
    with pytest.raises(ValueError, match="allowance must be a finite number >= 0"):
        free_bits_kl(torch.zeros(2, 2), torch.zeros(2, 2), -1.0)
    with pytest.raises(ValueError, match=r"shape \(B, K\)"):
        free_bits_kl(torch.zeros(2, 2), torch.zeros(2, 3), 0.5)
    with pytest.raises(ValueError, match="allowance"):
        FreeBitsVAE(VAE(784, 2, [8]), float("nan"))


def test_the_wrapper_trains_with_fit():
    torch.manual_seed(0)
    model = FreeBitsVAE(VAE(784, 3, [8]), 0.5)
    x = (torch.rand(64, 784) > 0.5).float()
    parts = model.loss(x, beta=2.0)
    assert torch.allclose(parts.loss, parts.recon + 2.0 * parts.kl) and parts.kl >= 1.5 - 1e-6
    history = fit(model, x, epochs=2, progress=False)
    assert len(history) == 2 and history.kl[-1] >= 1.5 - 1e-6
