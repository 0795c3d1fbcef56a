"""vaelib.nbtools runs a notebook in place, tidies it, and spots notebooks not committed as a
clean run: metadata, widget state, absolute paths, a lecture's install cell."""

from __future__ import annotations

import nbformat
import pytest

from vaelib import nbtools

REPO = "https://github.com/example/course"


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
        (
            lambda nb: nb.cells[0].outputs.append(nbformat.v4.new_output("error", ename="E", evalue="", traceback=[])),
            "error output",
        ),
        (lambda nb: nb.cells[0].metadata.__setitem__("tags", ["raises-exception"]), "raised nothing"),
        (lambda nb: nb.cells[0].metadata.__setitem__("execution", {}), "volatile"),
        (lambda nb: nb.metadata.__setitem__("language_info", {"name": "python"}), "language_info"),
        (lambda nb: nb.metadata["language_info"].pop("version"), "language_info"),
        (
            lambda nb: nb.cells[0].outputs.append(nbformat.v4.new_output("stream", text="see /home/ann/course/x.py\n")),
            "absolute path",
        ),
        (
            lambda nb: nb.cells[0].outputs.append(
                nbformat.v4.new_output(
                    "error",
                    ename="E",
                    evalue="",
                    traceback=["\x1b[0;32mFile \x1b[0;32m/work/main/vaelib/kl.py:3\x1b[0m"],
                )
            ),
            "absolute path",
        ),
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


def _lecture(tmp_path, *sources, tags=None):
    """A notebook in a course folder's notebooks/, so that nbtools treats it as a lecture."""
    (tmp_path / "course" / "notebooks").mkdir(parents=True)
    path = tmp_path / "course" / "notebooks" / "01_x.ipynb"
    nb = _nb(*sources, tags=tags)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("# 01 A lecture"))
    nbformat.write(nb, path)
    return path


def test_run_adds_the_install_cell_to_a_lecture_first_among_code_cells(tmp_path, monkeypatch):
    monkeypatch.setattr(nbtools, "repository_url", lambda: REPO)
    path = _lecture(tmp_path, "print(6 * 7)")
    nbtools.run(path)
    nb = nbformat.read(path, as_version=4)
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code"]
    install = nb.cells[1]
    assert install.metadata["tags"] == ["colab-install", "remove-cell"]
    assert f'"vaelib @ git+{REPO}"' in install.source
    assert install.outputs == [], "vaelib is installed here: the cell must do nothing, silently"
    assert nb.cells[2].outputs[0]["text"] == "42\n"
    assert nbtools.problems(nb) == [] and nbtools.lecture_problems(nb, REPO) == []
    nbtools.run(path)  # a second run refreshes the cell, never adds another
    again = nbformat.read(path, as_version=4)
    assert len(again.cells) == 3 and again.cells[1].source == install.source


def test_install_cell_installs_only_where_vaelib_is_missing():
    source = nbtools.install_cell_source(REPO)
    calls = []
    fake_subprocess = type("S", (), {"run": staticmethod(lambda *a, **k: calls.append((a, k)))})
    for found, on_colab in [(object(), False), (None, False), (None, True)]:
        calls.clear()
        namespace = {}
        fake_util = type("U", (), {"find_spec": staticmethod(lambda name, f=found: f)})
        modules = {"google.colab": object()} if on_colab else {}
        code = source.replace("import importlib.util, subprocess, sys\n", "")
        exec(
            code,
            {
                "importlib": type("I", (), {"util": fake_util}),
                "subprocess": fake_subprocess,
                "sys": type("Y", (), {"modules": modules, "executable": "python"}),
            },
            namespace,
        )
        if found is not None:
            assert calls == []
        else:
            ((args, kwargs),) = calls
            assert args[0][-1] == f"vaelib @ git+{REPO}" and kwargs == {"check": True}
            assert ("--no-deps" in args[0]) == on_colab, "on Colab, keep its torch and friends"


def test_validate_spots_a_lecture_without_its_install_cell(tmp_path, capsys):
    path = _lecture(tmp_path, "1")
    nbtools.run(path, install_cell=False)
    assert nbtools.main(["validate", str(path)]) == 1
    assert "install cell" in capsys.readouterr().out
    nb = nbformat.read(path, as_version=4)
    nbtools.ensure_install_cell(nb, "https://github.com/someone/else")
    assert "out of date" in nbtools.lecture_problems(nb, REPO)[0]


def test_run_and_tidy_scrub_machine_paths_from_tracebacks(tmp_path):
    path = _lecture(
        tmp_path,
        "import sys; sys.path.insert(0, '..')\nimport helper\nhelper.fail()",
        "import json\njson.loads('{')",
        tags={0: ["raises-exception"], 1: ["raises-exception"]},
    )
    (tmp_path / "course" / "helper.py").write_text("def fail():\n    raise ValueError('shown on purpose')\n")
    nbtools.run(path, install_cell=False)
    nb = nbformat.read(path, as_version=4)
    tracebacks = ["\n".join(c.outputs[0]["traceback"]) for c in nb.cells if c.cell_type == "code"]
    assert str(tmp_path) not in tracebacks[0] and "helper.py" in tracebacks[0]
    assert "<python>/json/" in tracebacks[1]
    assert nbtools.absolute_paths(nb) == [] and nbtools.problems(nb) == []
    # tidy: the same scrubbing for a notebook run on another machine, without running it
    nb.cells[1].outputs[0]["traceback"].append("File /home/ann/.venv/lib/python3.12/site-packages/torch/x.py:1")
    nb.cells[1].outputs[0]["traceback"].append("File /Users/ann/src/course/vaelib/kl.py:144")
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, path)
    assert nbtools.main(["tidy", str(path)]) == 0
    tidied = nbformat.read(path, as_version=4)
    lines = tidied.cells[1].outputs[0]["traceback"][-2:]
    assert lines == ["File <site-packages>/torch/x.py:1", "File vaelib/kl.py:144"]
    assert tidied.metadata["language_info"]["mimetype"] == "text/x-python" and nbtools.problems(tidied) == []
    assert nbtools.tidy(path) is False  # already tidy: the file is left as it is


def test_language_info_matches_what_the_kernel_reports(tmp_path):
    """The committed language_info is what ipykernel reports (nbclient stores the kernel's reply)."""
    path = tmp_path / "x.ipynb"
    nbformat.write(_nb("1"), path)
    nbtools.run(path)
    info = nbformat.read(path, as_version=4).metadata["language_info"]
    from ipykernel.ipkernel import IPythonKernel

    reported = dict(IPythonKernel.language_info)
    assert {k: info[k] for k in reported} == reported
    assert set(info) == set(nbtools.LANGUAGE_INFO) | {"version"}
