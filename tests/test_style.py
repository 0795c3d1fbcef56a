"""One style for the whole code base: ruff's linter and formatter, as configured in pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATHS = ["vaelib", "tests", "benchmarks"]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(exe).exists():
        pytest.fail("ruff is not installed: it is in the test extra (pip install -e '.[test]').")
    return subprocess.run([exe, *args, *PATHS], cwd=ROOT, capture_output=True, text=True)


def test_lint_is_clean():
    result = _ruff("check", "--no-cache")
    assert result.returncode == 0, (
        "ruff check found problems (fix with `ruff check --fix`):\n" + result.stdout + result.stderr
    )


def test_formatting_is_clean():
    result = _ruff("format", "--check", "--no-cache")
    assert result.returncode == 0, "files need `ruff format`:\n" + result.stdout + result.stderr
