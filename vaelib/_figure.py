"""What every figure module shares: tensors to numpy, a new or given axes, the class colours.

Used by :mod:`vaelib.plots`, :mod:`vaelib.curves` and :mod:`vaelib.latent_canvas` (lecture 05 on).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = ["CLASS_COLORS", "to_numpy", "new_axes"]

CLASS_COLORS = plt.get_cmap("tab10").colors  # one colour per digit class 0-9


def to_numpy(a) -> np.ndarray:
    """A tensor (detached, on the CPU) or array-like as a numpy array, for matplotlib and numpy code."""
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def new_axes(ax, figsize):
    """``(fig, ax)``: a new figure of ``figsize`` inches, or the given ``ax`` and its figure."""
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax
