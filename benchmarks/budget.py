"""The course's run-time budget: every notebook under nbval, and the README's test command.

Both are timed in a clean temporary clone (``git clone`` of the repository), so no stale
state (``__pycache__``, notebook checkpoints, files that are not committed) takes part; the
clone is of the committed ``HEAD``, and the report says if the working tree had uncommitted
changes.

"After install": the targets are for the tests once the environment is installed, so the
install steps of the README command (``python3 -m venv .venv``, ``.venv/bin/pip install ...``)
are not re-run (they would download GBs); the clone's ``.venv`` is a link to this checkout's
installed ``.venv``, and ``PYTHONPATH`` points at the clone so that the clone's ``vaelib`` is
imported, in pytest and in the notebook kernels it starts, not this checkout's editable install.
The remaining steps of the command (``.venv/bin/python -m pytest``) run exactly as written.

Targets (issue 17): every lecture under 30 s and the six together under 90 s, each exercise sheet
under 30 s, the whole test command under 150 s.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

__all__ = ["ROOT", "readme_command", "split_command", "target_seconds", "measure"]

ROOT = Path(__file__).resolve().parents[1]
COMMAND_TARGET_SECONDS = 150
LECTURE_SECONDS, LECTURES_TOTAL_SECONDS, SHEET_SECONDS = 30.0, 90.0, 30.0


def readme_command(readme: Path) -> str:
    """The command between the ``<!-- test-command -->`` markers of the README."""
    text = readme.read_text(encoding="utf-8")
    match = re.search(r"<!-- test-command -->\s*```[^\n]*\n(.*?)\n```\s*<!-- /test-command -->", text, re.S)
    if not match:
        raise ValueError(f"{readme} has no command between <!-- test-command --> and <!-- /test-command --> markers.")
    return match.group(1).strip()


def split_command(command: str) -> tuple[list[str], list[str]]:
    """Split ``a && b && c`` into the install steps (venv, pip) and the test steps (the rest)."""
    steps = [s.strip() for s in command.split("&&") if s.strip()]
    install = [s for s in steps if re.search(r"(-m venv|\bpip\b|\buv\b|conda)", s)]
    tests = [s for s in steps if s not in install]
    if not tests:
        raise ValueError(f"the README test command {command!r} has no step besides the install steps.")
    return install, tests


def target_seconds(kind: str) -> float:
    """The budget of one notebook of ``kind`` (``notebooks`` or ``solutions``): 30 s for a lecture and for a sheet."""
    return SHEET_SECONDS if kind == "solutions" else LECTURE_SECONDS


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def _summary_line(output: str) -> str:
    """pytest's closing summary line ('3 passed in 12.3s'), or the last non-empty line."""
    lines = [line.strip("= ").strip() for line in output.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if re.search(r"\b(passed|failed|error|errors|skipped|no tests ran|tests? collected)\b", line):
            return line
    return lines[-1] if lines else ""


def _run(cmd: str | list[str], cwd: Path, env: dict, timeout: float) -> dict:
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=env,
            shell=isinstance(cmd, str),
            executable="/bin/bash" if isinstance(cmd, str) else None,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        seconds = time.perf_counter() - t0
        output = proc.stdout + proc.stderr
        summary = _summary_line(output)
        inner = re.search(r"\bin ([\d.]+)s\b", summary)
        return {
            "seconds": seconds,
            "pytest_seconds": float(inner.group(1)) if inner else None,
            "returncode": proc.returncode,
            "summary": summary,
            "tail": output[-3000:],
        }
    except subprocess.TimeoutExpired as err:
        output = (err.stdout or b"").decode(errors="replace") if isinstance(err.stdout, bytes) else (err.stdout or "")
        return {
            "seconds": time.perf_counter() - t0,
            "pytest_seconds": None,
            "returncode": None,
            "summary": f"timed out after {timeout:.0f} s",
            "tail": output[-3000:],
        }


def measure(
    *,
    root: Path = ROOT,
    notebooks: bool = True,
    command: bool = True,
    collect_only: bool = False,
    first_only: bool = False,
    timeout: float = 1800.0,
    log: Callable[[str], None] = print,
) -> dict:
    """Time every notebook under nbval and the README test command in a clean clone of ``root``.

    Args:
        root: the repository (its ``.venv`` must be installed).
        notebooks: time ``python -m pytest notebooks/X.ipynb`` for each lecture and sheet.
        command: time the README test command's test steps.
        collect_only: add ``--collect-only -q`` to each pytest call (a smoke run of this code:
            the times are then not run times).
        first_only: time only the first notebook of each kind (with ``collect_only``: a smoke run).
        timeout: seconds after which one call is stopped.

    Returns:
        a dict with ``commit``, ``dirty`` (uncommitted changes in the working tree), ``command``
        (the README command, the steps skipped and run), ``notebooks`` (one row per notebook:
        kind, name, seconds, target, returncode, summary) and ``test_command`` (seconds,
        target, returncode, summary).
    """
    venv_python = root / ".venv" / "bin" / "python"
    if not venv_python.exists():
        raise FileNotFoundError(
            f"no installed environment at {root / '.venv'}: run the README's install first "
            f"(python3 -m venv .venv && .venv/bin/pip install -e '.[test]')."
        )
    commit = _git("rev-parse", "HEAD", cwd=root)
    dirty = [line for line in _git("status", "--porcelain", cwd=root).splitlines() if line.strip()]
    full_command = readme_command(root / "README.md")
    install_steps, test_steps = split_command(full_command)
    extra = " --collect-only -q" if collect_only else ""
    result: dict = {
        "commit": commit,
        "dirty": dirty,
        "collect_only": collect_only,
        "first_only": first_only,
        "command": {"readme": full_command, "skipped_install_steps": install_steps, "run_steps": test_steps},
        "notebooks": [],
        "lectures_total": None,
        "test_command": None,
    }
    if dirty:
        log(
            f"  note: {len(dirty)} uncommitted change(s) in the working tree; the budget times the commit {commit[:10]}"
        )

    tmp = Path(tempfile.mkdtemp(prefix="vaelib-budget-"))
    clone = tmp / "repo"
    try:
        subprocess.run(["git", "clone", "--quiet", str(root), str(clone)], check=True, capture_output=True, text=True)
        (clone / ".venv").symlink_to(root / ".venv", target_is_directory=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(clone), *filter(None, [env.get("PYTHONPATH")])])
        env.pop("PYTEST_ADDOPTS", None)
        where = subprocess.run(
            [str(clone / ".venv" / "bin" / "python"), "-c", "import vaelib; print(vaelib.__file__)"],
            cwd=clone / "notebooks" if (clone / "notebooks").is_dir() else clone,
            env=env,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if not Path(where).resolve().is_relative_to(clone.resolve()):
            raise RuntimeError(
                f"in the clone, vaelib is imported from {where!r}, not from the clone {clone}; the budget would time the wrong code."
            )

        if notebooks:
            for kind in ("notebooks", "solutions"):
                paths = sorted((clone / kind).glob("*.ipynb"))
                for path in paths[:1] if first_only else paths:
                    cmd = [
                        str(clone / ".venv" / "bin" / "python"),
                        "-m",
                        "pytest",
                        f"{kind}/{path.name}",
                        "-q",
                        "-n",
                        "0",
                    ]
                    if collect_only:
                        cmd += ["--collect-only"]
                    row = _run(cmd, clone, env, timeout)
                    row.update(kind=kind, name=path.name, target=target_seconds(kind))
                    row["within_target"] = (
                        None if collect_only else row["returncode"] == 0 and row["seconds"] <= row["target"]
                    )
                    result["notebooks"].append(row)
                    log(f"  {kind}/{path.name}: {row['seconds']:.1f} s (target {row['target']:.0f} s) {row['summary']}")
            if not result["notebooks"]:
                log("  no notebooks committed yet")
            lectures = [row for row in result["notebooks"] if row["kind"] == "notebooks"]
            if lectures and not collect_only and not first_only:
                seconds = sum(row["seconds"] for row in lectures)
                result["lectures_total"] = {
                    "seconds": seconds,
                    "target": LECTURES_TOTAL_SECONDS,
                    "within_target": all(row["returncode"] == 0 for row in lectures)
                    and seconds <= LECTURES_TOTAL_SECONDS,
                }
                log(f"  the {len(lectures)} lectures together: {seconds:.1f} s (target {LECTURES_TOTAL_SECONDS:.0f} s)")
        if command:
            steps = " && ".join(test_steps) + extra
            row = _run(steps, clone, env, timeout)
            row.update(run=steps, target=COMMAND_TARGET_SECONDS)
            row["within_target"] = None if collect_only else row["returncode"] == 0 and row["seconds"] <= row["target"]
            result["test_command"] = row
            log(
                f"  test command ({steps}): {row['seconds']:.1f} s (target {COMMAND_TARGET_SECONDS} s) {row['summary']}"
            )
    finally:
        link = clone / ".venv"
        if link.is_symlink():
            link.unlink()  # never follow the link into the real environment
        shutil.rmtree(tmp, ignore_errors=True)
    return result
