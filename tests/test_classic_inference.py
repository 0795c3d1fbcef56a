"""Tests of vaelib.classic_inference: CAVI on a Gaussian target and random-walk Metropolis (lecture 04)."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import MultivariateNormal

from vaelib import classic_inference, kl, meanfield
from vaelib.gaussians import best_diagonal_reverse_kl

F64 = torch.float64


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_meanfield_still_exports_them_for_lecture_04():
    assert meanfield.coordinate_ascent_gaussian is classic_inference.coordinate_ascent_gaussian
    assert meanfield.random_walk_metropolis is classic_inference.random_walk_metropolis


def test_coordinate_ascent_converges_and_decreases_the_kl_every_sweep():
    cov = torch.tensor([[1.0, 0.9, 0.2], [0.9, 1.0, 0.1], [0.2, 0.1, 0.5]], dtype=F64)
    precision = torch.linalg.inv(cov)
    mu = torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]], dtype=F64)
    m, var, history = classic_inference.coordinate_ascent_gaussian(mu, precision, iters=120)
    torch.testing.assert_close(m, mu, rtol=0, atol=1e-8)
    torch.testing.assert_close(var, 1.0 / precision.diagonal())
    # each update is the exact optimum of its coordinate: after a sweep, the last coordinate
    # updated has zero gradient, (Lambda (m - mu))_K = 0 (Bishop 2006, eq. 10.13)
    for means in history[:5]:
        residual = (means - mu) @ precision  # (B, K)
        torch.testing.assert_close(residual[:, -1], torch.zeros(2, dtype=F64), rtol=0, atol=1e-12)
    first, _, _ = classic_inference.coordinate_ascent_gaussian(mu, precision, iters=1)
    assert (first - mu).abs().max() > 0.1  # one sweep is not enough on a correlated target
    L_p = torch.linalg.cholesky(cov)
    L_q = torch.diag(var.sqrt())
    kls = torch.stack([kl.gaussian_to_gaussian(h, L_q, mu, L_p) for h in history])  # (iters, B)
    assert (kls.diff(dim=0) <= 1e-12).all()
    _, _, kl_min = best_diagonal_reverse_kl(mu[0], cov)
    torch.testing.assert_close(kls[-1], kl_min.expand(2), rtol=1e-8, atol=1e-10)


def test_coordinate_ascent_rejects_bad_input():
    with pytest.raises(ValueError, match=r"precision must have shape \(K, K\) = \(2, 2\)"):
        classic_inference.coordinate_ascent_gaussian(torch.zeros(1, 2), torch.eye(3))
    with pytest.raises(ValueError, match="precision must be positive definite"):
        classic_inference.coordinate_ascent_gaussian(torch.zeros(1, 2), -torch.eye(2))


def test_random_walk_metropolis_samples_a_correlated_gaussian():
    cov = torch.tensor([[1.0, 0.8], [0.8, 1.0]], dtype=F64)
    mean = torch.tensor([1.0, -1.0], dtype=F64)
    target = MultivariateNormal(mean, cov)
    states, acceptance = classic_inference.random_walk_metropolis(
        target.log_prob, torch.zeros(4000, 2, dtype=F64), 300, 0.8, generator=_gen(9)
    )
    assert states.shape == (300, 4000, 2) and acceptance.shape == (4000,)
    assert 0.2 < acceptance.mean() < 0.8
    final = states[-1]  # 4000 independent chains, each well past burn-in
    n = final.shape[0]
    assert ((final.mean(0) - mean).abs() < 4 * (cov.diagonal() / n).sqrt()).all()
    se_cov = ((cov.diagonal()[:, None] * cov.diagonal()[None] + cov**2) / n).sqrt()
    assert ((torch.cov(final.T) - cov).abs() < 4 * se_cov).all()


def test_random_walk_metropolis_rejects_bad_input():
    target = MultivariateNormal(torch.zeros(2), torch.eye(2))
    with pytest.raises(ValueError, match="step_size must be a finite number > 0"):
        classic_inference.random_walk_metropolis(target.log_prob, torch.zeros(3, 2), 10, 0.0)
    with pytest.raises(ValueError, match=r"z0 must have at least 2 dimension"):
        classic_inference.random_walk_metropolis(target.log_prob, torch.zeros(2), 10, 0.5)
    with pytest.raises(ValueError, match=r"log_density must return shape \(3,\)"):
        classic_inference.random_walk_metropolis(lambda z: z.sum(), torch.zeros(3, 2), 10, 0.5)
