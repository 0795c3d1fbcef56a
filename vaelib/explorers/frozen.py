"""A fast redraw for explorers: the static part of a figure is rendered once, as a picture.

Most of what matplotlib spends on a redraw goes to axes, ticks, labels and legends, which an
explorer's step never changes. :func:`freeze` renders the figure once without its dynamic artists,
keeps those pixels as an artist behind everything, and hides every other artist; from then on a
full ``fig.canvas.draw()`` composites one image and draws only the dynamic artists (bars, markers,
moving text), several times faster. The figure looks the same, and ``Explorer.figure()`` still returns
it on its own canvas. The price: after :func:`freeze`, limits, ticks and every artist not in
``dynamic`` are fixed, and the figure renders right only at its own dpi; :func:`snapshot` gives a
figure of the rendered pixels for display elsewhere (the inline backend may render at twice the dpi).

Used by lecture 04's and lecture 06's explorers.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
from matplotlib.artist import Artist
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

__all__ = ["freeze", "snapshot", "Background", "FrozenFigure"]


def freeze(fig: Figure, dynamic: Iterable[Artist]) -> np.ndarray:
    """Render ``fig`` without ``dynamic`` once; keep that as its background; hide all else but ``dynamic``.

    Args:
        fig: a figure with an Agg canvas, laid out (its limits and ticks final).
        dynamic: the artists a redraw changes; they stay live and are drawn over the background.

    Returns:
        the background, RGBA ``(H, W, 4)`` uint8.
    """
    dynamic = set(dynamic)
    if not dynamic:
        raise ValueError("freeze needs the dynamic artists (the ones a redraw changes); got none.")
    for artist in dynamic:
        artist.set_visible(False)
    fig.canvas.draw()
    background = np.asarray(fig.canvas.buffer_rgba()).copy()  # (H, W, 4), first row at the top
    for ax in fig.axes:
        for child in ax.get_children():
            child.set_visible(child in dynamic)
        ax.patch.set_visible(False)
    for text in fig.texts:
        text.set_visible(text in dynamic)
    fig.patch.set_visible(False)
    for artist in dynamic:
        artist.set_visible(True)
    fig.add_artist(Background(background))
    return background


def snapshot(pixels: np.ndarray, dpi: float) -> Figure:
    """A figure that shows ``pixels`` (RGB ``(H, W, 3)``, rendered at ``dpi``) at their size: the static figure.

    Unlike the frozen figure itself it renders right at any dpi and with a tight bounding box.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    h, w = pixels.shape[:2]
    # The size the explorer is shown at; laid out at 72 dpi like the course's figures, so that the
    # inline backend's "retina" output (twice the dpi) has exactly these pixels.
    fig = Figure(figsize=(w / dpi, h / dpi), dpi=72)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(pixels, interpolation="nearest")
    ax.set_axis_off()
    return fig


class Background(Artist):
    """The frozen pixels of a figure, drawn first (a copy into the canvas where it can be).

    On the figure's own canvas at its own size this is one memory copy (``restore_region``);
    elsewhere (a saved or inline-displayed copy, at another size or offset) the pixels are drawn
    as an image at the figure's origin.
    """

    def __init__(self, rgba: np.ndarray):
        super().__init__()
        self.rgba = rgba  # (H, W, 4) uint8, first row at the top
        self.set_zorder(-100)
        self._region = None

    def get_window_extent(self, renderer=None):
        return self.figure.bbox  # the whole figure: a tight bounding box keeps all of it

    def draw(self, renderer) -> None:
        if not self.get_visible():
            return
        h, w = self.rgba.shape[:2]
        bbox = self.figure.bbox
        x0, y0 = self._origin(w, h)
        same_size = (int(renderer.width), int(renderer.height)) == (w, h)
        same_place = same_size and max(abs(bbox.x0), abs(bbox.y0), abs(x0), abs(y0)) < 0.5  # pixels
        if same_place and hasattr(renderer, "restore_region"):
            if self._region is None:
                self._region = _region_of(self.rgba, renderer)
            renderer.restore_region(self._region)
            return
        gc = renderer.new_gc()
        renderer.draw_image(gc, x0, y0, self.rgba[::-1].copy())
        gc.restore()

    def _origin(self, w: int, h: int) -> tuple[float, float]:
        """Where the figure's lower-left corner is drawn now: (0, 0), or shifted by a tight bounding box."""
        axes = self.figure.axes
        if not axes:
            return 0.0, 0.0
        position = axes[0].get_position()  # in figure fractions, as drawn (after any fixed aspect)
        return axes[0].bbox.x0 - position.x0 * w, axes[0].bbox.y0 - position.y0 * h


def _region_of(rgba: np.ndarray, renderer):
    """An Agg buffer region holding ``rgba``: paint it into the renderer once and copy it back out."""
    gc = renderer.new_gc()
    renderer.draw_image(gc, 0, 0, rgba[::-1].copy())
    gc.restore()
    return renderer.copy_from_bbox(Bbox.from_bounds(0, 0, rgba.shape[1], rgba.shape[0]))


class FrozenFigure:
    """Mixin for an :class:`~vaelib.explorers.base.Explorer` whose figure is frozen (:func:`freeze`):
    ``figure()`` returns the :func:`snapshot` of its pixels, which renders right anywhere."""

    def figure(self) -> Figure:
        """The static figure of the current state: the explorer's pixels, at the size it shows them."""
        super().figure()  # redraws once if the explorer never has
        return snapshot(self.pixels, self.fig.dpi)
