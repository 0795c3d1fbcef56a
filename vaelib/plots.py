"""The figures the lectures share: image grids, latent scatters, decoded latent grids,
interpolation strips, training curves, per-dimension KL bars, bounds against k.

Introduced in lecture 05. Every function returns the matplotlib ``Figure`` (tests read the
axes and their images back); pass ``ax=`` where offered to draw into an existing axes.
Images are flattened rows of ``image_shape`` pixels (28 x 28 by default), values in [0, 1].
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from vaelib import _validate
from vaelib._figure import CLASS_COLORS, new_axes, to_numpy

# Re-exported: the lectures call plots.training_curves, plots.kl_bars and plots.bound_vs_k, which
# live in vaelib.curves (numbers against epochs, latent dimensions, k).
from vaelib.curves import bound_vs_k, kl_bars, training_curves

__all__ = [
    "tile",
    "image_grid",
    "latent_scatter",
    "latent_extent",
    "latent_grid",
    "interpolation_strip",
    "training_curves",
    "kl_bars",
    "bound_vs_k",
    "to_numpy",
    "CLASS_COLORS",
]


def _check_images(images, image_shape: tuple[int, int]) -> np.ndarray:
    if images is None or isinstance(images, (bool, str, bytes)):
        raise TypeError(
            f"images must be a tensor or array of pixel values, shape (N, H*W) or (N, H, W); got "
            f"{type(images).__name__} {images!r}"[:200]
        )
    arr = to_numpy(images).astype(np.float32, copy=False)
    pixels = image_shape[0] * image_shape[1]
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim == 3 and arr.shape[1:] == tuple(image_shape):
        arr = arr.reshape(len(arr), -1)
    if arr.ndim != 2 or arr.shape[1] != pixels or len(arr) == 0:
        raise ValueError(
            f"images must have shape (N, {pixels}) (flattened {image_shape[0]}x{image_shape[1]} images) "
            f"or (N, {image_shape[0]}, {image_shape[1]}) with N >= 1; got shape {arr.shape}. "
            f"Pass image_shape=(H, W) for other sizes."
        )
    if not np.isfinite(arr).all():
        raise _validate.NonFiniteError(
            f"images contains {int((~np.isfinite(arr)).sum())} NaN or inf pixel(s) (shape {arr.shape}); "
            f"pixel values must be finite numbers in [0, 1]. Check the model output that produced them."
        )
    return arr


def _show_bare(ax, array: np.ndarray) -> None:
    """``imshow`` a grey array in [0, 1] with no ticks, grid or frame."""
    ax.imshow(array, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.grid(False)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("left", "bottom", "top", "right"):
        ax.spines[side].set_visible(False)


def tile(
    images, ncols: int, *, image_shape: tuple[int, int] = (28, 28), pad: int = 1, pad_value: float = 1.0
) -> np.ndarray:
    """Arrange images in a grid, row by row, in one array (fast to draw and to encode).

    Args:
        images: shape ``(N, H*W)`` or ``(N, H, W)``.
        ncols: images per row; the last row is padded with ``pad_value``.
        image_shape: ``(H, W)``.
        pad: pixels of ``pad_value`` between images.

    Returns:
        array of shape ``(rows*(H+pad)-pad, ncols*(W+pad)-pad)``.
    """
    arr = _check_images(images, image_shape)
    ncols = _validate.positive_int("ncols", ncols)
    h, w = image_shape
    n = len(arr)
    rows = -(-n // ncols)
    out = np.full((rows * (h + pad) - pad, ncols * (w + pad) - pad), pad_value, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, ncols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = arr[i].reshape(h, w)
    return out


def image_grid(
    images,
    *,
    ncols: int = 10,
    image_shape: tuple[int, int] = (28, 28),
    row_labels: Sequence[str] | None = None,
    title: str | None = None,
    ax=None,
) -> Figure:
    """Show images in a grid (one ``imshow`` of the tiled array, grey scale, 0 = black).

    Args:
        images: shape ``(N, H*W)`` or ``(N, H, W)``, values in [0, 1].
        ncols: images per row.
        row_labels: a label per row (e.g. ``["data", "reconstruction"]``), shown on the left.
        title: the axes title.

    Returns:
        the Figure; ``fig.axes[0].images[0].get_array()`` is the tiled array.
    """
    grid = tile(images, ncols, image_shape=image_shape)
    rows = -(-len(_check_images(images, image_shape)) // ncols)
    fig, ax = new_axes(ax, (min(0.6 * ncols, 9), 0.6 * rows + (0.4 if title else 0.1)))
    _show_bare(ax, grid)
    h = image_shape[0]
    if row_labels is not None:
        if len(row_labels) != rows:
            raise ValueError(f"row_labels must have one label per row ({rows}); got {len(row_labels)}.")
        ax.set_yticks([r * (h + 1) + h / 2 for r in range(rows)], list(row_labels))
        ax.tick_params(left=False)
    if title:
        ax.set_title(title)
    return fig


def latent_scatter(z, y=None, *, ax=None, title: str | None = None, s: float = 4.0, legend: bool = True) -> Figure:
    """Scatter 2-d latent points, coloured by class.

    Args:
        z: latent points, shape ``(N, 2)`` (e.g. ``model.embed(x)``).
        y: class labels ``(N,)`` (integers 0-9), or None for one colour.
        s: marker size.
        legend: add a legend of the classes.

    Returns:
        the Figure; one ``PathCollection`` per class in ``ax.collections``.
    """
    z = to_numpy(z)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(
            f"z must have shape (N, 2) (a 2-d latent space); got {z.shape}. For K > 2, project first "
            f"(e.g. onto the two dimensions with the largest KL)."
        )
    fig, ax = new_axes(ax, (4.2, 3.8))
    if y is None:
        ax.scatter(z[:, 0], z[:, 1], s=s, color="0.3", linewidths=0)
    else:
        y = to_numpy(y)
        if y.shape != (len(z),):
            raise ValueError(f"y must have one label per point, shape ({len(z)},); got {y.shape}.")
        for c in np.unique(y):
            pts = z[y == c]
            ax.scatter(pts[:, 0], pts[:, 1], s=s, color=CLASS_COLORS[int(c) % 10], label=str(c), linewidths=0)
        if legend:
            ax.legend(
                markerscale=3,
                fontsize=7,
                loc="center left",
                bbox_to_anchor=(1.0, 0.5),
                frameon=False,
                handletextpad=0.1,
            )
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_aspect("equal", adjustable="datalim")
    if title:
        ax.set_title(title)
    return fig


def latent_extent(z, *, quantile: float = 0.01, margin: float = 0.1) -> tuple[float, float, float, float]:
    """A square window ``(z1_min, z1_max, z2_min, z2_max)`` holding the bulk of 2-d latent points.

    The window spans the ``quantile`` to ``1 - quantile`` range of each coordinate, widened by
    ``margin`` (a fraction), and made square so that distances look the same in both directions.
    """
    z = _validate.real("z", z)
    if z.dim() != 2 or z.shape[1] != 2:
        raise ValueError(f"z must have shape (N, 2): 2-d latent points, one per row; got shape {tuple(z.shape)}.")
    quantile = _validate.number(
        "quantile",
        quantile,
        low=0.0,
        high=0.49,
        explain="(the fraction of points left out at each end; 0 keeps them all)",
    )
    margin = _validate.number("margin", margin, low=0.0, explain="(a fraction of the window's width; 0.1 adds 10%)")
    z = to_numpy(z)
    lo = np.quantile(z, quantile, axis=0)
    hi = np.quantile(z, 1 - quantile, axis=0)
    center = (lo + hi) / 2
    half = (hi - lo).max() / 2 * (1 + margin)
    return (float(center[0] - half), float(center[0] + half), float(center[1] - half), float(center[1] + half))


@torch.no_grad()
def latent_grid(
    model,
    *,
    extent: tuple[float, float, float, float] = (-3.0, 3.0, -3.0, 3.0),
    n: int = 15,
    image_shape: tuple[int, int] = (28, 28),
    ax=None,
    title: str | None = None,
) -> Figure:
    """Decode an ``n x n`` grid of points of a 2-d latent plane, drawn at their coordinates.

    Each tile is ``sigmoid(decode(z))`` at the latent point in its centre (z2 grows upwards),
    and the image is placed with ``extent`` so that the axes are latent coordinates: it lines
    up with :func:`latent_scatter`. Kingma & Welling 2014, Figure 4.

    Args:
        model: has ``decode`` and ``latent_dim == 2``.
        extent: ``(z1_min, z1_max, z2_min, z2_max)``; for a VAE, the prior's +-3 std.
        n: points per side.

    Returns:
        the Figure; the axes' ``grid_z`` attribute holds the decoded points, shape ``(n*n, 2)``,
        in the order of the tiles (row by row, top row first).
    """
    if getattr(model, "latent_dim", 2) != 2:
        raise ValueError(f"latent_grid needs a model with latent_dim=2; got latent_dim={model.latent_dim}.")
    x0, x1, y0, y1 = extent
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"extent must be (z1_min, z1_max, z2_min, z2_max) with min < max; got {extent!r}.")
    device = next(model.parameters()).device
    # Decode at the centre of each tile, so the picture lines up with the axes' coordinates.
    z1 = x0 + (torch.arange(n) + 0.5) * (x1 - x0) / n
    z2 = y1 - (torch.arange(n) + 0.5) * (y1 - y0) / n  # top row = largest z2
    z = torch.stack(torch.meshgrid(z2, z1, indexing="ij")[::-1], dim=-1).reshape(-1, 2)  # (n*n, 2)
    x_hat = (
        model.decode_mean(z.to(device)) if hasattr(model, "decode_mean") else torch.sigmoid(model.decode(z.to(device)))
    )
    grid = tile(x_hat, n, image_shape=image_shape, pad=0)
    fig, ax = new_axes(ax, (3.8, 3.8))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, extent=extent, interpolation="nearest")
    ax.grid(False)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    ax.grid_z = z.numpy()
    return fig


@torch.no_grad()
def interpolation_strip(
    models: Mapping[str, object],
    x_a,
    x_b,
    *,
    steps: int = 10,
    image_shape: tuple[int, int] = (28, 28),
    title: str | None = None,
    judge=None,
) -> Figure:
    """Decode the straight latent path between two images, one row per model.

    Each row shows ``x_a``, then ``steps`` images decoded along z(t) = (1 - t) z_a + t z_b
    (:func:`vaelib.models.latent_path`), then ``x_b``, separated by a gap.

    Args:
        models: ``{"AE": ae, "VAE": vae}``: models with ``embed`` and ``decode_mean``.
        x_a, x_b: the two images, shape ``(H*W,)``.
        steps: points on the path (ends included).
        judge: a :class:`vaelib.judge.DigitJudge`, or None; if given, the judge's digit and
            confidence are written under each decode (grey when the confidence is below 0.9).

    Returns:
        the Figure, one axes per model; ``fig.paths[name]`` is ``(z, x_hat)`` of that row, and
        with a judge ``fig.verdicts[name]`` is its :class:`vaelib.judge.Verdict` on the decodes.
    """
    from vaelib.models import latent_path

    x_a = torch.as_tensor(_check_images(x_a, image_shape)[0])
    x_b = torch.as_tensor(_check_images(x_b, image_shape)[0])
    row_height = 0.75 + (0.2 if judge is not None else 0)
    fig, axes = plt.subplots(
        len(models), 1, figsize=(0.55 * (steps + 3), row_height * len(models) + (0.3 if title else 0)), squeeze=False
    )
    fig.paths, fig.verdicts = {}, {}
    h, w = image_shape
    gap = np.ones((h, 4), dtype=np.float32)
    for ax, (name, model) in zip(axes[:, 0], models.items()):
        device = next(model.parameters()).device
        z, x_hat = latent_path(model, x_a.to(device), x_b.to(device), steps)
        fig.paths[name] = (z.cpu(), x_hat.cpu())
        row = tile(x_hat, steps, image_shape=image_shape)
        strip = np.concatenate([x_a.reshape(h, w).numpy(), gap, row, gap, x_b.reshape(h, w).numpy()], axis=1)
        _show_bare(ax, strip)
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
        if judge is not None:
            from vaelib.judge import judge_images

            verdict = judge_images(judge, x_hat.reshape(len(x_hat), -1).cpu())
            fig.verdicts[name] = verdict
            for j, (d, c) in enumerate(zip(verdict.digit.tolist(), verdict.confidence.tolist())):
                ax.text(
                    w + 4 + j * (w + 1) + w / 2,
                    h + 0.5,
                    f"{d} {c:.2f}".replace("0.", "."),
                    ha="center",
                    va="top",
                    fontsize=6.5,
                    color="black" if c >= 0.9 else "0.55",
                )
    if title:
        axes[0, 0].set_title(title)
    if judge is not None:
        fig.text(
            0.01,
            0.0,
            "under each decode: the judge's digit and confidence (grey: below 0.9)",
            fontsize=6.5,
            color="0.4",
        )
    return fig
