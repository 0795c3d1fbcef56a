"""Input validation shared by every vaelib module.

Each helper raises ``ValueError`` (or ``TypeError``) with a message that names the argument,
says what was received and what was expected, and what to do about it.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor


class NonFiniteError(ValueError):
    """Raised for input holding NaN or infinity.

    A subclass of ``ValueError`` (so ``except ValueError`` still catches it), distinct so that a
    caller can tell "this tensor went non-finite" (a diverging model, in ``fit``'s guard) from
    every other bad argument by type rather than by the message's wording.
    """


def _describe(t: Tensor) -> str:
    return f"shape {tuple(t.shape)}, dtype {t.dtype}"


def as_tensor(name: str, value, *, like: Tensor | None = None) -> Tensor:
    """Return ``value`` as a floating tensor, or raise a TypeError naming ``name``."""
    if isinstance(value, Tensor):
        t = value
    else:
        try:
            t = torch.as_tensor(value, dtype=like.dtype if like is not None else torch.get_default_dtype())
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"{name} must be a tensor or array-like of numbers; got {type(value).__name__}. "
                f"Pass a torch.Tensor."
            ) from err
    if not t.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor; got {_describe(t)}. "
            f"Convert it first, e.g. {name}.float()."
        )
    return t


def finite(name: str, t: Tensor) -> Tensor:
    """Raise a :class:`NonFiniteError` if ``t`` holds NaN or infinity."""
    if not torch.isfinite(t).all():
        bad = (~torch.isfinite(t)).sum().item()
        raise NonFiniteError(
            f"{name} contains {bad} non-finite value(s) (NaN or inf) out of {t.numel()} "
            f"({_describe(t)}). Check the computation that produced it (an exploding "
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
            f"({_describe(t)}). Map an unconstrained output through softplus or exp to make "
            f"it positive."
        )
    return t


_require_positive = positive  # for parameter(), whose flag of the same name shadows it


def min_dims(name: str, t: Tensor, n: int, meaning: str) -> Tensor:
    """Raise a ValueError unless ``t`` has at least ``n`` dimensions (``meaning`` names them)."""
    if t.dim() < n:
        raise ValueError(
            f"{name} must have at least {n} dimension(s) {meaning}; got {_describe(t)}. "
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
    """Raise a ValueError unless ``value`` is a finite number > 0."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}.")
    return float(value)


def positive_int(name: str, value: int) -> int:
    """Raise a ValueError unless ``value`` is an int >= 1."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {value!r}.")
    return value


def hidden_dims(value) -> tuple[int, ...]:
    """Return the hidden-layer sizes as a tuple, or raise a ValueError saying how to write them."""
    if isinstance(value, int) or not all(isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in value):
        raise ValueError(
            f"hidden_dims must be a sequence of integers >= 1 (one per hidden layer); got "
            f"{value!r}. Write hidden_dims=[256] for one hidden layer of 256 units, or [] for none."
        )
    return tuple(value)


def square_matrices(name: str, t: Tensor, mu_name: str, mu: Tensor, what: str, fix: str) -> Tensor:
    """Raise a ValueError unless ``t`` is a batch of K x K matrices ``(..., K, K)`` with ``mu``'s K.

    Args:
        name, t: the matrices and their argument name.
        mu_name, mu: the means ``(..., K)`` they go with.
        what: what a matrix must be ("a square matrix", "a lower-triangular K x K matrix").
        fix: how to build one, appended to the shape error.
    """
    if t.dim() < 2 or t.shape[-1] != t.shape[-2]:
        raise ValueError(f"{name} must be {what} per row, shape (..., K, K); got shape {tuple(t.shape)}. {fix}")
    K = mu.shape[-1]
    if t.shape[-1] != K:
        raise ValueError(
            f"{mu_name} has K={K} latent dimensions (shape {tuple(mu.shape)}) but {name} is "
            f"{t.shape[-2]} x {t.shape[-1]} (shape {tuple(t.shape)}). Both must describe the same "
            f"K latent dimensions."
        )
    return t


# ---------------------------------------------------------------------------------------------
# Contracts shared by the samplers (reparam, families, relaxations) and the estimators
# ---------------------------------------------------------------------------------------------


def sample_shape_tuple(sample_shape) -> tuple[int, ...]:
    """``sample_shape`` as a tuple of non-negative ints, or a ValueError."""
    if isinstance(sample_shape, int) and not isinstance(sample_shape, bool):
        sample_shape = (sample_shape,)
    try:
        shape = tuple(int(n) for n in sample_shape)
        ok = all(n >= 0 for n in shape) and all(
            isinstance(n, int) and not isinstance(n, bool) for n in sample_shape
        )
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(
            f"sample_shape must be a tuple of non-negative ints such as (16,) or (); got "
            f"{sample_shape!r}."
        )
    return shape



def noise_shape(sample_shape: Sequence[int], *shapes: torch.Size) -> torch.Size:
    """The shape of fresh noise: ``sample_shape`` followed by the broadcast parameter shape."""
    return torch.Size(sample_shape_tuple(sample_shape)) + torch.broadcast_shapes(*shapes)


def fresh_uniform(shape: torch.Size, like: Tensor, generator: torch.Generator | None) -> Tensor:
    """Uniform(0, 1) noise kept strictly inside (0, 1), so that log(u) and log(1 - u) are finite."""
    u = torch.rand(shape, dtype=like.dtype, device=like.device, generator=generator)
    tiny = torch.finfo(like.dtype).tiny
    return u.clamp(min=tiny, max=1.0 - torch.finfo(like.dtype).eps)


def uniform_noise(name: str, u, like: Tensor, shape: torch.Size, generator) -> Tensor:
    """Validate the user's uniform noise ``u`` (strictly inside (0, 1)) or draw fresh noise."""
    if u is None:
        return fresh_uniform(shape, like, generator)
    u = as_tensor(name, u, like=like)
    finite(name, u)
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
    t = as_tensor(name, value, like=like)
    finite(name, t)
    return _require_positive(name, t) if positive else t


def temperature(value) -> float:
    """The Concrete temperature: a finite number > 0."""
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value <= 0
    ):
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
            f"{name} must hold at least one row ({meaning}); got {_describe(t)}. An empty batch "
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
    lo, hi, finite_all = torch.stack([t.min(), t.max(), torch.isfinite(t).all().to(t.dtype)]).tolist()
    if not finite_all:
        finite(name, t)
    if lo < 0 or hi > 1:
        raise ValueError(
            f"{name} must hold values in [0, 1] ({why} range); got values in [{lo:.4g}, {hi:.4g}] "
            f"({_describe(t)}). {fix}"
        )
    return t


def generator(name: str, value) -> "torch.Generator | None":
    """Return ``value`` if it is None or a ``torch.Generator``, else raise a TypeError saying what to pass."""
    if value is None or isinstance(value, torch.Generator):
        return value
    hint = (
        f"To seed the draws with {value!r}, pass {name}=torch.Generator().manual_seed({value!r})."
        if isinstance(value, int) and not isinstance(value, bool)
        else f"Pass {name}=torch.Generator().manual_seed(SEED), or None for torch's global generator."
    )
    raise TypeError(f"{name} must be a torch.Generator or None; got {type(value).__name__} {value!r}. {hint}")


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
