"""What every lecture and sheet does first: seed everything and set figure defaults (sharp on HiDPI).

Introduced in lecture 01. Call ``setup(seed=0)`` in a notebook's first code cell.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def setup(seed: int = 0, threads: int | None = 1) -> None:
    """Seed ``random``, numpy and torch, limit torch's threads, and set matplotlib defaults.

    Args:
        seed: the seed for every random number generator.
        threads: torch's intra-op threads; ``None`` leaves torch's default (one per core).
            One thread is the default because the course's models are small: on an idle 2-core
            machine two threads train them only about 1.4x faster (benchmarks/REPORT.md,
            ``fit_threads1``), while two threads on a CPU busy with anything else stall each
            other (measured 5-20x slower while developing the course); and a fixed thread count
            keeps floating-point reductions, hence the printed numbers, the same on machines with
            different core counts. Pass ``threads=None`` on a machine of your own to use every core.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads is not None:
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise ValueError(f"threads must be an integer >= 1 or None; got {threads!r}.")
        torch.set_num_threads(threads)
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
    _sharp_inline_figures()


def _sharp_inline_figures() -> None:
    """In a Jupyter kernel, draw inline figures at twice the pixels ("retina"), shown at the same size.

    Figures stay 72 dpi in layout (so their size on screen is unchanged) but are sharp on HiDPI
    screens; a committed PNG is about twice the bytes. Outside IPython this does nothing.
    """
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:
        return
    if get_ipython() is not None:
        set_matplotlib_formats("retina")
