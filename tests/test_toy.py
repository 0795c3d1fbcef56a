"""Tests of lecture 01's toy problem (vaelib.toy): its closed forms and its SGD loop.

Oracles: sympy (the exact moments of the toy problem), autograd (pathwise gradients, the
score d/dtheta log q), exact enumeration (discrete q), and Monte Carlo with tolerances in
standard errors.
"""

from __future__ import annotations

import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vaelib import estimators as E
from vaelib import toy as T

SHAPES = [(), (4,), (2, 3)]


def _sum_of_squares(z: torch.Tensor) -> torch.Tensor:
    return z.pow(2).reshape(z.shape[0], -1).sum(-1)  # (S,)


# --------------------------------------------------------------------------- toy formulas (sympy)

theta_s, x_s, b_s = sp.symbols("theta x b", real=True)
_density = sp.exp(-((x_s - theta_s) ** 2) / 2) / sp.sqrt(2 * sp.pi)


def _expect(expr):
    """E_{x ~ N(theta, 1)}[expr] by symbolic integration."""
    return sp.simplify(sp.integrate(sp.expand(expr) * _density, (x_s, -sp.oo, sp.oo)))


@pytest.fixture(scope="module")
def sympy_moments():
    f = x_s**2
    out = {}
    for name, g in {
        "score": (f - b_s) * (x_s - theta_s),  # score with a constant baseline b
        "pathwise": 2 * x_s,
    }.items():
        mean = _expect(g)
        out[name] = (mean, sp.simplify(_expect(g**2) - mean**2))
    return out


def test_toy_objective_and_gradient_symbolic():
    objective = _expect(x_s**2)
    assert sp.simplify(objective - T.objective(theta_s)) == 0
    assert sp.simplify(sp.diff(objective, theta_s) - T.gradient(theta_s)) == 0


def test_toy_score_moments_symbolic(sympy_moments):
    mean, var = sympy_moments["score"]
    got_mean, got_var = T.moments(theta_s, "score", baseline=b_s)
    assert sp.simplify(mean - got_mean) == 0 and sp.simplify(mean - 2 * theta_s) == 0
    assert sp.simplify(var - got_var) == 0
    # the plain estimator: theta^4 + 14 theta^2 + 15
    assert sp.expand(var.subs(b_s, 0) - (theta_s**4 + 14 * theta_s**2 + 15)) == 0


def test_toy_optimal_baseline_symbolic(sympy_moments):
    _, var = sympy_moments["score"]
    (b_star,) = sp.solve(sp.diff(var, b_s), b_s)
    assert sp.simplify(b_star - T.optimal_baseline(theta_s)) == 0
    _, got = T.moments(theta_s, "score_optimal_baseline")
    assert sp.simplify(var.subs(b_s, b_star) - got) == 0
    assert sp.expand(got - (8 * theta_s**2 + 6)) == 0


def test_toy_pathwise_moments_symbolic(sympy_moments):
    mean, var = sympy_moments["pathwise"]
    got_mean, got_var = T.moments(theta_s, "pathwise")
    assert sp.simplify(mean - got_mean) == 0 and sp.simplify(var - got_var) == 0 and var == 4


def test_toy_moments_accept_tensors_and_reject_unknown_names():
    theta = torch.tensor([0.0, 1.0, 2.0])
    mean, var = T.moments(theta, "score")
    torch.testing.assert_close(var, torch.tensor([15.0, 30.0, 87.0]))
    torch.testing.assert_close(T.moments(theta, "pathwise")[1], torch.full((3,), 4.0))
    with pytest.raises(ValueError, match="estimator must be one of .*'reinforce'"):
        T.moments(1.0, "reinforce")


@pytest.mark.parametrize("theta", [-1.0, 0.0, 0.5, 2.0])
def test_toy_measured_variances_match_exact(theta):
    """Monte Carlo mean and variance within 5 standard errors of the exact values."""
    torch.manual_seed(int(10 * theta) + 100)
    th = torch.tensor(theta, dtype=torch.float64)
    S = 200_000
    grads = {
        "score": E.score_function(T.distribution, th, T.f, S),
        "score_optimal_baseline": E.score_function(T.distribution, th, T.f, S, baseline=T.optimal_baseline(th)),
        "pathwise": E.pathwise(T.distribution, th, T.f, S),
    }
    for name, g in grads.items():
        stats = E.summarize(g)
        mean, var = T.moments(th, name)
        assert abs(stats.mean - mean) < 5 * stats.mean_se, name
        assert abs(stats.variance - var) < 5 * stats.variance_se, name


# --------------------------------------------------------------------------- sgd
@settings(max_examples=20, deadline=None)
@given(theta0=st.floats(-3, 3), lr=st.floats(0.01, 0.4), steps=st.integers(1, 30))
def test_sgd_with_the_exact_gradient_is_geometric(theta0, lr, steps):
    """theta_t = theta0 (1 - 2 lr)^t for g = 2 theta."""
    traj = T.sgd(T.gradient, torch.tensor(theta0, dtype=torch.float64), lr=lr, num_steps=steps)
    assert traj.shape == (1, steps + 1)
    expected = theta0 * (1 - 2 * lr) ** torch.arange(steps + 1, dtype=torch.float64)
    torch.testing.assert_close(traj[0], expected)


def test_sgd_pathwise_ends_closer_to_the_optimum_than_score():
    torch.manual_seed(11)
    start = torch.tensor(2.0)
    kw = dict(lr=0.05, num_steps=60, num_runs=30)
    score = T.sgd(lambda th: E.score_function(T.distribution, th, T.f, 1), start, **kw)
    path = T.sgd(lambda th: E.pathwise(T.distribution, th, T.f, 1), start, **kw)
    assert score.shape == path.shape == (30, 61)
    assert (score[:, 0] == 2.0).all()
    assert path[:, -1].pow(2).mean() < score[:, -1].pow(2).mean()


def test_sgd_errors():
    with pytest.raises(ValueError, match="diverged at step .* lower lr"):
        T.sgd(T.gradient, torch.tensor(1.0), lr=5.0, num_steps=200)
    with pytest.raises(ValueError, match=r"grad_estimator must return shape .* got \(2, 3\)"):
        T.sgd(lambda th: torch.zeros(2, 3), torch.tensor(1.0), lr=0.1, num_steps=2)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        T.sgd(T.gradient, torch.tensor(1.0), lr=0.0, num_steps=2)
