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

The engine's modules: ``cases`` (Case, Mistake, Term, CheckFailed), ``values`` (describing and
comparing values), ``running`` (calling the student's code, blanks, crash explanations),
``diagnose`` (mistakes and terms), ``probes`` (noise and gradients) and ``engine`` (the checks).
Every public name is re-exported here: ``from vaelib.checks import Case, check_function``.
"""

from __future__ import annotations

from vaelib.checks.cases import Case, CheckFailed, Mistake, Term
from vaelib.checks.engine import check_function, check_value, inverse_cdf_verdict
from vaelib.checks.running import call, is_blank
from vaelib.checks.values import format_value

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
