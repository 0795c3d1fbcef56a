"""vaelib.explorers.base: the shared contract (on a minimal explorer), with and without the fast (blitted) redraw."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vaelib.explorers.base import Explorer, dropdown, float_slider, int_slider  # noqa: E402


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


# -- the contract on a minimal explorer with three kinds of control ------------------------------


class Wave(Explorer):
    """sin(k x) with a phase chosen from a dropdown and n points: enough to test the contract."""

    def __init__(self):
        super().__init__(
            {
                "k": float_slider("k", 1.0, 0.5, 4.0, 0.5),
                "n": int_slider("n", 50, 10, 200, 10),
                "phase": dropdown("phase", [("none", 0.0), ("half", np.pi / 2)], 0.0),
            },
            figsize=(3.0, 2.0),
            title="<b>a wave</b>",
        )
        self.ax = self.fig.add_subplot()
        self.ax.set_ylim(-1.1, 1.1)
        self.ax.set_xlim(0, 6)
        (self.line,) = self.ax.plot([], [])
        self.updates = 0
        self.redraw()

    def update(self):
        self.updates += 1
        v = self.values
        x = np.linspace(0, 6, v["n"])
        y = np.sin(v["k"] * x + v["phase"])
        self.line.set_data(x, y)
        self.shown = {"mean": float(y.mean())}


def test_set_redraws_once_and_changes_the_numbers_and_the_pixels():
    w = Wave()
    before, pixels = w.shown["mean"], w.pixels.copy()
    updates = w.updates
    w.set(k=2.0, n=100, phase=np.pi / 2)
    assert w.updates == updates + 1  # several controls, one redraw
    x = np.linspace(0, 6, 100)
    assert w.shown["mean"] == pytest.approx(np.sin(2 * x + np.pi / 2).mean())
    assert w.shown["mean"] != before
    assert (w.pixels != pixels).any()
    assert w.pixels.shape == (2 * 2 * 72, 3 * 2 * 72, 3)  # rendered at twice the shown pixels
    assert (int(w.image.width), int(w.image.height)) == (3 * 72, 2 * 72)
    assert bytes(w.image.value).startswith(b"\x89PNG")
    assert "mean = " in w.readout.value


def test_moving_a_control_redraws():
    w = Wave()
    updates = w.updates
    w.controls["k"].value = 3.0
    assert w.updates == updates + 1
    assert len(w.redraw_times_ms) == w.updates
    assert w.redraw_ms == w.redraw_times_ms[-1] > 0
    assert w.median_redraw_ms > 0


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"k": 9.0}, "k must be in [0.5, 4.0]; got 9.0"),
        ({"k": float("nan")}, "k must be in"),
        ({"k": "2"}, "k must be a number; got '2'"),
        ({"k": True}, "k must be a number"),
        ({"n": 15.5}, "n must be a whole number"),
        ({"phase": 1.0}, "phase must be one of"),
        ({"q": 1}, "Wave has no control 'q'; its controls are ['k', 'n', 'phase']"),
    ],
)
def test_bad_settings_are_rejected_with_what_was_wrong_and_nothing_changes(values, words):
    w = Wave()
    state = w.values
    with pytest.raises(ValueError) as err:
        w.set(**{"n": 20, **values})  # a good value first: it must not be applied either
    assert words in str(err.value)
    assert w.values == state


def test_css_classes_for_the_browser_test():
    w = Wave()
    assert "vaelib-explorer" in w._dom_classes
    assert "vaelib-explorer-control" in w.controls["k"]._dom_classes
    assert "vaelib-explorer-control" not in w.controls["n"]._dom_classes
    assert "vaelib-explorer-image" in w.image._dom_classes


def test_figure_is_the_current_state_and_the_player_leaves_the_explorer_as_it_was():
    w = Wave()
    w.set(k=1.5)
    assert w.figure() is w.fig
    player = w.player("k", [1.0, 2.0, 3.0])
    assert w.values["k"] == 1.5
    assert player.data.count("data:image/png;base64,") == 4  # three frames and the first shown
    assert "type='range'" in player.data and "max='2'" in player.data
    with pytest.raises(ValueError, match="2 to 24 frames"):
        w.player("k", [1.0])
    with pytest.raises(ValueError, match="k must be in"):
        w.player("k", [1.0, 7.0])


def test_an_explorer_needs_a_control():
    with pytest.raises(ValueError, match="at least one control"):
        Explorer({}, figsize=(1, 1))


def test_the_player_frame_has_alt_text():
    player = Wave().player("k", [1.0, 2.0])
    assert 'alt="Wave over k = 1, 2: one frame per value"' in player.data  # double quotes: the site's HTML
