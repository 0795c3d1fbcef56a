"""The README commands, CI, the package metadata and the conda/Binder environment agree.

The README's two commands are the contract with a new user: these tests read them from the
README and check what they install and where they start JupyterLab.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

import vaelib

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
LECTURE_01 = "notebooks/01_the_stochastic_node.ipynb"
# What the lectures import, by distribution name -> import name.
CORE = {"torch": "torch", "numpy": "numpy", "scipy": "scipy", "matplotlib": "matplotlib",
        "ipywidgets": "ipywidgets", "tqdm": "tqdm", "sympy": "sympy"}  # fmt: skip
# vaelib modules that only instructors' tools use (they need the `lab` extra).
INSTRUCTOR_MODULES = {"nbtools.py", "exercises.py"}


def _command(marker: str) -> str:
    match = re.search(rf"<!-- {marker} -->\s*```\s*\n(.*?)\n```\s*<!-- /{marker} -->", README, re.S)
    assert match, f"README.md has no command between <!-- {marker} --> markers"
    return match.group(1).strip()


def _steps(marker: str) -> list[list[str]]:
    """The command's steps (split at &&), each as its argument list."""
    return [shlex.split(step) for step in _command(marker).split("&&")]


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()


def _pin(name: str) -> str:
    (pin,) = [d for d in PROJECT["dependencies"] if _name(d) == name]
    return pin.replace(" ", "")


def test_readme_has_exactly_two_one_line_commands():
    for marker in ("start-command", "test-command"):
        assert "\n" not in _command(marker)
    assert "jupyter lab" in _command("start-command")
    assert "pytest" in _command("test-command") and "[test]" in _command("test-command")


@pytest.mark.parametrize("marker", ["start-command", "test-command"])
def test_both_commands_take_the_cpu_build_of_the_pinned_torch(marker):
    """Step 2 installs torch alone from PyTorch's CPU index (the +cpu wheel on Linux; PyPI's Linux
    wheel is the CUDA build), at the version pyproject.toml pins; step 3 then installs the rest."""
    venv, torch_step, rest = _steps(marker)[:3]
    assert venv == ["python3", "-m", "venv", ".venv"]
    assert torch_step[:2] == [".venv/bin/pip", "install"]
    assert "--no-deps" in torch_step, "torch alone: its dependencies come from PyPI in the next step"
    assert torch_step[torch_step.index("--index-url") + 1] == CPU_INDEX
    assert torch_step[-1] == _pin("torch") == "torch==2.13.0"
    assert rest[:3] == [".venv/bin/pip", "install", "-e"]
    assert rest[3] == (".[lab]" if marker == "start-command" else ".[test]")


def test_start_command_opens_lecture_01_at_the_top_of_the_repository():
    """JupyterLab's root is the repository (exercises/ and solutions/ one click away), and it
    opens lecture 01: checked with jupyter_server's own parser of the command's arguments."""
    from jupyter_server.serverapp import ServerApp

    lab = _steps("start-command")[-1]
    assert lab[:2] == [".venv/bin/jupyter", "lab"]
    app = ServerApp()
    app.parse_command_line(lab[2:])
    assert Path(app.root_dir) == Path.cwd().resolve() and Path(app.file_to_run) == Path(LECTURE_01).resolve()
    assert (ROOT / LECTURE_01).is_file()
    for folder in ("notebooks", "exercises", "solutions"):
        assert (ROOT / folder).is_dir()
    assert "--allow-root" in README, "the README must say what to do as root in a container"


def test_ci_runs_the_readme_test_command():
    """.ci/run extracts its command from the README; check it extracts exactly the test command."""
    script = (ROOT / ".ci" / "run").read_text()
    awk = re.search(r"cmd=\$\(awk '(.*?)' README.md\)", script)
    assert awk, ".ci/run no longer reads its command from README.md"
    out = subprocess.run(["awk", awk.group(1), "README.md"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == _command("test-command")


def test_dependencies_by_role():
    core = {_name(d) for d in PROJECT["dependencies"]}
    assert core == set(CORE), "the package's own dependencies are exactly what the lectures import"
    extras = {k: {_name(d) for d in v} for k, v in PROJECT["optional-dependencies"].items()}
    assert {"jupyterlab", "ipykernel", "nbformat", "nbclient"} <= extras["lab"]
    assert {"sphinx", "myst-nb", "sphinx-book-theme"} <= extras["docs"]
    assert {"pytest", "nbval", "hypothesis", "playwright", "nbgrader", "jupyter-repo2docker"} <= extras["test"]
    assert "vaelib[lab,docs]" in PROJECT["optional-dependencies"]["test"]
    for heavy in ("mlxtend", "pandas", "scikit-learn", "nbval", "pytest", "jupyterlab"):
        assert heavy not in core, f"{heavy} is not something a lecture imports"


def _imports(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def _code_cells(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    lines = []
    for cell in cells:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            lines += [l for l in source.splitlines() if not l.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


def test_lectures_and_vaelib_import_only_the_core_dependencies():
    sources = {
        p: _code_cells(p)
        for p in sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))
    }
    sources |= {
        p: p.read_text(encoding="utf-8")
        for p in sorted((ROOT / "vaelib").rglob("*.py"))
        if p.name not in INSTRUCTOR_MODULES
    }
    allowed = set(CORE.values()) | set(sys.stdlib_module_names) | {"vaelib", "google"}  # google.colab: the install cell
    # IPython and its matplotlib-inline backend come with ipywidgets (a core dependency requires
    # ipython, which requires matplotlib-inline); course.setup() also guards their import.
    # PIL (pillow) is a dependency of matplotlib, a core dependency (widgets.py quantizes with it).
    allowed |= {"IPython", "matplotlib_inline", "PIL"}
    for path, source in sources.items():
        extra = _imports(source) - allowed
        assert not extra, f"{path.relative_to(ROOT)} imports {sorted(extra)}, not in the package's dependencies"


def test_version_has_one_source():
    assert PROJECT["dynamic"] == ["version"] and "version" not in PROJECT
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "vaelib.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", vaelib.__version__)
    assert metadata.version("vaelib") == vaelib.__version__


def test_licences_urls_and_typing_marker():
    assert PROJECT["license"] == "MIT"  # an SPDX expression (PEP 639)
    for name in PROJECT["license-files"]:
        assert (ROOT / name).is_file(), f"licence file {name} is missing"
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    content = (ROOT / "LICENSE-CONTENT").read_text()
    assert "CC BY 4.0" in content and "CC-BY-4.0" in content and "CC BY-SA 3.0" in content
    assert "CC BY-SA 3.0" in (ROOT / "vaelib" / "datasets" / "LICENSE-MNIST.md").read_text()
    urls = PROJECT["urls"]
    assert {"Homepage", "Repository", "Issues", "Documentation"} <= set(urls)
    assert all(u.startswith("https://") for u in urls.values())
    assert (ROOT / "vaelib" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["vaelib"]


def test_environment_yml_installs_vaelib_for_running_the_course():
    env = (ROOT / "environment.yml").read_text()
    assert "- -e .[lab]" in env, "environment.yml installs vaelib with the lab extra (the pins live in pyproject.toml)"
    assert "[test]" not in env.split("dependencies:")[1], "students do not need the test tools"
    assert f"- --extra-index-url {CPU_INDEX}" in env and "python=3.11" in env


def test_readme_launch_links_agree_with_the_project_urls():
    owner_repo = PROJECT["urls"]["Repository"].removeprefix("https://github.com/")
    binder = f"https://mybinder.org/v2/gh/{owner_repo}/HEAD?urlpath=lab/tree/{LECTURE_01}"
    colab = f"https://colab.research.google.com/github/{owner_repo}/blob/main/{LECTURE_01}"
    for link in (binder, colab, PROJECT["urls"]["Documentation"]):
        assert f"({link})" in README, f"README.md lacks the link {link}"


@pytest.mark.slow
def test_the_wheel_ships_the_digits_licences_and_typing_marker(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("vaelib-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert {"vaelib/datasets/mnist_5k.npz", "vaelib/datasets/LICENSE-MNIST.md", "vaelib/py.typed"} <= names
    assert f"Version: {vaelib.__version__}" in meta and "License-Expression: MIT" in meta
    assert any(n.endswith("licenses/LICENSE-CONTENT") for n in names)
    assert not any(n.startswith(("tests/", "notebooks/", "docs/")) for n in names)
