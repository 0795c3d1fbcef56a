"""Lecture 06's explorer: the Gumbel-softmax temperature, its samples, its bias and its variance.

One categorical variable with C = 3 classes, q_theta = Categorical(softmax(logits)), and the
objective f(z) = ||z - target||^2. Its exact gradient d E[f(z)] / d logits comes from enumerating
the three one-hot values (:func:`vaelib.discrete.exact_gradient`). The Gumbel-softmax estimator
(:func:`vaelib.discrete.gumbel_softmax_gradient`; Jang et al. 2017, Maddison et al. 2017)
differentiates f at the relaxed sample y = softmax((logits + g) / tau) instead, so it is biased,
and its bias and variance depend on the temperature tau. The explorer shows, at the chosen tau,

- relaxed samples on the probability simplex (a triangle whose corners are the one-hot values),
  all from one fixed set of uniform noise (:func:`vaelib.relaxations.gumbel_softmax` with ``u=``),
  so moving tau moves every point continuously: towards the corners as tau -> 0, towards the
  centre as tau grows;
- the estimator's bias (the norm of mean estimate - exact gradient) and variance (the trace of
  its covariance, one sample per estimate) against tau, measured with the same noise at every tau
  (common random numbers: the curves are smooth), with the current tau marked.

Every slider value is precomputed when the explorer is built; a redraw only looks up and repaints.

Introduced in lecture 06.
"""

from __future__ import annotations

import numpy as np
import torch

from vaelib import _validate, discrete, relaxations
from vaelib.explorers.base import Explorer, float_slider
from vaelib.plots import CLASS_COLORS

__all__ = ["GumbelSoftmaxExplorer", "gumbel_softmax_explorer", "simplex_xy"]

CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])  # the triangle's corners: e_1, e_2, e_3
TAU_MIN, TAU_MAX, TAU_STEP = 0.05, 2.0, 0.05


def simplex_xy(y: np.ndarray) -> np.ndarray:
    """Points of the 3-class simplex ``(N, 3)`` -> their places in the triangle ``(N, 2)`` (barycentric)."""
    return np.asarray(y) @ CORNERS


class GumbelSoftmaxExplorer(Explorer):
    """Built by :func:`gumbel_softmax_explorer`; see there.

    Attributes:
        exact: the exact gradient ``(3,)``; probs: softmax(logits) ``(3,)``.
        samples: the relaxed samples shown now, ``(N, 3)``, rows on the simplex.
        curve: ``{tau: (bias_norm, bias_se, variance, variance_se)}`` for every slider value.
    """

    def __init__(self, logits: torch.Tensor, target: torch.Tensor, *, num_points: int, num_estimates: int, seed: int):
        self.logits, self.target = logits, target
        self.num_estimates, self.seed = num_estimates, seed
        self.probs = torch.softmax(logits, -1).numpy()
        support = discrete.one_hot_support(1, 3)[:, 0]  # (3, 3): the one-hot values
        self.expectation, exact = discrete.exact_gradient(discrete.one_hot_categorical, logits, self.f, support)
        self.exact = exact.numpy()
        self.u = torch.rand(num_points, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        self.u = self.u.clamp(1e-12, 1 - 1e-12)  # fixed noise of the shown samples
        self.taus = np.round(np.arange(TAU_MIN, TAU_MAX + TAU_STEP / 2, TAU_STEP), 10)
        self.curve = {}
        for tau in self.taus:
            self.measure(float(tau))
        controls = {"temperature": float_slider("temperature tau", 0.5, TAU_MIN, TAU_MAX, TAU_STEP)}
        title = (
            "<b>Lower the temperature</b>: the samples move to the corners (the one-hot values); the "
            "estimator's bias falls and its variance grows."
        )
        super().__init__(controls, figsize=(6.8, 2.8), title=title)
        self._build()
        self.redraw()

    def f(self, z: torch.Tensor) -> torch.Tensor:
        """The objective f(z) = ||z - target||^2, per sample ``(S,)``, on one-hot and relaxed z alike."""
        return ((z - self.target) ** 2).sum(-1).reshape(z.shape[0])

    def measure(self, tau: float) -> tuple[float, float, float, float]:
        """Bias norm, its s.e., variance, its s.e. of the estimator at ``tau`` (cached; always the same noise)."""
        key = round(tau, 10)
        if key not in self.curve:
            generator = torch.Generator().manual_seed(self.seed + 1)  # common random numbers across tau
            estimates = discrete.gumbel_softmax_gradient(
                self.logits, self.f, self.num_estimates, temperature=tau, generator=generator
            )
            bv = discrete.bias_variance(estimates, torch.as_tensor(self.exact))
            bias_se = float((bv.bias * bv.bias_se).norm() / max(float(bv.bias_norm), 1e-300))  # delta method
            self.curve[key] = (float(bv.bias_norm), bias_se, float(bv.total_variance), float(bv.total_variance_se))
        return self.curve[key]

    def _build(self) -> None:
        ax, ax2 = self.ax_simplex, self.ax_curves = self.fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.25]})
        ax.fill(CORNERS[:, 0], CORNERS[:, 1], facecolor="0.96", edgecolor="0.4", lw=1)
        for k, (x, y) in enumerate(CORNERS):
            ax.text(x, y + (0.05 if k == 2 else -0.07), f"class {k + 1}: p = {self.probs[k]:.2f}", ha="center",
                    va="center", fontsize=7, color=CLASS_COLORS[k])  # fmt: skip
        ax.set_xlim(-0.15, 1.15)
        ax.set_ylim(-0.13, 0.95)
        ax.set_aspect("equal")
        ax.set_axis_off()
        self.points = ax.scatter(np.zeros(len(self.u)), np.zeros(len(self.u)), s=6, linewidths=0, alpha=0.7)
        taus = self.taus
        bias = np.array([self.curve[round(t, 10)][0] for t in taus])
        variance = np.array([self.curve[round(t, 10)][2] for t in taus])
        ax2.plot(taus, bias, color="C3", lw=1.5, label="bias ||E[g] - exact||")
        ax2.plot(taus, variance, color="C0", lw=1.5, label="variance tr Cov[g]")
        ax2.set_xscale("log")
        ax2.set_yscale("log")
        ax2.set_xlabel("temperature tau", fontsize=8)
        ax2.set_title(f"Gumbel-softmax gradient g, {self.num_estimates} draws", fontsize=9)
        ax2.tick_params(labelsize=7)
        ax2.legend(fontsize=7, frameon=False, loc="upper center")
        self.cursor = ax2.axvline(0.5, color="0.3", lw=0.8, ls="--")
        (self.dots,) = ax2.plot([], [], "o", color="k", ms=4)
        self.heading = self.fig.text(0.03, 0.93, "", fontsize=9)
        self.fig.subplots_adjust(left=0.02, right=0.98, bottom=0.15, top=0.88, wspace=0.15)
        self.animate(self.points, self.cursor, self.dots, self.heading)

    def update(self) -> None:
        tau = float(self.values["temperature"])
        y = relaxations.gumbel_softmax(self.logits, tau, u=self.u).numpy()  # (N, 3) on the simplex
        self.samples = y
        self.points.set_offsets(simplex_xy(y))
        self.points.set_facecolors(np.asarray(CLASS_COLORS)[y.argmax(1)])
        bias, bias_se, variance, variance_se = self.measure(tau)
        self.cursor.set_xdata([tau, tau])
        self.dots.set_data([tau, tau], [bias, variance])
        self.heading.set_text(f"relaxed samples y at tau = {tau:.2f}")
        self.shown = {
            "temperature": tau,
            "bias_norm": bias,
            "bias_se": bias_se,
            "variance": variance,
            "variance_se": variance_se,
            "mean_max_coordinate": float(y.max(1).mean()),  # 1 at the corners, 1/3 at the centre
        }

    def describe(self) -> str:
        s = self.shown
        return (
            f"tau = {s['temperature']:.2f}: bias {s['bias_norm']:.4f} (&plusmn; {s['bias_se']:.4f}), variance "
            f"{s['variance']:.4f} (&plusmn; {s['variance_se']:.4f}); samples' largest coordinate "
            f"{s['mean_max_coordinate']:.2f} on average"
        )


def gumbel_softmax_explorer(
    logits=(0.5, -0.3, 0.1),
    target=(0.0, 0.0, 0.9),
    *,
    num_points: int = 400,
    num_estimates: int = 4000,
    seed: int = 0,
) -> GumbelSoftmaxExplorer:
    """An explorer of the Gumbel-softmax temperature on a 3-class categorical (exact gradient by enumeration).

    Args:
        logits: the categorical's logits, 3 finite numbers.
        target: the point t of f(z) = ||z - t||^2, 3 finite numbers.
        num_points: relaxed samples drawn in the triangle (10 to 5000).
        num_estimates: single-sample gradient estimates per temperature (100 to 100 000).
        seed: seeds the fixed noise.

    Returns:
        a :class:`GumbelSoftmaxExplorer`; drive it with ``explorer.set(temperature=0.1)`` and read
        ``explorer.shown`` and ``explorer.samples``.
    """
    logits = _validate.logits("logits", torch.as_tensor(logits, dtype=torch.float64))
    target = _validate.real("target", torch.as_tensor(target, dtype=torch.float64))
    for name, t in (("logits", logits), ("target", target)):
        if t.shape != (3,):
            raise ValueError(f"{name} must hold 3 numbers, one per class of the triangle; got shape {tuple(t.shape)}.")
    if not torch.isfinite(logits).all():
        raise ValueError(
            f"logits must be finite (every class possible, so the exact gradient exists); got {logits.tolist()}."
        )
    for name, value, low, high in (
        ("num_points", num_points, 10, 5000),
        ("num_estimates", num_estimates, 100, 100_000),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{name} must be a whole number from {low} to {high}; got {value!r}.")
    return GumbelSoftmaxExplorer(logits, target, num_points=num_points, num_estimates=num_estimates, seed=seed)
