"""vaelib.nbtools runs a notebook in place and spots notebooks not committed as a clean run."""

from __future__ import annotations

import nbformat
import pytest

from vaelib import nbtools


def _nb(*sources, tags=None):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    if tags:
        for i, t in tags.items():
            nb.cells[i].metadata["tags"] = t
    return nb


def test_run_executes_in_place_and_normalises(tmp_path):
    path = tmp_path / "01_x.ipynb"
    nb = _nb("x = 40 + 2\nprint(x)", "raise ValueError('shown on purpose')", tags={1: ["raises-exception"]})
    nb.metadata["widgets"] = {"state": {}}
    nbformat.write(nb, path)
    elapsed = nbtools.run(path)
    assert elapsed > 0
    done = nbformat.read(path, as_version=4)
    assert done.cells[0].outputs[0]["text"] == "42\n"
    assert nbtools.problems(done) == []
    assert done.metadata["kernelspec"] == nbtools.KERNELSPEC and "widgets" not in done.metadata


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda nb: nb.cells.__setitem__(0, nbformat.v4.new_code_cell("x", execution_count=2)), "execution counts"),
        (lambda nb: nb.metadata.__setitem__("widgets", {}), "widget state"),
        (lambda nb: nb.metadata.__setitem__("kernelspec", {"name": "conda-env-x"}), "kernelspec"),
        (lambda nb: nb.cells[0].outputs.append(nbformat.v4.new_output("error", ename="E", evalue="", traceback=[])), "error output"),
        (lambda nb: nb.cells[0].metadata.__setitem__("tags", ["raises-exception"]), "raised nothing"),
        (lambda nb: nb.cells[0].metadata.__setitem__("execution", {}), "volatile"),
    ],
)
def test_problems_are_spotted(mutate, expected):
    nb = nbtools.normalise(_nb("1"))
    nb.cells[0].execution_count = 1
    assert nbtools.problems(nb) == []
    mutate(nb)
    assert any(expected in p for p in nbtools.problems(nb))


def test_cli_validate_and_missing_file(tmp_path, capsys):
    path = tmp_path / "x.ipynb"
    nbformat.write(_nb("1"), path)
    assert nbtools.main(["validate", str(path)]) == 1
    assert "execution counts" in capsys.readouterr().out
    assert nbtools.main(["validate", str(tmp_path / "missing.ipynb")]) == 2


def test_write_atomic_keeps_permissions_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "x.ipynb"
    nbtools.write_atomic(_nb("1"), path)
    assert path.stat().st_mode & 0o044, "a new notebook must be readable by others, not private like mkstemp's"
    path.chmod(0o640)
    nbtools.write_atomic(_nb("2"), path)
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["x.ipynb"]


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path):
    from vaelib._io import atomic_write

    path = tmp_path / "report.md"
    atomic_write(path, lambda f: f.write(b"old"))

    def interrupted(f):
        f.write(b"half of the new")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, interrupted)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["report.md"]
