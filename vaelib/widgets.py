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

Where each part lives: the pixel layer (PNG encoder, scatter canvas, palette) in
:mod:`vaelib.latent_canvas`; the interpolation explorer in :mod:`vaelib.interpolation_explorer`
(re-exported here); the latent plane explorer here.

CSS classes (used by the browser test): the interpolation slider has ``vaelib-interp-slider``
and the image of the decodes ``vaelib-interp-image``; the plane explorer's sliders have
``vaelib-plane-slider`` and its decode ``vaelib-plane-image``.
"""

from __future__ import annotations

import time

import ipywidgets as widgets
import numpy as np
import torch

from vaelib import latent_canvas as canvas
from vaelib import plots

# Re-exported: lecture 05, vaelib.explorers and the tests import these from vaelib.widgets.
from vaelib.interpolation_explorer import InterpolationExplorer, a_digit, interpolation_explorer
from vaelib.latent_canvas import HIDPI, SCALE, png_bytes

__all__ = [
    "interpolation_explorer",
    "latent_plane_explorer",
    "InterpolationExplorer",
    "LatentPlaneExplorer",
    "png_bytes",
    "a_digit",
]


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
            z = canvas.embed(model, x[shown])
            y = plots.to_numpy(y)[shown] if y is not None else None
        if extent is None:
            extent = plots.latent_extent(z) if z is not None else (-3.0, 3.0, -3.0, 3.0)
        self.extent = tuple(float(e) for e in extent)
        self._canvas = canvas.ScatterCanvas(z, y, self.extent, f"{name} latent space")
        self._palette = canvas.share_palette([self._canvas])
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
        sh, sw = scatter.shape[0] / HIDPI, scatter.shape[1] / HIDPI  # CSS pixels
        size, gap, title = self.image_shape[1] * 2 * SCALE, 16, 18  # the decode at 8x, like the widget
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
        x_hat = canvas.decode(self.model, z)
        self.image = x_hat.reshape(self.image_shape)
        self.marker = z
        self.marker_pixels = self._canvas.to_pixels(z)[0]
        canvas.show_png(self.decode_image, canvas.gray_u8(x_hat, self.image_shape, scale=2 * SCALE * HIDPI))
        canvas.show_png(self.scatter_image, self._canvas.draw_indexed(None, z), palette=self._palette)
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
    canvas.check_2d_model("model", model)
    if x is not None:
        x = torch.as_tensor(x, dtype=torch.float32)
        if x.dim() != 2 or x.shape[1] != image_shape[0] * image_shape[1]:
            raise ValueError(f"x must have shape (N, {image_shape[0] * image_shape[1]}); got {tuple(x.shape)}.")
    if extent is not None and not (len(extent) == 4 and extent[1] > extent[0] and extent[3] > extent[2]):
        raise ValueError(f"extent must be (z1_min, z1_max, z2_min, z2_max) with min < max; got {extent!r}.")
    return LatentPlaneExplorer(
        model, x, y, extent=extent, name=name, scatter_points=scatter_points, image_shape=image_shape
    )
