"""The shared base of the lectures' explorers (vaelib.explorers.base): its contract, on a minimal explorer."""

from __future__ import annotations

import numpy as np
import pytest

from vaelib.explorers.base import Explorer, dropdown, float_slider, int_slider


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
