"""Continuous relaxations of discrete variables (lecture 06).

A categorical or Bernoulli draw has no pathwise gradient: its value is piecewise constant in the
parameters. Gumbel-max writes an exact categorical draw as argmax(logits + Gumbel noise); the
Gumbel-softmax / Concrete distribution (Jang et al. 2017; Maddison et al. 2017) replaces the
argmax by a softmax at temperature tau, which is differentiable; ``hard=True`` gives the
straight-through variant (one-hot forward, relaxed gradient backward). Same noise API as
:mod:`vaelib.families`: ``u=`` uniform noise in (0, 1), or fresh noise of shape
``(*sample_shape, *logits.shape)``.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from vaelib import _validate


def _straight_through(y: Tensor) -> Tensor:
    """One-hot argmax of ``y`` in the forward pass, the gradient of ``y`` in the backward pass."""
    hard = torch.nn.functional.one_hot(y.argmax(dim=-1), y.shape[-1]).to(y.dtype)  # (..., C)
    return hard + (y - y.detach())


def gumbel_max(
    logits: Tensor,
    *,
    u: Tensor | None = None,
    sample_shape: Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """An exact one-hot sample of Categorical(softmax(logits)): ``onehot(argmax(logits + g))``.

    g = -log(-log u) is standard Gumbel noise; the argmax of logits plus independent Gumbel
    noise is distributed as softmax(logits) (the Gumbel-max trick; Gumbel 1954, Maddison et al.
    2014). The result is a step function of the logits: it carries no gradient.

    Args:
        logits: unnormalised log-probabilities ``(..., C)``.
        u: Uniform(0, 1) noise of shape ``(..., C)`` (drawn if None).
        sample_shape: leading sample dimensions of fresh noise.
        generator: random number generator for fresh noise.

    Returns:
        one-hot float tensor of shape ``sample_shape + logits.shape``.

    Introduced in lecture 06.
    """
    logits = _validate.logits("logits", logits)
    u = _validate.uniform_noise("u", u, logits, _validate.noise_shape(sample_shape, logits.shape), generator)
    _validate.broadcastable(("logits", "u"), (logits, u))
    scores = logits.detach() - torch.log(-torch.log(u))  # (..., C)
    return torch.nn.functional.one_hot(scores.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)


def gumbel_softmax(
    logits: Tensor,
    temperature: float,
    *,
    u: Tensor | None = None,
    hard: bool = False,
    sample_shape: Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Gumbel-softmax / Concrete sample: ``y = softmax((logits + g) / temperature)``.

    g = -log(-log u) is standard Gumbel noise. As the temperature tends to 0, y tends to the
    one-hot Gumbel-max sample, distributed as Categorical(softmax(logits)); at any temperature
    > 0, y is a differentiable function of the logits (Maddison et al. 2017; Jang et al. 2017,
    eq. 2). With ``hard=True`` the forward value is the one-hot argmax of y while the
    gradient is that of y (straight-through Gumbel-softmax, Jang et al. 2017, section 2.2).

    Args:
        logits: unnormalised log-probabilities ``(..., C)``; -inf marks a class of probability 0.
        temperature: tau > 0.
        u: Uniform(0, 1) noise of shape ``(..., C)`` (drawn if None).
        hard: return the straight-through one-hot value.
        sample_shape: leading sample dimensions of fresh noise.
        generator: random number generator for fresh noise.

    Returns:
        y on the probability simplex, shape ``sample_shape + logits.shape``.

    Introduced in lecture 06.
    """
    logits = _validate.logits("logits", logits)
    tau = _validate.temperature(temperature)
    hard = _validate.flag("hard", hard)
    u = _validate.uniform_noise("u", u, logits, _validate.noise_shape(sample_shape, logits.shape), generator)
    _validate.broadcastable(("logits", "u"), (logits, u))
    y = torch.softmax((logits - torch.log(-torch.log(u))) / tau, dim=-1)  # (..., C)
    return _straight_through(y) if hard else y


def relaxed_bernoulli(
    probs: Tensor,
    temperature: float,
    *,
    u: Tensor | None = None,
    hard: bool = False,
    sample_shape: Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Binary Concrete sample: ``y = sigmoid((logit(p) + log u - log(1 - u)) / temperature)``.

    The two-class Gumbel-softmax: the difference of two Gumbels is logistic noise
    ``log u - log(1 - u)`` (the binary Concrete of Maddison et al. 2017). As the temperature
    tends to 0, y tends to the Bernoulli(p) sample ``1[u > 1 - p]``. With ``hard=True`` the
    forward value is ``1[y > 1/2]`` and the gradient that of y (straight-through).

    Args:
        probs: Bernoulli probabilities in [0, 1], any shape.
        temperature: tau > 0.
        u: Uniform(0, 1) noise broadcastable with ``probs`` (drawn if None).
        hard: return the straight-through 0/1 value.
        sample_shape: leading sample dimensions of fresh noise.
        generator: random number generator for fresh noise.

    Returns:
        y in [0, 1] of shape ``sample_shape + probs.shape``.

    Introduced in lecture 06.
    """
    probs = _validate.probabilities("probs", probs)
    tau = _validate.temperature(temperature)
    hard = _validate.flag("hard", hard)
    u = _validate.uniform_noise("u", u, probs, _validate.noise_shape(sample_shape, probs.shape), generator)
    _validate.broadcastable(("probs", "u"), (probs, u))
    logit = torch.log(probs) - torch.log1p(-probs)  # +-inf at p = 1 or 0: y is then exactly 1 or 0
    y = torch.sigmoid((logit + torch.log(u) - torch.log1p(-u)) / tau)
    if hard:
        return (y > 0.5).to(y.dtype) + (y - y.detach())
    return y
