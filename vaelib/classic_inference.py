"""Classic inference on a Gaussian target, the yardsticks of lecture 04: CAVI and Metropolis.

Coordinate-ascent mean-field VI (CAVI) shows, in closed form, how a factorised q underestimates
the variances of a correlated Gaussian (Bishop 2006, Sec. 10.1.2); random-walk Metropolis is
the asymptotically exact reference that costs many steps per point. Both sit beside the
per-point and amortized VI of :mod:`vaelib.meanfield` (which re-exports them, so
``vaelib.meanfield.coordinate_ascent_gaussian`` keeps working). Introduced in lecture 04.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from vaelib import _validate

__all__ = ["coordinate_ascent_gaussian", "random_walk_metropolis"]


def coordinate_ascent_gaussian(
    mu: Tensor, precision: Tensor, *, iters: int = 50, init: Tensor | None = None
) -> tuple[Tensor, Tensor, list[Tensor]]:
    """Mean-field coordinate ascent (CAVI) for a Gaussian target p(z) = N(mu, Lambda^{-1}).

    The optimal factor q_k(z_k), holding the others fixed, is Gaussian with (Bishop 2006,
    eqs. 10.12-10.13)

        variance 1 / Lambda_kk,        mean m_k = mu_k - (1/Lambda_kk) sum_{j != k} Lambda_kj (m_j - mu_j).

    The variances are right after one sweep; the means converge geometrically to mu (slowly
    when the target is strongly correlated).

    Args:
        mu: the target means, shape (B, K).
        precision: the target precision Lambda, shape (K, K), symmetric positive definite.
        iters: the number of full sweeps over k = 1..K.
        init: starting means, shape (B, K) (default zeros).

    Returns:
        the means, shape (B, K); the variances 1/diag(Lambda), shape (K,); and the means after
        each sweep, a list of ``iters`` tensors of shape (B, K).

    Introduced in lecture 04.
    """
    mu = _validate.real("mu", mu, dims=2, meaning="(B, K)")
    K = mu.shape[-1]
    precision = _validate.covariance("precision", precision, K, like=mu)
    _validate.cholesky("precision", precision)  # positive definite, so each 1 / Lambda_kk > 0
    iters = _validate.positive_int("iters", iters)
    m = torch.zeros_like(mu) if init is None else _validate.real("init", init, like=mu, cast=True).clone()
    _validate.same_shape("init", m, "mu", mu)
    diag = precision.diagonal()  # (K,)
    history = []
    for _ in range(iters):
        for k in range(K):
            coupling = (m - mu) @ precision[k] - diag[k] * (m[..., k] - mu[..., k])  # sum_{j != k}
            m[..., k] = mu[..., k] - coupling / diag[k]
        history.append(m.clone())
    return m, 1.0 / diag, history


def random_walk_metropolis(
    log_density: Callable[[Tensor], Tensor],
    z0: Tensor,
    n_steps: int,
    step_size: float,
    *,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Random-walk Metropolis: B independent chains targeting p(z) proportional to exp(log_density(z)).

    Propose z' = z + step_size * eps with eps ~ N(0, I); accept with probability
    min(1, p(z') / p(z)) (Metropolis et al. 1953; Bishop 2006, Sec. 11.2.1). The chain's
    stationary distribution is p exactly, so averages over its states converge to the true
    expectations as n_steps grows: unlike variational inference, it has no bias that survives
    more computation.

    Args:
        log_density: ``log_density(z) -> (B,)`` for z of shape (B, K), up to a constant.
        z0: starting states, shape (B, K).
        n_steps: the number of steps.
        step_size: the proposal's standard deviation, > 0.
        generator: the random number generator.

    Returns:
        the states after every step, shape (n_steps, B, K), and the acceptance rate of each
        chain, shape (B,).

    Introduced in lecture 04.
    """
    log_density = _validate.function("log_density", log_density, "lambda z: -0.5 * (z ** 2).sum(-1)")
    z = _validate.real("z0", z0, dims=2, meaning="(B, K)").clone()
    n_steps = _validate.positive_int("n_steps", n_steps)
    step_size = _validate.positive_number("step_size", step_size)
    generator = _validate.generator(generator)
    log_p = log_density(z)  # (B,)
    if not isinstance(log_p, Tensor) or log_p.shape != z.shape[:-1]:
        got = tuple(log_p.shape) if isinstance(log_p, Tensor) else type(log_p).__name__
        raise ValueError(
            f"log_density must return shape {tuple(z.shape[:-1])} for z0 (one value per chain); got {got}."
        )
    if torch.isnan(log_p).any() or (log_p == math.inf).any() or (log_p == -math.inf).all():
        raise ValueError(
            f"log_density(z0) must be finite where the chains start (a -inf start never moves, "
            f"a NaN poisons every acceptance test); got {log_p.tolist()[:4]}. Start z0 inside the "
            f"support of the target."
        )
    states = torch.empty(n_steps, *z.shape, dtype=z.dtype)
    accepted = torch.zeros(z.shape[:-1], dtype=z.dtype)
    with torch.no_grad():
        for t in range(n_steps):
            proposal = z + step_size * torch.randn(z.shape, generator=generator, dtype=z.dtype)
            log_p_new = log_density(proposal)
            u = torch.rand(z.shape[:-1], generator=generator, dtype=z.dtype)
            accept = u.log() < log_p_new - log_p  # (B,)
            z = torch.where(accept[..., None], proposal, z)
            log_p = torch.where(accept, log_p_new, log_p)
            accepted += accept.to(z.dtype)
            states[t] = z
    return states, accepted / n_steps
