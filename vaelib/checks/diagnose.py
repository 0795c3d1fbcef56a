"""What is known about a wrong value: a listed mistake it agrees with on every case, or a term of
the formula that is missing, doubled or of the wrong sign, or a constant factor."""

from __future__ import annotations

from typing import Any, Sequence

import torch

from vaelib.checks.cases import Case, Mistake, Term
from vaelib.checks.running import quiet_call
from vaelib.checks.values import as_tensor, compare

_NAMED_FACTORS = [
    (-1.0, "is missing"),
    (1.0, "is counted twice"),
    (-2.0, "has the wrong sign"),
    (-0.5, "is counted only half (a factor 1/2 too many?)"),
]


def _fit_multiple(d: torch.Tensor, t: torch.Tensor, atol: float) -> float | None:
    """c with d = c * t (to within atol), or None."""
    norm = float((t * t).sum())
    if norm < 1e-20:
        return None
    c = float((d * t).sum()) / norm
    if abs(c) < 1e-6 or not torch.allclose(d, c * t, atol=max(atol, 1e-6 * float(d.abs().max())), rtol=1e-4):
        return None
    return c


def term_diagnosis(got: Any, case: Case, expected: Any, terms: Sequence[Term]) -> str:
    g, e = as_tensor(got), as_tensor(expected)
    if g is None or e is None or g.shape != e.shape or e.numel() < 3:  # too few numbers to tell terms apart
        return ""
    d = g - e
    for term in terms:
        ok, value = quiet_call(term.fn, case)
        t = as_tensor(value) if ok else None
        if t is None:
            continue
        t = t.expand_as(e) if t.shape != e.shape and t.numel() in (1, e.numel()) else t
        if t.shape != e.shape:
            continue
        c = _fit_multiple(d, t, case.atol)
        if c is None:
            continue
        for factor, words in _NAMED_FACTORS:
            if abs(c - factor) < 1e-3:
                return f"the {term.name} {words}: your answer = right answer {'+' if c > 0 else '-'} {abs(c):.3g} x ({term.name})."
        return f"your answer differs from the right one by {c:.4g} x ({term.name}): look at the factor on that term."
    c = _fit_multiple(g, e, case.atol)
    if c is not None and abs(c - 1) > 1e-3:
        return f"your answer is {c:.4g} times the right one: a constant factor (a 1/2, a sign, a sum instead of a mean?) is off."
    return ""


def agrees_everywhere(mistake: Mistake, results: list[tuple[Case, Any]]) -> bool:
    """The student's answer agrees with ``mistake`` on every case the student's code ran on."""
    for case, got in results:
        ok, wrong = quiet_call(mistake.fn, case)
        if not ok:
            return False
        try:
            if compare(got, wrong, case.atol, case.rtol, low_precision=True) is not None:
                return False
        except Exception:
            return False
    return bool(results)


def low_precision(case: Case) -> bool:
    tensors = [a for a in (*case.args, *case.kwargs.values()) if isinstance(a, torch.Tensor)]
    return any(t.dtype in (torch.float32, torch.float16, torch.bfloat16) for t in tensors)
