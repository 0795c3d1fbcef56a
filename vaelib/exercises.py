"""Build the exercise sheets in ``exercises/`` from the worked solutions in ``solutions/``.

``python -m vaelib.exercises`` regenerates every sheet; ``python -m vaelib.exercises --check``
changes nothing and exits 1 when ``exercises/`` is out of date (CI runs it).

The markers are nbgrader's. In a code cell whose first marked region is preceded by a line
``# Exercise N``::

    def kl_diag(mu, log_var):
        ### BEGIN SOLUTION
        return 0.5 * (log_var.exp() + mu**2 - 1 - log_var).sum(-1)
        ### END SOLUTION

becomes::

    def kl_diag(mu, log_var):
        # YOUR CODE HERE
        raise NotImplementedError("Exercise N: replace this line with your answer")

In a markdown cell the marked region becomes ``YOUR ANSWER HERE``, followed by a collapsed model
answer the student can open after writing theirs (``--graded`` leaves the model answers out).
Outputs and execution counts are cleared, so a student starts from a clean sheet.

**nbgrader.** Every generated sheet carries nbgrader's cell metadata (schema 3): an answer cell is
a ``solution`` cell (``exercise-N``), the check cell after it a locked, autograded ``grade`` cell
worth ``CHECK_POINTS`` (``check-N``), and a written answer a manually graded ``solution`` +
``grade`` cell worth ``WRITTEN_POINTS`` (``written-N``). ``python -m vaelib.exercises
--nbgrader-course DIR`` writes an nbgrader course folder (``DIR/source/sheetNN/``: the worked
solutions with the same metadata, which ``nbgrader generate_assignment`` turns into the
student version, and ``DIR/nbgrader_config.py``).
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

from vaelib.nbtools import normalise, write_atomic

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
EXERCISE_LINE = re.compile(r"^\s*#\s*Exercise\s+(\d+)\b", re.IGNORECASE)
GENERATED_NOTE = (
    "*This exercise sheet is generated from `{source}` by `python -m vaelib.exercises`. "
    "Fill in each `YOUR CODE HERE` and run the check cell below it; write each `YOUR ANSWER HERE`, "
    "then open the model answer below it to compare. "
    "(Instructors: edit the solutions, never this file.)*"
)
CHECK_POINTS = 1  # an autograded check cell
WRITTEN_POINTS = 2  # a manually graded written answer
CHECK_CALL = re.compile(r"\bsheet\d+\.check_\w+\(")
EXERCISE_HEADING = re.compile(r"^#+\s*Exercise\s+(\d+)\b", re.IGNORECASE | re.MULTILINE)
MODEL_ANSWER = "<details><summary><b>Model answer</b> (open it after writing yours)</summary>\n\n{answer}\n\n</details>"


class MarkerError(ValueError):
    """A solution notebook's markers are malformed."""


def blank_source(source: str, cell_type: str, where: str) -> tuple[str, list[int]]:
    """Replace each marked region of one cell; return the new source and the exercise numbers.

    Args:
        source: the cell's source text.
        cell_type: ``"code"`` or ``"markdown"``.
        where: a description of the cell for error messages (file and cell index).
    """
    out: list[str] = []
    numbers: list[int] = []
    exercise: int | None = None
    inside = False
    for lineno, line in enumerate(source.splitlines(), 1):
        stripped = line.strip()
        match = EXERCISE_LINE.match(line)
        if match and not inside:
            exercise = int(match.group(1))
        if stripped == BEGIN:
            if inside:
                raise MarkerError(
                    f"{where}, line {lineno}: '{BEGIN}' inside another solution region; close the first with '{END}'."
                )
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            if cell_type == "code":
                if exercise is None:
                    raise MarkerError(
                        f"{where}, line {lineno}: a solution region with no '# Exercise N' line above it; "
                        f"add one as the first line of the cell."
                    )
                numbers.append(exercise)
                out.append(f"{indent}# YOUR CODE HERE")
                out.append(
                    f'{indent}raise NotImplementedError("Exercise {exercise}: replace this line with your answer")'
                )
            else:
                out.append("YOUR ANSWER HERE")
            continue
        if stripped == END:
            if not inside:
                raise MarkerError(f"{where}, line {lineno}: '{END}' without a matching '{BEGIN}'.")
            inside = False
            continue
        if not inside:
            out.append(line)
    if inside:
        raise MarkerError(f"{where}: '{BEGIN}' is never closed; add '{END}' after the answer.")
    return "\n".join(out), numbers


def _nbgrader(
    grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = False, points: int = 0
) -> dict:
    """nbgrader's cell metadata (schema version 3)."""
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if grade:
        meta["points"] = points
    return meta


def _solution_text(source: str) -> str:
    """The text between the markers of a written answer."""
    lines = source.splitlines()
    start, end = lines.index(BEGIN), lines.index(END)
    return "\n".join(lines[start + 1 : end]).strip()


def mark_for_nbgrader(nb: nbformat.NotebookNode, source_name: str) -> dict[int, str]:
    """Put nbgrader metadata on the cells of a solution or exercise notebook, in place.

    Returns ``{cell index: grade_id}`` of the cells it marked. A code cell with a marked region
    (or its blank) is the answer to the ``# Exercise N`` above; the next cell calling
    ``sheetNN.check_...`` is that exercise's graded check; a markdown cell with a marked region
    (or ``YOUR ANSWER HERE``) is the written answer of the last ``## Exercise N`` heading.
    """
    marked: dict[int, str] = {}
    exercise: int | None = None
    heading: int | None = None
    used: set[str] = set()
    for i, cell in enumerate(nb.cells):
        cell.metadata.pop("nbgrader", None)
        if cell.cell_type == "markdown":
            found = EXERCISE_HEADING.search(cell.source)
            if found:
                heading = int(found.group(1))
            if (BEGIN in cell.source or cell.source.strip().endswith("YOUR ANSWER HERE")) and heading is not None:
                grade_id = _unique(f"written-{heading}", used)
                cell.metadata["nbgrader"] = _nbgrader(grade_id, solution=True, grade=True, points=WRITTEN_POINTS)
                marked[i] = grade_id
            continue
        match = EXERCISE_LINE.match(cell.source)
        if match and (BEGIN in cell.source or "# YOUR CODE HERE" in cell.source):
            exercise = int(match.group(1))
            grade_id = _unique(f"exercise-{exercise}", used)
            cell.metadata["nbgrader"] = _nbgrader(grade_id, solution=True)
            marked[i] = grade_id
        elif CHECK_CALL.search(cell.source) and exercise is not None:
            grade_id = _unique(f"check-{exercise}", used)
            cell.metadata["nbgrader"] = _nbgrader(grade_id, grade=True, locked=True, points=CHECK_POINTS)
            marked[i] = grade_id
    if not marked:
        raise MarkerError(f"{source_name}: no exercise cells found for nbgrader.")
    return marked


def _unique(grade_id: str, used: set[str]) -> str:
    candidate, n = grade_id, 1
    while candidate in used:
        n += 1
        candidate = f"{grade_id}-{n}"
    used.add(candidate)
    return candidate


def make_exercise(
    solution: nbformat.NotebookNode, source_name: str, *, model_answers: bool = True
) -> tuple[nbformat.NotebookNode, list[int]]:
    """The exercise sheet for one solution notebook, and the exercise numbers of its code blanks.

    Args:
        solution: the worked sheet.
        source_name: its path, for messages and the generated note.
        model_answers: follow each written answer with its model answer, collapsed.
    """
    nb = copy.deepcopy(solution)
    numbers: list[int] = []
    cells = []
    for i, cell in enumerate(nb.cells):
        new_source, found = blank_source(cell.source, cell.cell_type, f"{source_name}, cell {i}")
        answer = _solution_text(cell.source) if cell.cell_type == "markdown" and BEGIN in cell.source else None
        cell.source = new_source
        numbers.extend(found)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cells.append(cell)
        if answer is not None and model_answers:
            cells.append(nbformat.v4.new_markdown_cell(MODEL_ANSWER.format(answer=answer)))
    nb.cells = [nbformat.v4.new_markdown_cell(GENERATED_NOTE.format(source=source_name)), *cells]
    for i, cell in enumerate(nb.cells):  # deterministic ids, so regeneration is byte-stable
        cell.id = f"cell-{i:03d}"
    if not numbers and not any(BEGIN in c.source for c in solution.cells):
        raise MarkerError(f"{source_name}: no '{BEGIN}' markers: a sheet needs at least one exercise.")
    mark_for_nbgrader(nb, source_name)
    return normalise(nb), numbers


def nbgrader_source(solution: nbformat.NotebookNode, source_name: str) -> nbformat.NotebookNode:
    """The worked sheet with nbgrader metadata: what ``nbgrader generate_assignment`` takes."""
    nb = copy.deepcopy(solution)
    for i, cell in enumerate(nb.cells):
        blank_source(cell.source, cell.cell_type, f"{source_name}, cell {i}")  # validates the markers
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    mark_for_nbgrader(nb, source_name)
    return normalise(nb)


NBGRADER_CONFIG = """# nbgrader configuration written by `python -m vaelib.exercises --nbgrader-course`.
c = get_config()  # noqa: F821 (nbgrader provides it)
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = "sqlite:///" + {db!r}
c.Execute.timeout = 300  # seconds a cell may run (the sheets' longest cells take a few seconds)
"""


def write_nbgrader_course(root: Path, course: Path) -> list[str]:
    """An nbgrader course folder: ``course/source/sheetNN/NN_slug.ipynb`` and ``nbgrader_config.py``.

    Returns the assignment names (``sheet01``, ...).
    """
    names = []
    for src in sorted((root / "solutions").glob("*.ipynb")):
        name = f"sheet{src.name[:2]}"
        folder = course / "source" / name
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(nbgrader_source(nbformat.read(src, as_version=4), f"solutions/{src.name}"), folder / src.name)
        names.append(name)
    course = course.resolve()
    (course / "nbgrader_config.py").write_text(
        NBGRADER_CONFIG.format(root=str(course), db=str(course / "gradebook.db")), encoding="utf-8"
    )
    return names


def render(nb: nbformat.NotebookNode) -> str:
    """The exact text ``nbformat.write`` puts in a file."""
    return nbformat.writes(nb) + "\n"


def build(root: Path, check: bool = False, model_answers: bool = True) -> list[str]:
    """Regenerate ``root/exercises`` from ``root/solutions``; return what was (or would be) changed."""
    solutions = root / "solutions"
    exercises = root / "exercises"
    changed: list[str] = []
    expected_names = set()
    for src in sorted(solutions.glob("*.ipynb")):
        expected_names.add(src.name)
        nb, _ = make_exercise(nbformat.read(src, as_version=4), f"solutions/{src.name}", model_answers=model_answers)
        text = render(nb)
        dest = exercises / src.name
        if not dest.exists() or dest.read_text(encoding="utf-8") != text:
            changed.append(f"exercises/{src.name}")
            if not check:
                exercises.mkdir(exist_ok=True)
                write_atomic(nb, dest)  # nbformat.write writes exactly render(nb)
    for stale in sorted(exercises.glob("*.ipynb")) if exercises.exists() else []:
        if stale.name not in expected_names:
            changed.append(f"exercises/{stale.name} (no solutions/{stale.name}: remove it)")
            if not check:
                stale.unlink()
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaelib.exercises", description="Build exercises/ from solutions/.")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if exercises/ is out of date")
    parser.add_argument("--root", type=Path, default=Path("."), help="the course folder (default: current folder)")
    parser.add_argument("--graded", action="store_true", help="leave the collapsed model answers out (for graded use)")
    parser.add_argument(
        "--nbgrader-course", type=Path, metavar="DIR", help="write an nbgrader course folder to DIR and stop"
    )
    args = parser.parse_args(argv)
    if not (args.root / "solutions").is_dir():
        print(
            f"no solutions/ folder under {args.root.resolve()}: run this from the course's top folder or pass --root",
            file=sys.stderr,
        )
        return 2
    if args.nbgrader_course is not None:
        names = write_nbgrader_course(args.root, args.nbgrader_course)
        print(
            f"wrote an nbgrader course to {args.nbgrader_course} ({', '.join(names)}); next: "
            f"cd {args.nbgrader_course} && nbgrader generate_assignment {names[0]}"
        )
        return 0
    try:
        changed = build(args.root, check=args.check, model_answers=not args.graded)
    except MarkerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.check:
        if changed:
            print("exercises/ is out of date with solutions/; run `python -m vaelib.exercises`:")
            for name in changed:
                print(f"  {name}")
            return 1
        print("exercises/ is in sync with solutions/.")
        return 0
    for name in changed:
        print(f"wrote {name}")
    print(f"exercises/ is up to date ({len(changed)} changed).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
