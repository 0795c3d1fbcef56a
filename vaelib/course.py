"""What every lecture and sheet does first: seed everything and set figure defaults.

Introduced in lecture 01. Call ``setup(seed=0)`` in a notebook's first code cell.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def setup(seed: int = 0) -> None:
    """Seed ``random``, numpy and torch, and set small, legible matplotlib defaults.

    Args:
        seed: the seed for every random number generator.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    import matplotlib

    matplotlib.rcParams.update(
        {
            "figure.dpi": 72,  # small PNGs: notebooks are committed with their outputs
            "figure.figsize": (6.0, 3.5),
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 10,
        }
    )
