"""Running the student's code: blanks pass through, a crash becomes a :class:`CheckFailed` naming
the student's line and what that kind of error usually means."""

from __future__ import annotations

import copy
import linecache
import os
import re
import traceback
from typing import Any, Callable

import torch

from vaelib.checks.cases import Case, CheckFailed

BLANK = re.compile(r"^Exercise \S+: replace this line")
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__))


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


def explain(err: BaseException) -> str:
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
    explanation = explain(crash)
    raise CheckFailed(
        f"Exercise {exercise}, {label}: {name} raised {type(crash).__name__}: {message}{_where(crash)}\n"
        f"Hint: {' '.join(p for p in (explanation, hint) if p) or 'run it by hand on this input and read the traceback.'}"
    ) from crash


def quiet_call(fn: Callable, case: Case) -> tuple[bool, Any]:
    try:
        return True, fn(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
    except Exception:
        return False, None
