"""Auto-checks for the exercise sheets.

A sheet calls a check right after the student's answer, for example
``vaelib.checks.sheet03.check_kl_diag(kl_diag)``. The check runs the student's function on a few
cases, simplest first (mu = 0, one sample, K = 1), and either prints one line saying all passed, or
raises :class:`CheckFailed` with a message that says which case failed, what was expected, what
came back and what is known about the difference. In order, a case checks:

1. that the function runs (a crash becomes a failed check naming the error, the line of the
   student's code it came from, and what that kind of error usually means);
2. the type and structure (a bool that is a tensor, a tuple of the wrong length);
3. the noise (``Case.noise``): two calls with the same noise agree, and other noise changes the
   answer (an answer that draws its own noise, or ignores it, is named as such);
4. the shape, the dtype ("your result is float32"), and NaN / inf;
5. the values; when they differ, the message names a typical mistake (:class:`Mistake`) only if
   the student's answer agrees with that mistake on *every* case; otherwise it says what is known:
   which term of the formula is missing, doubled or of the wrong sign (:class:`Term`), a constant
   factor, and the largest difference and where;
6. the gradients (``Case.grad``): every input that should carry one does, with the right values.

An unanswered exercise raises ``NotImplementedError("Exercise N: replace this line ...")``; checks
let it through unchanged (it renders as one line in Jupyter), so an untouched exercise sheet fails
only at its blanks. Any *other* NotImplementedError (torch's own, e.g. ``rsample()`` of a
distribution that has none) is explained as a failed check.

A failed check renders in Jupyter as its message only (IPython's ``_render_traceback_``), not as a
traceback through this package; it stays an ``AssertionError``, so pytest and nbgrader see a failure.

Per-sheet checks live in ``vaelib/checks/sheetNN.py`` and are built from :func:`check_function`,
:func:`check_value` and :func:`call`.
"""

from __future__ import annotations

import copy
import inspect
import linecache
import os
import re
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

__all__ = [
    "Case",
    "Mistake",
    "Term",
    "CheckFailed",
    "call",
    "check_function",
    "check_value",
    "format_value",
    "inverse_cdf_verdict",
    "is_blank",
]

BLANK = re.compile(r"^Exercise \S+: replace this line")
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__))


class CheckFailed(AssertionError):
    """Raised by a check when the student's answer is wrong; the message explains why.

    In Jupyter it renders as its message alone (no traceback through vaelib.checks).
    """

    def _render_traceback_(self) -> list[str]:
        return [f"CheckFailed: {line}" if i == 0 else line for i, line in enumerate(str(self).splitlines())]


def is_blank(err: BaseException) -> bool:
    """True if ``err`` is an unanswered blank: the marker ``python -m vaelib.exercises`` writes, or
    a NotImplementedError raised by the student's own cell (nbgrader's stub ``raise
    NotImplementedError()``), as opposed to one raised inside torch."""
    if not isinstance(err, NotImplementedError):
        return False
    if BLANK.match(str(err)):
        return True
    frames = traceback.extract_tb(err.__traceback__)
    if not frames:
        return False
    origin = os.path.abspath(frames[-1].filename)
    return not (origin.startswith(_PACKAGE_DIR) or origin.startswith(_TORCH_DIR) or "site-packages" in origin)


def _let_blank_through(err: NotImplementedError) -> None:
    """Make the blank's own exception render as one line in Jupyter (same object, same type)."""
    message = f"NotImplementedError: {err} (this exercise is not answered yet: fill in its cell above and run it)"
    err._render_traceback_ = lambda: [message]  # IPython calls this instead of printing a traceback


@dataclass
class Case:
    """One input on which the student's function is run.

    Args:
        args: positional arguments (copied before each call, so in-place edits do no harm).
        expected: the right answer (tensor, array, number, bool or tuple), a callable that takes the
            student's result and returns ``None`` if it is acceptable or a string saying what is wrong
            (for answers that are random, or only need to satisfy a property), or ``None`` to use the
            check's ``reference`` function.
        label: a short description of the case, shown when it fails.
        kwargs: keyword arguments.
        atol, rtol: tolerances for comparing numbers (loosened automatically for float32 inputs).
        grad: indices of the ``args`` that must carry a gradient to the result; the check makes them
            require grad, and compares the gradients with the ``reference``'s.
        noise: index of the argument that is the noise (eps or u): the check calls twice with the same
            noise (the answers must agree) and once with other noise (the answer must change).
        hint: advice specific to this case (shown instead of the check's generic hint).
    """

    args: tuple
    expected: Any = None
    label: str = ""
    kwargs: dict = field(default_factory=dict)
    atol: float = 1e-5
    rtol: float = 1e-4
    grad: tuple = ()
    noise: int | None = None
    hint: str = ""


@dataclass
class Mistake:
    """A typical wrong answer: a function with the student's signature, and what to say.

    The hint is shown only when the student's answer agrees with ``fn`` on every case.
    """

    fn: Callable
    hint: str


@dataclass
class Term:
    """One additive term of the right answer, as a function with the student's signature.

    When an answer is wrong by a multiple of one term (missing: -1, twice: +1, wrong sign: -2,
    half of it: -1/2), the message names the term.
    """

    name: str
    fn: Callable


# --------------------------------------------------------------------------- formatting


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


def _as_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bool or value.is_complex():
            return None
        return value.detach().to(torch.float64)
    if isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_)):
        return torch.as_tensor(float(value), dtype=torch.float64)
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
        return torch.as_tensor(np.asarray(value, dtype=np.float64))
    return None


# --------------------------------------------------------------------------- comparing


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


def _compare(got: Any, expected: Any, atol: float, rtol: float, low_precision: bool = False) -> str | None:
    """None if ``got`` matches ``expected``, else a sentence saying how it differs."""
    if callable(expected):
        return expected(got)
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"expected a tuple of {len(expected)} values, got {format_value(got)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            why = _compare(g, e, atol, rtol, low_precision)
            if why:
                return f"item {i} of the returned tuple: {why}"
        return None
    if isinstance(expected, bool):
        if isinstance(got, torch.Tensor) and got.numel() == 1 and got.dtype == torch.bool:
            return f"your answer is a tensor ({format_value(got)}); return a Python bool: bool(...) or .item()"
        if not isinstance(got, (bool, np.bool_)):
            return f"expected True or False, got {format_value(got)}"
        return None if bool(got) == expected else f"expected {expected}, got {bool(got)}"
    e = _as_tensor(expected)
    if e is None:
        return None if got == expected else f"expected {expected!r}, got {format_value(got)}"
    return _compare_numbers(got, expected, e, atol, rtol, low_precision)


def _compare_numbers(
    got: Any, expected: Any, e: torch.Tensor, atol: float, rtol: float, low_precision: bool
) -> str | None:
    g = _as_tensor(got)
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


# --------------------------------------------------------------------------- running the student's code


def _student_frames(err: BaseException) -> tuple[traceback.FrameSummary | None, traceback.FrameSummary | None]:
    """The last frame of the student's own code, and the innermost frame (maybe inside torch)."""
    frames = [
        f for f in traceback.extract_tb(err.__traceback__) if not os.path.abspath(f.filename).startswith(_PACKAGE_DIR)
    ]
    own = [
        f
        for f in frames
        if not os.path.abspath(f.filename).startswith(_TORCH_DIR) and "site-packages" not in f.filename
    ]
    return (own[-1] if own else None), (frames[-1] if frames else None)


def _where(err: BaseException) -> str:
    own, innermost = _student_frames(err)
    text = ""
    if own is not None:
        line = (own.line or linecache.getline(own.filename, own.lineno)).strip()
        text = f"\n  in your code, line {own.lineno} of {own.name}: {line}"
    if innermost is not None and innermost is not own and os.path.abspath(innermost.filename).startswith(_TORCH_DIR):
        text += f"\n  (raised inside torch, in {innermost.name})"
    return text


_EXPLAIN = [
    (
        "modified by an inplace operation",
        "an in-place operation (x += ..., x[...] = ..., x.exp_(), x.add_(...)) overwrote a "
        "tensor that autograd needed for the gradient: write it out of place (x = x + ..., torch.where, torch.cat).",
    ),
    (
        "leaf Variable that requires grad is being used in an in-place",
        "you modified an input that requires grad in place "
        "(mu += ..., mu[...] = ...): compute a new tensor instead (z = mu + ...).",
    ),
    (
        "does not require grad and does not have a grad_fn",
        "you called backward() (or autograd.grad) on a value with no graph: "
        "it was made with sample() instead of rsample(), under torch.no_grad(), with .detach()/.item(), or its inputs were "
        "not marked requires_grad_(True).",
    ),
    (
        "Can't call numpy() on Tensor that requires grad",
        "you converted a tensor to numpy, which cuts the gradient: keep the computation in torch.",
    ),
    (
        "backward through the graph a second time",
        "you called backward() twice on one graph: compute the loss once, or pass retain_graph=True.",
    ),
    ("expected scalar type", "you mixed float32 and float64 tensors: create constants with dtype=x.dtype."),
    ("must have the same dtype", "you mixed float32 and float64 tensors: create constants with dtype=x.dtype."),
    ("size of tensor a", "two tensors' shapes do not line up: print the .shape of each operand of that line."),
    (
        "mat1 and mat2 shapes cannot be multiplied",
        "the matrix shapes do not line up: print the .shape of both operands (a transpose, .mT, may be missing).",
    ),
    (
        "only one element tensors can be converted",
        "float(...) / .item() / if on a tensor with several elements: keep it a tensor, or reduce it first.",
    ),
    (
        "Boolean value of Tensor with more than one value is ambiguous",
        "`if` or `and`/`or` on a tensor with several elements: use torch.where, or reduce with .all()/.any().",
    ),
]


def _explain(err: BaseException) -> str:
    """What this kind of error usually means in an exercise."""
    text = str(err)
    if isinstance(err, NotImplementedError):
        return (
            "torch raised NotImplementedError: this operation is not implemented for these inputs. The "
            "usual cause is rsample() of a distribution that has no reparameterized sampler (Bernoulli, "
            "Categorical, OneHotCategorical have none: lecture 06); use the sampler the exercise describes. "
            "(This is not the unanswered-exercise marker.)"
        )
    for needle, advice in _EXPLAIN:
        if needle in text:
            return advice
    return ""


def call(
    fn: Callable,
    args: tuple = (),
    kwargs: dict | None = None,
    *,
    exercise: int,
    name: str,
    label: str,
    hint: str = "",
    copy_inputs: bool = True,
) -> Any:
    """Call the student's ``fn`` on (copies of) the inputs; any error becomes a :class:`CheckFailed`.

    The blank's ``NotImplementedError("Exercise N: replace this line ...")`` passes through unchanged.
    Pass ``copy_inputs=False`` when the caller differentiates with respect to the inputs.
    """
    kwargs = kwargs or {}
    try:
        if copy_inputs:
            args, kwargs = copy.deepcopy(args), copy.deepcopy(kwargs)
        return fn(*args, **kwargs)
    except NotImplementedError as err:
        if is_blank(err):
            _let_blank_through(err)
            raise
        crash = err
    except Exception as err:  # the student's code crashed: say what, where, and what it usually means
        crash = err
    message = str(crash) or "(no message)"
    explanation = _explain(crash)
    raise CheckFailed(
        f"Exercise {exercise}, {label}: {name} raised {type(crash).__name__}: {message}{_where(crash)}\n"
        f"Hint: {' '.join(p for p in (explanation, hint) if p) or 'run it by hand on this input and read the traceback.'}"
    ) from crash


def _quiet_call(fn: Callable, case: Case) -> tuple[bool, Any]:
    try:
        return True, fn(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
    except Exception:
        return False, None


# --------------------------------------------------------------------------- diagnosing a wrong value

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


def _term_diagnosis(got: Any, case: Case, expected: Any, terms: Sequence[Term]) -> str:
    g, e = _as_tensor(got), _as_tensor(expected)
    if g is None or e is None or g.shape != e.shape or e.numel() < 3:  # too few numbers to tell terms apart
        return ""
    d = g - e
    for term in terms:
        ok, value = _quiet_call(term.fn, case)
        t = _as_tensor(value) if ok else None
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


def _agrees_everywhere(mistake: Mistake, results: list[tuple[Case, Any]]) -> bool:
    """The student's answer agrees with ``mistake`` on every case the student's code ran on."""
    for case, got in results:
        ok, wrong = _quiet_call(mistake.fn, case)
        if not ok:
            return False
        try:
            if _compare(got, wrong, case.atol, case.rtol, low_precision=True) is not None:
                return False
        except Exception:
            return False
    return bool(results)


def _low_precision(case: Case) -> bool:
    tensors = [a for a in (*case.args, *case.kwargs.values()) if isinstance(a, torch.Tensor)]
    return any(t.dtype in (torch.float32, torch.float16, torch.bfloat16) for t in tensors)


# --------------------------------------------------------------------------- noise and gradients


def _other_noise(noise: torch.Tensor) -> torch.Tensor:
    """Different noise of the same kind: uniforms stay in (0, 1), Gaussian noise stays real."""
    if noise.numel() and bool(((noise > 0) & (noise < 1)).all()):
        return (noise + 0.3137) % 1.0
    return 1.7 * noise + 0.41


def _draws_own_noise(
    fn: Callable, case: Case, noise: int, got: Any, exercise: int, name: str, label: str
) -> str | None:
    again = call(fn, case.args, case.kwargs, exercise=exercise, name=name, label=label)
    if _compare(again, got, 1e-12, 1e-10) is not None:
        return (
            "two calls with the same noise gave different answers: your function draws its own noise "
            "(torch.randn, torch.rand, rsample, sample) instead of using the noise argument it is given"
        )
    return None


def _ignores_noise(fn: Callable, case: Case, noise: int, got: Any, exercise: int, name: str, label: str) -> str | None:
    args = list(case.args)
    args[noise] = _other_noise(case.args[noise])
    other = call(fn, tuple(args), case.kwargs, exercise=exercise, name=name, label=label)
    if _compare(other, got, 1e-12, 1e-10) is None:
        return "your answer does not change when the noise changes: it ignores the noise argument"
    return None


def _with_grad(case: Case) -> tuple[tuple, list[torch.Tensor]]:
    args = list(copy.deepcopy(case.args))
    leaves = []
    for i in case.grad:
        args[i] = args[i].detach().clone().requires_grad_(True)
        leaves.append(args[i])
    return tuple(args), leaves


def _outputs(value: Any) -> list[torch.Tensor]:
    items = value if isinstance(value, (tuple, list)) else (value,)
    return [v for v in items if isinstance(v, torch.Tensor) and v.is_floating_point()]


def _gradients(value: Any, leaves: list[torch.Tensor]) -> tuple[torch.Tensor | None, ...] | str:
    """d/d leaves of a fixed random weighting of every tensor output, or a sentence why not."""
    outs = [o for o in _outputs(value) if o.requires_grad]
    if not outs:
        return "no gradient"
    g = torch.Generator().manual_seed(12345)
    total = sum((o * (torch.rand(o.shape, generator=g, dtype=o.dtype) + 0.5)).sum() for o in outs)
    return torch.autograd.grad(total, leaves, allow_unused=True)


def _gradient_problem(
    fn: Callable, reference: Callable, case: Case, exercise: int, name: str, label: str
) -> str | None:
    names = _arg_names(reference, len(case.args))
    args, leaves = _with_grad(case)
    got = call(fn, args, copy.deepcopy(case.kwargs), exercise=exercise, name=name, label=label, copy_inputs=False)
    try:
        mine = _gradients(got, leaves)
    except RuntimeError as err:  # backpropagating through the student's graph failed
        first = str(err).split(". Hint:")[0]
        return f"backpropagating through your result failed ({first}): {_explain(err) or 'see the error above'}"
    if isinstance(mine, str):
        return (
            f"the values are right but no gradient reaches {', '.join(names[i] for i in case.grad)} (the result does "
            f"not require grad): the graph is cut by .detach(), .item(), float(), numpy, torch.tensor(...) of a "
            f"result, or torch.no_grad()"
        )
    ref_args, ref_leaves = _with_grad(case)
    right = _gradients(reference(*ref_args, **copy.deepcopy(case.kwargs)), ref_leaves)
    for i, m, r in zip(case.grad, mine, right):
        if m is None and r is not None:
            return (
                f"the values are right but no gradient reaches {names[i]}: part of the computation is cut from the "
                f"graph (.detach(), .item(), .data, torch.tensor(...) of an intermediate result)"
            )
        if r is not None and not torch.allclose(m.to(torch.float64), r.to(torch.float64), atol=1e-6, rtol=1e-4):
            diff = (m.to(torch.float64) - r.to(torch.float64)).abs().max().item()
            return (
                f"the values are right but the gradient with respect to {names[i]} is wrong (largest difference "
                f"{diff:.3g}): part of the computation is detached, or computed from a copy of the input"
            )
    return None


def _arg_names(fn: Callable, n: int) -> list[str]:
    try:
        names = [p.name for p in inspect.signature(fn).parameters.values()]
    except (TypeError, ValueError):
        names = []
    return (names + [f"argument {i + 1}" for i in range(len(names), n)])[: max(n, len(names))]


# --------------------------------------------------------------------------- the checks


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


def _advice(fn, cases, index, got, expected, mistakes, terms, hint) -> tuple[str, str]:
    """(hint, what is known) for a wrong value: a mistake that fits every case, else what the numbers say."""
    results = [(cases[index], got)]
    for j, other in enumerate(cases):
        if j != index and not callable(other.expected):
            ok, value = _quiet_call(fn, other)
            if ok:
                results.append((other, value))
    for mistake in mistakes:
        if _agrees_everywhere(mistake, results):
            return mistake.hint, ""
    known = _term_diagnosis(got, cases[index], expected, terms) if not callable(expected) else ""
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
        why = _compare(got, expected, case.atol, case.rtol, _low_precision(case))
        where_noise = case.noise if case.noise is not None else noise
        if where_noise is not None and (why is not None or callable(expected)):
            noise_why = _draws_own_noise(fn, case, where_noise, got, exercise, name, label)
            if noise_why:
                raise _failure(exercise, label, noise_why, expected, got, case.hint or hint)
        if why is not None:
            advice, known = _advice(fn, cases, i, got, expected, mistakes, terms, hint)
            if where_noise is not None and advice in (case.hint, hint):  # no listed mistake fits
                known = _ignores_noise(fn, case, where_noise, got, exercise, name, label) or known
            raise _failure(exercise, label, why, expected, got, advice, known)
        if case.grad and reference is not None:
            why = _gradient_problem(fn, reference, case, exercise, name, label)
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
        why = _compare(value, expected, atol, rtol)
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
