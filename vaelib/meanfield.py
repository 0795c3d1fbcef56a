"""Per-data-point variational inference, amortized inference, and the gaps between them.

Classic variational inference gives every data point x_n its own free variational parameters
(mu_n, L_n) and fits them by iterative optimisation of that point's ELBO. A VAE's encoder
*amortizes* this: one network maps any x to (mu, L) in a single forward pass. For a model whose
log p(x) is known exactly, Cremer, Li & Duvenaud (2018), "Inference Suboptimality in
Variational Autoencoders" (ICML), split the encoder's shortfall in two:

    log p(x) - ELBO(q_amortized)
        = [log p(x) - ELBO(q*_family)]            approximation gap (the family is too small)
        + [ELBO(q*_family) - ELBO(q_amortized)]   amortization gap (the encoder misses q*)

where q*_family is the best member of the family for this x, found per point.

An ``elbo_fn`` here is any callable ``elbo_fn(x, mu, scale_tril) -> (B,)``, differentiable in
``mu`` and ``scale_tril``: the closed-form :meth:`vaelib.linear_gaussian.LinearGaussianModel.elbo`,
or :func:`monte_carlo_elbo` bound to a ``log_joint`` with ``functools.partial``.

Introduced in lecture 04.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

from vaelib import _validate, gaussians, reparam

# Re-exported: lecture 04 builds its encoders as meanfield.GaussianEncoder (home: vaelib.amortized).
from vaelib.amortized import ElboFn, GaussianEncoder
from vaelib.classic_inference import coordinate_ascent_gaussian, random_walk_metropolis
from vaelib.gaps import InferenceGaps, inference_gaps

__all__ = [
    "ElboFn",
    "PerPointFit",
    "fit_per_point",
    "monte_carlo_elbo",
    "coordinate_ascent_gaussian",
    "best_diagonal_forward_kl",
    "GaussianEncoder",
    "InferenceGaps",
    "inference_gaps",
    "random_walk_metropolis",
]


# Kept importable here for lecture 04: the forward-KL optimum lives beside its reverse-KL twin in
# vaelib.gaussians, CAVI and Metropolis in vaelib.classic_inference, the gaps in vaelib.gaps, the
# encoder in vaelib.amortized.
best_diagonal_forward_kl = gaussians.best_diagonal_forward_kl


def _call(fn_name: str, fn, x: Tensor, *args) -> Tensor:
    """Call a user's ``log_joint`` / ``elbo_fn``, turning a torch error into one naming it and x."""
    try:
        out = fn(x, *args)
    except RuntimeError as err:
        raise ValueError(
            f"{fn_name} failed on x of shape {tuple(x.shape)}, dtype {x.dtype}: {str(err)[:200]}. "
            f"If the dtypes differ, convert x to the model's dtype (x.float() or x.double())."
        ) from None
    if not isinstance(out, Tensor):
        raise TypeError(f"{fn_name} must return a tensor; got {type(out).__name__}.")
    return out


# ---------------------------------------------------------------------------------------------
# ELBOs
# ---------------------------------------------------------------------------------------------


def monte_carlo_elbo(
    log_joint: Callable[[Tensor, Tensor], Tensor],
    x: Tensor,
    mu: Tensor,
    scale_tril: Tensor,
    *,
    n_samples: int = 1,
    eps: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """A reparameterized Monte Carlo estimate of the ELBO of q(z | x) = N(mu, L L^T).

        ELBO ~= 1/S sum_s log p(x, mu + L eps_s) + H[q],     eps_s ~ N(0, I_K),
        H[q] = K/2 (1 + log 2 pi) + sum_k log L_kk            (entropy, exact)

    The samples are :func:`vaelib.reparam.full_gaussian` transforms of eps, so gradients flow
    to mu and L (the pathwise estimator of lecture 01). Bind ``log_joint`` with
    ``functools.partial(monte_carlo_elbo, model.log_joint, n_samples=8)`` to get an ``elbo_fn``.

    Args:
        log_joint: ``log_joint(x, z) -> log p(x, z)``, called with x of shape (B, D) and z of
            shape (S, B, K); must broadcast to shape (S, B).
        x: observations, shape (B, D).
        mu: means, shape (B, K).
        scale_tril: lower Cholesky factors with positive diagonal, shape (B, K, K).
        n_samples: S, the number of samples per point.
        eps: optional standard normal noise of shape (S, B, K) (then ``n_samples`` is ignored).
        generator: the random number generator for eps.

    Returns:
        one estimate per point, shape (B,).

    Introduced in lecture 04.
    """
    log_joint = _validate.function("log_joint", log_joint, "model.log_joint (x, z) -> log p(x, z)")
    x = _validate.data_rows("x", x)
    mu = _validate.real("mu", mu, like=x, cast=True, dims=2, meaning="(B, K)")  # x's dtype: the model's
    B, K = mu.shape[-2:]
    if x.shape[0] != B:
        raise ValueError(f"x has {x.shape[0]} rows but mu has {B}: one (mu, scale_tril) per data point.")
    # a non-triangular factor would overstate the entropy term: refused by the Cholesky contract
    scale_tril = _validate.scale_tril("scale_tril", scale_tril, "mu", mu)
    if scale_tril.shape != (B, K, K):
        raise ValueError(
            f"scale_tril must have shape (B, K, K) = ({B}, {K}, {K}) to match mu; got shape "
            f"{tuple(scale_tril.shape)}. For a diagonal Gaussian pass torch.diag_embed(std)."
        )
    generator = _validate.generator(generator)
    if eps is None:
        eps = _validate.randn((_validate.positive_int("n_samples", n_samples), B, K), mu, generator)
    else:
        eps = _validate.real("eps", eps, like=mu, cast=True)
        if eps.dim() != 3 or eps.shape[1:] != (B, K):
            raise ValueError(f"eps must have shape (S, B, K) = (S, {B}, {K}); got shape {tuple(eps.shape)}.")
    z = reparam.full_gaussian(mu, scale_tril, eps=eps)  # (S, B, K)
    log_det = scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # (B,): log det L
    entropy = 0.5 * K * (1.0 + gaussians.LOG_2PI) + log_det  # (B,)
    log_p = _call("log_joint", log_joint, x, z)  # (S, B)
    return _validate.finite("log_joint(x, z)", log_p).mean(0) + entropy


# ---------------------------------------------------------------------------------------------
# Per-data-point optimisation (classic VI)
# ---------------------------------------------------------------------------------------------


@dataclass
class PerPointFit:
    """The result of :func:`fit_per_point`: one Gaussian q_n = N(mu_n, L_n L_n^T) per point.

    Attributes:
        mu: means, shape (B, K).
        scale_tril: lower Cholesky factors, shape (B, K, K) (diagonal for ``family='diag'``).
        elbo: the final ELBO of each point, shape (B,).
        history: the mean ELBO over the batch at each evaluation of the objective.
        family: ``'diag'`` or ``'full'``.
    """

    mu: Tensor
    scale_tril: Tensor
    elbo: Tensor
    history: list[float] = field(repr=False)
    family: str

    @property
    def cov(self) -> Tensor:
        """The covariances L L^T, shape (B, K, K)."""
        return self.scale_tril @ self.scale_tril.transpose(-1, -2)

    @property
    def var(self) -> Tensor:
        """The marginal variances diag(L L^T), shape (B, K)."""
        return (self.scale_tril**2).sum(-1)


def fit_per_point(
    elbo_fn: ElboFn,
    x: Tensor,
    latent_dim: int,
    *,
    family: str = "diag",
    optimizer: str = "lbfgs",
    steps: int = 200,
    lr: float | None = None,
    init_mu: Tensor | None = None,
    init_scale_tril: Tensor | None = None,
) -> PerPointFit:
    """Fit one Gaussian q_n(z) per data point by gradient ascent on its own ELBO (classic VI).

        (mu_n, L_n) = argmax_{mu, L} ELBO(x_n; mu, L)     for every n separately

    The free parameters are ``mu`` (B, K) and L's raw numbers: the log of its diagonal (B, K)
    for ``family='diag'``, the packed lower triangle with a log-diagonal (B, K(K+1)/2) for
    ``family='full'`` (:func:`vaelib.reparam.scale_tril_from_unconstrained` with ``"exp"``). The batch's objective is the sum of
    the points' ELBOs; it separates over points, so its maximiser is every point's own optimum.

    This is its own small loop, not :func:`vaelib.train.fit`: it is a different algorithm. Its
    parameters are the B points' own (mu_n, L_n), not a network's weights; every step sees the
    whole batch (nothing to shuffle or slice into minibatches, no epochs); and L-BFGS needs a
    closure that re-evaluates the objective. An encoder (:class:`GaussianEncoder`) is what fit trains.

    - ``optimizer='lbfgs'`` (default, for a deterministic ``elbo_fn`` such as the closed-form
      :meth:`~vaelib.linear_gaussian.LinearGaussianModel.elbo`): L-BFGS with a strong-Wolfe
      line search, up to ``steps`` iterations; converges to the optimum to many digits.
    - ``optimizer='adam'`` (for a Monte Carlo ``elbo_fn``, i.e. stochastic VI with
      reparameterized gradients): ``steps`` Adam steps, whose update is element-wise so each
      point is optimised independently, with a cosine learning-rate decay to zero.

    Args:
        elbo_fn: ``elbo_fn(x, mu, scale_tril) -> (B,)``, differentiable in mu and scale_tril.
        x: the data points, shape (B, D).
        latent_dim: K.
        family: ``'diag'`` (mean-field: L diagonal) or ``'full'`` (L lower-triangular).
        optimizer: ``'lbfgs'`` or ``'adam'``.
        steps: L-BFGS iterations, or Adam steps.
        lr: the learning rate (default 1 for L-BFGS, 0.05 for Adam).
        init_mu: starting means, shape (B, K) (default zeros: the prior mean).
        init_scale_tril: starting factors, shape (B, K, K), lower-triangular with positive diagonal (default
            the identity: the prior); for ``'diag'`` only its diagonal is used. Starting from an
            encoder's output gives semi-amortized inference.

    Returns:
        a :class:`PerPointFit` (detached tensors).

    Source: the per-point optimum q* of Cremer, Li & Duvenaud (2018), Table 1; Blei, Kucukelbir
    & McAuliffe (2017), "Variational Inference: A Review for Statisticians"; Nocedal & Wright
    (2006), Ch. 7 (L-BFGS). Introduced in lecture 04.
    """
    family = _validate.gaussian_family(family)
    optimizer = _validate.choice(
        "optimizer",
        optimizer,
        ("lbfgs", "adam"),
        "'lbfgs' for a deterministic, closed-form ELBO; 'adam' for a Monte Carlo ELBO.",
    )
    elbo_fn = _validate.function("elbo_fn", elbo_fn, "model.elbo (x, mu, scale_tril) -> (B,)")
    x = _validate.data_rows("x", x)
    K = _validate.positive_int("latent_dim", latent_dim)
    steps = _validate.positive_int("steps", steps)
    lr = (1.0 if optimizer == "lbfgs" else 0.05) if lr is None else _validate.positive_number("lr", lr)
    mu, raw = _initial_parameters(x, K, family, init_mu, init_scale_tril)
    history: list[float] = []

    def scale_tril() -> Tensor:  # (B, K, K), from the K (diag) or K(K+1)/2 (full) raw numbers
        return reparam.scale_tril_from_unconstrained(raw, K, "exp", family=family)

    def negative_elbo() -> Tensor:
        elbo = _call("elbo_fn", elbo_fn, x, mu, scale_tril())  # (B,)
        if elbo.shape != (x.shape[0],):
            raise ValueError(
                f"elbo_fn must return one ELBO per point, shape ({x.shape[0]},); got shape {tuple(elbo.shape)}."
            )
        history.append(elbo.mean().item())
        return -elbo.sum()  # separates over points: each gets its own gradient

    _maximise([mu, raw], negative_elbo, optimizer, steps, lr)
    with torch.no_grad():
        L = scale_tril()
        elbo = _validate.finite("the final ELBO (elbo_fn)", elbo_fn(x, mu, L))
    return PerPointFit(mu.detach(), L.detach(), elbo.detach(), history, family)


def _initial_parameters(x: Tensor, K: int, family: str, init_mu, init_scale_tril) -> tuple[Tensor, Tensor]:
    """Leaf tensors (mu (B, K), raw) to optimise, raw packed as reparam.scale_tril_from_unconstrained reads it."""
    B = x.shape[0]
    mu = torch.zeros(B, K, dtype=x.dtype) if init_mu is None else _validate.real("init_mu", init_mu, like=x, cast=True)
    if mu.shape != (B, K):
        raise ValueError(f"init_mu must have shape (B, K) = ({B}, {K}); got shape {tuple(mu.shape)}.")
    if init_scale_tril is None:
        L = torch.eye(K, dtype=x.dtype).expand(B, K, K)  # the prior
    else:
        L = _validate.scale_tril("init_scale_tril", init_scale_tril, "init_mu", mu)
        if L.shape != (B, K, K):
            raise ValueError(
                f"init_scale_tril must have shape (B, K, K) = ({B}, {K}, {K}); got shape {tuple(L.shape)}."
            )
    if family == "diag":
        raw = L.diagonal(dim1=-2, dim2=-1).log()  # (B, K): only the diagonal is used
    else:
        raw = reparam.unconstrained_from_scale_tril(L, "exp")  # (B, K(K+1)/2)
    return mu.detach().clone().requires_grad_(True), raw.detach().clone().requires_grad_(True)


def _maximise(params: list[Tensor], negative_elbo, optimizer: str, steps: int, lr: float) -> None:
    """L-BFGS (strong Wolfe) or Adam with a cosine decay, on ``negative_elbo()``."""
    if optimizer == "lbfgs":
        opt = torch.optim.LBFGS(
            params,
            lr=lr,
            max_iter=steps,
            history_size=20,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-10,
            tolerance_change=1e-14,
        )

        def closure() -> Tensor:
            opt.zero_grad()
            loss = negative_elbo()
            loss.backward()
            return loss

        opt.step(closure)
        return
    opt = torch.optim.Adam(params, lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    for _ in range(steps):
        opt.zero_grad()
        negative_elbo().backward()
        opt.step()
        schedule.step()
