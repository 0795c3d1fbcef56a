"""Describing values and comparing the student's result with the expected one (shape, dtype, NaN,
values, with float32 tolerances)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def format_value(value: Any, max_items: int = 6) -> str:
    """A short, readable description of a value (shape, dtype and the first entries)."""
    if isinstance(value, torch.Tensor):
        flat = value.detach().flatten()
        if flat.dtype == torch.bool:
            items = ", ".join(str(v) for v in flat[:max_items].tolist())
        elif flat.is_complex():
            items = ", ".join(str(v) for v in flat[:max_items].tolist())
        else:
            items = ", ".join(f"{v:.4g}" for v in flat[:max_items].tolist())
        more = ", ..." if flat.numel() > max_items else ""
        grad = ", requires grad" if value.requires_grad else ""
        return f"tensor of shape {tuple(value.shape)}, dtype {value.dtype}{grad}: [{items}{more}]"
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            return f"numpy array of shape {value.shape}, dtype {value.dtype}"
        return format_value(torch.from_numpy(np.asarray(value, dtype=float)), max_items).replace(
            "tensor", "numpy array", 1
        )
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (tuple, list)):
        inner = ", ".join(format_value(v, max_items) for v in value[:max_items])
        return f"{type(value).__name__} of {len(value)}: ({inner})"
    if value is None:
        return "None (did you forget a return statement?)"
    return repr(value)


def as_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bool or value.is_complex():
            return None
        return value.detach().to(torch.float64)
    if isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_)):
        return torch.as_tensor(float(value), dtype=torch.float64)
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
        return torch.as_tensor(np.asarray(value, dtype=np.float64))
    return None


def _shape_advice(got: tuple, expected: tuple) -> str:
    """What a shape mismatch usually means."""
    if len(got) == len(expected) + 1 and got[: len(expected)] == expected:
        return f" (one dimension too many, of size {got[-1]}: did you forget to sum over the last dimension, or keep it with keepdim=True?)"
    if len(got) + 1 == len(expected) and expected[: len(got)] == got:
        return " (one dimension too few: you reduced over a dimension the answer keeps)"
    if got == () and expected != ():
        return " (a single number: you reduced over the batch; return one value per row)"
    if expected == () and got != ():
        return " (the answer is a single number: reduce over every dimension)"
    if sorted(got) == sorted(expected):
        return " (the same sizes in another order: a transpose too many or too few?)"
    return ""


def _float32_tolerances(atol: float, rtol: float, expected: torch.Tensor) -> tuple[float, float]:
    scale = max(1.0, float(expected.abs().max())) if expected.numel() else 1.0
    return max(atol, 2e-5 * scale), max(rtol, 2e-4)


def compare(got: Any, expected: Any, atol: float, rtol: float, low_precision: bool = False) -> str | None:
    """None if ``got`` matches ``expected``, else a sentence saying how it differs."""
    if callable(expected):
        return expected(got)
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"expected a tuple of {len(expected)} values, got {format_value(got)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            why = compare(g, e, atol, rtol, low_precision)
            if why:
                return f"item {i} of the returned tuple: {why}"
        return None
    if isinstance(expected, bool):
        if isinstance(got, torch.Tensor) and got.numel() == 1 and got.dtype == torch.bool:
            return f"your answer is a tensor ({format_value(got)}); return a Python bool: bool(...) or .item()"
        if not isinstance(got, (bool, np.bool_)):
            return f"expected True or False, got {format_value(got)}"
        return None if bool(got) == expected else f"expected {expected}, got {bool(got)}"
    e = as_tensor(expected)
    if e is None:
        return None if got == expected else f"expected {expected!r}, got {format_value(got)}"
    return _compare_numbers(got, expected, e, atol, rtol, low_precision)


def _compare_numbers(
    got: Any, expected: Any, e: torch.Tensor, atol: float, rtol: float, low_precision: bool
) -> str | None:
    g = as_tensor(got)
    if g is None:
        return f"expected a number or tensor, got {type(got).__name__}: {format_value(got)}"
    if g.shape != e.shape:
        return f"expected shape {tuple(e.shape)}, got shape {tuple(g.shape)}{_shape_advice(tuple(g.shape), tuple(e.shape))}"
    if not torch.isfinite(g).all() and torch.isfinite(e).all():
        where = tuple(int(i) for i in torch.nonzero(~torch.isfinite(g))[0]) if g.dim() else ()
        return (
            f"the result contains NaN or inf (first at index {where}): an overflow (exp of a large number) or log of 0"
        )
    want_float64 = isinstance(expected, torch.Tensor) and expected.dtype == torch.float64
    if want_float64 and isinstance(got, torch.Tensor) and got.dtype in (torch.float32, torch.float16, torch.bfloat16):
        if not low_precision:
            return (
                f"your result is {str(got.dtype).replace('torch.', '')} but the inputs are float64: somewhere you made a "
                f"lower-precision tensor (torch.tensor(2.0), torch.zeros(n), torch.eye(K) default to float32); "
                f"pass dtype=x.dtype or use x.new_tensor(...)"
            )
    if low_precision:
        atol, rtol = _float32_tolerances(atol, rtol, e)
    if not torch.allclose(g, e, atol=atol, rtol=rtol, equal_nan=True):
        diff = torch.nan_to_num((g - e).abs(), nan=float("inf"))
        flat = int(diff.flatten().argmax())
        where = tuple(int(i) for i in np.unravel_index(flat, tuple(g.shape))) if g.dim() else ()
        at = f" at index {where}" if where else ""
        return f"values differ from the expected ones (largest difference {diff.flatten()[flat].item():.4g}{at})"
    return None
