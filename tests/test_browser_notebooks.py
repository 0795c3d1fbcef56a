"""The browser test's notebooks (tests/browser/*.ipynb) build each explorer exactly as a lecture does.

The browser test (tests/test_browser.py) drives the explorers of small notebooks made for it rather
than re-running whole lectures; that only tests the lectures' explorers if every explorer call in
those notebooks (a call of a function whose name ends in ``_explorer``) appears, with the same
arguments, in a lecture (notebooks/*.ipynb). Compared as parsed Python (``ast.unparse``), so
layout and quoting do not matter. Fast: no kernel, no browser.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BROWSER_NOTEBOOKS = sorted((REPO_ROOT / "tests" / "browser").glob("*.ipynb"))
LECTURES = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def explorer_calls(path: Path) -> list[str]:
    """Every call ``f(...)`` or ``module.f(...)`` with ``f`` ending in ``_explorer``, as normalised source."""
    calls = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name.endswith("_explorer"):
                    calls.append(ast.unparse(node))
    return calls


def test_there_are_browser_notebooks():
    assert BROWSER_NOTEBOOKS, "tests/browser/ holds no notebook for the browser test"
    assert LECTURES, "notebooks/ holds no lecture"


@pytest.mark.parametrize("notebook", BROWSER_NOTEBOOKS, ids=lambda p: p.stem)
def test_each_explorer_is_built_as_in_a_lecture(notebook):
    calls = explorer_calls(notebook)
    assert calls, f"{notebook.name} builds no explorer (no call of a function ending in _explorer)"
    in_lectures = {lecture.name: set(explorer_calls(lecture)) for lecture in LECTURES}
    for call in calls:
        where = [name for name, lecture_calls in in_lectures.items() if call in lecture_calls]
        assert where, (
            f"{notebook.name} builds an explorer as no lecture does: {call}\n"
            f"the lectures' explorer calls: {sorted(set().union(*in_lectures.values()))}"
        )


def test_the_check_sees_a_changed_argument(tmp_path):
    """The comparison is not vacuous: the same call with one argument changed is not found."""
    lecture_calls = set().union(*(explorer_calls(lecture) for lecture in LECTURES))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('plane = widgets.latent_plane_explorer(vae2, x_test, y_test, name="AE")')]
    nbformat.write(nb, tmp_path / "changed.ipynb")
    (call,) = explorer_calls(tmp_path / "changed.ipynb")
    assert call not in lecture_calls
