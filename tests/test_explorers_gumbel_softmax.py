"""Lecture 06's explorer (vaelib.explorers.gumbel_softmax): the temperature driven from Python."""

from __future__ import annotations

import time

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from explorer_support import differs_from_full_draw  # noqa: E402
from torch.distributions import RelaxedOneHotCategorical  # noqa: E402

from vaelib.explorers.gumbel_softmax import CORNERS, gumbel_softmax_explorer, simplex_xy  # noqa: E402

LOGITS, TARGET = (0.5, -0.3, 0.1), (0.0, 0.0, 0.9)


@pytest.fixture(scope="module")
def explorer():
    return gumbel_softmax_explorer(LOGITS, TARGET)


def test_contract_controls_and_css_classes(explorer):
    assert list(explorer.controls) == ["temperature"]
    assert "vaelib-explorer" in explorer._dom_classes
    assert "vaelib-explorer-control" in explorer.controls["temperature"]._dom_classes
    assert "vaelib-explorer-image" in explorer.image._dom_classes


def test_exact_gradient_is_the_softmax_jacobian_times_f(explorer):
    """Independent oracle: d/dtheta sum_c p_c f(e_c) = (diag p - p p^T) f(e)."""
    p = torch.softmax(torch.tensor(LOGITS, dtype=torch.float64), -1)
    f = ((torch.eye(3, dtype=torch.float64) - torch.tensor(TARGET, dtype=torch.float64)) ** 2).sum(-1)
    J = torch.diag(p) - torch.outer(p, p)
    assert np.allclose(explorer.exact, (J @ f).numpy(), atol=1e-12)


def test_samples_lie_on_the_simplex_and_approach_its_corners_as_tau_falls(explorer):
    max_coordinate = []
    for tau in (2.0, 1.0, 0.5, 0.2, 0.1, 0.05):
        explorer.set(temperature=tau)
        y = explorer.samples
        assert (y >= 0).all() and np.allclose(y.sum(1), 1, atol=1e-12)
        xy = simplex_xy(y)  # inside the triangle: barycentric coordinates >= 0
        assert xy[:, 1].min() >= -1e-12 and (xy[:, 1] <= np.sqrt(3) * np.minimum(xy[:, 0], 1 - xy[:, 0]) + 1e-9).all()
        max_coordinate.append(explorer.shown["mean_max_coordinate"])
    assert all(a < b for a, b in zip(max_coordinate, max_coordinate[1:]))
    assert max_coordinate[-1] > 0.95 and max_coordinate[0] < 0.6
    # the same noise at every tau: the argmax (the Gumbel-max sample) never changes
    explorer.set(temperature=0.05)
    classes = explorer.samples.argmax(1)
    explorer.set(temperature=2.0)
    assert (explorer.samples.argmax(1) == classes).all()
    assert np.allclose(simplex_xy(np.eye(3)), CORNERS)


def test_bias_falls_and_variance_grows_as_tau_falls(explorer):
    curve = [explorer.curve[round(float(t), 10)] for t in explorer.taus]  # increasing tau
    bias, bias_se, variance = (np.array([c[i] for c in curve]) for i in range(3))
    assert bias[0] < 4 * bias_se[0]  # tau = 0.05: no measurable bias
    assert bias[-1] > 50 * bias_se[-1] and bias[-1] > 5 * bias[0]  # tau = 2: clearly biased
    assert (np.diff(variance) < 0).all()  # variance falls as tau grows (common random numbers: smooth)
    assert variance[0] > 100 * variance[-1]


def test_bias_at_tau_1_agrees_with_torchs_relaxation(explorer):
    """Independent Monte Carlo: torch's RelaxedOneHotCategorical.rsample with fresh noise, tau = 1."""
    explorer.set(temperature=1.0)
    bias, bias_se = explorer.shown["bias_norm"], explorer.shown["bias_se"]
    torch.manual_seed(5)
    logits = torch.tensor(LOGITS, dtype=torch.float64, requires_grad=True)
    y = RelaxedOneHotCategorical(torch.tensor(1.0, dtype=torch.float64), logits=logits).rsample((40_000,))
    f = ((y - torch.tensor(TARGET, dtype=torch.float64)) ** 2).sum(-1).mean()
    (grad,) = torch.autograd.grad(f, logits)
    torch_bias = grad.numpy() - explorer.exact
    assert abs(np.linalg.norm(torch_bias) - bias) < 5 * bias_se + 0.01


def test_moving_the_temperature_changes_the_image(explorer):
    explorer.set(temperature=1.0)
    before, png = explorer.pixels.copy(), explorer.image.value
    explorer.controls["temperature"].value = 1.05  # as the slider would
    assert explorer.shown["temperature"] == pytest.approx(1.05)
    assert (explorer.pixels != before).any() and explorer.image.value != png


def test_the_fast_redraw_draws_what_a_full_draw_does(explorer):
    """The simplex axes keep a fixed aspect: the background must be laid out as a full draw lays it out."""
    assert differs_from_full_draw(explorer.set(temperature=0.2)) < 0.01  # only draw-order details may differ
    assert differs_from_full_draw(explorer.set(temperature=1.5)) < 0.01  # and again after the static figure


def test_redraw_is_fast(explorer):
    start, cpu_start = len(explorer.redraw_times_ms), time.process_time()
    for tau in np.round(np.arange(0.05, 1.05, 0.05), 2):
        explorer.set(temperature=float(tau))
    times = explorer.redraw_times_ms[start:]
    cpu_ms = (time.process_time() - cpu_start) * 1e3 / 20
    # CPU time per redraw is what the explorer costs; its wall time (redraw_times_ms) also counts the
    # machine's load (median under 100 ms measured with 2 cores shared by a dozen processes)
    assert len(times) == 20 and cpu_ms < 50


def test_bad_settings_are_refused_with_a_clear_message(explorer):
    with pytest.raises(ValueError, match=r"temperature must be in \[0.05, 2.0\]; got 0"):
        explorer.set(temperature=0)
    with pytest.raises(ValueError, match="logits must hold 3 numbers"):
        gumbel_softmax_explorer(logits=(1.0, 2.0))
    with pytest.raises(ValueError, match="target must hold 3 numbers"):
        gumbel_softmax_explorer(target=(0.0, 1.0))
    with pytest.raises(ValueError, match="num_points must be a whole number from 10 to 5000"):
        gumbel_softmax_explorer(num_points=5)
    with pytest.raises(ValueError, match="target"):
        gumbel_softmax_explorer(target=(0.0, float("nan"), 1.0))
