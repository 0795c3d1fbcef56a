"""Input validation shared by every vaelib module.

Each helper raises ``ValueError`` (or ``TypeError``) with a message that names the argument,
says what was received and what was expected, and what to do about it.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

from vaelib._random import (  # noqa: F401  (re-exported: one home for argument contracts)
    draw_with_generator,
    fresh_uniform,
    generator,
    is_numpy_int,
    noise_shape,
    randn,
    sample_shape_tuple,
    seed,
)


class NonFiniteError(ValueError):
    """Raised for input holding NaN or infinity.

    A subclass of ``ValueError`` (so ``except ValueError`` still catches it), distinct so that a
    caller can tell "this tensor went non-finite" (a diverging model, in ``fit``'s guard) from
    every other bad argument by type rather than by the message's wording.
    """


def _describe(t: Tensor) -> str:
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
            f"{name} must be a floating-point tensor; got {_describe(t)}. Convert it first, e.g. {name}.float()."
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
            f"{name} is empty ({_describe(t)}); it needs at least one value. Check the slice or "
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


def scale_tril(name: str, value, mu_name: str, mu: Tensor) -> Tensor:
    """A Cholesky factor ``(..., K, K)`` for the mean ``mu`` ``(..., K)``: square, K matching, finite,
    lower-triangular with a strictly positive diagonal, batch shapes broadcasting; else a ValueError.

    A general square factor S (as a network's reshaped K*K output) is refused with the fix
    ``torch.linalg.cholesky(S @ S.mT)``: a density or KL computed from a non-triangular S as if
    it were triangular is silently wrong.
    """
    scale_tril = as_tensor(name, value, like=mu, cast=True)
    square_matrices(
        name,
        scale_tril,
        mu_name,
        mu,
        "a lower-triangular K x K matrix",
        "Build it with vaelib.reparam.scale_tril_from_unconstrained(raw, K).",
    )
    finite(name, scale_tril)
    above = torch.triu(scale_tril, diagonal=1)
    if (above != 0).any():
        n_bad = int((above != 0).sum())
        worst = above.abs().max().item()
        raise ValueError(
            f"{name} must be lower-triangular (zeros above the diagonal); got {n_bad} nonzero "
            f"entries above the diagonal, the largest |value| {worst:.4g} (shape "
            f"{tuple(scale_tril.shape)}). Use torch.tril(...) or "
            f"vaelib.reparam.scale_tril_from_unconstrained; for a general square factor S "
            f"(covariance S S^T) pass torch.linalg.cholesky(S @ S.mT)."
        )
    diag = scale_tril.diagonal(dim1=-2, dim2=-1)
    if (diag <= 0).any():
        raise ValueError(
            f"{name} must have a strictly positive diagonal (it is a Cholesky factor); got "
            f"{int((diag <= 0).sum())} diagonal entries <= 0, the smallest "
            f"{diag.min().item():.4g} (shape {tuple(scale_tril.shape)}). Map the raw diagonal "
            f"through softplus or exp, as vaelib.reparam.scale_tril_from_unconstrained does."
        )
    try:
        torch.broadcast_shapes(mu.shape[:-1], scale_tril.shape[:-2])
    except RuntimeError as err:
        raise ValueError(
            f"the batch shapes of {mu_name} {tuple(mu.shape[:-1])} and {name} "
            f"{tuple(scale_tril.shape[:-2])} do not broadcast (full shapes {tuple(mu.shape)} and "
            f"{tuple(scale_tril.shape)}). Use mu (B, K) with scale_tril (B, K, K)."
        ) from err
    return scale_tril


def covariance(name: str, value, K: int | None = None, *, like: Tensor | None = None) -> Tensor:
    """A finite, symmetric ``(K, K)`` matrix (a covariance or a precision), or a ValueError naming ``name``."""
    cov = real(name, value, like=like, cast=True)
    if cov.dim() != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(
            f"{name} must be a square (K, K) covariance matrix; got shape {tuple(cov.shape)}. "
            f"Pass one matrix, e.g. S @ S.T."
        )
    if K is not None and cov.shape[0] != K:
        raise ValueError(
            f"{name} must have shape (K, K) = ({K}, {K}) to match the {K}-dim mean/samples; got shape "
            f"{tuple(cov.shape)}. Use the covariance of the same variables."
        )
    if not torch.allclose(cov, cov.T, atol=1e-6, rtol=1e-5):
        raise ValueError(
            f"{name} must be symmetric; the largest |cov - cov.T| is "
            f"{(cov - cov.T).abs().max().item():.3g}. Build it as S @ S.T, or symmetrise it with "
            f"(cov + cov.T) / 2."
        )
    return cov


def cholesky(name: str, cov: Tensor) -> Tensor:
    """The Cholesky factor of ``cov``, or a ValueError saying it is not positive definite."""
    L, info = torch.linalg.cholesky_ex(cov)
    if info.item() != 0:
        raise ValueError(
            f"{name} must be positive definite (a density exists only then); its Cholesky "
            f"factorisation failed at column {info.item()} (smallest eigenvalue "
            f"{torch.linalg.eigvalsh(cov).min().item():.3g}). A singular covariance describes a "
            f"degenerate Gaussian that lives on a subspace: it has no density and no Mahalanobis distance."
        )
    return L


# ---------------------------------------------------------------------------------------------
# Contracts shared by the samplers (reparam, families, relaxations) and the estimators
# ---------------------------------------------------------------------------------------------


_generator = generator  # for uniform_noise, whose argument of the same name shadows it


def uniform_noise(name: str, u, like: Tensor, shape: torch.Size, generator) -> Tensor:
    """Validate the user's uniform noise ``u`` (strictly inside (0, 1)) or draw fresh noise."""
    generator = _generator(generator)
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
    return _require_positive(name, t) if positive else t


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
    lo, hi = (float(v) for v in torch.aminmax(t.detach()))  # one pass; NaN and inf propagate to the min or max
    if not (math.isfinite(lo) and math.isfinite(hi)):
        finite(name, t)
    if lo < 0 or hi > 1:
        raise ValueError(
            f"{name} must hold values in [0, 1] ({why} range); got values in [{lo:.4g}, {hi:.4g}] "
            f"({_describe(t)}). {fix}"
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
