"""The committed notebooks are clean top-to-bottom runs, and exercises/ matches solutions/.

nbval (``pytest --nbval``) re-runs notebooks/ and solutions/ and compares outputs; these tests
check what nbval does not: how the notebooks were committed, and the generated exercise sheets.
The exercise sheets are run in tests/test_nbgrader.py: nbgrader autogrades each committed sheet as
the blank submission, and the test asserts that it fails only at its blanks, every blank reached.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from vaelib import nbtools
from vaelib.exercises import BEGIN

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "notebooks").glob("*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))
NAME = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")


def _ids(paths):
    return [f"{p.parent.name}/{p.name}" for p in paths]


@pytest.mark.parametrize("path", LECTURES + SOLUTIONS, ids=_ids(LECTURES + SOLUTIONS))
def test_committed_as_a_clean_run(path):
    """Execution counts 1..n, errors only where tagged, normalised kernelspec, no widget state."""
    assert nbtools.problems(nbformat.read(path, as_version=4)) == []


@pytest.mark.parametrize("path", LECTURES + SOLUTIONS, ids=_ids(LECTURES + SOLUTIONS))
def test_named_in_reading_order(path):
    assert NAME.match(path.name), f"{path.name}: name notebooks NN_slug.ipynb (lower case, underscores)"


def test_every_lecture_has_a_sheet():
    lectures = {p.name for p in LECTURES}
    sheets = {p.name for p in SOLUTIONS}
    assert lectures == sheets, (
        f"lectures without a sheet: {lectures - sheets}; sheets without a lecture: {sheets - lectures}"
    )


def test_exercises_in_sync_with_solutions():
    """`python -m vaelib.exercises --check` passes: exercises/ was regenerated after every edit, so each
    committed sheet is byte for byte what ``make_exercise`` makes of its solution (the sheet that
    tests/test_nbgrader.py runs)."""
    result = subprocess.run(
        [sys.executable, "-m", "vaelib.exercises", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", EXERCISES, ids=_ids(EXERCISES))
def test_exercise_sheet_has_no_answers_and_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        assert BEGIN not in cell.source, f"{path.name}: a solution leaked into the exercise sheet"
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: outputs committed"
