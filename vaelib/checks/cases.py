"""The objects a check is built from: the cases it runs, the mistakes and terms it can name, and
the exception it raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


class CheckFailed(AssertionError):
    """Raised by a check when the student's answer is wrong; the message explains why.

    In Jupyter it renders as its message alone (no traceback through vaelib.checks).
    """

    def _render_traceback_(self) -> list[str]:
        return [f"CheckFailed: {line}" if i == 0 else line for i, line in enumerate(str(self).splitlines())]


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
