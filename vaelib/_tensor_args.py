"""The core argument contracts: tensors, real and finite values, shapes, numbers and integers.

Part of :mod:`vaelib._validate`, through which every vaelib module states its inputs. Each helper
raises ``ValueError`` (or ``TypeError``) with a message that names the argument, says what was
received and what was expected, and what to do about it.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

from vaelib._random import is_numpy_int

__all__ = [
    "NonFiniteError",
    "describe",
    "as_tensor",
    "nonempty",
    "real",
    "real_or_symbolic",
    "data_rows",
    "weights_dtype",
    "draws",
    "function",
    "flag",
    "choice",
    "finite",
    "positive",
    "min_dims",
    "same_shape",
    "broadcastable",
    "positive_number",
    "number",
    "positive_int",
    "hidden_dims",
]


class NonFiniteError(ValueError):
    """Raised for input holding NaN or infinity.

    A subclass of ``ValueError`` (so ``except ValueError`` still catches it), distinct so that a
    caller can tell "this tensor went non-finite" (a diverging model, in ``fit``'s guard) from
    every other bad argument by type rather than by the message's wording.
    """


def describe(t: Tensor) -> str:
    """``"shape (B, K), dtype torch.float32"``: how a message shows a tensor it refuses."""
    return f"shape {tuple(t.shape)}, dtype {t.dtype}"


def as_tensor(name: str, value, *, like: Tensor | None = None, cast: bool = False) -> Tensor:
    """Return ``value`` as a floating tensor, or raise a TypeError naming ``name``.

    Contract: a ``torch.Tensor``, a Python number, a (nested) list of numbers or a numpy array;
    lists and arrays are converted (to ``like``'s dtype and device if given, else torch's
    default dtype). Never a bool (``True`` is not a number here), ``None`` or a string. With
    ``cast=True`` a floating tensor of another dtype than ``like``'s is converted to it (a
    float64 array from ``torch.from_numpy`` fed to a float32 model).
    """
    if value is None or isinstance(value, (bool, str, bytes)) or _is_bool_array(value):
        what = "None" if value is None else f"{type(value).__name__} {value!r}"[:60]
        raise TypeError(
            f"{name} must be a tensor (or a number, list or numpy array of numbers); got {what}. "
            f"{_HINTS.get(type(value).__name__, 'Pass a torch.Tensor.')}"
        )
    if isinstance(value, Tensor):
        t = value
    else:
        dtype = like.dtype if like is not None else torch.get_default_dtype()
        device = like.device if like is not None else None
        try:
            t = torch.as_tensor(value, dtype=dtype, device=device)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"{name} must be a tensor or array-like of numbers; got {type(value).__name__}. Pass a torch.Tensor."
            ) from err
    if not t.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor; got {describe(t)}. Convert it first, e.g. {name}.float()."
        )
    if cast and like is not None and t.dtype != like.dtype:
        t = t.to(like.dtype)
    return t


_HINTS = {
    "bool": "Booleans are not numbers here: pass 1.0 or 0.0, or a float tensor.",
    "NoneType": "Pass a torch.Tensor, e.g. torch.zeros(B, K).",
    "str": "Convert the text to numbers first, e.g. torch.tensor([float(s)]).",
}


def _is_bool_array(value) -> bool:
    dtype = getattr(value, "dtype", None)
    return dtype is torch.bool or str(dtype) == "bool"


def nonempty(name: str, t: Tensor) -> Tensor:
    """Raise a ValueError if ``t`` has no elements (an empty batch gives NaN means)."""
    if t.numel() == 0:
        raise ValueError(
            f"{name} is empty ({describe(t)}); it needs at least one value. Check the slice or "
            f"the filter that produced it (e.g. a batch of 0 rows)."
        )
    return t


def real(
    name: str,
    value,
    *,
    like: Tensor | None = None,
    cast: bool = False,
    dims: int | None = None,
    meaning: str = "",
    allow_empty: bool = False,
) -> Tensor:
    """The common tensor contract: floating, non-empty, finite, at least ``dims`` dimensions.

    Every vaelib function that takes numbers calls this (or :func:`parameter`, the same with a
    positivity option) on each tensor argument at its top: a bool, None, a string, an empty
    tensor or a NaN/inf raises here, naming the argument. ``allow_empty=True`` is for
    elementwise maps (a sampler, a per-row KL), where an empty batch in gives an empty batch out;
    everything that averages over a dimension refuses it (the mean of nothing is NaN).
    """
    t = as_tensor(name, value, like=like, cast=cast)
    if dims is not None:
        min_dims(name, t, dims, meaning)
    if not allow_empty:
        nonempty(name, t)
    return finite(name, t)


def data_rows(name: str, x) -> Tensor:
    """A finite floating ``(B, D)`` batch with B >= 1: one row per data point, or a ValueError."""
    x = as_tensor(name, x)
    if x.dim() != 2 or x.shape[0] == 0:
        raise ValueError(
            f"{name} must have shape (B, D): one row per data point; got shape {tuple(x.shape)}. "
            f"A single point needs {name}.unsqueeze(0)."
        )
    return finite(name, x)


def weights_dtype(name: str, t: Tensor, weight: Tensor) -> Tensor:
    """Raise a TypeError unless ``t`` has the dtype of a model's ``weight`` (a forward pass never casts)."""
    if t.dtype != weight.dtype:
        raise TypeError(
            f"{name} has dtype {t.dtype} but the model's weights are {weight.dtype}. Convert it with "
            f"{name}.to({weight.dtype}) (torch.from_numpy keeps numpy's float64), or the model with "
            f"model.to({t.dtype})."
        )
    return t


def real_or_symbolic(name: str, value):
    """A finite tensor (as :func:`real`), or a sympy expression passed through unchanged.

    For closed forms written as plain arithmetic (lecture 01's toy problem), which the tests
    also evaluate on sympy symbols. A Python number stays a number; a list or array becomes a
    tensor.
    """
    if type(value).__module__.split(".")[0] == "sympy":
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise NonFiniteError(f"{name} must be finite; got {value!r}.")
        return value
    return real(name, value)


def draws(name: str, value) -> Tensor:
    """Samples of a distribution: an integer tensor (categorical draws) as it is, else :func:`real`."""
    if isinstance(value, Tensor) and not value.is_floating_point() and value.dtype is not torch.bool:
        return nonempty(name, value)
    return real(name, value)


def function(name: str, value, example: str):
    """Raise a TypeError unless ``value`` is callable; ``example`` shows a valid one."""
    if not callable(value):
        raise TypeError(f"{name} must be a function, e.g. {example}; got {type(value).__name__} {value!r}"[:300])
    return value


def flag(name: str, value) -> bool:
    """Raise a TypeError unless ``value`` is True or False (a string "yes" or 2 is refused)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False; got {type(value).__name__} {value!r}.")
    return value


def choice(name: str, value, options: Sequence[str], explain: str = "") -> str:
    """Raise a ValueError unless ``value`` is one of ``options`` (``explain`` says what each means)."""
    if not isinstance(value, str) or value not in options:
        allowed = " or ".join(repr(o) for o in options)
        raise ValueError(f"{name} must be {allowed}; got {value!r}. {explain}".rstrip())
    return value


def all_finite(t: Tensor) -> bool:
    """Whether every entry of ``t`` is finite: one pass (``aminmax``: NaN and inf propagate to the
    min or the max), about 10x faster on a large float tensor than ``torch.isfinite(t).all()``."""
    if t.is_floating_point() and t.numel() > 0:
        lo, hi = torch.aminmax(t.detach())
        return bool(torch.isfinite(torch.stack([lo, hi])).all())
    return bool(torch.isfinite(t).all())


def finite(name: str, t: Tensor) -> Tensor:
    """Raise a :class:`NonFiniteError` if ``t`` holds NaN or infinity."""
    if not all_finite(t):
        bad = (~torch.isfinite(t)).sum().item()
        raise NonFiniteError(
            f"{name} contains {bad} non-finite value(s) (NaN or inf) out of {t.numel()} "
            f"({describe(t)}). Check the computation that produced it (an exploding "
            f"log-variance or a division by zero are the usual causes)."
        )
    return t


def positive(name: str, t: Tensor, *, allow_zero: bool = False) -> Tensor:
    """Raise a ValueError if any entry of ``t`` is negative (or zero, unless allowed)."""
    bad = (t < 0) if allow_zero else (t <= 0)
    if bad.any():
        worst = t[bad].min().item()
        need = "non-negative" if allow_zero else "strictly positive"
        raise ValueError(
            f"{name} must be {need}; got {int(bad.sum())} bad value(s), the smallest {worst:.4g} "
            f"({describe(t)}). Map an unconstrained output through softplus or exp to make "
            f"it positive."
        )
    return t


def min_dims(name: str, t: Tensor, n: int, meaning: str) -> Tensor:
    """Raise a ValueError unless ``t`` has at least ``n`` dimensions (``meaning`` names them)."""
    if t.dim() < n:
        raise ValueError(
            f"{name} must have at least {n} dimension(s) {meaning}; got {describe(t)}. "
            f"Add the missing dimension, e.g. {name}.unsqueeze(0) for a batch of one."
        )
    return t


def same_shape(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    """Raise a ValueError unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape; got {name_a} {tuple(a.shape)} and "
            f"{name_b} {tuple(b.shape)}. Both describe the same latent variables, one entry "
            f"per (batch, latent dimension)."
        )


def broadcastable(names: Sequence[str], tensors: Sequence[Tensor]) -> torch.Size:
    """Return the broadcast shape of ``tensors`` or raise a ValueError naming their shapes."""
    try:
        return torch.broadcast_shapes(*(t.shape for t in tensors))
    except RuntimeError as err:
        shapes = ", ".join(f"{n} {tuple(t.shape)}" for n, t in zip(names, tensors))
        raise ValueError(
            f"shapes do not broadcast: {shapes}. Give them the same shape, or shapes that "
            f"broadcast (e.g. (B, K) with (K,))."
        ) from err


def positive_number(name: str, value: float) -> float:
    """Raise a ValueError unless ``value`` is a finite number > 0 (a numpy or 0-d tensor number is fine)."""
    value = _plain_number(value)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}.")
    return float(value)


def number(name: str, value, *, low: float = -math.inf, high: float = math.inf, explain: str = "") -> float:
    """Raise a ValueError unless ``value`` is a finite number in [low, high] (bools refused)."""
    value = _plain_number(value)
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        span = "" if (low, high) == (-math.inf, math.inf) else f" in [{low}, {high}]"
        raise ValueError(f"{name} must be a finite number{span}; got {value!r}. {explain}".rstrip())
    return float(value)


def _plain_number(value):
    if isinstance(value, Tensor) and value.numel() == 1 and value.dtype is not torch.bool:
        return value.item()
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0 and value.dtype.kind in "iuf":
        return value.item()
    return value


def positive_int(name: str, value: int) -> int:
    """Raise a ValueError unless ``value`` is an int >= 1 (a numpy integer is fine)."""
    if is_numpy_int(value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {value!r}.")
    return value


def hidden_dims(value) -> tuple[int, ...]:
    """Return the hidden-layer sizes as a tuple, or raise a ValueError saying how to write them."""
    if (
        value is None
        or isinstance(value, (int, str, bytes))
        or not hasattr(value, "__iter__")
        or not all(isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in value)
    ):
        raise ValueError(
            f"hidden_dims must be a sequence of integers >= 1 (one per hidden layer); got "
            f"{value!r}. Write hidden_dims=[256] for one hidden layer of 256 units, or [] for none."
        )
    return tuple(value)
