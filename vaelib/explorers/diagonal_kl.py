"""Lecture 03's explorer: what the best diagonal Gaussian loses on a correlated target.

The target p = N(mu_p, Sigma) in K dimensions is a chain: Sigma_ij = std_i std_j rho^|i - j|
(each coordinate correlated rho with its neighbour; positive definite for every |rho| < 1).
The diagonal q = N(m, diag v) closest in reverse KL, KL(q || p), matches the *precision*'s
diagonal, v_k = 1 / Lambda_kk with Lambda = Sigma^{-1}, and loses

    KL_min = (1/2) [log det Sigma + sum_k log Lambda_kk]

(:func:`vaelib.gaussians.best_diagonal_reverse_kl`; Bishop 2006, Section 10.1.2). For the chain,
log det Sigma = sum_k log std_k^2 + (K - 1) log(1 - rho^2) and Lambda_kk std_k^2 = 1 / (1 - rho^2)
at the two ends, (1 + rho^2) / (1 - rho^2) inside, so

    KL_min = -(1/2) log(1 - rho^2) + ((K - 2) / 2) log(1 + rho^2),

which is -(1/2) log(1 - rho^2) for K = 2, 0 at rho = 0, and grows with |rho| and with K. The
forward-KL optimum (moment matching, v_k = Sigma_kk, :func:`vaelib.gaussians.best_diagonal_forward_kl`)
loses -((K - 1) / 2) log(1 - rho^2) in its own direction (Bishop 2006, Section 10.7).

The explorer shows the target's 2-sigma ellipse in (z_1, z_2) with both optima's, and the KL lost
against rho: the closed form as a curve, and a *numerical* fit (Adam on the reverse KL over m
and log v, precomputed once for every slider value and every K, vectorised) as dots.
Introduced in lecture 03.
"""

from __future__ import annotations

import numpy as np
import torch

from vaelib import _validate, gaussians
from vaelib.explorers.base import TEXT_BOX, Explorer, float_slider, int_slider

__all__ = ["DiagonalKLExplorer", "diagonal_kl_explorer", "chain_covariance", "reverse_kl_to_gaussian", "fit_diagonal"]

RHO_MAX, RHO_STEP = 0.95, 0.05


def chain_covariance(rho: float, stds) -> np.ndarray:
    """Sigma_ij = std_i std_j rho^|i - j|, the K x K chain covariance (positive definite for |rho| < 1)."""
    stds = np.asarray(stds, dtype=float)
    if not abs(rho) < 1:
        raise ValueError(f"rho must satisfy |rho| < 1 for a positive-definite covariance; got {rho}.")
    lags = np.abs(np.subtract.outer(np.arange(stds.size), np.arange(stds.size)))
    return np.outer(stds, stds) * float(rho) ** lags


def reverse_kl_to_gaussian(m, log_v, mu_p, precision, log_det_cov):
    """KL(N(m, diag e^{log_v}) || N(mu_p, Sigma)), batched: shapes ``(..., K)`` and ``(..., K, K)``.

    KL = (1/2) [tr(Lambda diag v) + (m - mu_p)^T Lambda (m - mu_p) - K + log det Sigma - sum log v]
    (the Gaussian KL, e.g. Bishop 2006, Eq. 2.155 rearranged), Lambda = Sigma^{-1}.
    """
    d = m - mu_p  # (..., K)
    trace = (torch.diagonal(precision, dim1=-2, dim2=-1) * log_v.exp()).sum(-1)
    mahalanobis = (d.unsqueeze(-2) @ precision @ d.unsqueeze(-1))[..., 0, 0]
    return 0.5 * (trace + mahalanobis - m.shape[-1] + log_det_cov - log_v.sum(-1))


def reverse_kl_gradient(m, log_v, mu_p, precision):
    """The gradient of :func:`reverse_kl_to_gaussian` in (m, log_v): (Lambda (m - mu_p), (Lambda_kk v_k - 1) / 2)."""
    d_m = (precision @ (m - mu_p)[..., None])[..., 0]
    d_log_v = 0.5 * (np.diagonal(precision, axis1=-2, axis2=-1) * np.exp(log_v) - 1)
    return d_m, d_log_v


def fit_diagonal(mu_p, cov, num_steps: int = 500, lr: float = 0.05):
    """Minimise the reverse KL over a diagonal q = N(m, diag v) by Adam, batched over problems.

    Adam (Kingma & Ba 2015, Algorithm 1, beta = (0.9, 0.999)) on (m, log v) from m = 0, v = 1, with
    the gradient of :func:`reverse_kl_gradient` (checked against autograd in the tests), in numpy:
    a few hundred steps over a few hundred problems take a fraction of a second.

    Args:
        mu_p: ``(B, K)`` target means; cov: ``(B, K, K)`` target covariances.
        num_steps, lr: Adam's steps and step size.

    Returns:
        ``(m, v, kl)``: ``(B, K)``, ``(B, K)``, ``(B,)`` numpy arrays at the last step.
    """
    mu_p, cov = np.asarray(mu_p, dtype=float), np.asarray(cov, dtype=float)
    precision = np.linalg.inv(cov)  # (B, K, K)
    params = [np.zeros_like(mu_p), np.zeros_like(mu_p)]  # m, log v
    first = [np.zeros_like(mu_p), np.zeros_like(mu_p)]
    second = [np.zeros_like(mu_p), np.zeros_like(mu_p)]
    for t in range(1, num_steps + 1):
        for p, g in enumerate(reverse_kl_gradient(params[0], params[1], mu_p, precision)):
            first[p] = 0.9 * first[p] + 0.1 * g
            second[p] = 0.999 * second[p] + 0.001 * g**2
            params[p] = params[p] - lr * (first[p] / (1 - 0.9**t)) / (np.sqrt(second[p] / (1 - 0.999**t)) + 1e-8)
    as_torch = [torch.from_numpy(a) for a in (*params, mu_p, precision, np.linalg.slogdet(cov)[1])]
    kl = reverse_kl_to_gaussian(*as_torch).numpy()
    return params[0], np.exp(params[1]), kl


class DiagonalKLExplorer(Explorer):
    """rho and K -> the best diagonal Gaussians' ellipses and the KL they lose, closed form and fitted.

    ``shown``: ``rho``, ``K``; ``kl_closed_form`` (reverse-KL optimum, from
    :func:`vaelib.gaussians.best_diagonal_reverse_kl`), ``kl_fitted`` (the Adam fit at this slider
    value), ``kl_forward`` (the forward-KL optimum's KL(p || q)); ``var_q1, var_q2`` (the reverse
    optimum's variances) and ``var_p1, var_p2`` (the target's marginal variances) of z_1, z_2.
    """

    def __init__(self, K_max: int = 6, stds=(1.5, 1.0), rho: float = 0.8, num_steps: int = 500):
        K_max = _validate.positive_int("K_max", K_max)
        if not 2 <= K_max <= 10:
            raise ValueError(f"K_max must be in [2, 10] (the K slider's top); got {K_max}.")
        stds = np.asarray(stds, dtype=float)
        if stds.shape != (2,) or not np.all(np.isfinite(stds)) or np.any(stds <= 0):
            raise ValueError(f"stds must be two positive numbers (the std of z_1 and z_2; the rest are 1); got {stds}.")
        self.stds = np.concatenate([stds, np.ones(K_max - 2)])  # (K_max,)
        self.mu_p = np.array([(-1.0) ** k for k in range(K_max)])  # (1, -1, 1, ...)
        n = int(round(RHO_MAX / RHO_STEP))
        self.rho_grid = np.round(np.arange(-n, n + 1) * RHO_STEP, 10)  # the slider's values, rho = 0 exactly
        self.fitted = self._precompute(K_max, _validate.positive_int("num_steps", num_steps))  # {K: (G,)}
        controls = {
            "rho": float_slider("target's correlation rho", rho, -RHO_MAX, RHO_MAX, RHO_STEP, ".2f"),
            "K": int_slider("dimension K", 2, 2, K_max),
        }
        title = (
            "<b>Move rho</b> (and K): the best diagonal Gaussian (red) shrinks inside the correlated target "
            "(black); the KL it loses is the curve (closed form) and the dots (a numerical fit), 0 only at rho = 0."
        )
        super().__init__(controls, figsize=(8.6, 3.6), title=title)
        self._K_drawn = None
        self._build()
        self.redraw()

    def _precompute(self, K_max: int, num_steps: int) -> dict[int, np.ndarray]:
        """Adam fits for every (K, rho on the slider's grid), in one batch (identity-padded to K_max)."""
        problems = [(K, rho) for K in range(2, K_max + 1) for rho in self.rho_grid]
        cov = np.stack([np.eye(K_max) for _ in problems])  # (B, K_max, K_max)
        mu_p = np.zeros((len(problems), K_max))
        for b, (K, rho) in enumerate(problems):  # the padded coordinates are N(0, 1): q fits them exactly
            cov[b, :K, :K] = chain_covariance(rho, self.stds[:K])
            mu_p[b, :K] = self.mu_p[:K]
        kl = fit_diagonal(mu_p, cov, num_steps)[2]
        return {K: kl[(K - 2) * self.rho_grid.size : (K - 1) * self.rho_grid.size] for K in range(2, K_max + 1)}

    def _build(self) -> None:
        ax, ax_k = self.fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.25]})
        self.fig.subplots_adjust(left=0.06, right=0.98, bottom=0.14, top=0.9, wspace=0.22)
        self.ax, self.ax_k = ax, ax_k
        (self.target_line,) = ax.plot([], [], color="k", lw=1.6, label="target p")
        (self.reverse_line,) = ax.plot([], [], color="tab:red", lw=1.6, label="best diagonal, KL(q||p)")
        (self.forward_line,) = ax.plot([], [], color="tab:blue", lw=1.2, ls="--", label="best diagonal, KL(p||q)")
        self.text = ax.text(0.02, 0.98, "", transform=ax.transAxes, va="top", fontsize=8, bbox=TEXT_BOX)
        reach = 2.3 * self.stds[:2].max()
        ax.set_xlim(self.mu_p[0] - reach, self.mu_p[0] + reach)
        ax.set_ylim(self.mu_p[1] - reach, self.mu_p[1] + reach)
        ax.set_aspect("equal")
        ax.set_xlabel("z_1", fontsize=9)
        ax.set_ylabel("z_2", fontsize=9)
        ax.set_title("2-sigma ellipses in (z_1, z_2)", fontsize=9.5)
        ax.legend(fontsize=7, loc="lower right")
        (self.curve,) = ax_k.plot([], [], color="tab:red", lw=1.5, label="closed form, KL(q||p)")
        (self.dots,) = ax_k.plot([], [], "o", color="tab:red", mfc="none", ms=4, label="numerical fit (Adam)")
        (self.forward_curve,) = ax_k.plot([], [], color="tab:blue", lw=1.2, ls="--", label="forward optimum, KL(p||q)")
        (self.marker,) = ax_k.plot([], [], "o", color="k", ms=7)
        self.rho_line = ax_k.axvline(0.0, color="0.5", lw=0.8)
        self.animate(self.target_line, self.reverse_line, self.forward_line, self.text)
        self.animate(self.curve, self.dots, self.forward_curve, self.rho_line, self.marker)
        ax_k.set_xlim(-1, 1)
        ax_k.set_xlabel("rho", fontsize=9)
        ax_k.set_ylabel("KL lost (nats)", fontsize=9)
        ax_k.legend(fontsize=7.5, loc="upper center")

    def _closed_form(self, rho: float, K: int) -> tuple[np.ndarray, np.ndarray, float, np.ndarray, float]:
        cov = torch.from_numpy(chain_covariance(rho, self.stds[:K]))
        mu = torch.from_numpy(self.mu_p[:K])
        _, var_q, kl = gaussians.best_diagonal_reverse_kl(mu, cov)
        _, var_f, kl_f = gaussians.best_diagonal_forward_kl(mu, cov)
        return cov.numpy(), var_q.numpy(), float(kl), var_f.numpy(), float(kl_f)

    def _draw_curves(self, K: int) -> None:
        """The KL-against-rho curves of dimension K (closed form, for |rho| <= 0.95), and the y-range."""
        rho = np.linspace(-RHO_MAX, RHO_MAX, 191)
        reverse = -0.5 * np.log1p(-(rho**2)) + 0.5 * (K - 2) * np.log1p(rho**2)  # the chain's KL_min
        forward = -0.5 * (K - 1) * np.log1p(-(rho**2))
        self.curve.set_data(rho, reverse)
        self.forward_curve.set_data(rho, forward)
        self.dots.set_data(self.rho_grid, self.fitted[K])
        self.ax_k.set_ylim(-0.05 * forward.max(), 1.25 * forward.max())
        self.ax_k.set_title(f"KL lost against rho, K = {K}", fontsize=9.5)
        self.refresh_background()
        self._K_drawn = K

    def update(self) -> None:
        rho, K = float(self.values["rho"]), int(self.values["K"])
        if K != self._K_drawn:
            self._draw_curves(K)
        cov, var_q, kl, var_f, kl_f = self._closed_form(rho, K)
        mean = torch.from_numpy(self.mu_p[:2])
        for line, cov2 in (
            (self.target_line, cov[:2, :2]),
            (self.reverse_line, np.diag(var_q[:2])),
            (self.forward_line, np.diag(var_f[:2])),
        ):
            line.set_data(*gaussians.ellipse_points(mean, torch.from_numpy(cov2), 2.0, 120).numpy().T)
        j = int(np.argmin(np.abs(self.rho_grid - rho)))
        fitted = float(self.fitted[K][j]) if abs(self.rho_grid[j] - rho) < 1e-9 else float("nan")
        self.marker.set_data([rho], [kl])
        self.rho_line.set_xdata([rho, rho])
        self.text.set_text(f"KL lost {kl:.4f}\nfit    {fitted:.4f}")  # short: text is slow to draw
        self.shown = {"rho": rho, "K": float(K), "kl_closed_form": kl, "kl_fitted": fitted, "kl_forward": kl_f}
        self.shown |= {
            "var_q1": float(var_q[0]),
            "var_q2": float(var_q[1]),
            "var_p1": float(cov[0, 0]),
            "var_p2": float(cov[1, 1]),
        }

    def __repr__(self) -> str:
        return f"DiagonalKLExplorer(rho={self.values['rho']:.2f}, K={self.values['K']})"


def diagonal_kl_explorer(K_max: int = 6, stds=(1.5, 1.0), rho: float = 0.8, num_steps: int = 500) -> DiagonalKLExplorer:
    """Lecture 03's explorer: the target's correlation rho and dimension K against what a diagonal q loses.

    Args:
        K_max: the K slider's top, in [2, 10].
        stds: the standard deviations of z_1 and z_2 (the other coordinates have std 1).
        rho: the starting correlation, |rho| <= 0.95.
        num_steps: Adam's steps for the numerical fits (all slider values and every K at once).

    Returns:
        the widget; ``set(rho=..., K=...)`` drives it and ``shown`` holds the closed-form and fitted
        KL (see :class:`DiagonalKLExplorer`).
    """
    return DiagonalKLExplorer(K_max=K_max, stds=stds, rho=rho, num_steps=num_steps)
