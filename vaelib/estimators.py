"""Gradient estimators for d/dtheta E_{z ~ q_theta}[f(z)] and tools to measure them.

The score-function (REINFORCE) estimator needs only log q_theta(z); the pathwise
(reparameterization) estimator needs z = g_theta(eps) and f differentiable in z.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from vaelib import _validate, reparam

# ---------------------------------------------------------------------------------------------
# Score-function and pathwise estimators (lecture 01)
# ---------------------------------------------------------------------------------------------
#
# Conventions shared by every estimator below (lecture 06 reuses them):
# - theta is ONE tensor of parameters (pack several into one, e.g. theta[..., 0] = mu).
# - dist_fn(theta) returns a torch.distributions object; it must broadcast over a leading
#   dimension of theta: called with theta of shape (S, *theta.shape) it returns a distribution
#   whose draw has shape (S, *draw). Write it elementwise: lambda theta: Normal(theta, 1.0).
# - f(z) takes z of shape (S, *draw) and returns one value per sample, shape (S,).
# - Estimators return per-sample gradient estimates, shape (S, *theta.shape): their mean is
#   the S-sample estimate, their variance the single-sample variance.
# Per-sample gradients cost one backward pass: theta is copied once per sample, so row s of
# the gradient is d/dtheta of sample s's term alone.


def _check_theta(theta) -> Tensor:
    theta = _validate.as_tensor("theta", theta)
    _validate.finite("theta", theta)
    return theta


def _copies(theta: Tensor, num_samples: int) -> Tensor:
    """One independent leaf copy of theta per sample, shape (S, *theta.shape)."""
    return theta.detach().expand(num_samples, *theta.shape).clone().requires_grad_(True)


def _per_copy_distribution(dist_fn: Callable, theta_copies: Tensor) -> torch.distributions.Distribution:
    """dist_fn at the copies, checked to give one draw per copy."""
    q = dist_fn(theta_copies)
    if not isinstance(q, torch.distributions.Distribution):
        raise TypeError(
            f"dist_fn must return a torch.distributions.Distribution, e.g. "
            f"lambda theta: torch.distributions.Normal(theta, 1.0); got {type(q).__name__}."
        )
    draw = (*q.batch_shape, *q.event_shape)
    S = theta_copies.shape[0]
    if len(draw) == 0 or draw[0] != S:
        raise ValueError(
            f"dist_fn must broadcast over a leading dimension of theta: called with theta of "
            f"shape {tuple(theta_copies.shape)} (one copy per sample, S={S}) it returned a "
            f"distribution with batch shape {tuple(q.batch_shape)} and event shape "
            f"{tuple(q.event_shape)}, expected a leading dimension of size {S}. Write dist_fn "
            f"elementwise (lambda theta: Normal(theta, 1.0)) and index parameters as "
            f"theta[..., i], not theta[i]."
        )
    return q


def _values(f: Callable, z: Tensor, num_samples: int) -> Tensor:
    """f(z), checked to be one value per sample, shape (S,)."""
    values = f(z)
    if not isinstance(values, Tensor) or tuple(values.shape) != (num_samples,):
        got = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
        raise ValueError(
            f"f must return one value per sample, a tensor of shape ({num_samples},); got "
            f"{got} for z of shape {tuple(z.shape)}. Reduce over the dimensions of one draw "
            f"inside f, e.g. f = lambda z: (z ** 2).sum(-1)."
        )
    return values


def _grad_per_copy(values: Tensor, theta_copies: Tensor) -> Tensor:
    """Row s = d values[s] / d theta_copies[s]; zeros where values do not depend on theta."""
    if not values.requires_grad:  # e.g. a step function of z: its derivative is 0 a.e.
        return torch.zeros_like(theta_copies)
    (grad,) = torch.autograd.grad(values.sum(), theta_copies, allow_unused=True)
    return torch.zeros_like(theta_copies) if grad is None else grad  # (S, *theta.shape)


def leave_one_out_baseline(values: Tensor) -> Tensor:
    """The leave-one-out baseline: b_s = mean of the OTHER samples' f values.

    b_s = (sum_t f(z_t) - f(z_s)) / (S - 1)

    Independent of z_s, so the score-function estimator stays unbiased (Kool et al. 2019,
    "Buy 4 REINFORCE samples, get a baseline for free!"). Pass it as
    ``score_function(..., baseline=leave_one_out_baseline)``. Introduced in lecture 01.

    Args:
        values: f(z_s) for S >= 2 samples, shape ``(S,)``.

    Returns:
        baselines, shape ``(S,)``.
    """
    if values.dim() != 1 or values.shape[0] < 2:
        raise ValueError(
            f"leave_one_out_baseline needs f values of shape (S,) with S >= 2; got shape "
            f"{tuple(values.shape)}. Use num_samples >= 2."
        )
    return (values.sum() - values) / (values.shape[0] - 1)


def _baseline_values(baseline, values: Tensor) -> Tensor:
    if baseline is None:
        return torch.zeros_like(values)
    b = baseline(values) if callable(baseline) else baseline
    b = _validate.as_tensor("baseline", b, like=values).to(values.dtype)
    if b.shape not in ((), values.shape):
        raise ValueError(
            f"baseline must be a number, a 0-d tensor or a callable returning shape "
            f"{tuple(values.shape)} (one per sample); got shape {tuple(b.shape)}."
        )
    _validate.finite("baseline", b)
    return b.detach().expand_as(values)


def score_function(
    dist_fn: Callable[[Tensor], torch.distributions.Distribution],
    theta: Tensor,
    f: Callable[[Tensor], Tensor],
    num_samples: int | None = None,
    *,
    baseline: float | Tensor | Callable[[Tensor], Tensor] | None = None,
    z: Tensor | None = None,
) -> Tensor:
    """Per-sample score-function (REINFORCE, log-derivative) estimates of d/dtheta E_q[f(z)].

    d/dtheta E_{z ~ q_theta}[f(z)] = E_{z ~ q_theta}[(f(z) - b) d/dtheta log q_theta(z)]

    for any b that does not depend on z (E[d/dtheta log q_theta(z)] = 0). The samples come
    from ``sample()``: no gradient flows through z and f need not be differentiable, so it
    works for discrete q (lecture 06). Sources: Williams 1992; Glynn 1990; Mohamed et al.
    2020, Section 4. Introduced in lecture 01.

    Args:
        dist_fn: theta -> torch distribution q_theta; must broadcast over a leading
            dimension of theta (see the conventions above this function).
        theta: the parameters, any shape.
        f: z of shape ``(S, *draw)`` -> values of shape ``(S,)``.
        num_samples: S; may be omitted when ``z`` is given.
        baseline: None (no baseline), a number or 0-d tensor (a constant), or a callable
            mapping the f values ``(S,)`` to baselines ``(S,)`` (e.g.
            :func:`leave_one_out_baseline`); it must not use f(z_s) for sample s itself.
        z: samples to use instead of drawing, shape ``(S, *draw)`` (detached).

    Returns:
        per-sample gradient estimates ``(f(z_s) - b_s) d/dtheta log q_theta(z_s)``, shape
        ``(S, *theta.shape)``; detached.

    Raises:
        ValueError: neither or inconsistent ``num_samples`` / ``z``; dist_fn or f of the
            wrong shape; NaN in theta; a baseline of the wrong shape.
    """
    theta = _check_theta(theta)
    if z is None:
        if num_samples is None:
            raise ValueError("score_function needs num_samples (an int >= 1) or samples z; got neither.")
        S = _validate.positive_int("num_samples", num_samples)
    else:
        z = _validate.as_tensor("z", z) if not isinstance(z, Tensor) else z
        if z.dim() < 1 or z.shape[0] < 1:
            raise ValueError(
                f"z must have a leading sample dimension (S, *draw); got shape {tuple(z.shape)}."
            )
        S = z.shape[0]
        if num_samples is not None and num_samples != S:
            raise ValueError(
                f"num_samples={num_samples!r} but z holds {S} samples (shape {tuple(z.shape)}); "
                f"pass one of them."
            )
    theta_copies = _copies(theta, S)  # (S, *theta.shape)
    q = _per_copy_distribution(dist_fn, theta_copies)
    draw = (*q.batch_shape, *q.event_shape)
    if z is None:
        z = q.sample()  # (S, *draw[1:]): sample() is not differentiable
    elif tuple(z.shape) != draw:
        raise ValueError(
            f"z must have shape {draw} (S samples of q_theta); got {tuple(z.shape)}."
        )
    z = z.detach()
    with torch.no_grad():
        values = _values(f, z, S)  # (S,)
    b = _baseline_values(baseline, values)  # (S,)
    log_q = q.log_prob(z).reshape(S, -1).sum(-1)  # (S,): log q_theta(z_s), summed over a draw
    score = _grad_per_copy(log_q, theta_copies)  # (S, *theta.shape)
    weight = (values - b).reshape(S, *([1] * theta.dim()))
    return (weight * score).detach()


def pathwise(
    dist_fn: Callable[[Tensor], torch.distributions.Distribution],
    theta: Tensor,
    f: Callable[[Tensor], Tensor],
    num_samples: int,
) -> Tensor:
    """Per-sample pathwise (reparameterization) estimates of d/dtheta E_q[f(z)], via rsample().

    z = g_theta(eps),   d/dtheta E_{z ~ q_theta}[f(z)] = E_eps[f'(g_theta(eps)) d/dtheta g_theta(eps)]

    Unbiased when q_theta has a differentiable sampling path (``rsample()``) and, for almost
    every eps, theta -> f(g_theta(eps)) is differentiable at theta and Lipschitz near it with
    an integrable constant (e.g. f Lipschitz; Glasserman 2004, Section 7.2). Differentiable
    almost everywhere is not enough: for a step function autograd's derivative is 0 a.e.,
    so every estimate is 0 although the true gradient is not (lecture 01's counterexample).
    Uses torch's global random number generator. Sources: Kingma & Welling 2014; Rezende et
    al. 2014; Mohamed et al. 2020, Section 5. Introduced in lecture 01.

    Args:
        dist_fn: theta -> torch distribution with ``rsample()``; must broadcast over a
            leading dimension of theta.
        theta: the parameters, any shape.
        f: z of shape ``(S, *draw)`` -> values of shape ``(S,)``, differentiable in z.
        num_samples: S >= 1.

    Returns:
        per-sample gradient estimates ``d/dtheta f(g_theta(eps_s))``, shape
        ``(S, *theta.shape)``; detached.

    Raises:
        ValueError: q_theta has no ``rsample()`` (Bernoulli, Categorical); shapes as in
            :func:`score_function`.
    """
    theta = _check_theta(theta)
    S = _validate.positive_int("num_samples", num_samples)
    theta_copies = _copies(theta, S)  # (S, *theta.shape)
    q = _per_copy_distribution(dist_fn, theta_copies)
    if not q.has_rsample:
        raise ValueError(
            f"{type(q).__name__} has no rsample(): its samples are not a differentiable "
            f"function of theta, so there is no pathwise gradient. Use score_function, or "
            f"(lecture 06) a continuous relaxation such as Gumbel-softmax."
        )
    z = q.rsample()  # (S, *draw): a differentiable function of theta
    values = _values(f, z, S)  # (S,)
    return _grad_per_copy(values, theta_copies).detach()


def pathwise_transform(
    transform: Callable[[Tensor, Tensor], Tensor],
    theta: Tensor,
    f: Callable[[Tensor], Tensor],
    eps: Tensor,
) -> Tensor:
    """Per-sample pathwise estimates with an explicit transform z = g_theta(eps).

    d/dtheta E_eps[f(g_theta(eps))] ~ d/dtheta f(g_theta(eps_s)),  eps_s ~ p(eps) fixed

    Args:
        transform: (theta_copies, eps) -> z; theta_copies has shape ``(S, *theta.shape)``,
            eps ``(S, ...)``, and z must have a leading dimension S. E.g. for N(theta, 1):
            ``lambda theta, eps: theta + eps``.
        theta: the parameters, any shape.
        f: z -> values of shape ``(S,)``, differentiable in z.
        eps: the noise, shape ``(S, ...)``, drawn from a distribution that does not
            depend on theta.

    Returns:
        per-sample gradient estimates, shape ``(S, *theta.shape)``; detached.

    Introduced in lecture 01 (the toy problem), reused in lecture 06 (inverse CDFs).
    """
    theta = _check_theta(theta)
    eps = _validate.as_tensor("eps", eps, like=theta)
    if eps.dim() < 1 or eps.shape[0] < 1:
        raise ValueError(
            f"eps must have a leading sample dimension (S, ...); got shape {tuple(eps.shape)}. "
            f"For S samples of a scalar, use torch.randn(S)."
        )
    S = eps.shape[0]
    theta_copies = _copies(theta, S)  # (S, *theta.shape)
    z = transform(theta_copies, eps)
    if not isinstance(z, Tensor) or z.dim() < 1 or z.shape[0] != S:
        got = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
        raise ValueError(
            f"transform must return z with a leading dimension S={S}; got {got}. It receives "
            f"theta of shape {tuple(theta_copies.shape)} and eps of shape {tuple(eps.shape)}."
        )
    values = _values(f, z, S)  # (S,)
    return _grad_per_copy(values, theta_copies).detach()


@dataclass
class EstimatorStats:
    """Mean and variance of per-sample estimates, each with its standard error.

    Attributes (each of shape ``theta.shape``):
        mean: sample mean of the estimates.
        mean_se: its standard error, sqrt(variance / S).
        variance: unbiased sample variance (the single-sample estimator's variance).
        variance_se: its standard error, sqrt((m4 - variance^2 (S - 3)/(S - 1)) / S), with m4
            the sample fourth central moment.
        num_samples: S.
    """

    mean: Tensor
    mean_se: Tensor
    variance: Tensor
    variance_se: Tensor
    num_samples: int


def summarize(grads: Tensor) -> EstimatorStats:
    """Mean, variance and their standard errors of per-sample estimates ``(S, *shape)``.

    Var[s^2] = (mu_4 - sigma^4 (S - 3) / (S - 1)) / S  (e.g. Casella & Berger 2002,
    Exercise 5.8), with mu_4 and sigma^2 replaced by their sample values. Introduced in
    lecture 01; lecture 06 uses it for its bias/variance table.

    Args:
        grads: per-sample estimates, shape ``(S, *shape)`` with S >= 4.

    Returns:
        an :class:`EstimatorStats`.
    """
    grads = _validate.as_tensor("grads", grads)
    if grads.dim() < 1 or grads.shape[0] < 4:
        raise ValueError(
            f"grads must have shape (S, ...) with S >= 4 samples; got shape {tuple(grads.shape)}."
        )
    S = grads.shape[0]
    g = grads.detach().to(torch.float64)
    mean = g.mean(0)
    centred = g - mean
    variance = centred.pow(2).sum(0) / (S - 1)
    m4 = centred.pow(4).mean(0)
    variance_se = ((m4 - variance.pow(2) * (S - 3) / (S - 1)).clamp_min(0) / S).sqrt()
    return EstimatorStats(mean, (variance / S).sqrt(), variance, variance_se, S)


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
            estimate ``theta.shape``, e.g. ``lambda th: pathwise(toy_distribution, th, toy_f, 1)``.
        theta0: the starting point, any shape.
        lr: the step size > 0.
        num_steps: the number of steps >= 1.
        num_runs: independent runs from the same start (>= 1).

    Returns:
        trajectories, shape ``(num_runs, num_steps + 1, *theta0.shape)``, row 0 = theta0.

    Introduced in lecture 01 (the trajectories figure).
    """
    theta0 = _check_theta(theta0).detach()
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

TOY_ESTIMATORS = ("score", "score_optimal_baseline", "pathwise")


def toy_distribution(theta: Tensor) -> torch.distributions.Normal:
    """q_theta = N(theta, 1), the lecture 01 toy problem's sampling distribution.

    theta of any shape ``(...)`` gives a Normal with batch shape ``(...)`` (one draw per entry),
    so it broadcasts over the estimators' leading sample dimension.
    """
    return torch.distributions.Normal(theta, torch.ones_like(theta))


def toy_f(x: Tensor) -> Tensor:
    """f(x) = x^2, the lecture 01 toy problem's integrand, elementwise: ``(S,)`` -> ``(S,)``."""
    return x**2


def toy_transform(theta: Tensor, eps: Tensor) -> Tensor:
    """x = g_theta(eps) = theta + eps, eps ~ N(0, 1): the toy problem's sampling path (lecture 01).

    Shapes broadcast: theta copies ``(S,)`` with eps ``(S,)`` give x ``(S,)``.
    """
    return theta + eps


def toy_objective(theta):
    """E_{x ~ N(theta, 1)}[x^2] = theta^2 + 1 (mean^2 + variance)."""
    return theta**2 + 1


def toy_gradient(theta):
    """d/dtheta E_{x ~ N(theta, 1)}[x^2] = 2 theta, the exact gradient."""
    return 2 * theta


def toy_optimal_baseline(theta):
    """The constant b minimising Var[(x^2 - b)(x - theta)]: b* = E[f s^2]/E[s^2] = theta^2 + 3.

    With the score s = x - theta: Var = Var_score - 2 b Cov(f s, s) + b^2 E[s^2], minimised at
    b* = Cov(f s, s) / E[s^2] = E[x^2 (x - theta)^2] = theta^2 + 3 (not E[f] = theta^2 + 1).
    """
    return theta**2 + 3


def toy_moments(theta, estimator: str, *, baseline=0.0):
    """Exact mean and variance of a single-sample gradient estimator for the toy problem.

    Mean: 2 theta for every estimator (all are unbiased).
    Variance: "score" with constant baseline b (0 = plain):
    theta^4 + 14 theta^2 + 15 - 2 b (theta^2 + 3) + b^2; "score_optimal_baseline":
    8 theta^2 + 6; "pathwise": 4. Derived in lecture 01 from the Gaussian moments
    E[e^2] = 1, E[e^4] = 3, E[e^6] = 15.

    Args:
        theta: a float, tensor or sympy expression.
        estimator: one of ``TOY_ESTIMATORS``.
        baseline: the constant baseline b for ``"score"`` (a float, tensor or expression).

    Returns:
        (mean, variance), of the type of theta.
    """
    mean = toy_gradient(theta)
    if estimator == "score":
        b = baseline
        variance = theta**4 + 14 * theta**2 + 15 - 2 * b * (theta**2 + 3) + b**2
    elif estimator == "score_optimal_baseline":
        variance = 8 * theta**2 + 6
    elif estimator == "pathwise":
        variance = 4 + 0 * theta
    else:
        raise ValueError(f"estimator must be one of {TOY_ESTIMATORS}; got {estimator!r}.")
    return mean, variance


# ---------------------------------------------------------------------------------------------
# Discrete latents and estimator studies (lecture 06)
# ---------------------------------------------------------------------------------------------
#
# Conventions: those of the section above (theta = logits; f(z) takes z of shape (S, *draw) and
# returns (S,); estimators return per-sample estimates of shape (S, *logits.shape)). The
# discrete problems are categoricals written as one-hot vectors: logits of shape (..., C), e.g.
# (C,) for one categorical or (N, C) for N independent ones, and z of the same shape. REINFORCE
# is `score_function` above with `dist_fn=one_hot_categorical`; the baselines below plug into it.


def one_hot_categorical(logits: Tensor) -> torch.distributions.OneHotCategorical:
    """``dist_fn`` for independent categoricals with one-hot draws: OneHotCategorical(logits).

    Args:
        logits: ``(..., C)``; every leading dimension is a batch dimension, so copies of shape
            ``(S, N, C)`` give S draws of N independent categoricals.

    Returns:
        the distribution; its draws have the shape of ``logits``.

    Introduced in lecture 06.
    """
    return torch.distributions.OneHotCategorical(logits=logits)


def one_hot_support(num_variables: int, num_classes: int) -> Tensor:
    """Every joint value of ``N`` independent categoricals with ``C`` classes, one-hot.

    Args:
        num_variables: N >= 1.
        num_classes: C >= 2.

    Returns:
        all C^N configurations, shape ``(C^N, N, C)`` (float, the default dtype).

    Introduced in lecture 06 (exact gradients by enumeration).
    """
    N = _validate.positive_int("num_variables", num_variables)
    C = _validate.positive_int("num_classes", num_classes)
    if C < 2 or C**N > 2**20:
        raise ValueError(
            f"one_hot_support needs num_classes >= 2 and at most 2^20 configurations; got "
            f"num_classes={C}, num_variables={N} ({C}^{N} configurations). Enumerate a smaller "
            f"problem."
        )
    index = torch.tensor(list(itertools.product(range(C), repeat=N)), dtype=torch.long)  # (C^N, N)
    return torch.nn.functional.one_hot(index, C).to(torch.get_default_dtype())  # (C^N, N, C)


def binary_support(num_variables: int) -> Tensor:
    """Every joint value of ``N`` independent Bernoullis, shape ``(2^N, N)`` with entries 0/1.

    Introduced in lecture 06 (exact gradients by enumeration).
    """
    N = _validate.positive_int("num_variables", num_variables)
    if N > 20:
        raise ValueError(f"binary_support enumerates 2^N values; got num_variables={N} (> 20).")
    rows = list(itertools.product((0.0, 1.0), repeat=N))
    return torch.tensor(rows, dtype=torch.get_default_dtype())  # (2^N, N)


def exact_gradient(
    dist_fn: Callable[[Tensor], torch.distributions.Distribution],
    theta: Tensor,
    f: Callable[[Tensor], Tensor],
    support: Tensor,
) -> tuple[Tensor, Tensor]:
    """E_{z ~ q_theta}[f(z)] and its exact gradient, by enumerating a finite support.

    E = sum_z q_theta(z) f(z),    dE/dtheta = sum_z f(z) d/dtheta q_theta(z)   (autograd)

    The oracle for every discrete estimator: no sampling, so no Monte Carlo error.

    Args:
        dist_fn: theta -> a discrete torch distribution (e.g. :func:`one_hot_categorical`, or
            ``lambda t: Bernoulli(logits=t)``).
        theta: the parameters, any shape.
        f: z of shape ``(M, *draw)`` -> values ``(M,)``.
        support: every value of a draw, shape ``(M, *draw)`` (:func:`one_hot_support`,
            :func:`binary_support`); checked to carry total probability 1.

    Returns:
        (expectation, gradient): a 0-d tensor and a tensor of shape ``theta.shape``, in float64.

    Introduced in lecture 06.
    """
    theta = _check_theta(theta).detach().to(torch.float64).requires_grad_(True)
    support = _validate.as_tensor("support", support).to(torch.float64)
    if support.dim() < 1 or support.shape[0] < 1:
        raise ValueError(f"support must have shape (M, *draw); got {tuple(support.shape)}.")
    M = support.shape[0]
    q = dist_fn(theta)
    log_q = q.log_prob(support).reshape(M, -1).sum(-1)  # (M,): log q_theta(z_m), one per value
    prob = log_q.exp()
    total = prob.sum().item()
    if abs(total - 1.0) > 1e-9:
        raise ValueError(
            f"the support carries total probability {total:.6g}, not 1 (shape "
            f"{tuple(support.shape)}): it misses some values of the draw or has the wrong shape. "
            f"Use one_hot_support(N, C) or binary_support(N)."
        )
    values = _values(f, support, M).to(torch.float64)  # (M,)
    expectation = (prob * values).sum()
    (grad,) = torch.autograd.grad(expectation, theta)
    return expectation.detach(), grad


def leave_one_out_groups(values: Tensor, group_size: int) -> Tensor:
    """The leave-one-out baseline within consecutive groups of ``group_size`` samples.

    b_s = (sum_{t in group(s)} f(z_t) - f(z_s)) / (K - 1)

    Each group of K samples is one K-sample estimate with Kool et al.'s baseline; the groups are
    independent, so ``bias_variance(..., group_size=K)`` measures the K-sample estimator. Pass
    ``baseline=lambda v: leave_one_out_groups(v, K)`` to ``score_function``. Kool et al. 2019;
    Mnih & Rezende 2016 (VIMCO). Introduced in lecture 06.

    Args:
        values: f(z_s), shape ``(S,)`` with S a multiple of K.
        group_size: K >= 2.

    Returns:
        baselines, shape ``(S,)``.
    """
    K = _group_size(values, group_size, minimum=2)
    groups = values.reshape(-1, K)  # (S/K, K)
    return ((groups.sum(1, keepdim=True) - groups) / (K - 1)).reshape(-1)


def moving_average_baseline(
    values: Tensor, *, decay: float = 0.9, initial: float = 0.0, group_size: int = 1
) -> Tensor:
    """An exponential moving average of EARLIER groups' mean f, as in a training loop.

    b_1 = initial,    b_{r+1} = decay b_r + (1 - decay) mean_{s in group r} f(z_s)

    The groups of ``group_size`` consecutive samples stand for successive optimisation steps
    (at a fixed theta here); b_r uses only earlier groups, so it is independent of group r's
    samples and the estimator stays unbiased (Williams 1992, section 7; Mnih & Gregor 2014).
    Pass ``baseline=lambda v: moving_average_baseline(v, group_size=K)`` to ``score_function``.
    Introduced in lecture 06.

    Args:
        values: f(z_s), shape ``(S,)`` with S a multiple of ``group_size``.
        decay: in [0, 1); the average covers about 1 / (1 - decay) steps.
        initial: the baseline of the first group.
        group_size: samples per step K >= 1.

    Returns:
        baselines, shape ``(S,)``, constant within each group.
    """
    K = _group_size(values, group_size, minimum=1)
    if not isinstance(decay, (int, float)) or isinstance(decay, bool) or not 0 <= decay < 1:
        raise ValueError(
            f"decay must be a number in [0, 1); got {decay!r}. 0.9 averages about the last 10 steps."
        )
    step_means = values.detach().to(torch.float64).reshape(-1, K).mean(1).tolist()  # (S/K,)
    b, out = float(initial), []
    for m in step_means:
        out.append(b)
        b = decay * b + (1.0 - decay) * m
    return torch.tensor(out, dtype=values.dtype).repeat_interleave(K)  # (S,)


def _group_size(values: Tensor, group_size: int, *, minimum: int) -> int:
    K = _validate.positive_int("group_size", group_size)
    if K < minimum or values.dim() != 1 or values.shape[0] % K:
        raise ValueError(
            f"group_size must be >= {minimum} and divide the number of samples; got "
            f"group_size={group_size} for values of shape {tuple(values.shape)}. Draw "
            f"num_samples = (number of estimates) * group_size."
        )
    return K


def _check_relaxable(logits, num_samples: int) -> tuple[Tensor, int]:
    logits = reparam._logits("logits", logits)
    _validate.finite("logits", logits)  # -inf classes have no useful gradient here
    return logits, _validate.positive_int("num_samples", num_samples)


def straight_through(
    logits: Tensor,
    f: Callable[[Tensor], Tensor],
    num_samples: int,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Per-sample straight-through estimates for categoricals: one-hot forward, softmax backward.

    z = onehot(sample) + p - stopgrad(p),   p = softmax(logits),   estimate = d f(z) / d logits

    The forward value is an exact sample, but the backward pass pretends dz/dlogits = dp/dlogits,
    which is false: the estimator is biased unless f is linear (Bengio et al. 2013; Jang et al.
    2017, section 2.2). For f(z) = ||z - t||^2 the bias is 2 J p, with J = diag(p) - p p^T the
    softmax Jacobian (lecture 06 derives it).

    Args:
        logits: ``(..., C)``, e.g. ``(C,)`` or ``(N, C)``.
        f: z of shape ``(S, *logits.shape)`` -> ``(S,)``, differentiable in z (and defined
            off the one-hot vertices, as the backward pass evaluates its derivative there).
        num_samples: S >= 1.
        generator: random number generator for the samples.

    Returns:
        per-sample gradient estimates, shape ``(S, *logits.shape)``; detached.

    Introduced in lecture 06.
    """
    logits, S = _check_relaxable(logits, num_samples)
    copies = _copies(logits, S)  # (S, ..., C)
    p = torch.softmax(copies, dim=-1)
    hard = reparam.gumbel_max(copies.detach(), generator=generator)  # exact Categorical(p) draws
    z = hard + (p - p.detach())
    return _grad_per_copy(_values(f, z, S), copies).detach()


def gumbel_softmax_gradient(
    logits: Tensor,
    f: Callable[[Tensor], Tensor],
    num_samples: int,
    *,
    temperature: float,
    hard: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Per-sample Gumbel-softmax (Concrete) estimates: the pathwise gradient of the relaxation.

    y = softmax((logits + g) / tau),  g ~ Gumbel(0, 1),   estimate = d f(y) / d logits

    Unbiased for E[f(y)], the relaxed objective, hence biased for E[f(z)] with z one-hot; the
    bias shrinks and the variance grows as tau -> 0 (Maddison et al. 2017; Jang et al. 2017).
    ``hard=True`` evaluates f at the one-hot argmax of y (straight-through Gumbel-softmax).

    Args:
        logits: ``(..., C)``.
        f: y of shape ``(S, *logits.shape)`` -> ``(S,)``, differentiable in y.
        num_samples: S >= 1.
        temperature: tau > 0.
        hard: straight-through variant.
        generator: random number generator for the noise.

    Returns:
        per-sample gradient estimates, shape ``(S, *logits.shape)``; detached.

    Introduced in lecture 06.
    """
    logits, S = _check_relaxable(logits, num_samples)
    copies = _copies(logits, S)  # (S, ..., C)
    y = reparam.gumbel_softmax(copies, temperature, hard=hard, generator=generator)
    return _grad_per_copy(_values(f, y, S), copies).detach()


@dataclass
class BiasVariance:
    """Bias and variance of a gradient estimator against the exact gradient.

    Attributes (per coordinate, shape ``theta.shape``):
        bias: mean estimate - exact gradient.
        bias_se: standard error of ``bias``.
        variance: variance of one estimate (of ``group_size`` samples).
        variance_se: standard error of ``variance``.
    Scalar summaries (0-d tensors):
        bias_norm: ||bias|| (Euclidean); ``max_abs_z``: max over coordinates of |bias| / bias_se
        (a bias below 1e-12 relative to the exact gradient, i.e. rounding error, counts as 0).
        total_variance: sum of the variances (trace of the covariance), with ``total_variance_se``
        from the spread of the squared distances ||g_r - mean||^2.
    num_estimates: the number of independent estimates R.
    """

    bias: Tensor
    bias_se: Tensor
    variance: Tensor
    variance_se: Tensor
    bias_norm: Tensor
    max_abs_z: Tensor
    total_variance: Tensor
    total_variance_se: Tensor
    num_estimates: int


def bias_variance(estimates: Tensor, exact: Tensor, *, group_size: int = 1) -> BiasVariance:
    """Measure any estimator's bias and variance against an exact gradient, with standard errors.

    The estimates are first averaged in consecutive groups of ``group_size`` (one K-sample
    estimate per group; required for leave-one-out baselines, whose samples within a group are
    dependent), then: bias = mean - exact, variance = sample variance; standard errors from
    :func:`summarize` (Var[s^2] = (mu_4 - sigma^4 (R - 3)/(R - 1)) / R).

    Args:
        estimates: per-sample estimates, shape ``(S, *theta.shape)``, S a multiple of K, and
            S / K >= 4.
        exact: the exact gradient, shape ``theta.shape`` (e.g. from :func:`exact_gradient`).
        group_size: K >= 1 samples per estimate.

    Returns:
        a :class:`BiasVariance` (float64).

    Introduced in lecture 06 (the bias/variance table).
    """
    estimates = _validate.as_tensor("estimates", estimates).detach().to(torch.float64)
    exact = _validate.as_tensor("exact", exact).detach().to(torch.float64)
    _validate.finite("estimates", estimates)
    _validate.finite("exact", exact)
    if estimates.dim() != exact.dim() + 1 or tuple(estimates.shape[1:]) != tuple(exact.shape):
        raise ValueError(
            f"estimates must have shape (S, *exact.shape) = (S, {', '.join(map(str, exact.shape))}); "
            f"got estimates {tuple(estimates.shape)} and exact {tuple(exact.shape)}."
        )
    K = _validate.positive_int("group_size", group_size)
    if estimates.shape[0] % K:
        raise ValueError(
            f"group_size={K} must divide the number of estimates; got {estimates.shape[0]}."
        )
    grouped = estimates.reshape(-1, K, *exact.shape).mean(1)  # (R, *theta.shape)
    stats = summarize(grouped)
    R = grouped.shape[0]
    bias = stats.mean - exact
    # |bias| / se, where a bias at the level of rounding error counts as 0 (a zero-variance
    # estimator, e.g. straight-through on a linear f, has se ~ 1e-18 from rounding alone)
    negligible = bias.abs() <= 1e-12 * (1.0 + exact.abs())
    z = torch.where(negligible, 0.0, bias.abs() / stats.mean_se.clamp_min(1e-300))
    sq_dist = (grouped - stats.mean).reshape(R, -1).pow(2).sum(1)  # (R,)
    total_variance = sq_dist.sum() / (R - 1)
    total_variance_se = sq_dist.std() / math.sqrt(R) * R / (R - 1)
    return BiasVariance(
        bias=bias,
        bias_se=stats.mean_se,
        variance=stats.variance,
        variance_se=stats.variance_se,
        bias_norm=bias.norm(),
        max_abs_z=z.max() if z.numel() else torch.zeros((), dtype=torch.float64),
        total_variance=total_variance,
        total_variance_se=total_variance_se,
        num_estimates=R,
    )
