"""A two-mode target and the best single Gaussian for it under the reverse and the forward KL.

Lecture 04 shows mode-seeking first on one correlated Gaussian, where "seeking a mode" only
shrinks variances. With two modes the difference between the two KLs is qualitative:

- the reverse KL, min_q KL(q || p) (what maximising an ELBO does), is infinite-ish wherever q
  puts mass between the modes, so a Gaussian q *locks onto one mode* (which one depends on where
  the optimiser starts: the objective has one local minimum per mode);
- the forward KL, min_q KL(p || q), must cover all of p's mass, and over Gaussians q its unique
  minimiser is moment matching: the mixture's own mean and variance (lecture 04 derives it).

Both KLs are integrals over one Gaussian, computed on a fixed grid of standard-normal nodes
eps_i (the trapezoid rule): for q = N(mu, std^2) that is the reparameterization
z_i = mu + std * eps_i, so the result is deterministic and differentiable in (mu, std) along the
path. (Gauss-Hermite quadrature converges slowly here: log p has a sharp bend between the modes.)

Sources: Bishop (2006), Sec. 10.1.2 and Fig. 10.3 (the two KLs on a bimodal target); Minka (2005),
"Divergence measures and message passing" (mode-seeking versus inclusive divergences);
Trefethen & Weideman (2014), "The exponentially convergent trapezoidal rule", SIAM Review 56(3).

Introduced in lecture 04.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from vaelib import _validate

__all__ = ["GaussianMixture1d", "reverse_kl", "forward_kl", "GaussianFit", "fit_gaussian"]

LOG_2PI = math.log(2.0 * math.pi)
GRID_HALF_WIDTH = 12.0  # standard deviations: the normal mass beyond is 4e-33


def _standard_normal_grid(n_grid: int, like: Tensor) -> tuple[Tensor, Tensor]:
    """Nodes eps_i on [-GRID_HALF_WIDTH, GRID_HALF_WIDTH] and weights: E_{N(0,1)}[f(eps)] ~= sum_i w_i f(eps_i).

    The trapezoid rule on an evenly spaced grid, weights phi(eps_i) * step renormalised to sum to
    1; for a smooth integrand times a Gaussian its error falls faster than any power of the step.
    """
    n_grid = _validate.positive_int("n_grid", n_grid)
    if n_grid < 101:
        raise ValueError(f"n_grid must be at least 101 grid points (an accurate integral); got {n_grid}.")
    eps = torch.linspace(-GRID_HALF_WIDTH, GRID_HALF_WIDTH, n_grid, dtype=like.dtype)  # (n,)
    weights = torch.exp(-0.5 * eps**2)
    return eps, weights / weights.sum()


def _normal_log_prob(z: Tensor, mu: Tensor, std: Tensor) -> Tensor:
    return -0.5 * (LOG_2PI + 2.0 * std.log() + ((z - mu) / std) ** 2)


@dataclass(frozen=True)
class GaussianMixture1d:
    """p(z) = sum_c w_c N(z; mean_c, std_c^2), a 1-d mixture of C Gaussians.

    Attributes:
        weights: the mixing weights w_c, shape (C,), positive, summing to 1.
        means: the component means, shape (C,).
        stds: the component standard deviations, shape (C,), positive.

    Introduced in lecture 04.
    """

    weights: Tensor
    means: Tensor
    stds: Tensor

    def __post_init__(self) -> None:
        weights = _validate.finite("weights", _validate.as_tensor("weights", self.weights))
        means = _validate.finite("means", _validate.as_tensor("means", self.means, like=weights)).to(weights.dtype)
        stds = _validate.finite("stds", _validate.as_tensor("stds", self.stds, like=weights)).to(weights.dtype)
        if weights.dim() != 1 or weights.shape != means.shape or weights.shape != stds.shape:
            raise ValueError(
                f"weights, means and stds must be 1-d tensors of the same shape (C,), one entry per "
                f"component; got shapes {tuple(weights.shape)}, {tuple(means.shape)}, {tuple(stds.shape)}."
            )
        _validate.positive("weights", weights)
        _validate.positive("stds", stds)
        if abs(weights.sum().item() - 1.0) > 1e-6:
            raise ValueError(
                f"weights must sum to 1; they sum to {weights.sum().item():.6g}. Divide them by their sum."
            )
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "means", means)
        object.__setattr__(self, "stds", stds)

    def log_prob(self, z: Tensor) -> Tensor:
        """log p(z) = logsumexp_c [log w_c + log N(z; mean_c, std_c^2)], for z of any shape (...,)."""
        z = _validate.real("z", z, like=self.weights, allow_empty=True)
        per_component = self.weights.log() + _normal_log_prob(z[..., None], self.means, self.stds)  # (..., C)
        return torch.logsumexp(per_component, dim=-1)

    def mean(self) -> Tensor:
        """E_p[z] = sum_c w_c mean_c, a 0-d tensor."""
        return (self.weights * self.means).sum()

    def variance(self) -> Tensor:
        """Var_p[z] = sum_c w_c (std_c^2 + mean_c^2) - E_p[z]^2 (the law of total variance), 0-d."""
        return (self.weights * (self.stds**2 + self.means**2)).sum() - self.mean() ** 2

    def to_torch(self) -> torch.distributions.MixtureSameFamily:
        """The same law as a torch distribution (the oracle the tests compare against)."""
        return torch.distributions.MixtureSameFamily(
            torch.distributions.Categorical(probs=self.weights),
            torch.distributions.Normal(self.means, self.stds),
        )


def _target(target) -> "GaussianMixture1d":
    return _validate.instance(
        "target", target, GaussianMixture1d, "a vaelib.targets.GaussianMixture1d(weights, means, stds)"
    )


def _mu_std(mu, std, like: Tensor) -> tuple[Tensor, Tensor]:
    mu = _validate.finite("mu", _validate.as_tensor("mu", mu, like=like))
    std = _validate.finite("std", _validate.as_tensor("std", std, like=like))
    _validate.positive("std", std)
    return mu, std


def reverse_kl(target: GaussianMixture1d, mu: Tensor, std: Tensor, *, n_grid: int = 2001) -> Tensor:
    """KL(q || p) for q = N(mu, std^2) and the mixture p: the mode-seeking direction (the ELBO's).

        KL(q || p) = -H[q] - E_q[log p(z)],   H[q] = 1/2 log(2 pi e std^2),
        E_q[log p(z)] ~= sum_i w_i log p(mu + std * eps_i)        (fixed grid eps_i, trapezoid rule)

    Args:
        target: the mixture p.
        mu: q's mean, shape (...,).
        std: q's standard deviation, shape (...,) (broadcast with mu), > 0.
        n_grid: grid points (>= 101).

    Returns:
        the KL in nats, shape: the broadcast shape of mu and std. Differentiable in mu and std.

    Introduced in lecture 04.
    """
    mu, std = _mu_std(mu, std, _target(target).weights)
    eps, weights = _standard_normal_grid(n_grid, target.weights)
    z = mu[..., None] + std[..., None] * eps  # (..., n): the reparameterized nodes
    cross = (weights * target.log_prob(z)).sum(-1)  # E_q[log p]
    entropy = 0.5 * (LOG_2PI + 1.0) + std.log()
    return -entropy - cross


def forward_kl(target: GaussianMixture1d, mu: Tensor, std: Tensor, *, n_grid: int = 2001) -> Tensor:
    """KL(p || q) for the mixture p and q = N(mu, std^2): the mass-covering direction.

        KL(p || q) = sum_c w_c E_{N(mean_c, std_c^2)}[log p(z) - log q(z)],

    each expectation on a fixed grid of its component (trapezoid rule).

    Args:
        target: the mixture p.
        mu: q's mean, shape (...,).
        std: q's standard deviation, shape (...,), > 0.
        n_grid: grid points per component.

    Returns:
        the KL in nats, shape: the broadcast shape of mu and std. Differentiable in mu and std.

    Introduced in lecture 04.
    """
    mu, std = _mu_std(mu, std, _target(target).weights)
    eps, weights = _standard_normal_grid(n_grid, target.weights)
    z = target.means[:, None] + target.stds[:, None] * eps  # (C, n): nodes of each component
    log_p = target.log_prob(z)  # (C, n)
    log_q = _normal_log_prob(z, mu[..., None, None], std[..., None, None])  # (..., C, n)
    per_component = ((log_p - log_q) * weights).sum(-1)  # (..., C)
    return (target.weights * per_component).sum(-1)


@dataclass
class GaussianFit:
    """A fitted q = N(mu, std^2): its parameters and the KL it reached (floats)."""

    mu: float
    std: float
    kl: float
    direction: str


def fit_gaussian(
    target: GaussianMixture1d, direction: str, *, init_mu: float, init_std: float = 1.0, steps: int = 200
) -> GaussianFit:
    """Minimise KL(q || p) (``'reverse'``) or KL(p || q) (``'forward'``) over q = N(mu, std^2).

    L-BFGS with a strong-Wolfe line search on (mu, log std), from (init_mu, init_std). The reverse
    KL has a local minimum near every well-separated mode, so its answer depends on the start; the
    forward KL is convex in (mu / std^2, 1 / std^2) with the single minimum mu = E_p[z],
    std^2 = Var_p[z] (moment matching).

    Args:
        target: the mixture p.
        direction: ``'reverse'`` or ``'forward'``.
        init_mu: the starting mean.
        init_std: the starting standard deviation, > 0.
        steps: L-BFGS iterations.

    Returns:
        a :class:`GaussianFit`.

    Introduced in lecture 04.
    """
    objectives = {"reverse": reverse_kl, "forward": forward_kl}
    if direction not in objectives:
        raise ValueError(f"direction must be 'reverse' (KL(q || p)) or 'forward' (KL(p || q)); got {direction!r}.")
    objective = objectives[direction]
    if not isinstance(init_mu, (int, float)) or isinstance(init_mu, bool) or not math.isfinite(init_mu):
        raise ValueError(f"init_mu must be a finite number; got {init_mu!r}.")
    init_std = _validate.positive_number("init_std", init_std)
    steps = _validate.positive_int("steps", steps)
    dtype = _target(target).weights.dtype
    mu = torch.tensor(float(init_mu), dtype=dtype, requires_grad=True)
    log_std = torch.tensor(math.log(init_std), dtype=dtype, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [mu, log_std], max_iter=steps, line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-15
    )

    def closure() -> Tensor:
        optimizer.zero_grad()
        value = objective(target, mu, log_std.exp())
        value.backward()
        return value

    optimizer.step(closure)
    with torch.no_grad():
        value = objective(target, mu, log_std.exp())
    return GaussianFit(mu.item(), log_std.exp().item(), value.item(), direction)
