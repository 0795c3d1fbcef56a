"""Lecture 02's explorer: z = mu + S Q eps against the ellipse of S S^T, and its measured covariance.

For eps ~ N(0, I_2) and any 2 x 2 matrix S, z = mu + S eps has the law N(mu, S S^T) (lecture 02,
Section 4; Bishop 2006, Section 2.3, or any change of variables). Three facts to see:

- the sample covariance of z estimates S S^T (within its standard errors,
  :func:`vaelib.gaussians.covariance_and_stderr`), and the samples fill the 1- and 2-sigma
  ellipses of S S^T (:func:`vaelib.gaussians.ellipse_points`);
- for an orthogonal Q, (S Q)(S Q)^T = S Q Q^T S^T = S S^T: rotating the noise by Q moves every
  sample (and the columns of S Q, drawn as arrows) but not the law, nor its ellipse;
- a singular S (det S = 0, rank 1) puts every sample on a line through mu: a degenerate law
  with no density (the ellipse is flat).

The explorer draws N noise vectors once; each redraw maps them through the current S Q
(numpy, vectorised). Introduced in lecture 02.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from vaelib import _validate, gaussians
from vaelib.explorers.base import TEXT_BOX, Explorer, float_slider

__all__ = ["ScaleMatrixExplorer", "scale_matrix_explorer", "rotation", "numerical_rank"]

ENTRIES = ("s11", "s12", "s21", "s22")
LIMIT = 9.0  # the scatter's half-width: |z - mu| <= 3 sqrt(2) * 2 sigma for entries up to 3
BAR_SCALES = (2.0, 5.0, 10.0, 20.0)  # the covariance panel's y-ranges (one redraws its axes)


def rotation(angle_deg: float) -> np.ndarray:
    """The 2 x 2 rotation matrix Q by ``angle_deg`` degrees (orthogonal, det Q = +1)."""
    a = math.radians(angle_deg)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def numerical_rank(matrix: np.ndarray, rtol: float = 1e-9) -> int:
    """The number of singular values above ``rtol`` times the largest (at least ``rtol``)."""
    singular_values = np.linalg.svd(np.asarray(matrix, dtype=float), compute_uv=False)
    return int((singular_values > rtol * max(singular_values.max(), 1.0)).sum())


class ScaleMatrixExplorer(Explorer):
    """The entries of S and the angle of Q -> samples of mu + S Q eps, ellipses and covariances.

    ``shown``: ``det_S``, ``rank_S``; the exact ``cov_11, cov_12, cov_22`` (of S S^T); the
    measured ``measured_11, measured_12, measured_22`` with standard errors ``se_11, se_12,
    se_22``; ``smallest_eigenvalue`` of the sample covariance (0 for a singular S).
    ``samples`` is the current ``(N, 2)`` cloud.
    """

    def __init__(self, S=((2.0, 0.0), (1.0, 1.0)), mu=(0.0, 0.0), num_samples: int = 1500, seed: int = 0):
        S = np.asarray(_validate.real("S", torch.as_tensor(S, dtype=torch.float64)))
        if S.shape != (2, 2) or np.abs(S).max() > 3:
            raise ValueError(
                f"S must be a 2 x 2 matrix with entries in [-3, 3]; got shape {S.shape}, entries {S.tolist()}."
            )
        self.mu = np.asarray(_validate.real("mu", torch.as_tensor(mu, dtype=torch.float64)))
        if self.mu.shape != (2,):
            raise ValueError(f"mu must have shape (2,): the explorer draws the plane; got {self.mu.shape}.")
        num_samples = _validate.positive_int("num_samples", num_samples)
        if num_samples < 10:
            raise ValueError(f"num_samples must be at least 10 to estimate a covariance; got {num_samples}.")
        self.eps = np.random.default_rng(_validate.seed("seed", seed)).standard_normal((num_samples, 2))  # (N, 2)
        controls = {name: float_slider(name, float(S.flat[i]), -3.0, 3.0, 0.1, ".1f") for i, name in enumerate(ENTRIES)}
        controls["angle"] = float_slider("angle of Q", 0.0, -180.0, 180.0, 5.0, ".0f")
        title = (
            "<b>Move the entries of S</b> and watch the cloud of mu + S Q eps fill the ellipses of "
            "S S^T (1 and 2 sigma) while its measured covariance tracks S S^T; <b>rotate Q</b>: every "
            "sample moves, the law does not; make det S = 0 and the cloud collapses onto a line."
        )
        super().__init__(controls, figsize=(8.4, 3.9), title=title)
        self._bar_scale = None
        self._build()
        self.redraw()

    def _build(self) -> None:
        ax, ax_c = self.fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})
        self.fig.subplots_adjust(left=0.06, right=0.97, bottom=0.1, top=0.9, wspace=0.22)
        self.ax, self.ax_c = ax, ax_c
        self.cloud = ax.scatter(
            np.zeros(len(self.eps)), np.zeros(len(self.eps)), s=3, color="tab:blue", alpha=0.35, lw=0
        )
        (self.ellipse_1,) = ax.plot([], [], color="k", lw=1.3)
        (self.ellipse_2,) = ax.plot([], [], color="k", lw=1.0, ls="--")
        self.arrows = [ax.plot([], [], color=c, lw=2.2)[0] for c in ("tab:red", "tab:orange")]
        self.text = ax.text(0.02, 0.98, "", transform=ax.transAxes, va="top", fontsize=8.5, bbox=TEXT_BOX)
        self.animate(self.cloud, self.ellipse_1, self.ellipse_2, *self.arrows, self.text)
        ax.set_xlim(self.mu[0] - LIMIT, self.mu[0] + LIMIT)
        ax.set_ylim(self.mu[1] - LIMIT, self.mu[1] + LIMIT)
        ax.set_aspect("equal")
        ax.set_title("z = mu + S Q eps; ellipses of S S^T; arrows: columns of S Q", fontsize=9)
        positions = np.arange(3)
        self.bars = ax_c.bar(positions - 0.18, np.zeros(3), width=0.36, color="0.7", label="S S^T (exact)")
        (self.measured,) = ax_c.plot([], [], "o", color="tab:blue", ms=6, label="measured ± 2 s.e.")
        (self.errors,) = ax_c.plot([], [], color="tab:blue", lw=1.5)
        self.animate(*self.bars, self.measured, self.errors)
        ax_c.axhline(0, color="k", lw=0.6)
        ax_c.set_xticks(positions, ["Sigma_11", "Sigma_12", "Sigma_22"])
        ax_c.set_xlim(-0.6, 2.6)
        ax_c.set_title("covariance of z: S S^T against the samples'", fontsize=9)
        ax_c.legend(fontsize=8, loc="lower right")

    def _set_bar_scale(self, values: np.ndarray) -> None:
        needed = 1.15 * np.abs(values).max()
        scale = next((s for s in BAR_SCALES if s > needed), BAR_SCALES[-1])
        if scale != self._bar_scale:  # new y-limits: the background is drawn again
            self._bar_scale = scale
            self.ax_c.set_ylim(-scale, scale)
            self.refresh_background()

    def update(self) -> None:
        v = self.values
        S = np.array([[v["s11"], v["s12"]], [v["s21"], v["s22"]]], dtype=float)
        SQ = S @ rotation(v["angle"])  # (2, 2)
        # (N, 2): z_n = mu + S Q eps_n, by broadcasting (a BLAS matmul is slow when its threads compete)
        z = self.mu + self.eps[:, :1] * SQ[:, 0] + self.eps[:, 1:] * SQ[:, 1]
        self.samples = z
        cov = S @ S.T  # (S Q)(S Q)^T = S S^T: the ellipse does not depend on Q
        measured, se = (t.numpy() for t in gaussians.covariance_and_stderr(torch.from_numpy(z)))
        smallest = float(np.linalg.eigvalsh(measured)[0])
        det, rank = float(np.linalg.det(S)), numerical_rank(S)
        self.cloud.set_offsets(z)
        mean = torch.from_numpy(self.mu)
        for line, n_std in ((self.ellipse_1, 1.0), (self.ellipse_2, 2.0)):
            line.set_data(*gaussians.ellipse_points(mean, torch.from_numpy(cov), n_std, 120).numpy().T)
        for line, column in zip(self.arrows, SQ.T):
            line.set_data([self.mu[0], self.mu[0] + column[0]], [self.mu[1], self.mu[1] + column[1]])
        exact = np.array([cov[0, 0], cov[0, 1], cov[1, 1]])
        meas = np.array([measured[0, 0], measured[0, 1], measured[1, 1]])
        errs = np.array([se[0, 0], se[0, 1], se[1, 1]])
        self._set_bar_scale(np.concatenate([exact, meas + 2 * errs, meas - 2 * errs]))
        for bar, height in zip(self.bars, exact):
            bar.set_height(height)
        x = np.arange(3) + 0.18
        self.measured.set_data(x, meas)
        gaps = np.full(3, np.nan)  # NaN breaks the line between the three error bars
        self.errors.set_data(
            np.stack([x, x, gaps], 1).ravel(), np.stack([meas - 2 * errs, meas + 2 * errs, gaps], 1).ravel()
        )
        self.text.set_text(f"det S = {det:.2f}, rank {rank}")  # the numbers: the bars and the readout
        self.shown = {"det_S": det, "rank_S": float(rank), "smallest_eigenvalue": smallest}
        for j, key in enumerate(("11", "12", "22")):
            self.shown |= {
                f"cov_{key}": float(exact[j]),
                f"measured_{key}": float(meas[j]),
                f"se_{key}": float(errs[j]),
            }

    def describe(self) -> str:
        s = self.shown
        return (
            f"det S = {s['det_S']:.3g}, rank {s['rank_S']:.0f}; S S^T = ({s['cov_11']:.3g}, {s['cov_12']:.3g}, "
            f"{s['cov_22']:.3g}); measured = ({s['measured_11']:.3g}, {s['measured_12']:.3g}, {s['measured_22']:.3g}) "
            f"± ({s['se_11']:.2g}, {s['se_12']:.2g}, {s['se_22']:.2g})"
        )

    def __repr__(self) -> str:
        v = self.values
        return f"ScaleMatrixExplorer(S=[[{v['s11']:.1f}, {v['s12']:.1f}], [{v['s21']:.1f}, {v['s22']:.1f}]], angle={v['angle']:.0f})"


def scale_matrix_explorer(S=((2.0, 0.0), (1.0, 1.0)), mu=(0.0, 0.0), num_samples: int = 1500, seed: int = 0):
    """Lecture 02's explorer: samples of mu + S Q eps against the ellipse of S S^T.

    Args:
        S: the starting 2 x 2 matrix, entries in [-3, 3] (the sliders' range).
        mu: the mean, ``(2,)``.
        num_samples: N, the noise vectors drawn once (>= 10).
        seed: the seed of the noise.

    Returns:
        the widget; ``set(s11=..., s12=..., s21=..., s22=..., angle=...)`` drives it (angle in
        degrees, the rotation Q applied on the right of S) and ``shown`` holds det S, its rank, S S^T
        and the measured covariance with standard errors (see :class:`ScaleMatrixExplorer`).
    """
    return ScaleMatrixExplorer(S=S, mu=mu, num_samples=num_samples, seed=seed)
