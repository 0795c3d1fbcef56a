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
    grad_estimator = _validate.function("grad_estimator", grad_estimator, "lambda th: pathwise(distribution, th, f, 1)")
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
                    f"SGD diverged at step {step} of run {run} (theta = {theta.tolist()}); lower lr (got {lr})."
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


# ---------------------------------------------------------------------------------------------
# Lecture 01, continued: where the pathwise estimator loses (f(z) = cos(k z)), and the ELBO of
# the smallest latent-variable model, whose gradient is known in closed form.
# ---------------------------------------------------------------------------------------------

import math  # noqa: E402  (imported here, with the section that needs it, to leave the header as it is)

COSINE_ESTIMATORS = ("score", "pathwise")
COSINE_PARAMETERS = ("mu", "std")


def cosine_moments(k, mu=0.5, std=1.0, *, estimator: str, wrt: str) -> tuple[Tensor, Tensor]:
    """Exact mean and variance of a single-sample gradient estimator of E[cos(k z)], z ~ N(mu, std^2).

    With z = mu + std eps, eps ~ N(0, 1), E[cos(k z)] = exp(-k^2 std^2 / 2) cos(k mu), so

        d/dmu  = -k exp(-k^2 std^2 / 2) sin(k mu),    d/dstd = -k^2 std exp(-k^2 std^2 / 2) cos(k mu).

    The estimators (one sample each):

        pathwise, mu:    -k sin(k z)                  (dz/dmu = 1)
        pathwise, std:   -k sin(k z) eps              (dz/dstd = eps)
        score, mu:       cos(k z) eps / std           (d/dmu log q = (z - mu) / std^2)
        score, std:      cos(k z) (eps^2 - 1) / std   (d/dstd log q = ((z - mu)^2 - std^2) / std^3)

    Their second moments follow from E[eps^j e^{i t eps}] = (-i d/dt)^j e^{-t^2/2}, with
    t = 2 k std and c = cos(2 k mu) (cos^2 = (1 + cos 2.) / 2, sin^2 = (1 - cos 2.) / 2):

        E[pathwise_mu^2]  = k^2 (1 - c e^{-t^2/2}) / 2
        E[pathwise_std^2] = k^2 (1 - c (1 - t^2) e^{-t^2/2}) / 2
        E[score_mu^2]     = (1 + c (1 - t^2) e^{-t^2/2}) / (2 std^2)
        E[score_std^2]    = (2 + c (t^4 - 4 t^2 + 2) e^{-t^2/2}) / (2 std^2)

    and the variance is the second moment minus the squared mean. As k grows the pathwise
    variances grow like k^2 / 2 while the score-function ones tend to 1 / (2 std^2) and
    1 / std^2: for a rapidly oscillating f the score function is the *less* noisy estimator
    (Mohamed et al. 2020, JMLR 21(132), Section 3 and Figure 2, compare the estimators on
    cos(kz)). Introduced in lecture 01.

    Args:
        k: the frequency (a number or tensor, any shape, broadcasting with mu and std).
        mu: the mean of z.
        std: the standard deviation of z, > 0.
        estimator: ``"score"`` or ``"pathwise"``.
        wrt: the parameter differentiated, ``"mu"`` or ``"std"``.

    Returns:
        ``(mean, variance)``, tensors of the broadcast shape of k, mu and std.

    Raises:
        ValueError: an unknown estimator or parameter; NaN or inf; std <= 0.
    """
    if estimator not in COSINE_ESTIMATORS:
        raise ValueError(f"estimator must be one of {COSINE_ESTIMATORS}; got {estimator!r}.")
    if wrt not in COSINE_PARAMETERS:
        raise ValueError(f"wrt must be one of {COSINE_PARAMETERS} (the parameter differentiated); got {wrt!r}.")
    k = _validate.parameter("k", k)
    mu = _validate.parameter("mu", mu, like=k)
    std = _validate.parameter("std", std, like=k, positive=True)
    damping = torch.exp(-0.5 * (k * std) ** 2)  # E[cos(k std eps)] = e^{-k^2 std^2 / 2}
    if wrt == "mu":
        mean = -k * damping * torch.sin(k * mu)
    else:
        mean = -(k**2) * std * damping * torch.cos(k * mu)
    t = 2 * k * std
    c = torch.cos(2 * k * mu)
    e = torch.exp(-0.5 * t**2)
    if (estimator, wrt) == ("pathwise", "mu"):
        second = k**2 * (1 - c * e) / 2
    elif (estimator, wrt) == ("pathwise", "std"):
        second = k**2 * (1 - c * (1 - t**2) * e) / 2
    elif (estimator, wrt) == ("score", "mu"):
        second = (1 + c * (1 - t**2) * e) / (2 * std**2)
    else:
        second = (2 + c * (t**4 - 4 * t**2 + 2) * e) / (2 * std**2)
    return mean, second - mean**2


def log_joint(x, z, noise_std=1.0) -> Tensor:
    """log p(x, z) for the smallest latent-variable model: z ~ N(0, 1), x | z ~ N(z, noise_std^2).

    log p(x, z) = log N(z; 0, 1) + log N(x; z, noise_std^2)
                = -log(2 pi) - z^2 / 2 - log(noise_std) - (x - z)^2 / (2 noise_std^2)

    Lecture 01's ELBO example (the linear-Gaussian model of lecture 04 with one dimension and
    unit weight). Shapes broadcast: x ``(B,)`` with z ``(N, B)`` gives ``(N, B)``.
    Introduced in lecture 01.
    """
    z = _validate.parameter("z", z)
    x = _validate.parameter("x", x, like=z)
    noise_std = _validate.parameter("noise_std", noise_std, like=z, positive=True)
    log_prior = -0.5 * math.log(2 * math.pi) - 0.5 * z**2
    log_likelihood = -0.5 * math.log(2 * math.pi) - torch.log(noise_std) - 0.5 * ((x - z) / noise_std) ** 2
    return log_prior + log_likelihood


def _elbo_args(x, mu, log_std, noise_std) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    mu = _validate.parameter("mu", mu)
    x = _validate.parameter("x", x, like=mu)
    log_std = _validate.parameter("log_std", log_std, like=mu)
    noise_std = _validate.parameter("noise_std", noise_std, like=mu, positive=True)
    _validate.broadcastable(("x", "mu", "log_std", "noise_std"), (x, mu, log_std, noise_std))
    return x, mu, log_std, noise_std


def elbo(x, mu, log_std, noise_std=1.0) -> Tensor:
    """The exact ELBO of q = N(mu, exp(log_std)^2) for the model of :func:`log_joint`.

    ELBO = E_q[log p(x, z) - log q(z)]
         = -log(2 pi noise_std^2) / 2 - ((x - mu)^2 + s^2) / (2 noise_std^2)     (likelihood)
           - log(2 pi) / 2 - (mu^2 + s^2) / 2                                    (prior)
           + log(2 pi e s^2) / 2                                                 (entropy of q)

    with s = exp(log_std), from E_q[(x - z)^2] = (x - mu)^2 + s^2 and E_q[z^2] = mu^2 + s^2.
    ELBO <= log p(x) = log N(x; 0, 1 + noise_std^2), with equality exactly at the posterior
    (:func:`posterior`). Source: Kingma & Welling 2014, eq. (3); Blei, Kucukelbir & McAuliffe
    2017, Section 2.2. Introduced in lecture 01.

    Args:
        x: the observation(s), any shape ``(...)``.
        mu, log_std: q's mean and log standard deviation, shapes broadcasting with x.
        noise_std: the likelihood's standard deviation, > 0.

    Returns:
        the ELBO, the broadcast shape ``(...)``.
    """
    x, mu, log_std, noise_std = _elbo_args(x, mu, log_std, noise_std)
    var_q = torch.exp(2 * log_std)
    likelihood = -0.5 * torch.log(2 * math.pi * noise_std**2) - ((x - mu) ** 2 + var_q) / (2 * noise_std**2)
    prior = -0.5 * math.log(2 * math.pi) - (mu**2 + var_q) / 2
    entropy = 0.5 * math.log(2 * math.pi * math.e) + log_std
    return likelihood + prior + entropy


def elbo_gradient(x, mu, log_std, noise_std=1.0) -> tuple[Tensor, Tensor]:
    """The exact gradient of :func:`elbo` with respect to q's parameters (mu, log_std).

    d ELBO / d mu      = (x - mu) / noise_std^2 - mu
    d ELBO / d log_std = 1 - s^2 (1 + 1 / noise_std^2),   s = exp(log_std)

    Both vanish at the posterior mean x / (1 + noise_std^2) and variance
    noise_std^2 / (1 + noise_std^2). Introduced in lecture 01 (the ELBO-gradient check).

    Returns:
        ``(d_mu, d_log_std)``, each of the broadcast shape of the arguments.
    """
    x, mu, log_std, noise_std = _elbo_args(x, mu, log_std, noise_std)
    d_mu = (x - mu) / noise_std**2 - mu
    d_log_std = 1 - torch.exp(2 * log_std) * (1 + 1 / noise_std**2)
    return d_mu, d_log_std


def posterior(x, noise_std=1.0) -> tuple[Tensor, Tensor]:
    """The exact posterior p(z | x) = N(x / (1 + noise_std^2), noise_std^2 / (1 + noise_std^2)).

    Bayes' rule for a Gaussian prior N(0, 1) and likelihood N(x; z, noise_std^2) (Bishop 2006,
    Eq. 2.116). Returns ``(mean, std)``, shapes of x. Introduced in lecture 01.
    """
    x = _validate.parameter("x", x)
    noise_std = _validate.parameter("noise_std", noise_std, like=x, positive=True)
    var = noise_std**2 / (1 + noise_std**2)
    return x / (1 + noise_std**2), torch.sqrt(var) * torch.ones_like(x)


def log_evidence(x, noise_std=1.0) -> Tensor:
    """log p(x) = log N(x; 0, 1 + noise_std^2), the marginal likelihood of :func:`log_joint`.

    The upper bound that :func:`elbo` reaches at the posterior. Introduced in lecture 01.
    """
    x = _validate.parameter("x", x)
    noise_std = _validate.parameter("noise_std", noise_std, like=x, positive=True)
    var = 1 + noise_std**2
    return -0.5 * torch.log(2 * math.pi * var) - x**2 / (2 * var)
