"""Figures of numbers: training curves, per-dimension KL bars, bounds against k.

Introduced in lecture 05 (training curves, KL bars, the IWAE bound against k);
the lectures call them through :mod:`vaelib.plots`, which re-exports them. Every function returns
the matplotlib ``Figure``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from vaelib._figure import new_axes, to_numpy

__all__ = ["training_curves", "kl_bars", "bound_vs_k"]


def _as_histories(histories) -> dict:
    """``{"": h}`` for one history, ``dict(histories)`` for named ones (a history: per-epoch lists, with ``epoch``)."""
    if hasattr(histories, "epoch"):
        return {"": histories}
    if isinstance(histories, Mapping) and all(hasattr(h, "epoch") for h in histories.values()):
        return dict(histories)
    raise TypeError(f"histories must be a History or a dict of name -> History; got {type(histories).__name__}.")


def training_curves(histories, *, keys: Sequence[str] = ("loss", "recon", "kl")) -> Figure:
    """Per-epoch curves of a training run (or several, by name), one panel per quantity.

    Training values are solid lines; validation values (``val_loss`` ...) dashed, same colour.

    Args:
        histories: a :class:`vaelib.train.History` or ``{"name": History}``.
        keys: which quantities to plot (attributes of History).

    Returns:
        the Figure, one axes per key.
    """
    runs = _as_histories(histories)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.6), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for i, (name, h) in enumerate(runs.items()):
            color = f"C{i}"
            ax.plot(h.epoch, getattr(h, key), color=color, label=f"{name} train".strip())
            val = getattr(h, f"val_{key}", [])
            if val:
                ax.plot(h.epoch, val, color=color, ls="--", label=f"{name} test".strip())
        ax.set_xlabel("epoch")
        ax.set_title({"loss": "loss (nats)", "recon": "reconstruction (nats)", "kl": "KL (nats)"}.get(key, key))
    axes[0, -1].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def kl_bars(
    kl_dims: Mapping[str, object], activity: Mapping[str, object] | None = None, *, threshold: float = 0.01
) -> Figure:
    """Per-dimension KL of several models (top row) and, optionally, each dimension's activity (bottom row).

    The KL row shows KL_k = E_x KL(q(z_k | x) || N(0, 1)), sorted from largest to smallest; it
    has no threshold line, because no threshold is defined on it. The activity row shows, in the
    same order of dimensions, A_k = Var_x(mu_k(x)), the statistic of the active-unit test
    (Burda et al. 2016, Section 5.2), with its threshold (0.01) as a dotted line.

    Args:
        kl_dims: ``{"name": tensor (K,)}`` from :func:`vaelib.objectives.kl_per_dimension`.
        activity: ``{"name": tensor (K,)}``, e.g. ``objectives.active_units(model, x).variance``,
            with the same names, or None for the KL row alone.
        threshold: the active-unit threshold drawn on the activity row.

    Returns:
        the Figure; ``fig.kl_axes[i].patches`` are the KL bars of the i-th model and
        ``fig.activity_axes[i]`` (if ``activity``) its activity bars with the threshold line.
    """
    if activity is not None and list(activity) != list(kl_dims):
        raise ValueError(f"activity must have the same names as kl_dims, {list(kl_dims)}; got {list(activity)}.")
    rows = 1 if activity is None else 2
    fig, axes = plt.subplots(
        rows, len(kl_dims), figsize=(2.6 * len(kl_dims), 2.2 * rows + 0.2), squeeze=False, sharey="row"
    )
    for i, (name, kl) in enumerate(kl_dims.items()):
        kl = to_numpy(kl)
        order = np.argsort(-kl, kind="stable")
        ax = axes[0, i]
        ax.bar(np.arange(len(kl)), kl[order], color="C0", width=0.8)
        ax.set_yscale("symlog", linthresh=1e-2)
        ax.set_title(name, fontsize=9)
        if activity is not None:
            a = to_numpy(activity[name])[order]
            ax2 = axes[1, i]
            ax2.bar(np.arange(len(a)), a, color=["C2" if v > threshold else "0.6" for v in a], width=0.8)
            ax2.axhline(threshold, color="0.2", ls=":", lw=1.2)
            ax2.set_yscale("symlog", linthresh=1e-3)
        axes[-1, i].set_xlabel("latent dimension (sorted by KL)")
    axes[0, 0].set_ylabel("KL$_k$ (nats)")
    if activity is not None:
        axes[1, 0].set_ylabel(f"Var$_x(\\mu_k)$\n(active if > {threshold:g}: dotted)")
    fig.kl_axes = list(axes[0])
    fig.activity_axes = list(axes[1]) if activity is not None else []
    fig.tight_layout()
    return fig


def bound_vs_k(
    ks: Sequence[int],
    bounds,
    stderr=None,
    *,
    elbo: float | None = None,
    ylabel: str = "bound on log p(x) (nats)",
    ax=None,
) -> Figure:
    """The importance-weighted bound L_k against k (log scale), with error bars and the ELBO.

    Args:
        ks: the numbers of samples.
        bounds: the mean bound for each k (nats), or any quantity per k (e.g. L_k - ELBO).
        stderr: standard errors of those means, or None.
        elbo: draw the ELBO at this height as a horizontal line (0 when plotting L_k - ELBO).
        ylabel: the y-axis label.

    Returns:
        the Figure.
    """
    fig, ax = new_axes(ax, (4.2, 2.8))
    bounds = to_numpy(bounds)
    ax.errorbar(
        ks, bounds, yerr=None if stderr is None else to_numpy(stderr), marker="o", capsize=3, label="$L_k$ (IWAE)"
    )
    if elbo is not None:
        ax.axhline(elbo, color="C1", ls="--", label="ELBO")
    ax.set_xscale("log")
    ax.set_xlabel("k (importance samples)")
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False)
    return fig
