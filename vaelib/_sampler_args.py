"""Argument contracts shared by the samplers (reparam, families, relaxations) and the estimators.

Part of :mod:`vaelib._validate`: uniform noise, distribution parameters, temperatures, logits and
probabilities, batches, numbers with bounds, integer labels and instances.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from vaelib._random import fresh_uniform, is_numpy_int
from vaelib._random import generator as checked_generator
from vaelib._tensor_args import NonFiniteError, as_tensor, describe, finite, min_dims, real
from vaelib._tensor_args import positive as require_positive

__all__ = [
    "uniform_noise",
    "parameter",
    "temperature",
    "logits",
    "probabilities",
    "nonempty_batch",
    "unit_interval",
    "real_number",
    "integer",
    "labels",
    "instance",
]


def uniform_noise(name: str, u, like: Tensor, shape: torch.Size, generator) -> Tensor:
    """Validate the user's uniform noise ``u`` (strictly inside (0, 1)) or draw fresh noise."""
    generator = checked_generator(generator)
    if u is None:
        return fresh_uniform(shape, like, generator)
    u = real(name, u, like=like, cast=True, allow_empty=True)
    bad = (u <= 0) | (u >= 1)
    if bad.any():
        raise ValueError(
            f"{name} must lie strictly between 0 and 1 (the endpoints map to infinite samples); "
            f"got {int(bad.sum())} value(s) outside, e.g. {u[bad].flatten()[0].item():.4g} "
            f"(shape {tuple(u.shape)}). Draw it with torch.rand(...).clamp(1e-6, 1 - 1e-6)."
        )
    return u


def parameter(name: str, value, *, like: Tensor | None = None, positive: bool = False) -> Tensor:
    """A finite floating tensor (strictly positive if asked), or a ValueError naming ``name``."""
    t = real(name, value, like=like)
    return require_positive(name, t) if positive else t


def temperature(value) -> float:
    """The Concrete temperature: a finite number > 0."""
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"temperature must be a finite number > 0; got {value!r}. A small value such as 0.1 "
            f"gives nearly one-hot samples, a large one nearly uniform ones; for exact one-hot "
            f"samples use gumbel_max, or hard=True for the straight-through variant."
        )
    return float(value)


def logits(name: str, value) -> Tensor:
    """Logits may be -inf (a class with probability 0) but never NaN or +inf."""
    t = as_tensor(name, value)
    min_dims(name, t, 1, "(the last one indexes the C classes)")
    if torch.isnan(t).any() or (t == math.inf).any():
        bad = int((torch.isnan(t) | (t == math.inf)).sum())
        raise NonFiniteError(
            f"{name} contains {bad} NaN or +inf value(s) (shape {tuple(t.shape)}). Logits must be "
            f"finite (-inf is allowed for a class of probability 0); check the network output "
            f"that produced them."
        )
    if (t == -math.inf).all(dim=-1).any():
        raise ValueError(
            f"{name} gives some categorical distribution no class of positive probability: every "
            f"logit of a row is -inf (shape {tuple(t.shape)}). Keep at least one finite logit per row."
        )
    return t


def probabilities(name: str, value) -> Tensor:
    """Probabilities must lie in [0, 1]."""
    p = as_tensor(name, value)
    if torch.isnan(p).any():
        raise ValueError(
            f"{name} contains {int(torch.isnan(p).sum())} NaN value(s) (shape {tuple(p.shape)}). "
            f"Check the computation that produced the probabilities."
        )
    bad = (p < 0) | (p > 1)
    if bad.any():
        raise ValueError(
            f"{name} must lie in [0, 1]; got {int(bad.sum())} value(s) outside, e.g. "
            f"{p[bad].flatten()[0].item():.4g} (shape {tuple(p.shape)}). Map a network output "
            f"through torch.sigmoid, or pass logits to gumbel_softmax instead."
        )
    return p


def nonempty_batch(name: str, t: Tensor, meaning: str = "one row per example") -> Tensor:
    """Raise a ValueError if ``t`` has no rows (a mean over an empty batch is NaN)."""
    if t.dim() == 0 or t.shape[0] == 0:
        raise ValueError(
            f"{name} must hold at least one row ({meaning}); got {describe(t)}. An empty batch "
            f"has no average (its mean is NaN): check the slicing that produced it."
        )
    return t


def unit_interval(name: str, t: Tensor, why: str, fix: str) -> Tensor:
    """Raise a ValueError unless every entry of ``t`` lies in [0, 1] (NaN counts as outside).

    Args:
        name, t: the argument and its value.
        why: whose assumption the range is ("the Bernoulli likelihood's").
        fix: what to do, appended to the message ("Divide 8-bit images by 255.").
    """
    lo, hi = (float(v) for v in torch.aminmax(t.detach()))  # one pass; NaN and inf propagate to the min or max
    if not (math.isfinite(lo) and math.isfinite(hi)):
        finite(name, t)
    if lo < 0 or hi > 1:
        raise ValueError(
            f"{name} must hold values in [0, 1] ({why} range); got values in [{lo:.4g}, {hi:.4g}] "
            f"({describe(t)}). {fix}"
        )
    return t


def real_number(name: str, value, *, minimum: float | None = None, strict: bool = False, meaning: str = "") -> float:
    """Return ``value`` as a float if it is a finite real number (not a bool) above ``minimum``.

    ``strict=True`` requires ``value > minimum``, otherwise ``value >= minimum``.
    """
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and minimum is not None:
        ok = value > minimum if strict else value >= minimum
    if not ok:
        bound = "" if minimum is None else f" {'>' if strict else '>='} {minimum:g}"
        extra = f" ({meaning})" if meaning else ""
        raise ValueError(f"{name} must be a finite number{bound}{extra}; got {value!r}.")
    return float(value)


def integer(name: str, value, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int if it is an integer (a numpy integer is fine; a bool or 2.5 is not)."""
    if is_numpy_int(value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" >= {minimum}"
        raise ValueError(f"{name} must be an integer{bound}; got {type(value).__name__} {value!r}"[:200] + ".")
    return value


def labels(name: str, value, *, n: int | None = None, num_classes: int | None = None) -> Tensor:
    """Class labels: a 1-d int64 tensor (a list or numpy array of ints is converted), values >= 0.

    Args:
        n: the required length (one label per example), if known.
        num_classes: labels must be < this, if given.
    """
    if value is None or isinstance(value, (bool, str, bytes, int, float)):
        raise TypeError(
            f"{name} must be a 1-d tensor of integer class labels; got {type(value).__name__} {value!r}"[:200]
            + ". Pass e.g. torch.tensor([3, 1, 4])."
        )
    try:
        t = value if isinstance(value, Tensor) else torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name} must be a 1-d tensor of integer class labels; got {type(value).__name__}.") from err
    if t.is_floating_point() or t.is_complex() or t.dtype is torch.bool:
        raise TypeError(
            f"{name} must hold integer class labels; got dtype {t.dtype}. Convert with {name}.long() "
            f"if the values are whole numbers."
        )
    if t.dim() != 1 or (n is not None and t.shape[0] != n):
        want = f"({n},)" if n is not None else "(N,)"
        raise ValueError(
            f"{name} must have shape {want}, one label per image (or example); got shape {tuple(t.shape)}."
        )
    t = t.long()
    if t.numel() and (t.min() < 0 or (num_classes is not None and t.max() >= num_classes)):
        span = f"0..{num_classes - 1}" if num_classes is not None else ">= 0"
        raise ValueError(f"{name} must hold labels in {span}; got values in [{int(t.min())}, {int(t.max())}].")
    return t


def instance(name: str, value, cls: type, what: str):
    """Raise a TypeError unless ``value`` is an instance of ``cls`` (``what`` says how to get one)."""
    if not isinstance(value, cls):
        raise TypeError(f"{name} must be {what}; got {type(value).__name__} {value!r}"[:240] + ".")
    return value
