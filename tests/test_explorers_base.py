"""vaelib.explorers.base: the shared contract, with and without the fast (blitted) redraw."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vaelib.explorers.base import Explorer, float_slider  # noqa: E402


class Dot(Explorer):
    def __init__(self, blit: bool):
        super().__init__({"x": float_slider("x", 0.0, -1.0, 1.0, 0.1)}, figsize=(3, 2))
        ax = self.fig.subplots()
        ax.set_xlim(-1.2, 1.2)
        ax.set_ylim(-1, 1)
        (self.dot,) = ax.plot([], [], "o", ms=12)
        if blit:
            self.animate(self.dot)
        self.redraw()

    def update(self):
        self.dot.set_data([self.values["x"]], [0.0])
        self.shown = {"x": float(self.values["x"])}


def test_a_blitted_redraw_equals_a_full_draw():
    full, fast = Dot(blit=False), Dot(blit=True)
    for x in (0.3, -0.5, 0.9):
        assert np.array_equal(full.set(x=x).pixels, fast.set(x=x).pixels)
    assert full.pixels.shape == (288, 432, 3)  # 3 x 2 inches at 144 dpi
    fig = fast.figure()  # the static figure shows the animated artists too
    assert not fast.dot.get_animated() and fig.dpi == 72
    fig.set_dpi(144)
    fig.canvas.draw()
    assert np.array_equal(np.asarray(fig.canvas.buffer_rgba())[..., :3], full.pixels)
    assert np.array_equal(fast.set(x=0.1).pixels, full.set(x=0.1).pixels) and fast.dot.get_animated()
    fast.refresh_background()
    assert np.array_equal(fast.set(x=0.2).pixels, full.set(x=0.2).pixels)


def test_the_contract_holds_with_blitting():
    dot = Dot(blit=True)
    assert dot.set(x=0.5).shown == {"x": 0.5} and bytes(dot.image.value[:4]) == b"\x89PNG"
    with pytest.raises(ValueError, match=r"x must be in \[-1.0, 1.0\]; got 2"):
        dot.set(x=2)


def test_a_small_player_is_smaller_and_leaves_the_explorer_as_it_was():
    dot = Dot(blit=True).set(x=0.2)
    sharp, small = (dot.player("x", [-0.5, 0.5], sharp=flag).data for flag in (True, False))
    assert len(small) < len(sharp) and small.count("data:image/png;base64,") == 3
    assert dot.values == {"x": 0.2} and dot.fig.dpi == 144


class Corner(Explorer):
    """A dot in an axes with a fixed aspect (the simplex of lecture 06) and a moving figure-level title."""

    def __init__(self, blit: bool):
        super().__init__({"x": float_slider("x", 0.0, -1.0, 1.0, 0.1)}, figsize=(4, 2))
        ax = self.fig.subplots()
        ax.fill([0, 1, 0.5], [0, 0, 0.87], facecolor="0.9")
        ax.set_xlim(-0.2, 1.2)
        ax.set_ylim(-0.1, 1.0)
        ax.set_aspect("equal")  # the axes shrink to keep it: their box is known only once drawn
        (self.dot,) = ax.plot([], [], "o", ms=8)
        self.heading = self.fig.text(0.02, 0.92, "", fontsize=9)
        if blit:
            self.animate(self.dot, self.heading)
        self.redraw()

    def update(self):
        x = float(self.values["x"])
        self.dot.set_data([0.5 + x / 2], [0.3])
        self.heading.set_text(f"x = {x:.1f}")
        self.shown = {"x": x}


def tight_png(fig) -> np.ndarray:
    """The pixels of ``fig`` saved as the inline backend's retina output does (twice the dpi, tight bounding box)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=2 * fig.dpi, bbox_inches="tight")
    return np.asarray(Image.open(buffer).convert("RGB"))


def test_blitting_works_in_axes_with_a_fixed_aspect_and_the_static_figure_displays_right():
    full, fast = Corner(blit=False), Corner(blit=True)
    for x in (0.4, -0.6):
        assert np.array_equal(full.set(x=x).pixels, fast.set(x=x).pixels)
    static, reference = tight_png(fast.figure()), tight_png(full.figure())
    assert static.shape == reference.shape and np.array_equal(static, reference)  # the dot and the heading too
    assert np.array_equal(fast.set(x=0.9).pixels, full.set(x=0.9).pixels)  # and blitting again after it
