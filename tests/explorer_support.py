"""Helpers shared by the explorer tests (tests/test_explorers_*.py)."""

from __future__ import annotations

import numpy as np

from vaelib.explorers.base import HIDPI


def differs_from_full_draw(explorer) -> float:
    """The fraction of pixels where the explorer's last (fast) redraw differs from a full draw of its figure."""
    fast = explorer.pixels.copy()
    fig = explorer.figure()
    fig.set_dpi(72 * HIDPI)  # at the explorer's own resolution
    fig.canvas.draw()
    return float((fast != np.asarray(fig.canvas.buffer_rgba())[..., :3]).any(axis=2).mean())


def changed(before: np.ndarray, after: np.ndarray) -> float:
    """The fraction of pixels that differ between two images ``(H, W, 3)``."""
    return float((before != after).any(axis=2).mean())
