"""Lecture 01's toy problem: minimise E_{x ~ N(theta, 1)}[x^2] over theta, and its SGD loop.

Everything here is specific to lecture 01's worked example: the sampling distribution, the
integrand, the sampling path x = theta + eps, the exact objective and gradient, the exact
variances of the single-sample estimators (score function, with a baseline, pathwise), and
:func:`sgd`, which runs stochastic gradient descent with any gradient estimator of
:mod:`vaelib.estimators`. The estimators themselves are general and live there.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from vaelib import _validate


def sgd(
    grad_estimator: Callable[[Tensor], Tensor],
    theta0: Tensor,
    *,
    lr: float,
    num_steps: int,
    num_runs: int = 1,
) -> Tensor:
    """Stochastic gradient descent with a given gradient estimator; returns the trajectories.

    theta_{t+1} = theta_t - lr * g(theta_t),   g = mean over the estimator's samples

    Args:
        grad_estimator: theta -> per-sample estimates ``(S, *theta.shape)`` (averaged) or one
            estimate ``theta.shape``, e.g. ``lambda th: pathwise(distribution, th, f, 1)``.
        theta0: the starting point, any shape.
        lr: the step size > 0.
        num_steps: the number of steps >= 1.
        num_runs: independent runs from the same start (>= 1).

    Returns:
        trajectories, shape ``(num_runs, num_steps + 1, *theta0.shape)``, row 0 = theta0.

    Introduced in lecture 01 (the trajectories figure).
    """
    grad_estimator = _validate.function(
        "grad_estimator", grad_estimator, "lambda th: pathwise(distribution, th, f, 1)"
    )
    theta0 = _validate.parameter("theta0", theta0).detach()
    lr = _validate.positive_number("lr", lr)
    _validate.positive_int("num_steps", num_steps)
    _validate.positive_int("num_runs", num_runs)
    out = theta0.new_empty(num_runs, num_steps + 1, *theta0.shape)
    for run in range(num_runs):
        theta = theta0.clone()
        out[run, 0] = theta
        for step in range(1, num_steps + 1):
            g = grad_estimator(theta)
            if g.dim() == theta.dim() + 1 and tuple(g.shape[1:]) == tuple(theta.shape):
                g = g.mean(0)
            elif tuple(g.shape) != tuple(theta.shape):
                raise ValueError(
                    f"grad_estimator must return shape (S, *theta.shape) or theta.shape = "
                    f"{tuple(theta.shape)}; got {tuple(g.shape)}."
                )
            theta = theta - lr * g.detach()
            if not torch.isfinite(theta).all():
                raise ValueError(
                    f"SGD diverged at step {step} of run {run} (theta = {theta.tolist()}); "
                    f"lower lr (got {lr})."
                )
            out[run, step] = theta
    return out


# The lecture's toy problem: minimise E_{x ~ N(theta, 1)}[x^2] = theta^2 + 1 over theta.
# With x = theta + e, e ~ N(0, 1), and E[e^2] = 1, E[e^4] = 3, E[e^6] = 15 (odd moments 0):
#   score      g = x^2 (x - theta)            Var = theta^4 + 14 theta^2 + 15
#   baseline b g = (x^2 - b)(x - theta)       Var = theta^4 + 14 theta^2 + 15 - 2b(theta^2 + 3) + b^2
#   optimal  b* = theta^2 + 3                  Var = 8 theta^2 + 6
#   pathwise   g = 2x                          Var = 4
# All are unbiased: E[g] = 2 theta. The functions below are plain arithmetic, so they accept
# floats, tensors and sympy symbols (the tests check them symbolically).

ESTIMATORS = ("score", "score_optimal_baseline", "pathwise")


def distribution(theta: Tensor) -> torch.distributions.Normal:
    """q_theta = N(theta, 1), the lecture 01 toy problem's sampling distribution.

    theta of any shape ``(...)`` gives a Normal with batch shape ``(...)`` (one draw per entry),
    so it broadcasts over the estimators' leading sample dimension.
    """
    theta = _validate.real("theta", theta)
    return torch.distributions.Normal(theta, torch.ones_like(theta))


def f(x: Tensor) -> Tensor:
    """f(x) = x^2, the lecture 01 toy problem's integrand, elementwise: ``(S,)`` -> ``(S,)``."""
    return _validate.real_or_symbolic("x", x) ** 2


def transform(theta: Tensor, eps: Tensor) -> Tensor:
    """x = g_theta(eps) = theta + eps, eps ~ N(0, 1): the toy problem's sampling path (lecture 01).

    Shapes broadcast: theta copies ``(S,)`` with eps ``(S,)`` give x ``(S,)``.
    """
    theta = _validate.real("theta", theta)
    eps = _validate.real("eps", eps, like=theta, cast=True)
    _validate.broadcastable(("theta", "eps"), (theta, eps))
    return theta + eps


def objective(theta):
    """E_{x ~ N(theta, 1)}[x^2] = theta^2 + 1 (mean^2 + variance)."""
    theta = _validate.real_or_symbolic("theta", theta)
    return theta**2 + 1


def gradient(theta):
    """d/dtheta E_{x ~ N(theta, 1)}[x^2] = 2 theta, the exact gradient."""
    theta = _validate.real_or_symbolic("theta", theta)
    return 2 * theta


def optimal_baseline(theta):
    """The constant b minimising Var[(x^2 - b)(x - theta)]: b* = E[f s^2]/E[s^2] = theta^2 + 3.

    With the score s = x - theta: Var = Var_score - 2 b Cov(f s, s) + b^2 E[s^2], minimised at
    b* = Cov(f s, s) / E[s^2] = E[x^2 (x - theta)^2] = theta^2 + 3 (not E[f] = theta^2 + 1).
    """
    theta = _validate.real_or_symbolic("theta", theta)
    return theta**2 + 3


def moments(theta, estimator: str, *, baseline=0.0):
    """Exact mean and variance of a single-sample gradient estimator for the toy problem.

    Mean: 2 theta for every estimator (all are unbiased).
    Variance: "score" with constant baseline b (0 = plain):
    theta^4 + 14 theta^2 + 15 - 2 b (theta^2 + 3) + b^2; "score_optimal_baseline":
    8 theta^2 + 6; "pathwise": 4. Derived in lecture 01 from the Gaussian moments
    E[e^2] = 1, E[e^4] = 3, E[e^6] = 15.

    Args:
        theta: a float, tensor or sympy expression.
        estimator: one of ``ESTIMATORS``.
        baseline: the constant baseline b for ``"score"`` (a float, tensor or expression).

    Returns:
        (mean, variance), of the type of theta.
    """
    theta = _validate.real_or_symbolic("theta", theta)
    mean = gradient(theta)
    if estimator == "score":
        b = _validate.real_or_symbolic("baseline", baseline)
        variance = theta**4 + 14 * theta**2 + 15 - 2 * b * (theta**2 + 3) + b**2
    elif estimator == "score_optimal_baseline":
        variance = 8 * theta**2 + 6
    elif estimator == "pathwise":
        variance = 4 + 0 * theta
    else:
        raise ValueError(f"estimator must be one of {ESTIMATORS}; got {estimator!r}.")
    return mean, variance
