"""Gumbel-max, Gumbel-softmax and straight-through samples of vaelib.relaxations (lecture 06).

Oracles: exact categorical probabilities, torch.distributions, and exact expectations.
"""

import math

import numpy as np
import pytest
import scipy.stats as st
import torch

from vaelib import relaxations

ALPHA = 1e-3  # false-alarm rate of each KS test (fixed seeds make the outcome reproducible)
N = 4000  # samples per KS test: detects a CDF error of about 0.03


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def t64(*values) -> torch.Tensor:
    return torch.tensor(values if len(values) > 1 else values[0], dtype=torch.float64)


def ks_pvalue(samples: torch.Tensor, cdf) -> float:
    return st.kstest(samples.detach().numpy().ravel(), cdf).pvalue


# ----------------------------------------------------------------------------------------------
# Gumbel-max, Gumbel-softmax, straight-through
# ----------------------------------------------------------------------------------------------

LOGITS = torch.tensor([1.0, -0.5, 0.3, 0.0], dtype=torch.float64)


def test_gumbel_max_frequencies_are_softmax_probabilities():
    n = 20000
    z = relaxations.gumbel_max(LOGITS, sample_shape=(n,), generator=gen(4))  # (n, 4)
    assert torch.all(z.sum(-1) == 1) and torch.all((z == 0) | (z == 1))
    counts = z.sum(0).numpy()
    expected = n * torch.softmax(LOGITS, -1).numpy()
    assert st.chisquare(counts, expected).pvalue > ALPHA
    # and the test has power: the probabilities of logits / 2 are rejected
    assert st.chisquare(counts, n * torch.softmax(LOGITS / 2, -1).numpy()).pvalue < ALPHA


@pytest.mark.parametrize("temperature", [0.1, 1.0, 5.0])
def test_gumbel_softmax_argmax_is_categorical_at_every_temperature(temperature):
    n = 20000
    y = relaxations.gumbel_softmax(LOGITS, temperature, sample_shape=(n,), generator=gen(5))
    counts = np.bincount(y.argmax(-1).numpy(), minlength=4)
    assert st.chisquare(counts, n * torch.softmax(LOGITS, -1).numpy()).pvalue > ALPHA


def test_gumbel_softmax_tends_to_gumbel_max_as_temperature_falls():
    u = torch.rand(500, 4, generator=gen(6), dtype=torch.float64).clamp(1e-9, 1 - 1e-9)
    hard = relaxations.gumbel_max(LOGITS, u=u)
    gaps = [(relaxations.gumbel_softmax(LOGITS, t, u=u) - hard).abs().max(-1).values for t in (1.0, 0.1, 0.01, 0.001)]
    means = [g.mean().item() for g in gaps]
    assert means == sorted(means, reverse=True) and means[-1] < 0.01
    # the median gap shrinks like exp(-gap / tau): at tau = 0.001 almost every sample is one-hot
    assert (gaps[-1] < 1e-6).float().mean() > 0.95


def test_gumbel_softmax_lies_on_the_simplex_and_is_differentiable():
    logits = LOGITS.clone().requires_grad_(True)
    y = relaxations.gumbel_softmax(logits, 0.5, sample_shape=(64,), generator=gen(7))
    torch.testing.assert_close(y.sum(-1), torch.ones(64, dtype=torch.float64))
    assert (y >= 0).all()
    (g,) = torch.autograd.grad((y[:, 0] ** 2).sum(), logits)
    assert g.abs().sum() > 0


def test_gumbel_softmax_is_softmax_of_shifted_gumbels():
    u = torch.rand(10, 4, generator=gen(8), dtype=torch.float64).clamp(1e-9, 1 - 1e-9)
    g = st.gumbel_r.ppf(u.numpy())
    expected = torch.softmax((LOGITS + torch.from_numpy(g)) / 0.7, -1)
    torch.testing.assert_close(relaxations.gumbel_softmax(LOGITS, 0.7, u=u), expected)


def test_straight_through_gumbel_softmax_is_one_hot_forward_soft_backward():
    u = torch.rand(32, 4, generator=gen(9), dtype=torch.float64).clamp(1e-9, 1 - 1e-9)
    logits = LOGITS.clone().requires_grad_(True)
    hard = relaxations.gumbel_softmax(logits, 0.5, u=u, hard=True)
    torch.testing.assert_close(hard, relaxations.gumbel_max(LOGITS, u=u))
    w = torch.randn(32, 4, generator=gen(10), dtype=torch.float64)
    (g_hard,) = torch.autograd.grad((hard * w).sum(), logits)
    (g_soft,) = torch.autograd.grad((relaxations.gumbel_softmax(logits, 0.5, u=u) * w).sum(), logits)
    torch.testing.assert_close(g_hard, g_soft)


def test_relaxed_bernoulli_tends_to_bernoulli_and_matches_two_class_gumbel_softmax():
    p = 0.3
    u = torch.rand(20000, generator=gen(11), dtype=torch.float64).clamp(1e-9, 1 - 1e-9)
    y = relaxations.relaxed_bernoulli(t64(p), 1e-3, u=u)
    torch.testing.assert_close(y.round(), (u > 1 - p).double())  # the exact Bernoulli sample
    assert st.binomtest(int(y.round().sum()), len(y), p).pvalue > ALPHA
    # binary Concrete = the first coordinate of a two-class Gumbel-softmax (in law)
    logits2 = torch.log(t64(1 - p, p))
    two = relaxations.gumbel_softmax(logits2, 0.5, sample_shape=(N,), generator=gen(12))[:, 1]
    one = relaxations.relaxed_bernoulli(t64(p), 0.5, sample_shape=(N,), generator=gen(13))
    assert st.ks_2samp(one.numpy(), two.numpy()).pvalue > ALPHA
    hard = relaxations.relaxed_bernoulli(t64(p), 0.5, u=u[:10], hard=True)
    assert set(hard.tolist()) <= {0.0, 1.0}


def test_relaxed_bernoulli_edge_probabilities_give_exact_values():
    u = torch.rand(5, generator=gen(14), dtype=torch.float64).clamp(1e-9, 1 - 1e-9)
    assert torch.all(relaxations.relaxed_bernoulli(torch.zeros(5, dtype=torch.float64), 0.5, u=u) == 0)
    assert torch.all(relaxations.relaxed_bernoulli(torch.ones(5, dtype=torch.float64), 0.5, u=u) == 1)


def test_minus_infinity_logit_is_a_class_never_drawn():
    logits = torch.tensor([0.0, -math.inf, 0.5], dtype=torch.float64)
    z = relaxations.gumbel_max(logits, sample_shape=(2000,), generator=gen(15))
    assert z[:, 1].sum() == 0
    y = relaxations.gumbel_softmax(logits, 0.3, sample_shape=(100,), generator=gen(15))
    assert torch.all(y[:, 1] == 0) and torch.isfinite(y).all()
