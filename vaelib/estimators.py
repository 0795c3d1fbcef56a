"""Gradient estimators for d/dtheta E_{z ~ q_theta}[f(z)] and tools to measure them.

The score-function (REINFORCE) estimator needs only log q_theta(z); the pathwise
(reparameterization) estimator needs z = g_theta(eps) and f differentiable in z.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from vaelib import _validate

# ---------------------------------------------------------------------------------------------
# Score-function and pathwise estimators (lecture 01)
# ---------------------------------------------------------------------------------------------
#
# Conventions shared by every estimator below and by vaelib.discrete (lecture 06):
# - theta is ONE tensor of parameters (pack several into one, e.g. theta[..., 0] = mu).
# - dist_fn(theta) returns a torch.distributions object; it must broadcast over a leading
#   dimension of theta: called with theta of shape (S, *theta.shape) it returns a distribution
#   whose draw has shape (S, *draw). Write it elementwise: lambda theta: Normal(theta, 1.0).
# - f(z) takes z of shape (S, *draw) and returns one value per sample, shape (S,).
# - Estimators return per-sample gradient estimates, shape (S, *theta.shape): their mean is
#   the S-sample estimate, their variance the single-sample variance.
# Per-sample gradients cost one backward pass: theta is copied once per sample, so row s of
# the gradient is d/dtheta of sample s's term alone.


def per_sample_copies(theta: Tensor, num_samples: int) -> Tensor:
    """One independent leaf copy of theta per sample, shape ``(S, *theta.shape)``.

    A building block of every per-sample estimator here and in :mod:`vaelib.discrete`.
    """
    theta = _validate.parameter("theta", theta)
    num_samples = _validate.positive_int("num_samples", num_samples)
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


def per_sample_values(f: Callable, z: Tensor, num_samples: int) -> Tensor:
    """f(z), checked to be one finite value per sample, shape ``(S,)`` (a ValueError otherwise)."""
    f = _validate.function("f", f, "lambda z: (z ** 2).sum(-1)")
    z = _validate.draws("z", z)
    _validate.min_dims("z", z, 1, "(S, *draw): the first one indexes the samples")
    num_samples = _validate.positive_int("num_samples", num_samples)
    values = f(z)
    if not isinstance(values, Tensor) or tuple(values.shape) != (num_samples,):
        got = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
        raise ValueError(
            f"f must return one value per sample, a tensor of shape ({num_samples},); got "
            f"{got} for z of shape {tuple(z.shape)}. Reduce over the dimensions of one draw "
            f"inside f, e.g. f = lambda z: (z ** 2).sum(-1)."
        )
    if values.is_floating_point() and not torch.isfinite(values.detach()).all():
        raise _validate.NonFiniteError(
            f"f returned {int((~torch.isfinite(values.detach())).sum())} non-finite value(s) "
            f"(NaN or inf) for z of shape {tuple(z.shape)}; an estimate built on them would be NaN. "
            f"Check f where it is evaluated (a log of 0, a division by 0)."
        )
    return values


def grad_per_copy(values: Tensor, theta_copies: Tensor) -> Tensor:
    """Row s = d values[s] / d theta_copies[s], shape ``(S, *theta.shape)``; zeros where the
    values do not depend on theta."""
    values = _validate.real("values", values, dims=1, meaning="(S,): one value per sample")
    if not isinstance(theta_copies, Tensor) or not theta_copies.requires_grad:
        raise TypeError(
            f"theta_copies must be the tensor returned by per_sample_copies(theta, S) (a leaf that "
            f"requires grad); got {type(theta_copies).__name__}"
            f"{'' if not isinstance(theta_copies, Tensor) else ' without requires_grad'}."
        )
    if theta_copies.dim() < 1 or theta_copies.shape[0] != values.shape[0]:
        raise ValueError(
            f"theta_copies must have one copy per value, shape ({values.shape[0]}, ...); got "
            f"shape {tuple(theta_copies.shape)} for values of shape {tuple(values.shape)}."
        )
    if not values.requires_grad:  # e.g. a step function of z: its derivative is 0 a.e.
        return torch.zeros_like(theta_copies)
    try:
        (grad,) = torch.autograd.grad(values.sum(), theta_copies, allow_unused=True)
    except RuntimeError as err:
        raise ValueError(
            f"values must be computed from theta_copies (the output of per_sample_copies); "
            f"autograd could not differentiate them: {err}"
        ) from None
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
    values = _validate.real("values", values)
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
    dist_fn = _validate.function("dist_fn", dist_fn, "lambda theta: torch.distributions.Normal(theta, 1.0)")
    f = _validate.function("f", f, "lambda z: (z ** 2).sum(-1)")
    theta = _validate.parameter("theta", theta)
    if z is None:
        if num_samples is None:
            raise ValueError("score_function needs num_samples (an int >= 1) or samples z; got neither.")
        S = _validate.positive_int("num_samples", num_samples)
    else:
        z = _validate.draws("z", z)
        if z.dim() < 1 or z.shape[0] < 1:
            raise ValueError(f"z must have a leading sample dimension (S, *draw); got shape {tuple(z.shape)}.")
        S = z.shape[0]
        if num_samples is not None and num_samples != S:
            raise ValueError(
                f"num_samples={num_samples!r} but z holds {S} samples (shape {tuple(z.shape)}); pass one of them."
            )
    theta_copies = per_sample_copies(theta, S)  # (S, *theta.shape)
    q = _per_copy_distribution(dist_fn, theta_copies)
    draw = (*q.batch_shape, *q.event_shape)
    if z is None:
        z = q.sample()  # (S, *draw[1:]): sample() is not differentiable
    elif tuple(z.shape) != draw:
        raise ValueError(f"z must have shape {draw} (S samples of q_theta); got {tuple(z.shape)}.")
    z = z.detach()
    with torch.no_grad():
        values = per_sample_values(f, z, S)  # (S,)
    b = _baseline_values(baseline, values)  # (S,)
    log_q = q.log_prob(z).reshape(S, -1).sum(-1)  # (S,): log q_theta(z_s), summed over a draw
    score = grad_per_copy(log_q, theta_copies)  # (S, *theta.shape)
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
    dist_fn = _validate.function("dist_fn", dist_fn, "lambda theta: torch.distributions.Normal(theta, 1.0)")
    f = _validate.function("f", f, "lambda z: (z ** 2).sum(-1)")
    theta = _validate.parameter("theta", theta)
    S = _validate.positive_int("num_samples", num_samples)
    theta_copies = per_sample_copies(theta, S)  # (S, *theta.shape)
    q = _per_copy_distribution(dist_fn, theta_copies)
    if not q.has_rsample:
        raise ValueError(
            f"{type(q).__name__} has no rsample(): its samples are not a differentiable "
            f"function of theta, so there is no pathwise gradient. Use score_function, or "
            f"(lecture 06) a continuous relaxation such as Gumbel-softmax."
        )
    z = q.rsample()  # (S, *draw): a differentiable function of theta
    values = per_sample_values(f, z, S)  # (S,)
    return grad_per_copy(values, theta_copies).detach()


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
    transform = _validate.function("transform", transform, "lambda theta, eps: theta + eps")
    f = _validate.function("f", f, "lambda z: z ** 2")
    theta = _validate.parameter("theta", theta)
    eps = _validate.real("eps", eps, like=theta, cast=True)
    if eps.dim() < 1 or eps.shape[0] < 1:
        raise ValueError(
            f"eps must have a leading sample dimension (S, ...); got shape {tuple(eps.shape)}. "
            f"For S samples of a scalar, use torch.randn(S)."
        )
    S = eps.shape[0]
    theta_copies = per_sample_copies(theta, S)  # (S, *theta.shape)
    z = transform(theta_copies, eps)
    if not isinstance(z, Tensor) or z.dim() < 1 or z.shape[0] != S:
        got = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
        raise ValueError(
            f"transform must return z with a leading dimension S={S}; got {got}. It receives "
            f"theta of shape {tuple(theta_copies.shape)} and eps of shape {tuple(eps.shape)}."
        )
    values = per_sample_values(f, z, S)  # (S,)
    return grad_per_copy(values, theta_copies).detach()


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
    grads = _validate.real("grads", grads)
    if grads.dim() < 1 or grads.shape[0] < 4:
        raise ValueError(f"grads must have shape (S, ...) with S >= 4 samples; got shape {tuple(grads.shape)}.")
    S = grads.shape[0]
    g = grads.detach().to(torch.float64)
    mean = g.mean(0)
    centred = g - mean
    variance = centred.pow(2).sum(0) / (S - 1)
    m4 = centred.pow(4).mean(0)
    variance_se = ((m4 - variance.pow(2) * (S - 3) / (S - 1)).clamp_min(0) / S).sqrt()
    return EstimatorStats(mean, (variance / S).sqrt(), variance, variance_se, S)
