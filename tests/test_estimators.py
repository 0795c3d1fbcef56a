"""Tests of the score-function and pathwise estimators in vaelib.estimators.

Oracles: sympy (the exact moments of the toy problem), autograd (pathwise gradients, the
score d/dtheta log q), exact enumeration (discrete q), and Monte Carlo with tolerances in
standard errors.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Categorical, Normal

from vaelib import estimators as E
from vaelib import toy as T

SHAPES = [(), (4,), (2, 3)]


def _sum_of_squares(z: torch.Tensor) -> torch.Tensor:
    return z.pow(2).reshape(z.shape[0], -1).sum(-1)  # (S,)


# --------------------------------------------------------------------------- score function


def test_score_function_per_sample_is_f_times_score():
    """With given z: (f(z) - b)(z - theta), the score of N(theta, 1), exactly."""
    theta = torch.tensor(0.7, dtype=torch.float64)
    z = torch.randn(50, dtype=torch.float64)
    g = E.score_function(T.distribution, theta, T.f, z=z)
    torch.testing.assert_close(g, z**2 * (z - theta))
    g = E.score_function(T.distribution, theta, T.f, z=z, baseline=2.5)
    torch.testing.assert_close(g, (z**2 - 2.5) * (z - theta))
    g = E.score_function(T.distribution, theta, T.f, z=z, baseline=E.leave_one_out_baseline)
    loo = (z.pow(2).sum() - z**2) / 49
    torch.testing.assert_close(g, (z**2 - loo) * (z - theta))


@pytest.mark.parametrize("shape", SHAPES)
def test_score_function_matches_autograd_score_for_each_sample(shape):
    theta = torch.randn(shape, dtype=torch.float64)
    scale = torch.rand(shape, dtype=torch.float64) + 0.5
    dist_fn = lambda th: Normal(th, scale)  # noqa: E731
    z = Normal(theta, scale).sample((6,))
    g = E.score_function(dist_fn, theta, _sum_of_squares, z=z)
    assert g.shape == (6, *shape)
    for s in range(6):  # oracle: autograd on one sample at a time
        th = theta.clone().requires_grad_(True)
        Normal(th, scale).log_prob(z[s]).sum().backward()
        torch.testing.assert_close(g[s], _sum_of_squares(z[s : s + 1])[0] * th.grad)


@pytest.mark.parametrize("shape", SHAPES)
def test_score_and_pathwise_are_unbiased_for_every_shape(shape):
    torch.manual_seed(3)
    theta = torch.randn(shape, dtype=torch.float64)
    S = 100_000
    for grads in (
        E.score_function(T.distribution, theta, _sum_of_squares, S, baseline=E.leave_one_out_baseline),
        E.pathwise(T.distribution, theta, _sum_of_squares, S),
    ):
        assert grads.shape == (S, *shape)
        stats = E.summarize(grads)
        assert ((stats.mean - 2 * theta).abs() < 5 * stats.mean_se).all()


def test_score_function_exact_for_bernoulli_by_enumeration():
    torch.manual_seed(4)
    logits = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    target = torch.tensor([0.45, 0.1, 0.9], dtype=torch.float64)
    f = lambda z: (z - target).pow(2).sum(-1)  # noqa: E731
    dist_fn = lambda th: Bernoulli(logits=th)  # noqa: E731
    # exact gradient by enumerating the 8 outcomes
    outcomes = torch.cartesian_prod(*[torch.tensor([0.0, 1.0], dtype=torch.float64)] * 3)  # (8, 3)
    th = logits.clone().requires_grad_(True)
    expectation = (Bernoulli(logits=th).log_prob(outcomes).sum(-1).exp() * f(outcomes)).sum()
    (exact,) = torch.autograd.grad(expectation, th)
    for baseline in (None, 0.5, E.leave_one_out_baseline):
        stats = E.summarize(E.score_function(dist_fn, logits, f, 50_000, baseline=baseline))
        assert ((stats.mean - exact).abs() < 5 * stats.mean_se).all(), baseline
    with pytest.raises(ValueError, match="Bernoulli has no rsample"):
        E.pathwise(dist_fn, logits, f, 10)


def test_score_function_categorical():
    torch.manual_seed(5)
    logits = torch.tensor([0.2, -0.3, 1.0], dtype=torch.float64)
    f = lambda z: (z == 2).to(torch.float64)  # noqa: E731
    stats = E.summarize(E.score_function(lambda th: Categorical(logits=th), logits, f, 50_000))
    exact = torch.autograd.functional.jacobian(lambda th: torch.softmax(th, -1)[2], logits)
    assert ((stats.mean - exact).abs() < 5 * stats.mean_se).all()


def test_score_function_uses_sample_not_rsample():
    seen = {}

    def f(z):
        seen["requires_grad"] = z.requires_grad
        return z**2

    E.score_function(T.distribution, torch.tensor(1.0), f, 5)
    assert seen["requires_grad"] is False


def test_baselines_reduce_variance_and_keep_the_mean():
    torch.manual_seed(6)
    theta = torch.tensor(1.0, dtype=torch.float64)
    plain = E.summarize(E.score_function(T.distribution, theta, T.f, 100_000))
    loo = E.summarize(E.score_function(T.distribution, theta, T.f, 100_000, baseline=E.leave_one_out_baseline))
    assert abs(loo.mean - 2.0) < 5 * loo.mean_se
    # b ~ E[f] = theta^2 + 1 gives Var = 8 theta^2 + 10 = 18 (vs 30 without a baseline)
    assert abs(loo.variance - 18.0) < 5 * loo.variance_se
    assert abs(plain.variance - 30.0) < 5 * plain.variance_se


# --------------------------------------------------------------------------- pathwise


@pytest.mark.parametrize("shape", SHAPES)
def test_pathwise_matches_autograd_per_sample(shape):
    theta = torch.randn(shape, dtype=torch.float64)
    eps = torch.randn(7, *shape, dtype=torch.float64)
    f = lambda z: torch.sin(z).reshape(z.shape[0], -1).sum(-1)  # noqa: E731
    g = E.pathwise_transform(T.transform, theta, f, eps)
    assert g.shape == (7, *shape)
    for s in range(7):
        th = theta.clone().requires_grad_(True)
        torch.sin(th + eps[s]).sum().backward()
        torch.testing.assert_close(g[s], th.grad)
    torch.testing.assert_close(g, torch.cos(theta + eps))


def test_pathwise_rsample_equals_transform_with_the_same_noise():
    theta = torch.tensor([0.5, -1.0], dtype=torch.float64)
    torch.manual_seed(8)
    via_rsample = E.pathwise(T.distribution, theta, _sum_of_squares, 20)
    torch.manual_seed(8)
    eps = torch.randn(20, 2, dtype=torch.float64)
    via_transform = E.pathwise_transform(T.transform, theta, _sum_of_squares, eps)
    torch.testing.assert_close(via_rsample, via_transform)
    torch.testing.assert_close(via_transform, 2 * (theta + eps))  # d/dtheta x^2 = 2x


def test_pathwise_of_a_step_function_is_zero_although_the_gradient_is_not():
    """f(x) = 1[x > 0]: d/dtheta P(x > 0) = phi(theta) > 0, but pathwise gives 0."""
    theta = torch.tensor(0.3)
    step = lambda z: (z > 0).float()  # noqa: E731
    g = E.pathwise(T.distribution, theta, step, 100)
    assert (g == 0).all()
    torch.manual_seed(9)
    stats = E.summarize(E.score_function(T.distribution, theta.double(), step, 100_000))
    exact = math.exp(-(0.3**2) / 2) / math.sqrt(2 * math.pi)
    assert abs(stats.mean - exact) < 5 * stats.mean_se


def test_pathwise_gamma_implicit_reparameterization():
    """torch's Gamma.rsample (implicit reparameterization): d/dtheta E[z] = d/dtheta theta = 1."""
    torch.manual_seed(10)
    stats = E.summarize(
        E.pathwise(lambda th: torch.distributions.Gamma(th, 1.0), torch.tensor(2.0), lambda z: z, 50_000)
    )
    assert abs(stats.mean - 1.0) < 5 * stats.mean_se


# --------------------------------------------------------------------------- error paths


@pytest.mark.parametrize(
    "call, exc, words",
    [
        (
            lambda: E.score_function(lambda th: Normal(th[0], 1.0), torch.zeros(2), lambda z: z, 5),
            ValueError,
            ["broadcast over a leading dimension", "(5, 2)", "theta[..., i]"],
        ),
        (
            lambda: E.score_function(T.distribution, torch.zeros(3), lambda z: z, 5),
            ValueError,
            ["one value per sample", "(5,)", "(5, 3)", ".sum(-1)"],
        ),
        (
            lambda: E.score_function(lambda th: th, torch.zeros(()), T.f, 5),
            TypeError,
            ["torch.distributions.Distribution", "Tensor"],
        ),
        (lambda: E.score_function(T.distribution, torch.zeros(()), T.f), ValueError, ["num_samples", "neither"]),
        (
            lambda: E.score_function(T.distribution, torch.zeros(()), T.f, 4, z=torch.zeros(3)),
            ValueError,
            ["num_samples=4", "3 samples"],
        ),
        (
            lambda: E.score_function(T.distribution, torch.zeros(2), _sum_of_squares, z=torch.zeros(3, 4)),
            ValueError,
            ["z must have shape", "(3, 2)", "(3, 4)"],
        ),
        (
            lambda: E.score_function(T.distribution, torch.zeros(()), T.f, 5, baseline=torch.zeros(2)),
            ValueError,
            ["baseline", "(2,)", "(5,)"],
        ),
        (
            lambda: E.score_function(T.distribution, torch.tensor(float("nan")), T.f, 5),
            ValueError,
            ["theta", "non-finite"],
        ),
        (
            lambda: E.score_function(T.distribution, torch.zeros(()), T.f, 0),
            ValueError,
            ["num_samples must be an integer >= 1", "0"],
        ),
        (
            lambda: E.pathwise_transform(T.transform, torch.zeros(()), T.f, torch.tensor(1.0)),
            ValueError,
            ["eps must have a leading sample dimension", "()"],
        ),
        (
            lambda: E.pathwise_transform(lambda th, eps: eps.sum(), torch.zeros(()), T.f, torch.zeros(3)),
            ValueError,
            ["transform must return z with a leading dimension S=3"],
        ),
        (lambda: E.leave_one_out_baseline(torch.zeros(1)), ValueError, ["S >= 2", "(1,)"]),
        (lambda: E.summarize(torch.zeros(3)), ValueError, ["S >= 4", "(3,)"]),
    ],
)
def test_estimator_errors(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for word in words:
        assert word in str(info.value), (word, str(info.value))


# --------------------------------------------------------------------------- summarize


def test_summarize_matches_torch_and_gaussian_variance_se():
    x = torch.randn(200_000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * torch.tensor(
        [1.0, 3.0], dtype=torch.float64
    )
    stats = E.summarize(x)
    torch.testing.assert_close(stats.mean, x.mean(0))
    torch.testing.assert_close(stats.variance, x.var(0))
    torch.testing.assert_close(stats.mean_se, (x.var(0) / x.shape[0]).sqrt())
    exact_se = torch.tensor([1.0, 9.0], dtype=torch.float64) * math.sqrt(2 / (x.shape[0] - 1))  # Gaussian
    torch.testing.assert_close(stats.variance_se, exact_se, rtol=0.05, atol=0)
    assert stats.num_samples == 200_000
