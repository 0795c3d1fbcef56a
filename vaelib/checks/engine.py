"""The checks themselves: :func:`check_function` runs the student's function on every case, simplest
first; :func:`check_value` checks a computed value; :func:`inverse_cdf_verdict` is a case property
for inverse-CDF samplers."""

from __future__ import annotations

import copy
from typing import Any, Callable, Sequence

import torch

from vaelib.checks.cases import Case, CheckFailed, Mistake, Term
from vaelib.checks.diagnose import agrees_everywhere, low_precision, term_diagnosis
from vaelib.checks.probes import draws_own_noise, gradient_problem, ignores_noise
from vaelib.checks.running import call, quiet_call
from vaelib.checks.values import compare, format_value


def _expected(case: Case, reference: Callable | None) -> Any:
    if case.expected is not None or reference is None:
        return case.expected
    return reference(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))


def _failure(exercise: int, label: str, why: str, expected: Any, got: Any, advice: str, known: str = "") -> CheckFailed:
    expected_text = "(a property, see above)" if callable(expected) else format_value(expected)
    known_text = f"What the numbers say: {known}\n" if known else ""
    return CheckFailed(
        f"Exercise {exercise}, {label}: {why}.\n"
        f"  expected: {expected_text}\n"
        f"  got:      {format_value(got)}\n"
        f"{known_text}"
        f"Hint: {advice or 'compare your code with the formula above, term by term.'}"
    )


def _advice(fn, cases, index, got, expected, mistakes, terms, hint, reference=None) -> tuple[str, str]:
    """(hint, what is known) for a wrong value: a mistake that fits every case, else what the numbers say."""
    results = [(cases[index], got)]
    for j, other in enumerate(cases):
        if j != index:  # property cases too: a mistake is named only if it fits every case
            ok, value = quiet_call(fn, other)
            if ok:
                results.append((other, value))
    for mistake in mistakes:
        if agrees_everywhere(mistake, results):
            return mistake.hint, ""
    known = ""
    if not callable(expected):
        evidence = [(cases[index], got, expected)]
        for other, value in results[1:]:
            try:
                evidence.append((other, value, _expected(other, reference)))
            except Exception:  # a reference that cannot run on this case tells nothing
                continue
        # all cases pooled (scalar answers, a term that vanishes in the simple cases), else the failing one alone
        known = term_diagnosis(evidence, terms) or term_diagnosis(evidence[:1], terms)
    passed = [c.label or f"case {j + 1}" for j, c in enumerate(cases[:index])]
    if passed:
        known = f"{known} The simpler cases passed: {'; '.join(passed)}.".strip()
    return cases[index].hint or hint, known


def check_function(
    fn: Callable,
    cases: Sequence[Case],
    *,
    exercise: int,
    name: str | None = None,
    hint: str = "",
    mistakes: Sequence[Mistake] = (),
    terms: Sequence[Term] = (),
    reference: Callable | None = None,
    noise: int | None = None,
    quiet: bool = False,
) -> None:
    """Run ``fn`` on every case; print a one-line pass, or raise :class:`CheckFailed`.

    Args:
        fn: the student's function.
        cases: inputs with their expected results, simplest first.
        exercise: the exercise number, shown in every message.
        name: the function's name as the sheet calls it (defaults to ``fn.__name__``).
        hint: the generic hint, shown when no known mistake fits.
        mistakes: typical wrong answers; one is named only if it agrees with the student's answer
            on every case.
        terms: the additive terms of the right answer, to say which one is off.
        reference: the right function (for ``Case.expected = None`` and for gradients).
        noise: the index of the noise argument, for every case (``Case.noise`` overrides it).
        quiet: do not print the success line.

    Raises:
        NotImplementedError: unchanged, when the exercise has not been answered yet.
        CheckFailed: on the first failing case.
    """
    if not callable(fn):
        raise CheckFailed(
            f"Exercise {exercise}: expected a function, got {type(fn).__name__}: define it with def, then pass its name."
        )
    name = name or getattr(fn, "__name__", "your function")
    for i, case in enumerate(cases):
        label = case.label or f"case {i + 1}"
        expected = _expected(case, reference)
        got = call(fn, case.args, case.kwargs, exercise=exercise, name=name, label=label, hint=case.hint or hint)
        why = compare(got, expected, case.atol, case.rtol, low_precision(case))
        where_noise = case.noise if case.noise is not None else noise
        if where_noise is not None and (why is not None or callable(expected)):
            noise_why = draws_own_noise(fn, case, where_noise, got, exercise, name, label)
            if noise_why:
                raise _failure(exercise, label, noise_why, expected, got, case.hint or hint)
        if why is not None:
            advice, known = _advice(fn, cases, i, got, expected, mistakes, terms, hint, reference)
            if where_noise is not None and advice in (case.hint, hint):  # no listed mistake fits
                known = ignores_noise(fn, case, where_noise, got, exercise, name, label) or known
            raise _failure(exercise, label, why, expected, got, advice, known)
        if case.grad and reference is not None:
            why = gradient_problem(fn, reference, case, exercise, name, label)
            if why:
                raise _failure(exercise, label, why, expected, got, case.hint or hint)
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
    try:
        why = compare(value, expected, atol, rtol)
    except Exception as err:  # a property that cannot even be evaluated on this value
        why = f"could not check it ({type(err).__name__}: {err})"
    if why is not None:
        raise _failure(exercise, label, why, expected, value, hint)
    if not quiet:
        print(f"Exercise {exercise}: {label} is correct.")


def inverse_cdf_verdict(u: torch.Tensor, right: Sequence[torch.Tensor], formula: str, params: str) -> Callable:
    """A :class:`Case` property for an inverse-CDF sampler evaluated at fixed noise ``u``.

    Accepts a tensor of ``u``'s shape equal to one of ``right`` (usually F^-1(u) and F^-1(1 - u):
    both have the target law, since 1 - U ~ U) that carries a gradient. Every sheet's inverse-CDF
    check accepts both, unless its exercise states that u must be used in one specific way.

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
        if not torch.isfinite(got).all():
            return "the samples contain NaN or inf: a log of 0 or a negative number?"
        values = got.detach().to(torch.float64)
        low = got.dtype != torch.float64
        rtol, atol = (1e-4, 1e-6) if low else (1e-6, 1e-9)
        if not any(torch.allclose(values, r.detach().to(torch.float64), rtol=rtol, atol=atol) for r in right):
            return f"values differ from the inverse CDF {formula} (or F^-1(1 - u), which has the same law)"
        if not got.requires_grad:
            return f"the values are right but no gradient reaches {params} (got.requires_grad is False)"
        return None

    return verdict
