"""The pixel layer of the latent explorers: a PNG encoder, the latent scatter canvas, its palette.

Introduced in lecture 05 (under :mod:`vaelib.widgets`). A slider step of an explorer must be
cheap, so nothing here makes a figure per step: a latent scatter is rendered once by matplotlib
into an RGB array (:class:`ScatterCanvas`), quantized to a palette shared by the canvases
(:func:`share_palette`); each step paints a path and a marker into a copy of the palette
indices with numpy and sends them as PNG bytes (:func:`png_bytes`, a minimal zlib encoder) to an
``ipywidgets.Image``. :func:`embed` and :func:`decode` are the two calls into a 2-d latent model
that the explorers draw.
"""

from __future__ import annotations

import struct
import zlib
from typing import Sequence

import numpy as np
import torch

from vaelib._figure import CLASS_COLORS, to_numpy

__all__ = [
    "png_bytes",
    "gray_u8",
    "ScatterCanvas",
    "share_palette",
    "side_by_side",
    "show_png",
    "pixel_figure",
    "check_2d_model",
    "embed",
    "decode",
    "SCALE",
    "HIDPI",
]

SCALE = 4  # decoded 28x28 digits are shown at 4x (112x112 CSS pixels) ...
HIDPI = 2  # ... from PNGs with twice as many pixels per side, so a HiDPI (2x) screen shows them crisp
_PATH_RGB = np.array([20, 20, 20], dtype=np.uint8)
_END_RGB = {"a": np.array([214, 39, 40], dtype=np.uint8), "b": np.array([31, 119, 180], dtype=np.uint8)}
# Scatters are sent as palette PNGs (one byte a pixel: a third of the bytes to compress per slider step).
# The backgrounds share 249 colours; the last entries are reserved for what is painted on them.
_INDEX = {"path": 249, "a": 250, "b": 251, "black": 252, "white": 253, "gap": 255}


# ---------------------------------------------------------------------------------------------
# Pixels: a PNG encoder and a painter for scatter backgrounds
# ---------------------------------------------------------------------------------------------


def png_bytes(image: np.ndarray, palette: np.ndarray | None = None) -> bytes:
    """Encode a uint8 grey ``(H, W)`` or RGB ``(H, W, 3)`` array as PNG (zlib level 1: fast).

    With ``palette`` (a uint8 ``(256, 3)`` array of RGB colours), a ``(H, W)`` array is read as
    indices into it (an indexed-colour PNG). A minimal encoder of the PNG specification (W3C,
    2003): one IHDR, (PLTE,) one IDAT, one IEND chunk, filter type 0 on every row.
    """
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if palette is not None:
        palette = np.ascontiguousarray(palette, dtype=np.uint8)
        if image.ndim != 2 or palette.shape != (256, 3):
            raise ValueError(
                f"an indexed image must have shape (H, W) and its palette (256, 3); got {image.shape}, {palette.shape}."
            )
        color_type, channels = 3, 1
    elif image.ndim == 2:
        color_type, channels = 0, 1
    elif image.ndim == 3 and image.shape[2] == 3:
        color_type, channels = 2, 3
    else:
        raise ValueError(f"image must have shape (H, W) or (H, W, 3); got {image.shape}.")
    h, w = image.shape[:2]
    raw = np.zeros((h, 1 + w * channels), dtype=np.uint8)  # a leading 0 per row: filter "None"
    raw[:, 1:] = image.reshape(h, w * channels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    plte = chunk(b"PLTE", palette.tobytes()) if palette is not None else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + plte
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 1))
        + chunk(b"IEND", b"")
    )


def gray_u8(x_hat: np.ndarray, shape: tuple[int, int], scale: int = SCALE * HIDPI) -> np.ndarray:
    """A flattened image in [0, 1] as an upscaled uint8 array (white digit on black), nearest-neighbour."""
    img = np.clip(x_hat.reshape(shape) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)


class ScatterCanvas:
    """A latent scatter rendered once to RGB, with a map from latent coordinates to pixels."""

    def __init__(self, z, y, extent, title: str, size_in: float = 2.6, dpi: int = 90 * HIDPI):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(size_in, size_in), dpi=dpi)
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0.22, 0.17, 0.73, 0.72))  # room for the tick labels and the axis labels
        if z is not None:
            z = to_numpy(z)
            if y is None:
                ax.scatter(z[:, 0], z[:, 1], s=2, color="0.5", linewidths=0)
            else:
                y = to_numpy(y)
                for c in np.unique(y):
                    pts = z[y == c]
                    ax.scatter(pts[:, 0], pts[:, 1], s=2, color=CLASS_COLORS[int(c) % 10], linewidths=0, alpha=0.6)
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("$z_1$", fontsize=8, labelpad=2)
        ax.set_ylabel("$z_2$", fontsize=8, labelpad=2)
        fig.canvas.draw()
        self.background = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()  # (H, W, 3)
        self.height = self.background.shape[0]
        self._transform = ax.transData.frozen()
        bbox = ax.bbox
        self._clip = (bbox.x0, bbox.x1, bbox.y0, bbox.y1)
        r = 5 * HIDPI  # marker radius in pixels
        yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
        d2 = yy**2 + xx**2
        self._disk = np.stack([yy[d2 <= r * r], xx[d2 <= r * r]], axis=1)
        self._ring = np.stack(
            [yy[(d2 <= r * r) & (d2 > (r - 2) ** 2)], xx[(d2 <= r * r) & (d2 > (r - 2) ** 2)]], axis=1
        )
        self._dot = self._disk[(self._disk**2).sum(1) <= (3 * HIDPI) ** 2]

    def to_pixels(self, z: np.ndarray) -> np.ndarray:
        """Latent points ``(N, 2)`` -> (row, col) pixel positions ``(N, 2)`` (may lie outside)."""
        xy = self._transform.transform(np.atleast_2d(z))
        return np.stack([self.height - xy[:, 1], xy[:, 0]], axis=1)

    def _paint(self, img: np.ndarray, center: np.ndarray, offsets: np.ndarray, rgb) -> None:
        pts = np.round(center).astype(int) + offsets
        ok = (pts[:, 0] >= 0) & (pts[:, 0] < img.shape[0]) & (pts[:, 1] >= 0) & (pts[:, 1] < img.shape[1])
        img[pts[ok, 0], pts[ok, 1]] = rgb

    def draw_indexed(self, path: tuple[np.ndarray, np.ndarray] | None, marker: np.ndarray) -> np.ndarray:
        """Palette indices ``(H, W)``: the background with the segment ``path = (z_a, z_b)`` and the marker painted.

        Needs :func:`share_palette` to have been called on this canvas.
        """
        img = self.background_index.copy()
        if path is not None:
            ends = self.to_pixels(np.stack(path))  # (2, 2)
            n = int(np.abs(ends[1] - ends[0]).max()) + 2
            line = ends[0] + np.linspace(0, 1, n)[:, None] * (ends[1] - ends[0])  # (n, 2)
            for dr, dc in [
                (i, j) for i in range(HIDPI + 1) for j in range(HIDPI + 1) if i + j <= HIDPI
            ]:  # a line about 2 CSS px wide
                self._paint(img, np.zeros(2), np.round(line).astype(int) + [dr, dc], _INDEX["path"])
            self._paint(img, ends[0], self._dot, _INDEX["a"])
            self._paint(img, ends[1], self._dot, _INDEX["b"])
        center = self.to_pixels(marker)[0]
        self._paint(img, center, self._disk, _INDEX["black"])
        self._paint(img, center, self._ring, _INDEX["white"])
        return img

    def draw(self, path: tuple[np.ndarray, np.ndarray] | None, marker: np.ndarray) -> np.ndarray:
        """The same picture as :meth:`draw_indexed`, as RGB ``(H, W, 3)``."""
        return self.palette[self.draw_indexed(path, marker)]


def share_palette(canvases: Sequence[ScatterCanvas]) -> np.ndarray:
    """Quantize the canvases' backgrounds to one palette of 249 colours (plus the painted ones); return it."""
    from PIL import Image

    joint = np.concatenate([c.background for c in canvases], axis=1)  # (H, sum W, 3)
    quantized = Image.fromarray(joint).quantize(
        colors=_INDEX["path"], method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    indices = np.asarray(quantized, dtype=np.uint8)
    palette = np.full((256, 3), 255, dtype=np.uint8)
    colours = np.array(quantized.getpalette()[: 3 * _INDEX["path"]], dtype=np.uint8).reshape(-1, 3)
    palette[: len(colours)] = colours
    palette[_INDEX["path"]], palette[_INDEX["a"]], palette[_INDEX["b"]] = _PATH_RGB, _END_RGB["a"], _END_RGB["b"]
    palette[_INDEX["black"]], palette[_INDEX["white"]] = 0, 255
    start = 0
    for c in canvases:
        w = c.background.shape[1]
        c.background_index, c.palette = indices[:, start : start + w].copy(), palette
        start += w
    return palette


def _model_device(model) -> torch.device:
    return next(model.parameters()).device


def check_2d_model(name: str, model) -> None:
    """Raise unless ``model`` has ``embed`` and ``decode`` (TypeError) and a 2-d latent (ValueError)."""
    if not (hasattr(model, "embed") and hasattr(model, "decode")):
        raise TypeError(
            f"{name} must be a vaelib.models.Autoencoder or VAE (with embed and decode); got {type(model).__name__}."
        )
    if getattr(model, "latent_dim", None) != 2:
        raise ValueError(
            f"{name} must have a 2-d latent space to be explored in the plane; got latent_dim="
            f"{getattr(model, 'latent_dim', None)!r}. Train a model with latent_dim=2."
        )


@torch.no_grad()
def decode(model, z: np.ndarray) -> np.ndarray:
    """The decoded image ``sigmoid(model.decode(z))`` of one latent point ``(2,)``, as numpy ``(H*W,)``."""
    zt = torch.as_tensor(np.asarray(z, dtype=np.float32)).reshape(1, -1).to(_model_device(model))
    return torch.sigmoid(model.decode(zt))[0].cpu().numpy()


@torch.no_grad()
def embed(model, x: torch.Tensor) -> np.ndarray:
    """Where ``model`` places the images ``x`` ``(N, H*W)``: ``model.embed(x)`` as numpy ``(N, 2)``."""
    return model.embed(x.to(_model_device(model))).cpu().numpy()


def side_by_side(images: Sequence[np.ndarray], gap: int = 8) -> np.ndarray:
    """uint8 arrays placed left to right, top-aligned, with ``gap`` white pixels between them."""
    h = max(im.shape[0] for im in images)
    spacer = np.full((h, gap) + images[0].shape[2:], 255, dtype=np.uint8)
    parts = []
    for i, im in enumerate(images):
        parts.append(im)
        if i < len(images) - 1:
            parts.append(spacer)
    return np.concatenate(parts, axis=1)


def show_png(image_widget, array: np.ndarray, palette: np.ndarray | None = None) -> None:
    """Put ``array`` (HiDPI pixels) into an ``Image`` widget, displayed at 1/HIDPI of its pixel size."""
    image_widget.value = png_bytes(array, palette)
    image_widget.width = str(array.shape[1] // HIDPI)
    image_widget.height = str(array.shape[0] // HIDPI)


def pixel_figure(panels: Sequence[tuple[np.ndarray, str]], title_px: int = 18):
    """A matplotlib figure showing uint8 arrays (HiDPI pixels) one above the other, each under a title.

    The figure is sized so that each array is drawn at 1/HIDPI of its pixel size at the
    figure's dpi: on a 2x screen (or a 2x-dpi figure) every pixel lands on one screen pixel.
    """
    import matplotlib
    import matplotlib.pyplot as plt

    dpi = float(matplotlib.rcParams["figure.dpi"])
    width = max(a.shape[1] for a, _ in panels) / HIDPI  # CSS pixels
    height = sum(a.shape[0] / HIDPI + title_px for a, _ in panels)
    fig = plt.figure(figsize=(width / dpi, height / dpi))
    top = height
    for array, title in panels:
        h, w = array.shape[0] / HIDPI, array.shape[1] / HIDPI
        top -= title_px
        ax = fig.add_axes(((width - w) / 2 / width, (top - h) / height, w / width, h / height))
        ax.imshow(array, cmap="gray" if array.ndim == 2 else None, vmin=0, vmax=255, interpolation="antialiased")
        ax.set_axis_off()
        ax.set_title(title, fontsize=9, pad=3)
        top -= h
    return fig
