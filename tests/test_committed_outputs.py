"""What a reader of the committed notebooks sees (on GitHub, on the website, in JupyterLab
before running anything) is clean: no progress bar frozen at 0%, no absolute path of the machine
that ran it, figures sharp on HiDPI screens, and each lecture's install cell for Colab.

These check the committed files; `python -m vaelib.nbtools run` produces notebooks that pass
(with vaelib's `fit` printing a final bar or summary, and `vaelib.course.setup()` saving figures
at twice their displayed resolution).
"""

from __future__ import annotations

import base64
import re
import struct
from pathlib import Path

import nbformat
import pytest

from vaelib import nbtools

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "notebooks").glob("*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
COMMITTED = LECTURES + SOLUTIONS
IDS = [f"{p.parent.name}/{p.name}" for p in COMMITTED]
# A tqdm bar at 0%: "epoch 1/30:   0%|          | 0/960 [00:00<?, ?step/s]".
FROZEN_BAR = re.compile(r"(?<![\d.])0%\|")
HIDPI_FACTOR = 2  # pixels per displayed pixel: a "retina" PNG


def _outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            for out in cell.outputs:
                yield i, out


def _texts(out) -> list[str]:
    texts = [out.get("text", "")]
    texts += [v for k, v in out.get("data", {}).items() if k.startswith("text/")]
    return [t if isinstance(t, str) else "".join(t) for t in texts]


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels, from the PNG's IHDR chunk (bytes 16..24, big-endian)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    return struct.unpack(">II", png[16:24])


@pytest.mark.parametrize("path", COMMITTED, ids=IDS)
def test_no_progress_bar_frozen_at_zero(path):
    frozen = [(i, t.strip()[:80]) for i, out in _outputs(path) for t in _texts(out) if FROZEN_BAR.search(t)]
    assert not frozen, (
        f"{path.name}: outputs show a progress bar frozen at 0% (a widget bar saved before it "
        f"drew; a reader should see the final bar or the one-line summary): {frozen[:3]}"
    )


@pytest.mark.parametrize("path", COMMITTED, ids=IDS)
def test_no_absolute_paths_in_outputs(path):
    found = nbtools.absolute_paths(nbformat.read(path, as_version=4))
    assert not found, (
        f"{path.name}: outputs show paths of the machine that ran it (run `python -m vaelib.nbtools tidy`): {found[:3]}"
    )


@pytest.mark.parametrize("path", COMMITTED, ids=IDS)
def test_figures_are_sharp_on_hidpi_screens(path):
    """Each PNG has twice the pixels of its displayed size (output metadata width/height), as
    IPython's inline backend writes with figure_formats {'retina'}."""
    blurry = []
    for i, out in _outputs(path):
        data = out.get("data", {})
        if "image/png" not in data:
            continue
        width, height = png_size(base64.b64decode(data["image/png"]))
        shown = out.get("metadata", {}).get("image/png", {})
        if not shown or width < HIDPI_FACTOR * int(shown["width"]) - 1:
            blurry.append(f"cell {i}: {width}x{height} px shown at {shown.get('width', width)} px wide")
    assert not blurry, f"{path.name}: figures at 1x resolution (blurry on HiDPI screens): {blurry[:3]}"


@pytest.mark.parametrize("path", LECTURES, ids=[p.name for p in LECTURES])
def test_lecture_starts_with_its_install_cell(path):
    assert nbtools.lecture_problems(nbformat.read(path, as_version=4)) == []


def test_png_size_reads_the_header():
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAMAAAACCAIAAAASFvFNAAAAC0lEQVR4nGNgwAQAABQAAX3+Hu4AAAAASUVORK5CYII="
    )
    assert png_size(png) == (3, 2)
    with pytest.raises(ValueError, match="not a PNG"):
        png_size(b"GIF89a" + bytes(30))
