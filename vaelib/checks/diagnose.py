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


def _flat_values(evidence: Sequence[tuple[Case, Any, Any]], term: Term | None) -> torch.Tensor | None:
    """Every case's numbers in one flat tensor: the student's (``term`` None) or the term's, shaped like the answer."""
    parts = []
    for case, got, expected in evidence:
        if term is None:
            value = as_tensor(got)
        else:
            ok, raw = quiet_call(term.fn, case)
            value = as_tensor(raw) if ok else None
        e = as_tensor(expected)
        if value is None or e is None:
            return None
        if term is None and value.shape != e.shape:
            return None  # a wrong shape is reported as such, not diagnosed
        if value.numel() == e.numel():
            value = value.reshape(e.shape)
        elif value.numel() == 1:
            value = value.reshape(()).expand_as(e)
        else:
            return None
        parts.append(value.flatten())
    return torch.cat(parts) if parts else None


def term_diagnosis(evidence: Sequence[tuple[Case, Any, Any]], terms: Sequence[Term]) -> str:
    """Which term of the formula is off, from ``(case, student's answer, right answer)`` on every case it ran.

    Pooling the cases lets scalar answers be diagnosed too: a cross term that vanishes at b = 0
    is identified from the cases with b != 0. Needs at least 3 numbers in all.
    """
    evidence = [(c, g, e) for c, g, e in evidence if as_tensor(g) is not None and as_tensor(e) is not None]
    g = _flat_values(evidence, None)
    e = torch.cat([as_tensor(x).flatten() for _, _, x in evidence]) if evidence else None
    if g is None or e is None or g.shape != e.shape or e.numel() < 3:  # too few numbers to tell terms apart
        return ""
    atol = max(case.atol for case, _, _ in evidence)
    d = g - e
    for term in terms:
        t = _flat_values(evidence, term)
        c = _fit_multiple(d, t, atol) if t is not None else None
        if c is None:
            continue
        for factor, words in _NAMED_FACTORS:
            if abs(c - factor) < 1e-3:
                return f"the {term.name} {words}: your answer = right answer {'+' if c > 0 else '-'} {abs(c):.3g} x ({term.name})."
        return f"your answer differs from the right one by {c:.4g} x ({term.name}): look at the factor on that term."
    c = _fit_multiple(g, e, atol)
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
