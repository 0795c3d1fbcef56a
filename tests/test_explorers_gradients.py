"""vaelib.explorers.gradients: lecture 01's explorer, driven from Python and checked against the exact variances."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from explorer_support import changed, differs_from_full_draw  # noqa: E402

from vaelib import toy  # noqa: E402
from vaelib.explorers.gradients import gradient_estimator_explorer, variance_stderr  # noqa: E402

THETAS = [-2.5, -1.0, 0.0, 1.0, 2.5]


@pytest.fixture(scope="module")
def explorer():
    return gradient_estimator_explorer(num_samples=20_000, seed=0)


@pytest.mark.parametrize("baseline", ["none", "mean", "optimal"])
def test_measured_variances_agree_with_the_exact_ones(explorer, baseline):
    for theta in THETAS:
        s = explorer.set(theta=theta, baseline=baseline).shown
        b = {"none": 0.0, "mean": theta**2 + 1, "optimal": theta**2 + 3}[baseline]
        assert s["b"] == pytest.approx(b)
        assert s["exact_score"] == pytest.approx(float(toy.moments(theta, "score", baseline=b)[1]))
        assert s["exact_pathwise"] == 4.0
        for name in ("score", "pathwise"):
            assert abs(s[f"var_{name}"] - s[f"exact_{name}"]) < 4 * s[f"se_{name}"], (theta, baseline, name, s)
            assert abs(s[f"mean_{name}"] - 2 * theta) < 4 * np.sqrt(s[f"exact_{name}"] / 20_000)


def test_the_baselines_order_the_variances(explorer):
    """Var(b*) <= Var(b = E f) <= Var(none), exactly and as measured, and pathwise is the smallest."""
    for theta in THETAS:
        measured, exact = {}, {}
        for baseline in ("none", "mean", "optimal"):
            s = explorer.set(theta=theta, baseline=baseline).shown
            measured[baseline], exact[baseline] = s["var_score"], s["exact_score"]
        assert exact["optimal"] < exact["mean"] < exact["none"]
        assert measured["optimal"] < measured["mean"] < measured["none"]
        assert s["var_pathwise"] < measured["optimal"]
        assert exact["optimal"] == pytest.approx(8 * theta**2 + 6)


def test_the_histograms_show_the_estimates(explorer):
    explorer.set(theta=1.0, baseline="none")
    x = 1.0 + explorer.eps  # the explorer's fixed noise
    for name, g in (("score", x**2 * explorer.eps), ("pathwise", 2 * x)):
        heights, edges = explorer.hists[name].get_data()[:2]
        counts, _ = np.histogram(g, bins=edges)
        assert np.allclose(heights, counts / counts.max())
        assert variance_stderr(g)[0] == pytest.approx(explorer.shown[f"var_{name}"])
        assert explorer.truth[name].get_xdata()[0] == 2.0
    assert explorer.point_score.get_ydata()[0] == explorer.shown["var_score"]
    # the score estimates spread as theta grows: more of them fall outside +-10 of the truth
    wide = explorer.set(theta=3.0).hists["score"].get_data()
    assert np.count_nonzero(wide.values > 0.01) > np.count_nonzero(heights > 0.01)


def test_the_image_changes_with_every_control(explorer):
    before = explorer.set(theta=0.0, baseline="none").pixels.copy()
    moved = explorer.set(theta=0.5).pixels.copy()
    assert changed(before, moved) > 0.002
    assert changed(moved, explorer.set(baseline="optimal").pixels) > 0.002


def test_the_fast_redraw_shows_what_a_full_draw_shows(explorer):
    explorer.set(theta=2.0, baseline="mean")
    assert differs_from_full_draw(explorer) < 0.01  # only draw-order details differ
    assert differs_from_full_draw(explorer.set(theta=-1.0)) < 0.01  # and again after the static figure


def test_redraw_is_fast(explorer):
    assert (
        explorer.measure_redraw("theta", np.round(np.linspace(-2, 2, 20), 1).tolist(), cpu=True) < 100
    )  # CPU time: a busy machine adds waiting, not cost


def test_player_has_a_frame_per_value(explorer):
    explorer.set(theta=1.0, baseline="none")
    html = explorer.player("theta", [-2.0, 0.0, 2.0]).data
    assert html.count("data:image/png;base64,") == 4  # 3 frames + the first shown
    assert explorer.values == {"theta": 1.0, "baseline": "none"}


def test_bad_settings_say_what_was_wrong(explorer):
    with pytest.raises(ValueError, match=r"theta must be in \[-3.0, 3.0\]; got 4"):
        explorer.set(theta=4)
    with pytest.raises(ValueError, match="baseline must be one of"):
        explorer.set(baseline="zero")
    with pytest.raises(ValueError, match="has no control 'lr'"):
        explorer.set(lr=0.1)
    with pytest.raises(ValueError, match="at least 100"):
        gradient_estimator_explorer(num_samples=10)
    with pytest.raises(ValueError, match="theta must be in"):
        gradient_estimator_explorer(theta=5.0)
