"""fit inside a Jupyter kernel: a cell that exceeds nbval's time limit fails the run, and the
progress display a saved notebook keeps is the final one (not a widget frozen at 0%).

Each test runs a small generated notebook in a fresh kernel (a few seconds each).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]

SETUP = """\
import torch
from vaelib.models import VAE
from vaelib.train import fit
torch.manual_seed(0)
torch.set_num_threads(1)
x = (torch.rand(256, 16, generator=torch.Generator().manual_seed(0)) > 0.5).float()
model = VAE(16, 2, [8])"""


def _notebook(path: Path, *cells: tuple[str, list[str]]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source, metadata={"tags": tags}) for source, tags in cells]
    nbformat.write(nb, path)
    return path


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _nbval(path: Path, timeout: int) -> subprocess.CompletedProcess:
    """pytest --nbval on one notebook, outside this repository's configuration (no ini file)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval",
            "--nbval-current-env",
            f"--nbval-cell-timeout={timeout}",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "-q",
            path.name,
        ],
        cwd=path.parent,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_a_fit_cell_that_exceeds_the_cell_timeout_fails_the_test_run(tmp_path):
    """Before: fit caught nbval's interrupt as a clean Ctrl-C, the cell passed, every later cell
    was an expected failure that passed, and pytest exited 0. Now the interrupt re-raises."""
    slow = _notebook(
        tmp_path / "slow.ipynb",
        (SETUP, []),
        ("history = fit(model, x, epochs=100_000, batch_size=8, progress=False)", ["nbval-ignore-output"]),
        ("print('after')", []),
    )
    result = _nbval(slow, timeout=25)  # ample for the imports on a busy machine; fit needs hours
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "FAILED slow.ipynb::Cell 1" in output and "TrainingInterrupted" in output, output
    assert "1 failed" in output and "Cell 0" not in output.split("short test summary")[-1], output


@pytest.mark.slow
def test_the_same_notebook_passes_when_fit_finishes_in_time(tmp_path):
    """The control: the generated notebook itself is sound (so the failure above is the timeout)."""
    quick = _notebook(
        tmp_path / "quick.ipynb",
        (SETUP, []),
        ("history = fit(model, x, epochs=1, batch_size=64, progress=False)", ["nbval-ignore-output"]),
        ("print('after')", []),
    )
    # nbval compares outputs with the committed ones: execute it once to commit them.
    from nbclient import NotebookClient

    nb = nbformat.read(quick, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute(
        env=_env()
    )
    nbformat.write(nb, quick)
    result = _nbval(quick, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_a_saved_notebook_keeps_the_final_progress_state_not_a_frozen_widget(tmp_path):
    from nbclient import NotebookClient

    path = _notebook(
        tmp_path / "progress.ipynb",
        (SETUP, []),
        ("history = fit(model, x, epochs=3, batch_size=64, progress=True)", []),
    )
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute(
        env=_env()
    )
    outputs = nb.cells[1].outputs
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    bars = [o["data"]["text/plain"] for o in outputs if o.output_type == "display_data"]
    assert len(bars) == 1, outputs  # one display, redrawn in place
    assert "100%" in bars[0] and "12/12" in bars[0] and "epoch 3/3" in bars[0], bars[0]
    assert " 0%" not in bars[0]
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream" and o.name == "stdout")
    assert printed.startswith("fit: 3 epochs in"), printed
