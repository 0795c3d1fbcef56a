"""Interactive explorers of a 2-d latent space (ipywidgets), drivable from Python.

Introduced in lecture 05.

- :func:`interpolation_explorer`: pick two digits (a 2 and a 9 by default) or two test images;
  a slider moves along the straight latent path between them; the autoencoder's and the VAE's
  decodes are shown side by side, with the path and a marker drawn on both latent scatters.
- :func:`latent_plane_explorer`: two sliders choose any point (z1, z2); its decode is shown,
  with a marker on the latent scatter.

Each function returns an ``ipywidgets.VBox`` subclass whose attributes expose what it shows
(``images``, ``marker``, ``redraw_ms``), so tests and notebooks can drive it by setting a
slider's ``value`` and read the result. A slider step is cheap: the scatter is rendered once
by matplotlib into an RGB array; each step decodes one point per model, paints the path and
the marker into a copy of that array with numpy, and sends PNG bytes (a minimal zlib encoder)
to ``ipywidgets.Image`` widgets. No figure is created per step.

CSS classes (used by the browser test): the interpolation slider has ``vaelib-interp-slider``
and the image of the decodes ``vaelib-interp-image``; the plane explorer's sliders have
``vaelib-plane-slider`` and its decode ``vaelib-plane-image``.
"""

from __future__ import annotations

import struct
import time
import zlib
from typing import Sequence

import ipywidgets as widgets
import numpy as np
import torch

from vaelib import plots

__all__ = [
    "interpolation_explorer",
    "latent_plane_explorer",
    "InterpolationExplorer",
    "LatentPlaneExplorer",
    "png_bytes",
    "a_digit",
]

_SCALE = 4  # decoded 28x28 digits are shown at 4x (112x112 CSS pixels) ...
_HIDPI = 2  # ... from PNGs with twice as many pixels per side, so a HiDPI (2x) screen shows them crisp
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


def _gray_u8(x_hat: np.ndarray, shape: tuple[int, int], scale: int = _SCALE * _HIDPI) -> np.ndarray:
    """A flattened image in [0, 1] as an upscaled uint8 array (white digit on black), nearest-neighbour."""
    img = np.clip(x_hat.reshape(shape) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)


class _ScatterCanvas:
    """A latent scatter rendered once to RGB, with a map from latent coordinates to pixels."""

    def __init__(self, z, y, extent, title: str, size_in: float = 2.6, dpi: int = 90 * _HIDPI):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(size_in, size_in), dpi=dpi)
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0.22, 0.17, 0.73, 0.72))  # room for the tick labels and the axis labels
        if z is not None:
            z = plots._numpy(z)
            if y is None:
                ax.scatter(z[:, 0], z[:, 1], s=2, color="0.5", linewidths=0)
            else:
                y = plots._numpy(y)
                for c in np.unique(y):
                    pts = z[y == c]
                    ax.scatter(
                        pts[:, 0], pts[:, 1], s=2, color=plots.CLASS_COLORS[int(c) % 10], linewidths=0, alpha=0.6
                    )
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
        r = 5 * _HIDPI  # marker radius in pixels
        yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
        d2 = yy**2 + xx**2
        self._disk = np.stack([yy[d2 <= r * r], xx[d2 <= r * r]], axis=1)
        self._ring = np.stack(
            [yy[(d2 <= r * r) & (d2 > (r - 2) ** 2)], xx[(d2 <= r * r) & (d2 > (r - 2) ** 2)]], axis=1
        )
        self._dot = self._disk[(self._disk**2).sum(1) <= (3 * _HIDPI) ** 2]

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

        Needs :func:`_share_palette` to have been called on this canvas.
        """
        img = self.background_index.copy()
        if path is not None:
            ends = self.to_pixels(np.stack(path))  # (2, 2)
            n = int(np.abs(ends[1] - ends[0]).max()) + 2
            line = ends[0] + np.linspace(0, 1, n)[:, None] * (ends[1] - ends[0])  # (n, 2)
            for dr, dc in [
                (i, j) for i in range(_HIDPI + 1) for j in range(_HIDPI + 1) if i + j <= _HIDPI
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


def _share_palette(canvases: Sequence[_ScatterCanvas]) -> np.ndarray:
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


def _check_2d(name: str, model) -> None:
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
def _decode(model, z: np.ndarray) -> np.ndarray:
    zt = torch.as_tensor(np.asarray(z, dtype=np.float32)).reshape(1, -1).to(_model_device(model))
    return torch.sigmoid(model.decode(zt))[0].cpu().numpy()


@torch.no_grad()
def _embed(model, x: torch.Tensor) -> np.ndarray:
    return model.embed(x.to(_model_device(model))).cpu().numpy()


def _side_by_side(images: Sequence[np.ndarray], gap: int = 8) -> np.ndarray:
    h = max(im.shape[0] for im in images)
    spacer = np.full((h, gap) + images[0].shape[2:], 255, dtype=np.uint8)
    parts = []
    for i, im in enumerate(images):
        parts.append(im)
        if i < len(images) - 1:
            parts.append(spacer)
    return np.concatenate(parts, axis=1)


def _show(image_widget, array: np.ndarray, palette: np.ndarray | None = None) -> None:
    """Put ``array`` (HiDPI pixels) into an ``Image`` widget, displayed at 1/_HIDPI of its pixel size."""
    image_widget.value = png_bytes(array, palette)
    image_widget.width = str(array.shape[1] // _HIDPI)
    image_widget.height = str(array.shape[0] // _HIDPI)


def a_digit(d: int) -> str:
    """ "a 2", "an 8": the digit with its indefinite article."""
    return f"{'an' if int(d) == 8 else 'a'} {int(d)}"


def _pixel_figure(panels: Sequence[tuple[np.ndarray, str]], title_px: int = 18):
    """A matplotlib figure showing uint8 arrays (HiDPI pixels) one above the other, each under a title.

    The figure is sized so that each array is drawn at 1/_HIDPI of its pixel size at the
    figure's dpi: on a 2x screen (or a 2x-dpi figure) every pixel lands on one screen pixel.
    """
    import matplotlib
    import matplotlib.pyplot as plt

    dpi = float(matplotlib.rcParams["figure.dpi"])
    width = max(a.shape[1] for a, _ in panels) / _HIDPI  # CSS pixels
    height = sum(a.shape[0] / _HIDPI + title_px for a, _ in panels)
    fig = plt.figure(figsize=(width / dpi, height / dpi))
    top = height
    for array, title in panels:
        h, w = array.shape[0] / _HIDPI, array.shape[1] / _HIDPI
        top -= title_px
        ax = fig.add_axes(((width - w) / 2 / width, (top - h) / height, w / width, h / height))
        ax.imshow(array, cmap="gray" if array.ndim == 2 else None, vmin=0, vmax=255, interpolation="antialiased")
        ax.set_axis_off()
        ax.set_title(title, fontsize=9, pad=3)
        top -= h
    return fig


# ---------------------------------------------------------------------------------------------
# The interpolation explorer
# ---------------------------------------------------------------------------------------------


class InterpolationExplorer(widgets.VBox):
    """Built by :func:`interpolation_explorer`; see there.

    Attributes (read them after setting ``slider.value``):
        slider: the ``FloatSlider`` of t in [0, 1] (CSS class ``vaelib-interp-slider``).
        digit_a, digit_b: ``Dropdown`` of the two digit classes; example_a, example_b: which
            example of that class (``BoundedIntText``).
        index_a, index_b: the rows of ``x`` of the two chosen images.
        decode_image: the ``Image`` showing the AE and VAE decodes (CSS ``vaelib-interp-image``).
        scatter_image: the ``Image`` of both latent scatters with path and marker.
        images: ``{"AE": (H, W), "VAE": (H, W)}`` the decoded images at t, floats in [0, 1].
        marker: ``{"AE": (2,), "VAE": (2,)}`` the latent point at t of each model.
        marker_pixels: ``{"AE": (row, col), "VAE": (row, col)}`` the marker in its scatter.
        ends: ``{"AE": (z_a, z_b), "VAE": (z_a, z_b)}`` the ends of each path.
        redraw_ms: the duration of the last redraw; ``redraw_times_ms``: all of them.
    """

    def __init__(
        self,
        ae,
        vae,
        x,
        y,
        *,
        digit_a: int,
        digit_b: int,
        index_a: int | None,
        index_b: int | None,
        labels: Sequence[str],
        scatter_points: int,
        image_shape,
        judge=None,
    ):
        self.models = {labels[0]: ae, labels[1]: vae}
        self.judge = judge
        self.verdicts: dict = {}
        self.x = torch.as_tensor(x, dtype=torch.float32)
        self.y = plots._numpy(y).astype(int)
        self.image_shape = tuple(image_shape)
        self.redraw_times_ms: list[float] = []
        self.redraw_ms = float("nan")
        self._codes = {name: _embed(m, self.x) for name, m in self.models.items()}  # (N, 2) each
        shown = np.linspace(0, len(self.x) - 1, min(scatter_points, len(self.x))).astype(int)
        self._canvas = {
            name: _ScatterCanvas(z[shown], self.y[shown], plots.latent_extent(z), f"{name} latent space")
            for name, z in self._codes.items()
        }
        self._palette = _share_palette(list(self._canvas.values()))
        classes = sorted(int(c) for c in np.unique(self.y))
        examples = {"a": 0, "b": 0}
        for end, index in (("a", index_a), ("b", index_b)):
            if index is None:
                continue
            if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or not 0 <= index < len(self.x):
                raise ValueError(
                    f"index_{end} must be a row of x, an integer in [0, {len(self.x) - 1}]; got {index!r}."
                )
            digit = int(self.y[index])
            examples[end] = int(np.flatnonzero(self.y == digit).tolist().index(int(index)))
            if end == "a":
                digit_a = digit
            else:
                digit_b = digit
        for name, d in (("digit_a", digit_a), ("digit_b", digit_b)):
            if d not in classes:
                raise ValueError(f"{name} must be one of the classes in y {classes}; got {d!r}.")

        self.slider = widgets.FloatSlider(
            value=0.0,
            min=0.0,
            max=1.0,
            step=0.02,
            description="t",
            continuous_update=True,
            readout_format=".2f",
            layout=widgets.Layout(width="420px"),
        )
        self.slider.add_class("vaelib-interp-slider")
        self.digit_a = widgets.Dropdown(
            options=classes, value=digit_a, description="from digit", layout=widgets.Layout(width="160px")
        )
        self.digit_b = widgets.Dropdown(
            options=classes, value=digit_b, description="to digit", layout=widgets.Layout(width="160px")
        )
        self.example_a = widgets.BoundedIntText(
            value=examples["a"],
            min=0,
            max=int((self.y == digit_a).sum()) - 1,
            description="example",
            layout=widgets.Layout(width="150px"),
        )
        self.example_b = widgets.BoundedIntText(
            value=examples["b"],
            min=0,
            max=int((self.y == digit_b).sum()) - 1,
            description="example",
            layout=widgets.Layout(width="150px"),
        )
        self.decode_image = widgets.Image(format="png")
        self.decode_image.add_class("vaelib-interp-image")
        self.start_image = widgets.Image(format="png")
        self.end_image = widgets.Image(format="png")
        self.scatter_image = widgets.Image(format="png")
        self.title = widgets.HTML()
        self.verdict = widgets.HTML()
        names = list(self.models)
        size = self.image_shape[1] * _SCALE
        caption = widgets.HTML(
            f"<div style='display:flex;gap:{8}px;font-size:12px'><div style='width:{size}px;text-align:center'>{names[0]}</div>"
            f"<div style='width:{size}px;text-align:center'>{names[1]}</div></div>"
        )
        ends_style = "font-size:12px;text-align:center"
        spaced = lambda: widgets.Layout(margin="0 16px 0 0")  # noqa: E731
        images_row = widgets.HBox(
            [
                widgets.VBox(
                    [widgets.HTML(f"<div style='{ends_style}'>start</div>"), self.start_image], layout=spaced()
                ),
                widgets.VBox([caption, self.decode_image, self.verdict], layout=spaced()),
                widgets.VBox([widgets.HTML(f"<div style='{ends_style}'>end</div>"), self.end_image]),
            ],
            layout=widgets.Layout(align_items="flex-end"),
        )
        super().__init__(
            [
                self.title,
                widgets.HBox([self.digit_a, self.example_a, self.digit_b, self.example_b]),
                self.slider,
                images_row,
                self.scatter_image,
            ]
        )
        self._choose()
        self.slider.observe(lambda change: self.redraw(), names="value")
        for w in (self.digit_a, self.digit_b, self.example_a, self.example_b):
            w.observe(self._on_choice, names="value")

    # -- choosing the two images --------------------------------------------------------------

    def _on_choice(self, change) -> None:
        for digit, example in ((self.digit_a, self.example_a), (self.digit_b, self.example_b)):
            example.max = int((self.y == digit.value).sum()) - 1
        self._choose()

    def _choose(self) -> None:
        index_a = int(np.flatnonzero(self.y == self.digit_a.value)[self.example_a.value])
        index_b = int(np.flatnonzero(self.y == self.digit_b.value)[self.example_b.value])
        self.set_images(index_a, index_b)

    def set_images(self, index_a: int, index_b: int) -> None:
        """Interpolate between the images ``x[index_a]`` and ``x[index_b]`` (any two rows of x)."""
        for name, i in (("index_a", index_a), ("index_b", index_b)):
            if not isinstance(i, (int, np.integer)) or not 0 <= i < len(self.x):
                raise ValueError(f"{name} must be a row of x, an integer in [0, {len(self.x) - 1}]; got {i!r}.")
        self.index_a, self.index_b = int(index_a), int(index_b)
        self.ends = {name: (z[self.index_a], z[self.index_b]) for name, z in self._codes.items()}
        _show(self.start_image, _gray_u8(self.x[self.index_a].numpy(), self.image_shape))
        _show(self.end_image, _gray_u8(self.x[self.index_b].numpy(), self.image_shape))
        self.title.value = (
            f"<b>Straight latent path from {a_digit(self.y[self.index_a])} (x[{self.index_a}]) to "
            f"{a_digit(self.y[self.index_b])} (x[{self.index_b}])</b>: move t; red dot = start, blue dot = end."
        )
        self.redraw()

    def __repr__(self) -> str:
        a, b = self.models
        return (
            f"InterpolationExplorer({a} vs {b}: from x[{self.index_a}] ({a_digit(self.y[self.index_a])}) to "
            f"x[{self.index_b}] ({a_digit(self.y[self.index_b])}), t={self.t:.2f})"
        )

    @property
    def t(self) -> float:
        """The position along the path, 0 (start) to 1 (end): the slider's value."""
        return float(self.slider.value)

    # -- drawing ------------------------------------------------------------------------------

    def redraw(self) -> None:
        """Decode the point at t for each model and repaint both images (called by the slider)."""
        start = time.perf_counter()
        t = self.t
        self.images, self.marker, self.marker_pixels = {}, {}, {}
        decodes, scatters = [], []
        for name, model in self.models.items():
            z_a, z_b = self.ends[name]
            z = (1 - t) * z_a + t * z_b  # (2,)
            x_hat = _decode(model, z)
            self.images[name] = x_hat.reshape(self.image_shape)
            self.marker[name] = z
            self.marker_pixels[name] = self._canvas[name].to_pixels(z)[0]
            decodes.append(_gray_u8(x_hat, self.image_shape))
            scatters.append(self._canvas[name].draw_indexed((z_a, z_b), z))
        _show(self.decode_image, _side_by_side(decodes, gap=8 * _HIDPI))
        _show(self.scatter_image, _side_by_side(scatters, gap=8 * _HIDPI), palette=self._palette)
        if self.judge is not None:
            self._judge_decodes()
        self.redraw_ms = (time.perf_counter() - start) * 1e3
        self.redraw_times_ms.append(self.redraw_ms)

    def _judge_decodes(self) -> None:
        from vaelib.judge import judge_images

        names = list(self.images)
        batch = torch.as_tensor(np.stack([self.images[n].reshape(-1) for n in names]))
        verdict = judge_images(self.judge, batch)
        self.verdicts = {n: (int(d), float(c)) for n, d, c in zip(names, verdict.digit, verdict.confidence)}
        size = self.image_shape[1] * _SCALE
        cells = "".join(
            f"<div style='width:{size}px;text-align:center'>judge: {d} ({c:.2f})</div>"
            for d, c in self.verdicts.values()
        )
        self.verdict.value = f"<div style='display:flex;gap:8px;font-size:11px;color:#444'>{cells}</div>"

    def figure(self):
        """A static matplotlib figure of what the explorer shows now (for a static render), pixel-exact."""
        strip = _side_by_side(
            [_gray_u8(self.x[self.index_a].numpy(), self.image_shape)]
            + [_gray_u8(im, self.image_shape) for im in self.images.values()]
            + [_gray_u8(self.x[self.index_b].numpy(), self.image_shape)],
            gap=12 * _HIDPI,
        )
        scatters = _side_by_side(
            [self._canvas[n].draw(self.ends[n], self.marker[n]) for n in self.models], gap=8 * _HIDPI
        )
        names = list(self.models)
        judged = ""
        if self.verdicts:
            judged = "   judge: " + ", ".join(f"{n} {d} ({c:.2f})" for n, (d, c) in self.verdicts.items())
        return _pixel_figure(
            [
                (strip, f"start | {names[0]} | {names[1]} | end   (t = {self.t:.2f}){judged}"),
                (scatters, "the path (red: start, blue: end) and the point at t"),
            ]
        )


def interpolation_explorer(
    ae,
    vae,
    x,
    y,
    *,
    digit_a: int = 2,
    digit_b: int = 9,
    index_a: int | None = None,
    index_b: int | None = None,
    labels: Sequence[str] = ("AE", "VAE"),
    scatter_points: int = 1000,
    image_shape: tuple[int, int] = (28, 28),
    judge=None,
) -> InterpolationExplorer:
    """An explorer of the straight latent path between two images, for two models side by side.

    z(t) = (1 - t) z_a + t z_b, where z_a, z_b are where each model places the two images (the
    code of the autoencoder, the posterior mean of the VAE). Moving the slider decodes z(t)
    with both models; the path and the point are drawn on each model's latent scatter.

    Args:
        ae, vae: two models with 2-d latents, ``embed`` and ``decode`` (any two, e.g. two VAEs).
        x: images to choose from, shape ``(N, H*W)`` (e.g. the test digits); y: labels ``(N,)``.
        digit_a, digit_b: the classes of the two images (the first example of each class).
        index_a, index_b: or the two images as rows of ``x`` (these override the digits).
        labels: the two models' names.
        scatter_points: how many points of ``x`` to draw in the scatters.
        image_shape: ``(H, W)``.
        judge: a :class:`vaelib.judge.DigitJudge`, or None; if given, the explorer shows the judge's
            digit and confidence under each decode (``explorer.verdicts``).

    Returns:
        an :class:`InterpolationExplorer` (an ``ipywidgets.VBox``): display it, or drive it
        with ``explorer.slider.value = 0.5`` and read ``explorer.images`` and ``explorer.marker``.
    """
    _check_2d("ae", ae)
    _check_2d("vae", vae)
    x = torch.as_tensor(x, dtype=torch.float32)
    if x.dim() != 2 or x.shape[1] != image_shape[0] * image_shape[1]:
        raise ValueError(f"x must have shape (N, {image_shape[0] * image_shape[1]}); got {tuple(x.shape)}.")
    if len(plots._numpy(y)) != len(x):
        raise ValueError(f"y must have one label per image of x ({len(x)}); got {len(plots._numpy(y))}.")
    if len(labels) != 2:
        raise ValueError(f"labels must name the two models, e.g. ('AE', 'VAE'); got {labels!r}.")
    return InterpolationExplorer(
        ae,
        vae,
        x,
        y,
        digit_a=digit_a,
        digit_b=digit_b,
        index_a=index_a,
        index_b=index_b,
        labels=labels,
        scatter_points=scatter_points,
        image_shape=image_shape,
        judge=judge,
    )


# ---------------------------------------------------------------------------------------------
# The latent plane explorer
# ---------------------------------------------------------------------------------------------


class LatentPlaneExplorer(widgets.VBox):
    """Built by :func:`latent_plane_explorer`; see there.

    Attributes:
        z1, z2: the two ``FloatSlider`` s (CSS class ``vaelib-plane-slider``).
        decode_image: the ``Image`` of the decode (CSS class ``vaelib-plane-image``).
        scatter_image: the ``Image`` of the latent scatter with the marker.
        image: the decoded image at (z1, z2), shape ``(H, W)``, floats in [0, 1].
        marker: the point ``(z1, z2)``; marker_pixels: its (row, col) in the scatter image.
        redraw_ms, redraw_times_ms: duration of the last redraw, and of all.
    """

    def __init__(self, model, x, y, *, extent, name: str, scatter_points: int, image_shape):
        self.model = model
        self.image_shape = tuple(image_shape)
        self.redraw_times_ms: list[float] = []
        self.redraw_ms = float("nan")
        z = None
        if x is not None:
            x = torch.as_tensor(x, dtype=torch.float32)
            shown = np.linspace(0, len(x) - 1, min(scatter_points, len(x))).astype(int)
            z = _embed(model, x[shown])
            y = plots._numpy(y)[shown] if y is not None else None
        if extent is None:
            extent = plots.latent_extent(z) if z is not None else (-3.0, 3.0, -3.0, 3.0)
        self.extent = tuple(float(e) for e in extent)
        self._canvas = _ScatterCanvas(z, y, self.extent, f"{name} latent space")
        self._palette = _share_palette([self._canvas])
        x0, x1, y0, y1 = self.extent
        step = (x1 - x0) / 100
        self.z1 = widgets.FloatSlider(
            value=(x0 + x1) / 2,
            min=x0,
            max=x1,
            step=step,
            description="z1",
            readout_format=".2f",
            continuous_update=True,
            layout=widgets.Layout(width="360px"),
        )
        self.z2 = widgets.FloatSlider(
            value=(y0 + y1) / 2,
            min=y0,
            max=y1,
            step=(y1 - y0) / 100,
            description="z2",
            readout_format=".2f",
            continuous_update=True,
            layout=widgets.Layout(width="360px"),
        )
        for s in (self.z1, self.z2):
            s.add_class("vaelib-plane-slider")
        self.decode_image = widgets.Image(format="png", layout=widgets.Layout(margin="0 16px 0 0"))
        self.decode_image.add_class("vaelib-plane-image")
        self.scatter_image = widgets.Image(format="png")
        super().__init__(
            [
                widgets.HTML(f"<b>Decode any point of the {name}'s latent plane</b>"),
                self.z1,
                self.z2,
                widgets.HBox([self.decode_image, self.scatter_image], layout=widgets.Layout(align_items="center")),
            ]
        )
        self.redraw()
        self.z1.observe(lambda change: self.redraw(), names="value")
        self.z2.observe(lambda change: self.redraw(), names="value")

    def __repr__(self) -> str:
        return f"LatentPlaneExplorer(z1={self.z1.value:.2f}, z2={self.z2.value:.2f})"

    def figure(self):
        """A static matplotlib figure of what the explorer shows now (for a static render)."""
        import matplotlib
        import matplotlib.pyplot as plt

        dpi = float(matplotlib.rcParams["figure.dpi"])
        scatter = self._canvas.draw(None, self.marker)
        sh, sw = scatter.shape[0] / _HIDPI, scatter.shape[1] / _HIDPI  # CSS pixels
        size, gap, title = self.image_shape[1] * 2 * _SCALE, 16, 18  # the decode at 8x, like the widget
        width, height = size + gap + sw, max(sh, size + title)
        fig = plt.figure(figsize=(width / dpi, height / dpi))
        ax0 = fig.add_axes((0, (height - title - size) / 2 / height, size / width, size / height))
        ax0.imshow(self.image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax0.set_title(f"decode of ({self.z1.value:.2f}, {self.z2.value:.2f})", fontsize=9)
        ax1 = fig.add_axes(((size + gap) / width, (height - sh) / 2 / height, sw / width, sh / height))
        ax1.imshow(scatter, interpolation="antialiased")
        for ax in (ax0, ax1):
            ax.set_axis_off()
        return fig

    def redraw(self) -> None:
        """Decode (z1, z2) and repaint (called by the sliders)."""
        start = time.perf_counter()
        z = np.array([self.z1.value, self.z2.value], dtype=np.float32)
        x_hat = _decode(self.model, z)
        self.image = x_hat.reshape(self.image_shape)
        self.marker = z
        self.marker_pixels = self._canvas.to_pixels(z)[0]
        _show(self.decode_image, _gray_u8(x_hat, self.image_shape, scale=2 * _SCALE * _HIDPI))
        _show(self.scatter_image, self._canvas.draw_indexed(None, z), palette=self._palette)
        self.redraw_ms = (time.perf_counter() - start) * 1e3
        self.redraw_times_ms.append(self.redraw_ms)


def latent_plane_explorer(
    model,
    x=None,
    y=None,
    *,
    extent: tuple[float, float, float, float] | None = None,
    name: str = "model",
    scatter_points: int = 1000,
    image_shape: tuple[int, int] = (28, 28),
) -> LatentPlaneExplorer:
    """An explorer that decodes any point (z1, z2) of a 2-d latent plane.

    Args:
        model: a model with 2-d latents, ``embed`` and ``decode``.
        x, y: optional images ``(N, H*W)`` and labels ``(N,)`` drawn as the latent scatter.
        extent: the slider ranges ``(z1_min, z1_max, z2_min, z2_max)``; by default the bulk of
            the codes of ``x`` (:func:`vaelib.plots.latent_extent`), else +-3.
        name: the model's name in the titles.

    Returns:
        a :class:`LatentPlaneExplorer` (an ``ipywidgets.VBox``); drive it with
        ``explorer.z1.value = ...`` and read ``explorer.image`` and ``explorer.marker``.
    """
    _check_2d("model", model)
    if x is not None:
        x = torch.as_tensor(x, dtype=torch.float32)
        if x.dim() != 2 or x.shape[1] != image_shape[0] * image_shape[1]:
            raise ValueError(f"x must have shape (N, {image_shape[0] * image_shape[1]}); got {tuple(x.shape)}.")
    if extent is not None and not (len(extent) == 4 and extent[1] > extent[0] and extent[3] > extent[2]):
        raise ValueError(f"extent must be (z1_min, z1_max, z2_min, z2_max) with min < max; got {extent!r}.")
    return LatentPlaneExplorer(
        model, x, y, extent=extent, name=name, scatter_points=scatter_points, image_shape=image_shape
    )
