"""The shared base of the lectures' explorers: controls, one rendered image, measured numbers.

An explorer is an ``ipywidgets.VBox`` holding a row of controls, one image (a matplotlib figure
kept alive between steps and rendered to PNG bytes, so no figure is created per step) and a
one-line readout of the measured numbers. A subclass says what to show by overriding
:meth:`Explorer.update`: it reads ``self.values`` (the controls' values), updates the artists
of ``self.fig`` and stores what it measured in ``self.shown`` (a dict of floats, which tests read).

The contract every explorer keeps (tests and the browser test rely on it):

- ``set(**values)`` drives it from Python; a bad value raises ``ValueError`` saying which
  control, what it accepts and what it got (a slider would silently clamp it).
- ``shown`` holds the measured numbers of the current state; ``pixels`` the rendered RGB image.
- ``redraw_ms`` is the duration of the last redraw, ``redraw_times_ms`` all of them (wall time),
  ``redraw_cpu_times_ms`` the same in this process's CPU time (what a redraw costs, without the
  waiting that other programs on a busy machine add).
- ``figure()`` is the static figure of the current state (shown beside the explorer for readers
  without a kernel); ``player(name, values)`` a kernel-free HTML player over precomputed frames.
- CSS classes: the whole widget ``vaelib-explorer``, its first control
  ``vaelib-explorer-control``, its image ``vaelib-explorer-image``.

Fast redraws (optional): a full matplotlib draw of a figure with several axes costs a few
hundred milliseconds on a loaded 2-core machine, mostly ticks and text. A subclass whose axes
stay fixed registers the artists that change with :meth:`Explorer.animate`; a redraw then
restores the rendered background (everything else, drawn once) and draws only those artists
(blitting, as ``matplotlib.animation`` does). After changing anything else (limits, a static
curve) it calls :meth:`Explorer.refresh_background`. Without ``animate`` every redraw is a full draw.
This is the one fast-redraw mechanism of every lecture's explorer (01-04, 06). The animated artists
may be figure-level text and may sit in axes with a fixed aspect (the background is a full draw, so
the axes are laid out before they are drawn over it); tests/test_explorers_base.py checks both.
"""

from __future__ import annotations

import base64
import html
import io
import statistics
import time
from typing import Any, Sequence

import ipywidgets as widgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vaelib.latent_canvas import png_bytes

__all__ = ["Explorer", "float_slider", "int_slider", "dropdown", "TEXT_BOX"]

HIDPI = 2  # rendered at twice the pixels it is shown at: sharp on a HiDPI screen
TEXT_BOX = {"boxstyle": "round,pad=0.3", "fc": "white", "ec": "0.8", "alpha": 0.9}  # a readout drawn in an axes


SLIDER_LOOK = {  # every explorer's sliders: the whole label shown, one width, redrawn while dragged
    "continuous_update": True,
    "style": {"description_width": "initial"},
    "layout": {"width": "300px"},
}


def float_slider(description: str, value: float, lo: float, hi: float, step: float, fmt: str = ".2f"):
    """A ``FloatSlider`` laid out like every explorer's."""
    return widgets.FloatSlider(
        value=value, min=lo, max=hi, step=step, description=description, readout_format=fmt, **SLIDER_LOOK
    )


def int_slider(description: str, value: int, lo: int, hi: int, step: int = 1):
    """An ``IntSlider`` laid out like every explorer's."""
    return widgets.IntSlider(value=value, min=lo, max=hi, step=step, description=description, **SLIDER_LOOK)


def dropdown(description: str, options: Sequence, value):
    """A ``Dropdown`` laid out like every explorer's (``options`` a list or (label, value) pairs)."""
    return widgets.Dropdown(
        options=options,
        value=value,
        description=description,
        style={"description_width": "initial"},
        layout=widgets.Layout(width="260px"),
    )


def halved(pixels: np.ndarray) -> np.ndarray:
    """An RGB image ``(H, W, 3)`` at half the resolution: the mean of each 2 x 2 block (odd edges cropped)."""
    H, W = pixels.shape[0] // 2 * 2, pixels.shape[1] // 2 * 2
    blocks = pixels[:H, :W].reshape(H // 2, 2, W // 2, 2, -1).astype(np.float32)
    return np.round(blocks.mean(axis=(1, 3))).astype(np.uint8)


def small_png(pixels: np.ndarray, colours: int = 64) -> bytes:
    """PNG bytes of an RGB image at half resolution in ``colours`` colours (Pillow's median-cut palette)."""
    from PIL import Image  # matplotlib's own dependency

    buffer = io.BytesIO()
    Image.fromarray(halved(pixels)).quantize(colours).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


class Explorer(widgets.VBox):
    """Base class; see the module docstring for the contract.

    Args (for subclasses):
        controls: ``{name: widget}`` in display order; the first is the primary control.
        figsize: the figure's size in inches (at 72 dpi: 72 CSS pixels an inch).
        title: a line of HTML above the controls saying what to do and what to watch.
    """

    def __init__(self, controls: dict[str, widgets.ValueWidget], *, figsize: tuple[float, float], title: str = ""):
        if not controls:
            raise ValueError("an explorer needs at least one control.")
        self.controls = dict(controls)
        self.shown: dict[str, float] = {}
        self.redraw_times_ms: list[float] = []
        self.redraw_cpu_times_ms: list[float] = []
        self.redraw_ms = float("nan")
        self._holding = False
        self._animated: list = []  # the artists a redraw draws over the saved background
        self._background = None  # the rendered figure without them (None: draw it afresh)
        self.fig = Figure(figsize=figsize, dpi=72 * HIDPI)
        FigureCanvasAgg(self.fig)
        self.image = widgets.Image(format="png")
        self.image.add_class("vaelib-explorer-image")
        self.readout = widgets.HTML()
        first = next(iter(self.controls.values()))
        first.add_class("vaelib-explorer-control")
        rows = [widgets.HTML(title)] if title else []
        rows += [widgets.HBox(list(self.controls.values()), layout=widgets.Layout(flex_flow="row wrap")), self.image]
        rows.append(self.readout)
        super().__init__(rows)
        self.add_class("vaelib-explorer")
        for control in self.controls.values():
            control.observe(self._on_change, names="value")

    # -- what a subclass provides ---------------------------------------------------------------

    def update(self) -> None:  # pragma: no cover - every subclass overrides it
        """Update ``self.fig``'s artists and ``self.shown`` for ``self.values``."""
        raise NotImplementedError

    def animate(self, *artists):
        """Register artists that change between steps: redraws draw only them (see the module docstring)."""
        for artist in artists:
            artist.set_animated(True)
            self._animated.append(artist)
        self._background = None
        return artists[0] if len(artists) == 1 else artists

    def refresh_background(self) -> None:
        """Render the background afresh at the next redraw (call after changing a non-animated artist)."""
        self._background = None

    def describe(self) -> str:
        """The readout under the image (HTML); by default the numbers in ``shown``."""
        return " &nbsp; ".join(f"{html.escape(k)} = {v:.4g}" for k, v in self.shown.items())

    # -- driving it ------------------------------------------------------------------------------

    @property
    def values(self) -> dict[str, Any]:
        """The controls' current values, ``{name: value}``."""
        return {name: control.value for name, control in self.controls.items()}

    def set(self, **values) -> Explorer:
        """Set controls by name (checked first, then one redraw); returns the explorer."""
        for name, value in values.items():
            self._check(name, value)
        self._holding = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._holding = False
        self.redraw()
        return self

    def _check(self, name: str, value) -> None:
        if name not in self.controls:
            raise ValueError(f"{type(self).__name__} has no control {name!r}; its controls are {list(self.controls)}.")
        control = self.controls[name]
        if isinstance(control, widgets.Dropdown):
            allowed = [o[1] if isinstance(o, tuple) else o for o in control.options]
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}; got {value!r}.")
            return
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"{name} must be a number; got {value!r} ({type(value).__name__}).")
        if isinstance(control, widgets.IntSlider) and int(value) != value:
            raise ValueError(f"{name} must be a whole number; got {value!r}.")
        if not np.isfinite(value) or not control.min <= value <= control.max:
            raise ValueError(f"{name} must be in [{control.min}, {control.max}]; got {value!r}.")

    def _on_change(self, change) -> None:
        if not self._holding:
            self.redraw()

    def redraw(self) -> None:
        """Recompute what is shown for the current values and repaint the image."""
        start, start_cpu = time.perf_counter(), time.process_time()
        if self.fig.dpi != 72 * HIDPI:  # figure() left it at 72 dpi for display
            self.fig.set_dpi(72 * HIDPI)
            self._background = None
        self.update()
        self._render()
        self.pixels = np.asarray(self.fig.canvas.buffer_rgba())[..., :3].copy()  # (H, W, 3) uint8
        self.image.value = png_bytes(self.pixels)
        self.image.width = str(self.pixels.shape[1] // HIDPI)
        self.image.height = str(self.pixels.shape[0] // HIDPI)
        self.readout.value = f"<span style='font-size:12px'>{self.describe()}</span>"
        self.redraw_ms = (time.perf_counter() - start) * 1e3
        self.redraw_times_ms.append(self.redraw_ms)
        self.redraw_cpu_times_ms.append((time.process_time() - start_cpu) * 1e3)

    def _render(self) -> None:
        canvas = self.fig.canvas
        if not self._animated:
            canvas.draw()
            return
        if self._background is None:
            for artist in self._animated:
                artist.set_animated(True)
            canvas.draw()  # everything but the animated artists
            self._background = canvas.copy_from_bbox(self.fig.bbox)
        else:
            canvas.restore_region(self._background)
        for artist in self._animated:
            self.fig.draw_artist(artist)

    @property
    def median_redraw_ms(self) -> float:
        """The median of the redraw times so far (NaN before the first)."""
        return statistics.median(self.redraw_times_ms) if self.redraw_times_ms else float("nan")

    def measure_redraw(self, name: str, values: Sequence, *, cpu: bool = False) -> float:
        """Set control ``name`` to each of ``values`` in turn; the median redraw time of those steps (ms).

        Wall time by default; ``cpu=True``: this process's CPU time. The explorer is left at the last value.
        """
        times = self.redraw_cpu_times_ms if cpu else self.redraw_times_ms
        start = len(times)
        for value in values:
            self.set(**{name: value})
        return statistics.median(times[start:])

    # -- for readers without a kernel --------------------------------------------------------------

    def figure(self) -> Figure:
        """The static figure of the current state (display it beside the explorer).

        At 72 dpi, like every course figure (the course's inline backend draws it at twice that);
        the next redraw goes back to ``72 * HIDPI``.
        """
        if not self.redraw_times_ms:
            self.redraw()
        self.fig.set_dpi(72)
        for artist in self._animated:  # a plain draw (savefig, display) skips animated artists
            artist.set_animated(False)
        self._background = None  # the next redraw marks them animated again
        return self.fig

    def player(self, name: str, values: Sequence, *, label: str | None = None, sharp: bool = True):
        """A kernel-free player: ``IPython.display.HTML`` with one PNG frame per value of control ``name``.

        A range input swaps the frames with a line of JavaScript, so the course website (and any
        page that runs scripts) can be scrubbed without a kernel; where scripts do not run (GitHub)
        the first frame shows. The explorer is left as it was. ``sharp=False`` keeps one pixel
        per CSS pixel (2 x 2 blocks averaged) instead of ``HIDPI``, in 64 colours (indexed PNG):
        about a fifth of the bytes, for a notebook whose committed outputs must stay small.
        """
        from IPython.display import HTML

        values = list(values)
        if not 2 <= len(values) <= 24:
            raise ValueError(f"a player needs 2 to 24 frames; got {len(values)}.")
        for value in values:
            self._check(name, value)
        before = self.values
        frames = []
        for value in values:
            self.set(**{name: value})
            data = bytes(self.image.value) if sharp else small_png(self.pixels)
            frames.append(base64.b64encode(data).decode("ascii"))
        self.set(**before)
        width = int(self.image.width)
        label = label or self.controls[name].description or name
        sources = ",".join(f"'data:image/png;base64,{f}'" for f in frames)
        ticks = ", ".join(f"{v:g}" if isinstance(v, (int, float)) else str(v) for v in values)
        alt = html.escape(f"{type(self).__name__} over {label} = {ticks}: one frame per value", quote=True)
        label, ticks = html.escape(label), html.escape(ticks)
        return HTML(
            "<div class='vaelib-player'>"
            f"<div style='font-size:12px'>{label} ({ticks}): "
            f"<input type='range' min='0' max='{len(frames) - 1}' value='0' step='1' "
            f'oninput="this.parentNode.nextSibling.src=[{sources}][this.value]"></div>'
            f'<img width="{width}" alt="{alt}" src="data:image/png;base64,{frames[0]}"/></div>'
        )
