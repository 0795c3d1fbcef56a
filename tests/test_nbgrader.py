"""nbgrader end to end on every sheet (issue 14): generate, autograde, feedback.

``python -m vaelib.exercises --nbgrader-course DIR`` writes an nbgrader course (the worked sheets
with nbgrader metadata under ``source/``). One course folder per test file (the
``course`` fixture: the gradebook is made once, a few seconds), shared by that file's sheets; one
test per sheet (so that pytest-xdist runs two sheets at a time) runs ``generate_assignment``
through nbgrader's Python API (the Apps the command line runs, without starting a Python per
step), submits three notebooks per sheet (worked: the reference answers; blank: the committed
exercise sheet ``exercises/NN_slug.ipynb`` untouched, what students get; wrong: the worked one with
exercise 1's answer replaced by a typical student mistake), autogrades them, and checks the scores
(full marks on the code exercises, zero, partial), that the feedback shows the check's hint, and,
in the autograded blank sheet, that the only errors are the blanks' NotImplementedError and every
exercise's blank is reached (so a check cell that needs a name only the solution defines fails).

nbgrader comes from the ``grading`` extra (``pip install -e '.[grading]'``). Without it the test
skips locally, and fails under ``CI=true`` (as the browser test does for Chromium).
"""

from __future__ import annotations

import html
import json
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest

from vaelib.exercises import BEGIN, END, make_exercise, write_nbgrader_course

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.slow

# exercise 1 of each sheet, answered with a typical mistake, and words of the hint its check gives
WRONG_FIRST_ANSWER = {
    "sheet01": ("return x**2 * (x - theta) ** 2 / sigma**3", "normalising constant"),
    "sheet02": ("return mu + torch.exp(0.5 * log_var) * (u - 0.5)", "variance 1/12"),
    "sheet03": (
        "return 0.5 * ((S**2).sum((-2, -1)) + (mu**2).sum(-1) - mu.shape[-1] - torch.linalg.slogdet(S).logabsdet)",
        "forgot the factor 2",
    ),
    "sheet04": (
        "K = W.shape[1]\n    precision = W.T @ (W / noise_var[:, None])\n    cov = torch.linalg.inv(precision)\n"
        "    return (x - b) @ (W / noise_var[:, None]) @ cov, cov",
        "you left out the prior",
    ),
    "sheet05": (
        "recon = torch.nn.functional.binary_cross_entropy_with_logits(logits, x)\n"
        "    kl = 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(-1).mean()\n    return recon + beta * kl, recon, kl",
        "averaged over pixels",
    ),
    "sheet06": ("return (1 - (1 - u) ** b) ** a", "invert the exponents"),
}


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def _require_nbgrader() -> None:
    try:
        import nbgrader  # noqa: F401
    except ImportError:
        reason = "nbgrader is not installed: pip install -e '.[grading]'"
        if _ci():
            pytest.fail(reason + " (CI is set, so this test fails instead of skipping)", pytrace=False)
        pytest.skip(reason)


def _api(course: Path):
    """nbgrader's own Python API on the course folder (its ``nbgrader_config.py``), in this process.

    One import of nbgrader per test process instead of one ``python -m nbgrader`` start (2-3 s on a
    2-core machine) per step: the steps are the same Apps the command line runs.
    """
    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    return NbGraderAPI(config=config)


def _step(result: dict, what: str) -> None:
    assert result["success"], f"nbgrader {what} failed:\n{result.get('log', '')}\n{result.get('error', '')}"


def _answer(source: str) -> str:
    """The body of a solution cell's marked region (without the markers)."""
    lines = source.splitlines()
    return "\n".join(
        lines[
            lines.index(next(l for l in lines if l.strip() == BEGIN)) + 1 : lines.index(
                next(l for l in lines if l.strip() == END)
            )
        ]
    )


def _fill(released: nbformat.NotebookNode, source: nbformat.NotebookNode, wrong: str | None) -> nbformat.NotebookNode:
    """The released sheet with every code answer filled in from the source (exercise 1 wrong, if given)."""
    nb = nbformat.from_dict(json.loads(json.dumps(released)))
    answers = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in source.cells
        if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"
    }
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type != "code" or grade_id not in answers:
            continue
        body = _answer(answers[grade_id])
        if wrong is not None and grade_id == "exercise-1":
            indent = body[: len(body) - len(body.lstrip())]
            body = indent + wrong
        stub_start = cell.source.index("# YOUR CODE HERE")
        stub_end = cell.source.index("raise NotImplementedError()") + len("raise NotImplementedError()")
        line_start = cell.source.rfind("\n", 0, stub_start) + 1
        cell.source = cell.source[:line_start] + body + cell.source[stub_end:]
    return nb


def _scores(course: Path, assignments: list[str]) -> dict[tuple[str, str], tuple[float, float]]:
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for assignment in assignments:
            for student in ("worked", "blank", "wrong"):
                sub = gb.find_submission(assignment, student)
                code = [g for nb in sub.notebooks for g in nb.grades if g.cell.cell_type == "code"]
                out[(assignment, student)] = (sum(g.score for g in code), sum(g.max_score for g in code))
    return out


ASSIGNMENTS = [f"sheet{n:02d}" for n in range(1, 7)]
STUDENTS = ("worked", "blank", "wrong")


def test_the_course_folder_has_every_sheet(tmp_path):
    assert write_nbgrader_course(ROOT, tmp_path / "course") == ASSIGNMENTS


def _environment_path() -> str:
    """PATH with this environment's scripts first: nbgrader runs `alembic` and the kernel from PATH."""
    return str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """This file's nbgrader course folder (tests/test_nbgrader_sheets_4_6.py makes its own)."""
    return make_course(tmp_path_factory)


def make_course(tmp_path_factory) -> Path:
    """One nbgrader course folder for the sheets of a test file, with its gradebook made.

    The fixed cost (the course's sources, and the gradebook, whose creation runs ``alembic heads``)
    is paid once per file; each sheet's test then generates, submits, autogrades and writes feedback
    for its own assignment only (its own folders and gradebook rows), so one sheet's failure leaves
    the others' steps and assertions as they were.
    """
    _require_nbgrader()
    from nbgrader.api import Gradebook

    folder = tmp_path_factory.mktemp("nbgrader") / "course"
    write_nbgrader_course(ROOT, folder)  # test_the_course_folder_has_every_sheet checks the names
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", _environment_path())
        with Gradebook(f"sqlite:///{folder.resolve() / 'gradebook.db'}"):
            pass
    return folder


# One test per sheet; pytest-xdist (--dist loadfile) keeps a file's tests in one worker, so sheets 04-06
# are tested from tests/test_nbgrader_sheets_4_6.py and run beside these three.
@pytest.mark.parametrize("assignment", ASSIGNMENTS[:3])
def test_every_sheet_through_nbgrader_generate_autograde_feedback(assignment, course, monkeypatch):
    run_sheet_through_nbgrader(assignment, course, monkeypatch)


def run_sheet_through_nbgrader(assignment: str, course: Path, monkeypatch) -> None:
    """generate_assignment, three submissions, autograde, feedback and the scores of one sheet."""
    monkeypatch.setenv("PATH", _environment_path())
    monkeypatch.chdir(course)
    api = _api(course)
    _step(api.generate_assignment(assignment), f"generate_assignment {assignment}")
    names = []
    for path in sorted((course / "release" / assignment).glob("*.ipynb")):
        names.append(path.name)
        released = nbformat.read(path, as_version=4)
        source = nbformat.read(course / "source" / assignment / path.name, as_version=4)
        exercise = nbformat.read(ROOT / "exercises" / path.name, as_version=4)
        assert _graded_cells(exercise) == _graded_cells(released), (
            f"exercises/{path.name}: its nbgrader cells are not the release's"
        )
        wrong = WRONG_FIRST_ANSWER[assignment][0]
        for student, nb in [
            ("worked", _fill(released, source, None)),
            ("blank", exercise),
            ("wrong", _fill(released, source, wrong)),
        ]:
            folder = course / "submitted" / student / assignment
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, folder / path.name)
    assert names, f"{assignment}: nothing released"
    logs = {}
    for student in STUDENTS:
        result = api.autograde(assignment, student)
        _step(result, f"autograde {assignment} {student}")
        logs[student] = result.get("log", "")
    _step(api.generate_feedback(assignment), f"generate_feedback {assignment}")
    # nbgrader takes the committed sheet as it is: no locked or graded cell changed, none unknown
    changed = [line for line in logs["blank"].splitlines() if "has changed" in line or "does not exist" in line]
    assert not changed, (assignment, "nbgrader had to repair the committed exercise sheet", changed)
    scores = _scores(course, [assignment])
    worked, blank, wrong = (scores[(assignment, s)] for s in STUDENTS)
    print(f"nbgrader code-exercise scores (worked, blank, wrong) of {assignment}: ", end="")
    print(f"{worked[0]:g}/{worked[1]:g}, {blank[0]:g}/{blank[1]:g}, {wrong[0]:g}/{wrong[1]:g}")
    assert worked[1] > 0 and worked[0] == worked[1], (assignment, "worked", worked)
    assert blank[0] == 0, (assignment, "blank", blank)
    assert 0 < wrong[0] < wrong[1], (assignment, "wrong", wrong)
    for student in STUDENTS:
        assert list((course / "feedback" / student / assignment).glob("*.html")), (assignment, student, "no feedback")
    (feedback,) = (course / "feedback" / "wrong" / assignment).glob("*.html")
    text = html.unescape(feedback.read_text(encoding="utf-8"))
    assert WRONG_FIRST_ANSWER[assignment][1] in text, (assignment, "the hint is not in the feedback")
    assert "CheckFailed: Exercise 1" in text
    for name in names:
        _fails_only_at_its_blanks(course / "autograded" / "blank" / assignment / name, name)


def _graded_cells(nb: nbformat.NotebookNode) -> list[tuple[str, str, bool, bool, float | None, str | None]]:
    """The nbgrader cells in order: grade id, type, solution, locked, points, and a locked cell's source."""
    out = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta is None:
            continue
        locked = bool(meta.get("locked"))
        points = float(meta["points"]) if meta.get("grade") else None
        out.append(
            (
                meta["grade_id"],
                cell.cell_type,
                bool(meta.get("solution")),
                locked,
                points,
                cell.source if locked else None,
            )
        )
    return out


def _fails_only_at_its_blanks(autograded: Path, name: str) -> None:
    """The committed exercise sheet, as nbgrader ran it for the blank student: each error is a blank's
    NotImplementedError, and every exercise's blank is reached (the exercises of ``make_exercise``)."""
    _, numbers = make_exercise(nbformat.read(ROOT / "solutions" / name, as_version=4), f"solutions/{name}")
    assert numbers, f"{name}: no code exercises"
    ran = nbformat.read(autograded, as_version=4)
    raised = set()
    for i, cell in enumerate(ran.cells):
        for out in cell.get("outputs", []):
            if out.output_type != "error":
                continue
            assert out.ename == "NotImplementedError", (
                f"exercises/{name} cell {i}: the exercise sheet fails with {out.ename}: {out.evalue} "
                f"(only the blanks may fail, with NotImplementedError)"
            )
            raised.update(int(n) for n in re.findall(r"Exercise (\d+)", out.evalue))
    assert raised == set(numbers), (
        f"exercises/{name}: blanks {sorted(set(numbers))} but the checks raised for {sorted(raised)}"
    )
