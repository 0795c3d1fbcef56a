"""Lecture 01's explorer: the distribution of single-sample gradient estimates, measured.

The toy problem of :mod:`vaelib.toy`: minimise E_{x ~ N(theta, 1)}[x^2], whose gradient is
2 theta. With x = theta + eps, eps ~ N(0, 1), one sample gives

    score function, baseline b:   g = (x^2 - b) (x - theta)
    pathwise:                     g = 2 x

both unbiased, with exact variances (:func:`vaelib.toy.moments`, derived in lecture 01)

    Var[score, b] = theta^4 + 14 theta^2 + 15 - 2 b (theta^2 + 3) + b^2
    Var[pathwise] = 4,

minimised over b at b* = theta^2 + 3 (:func:`vaelib.toy.optimal_baseline`), where it is
8 theta^2 + 6; the "natural" baseline b = E f = theta^2 + 1 gives 8 theta^2 + 10. Williams 1992
(REINFORCE, baselines); Mohamed, Rosca, Figurnov & Mnih 2020, JMLR 21(132), Sections 4-5 and 7.

The explorer draws N fixed noise values once; moving theta or the baseline recomputes the N
estimates from that noise (numpy, vectorised) and shows their histograms, their measured
variance with its standard error beside the exact one, and where theta sits on the exact
variance curves. Introduced in lecture 01.
"""

from __future__ import annotations

import math

import numpy as np

from vaelib import _validate, toy
from vaelib.explorers.base import TEXT_BOX, Explorer, dropdown, float_slider

__all__ = ["GradientEstimatorExplorer", "gradient_estimator_explorer", "BASELINES", "variance_stderr"]

# the baseline dropdown: (label, value)
BASELINES = (("none (b = 0)", "none"), ("b = E f = theta^2 + 1", "mean"), ("optimal b* = theta^2 + 3", "optimal"))
# fixed histogram windows (fixed axes: a redraw only repaints what changed, see the base):
# the score estimates' standard deviation reaches 15 at |theta| = 3, the pathwise ones' is 2
WINDOWS = {"score": (-60.0, 60.0, 97), "pathwise": (-14.0, 14.0, 57)}  # (lo, hi, bins)
SCORE_COLOUR, PATH_COLOUR = "tab:red", "tab:blue"


def baseline_value(theta: float, baseline: str) -> float:
    """The constant b of a baseline choice at theta: 0, E f = theta^2 + 1, or b* = theta^2 + 3."""
    if baseline == "none":
        return 0.0
    if baseline == "mean":
        return float(toy.objective(theta))
    if baseline == "optimal":
        return float(toy.optimal_baseline(theta))
    raise ValueError(f"baseline must be one of {[v for _, v in BASELINES]}; got {baseline!r}.")


def variance_stderr(samples: np.ndarray) -> tuple[float, float]:
    """The sample variance of ``(N,)`` samples and its standard error sqrt((m4 - s^4) / N).

    m4 is the fourth central moment: the asymptotic variance of the sample variance
    (Kendall & Stuart, *The Advanced Theory of Statistics*, Vol. 1, Eq. 10.9).
    """
    squares = (samples - samples.mean()) ** 2
    var = float(squares.mean())
    m4 = float((squares * squares).mean())  # not np.dot: a BLAS call, slow when its threads compete
    return var, math.sqrt(max(m4 - var**2, 0.0) / samples.size)


class GradientEstimatorExplorer(Explorer):
    """theta and the baseline -> histograms of N single-sample estimates and their variances.

    ``shown``: ``theta``, ``b``, ``var_score`` (measured) with ``se_score`` and ``exact_score``,
    ``var_pathwise`` with ``se_pathwise`` and ``exact_pathwise``, ``mean_score`` and
    ``mean_pathwise`` (measured means; both estimate 2 theta).
    """

    def __init__(self, num_samples: int = 20_000, seed: int = 0, theta: float = 1.5, theta_max: float = 3.0):
        num_samples = _validate.positive_int("num_samples", num_samples)
        if num_samples < 100:
            raise ValueError(f"num_samples must be at least 100 for a histogram; got {num_samples}.")
        theta_max = _validate.positive_number("theta_max", theta_max)
        if not -theta_max <= theta <= theta_max:
            raise ValueError(f"theta must be in [-theta_max, theta_max] = [{-theta_max}, {theta_max}]; got {theta}.")
        self.eps = np.random.default_rng(_validate.seed("seed", seed)).standard_normal(num_samples)  # (N,)
        controls = {
            "theta": float_slider("theta", theta, -theta_max, theta_max, 0.1, ".1f"),
            "baseline": dropdown("score baseline", list(BASELINES), "none"),
        }
        title = (
            "<b>Move theta and pick a baseline</b>: watch the score-function estimates (red) spread "
            f"and the pathwise ones (blue) stay put; each histogram is {num_samples} single-sample "
            "estimates from the same fixed noise; dashed lines: the true gradient 2 theta."
        )
        super().__init__(controls, figsize=(10.0, 3.0), title=title)
        self._build(theta_max)
        self.redraw()

    def _build(self, theta_max: float) -> None:
        ax_s, ax_p, ax_v = self.fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.1]})
        self.fig.subplots_adjust(left=0.05, right=0.99, bottom=0.16, top=0.86, wspace=0.28)
        self.axes = {"score": ax_s, "pathwise": ax_p, "variance": ax_v}
        self.hists, self.truth, self.text, self.edges = {}, {}, {}, {}
        titles = {"score": "score function (b in the box)", "pathwise": "pathwise (reparameterization)"}
        for name, colour in (("score", SCORE_COLOUR), ("pathwise", PATH_COLOUR)):
            ax = self.axes[name]
            lo, hi, bins = WINDOWS[name]
            self.edges[name] = np.linspace(lo, hi, bins + 1)
            self.hists[name] = ax.stairs(np.zeros(bins), self.edges[name], fill=True, color=colour, alpha=0.6)
            self.truth[name] = ax.axvline(0.0, color="k", ls="--", lw=1)
            self.text[name] = ax.text(0.02, 0.97, "", transform=ax.transAxes, va="top", fontsize=8.5, bbox=TEXT_BOX)
            self.animate(self.hists[name], self.truth[name], self.text[name])
            ax.set_xlim(lo, hi)
            ax.set_ylim(0, 1.25)
            ax.set_yticks([])
            ax.set_xlabel("single-sample gradient estimate", fontsize=9)
            ax.set_title(titles[name], fontsize=9.5)
        grid = np.linspace(-theta_max, theta_max, 121)
        for label, baseline, ls in (("score, b = 0", "none", "-"), ("b = E f", "mean", "--"), ("b*", "optimal", ":")):
            b = np.array([baseline_value(t, baseline) for t in grid])
            ax_v.plot(grid, toy.moments(grid, "score", baseline=b)[1], ls, color=SCORE_COLOUR, lw=1.2, label=label)
        ax_v.plot(grid, 4 + 0 * grid, color=PATH_COLOUR, lw=1.2, label="pathwise")
        (self.point_score,) = ax_v.plot([], [], "o", color=SCORE_COLOUR, ms=6, mec="k")
        (self.point_path,) = ax_v.plot([], [], "o", color=PATH_COLOUR, ms=6, mec="k")
        self.theta_line = ax_v.axvline(0.0, color="0.5", lw=0.8)
        self.animate(self.theta_line, self.point_score, self.point_path)
        ax_v.set_yscale("log")
        ax_v.set_xlabel("theta", fontsize=9)
        ax_v.set_title("variance: exact curves, measured dots", fontsize=9.5)
        ax_v.legend(fontsize=7.5, loc="upper center", ncol=2, frameon=False)
        ax_v.set_ylim(1.0, 2e3)

    def update(self) -> None:
        theta, baseline = float(self.values["theta"]), self.values["baseline"]
        b = baseline_value(theta, baseline)
        x = theta + self.eps  # (N,) the sampling path x = theta + eps
        estimates = {"score": (x * x - b) * self.eps, "pathwise": 2 * x}  # (N,) each; score: (f - b) d log q
        exact = {
            "score": float(toy.moments(theta, "score", baseline=b)[1]),
            "pathwise": float(toy.moments(theta, "pathwise")[1]),
        }
        shown = {"theta": theta, "b": b}
        for name, g in estimates.items():
            var, se = variance_stderr(g)
            shown |= {
                f"mean_{name}": float(g.mean()),
                f"var_{name}": var,
                f"se_{name}": se,
                f"exact_{name}": exact[name],
            }
            counts, _ = np.histogram(g, bins=self.edges[name])
            self.hists[name].set_data(counts / max(counts.max(), 1))  # heights relative to the tallest bin
            self.truth[name].set_xdata([2 * theta, 2 * theta])
            prefix = f"b = {b:.2f}\n" if name == "score" else ""  # short: text is the slowest thing to draw
            self.text[name].set_text(f"{prefix}Var {var:.3g} ± {se:.2g}\nexact {exact[name]:.4g}")
        self.point_score.set_data([theta], [shown["var_score"]])
        self.point_path.set_data([theta], [shown["var_pathwise"]])
        self.theta_line.set_xdata([theta, theta])
        self.shown = shown

    def describe(self) -> str:
        s = self.shown
        return (
            f"theta = {s['theta']:.1f}, b = {s['b']:.2f}: score Var measured {s['var_score']:.4g} ± {s['se_score']:.2g} "
            f"(exact {s['exact_score']:.4g}); pathwise Var measured {s['var_pathwise']:.4g} ± {s['se_pathwise']:.2g} "
            f"(exact {s['exact_pathwise']:.4g})"
        )

    def __repr__(self) -> str:
        return f"GradientEstimatorExplorer(theta={self.values['theta']:.1f}, baseline={self.values['baseline']!r})"


def gradient_estimator_explorer(
    num_samples: int = 20_000, seed: int = 0, theta: float = 1.5, theta_max: float = 3.0
) -> GradientEstimatorExplorer:
    """Lecture 01's explorer: move theta and the baseline, watch the estimators' spread.

    Args:
        num_samples: N, the fixed noise values drawn once (>= 100); each redraw computes N
            single-sample estimates of each estimator from them.
        seed: the seed of the noise.
        theta: the starting theta, in [-theta_max, theta_max].
        theta_max: the slider's range.

    Returns:
        the widget; ``set(theta=..., baseline="none" | "mean" | "optimal")`` drives it and
        ``shown`` holds the measured and exact variances (see :class:`GradientEstimatorExplorer`).
    """
    return GradientEstimatorExplorer(num_samples=num_samples, seed=seed, theta=theta, theta_max=theta_max)
