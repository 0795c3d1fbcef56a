"""Run and validate the course notebooks.

``python -m vaelib.nbtools run notebooks/01_the_stochastic_node.ipynb [...]`` executes each
notebook top to bottom on a fresh kernel (working directory: the notebook's folder), in place,
normalises its metadata (kernelspec, no widget state, no timing metadata), writes it atomically
and prints its run time. Use it after editing a lecture or a sheet, then commit the outputs.

``python -m vaelib.nbtools validate PATH ...`` checks what the notebook tests check: run top to
bottom (execution counts 1..n), no error outputs except in cells tagged ``raises-exception``,
the normalised kernelspec, and no stray widget state.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat

from vaelib._io import atomic_write

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python", "pygments_lexer": "ipython3"}
RAISES_TAG = "raises-exception"
# Cell metadata keys that tools add and that carry nothing a reader needs.
VOLATILE_CELL_METADATA = ("execution", "collapsed", "scrolled", "jp-MarkdownHeadingCollapsed")


def write_atomic(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write ``nb`` to ``path`` through a temporary file and a rename: never half-written."""
    text = nbformat.writes(nb)
    text = text if text.endswith("\n") else text + "\n"  # exactly what nbformat.write puts in a file
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def normalise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Set the normalised kernelspec and drop widget state and volatile metadata (in place)."""
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = dict(LANGUAGE_INFO)
    for cell in nb.cells:
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
    return nb


def run(path: Path, timeout: int = 600) -> float:
    """Execute the notebook at ``path`` in place on a fresh kernel; return the run time in s."""
    from nbclient import NotebookClient

    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
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
    write_atomic(normalise(nb), path)
    return elapsed


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """Everything that shows ``nb`` was not committed as a clean top-to-bottom run."""
    found = []
    if nb.metadata.get("kernelspec") != KERNELSPEC:
        found.append(f"kernelspec is {nb.metadata.get('kernelspec')!r}, expected {KERNELSPEC!r}")
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
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaelib.nbtools", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="execute notebooks in place on a fresh kernel")
    p_run.add_argument("paths", nargs="+", type=Path)
    p_run.add_argument("--timeout", type=int, default=600, help="per-cell timeout in seconds")
    p_val = sub.add_parser("validate", help="check notebooks were committed as a clean run")
    p_val.add_argument("paths", nargs="+", type=Path)
    args = parser.parse_args(argv)

    status = 0
    for path in args.paths:
        if not path.is_file():
            print(f"{path}: no such notebook", file=sys.stderr)
            return 2
        if args.command == "run":
            elapsed = run(path, timeout=args.timeout)
            print(f"{path}: ran in {elapsed:.1f} s")
        else:
            found = problems(nbformat.read(path, as_version=4))
            for p in found:
                print(f"{path}: {p}")
            status |= bool(found)
    return status


if __name__ == "__main__":
    sys.exit(main())
