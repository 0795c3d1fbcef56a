"""The two README commands, CI and the conda environment agree with each other."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _command(marker: str) -> str:
    match = re.search(rf"<!-- {marker} -->\s*```\s*\n(.*?)\n```\s*<!-- /{marker} -->", README, re.S)
    assert match, f"README.md has no command between <!-- {marker} --> markers"
    return match.group(1).strip()


def test_readme_has_exactly_two_one_line_commands():
    for marker in ("start-command", "test-command"):
        assert "\n" not in _command(marker)
    assert "jupyter lab" in _command("start-command")
    assert "pytest" in _command("test-command") and "[test]" in _command("test-command")


def test_ci_runs_the_readme_test_command():
    """.ci/run extracts its command from the README; check it extracts exactly the test command."""
    script = (ROOT / ".ci" / "run").read_text()
    awk = re.search(r"cmd=\$\(awk '(.*?)' README.md\)", script)
    assert awk, ".ci/run no longer reads its command from README.md"
    out = subprocess.run(["awk", awk.group(1), "README.md"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == _command("test-command")


def test_torch_is_pinned_and_the_test_extra_exists():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "torch==2.13.0" in [d.split("#")[0].strip() for d in project["dependencies"]]
    assert {"pytest", "hypothesis", "playwright"} <= {re.split(r"[<>=]", d)[0] for d in project["optional-dependencies"]["test"]}


def test_environment_yml_installs_vaelib_with_the_same_pins():
    env = (ROOT / "environment.yml").read_text()
    assert "- -e .[test]" in env, "environment.yml must install vaelib (and through it the pinned packages)"
    assert "torch==2.13.0" in env and "python=3.11" in env
