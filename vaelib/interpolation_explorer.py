"""The interpolation explorer of lecture 05: the straight latent path between two images.

Introduced in lecture 05; built by :func:`interpolation_explorer` (also importable from
:mod:`vaelib.widgets`). Pick two digits (a 2 and a 9 by default) or two test images; a slider
moves along the straight latent path between them; the two models' decodes are shown side by
side, with the path and a marker drawn on both latent scatters (:mod:`vaelib.latent_canvas`).
CSS classes (used by the browser test): the slider has ``vaelib-interp-slider`` and the image of
the decodes ``vaelib-interp-image``.
"""

from __future__ import annotations

import time
from typing import Sequence

import ipywidgets as widgets
import numpy as np
import torch

from vaelib import plots
from vaelib.latent_canvas import (
    HIDPI,
    SCALE,
    ScatterCanvas,
    check_2d_model,
    decode,
    embed,
    gray_u8,
    pixel_figure,
    share_palette,
    show_png,
    side_by_side,
)

__all__ = ["interpolation_explorer", "InterpolationExplorer", "a_digit"]


def a_digit(d: int) -> str:
    """ "a 2", "an 8": the digit with its indefinite article."""
    return f"{'an' if int(d) == 8 else 'a'} {int(d)}"


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
        self.y = plots.to_numpy(y).astype(int)
        self.image_shape = tuple(image_shape)
        self.redraw_times_ms: list[float] = []
        self.redraw_ms = float("nan")
        self._codes = {name: embed(m, self.x) for name, m in self.models.items()}  # (N, 2) each
        shown = np.linspace(0, len(self.x) - 1, min(scatter_points, len(self.x))).astype(int)
        self._canvas = {
            name: ScatterCanvas(z[shown], self.y[shown], plots.latent_extent(z), f"{name} latent space")
            for name, z in self._codes.items()
        }
        self._palette = share_palette(list(self._canvas.values()))
        digits, examples = self._starting_images(digit_a, digit_b, index_a, index_b)
        self._make_controls(digits, examples)
        super().__init__(self._layout())
        self._choose()
        self.slider.observe(lambda change: self.redraw(), names="value")
        for w in (self.digit_a, self.digit_b, self.example_a, self.example_b):
            w.observe(self._on_choice, names="value")

    # -- building the widgets -----------------------------------------------------------------

    def _starting_images(self, digit_a, digit_b, index_a, index_b) -> tuple[dict, dict]:
        """The classes ``{"a": d_a, "b": d_b}`` and example numbers of the two first images (rows override digits)."""
        classes = sorted(int(c) for c in np.unique(self.y))
        digits, examples = {"a": digit_a, "b": digit_b}, {"a": 0, "b": 0}
        for end, index in (("a", index_a), ("b", index_b)):
            if index is None:
                continue
            if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or not 0 <= index < len(self.x):
                raise ValueError(
                    f"index_{end} must be a row of x, an integer in [0, {len(self.x) - 1}]; got {index!r}."
                )
            digits[end] = int(self.y[index])
            examples[end] = int(np.flatnonzero(self.y == digits[end]).tolist().index(int(index)))
        for end, d in digits.items():
            if d not in classes:
                raise ValueError(f"digit_{end} must be one of the classes in y {classes}; got {d!r}.")
        return digits, examples

    def _make_controls(self, digits: dict, examples: dict) -> None:
        """The slider, the two (digit, example) choices and the images, with their CSS classes."""
        classes = sorted(int(c) for c in np.unique(self.y))
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
        for end, description in (("a", "from digit"), ("b", "to digit")):
            digit = widgets.Dropdown(
                options=classes, value=digits[end], description=description, layout=widgets.Layout(width="160px")
            )
            example = widgets.BoundedIntText(
                value=examples[end],
                min=0,
                max=int((self.y == digits[end]).sum()) - 1,
                description="example",
                layout=widgets.Layout(width="150px"),
            )
            setattr(self, f"digit_{end}", digit)
            setattr(self, f"example_{end}", example)
        self.decode_image = widgets.Image(format="png")
        self.decode_image.add_class("vaelib-interp-image")
        self.start_image = widgets.Image(format="png")
        self.end_image = widgets.Image(format="png")
        self.scatter_image = widgets.Image(format="png")
        self.title = widgets.HTML()
        self.verdict = widgets.HTML()

    def _layout(self) -> list:
        """The rows of the explorer: title, choices, slider, (start | decodes | end), scatters."""
        names = list(self.models)
        size = self.image_shape[1] * SCALE
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
        return [
            self.title,
            widgets.HBox([self.digit_a, self.example_a, self.digit_b, self.example_b]),
            self.slider,
            images_row,
            self.scatter_image,
        ]

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
        show_png(self.start_image, gray_u8(self.x[self.index_a].numpy(), self.image_shape))
        show_png(self.end_image, gray_u8(self.x[self.index_b].numpy(), self.image_shape))
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
            x_hat = decode(model, z)
            self.images[name] = x_hat.reshape(self.image_shape)
            self.marker[name] = z
            self.marker_pixels[name] = self._canvas[name].to_pixels(z)[0]
            decodes.append(gray_u8(x_hat, self.image_shape))
            scatters.append(self._canvas[name].draw_indexed((z_a, z_b), z))
        show_png(self.decode_image, side_by_side(decodes, gap=8 * HIDPI))
        show_png(self.scatter_image, side_by_side(scatters, gap=8 * HIDPI), palette=self._palette)
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
        size = self.image_shape[1] * SCALE
        cells = "".join(
            f"<div style='width:{size}px;text-align:center'>judge: {d} ({c:.2f})</div>"
            for d, c in self.verdicts.values()
        )
        self.verdict.value = f"<div style='display:flex;gap:8px;font-size:11px;color:#444'>{cells}</div>"

    def figure(self):
        """A static matplotlib figure of what the explorer shows now (for a static render), pixel-exact."""
        strip = side_by_side(
            [gray_u8(self.x[self.index_a].numpy(), self.image_shape)]
            + [gray_u8(im, self.image_shape) for im in self.images.values()]
            + [gray_u8(self.x[self.index_b].numpy(), self.image_shape)],
            gap=12 * HIDPI,
        )
        scatters = side_by_side(
            [self._canvas[n].draw(self.ends[n], self.marker[n]) for n in self.models], gap=8 * HIDPI
        )
        names = list(self.models)
        judged = ""
        if self.verdicts:
            judged = "   judge: " + ", ".join(f"{n} {d} ({c:.2f})" for n, (d, c) in self.verdicts.items())
        return pixel_figure(
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
    check_2d_model("ae", ae)
    check_2d_model("vae", vae)
    x = torch.as_tensor(x, dtype=torch.float32)
    if x.dim() != 2 or x.shape[1] != image_shape[0] * image_shape[1]:
        raise ValueError(f"x must have shape (N, {image_shape[0] * image_shape[1]}); got {tuple(x.shape)}.")
    if len(plots.to_numpy(y)) != len(x):
        raise ValueError(f"y must have one label per image of x ({len(x)}); got {len(plots.to_numpy(y))}.")
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
