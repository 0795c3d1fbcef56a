"""Lecture 04's explorer (vaelib.explorers.gaps): every control driven from Python, the gaps checked."""

from __future__ import annotations

import time

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from explorer_support import differs_from_full_draw  # noqa: E402

from vaelib import gaussians  # noqa: E402
from vaelib.explorers.gaps import gaps_explorer  # noqa: E402
from vaelib.linear_gaussian import LinearGaussianModel  # noqa: E402


@pytest.fixture(scope="module")
def setting():
    """Lecture 04's model and data (D = 12, K = 3, 3000 training and 150 held-out points), in float64."""
    previous, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)  # as the lecture (vaelib.course.setup): tiny tensors, and a busy CPU
    try:
        g = torch.Generator().manual_seed(0)
        model = LinearGaussianModel.random(12, 3, noise_var=0.5, correlation=0.7, generator=g)
        x_train, _ = model.sample(3000, g)
        x_test, _ = model.sample(150, g)
        explorer = gaps_explorer(model, x_train, x_test)
    finally:
        torch.set_default_dtype(previous)
        torch.set_num_threads(threads)
    return model, x_train, x_test, explorer


def test_contract_controls_and_css_classes(setting):
    *_, ex = setting
    assert list(ex.controls) == ["epochs", "width"]
    assert "vaelib-explorer" in ex._dom_classes
    assert "vaelib-explorer-control" in ex.controls["epochs"]._dom_classes
    assert "vaelib-explorer-image" in ex.image._dom_classes
    assert set(ex.shown) == {"width", "epochs", "approximation", "amortization", "amortization_se", "total"}


def test_the_gaps_keep_the_decomposition_at_every_setting(setting):
    """approximation >= 0, amortization >= 0 on every point (q* bounds every encoder of its family), total = sum."""
    model, _, x_test, ex = setting
    grid = ex.grid
    assert (grid.approximation >= -1e-6).all()
    assert (grid.amortization >= -1e-6).all()
    kl_min = gaussians.best_diagonal_reverse_kl(model.posterior(x_test).mu[0], model.posterior_cov())[2].item()
    assert np.allclose(grid.approximation, kl_min, atol=1e-6)  # the closed-form mean-field gap, every point
    for width in grid.widths:
        for epochs in range(1, grid.epochs + 1):
            ex.set(width=width, epochs=epochs)
            s = ex.shown
            assert s["width"] == width and s["epochs"] == epochs
            assert s["amortization"] >= -2 * s["amortization_se"]
            assert s["total"] == pytest.approx(s["approximation"] + s["amortization"], abs=1e-12)
            assert s["approximation"] == pytest.approx(kl_min, abs=1e-6)


def test_the_bars_show_the_numbers(setting):
    *_, ex = setting
    ex.set(width=8, epochs=ex.grid.epochs)
    encoder_a, encoder_b = ex.approx_bars[2], ex.amort_bars[2]
    assert encoder_a.get_width() == pytest.approx(ex.shown["approximation"])
    assert encoder_b.get_x() == pytest.approx(ex.shown["approximation"])
    assert encoder_b.get_width() == pytest.approx(ex.shown["amortization"])
    assert ex.approx_bars[1].get_width() == pytest.approx(ex.shown["approximation"])  # the per-point optimum
    assert ex.approx_bars[0].get_width() == 0 and ex.amort_bars[0].get_width() == 0  # the exact posterior


def test_wider_or_longer_trained_encoders_do_not_leave_larger_amortization_gaps(setting):
    """Capacity: after full training each wider encoder's gap is at most the narrower one's plus 2 s.e. of
    the paired difference; training: every encoder ends with a smaller gap than after its first epoch."""
    *_, ex = setting
    grid = ex.grid
    final = grid.amortization[:, -1]  # (W, M)
    for narrow, wide in zip(final[:-1], final[1:]):
        difference = wide - narrow
        assert difference.mean() <= 2 * difference.std(ddof=1) / np.sqrt(len(difference))
    assert (grid.amortization[:, -1].mean(1) < grid.amortization[:, 0].mean(1)).all()
    assert grid.amortization[-1, -1].mean() < 0.2 * grid.amortization[0, -1].mean()  # width 8 vs width 1


def test_each_control_changes_the_image(setting):
    *_, ex = setting
    ex.set(width=1, epochs=1)
    before, png = ex.pixels.copy(), ex.image.value
    ex.set(epochs=5)
    assert ex.pixels.shape == before.shape and (ex.pixels != before).any() and ex.image.value != png
    before = ex.pixels.copy()
    ex.set(width=4)
    assert (ex.pixels != before).any()
    ex.controls["epochs"].value = 6  # as the slider would: one redraw
    assert ex.shown["epochs"] == 6


def test_the_fast_redraw_draws_what_a_full_draw_does(setting):
    *_, ex = setting
    assert differs_from_full_draw(ex.set(width=4, epochs=3)) < 0.01  # only draw-order details may differ
    assert differs_from_full_draw(ex.set(width=1, epochs=8)) < 0.01  # and again after the static figure (a cut bar)


def test_redraw_is_fast(setting):
    *_, ex = setting
    start, cpu_start = len(ex.redraw_times_ms), time.process_time()
    for epochs in [1, 2, 3, 4, 5, 6, 7, 8, 7, 6, 5, 4, 3, 2, 1, 2, 3, 4, 5, 6]:
        ex.set(epochs=epochs)
    times = ex.redraw_times_ms[start:]
    cpu_ms = (time.process_time() - cpu_start) * 1e3 / 20
    # CPU time per redraw is what the explorer costs; its wall time (redraw_times_ms) also counts the
    # machine's load (median under 100 ms measured with 2 cores shared by a dozen processes)
    assert len(times) == 20 and cpu_ms < 50


def test_bad_settings_are_refused_with_a_clear_message(setting):
    model, x_train, x_test, ex = setting
    with pytest.raises(ValueError, match=r"epochs must be in \[1, 8\]"):
        ex.set(epochs=0)
    with pytest.raises(ValueError, match=r"width must be one of \[1, 2, 4, 8\]; got 3"):
        ex.set(width=3)
    with pytest.raises(ValueError, match="no control 'depth'"):
        ex.set(depth=2)
    with pytest.raises(ValueError, match="widths must be 2 to 8 increasing positive integers"):
        gaps_explorer(model, x_train, x_test, widths=(4, 2))
    with pytest.raises(ValueError, match="epochs must be a whole number from 1 to 50"):
        gaps_explorer(model, x_train, x_test, epochs=0)
    with pytest.raises(ValueError, match=r"x_test must be a tensor of shape \(N, 12\)"):
        gaps_explorer(model, x_train, x_test[:, :5])
    with pytest.raises(TypeError, match="LinearGaussianModel"):
        gaps_explorer("model", x_train, x_test)
