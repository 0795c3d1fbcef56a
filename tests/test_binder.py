"""Binder builds the course from the repository's own environment file.

``repo2docker --no-build`` prints the Dockerfile Binder would build, without Docker: it must use
``environment.yml`` at the top of the repository (Python 3.11), and install it only after the
repository is copied in (the file installs vaelib from the folder, ``-e .[lab]``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _repo2docker() -> str:
    found = Path(sys.executable).with_name("repo2docker")
    if found.is_file():
        return str(found)
    found = shutil.which("repo2docker")
    if not found:
        pytest.skip("repo2docker is not installed (pip install -e '.[test]' brings it)")
    return found


def test_binder_build_plan_uses_environment_yml(tmp_path):
    for other in ("binder", ".binder", "requirements.txt", "Dockerfile", "apt.txt", "runtime.txt"):
        assert not (ROOT / other).exists(), f"{other} would change or override Binder's build plan"
    out = subprocess.run(
        [_repo2docker(), "--no-build", "--debug", "--user-id", "1000", "--user-name", "jovyan", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    plan = out.stdout + out.stderr
    assert "Building conda environment for python=3.11" in plan
    copy_repo = re.search(r"^COPY --chown=\S+ src/ \$\{REPO_DIR\}/$", plan, re.M)
    env_update = re.search(r'env update -p \$\{NB_PYTHON_PREFIX\} --file "environment\.yml"', plan)
    assert copy_repo and env_update, "the plan installs environment.yml from the repository"
    assert copy_repo.start() < env_update.start(), (
        "environment.yml (-e .) is installed after the repository is copied in"
    )
