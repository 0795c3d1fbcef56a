"""fit inside a Jupyter kernel: a cell that exceeds nbval's time limit fails the run, and the
progress display a saved notebook keeps is the final one (not a widget frozen at 0%).

Each test runs small generated notebooks in fresh kernels (a few seconds each); the time-limit test
and its control share one nbval run.
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


def _nbval(folder: Path, names: list[str], timeout: int) -> subprocess.CompletedProcess:
    """pytest --nbval on notebooks in ``folder``, outside this repository's configuration (no ini
    file); ``-rA`` lists every cell's outcome."""
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
            "-rA",
            *names,
        ],
        cwd=folder,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


CELL_TIMEOUT_S = 12  # ample for the imports on a busy machine (about 3 s idle); the slow fit needs hours


@pytest.fixture(scope="module")
def timed_run(tmp_path_factory) -> tuple[str, int]:
    """One nbval run, with a cell time limit, over two generated notebooks: ``slow.ipynb``, whose fit
    cannot finish in time, and its control ``quick.ipynb``, the same notebook with a fit that does.
    One pytest process for both (instead of one each) is the saving; each test reads its own part."""
    folder = tmp_path_factory.mktemp("timed")
    _notebook(
        folder / "slow.ipynb",
        (SETUP, []),
        ("history = fit(model, x, epochs=100_000, batch_size=8, progress=False)", ["nbval-ignore-output"]),
        ("print('after')", []),
    )
    quick = _notebook(
        folder / "quick.ipynb",
        (SETUP, []),
        ("history = fit(model, x, epochs=1, batch_size=64, progress=False)", ["nbval-ignore-output"]),
        ("print('after')", []),
    )
    # nbval compares outputs with the committed ones: commit the control's one printed line.
    nb = nbformat.read(quick, as_version=4)
    for count, cell in enumerate(nb.cells, 1):
        cell.execution_count = count  # a cell nbval counts as run
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="after\n")]
    nbformat.write(nb, quick)
    result = _nbval(folder, ["quick.ipynb", "slow.ipynb"], timeout=CELL_TIMEOUT_S)
    return result.stdout + result.stderr, result.returncode


@pytest.mark.slow
def test_a_fit_cell_that_exceeds_the_cell_timeout_fails_the_test_run(timed_run):
    """Before: fit caught nbval's interrupt as a clean Ctrl-C, the cell passed, every later cell
    was an expected failure that passed, and pytest exited 0. Now the interrupt re-raises."""
    output, returncode = timed_run
    assert returncode != 0, output
    assert "FAILED slow.ipynb::Cell 1" in output and "TrainingInterrupted" in output, output
    assert "1 failed" in output and "PASSED slow.ipynb::Cell 0" in output, output  # the imports were in time


@pytest.mark.slow
def test_the_same_notebook_passes_when_fit_finishes_in_time(timed_run):
    """The control: the generated notebook itself is sound (so the failure above is the timeout)."""
    output, _ = timed_run
    for cell in range(3):
        assert f"PASSED quick.ipynb::Cell {cell}" in output, output
    assert "FAILED quick.ipynb" not in output, output


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
