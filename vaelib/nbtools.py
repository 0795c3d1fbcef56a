"""Run, tidy and validate the course notebooks.

``python -m vaelib.nbtools run notebooks/01_the_stochastic_node.ipynb [...]`` executes each
notebook top to bottom on a fresh kernel (working directory: the notebook's folder), in place,
and writes it atomically, tidied (below), and prints its run time. A lecture (a notebook in a
``notebooks/`` folder) first gets, or has refreshed, its install cell: the first code cell, tagged
``colab-install``, which installs vaelib from the course repository where it is missing (Colab)
and does nothing where it is installed. Use ``run`` after editing a lecture or a sheet, then
commit the outputs.

``python -m vaelib.nbtools tidy PATH ...`` applies the tidying alone, without running anything:
the metadata a kernel fills in when JupyterLab opens the notebook (kernelspec, the full
``language_info``), so that opening a lecture does not mark it modified; no widget state, no
timing or view metadata; and no absolute path of the machine that ran it in error tracebacks
(``/home/me/course/vaelib/kl.py`` becomes ``vaelib/kl.py``, a site-packages folder
``<site-packages>/``, the Python installation ``<python>/``).

``python -m vaelib.nbtools validate PATH ...`` checks what the notebook tests check: run top to
bottom (execution counts 1..n), no error outputs except in cells tagged ``raises-exception``,
the tidied metadata, no absolute paths in outputs, and a lecture's install cell.
"""

from __future__ import annotations

import argparse
import platform
import re
import sys
import time
from pathlib import Path

import nbformat

from vaelib._io import atomic_write

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
# What ipykernel reports and JupyterLab writes into the notebook when it connects a kernel
# (plus "version": the Python that ran the notebook). A notebook committed without it is marked
# modified the moment a student opens it.
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}
RAISES_TAG = "raises-exception"
# Cell metadata keys that tools add and that carry nothing a reader needs.
VOLATILE_CELL_METADATA = ("execution", "collapsed", "scrolled", "jp-MarkdownHeadingCollapsed")

INSTALL_TAG = "colab-install"
# The install cell is hidden on the course website (myst-nb drops cells tagged remove-cell).
INSTALL_TAGS = [INSTALL_TAG, "remove-cell"]
LECTURE_FOLDER = "notebooks"
DEFAULT_REPOSITORY = "https://github.com/vae-reparam-course/vae-reparam-course"

# An absolute path in an output, POSIX (/x/y) or Windows (C:\\x): a run's machine leaking out.
ABSOLUTE_PATH = re.compile(
    r"(?<![\w.<>~])(?:/(?:home|Users|root|tmp|work|usr|opt|var|srv|mnt|private|builds|github|"
    r"runner|content)/|[A-Za-z]:\\\\?(?:Users|Program|Windows|home)|~/)"
)
_SITE_PACKAGES = re.compile(r"(?:[A-Za-z]:)?[^\s\x1b'\"()<>]*[/\\](?:site|dist)-packages[/\\]")
# A course file seen from another checkout (the notebook ran in /work/main, is tidied elsewhere).
_COURSE_FILE = re.compile(
    r"(?:[A-Za-z]:)?[^\s\x1b'\"()<>]*[/\\](vaelib|notebooks|solutions|exercises|tests|benchmarks)[/\\]"
)
_STDLIB = re.compile(r"(?:[A-Za-z]:)?[^\s\x1b'\"()<>]*[/\\]lib[/\\]python3\.\d+[/\\]")


def repository_url() -> str:
    """The course repository, as ``[project.urls] Repository`` in pyproject.toml says."""
    from importlib import metadata

    try:
        urls = metadata.metadata("vaelib").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        urls = []
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip() == "Repository":
            return url.strip()
    return DEFAULT_REPOSITORY


def install_cell_source(repo_url: str) -> str:
    """The code of a lecture's install cell: installs vaelib from ``repo_url`` only if missing."""
    return (
        "# Colab, or any Python without the course package: install vaelib from the course\n"
        "# repository. Where vaelib is installed (the README's setup, Binder) this does nothing.\n"
        "import importlib.util, subprocess, sys\n"
        "\n"
        'if importlib.util.find_spec("vaelib") is None:\n'
        '    keep = ["--no-deps"] if "google.colab" in sys.modules else []  # Colab has torch & co.\n'
        f'    package = "vaelib @ git+{repo_url}"\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *keep, package], check=True)'
    )


def ensure_install_cell(nb: nbformat.NotebookNode, repo_url: str | None = None) -> bool:
    """Put the install cell before the first code cell, or refresh it (in place).

    Returns whether the notebook changed (then its execution counts are stale: run it).
    """
    source = install_cell_source(repo_url or repository_url())
    for cell in nb.cells:
        if cell.cell_type == "code" and INSTALL_TAG in cell.metadata.get("tags", []):
            changed = cell.source != source or cell.metadata.get("tags") != INSTALL_TAGS
            cell.source, cell.metadata["tags"] = source, list(INSTALL_TAGS)
            return changed
    first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": list(INSTALL_TAGS)})
    if (nb.nbformat, nb.nbformat_minor) < (4, 5):
        cell.pop("id", None)  # cell ids came with nbformat 4.5
    else:
        cell["id"] = INSTALL_TAG  # a stable id: re-running never changes it
    nb.cells.insert(first_code, cell)
    return True


def scrub_paths(text: str, root: Path | None = None) -> str:
    """Remove the machine from ``text``: ``root/`` (the course folder) goes, a site-packages
    folder becomes ``<site-packages>/``, a Python installation's lib folder ``<python>/``, and
    any other checkout's course file ``.../vaelib/x.py`` becomes ``vaelib/x.py``."""
    if root is not None:
        for form in {str(root), str(Path(root).resolve())}:
            text = text.replace(form.rstrip("/\\") + "/", "").replace(form.rstrip("/\\") + "\\", "")
    text = _SITE_PACKAGES.sub("<site-packages>/", text)
    text = _STDLIB.sub("<python>/", text)
    return _COURSE_FILE.sub(r"\1/", text)


def _scrub_error_outputs(nb: nbformat.NotebookNode, root: Path | None) -> None:
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                out["traceback"] = [scrub_paths(line, root) for line in out.get("traceback", [])]
                out["evalue"] = scrub_paths(out.get("evalue", ""), root)


def write_atomic(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write ``nb`` to ``path`` through a temporary file and a rename: never half-written."""
    text = nbformat.writes(nb)
    text = text if text.endswith("\n") else text + "\n"  # exactly what nbformat.write puts in a file
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def normalise(nb: nbformat.NotebookNode, root: Path | None = None) -> nbformat.NotebookNode:
    """Tidy ``nb`` in place (see the module docstring) and return it.

    Sets the kernelspec and the full ``language_info`` (keeping the Python version the kernel
    reported, else this Python's), drops widget state and volatile cell metadata, and scrubs
    absolute paths from error tracebacks (``root``: the course folder, made relative).
    """
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    version = nb.metadata.get("language_info", {}).get("version") or platform.python_version()
    nb.metadata["language_info"] = {**LANGUAGE_INFO, "version": version}
    for cell in nb.cells:
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
    _scrub_error_outputs(nb, root)
    return nb


def course_root(path: Path) -> Path:
    """The course folder of a notebook at ``path``: the folder above ``notebooks/`` etc."""
    return Path(path).resolve().parent.parent


def is_lecture(path: Path) -> bool:
    return Path(path).resolve().parent.name == LECTURE_FOLDER


def run(path: Path, timeout: int = 600, install_cell: bool | None = None) -> float:
    """Execute the notebook at ``path`` in place on a fresh kernel; return the run time in s.

    ``install_cell``: add or refresh the install cell first (default: for lectures only, the
    notebooks in a ``notebooks/`` folder). The result is tidied (:func:`normalise`).
    """
    from nbclient import NotebookClient

    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    if install_cell if install_cell is not None else is_lecture(path):
        ensure_install_cell(nb)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
        store_widget_state=False,
    )
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    write_atomic(normalise(nb, course_root(path)), path)
    return elapsed


def tidy(path: Path) -> bool:
    """Tidy the notebook at ``path`` in place without running it; return whether it changed."""
    path = Path(path).resolve()
    before = path.read_text(encoding="utf-8")
    nb = normalise(nbformat.read(path, as_version=4), course_root(path))
    text = nbformat.writes(nb)
    text = text if text.endswith("\n") else text + "\n"
    if text != before:
        write_atomic(nb, path)
    return text != before


def _output_texts(output: nbformat.NotebookNode) -> list[str]:
    """Every text an output carries (stream text, text/* data, traceback lines, evalue)."""
    texts = [output.get("text", ""), output.get("evalue", ""), *output.get("traceback", [])]
    for mime, value in output.get("data", {}).items():
        if mime.startswith("text/") or mime.endswith("json"):
            texts.append(value if isinstance(value, str) else str(value))
    return texts


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # terminal colours, as in IPython's tracebacks


def absolute_paths(nb: nbformat.NotebookNode) -> list[str]:
    """``cell N: ...path...`` for every absolute path of a machine found in an output."""
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            for text in (_ANSI.sub("", t) for t in _output_texts(out)):
                for match in ABSOLUTE_PATH.finditer(text):
                    found.append(f"cell {i}: {text[match.start() : match.start() + 60].splitlines()[0]!r}")
    return found


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """Everything that shows ``nb`` was not committed as a clean top-to-bottom run."""
    found = []
    if nb.metadata.get("kernelspec") != KERNELSPEC:
        found.append(f"kernelspec is {nb.metadata.get('kernelspec')!r}, expected {KERNELSPEC!r}")
    info = dict(nb.metadata.get("language_info", {}))
    if not info.pop("version", None) or info != LANGUAGE_INFO:
        found.append(
            f"language_info is {nb.metadata.get('language_info')!r}, expected {LANGUAGE_INFO!r} "
            f"with the Python version (JupyterLab fills it in on open, marking the notebook "
            f"modified); run `python -m vaelib.nbtools tidy`"
        )
    if "widgets" in nb.metadata:
        found.append("notebook metadata holds saved widget state ('widgets'); run it with nbtools")
    counts = [c.get("execution_count") for c in nb.cells if c.cell_type == "code"]
    if counts != list(range(1, len(counts) + 1)):
        found.append(f"execution counts are {counts}, expected 1..{len(counts)} (one clean run)")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.get("tags", [])
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors and RAISES_TAG not in tags:
            found.append(f"cell {i} has an error output ({errors[0].get('ename')}) but no '{RAISES_TAG}' tag")
        if RAISES_TAG in tags and not errors:
            found.append(f"cell {i} is tagged '{RAISES_TAG}' but raised nothing")
        for key in VOLATILE_CELL_METADATA:
            if key in cell.metadata:
                found.append(f"cell {i} carries volatile metadata '{key}'")
    found += [f"absolute path in an output, {p}: run `python -m vaelib.nbtools tidy`" for p in absolute_paths(nb)]
    return found


def lecture_problems(nb: nbformat.NotebookNode, repo_url: str | None = None) -> list[str]:
    """What a lecture lacks beyond :func:`problems`: its install cell, first among code cells."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or INSTALL_TAG not in code[0].metadata.get("tags", []):
        return [
            f"the first code cell is not the install cell (tag '{INSTALL_TAG}'); run it with `python -m vaelib.nbtools run`"
        ]
    if code[0].source != install_cell_source(repo_url or repository_url()):
        return ["the install cell is out of date; run the notebook with `python -m vaelib.nbtools run`"]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaelib.nbtools", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="execute notebooks in place on a fresh kernel")
    p_run.add_argument("paths", nargs="+", type=Path)
    p_run.add_argument("--timeout", type=int, default=600, help="per-cell timeout in seconds")
    p_run.add_argument(
        "--install-cell",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="add or refresh the install cell (default: for notebooks in a notebooks/ folder)",
    )
    p_tidy = sub.add_parser("tidy", help="tidy metadata and scrub paths in place, without running")
    p_tidy.add_argument("paths", nargs="+", type=Path)
    p_val = sub.add_parser("validate", help="check notebooks were committed as a clean run")
    p_val.add_argument("paths", nargs="+", type=Path)
    args = parser.parse_args(argv)

    status = 0
    for path in args.paths:
        if not path.is_file():
            print(f"{path}: no such notebook", file=sys.stderr)
            return 2
        if args.command == "run":
            elapsed = run(path, timeout=args.timeout, install_cell=args.install_cell)
            print(f"{path}: ran in {elapsed:.1f} s")
        elif args.command == "tidy":
            print(f"{path}: {'tidied' if tidy(path) else 'already tidy'}")
        else:
            nb = nbformat.read(path, as_version=4)
            found = problems(nb) + (lecture_problems(nb) if is_lecture(path) else [])
            for p in found:
                print(f"{path}: {p}")
            status |= bool(found)
    return status


if __name__ == "__main__":
    sys.exit(main())
