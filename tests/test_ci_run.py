""".ci/run installs the system packages it needs as root, through passwordless sudo otherwise,
and says what to install where it can do neither; then it runs the README's test command.

Each case runs a copy of .ci/run with a README whose test command only echoes, and a PATH of
stand-ins: ``id`` (the user), ``sudo`` and ``apt-get`` (which record their arguments), and no
``chromium``, so the script always finds something to install.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _run_ci(tmp_path: Path, uid: int, sudo: str | None) -> tuple[subprocess.CompletedProcess, str]:
    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "run", repo / ".ci" / "run")
    (repo / "README.md").write_text("<!-- test-command -->\n```\necho ran-the-tests\n```\n<!-- /test-command -->\n")
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    log = tmp_path / "calls.log"
    for tool in ("awk", "dirname", "env", "cat", "bash"):
        os.symlink(shutil.which(tool), bin_ / tool)
    _stub(bin_, "id", f"echo {uid}")
    _stub(bin_, "apt-get", f'echo "apt-get $*" >> {log}')
    if sudo == "passwordless":
        _stub(bin_, "sudo", f'[ "$1" = -n ] && shift; [ "$1" = true ] && exit 0; echo "sudo $*" >> {log}; "$@"')
    elif sudo == "password":
        _stub(bin_, "sudo", "echo 'sudo: a password is required' >&2; exit 1")
    result = subprocess.run(
        ["bash", str(repo / ".ci" / "run")],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": str(bin_), "HOME": str(tmp_path)},
    )
    return result, log.read_text() if log.exists() else ""


@pytest.mark.parametrize("uid, sudo", [(0, None), (1000, "passwordless")], ids=["root", "sudo"])
def test_installs_as_root_or_through_sudo(tmp_path, uid, sudo):
    result, calls = _run_ci(tmp_path, uid, sudo)
    assert result.returncode == 0, result.stderr
    assert "chromium chromium-driver" in result.stdout and "ran-the-tests" in result.stdout
    assert "apt-get update -q" in calls and "install -y -q --no-install-recommends chromium" in calls
    assert ("sudo" in calls) == (sudo is not None)


@pytest.mark.parametrize("sudo", [None, "password"], ids=["no-sudo", "sudo-needs-a-password"])
def test_says_what_to_install_when_it_cannot(tmp_path, sudo):
    result, calls = _run_ci(tmp_path, 1000, sudo)
    assert result.returncode == 0 and "ran-the-tests" in result.stdout
    assert calls == "", "nothing may be installed without root"
    assert "sudo apt-get install chromium chromium-driver" in result.stderr
