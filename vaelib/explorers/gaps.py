"""Lecture 04's explorer: the approximation and amortization gaps of encoders, live.

On a model with an exact log p(x) (:class:`vaelib.linear_gaussian.LinearGaussianModel`), an
encoder's shortfall splits into two gaps (Cremer, Li & Duvenaud 2018; :mod:`vaelib.gaps`):

    log p(x) - ELBO(q_phi) = [log p(x) - ELBO(q*)] + [ELBO(q*) - ELBO(q_phi)]
                           =  approximation gap    +  amortization gap

with q* the per-point mean-field optimum (:func:`vaelib.meanfield.fit_per_point`). The explorer
trains one diagonal-Gaussian MLP encoder per hidden width of a small grid with
:func:`vaelib.train.fit` (as lecture 04 does), and records the gaps on held-out points after every
epoch (fit's ``callback``). A redraw only looks the gaps up and repaints the bars: moving
"epochs trained" shows the amortization gap shrinking with training, moving "hidden width" shows
capacity doing the same, while the approximation gap (the price of the diagonal family) never moves.

Introduced in lecture 04.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.patches import Patch
from torch import Tensor

from vaelib import _validate, meanfield
from vaelib.explorers.base import Explorer, dropdown, int_slider
from vaelib.gaps import inference_gaps
from vaelib.linear_gaussian import LinearGaussianModel
from vaelib.train import CosineDecay, fit

__all__ = ["GapGrid", "train_gap_grid", "GapsExplorer", "gaps_explorer"]

APPROX_RGB, AMORT_RGB = "tab:blue", "tab:orange"  # the colours of lecture 04's gap figure


@dataclass
class GapGrid:
    """The gaps of every encoder of the grid after every epoch, on the held-out points.

    Attributes:
        widths: the hidden widths, ``(W,)``; epochs: E, the epochs each encoder was trained.
        approximation: log p(x) - ELBO(q*) per held-out point, ``(M,)`` (the same for every encoder).
        amortization: ELBO(q*) - ELBO(q_phi), ``(W, E, M)``: encoder w after e + 1 epochs.
        train_seconds: the time the grid took to train.
    """

    widths: tuple[int, ...]
    epochs: int
    approximation: np.ndarray
    amortization: np.ndarray
    train_seconds: float

    def at(self, width: int, epochs: int) -> dict[str, float]:
        """The mean gaps (nats) of the encoder of ``width`` after ``epochs`` epochs, with standard errors."""
        amort = self.amortization[self.widths.index(width), epochs - 1]  # (M,)
        total = self.approximation + amort
        se = float(amort.std(ddof=1) / np.sqrt(len(amort)))
        return {
            "approximation": float(self.approximation.mean()),
            "amortization": float(amort.mean()),
            "amortization_se": se,
            "total": float(total.mean()),
        }


def _check_grid(model, x_train, x_test, widths, epochs, lr, batch_size):
    """train_gap_grid's arguments, checked (a clear ValueError or TypeError on a bad one)."""
    model = _validate.instance("model", model, LinearGaussianModel, "vaelib.linear_gaussian.LinearGaussianModel")
    for name, x, minimum in (("x_train", x_train, 1), ("x_test", x_test, 2)):
        if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[1] != model.data_dim or len(x) < minimum:
            got = f"shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(
                f"{name} must be a tensor of shape (N, {model.data_dim}) with N >= {minimum}: points of the "
                f"model's data space, one per row; got {got}."
            )
    widths = tuple(widths) if isinstance(widths, (list, tuple)) else widths
    if (
        not isinstance(widths, tuple)
        or not 2 <= len(widths) <= 8
        or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths)
        or list(widths) != sorted(set(widths))
    ):
        raise ValueError(f"widths must be 2 to 8 increasing positive integers, e.g. (1, 2, 4, 8); got {widths!r}.")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or not 1 <= epochs <= 50:
        raise ValueError(f"epochs must be a whole number from 1 to 50 (the slider's range); got {epochs!r}.")
    lr = _validate.positive_number("lr", lr)
    batch_size = _validate.positive_int("batch_size", batch_size)
    return model, widths, lr, batch_size


def train_gap_grid(
    model: LinearGaussianModel,
    x_train: Tensor,
    x_test: Tensor,
    *,
    widths=(1, 2, 4, 8),
    epochs: int = 8,
    lr: float = 0.1,
    batch_size: int = 250,
    seed: int = 1,
) -> GapGrid:
    """Train one diagonal encoder per width (one tanh hidden layer) and record its gaps every epoch.

    Each encoder starts from ``torch.manual_seed(seed)`` and is trained by :func:`vaelib.train.fit`
    with Adam and a cosine decay of the learning rate over ``epochs`` (lecture 04's recipe). The
    per-point optimum q* of the diagonal family is fitted once on ``x_test``.

    Args:
        model: the linear-Gaussian model (exact log p(x) and posterior).
        x_train: the encoders' training points ``(N, D)``; x_test: held-out points ``(M, D)``, M >= 2.
        widths: the hidden widths to train, increasing positive integers (2 to 8 of them).
        epochs: epochs each encoder is trained (1 to 50): the range of the "epochs trained" slider.
        lr, batch_size, seed: fit's settings (Adam, a cosine decay to 0, the initialisation seed).
    """
    import time

    model, widths, lr, batch_size = _check_grid(model, x_train, x_test, widths, epochs, lr, batch_size)
    K = model.latent_dim
    log_px = model.log_marginal(x_test)  # (M,) exact
    best = meanfield.fit_per_point(model.elbo, x_test, K, family="diag")
    amortization = np.empty((len(widths), epochs, len(x_test)))
    start = time.perf_counter()
    for i, width in enumerate(widths):
        torch.manual_seed(seed)  # the same initialisation recipe for every encoder
        encoder = meanfield.GaussianEncoder(model.data_dim, K, (width,), family="diag", elbo_fn=model.elbo)

        def record(history, trained, row=i) -> None:
            with torch.no_grad():
                elbo = model.elbo(x_test, *trained(x_test))  # (M,)
            gaps = inference_gaps(log_px, best.elbo, elbo)
            amortization[row, len(history.loss) - 1] = gaps.amortization.cpu().numpy()

        fit(encoder, x_train, epochs=epochs, batch_size=batch_size, lr=lr, lr_schedule=CosineDecay(epochs),
            seed=seed + 1, device="cpu", progress=False, callback=record)  # fmt: skip
    approximation = (log_px - best.elbo).detach().cpu().numpy()
    return GapGrid(tuple(widths), epochs, approximation, amortization, time.perf_counter() - start)


class GapsExplorer(Explorer):
    """Built by :func:`gaps_explorer`; see there. ``grid`` holds every precomputed gap."""

    ROWS = ("exact posterior", "per-point q* (diag)", "encoder")
    XMAX = 4.0  # nats: the bars' fixed range

    def __init__(self, grid: GapGrid):
        self.grid = grid
        controls = {
            "epochs": int_slider("epochs trained", grid.epochs, 1, grid.epochs),
            "width": dropdown("hidden width", list(grid.widths), grid.widths[-1]),
        }
        title = (
            "<b>Train longer (slider) or wider (menu)</b>: the amortization gap (orange) shrinks; the "
            "approximation gap (blue), the price of a diagonal q, does not move."
        )
        super().__init__(controls, figsize=(7.4, 2.7), title=title)
        self._build()
        self.redraw()

    def _build(self) -> None:
        grid = self.grid
        self.ax_bars, self.ax_epochs = self.fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.35, 1]})
        ax = self.ax_bars
        y = np.arange(len(self.ROWS))
        self.approx_bars = ax.barh(y, [0, 0, 0], color=APPROX_RGB, label="approximation gap")
        self.amort_bars = ax.barh(y, [0, 0, 0], color=AMORT_RGB, label="amortization gap")
        (self.error_bar,) = ax.plot([], [], color="k", lw=1.2)  # +- 2 s.e. of the encoder's amortization gap
        self.labels = [ax.text(0, yi, "", va="center", fontsize=7) for yi in y]
        ax.set_yticks(y, self.ROWS, fontsize=8)
        ax.set_ylim(len(y) - 0.5, -0.5)  # the first row on top
        ax.set_xlim(0, self.XMAX)  # fixed: a longer bar is cut at the edge, its label says how long
        ax.set_xlabel("nats (mean over held-out points)", fontsize=8)
        ax.tick_params(labelsize=7)
        handles = [Patch(color=APPROX_RGB, label="approximation gap"), Patch(color=AMORT_RGB, label="amortization gap")]
        ax.legend(handles=handles, loc="upper right", fontsize=7, frameon=False)
        ax2 = self.ax_epochs
        epochs = np.arange(1, grid.epochs + 1)
        for i, width in enumerate(grid.widths):
            mean = np.clip(grid.amortization[i].mean(axis=1), 1e-3, None)
            ax2.plot(epochs, mean, "-", color=AMORT_RGB, lw=1, alpha=0.3)
            ax2.text(epochs[-1] + 0.2, mean[-1], f"w={width}", fontsize=6, va="center", color="0.3")
        (self.highlight,) = ax2.plot([], [], "-", color=AMORT_RGB, lw=2)
        (self.marker,) = ax2.plot([], [], "o", color="k", ms=5)
        ax2.set_yscale("log")
        ax2.set_xlim(0.5, grid.epochs + 1.4)
        ax2.set_xlabel("epochs trained", fontsize=8)
        ax2.set_ylabel("amortization gap (nats)", fontsize=8)
        ax2.set_title("every encoder of the grid", fontsize=9)
        ax2.tick_params(labelsize=7)
        self.heading = self.fig.text(0.17 + 0.005, 0.92, "", fontsize=9)
        self.fig.subplots_adjust(left=0.17, right=0.98, bottom=0.17, top=0.9, wspace=0.45)
        self._static_rows(grid.approximation.mean())
        self.animate(self.approx_bars[2], self.amort_bars[2], self.error_bar, self.labels[2])  # the encoder's row
        self.animate(self.highlight, self.marker, self.heading)

    def _static_rows(self, approximation: float) -> None:
        """The exact posterior's and the per-point optimum's bars: the same at every setting."""
        for row, a in ((0, 0.0), (1, approximation)):
            self.approx_bars[row].set_width(a)
            self.amort_bars[row].set_x(a)
            self.labels[row].set_position((a, row))
            self.labels[row].set_text(f" {a:.2f}")

    def update(self) -> None:
        width, epochs = self.values["width"], self.values["epochs"]
        gaps = self.grid.at(width, epochs)
        self.shown = {"width": float(width), "epochs": float(epochs), **gaps}
        a, b, label = gaps["approximation"], gaps["amortization"], self.labels[2]
        self.approx_bars[2].set_width(a)
        self.amort_bars[2].set_x(a)
        self.amort_bars[2].set_width(b)
        cut = a + b > self.XMAX
        label.set_position((min(a + b, self.XMAX), 2))
        label.set_text(f" {a + b:.2f}" if not cut else f"{a + b:.1f} (cut) ")
        label.set_horizontalalignment("right" if cut else "left")
        label.set_color("white" if cut else "black")
        end, half = a + b, 2 * gaps["amortization_se"]
        self.error_bar.set_data([end - half, end + half], [2, 2])
        self.heading.set_text(f"encoder: hidden width {width}, {epochs} epoch{'s' * (epochs > 1)}")
        row = self.grid.widths.index(width)
        curve = np.clip(self.grid.amortization[row].mean(axis=1), 1e-3, None)
        self.highlight.set_data(np.arange(1, self.grid.epochs + 1), curve)
        self.marker.set_data([epochs], [curve[epochs - 1]])

    def describe(self) -> str:
        s = self.shown
        return (
            f"approximation gap {s['approximation']:.3f} + amortization gap {s['amortization']:.3f} "
            f"(&plusmn; {s['amortization_se']:.3f} s.e.) = total {s['total']:.3f} nats"
        )


def gaps_explorer(model: LinearGaussianModel, x_train: Tensor, x_test: Tensor, **settings) -> GapsExplorer:
    """An explorer of an encoder's inference gaps against its hidden width and its training length.

    Trains ``len(widths)`` small encoders once (:func:`train_gap_grid`, whose keyword arguments
    ``widths``, ``epochs``, ``lr``, ``batch_size`` and ``seed`` it takes; about a second on one CPU
    thread with the defaults and 3000 training points), then every control change only looks up
    the gaps: approximation (log p(x) - ELBO(q*)), amortization (ELBO(q*) - ELBO(q_phi), with its
    standard error over the held-out points) and their sum, drawn as stacked bars.

    Returns:
        a :class:`GapsExplorer`; drive it with ``explorer.set(epochs=3, width=2)`` and read
        ``explorer.shown`` (the mean gaps, in nats).
    """
    return GapsExplorer(train_gap_grid(model, x_train, x_test, **settings))
