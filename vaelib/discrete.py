"""Discrete latents: exact gradients by enumeration and the estimators that replace the pathwise one.

A categorical or Bernoulli draw has no pathwise gradient, so lecture 06 compares the estimators
that do work against the exact gradient of a small problem, computed by enumerating its support:
REINFORCE (:func:`vaelib.estimators.score_function` with ``dist_fn=one_hot_categorical``) with
moving-average and leave-one-out baselines, straight-through, and Gumbel-softmax; and measures
each one's bias and variance (:func:`bias_variance`).

Conventions: those of :mod:`vaelib.estimators` (theta = logits; f(z) takes z of shape
``(S, *draw)`` and returns ``(S,)``; estimators return per-sample estimates of shape
``(S, *logits.shape)``). The discrete problems are categoricals written as one-hot vectors:
logits of shape ``(..., C)``, e.g. ``(C,)`` for one categorical or ``(N, C)`` for N independent
ones, and z of the same shape.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from vaelib import _validate, estimators, relaxations


def one_hot_categorical(logits: Tensor) -> torch.distributions.OneHotCategorical:
    """``dist_fn`` for independent categoricals with one-hot draws: OneHotCategorical(logits).

    Args:
        logits: ``(..., C)``; every leading dimension is a batch dimension, so copies of shape
            ``(S, N, C)`` give S draws of N independent categoricals.

    Returns:
        the distribution; its draws have the shape of ``logits``.

    Introduced in lecture 06.
    """
    return torch.distributions.OneHotCategorical(
        logits=_validate.nonempty("logits", _validate.logits("logits", logits))
    )


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
    # compare exponents, not C**N itself: num_variables=10**12 must be refused, not computed
    if C < 2 or N * math.log2(C) > 20:
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
    dist_fn = _validate.function("dist_fn", dist_fn, "vaelib.discrete.one_hot_categorical")
    f = _validate.function("f", f, "lambda z: (z ** 2).sum((-2, -1))")
    theta = _validate.parameter("theta", theta).detach().to(torch.float64).requires_grad_(True)
    support = _validate.real("support", support).to(torch.float64)
    if support.dim() < 1 or support.shape[0] < 1:
        raise ValueError(f"support must have shape (M, *draw); got {tuple(support.shape)}.")
    M = support.shape[0]
    q = dist_fn(theta)
    if not isinstance(q, torch.distributions.Distribution):
        raise TypeError(f"dist_fn must return a torch.distributions.Distribution; got {type(q).__name__}.")
    try:
        log_q = q.log_prob(support)
    except (RuntimeError, ValueError) as err:
        raise ValueError(
            f"support of shape {tuple(support.shape)} does not fit dist_fn(theta) (batch shape "
            f"{tuple(q.batch_shape)}, event shape {tuple(q.event_shape)}) for theta of shape "
            f"{tuple(theta.shape)}: {str(err)[:200]}"
        ) from None
    log_q = log_q.reshape(M, -1).sum(-1)  # (M,): log q_theta(z_m), one per value
    prob = log_q.exp()
    total = prob.sum().item()
    if abs(total - 1.0) > 1e-9:
        raise ValueError(
            f"the support carries total probability {total:.6g}, not 1 (shape "
            f"{tuple(support.shape)}): it misses some values of the draw or has the wrong shape. "
            f"Use one_hot_support(N, C) or binary_support(N)."
        )
    values = estimators.per_sample_values(f, support, M).to(torch.float64)  # (M,)
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
    values = _validate.real("values", values)
    K = _group_size(values, group_size, minimum=2)
    groups = values.reshape(-1, K)  # (S/K, K)
    return ((groups.sum(1, keepdim=True) - groups) / (K - 1)).reshape(-1)


def moving_average_baseline(values: Tensor, *, decay: float = 0.9, initial: float = 0.0, group_size: int = 1) -> Tensor:
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
    values = _validate.real("values", values)
    K = _group_size(values, group_size, minimum=1)
    decay = _validate.number("decay", decay, low=0.0, high=1.0)
    if decay == 1.0:
        raise ValueError("decay must be a number in [0, 1); got 1. 0.9 averages about the last 10 steps.")
    initial = _validate.number("initial", initial)
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
    logits = _validate.nonempty("logits", _validate.logits("logits", logits))
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
    f = _validate.function("f", f, "lambda z: (z ** 2).sum((-2, -1))")
    generator = _validate.generator(generator)
    copies = estimators.per_sample_copies(logits, S)  # (S, ..., C)
    p = torch.softmax(copies, dim=-1)
    hard = relaxations.gumbel_max(copies.detach(), generator=generator)  # exact Categorical(p) draws
    z = hard + (p - p.detach())
    return estimators.grad_per_copy(estimators.per_sample_values(f, z, S), copies).detach()


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
    f = _validate.function("f", f, "lambda y: (y ** 2).sum((-2, -1))")
    hard = _validate.flag("hard", hard)
    copies = estimators.per_sample_copies(logits, S)  # (S, ..., C)
    y = relaxations.gumbel_softmax(copies, temperature, hard=hard, generator=generator)
    return estimators.grad_per_copy(estimators.per_sample_values(f, y, S), copies).detach()


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
    estimates = _validate.real("estimates", estimates).detach().to(torch.float64)
    exact = _validate.real("exact", exact).detach().to(torch.float64)
    if estimates.dim() != exact.dim() + 1 or tuple(estimates.shape[1:]) != tuple(exact.shape):
        raise ValueError(
            f"estimates must have shape (S, *exact.shape) = (S, {', '.join(map(str, exact.shape))}); "
            f"got estimates {tuple(estimates.shape)} and exact {tuple(exact.shape)}."
        )
    K = _validate.positive_int("group_size", group_size)
    if estimates.shape[0] % K:
        raise ValueError(f"group_size={K} must divide the number of estimates; got {estimates.shape[0]}.")
    if estimates.shape[0] < 4 * K:
        raise ValueError(
            f"estimates must hold S >= 4 groups of group_size={K} ({4 * K} estimates) for a "
            f"variance with a standard error; got {estimates.shape[0]} estimates. Draw more."
        )
    grouped = estimates.reshape(-1, K, *exact.shape).mean(1)  # (R, *theta.shape)
    stats = estimators.summarize(grouped)
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
