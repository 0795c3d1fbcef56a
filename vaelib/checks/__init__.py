"""Auto-checks for the exercise sheets.

A sheet calls a check right after the student's answer, for example
``vaelib.checks.sheet03.check_kl_diag(kl_diag)``. The check runs the student's function on
a few cases and either prints one line saying all passed, or raises :class:`CheckFailed` with
a message that says which case failed, what was expected, what came back, and a hint. Where the
answer matches a known typical mistake (:class:`Mistake`), the hint names that mistake.

An unanswered exercise raises ``NotImplementedError``; checks let it through unchanged, so an
untouched exercise sheet fails only at its blanks.

Per-sheet checks live in ``vaelib/checks/sheetNN.py`` and are built from
:func:`check_function` and :func:`check_value`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

__all__ = ["Case", "Mistake", "CheckFailed", "check_function", "check_value", "format_value", "inverse_cdf_verdict"]


class CheckFailed(AssertionError):
    """Raised by a check when the student's answer is wrong; the message explains why."""


@dataclass
class Case:
    """One input on which the student's function is run.

    Args:
        args: positional arguments (copied before each call, so in-place edits do no harm).
        expected: the right answer (tensor, array or number), or a callable that takes the
            student's result and returns ``None`` if it is acceptable or a string saying what
            is wrong (for answers that are random, or only need to satisfy a property).
        label: a short description of the case, shown when it fails.
        kwargs: keyword arguments.
        atol, rtol: tolerances for comparing numbers.
    """

    args: tuple
    expected: Any
    label: str = ""
    kwargs: dict = field(default_factory=dict)
    atol: float = 1e-5
    rtol: float = 1e-4


@dataclass
class Mistake:
    """A typical wrong answer: a function with the student's signature, and what to say."""

    fn: Callable
    hint: str


def format_value(value: Any, max_items: int = 6) -> str:
    """A short, readable description of a value (shape, dtype and the first entries)."""
    if isinstance(value, torch.Tensor):
        flat = value.detach().flatten()
        items = ", ".join(f"{v:.4g}" for v in flat[:max_items].tolist())
        more = ", ..." if flat.numel() > max_items else ""
        return f"tensor of shape {tuple(value.shape)}, dtype {value.dtype}: [{items}{more}]"
    if isinstance(value, np.ndarray):
        return format_value(torch.from_numpy(np.asarray(value, dtype=float)), max_items).replace("tensor", "array", 1)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (tuple, list)):
        inner = ", ".join(format_value(v, max_items) for v in value[:max_items])
        return f"{type(value).__name__} of {len(value)}: ({inner})"
    return repr(value)


def _as_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value.detach().to(torch.float64)
    if isinstance(value, (int, float, np.ndarray, np.number)) and not isinstance(value, bool):
        return torch.as_tensor(np.asarray(value, dtype=np.float64))
    return None


def _compare(got: Any, expected: Any, atol: float, rtol: float) -> str | None:
    """None if ``got`` matches ``expected``, else a sentence saying how it differs."""
    if callable(expected):
        return expected(got)
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"expected a tuple of {len(expected)} values, got {format_value(got)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            why = _compare(g, e, atol, rtol)
            if why:
                return f"item {i} of the returned tuple: {why}"
        return None
    e = _as_tensor(expected)
    g = _as_tensor(got)
    if e is None:
        return None if got == expected else f"expected {expected!r}, got {format_value(got)}"
    if g is None:
        return f"expected a number or tensor, got {type(got).__name__}: {got!r}"
    if g.shape != e.shape:
        return f"expected shape {tuple(e.shape)}, got shape {tuple(g.shape)}"
    if not torch.isfinite(g).all() and torch.isfinite(e).all():
        return "the result contains NaN or inf"
    if not torch.allclose(g, e, atol=atol, rtol=rtol, equal_nan=True):
        diff = (g - e).abs().max().item()
        return f"values differ from the expected ones (largest difference {diff:.4g})"
    return None


def _matches(fn: Callable, args: tuple, kwargs: dict, got: Any, atol: float, rtol: float) -> bool:
    try:
        wrong = fn(*copy.deepcopy(args), **copy.deepcopy(kwargs))
    except Exception:  # a mistake that does not apply to this case
        return False
    try:
        return _compare(got, wrong, atol, rtol) is None
    except Exception:
        return False


def check_function(
    fn: Callable,
    cases: Sequence[Case],
    *,
    exercise: int,
    name: str | None = None,
    hint: str = "",
    mistakes: Sequence[Mistake] = (),
    quiet: bool = False,
) -> None:
    """Run ``fn`` on every case; print a one-line pass, or raise :class:`CheckFailed`.

    Args:
        fn: the student's function.
        cases: inputs with their expected results.
        exercise: the exercise number, shown in every message.
        name: the function's name as the sheet calls it (defaults to ``fn.__name__``).
        hint: the generic hint shown when no known mistake matches.
        mistakes: typical wrong answers; the first that reproduces the student's result on
            the failing case gives the hint.
        quiet: do not print the success line.

    Raises:
        NotImplementedError: unchanged, when the exercise has not been answered yet.
        CheckFailed: on the first failing case.
    """
    if not callable(fn):
        raise CheckFailed(f"Exercise {exercise}: expected a function, got {type(fn).__name__}.")
    name = name or getattr(fn, "__name__", "your function")
    for i, case in enumerate(cases, 1):
        label = case.label or f"case {i}"
        try:
            got = fn(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
        except NotImplementedError:
            raise
        except Exception as err:  # the student's code crashed: say where, keep the cause
            raise CheckFailed(
                f"Exercise {exercise}, {label}: {name} raised {type(err).__name__}: {err}\n"
                f"Hint: {hint or 'run it by hand on this input and read the traceback.'}"
            ) from err
        why = _compare(got, case.expected, case.atol, case.rtol)
        if why is None:
            continue
        advice = hint
        for mistake in mistakes:
            if _matches(mistake.fn, case.args, case.kwargs, got, case.atol, case.rtol):
                advice = mistake.hint
                break
        expected_text = "(a property, see above)" if callable(case.expected) else format_value(case.expected)
        raise CheckFailed(
            f"Exercise {exercise}, {label}: {why}.\n"
            f"  expected: {expected_text}\n"
            f"  got:      {format_value(got)}\n"
            f"Hint: {advice or 'compare your code with the formula above, term by term.'}"
        )
    if not quiet:
        print(f"Exercise {exercise}: {name} passed all {len(cases)} checks.")


def check_value(
    value: Any,
    expected: Any,
    *,
    exercise: int,
    label: str,
    hint: str = "",
    atol: float = 1e-5,
    rtol: float = 1e-4,
    quiet: bool = False,
) -> None:
    """Check a value the student computed (not a function) against ``expected``.

    ``expected`` may be a callable returning ``None`` when ``value`` is acceptable or a string
    saying what is wrong.
    """
    why = _compare(value, expected, atol, rtol)
    if why is not None:
        expected_text = "(a property, see above)" if callable(expected) else format_value(expected)
        raise CheckFailed(
            f"Exercise {exercise}, {label}: {why}.\n"
            f"  expected: {expected_text}\n"
            f"  got:      {format_value(value)}\n"
            f"Hint: {hint or 'compare your code with the formula above, term by term.'}"
        )
    if not quiet:
        print(f"Exercise {exercise}: {label} is correct.")


def inverse_cdf_verdict(u: torch.Tensor, right: Sequence[torch.Tensor], formula: str, params: str) -> Callable:
    """A :class:`Case` property for an inverse-CDF sampler evaluated at fixed noise ``u``.

    Accepts a tensor of ``u``'s shape equal to one of ``right`` (usually F^-1(u) and
    F^-1(1 - u): both have the target law, since 1 - U ~ U) that carries a gradient.

    Args:
        u: the Uniform(0, 1) noise the student's sampler receives.
        right: the acceptable answers.
        formula: the inverse CDF, as shown in the message (``"F^-1(u) = -log(1 - u) / rate"``).
        params: the parameters the gradient must reach, for the message (``"rate"``).
    """

    def verdict(got):
        if not isinstance(got, torch.Tensor):
            return f"expected a tensor of shape {tuple(u.shape)}, got {type(got).__name__}"
        if got.shape != u.shape:
            return f"expected shape {tuple(u.shape)} (one sample per u), got shape {tuple(got.shape)}"
        values = got.detach().to(torch.float64)
        if not any(torch.allclose(values, r.detach().to(torch.float64), rtol=1e-6, atol=1e-9) for r in right):
            return f"values differ from the inverse CDF {formula}"
        if not got.requires_grad:
            return f"the values are right but no gradient reaches {params} (got.requires_grad is False)"
        return None

    return verdict
