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

In a markdown cell the marked region becomes ``YOUR ANSWER HERE``. Outputs and execution
counts are cleared, so a student starts from a clean sheet.
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
    "Fill in each `YOUR CODE HERE` / `YOUR ANSWER HERE` and run the check cell below it. "
    "(Instructors: edit the solutions, never this file.)*"
)


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
                raise MarkerError(f"{where}, line {lineno}: '{BEGIN}' inside another solution region; close the first with '{END}'.")
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
                out.append(f'{indent}raise NotImplementedError("Exercise {exercise}: replace this line with your answer")')
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


def make_exercise(solution: nbformat.NotebookNode, source_name: str) -> tuple[nbformat.NotebookNode, list[int]]:
    """The exercise sheet for one solution notebook, and the exercise numbers of its code blanks."""
    nb = copy.deepcopy(solution)
    numbers: list[int] = []
    for i, cell in enumerate(nb.cells):
        new_source, found = blank_source(cell.source, cell.cell_type, f"{source_name}, cell {i}")
        cell.source = new_source
        numbers.extend(found)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(GENERATED_NOTE.format(source=source_name)))
    for i, cell in enumerate(nb.cells):  # deterministic ids, so regeneration is byte-stable
        cell.id = f"cell-{i:03d}"
    if not numbers and not any(BEGIN in c.source for c in solution.cells):
        raise MarkerError(f"{source_name}: no '{BEGIN}' markers: a sheet needs at least one exercise.")
    return normalise(nb), numbers


def render(nb: nbformat.NotebookNode) -> str:
    """The exact text ``nbformat.write`` puts in a file."""
    return nbformat.writes(nb) + "\n"


def build(root: Path, check: bool = False) -> list[str]:
    """Regenerate ``root/exercises`` from ``root/solutions``; return what was (or would be) changed."""
    solutions = root / "solutions"
    exercises = root / "exercises"
    changed: list[str] = []
    expected_names = set()
    for src in sorted(solutions.glob("*.ipynb")):
        expected_names.add(src.name)
        nb, _ = make_exercise(nbformat.read(src, as_version=4), f"solutions/{src.name}")
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
    args = parser.parse_args(argv)
    if not (args.root / "solutions").is_dir():
        print(f"no solutions/ folder under {args.root.resolve()}: run this from the course's top folder or pass --root", file=sys.stderr)
        return 2
    try:
        changed = build(args.root, check=args.check)
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
