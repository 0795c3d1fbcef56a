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

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from vaelib import _validate, reparam
from vaelib.objectives import LossParts

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

ElboFn = Callable[[Tensor, Tensor, Tensor], Tensor]
FAMILIES = ("diag", "full")
LOG_2PI = math.log(2.0 * math.pi)


def _family(family: str) -> str:
    if family not in FAMILIES:
        raise ValueError(
            f"family must be 'diag' (a diagonal Gaussian, mean-field) or 'full' (a full-covariance "
            f"Gaussian); got {family!r}."
        )
    return family


def _batch(name: str, x: Tensor) -> Tensor:
    x = _validate.as_tensor(name, x)
    if x.dim() != 2 or x.shape[0] == 0:
        raise ValueError(
            f"{name} must have shape (B, D): one row per data point; got shape {tuple(x.shape)}. "
            f"A single point needs {name}.unsqueeze(0)."
        )
    return _validate.finite(name, x)


def _scale_tril_from(log_diag: Tensor, off_diag: Tensor | None) -> Tensor:
    """Lower-triangular factor with diagonal exp(log_diag) and strictly-lower part off_diag."""
    scale_tril = torch.diag_embed(log_diag.exp())  # (B, K, K)
    if off_diag is not None:
        scale_tril = scale_tril + torch.tril(off_diag, diagonal=-1)
    return scale_tril


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
    mu = _validate.as_tensor("mu", mu)
    _validate.min_dims("mu", mu, 2, "(B, K)")
    scale_tril = _validate.as_tensor("scale_tril", scale_tril)
    B, K = mu.shape[-2:]
    if scale_tril.shape != (B, K, K):
        raise ValueError(
            f"scale_tril must have shape (B, K, K) = ({B}, {K}, {K}) to match mu; got shape "
            f"{tuple(scale_tril.shape)}. For a diagonal Gaussian pass torch.diag_embed(std)."
        )
    if eps is None:
        n_samples = _validate.positive_int("n_samples", n_samples)
        eps = torch.randn(n_samples, B, K, generator=generator, dtype=mu.dtype)
    elif eps.dim() != 3 or eps.shape[1:] != (B, K):
        raise ValueError(
            f"eps must have shape (S, B, K) = (S, {B}, {K}); got shape {tuple(eps.shape)}."
        )
    z = reparam.full_gaussian(mu, scale_tril, eps=eps)  # (S, B, K)
    entropy = 0.5 * K * (1.0 + LOG_2PI) + scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # (B,)
    return log_joint(x, z).mean(0) + entropy


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

    The free parameters are ``mu`` (B, K), the log of L's diagonal (B, K), and for
    ``family='full'`` L's strictly lower triangle (B, K, K). The batch's objective is the sum of
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
        init_scale_tril: starting factors, shape (B, K, K) with positive diagonal (default
            the identity: the prior); for ``'diag'`` only its diagonal is used. Starting from an
            encoder's output gives semi-amortized inference.

    Returns:
        a :class:`PerPointFit` (detached tensors).

    Source: the per-point optimum q* of Cremer, Li & Duvenaud (2018), Table 1; Blei, Kucukelbir
    & McAuliffe (2017), "Variational Inference: A Review for Statisticians"; Nocedal & Wright
    (2006), Ch. 7 (L-BFGS). Introduced in lecture 04.
    """
    family = _family(family)
    if optimizer not in ("lbfgs", "adam"):
        raise ValueError(
            f"optimizer must be 'lbfgs' (for a deterministic, closed-form ELBO) or 'adam' (for a "
            f"Monte Carlo ELBO); got {optimizer!r}."
        )
    x = _batch("x", x)
    K = _validate.positive_int("latent_dim", latent_dim)
    steps = _validate.positive_int("steps", steps)
    lr = (1.0 if optimizer == "lbfgs" else 0.05) if lr is None else _validate.positive_number("lr", lr)
    B = x.shape[0]
    if init_mu is None:
        mu = torch.zeros(B, K, dtype=x.dtype)
    else:
        mu = _validate.as_tensor("init_mu", init_mu).to(x.dtype)
    if mu.shape != (B, K):
        raise ValueError(f"init_mu must have shape (B, K) = ({B}, {K}); got shape {tuple(mu.shape)}.")
    if init_scale_tril is None:
        log_diag = torch.zeros(B, K, dtype=x.dtype)
        off_diag = torch.zeros(B, K, K, dtype=x.dtype)
    else:
        init_scale_tril = _validate.as_tensor("init_scale_tril", init_scale_tril).to(x.dtype)
        if init_scale_tril.shape != (B, K, K):
            raise ValueError(
                f"init_scale_tril must have shape (B, K, K) = ({B}, {K}, {K}); got shape "
                f"{tuple(init_scale_tril.shape)}."
            )
        diag = init_scale_tril.diagonal(dim1=-2, dim2=-1)
        _validate.positive("the diagonal of init_scale_tril", diag)
        log_diag = diag.log()
        off_diag = torch.tril(init_scale_tril, diagonal=-1)
    mu = mu.detach().clone().requires_grad_(True)
    log_diag = log_diag.detach().clone().requires_grad_(True)
    params = [mu, log_diag]
    if family == "full":
        off_diag = off_diag.detach().clone().requires_grad_(True)
        params.append(off_diag)
    else:
        off_diag = None
    history: list[float] = []

    def negative_elbo() -> Tensor:
        elbo = elbo_fn(x, mu, _scale_tril_from(log_diag, off_diag))  # (B,)
        if elbo.shape != (B,):
            raise ValueError(
                f"elbo_fn must return one ELBO per point, shape ({B},); got shape {tuple(elbo.shape)}."
            )
        history.append(elbo.mean().item())
        return -elbo.sum()  # separates over points: each gets its own gradient

    if optimizer == "lbfgs":
        opt = torch.optim.LBFGS(
            params, lr=lr, max_iter=steps, history_size=20, line_search_fn="strong_wolfe",
            tolerance_grad=1e-10, tolerance_change=1e-14,
        )

        def closure() -> Tensor:
            opt.zero_grad()
            loss = negative_elbo()
            loss.backward()
            return loss

        opt.step(closure)
    else:
        opt = torch.optim.Adam(params, lr=lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
        for _ in range(steps):
            opt.zero_grad()
            negative_elbo().backward()
            opt.step()
            schedule.step()
    with torch.no_grad():
        scale_tril = _scale_tril_from(log_diag, off_diag)
        elbo = elbo_fn(x, mu, scale_tril)
    return PerPointFit(mu.detach(), scale_tril.detach(), elbo.detach(), history, family)


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
    mu = _validate.as_tensor("mu", mu)
    _validate.min_dims("mu", mu, 2, "(B, K)")
    precision = _validate.as_tensor("precision", precision).to(mu.dtype)
    K = mu.shape[-1]
    if precision.shape != (K, K):
        raise ValueError(
            f"precision must have shape (K, K) = ({K}, {K}); got shape {tuple(precision.shape)}."
        )
    _validate.positive("the diagonal of precision", precision.diagonal())
    iters = _validate.positive_int("iters", iters)
    m = torch.zeros_like(mu) if init is None else _validate.as_tensor("init", init).to(mu.dtype).clone()
    _validate.same_shape("init", m, "mu", mu)
    diag = precision.diagonal()  # (K,)
    history = []
    for _ in range(iters):
        for k in range(K):
            coupling = (m - mu) @ precision[k] - diag[k] * (m[..., k] - mu[..., k])  # sum_{j != k}
            m[..., k] = mu[..., k] - coupling / diag[k]
        history.append(m.clone())
    return m, 1.0 / diag, history


def best_diagonal_forward_kl(mu_p: Tensor, cov_p: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The diagonal Gaussian q that minimises the forward KL(p || q) for p = N(mu_p, cov_p).

    Formula: moment matching, ``mu_q = mu_p`` and ``var_q = diag(cov_p)`` (the marginal
    variances), with minimal KL ``(1/2) [sum_k log (cov_p)_kk - log det cov_p]`` (zero iff
    cov_p is diagonal). Forward KL is mass-covering: q gets p's marginal variances right but
    ignores the correlation. Compare the reverse-KL optimum
    :func:`vaelib.gaussians.best_diagonal_reverse_kl` (precision matching, ``var_q = 1 /
    diag(cov_p^{-1})``, never larger). Bishop 2006, Section 10.1.2 (minimising KL(p || q) over a
    factorized q gives q_k = the marginal p(z_k)) and Section 10.7; Minka 2001, expectation
    propagation.

    Args:
        mu_p: ``(K,)``.
        cov_p: ``(K, K)``, symmetric positive definite.

    Returns:
        ``(mu_q, var_q, kl_min)``: ``(K,)``, ``(K,)`` and a scalar tensor (nats).

    Introduced in lecture 04.
    """
    mu_p = _validate.as_tensor("mu_p", mu_p)
    if mu_p.dim() != 1:
        raise ValueError(f"mu_p must have shape (K,); got {tuple(mu_p.shape)}. Pass one mean vector.")
    K = mu_p.shape[0]
    cov_p = _validate.as_tensor("cov_p", cov_p, like=mu_p)
    if cov_p.shape != (K, K):
        raise ValueError(
            f"cov_p must have shape (K, K) = ({K}, {K}) to match mu_p; got {tuple(cov_p.shape)}."
        )
    _validate.finite("cov_p", cov_p)
    if not torch.allclose(cov_p, cov_p.T, atol=1e-6, rtol=1e-5):
        raise ValueError("cov_p must be symmetric; got an asymmetric matrix. Symmetrise it: (C + C.T) / 2.")
    L, info = torch.linalg.cholesky_ex(cov_p)
    if info != 0:
        raise ValueError(
            "cov_p must be positive definite (a covariance of a non-degenerate Gaussian); its "
            "Cholesky factorisation failed. Build it as S @ S.T + a small multiple of the identity."
        )
    var_q = cov_p.diagonal().clone()
    kl_min = 0.5 * (var_q.log().sum() - 2 * L.diagonal().log().sum())
    return mu_p.clone(), var_q, kl_min


# ---------------------------------------------------------------------------------------------
# Amortized inference: an encoder x -> q(z | x)
# ---------------------------------------------------------------------------------------------


class GaussianEncoder(nn.Module):
    """An inference network x -> q(z | x) = N(mu(x), L(x) L(x)^T): amortized inference.

    An MLP (or, with ``hidden_dims=()``, an affine map) whose output is split into the mean and
    the parameters of the Cholesky factor: for ``family='diag'`` a log-variance per latent
    (L = diag(exp(log_var / 2)), as in a VAE); for ``family='full'`` the log of L's diagonal
    and its K(K-1)/2 strictly-lower entries.

    Trained by :func:`vaelib.train.fit` like every model of the course: with ``elbo_fn`` (the
    fixed model's ELBO, e.g. ``LinearGaussianModel.elbo``), :meth:`loss` is the negative ELBO
    averaged over a batch, so ``fit`` maximises 1/N sum_n ELBO(x_n; encoder(x_n)) over the
    encoder's weights while the model stays fixed.

    Args:
        input_dim: D.
        latent_dim: K.
        hidden_dims: widths of the hidden layers, e.g. ``(64,)``; ``()`` gives a linear encoder.
        family: ``'diag'`` or ``'full'``.
        elbo_fn: ``elbo_fn(x, mu, scale_tril) -> (B,)`` of the model whose posterior the encoder
            learns (not a parameter of the encoder; it can also be set later as ``encoder.elbo_fn``).

    Introduced in lecture 04 (the VAE's encoder in ``vaelib.models`` is the same idea).
    """

    def __init__(
        self,
        input_dim: int,
        latent_dim: int,
        hidden_dims: Sequence[int] = (),
        *,
        family: str = "diag",
        elbo_fn: ElboFn | None = None,
    ) -> None:
        super().__init__()
        self.input_dim = _validate.positive_int("input_dim", input_dim)
        self.latent_dim = K = _validate.positive_int("latent_dim", latent_dim)
        self.family = _family(family)
        if elbo_fn is not None and not callable(elbo_fn):
            raise TypeError(f"elbo_fn must be a callable elbo_fn(x, mu, scale_tril) -> (B,); got {type(elbo_fn).__name__}.")
        self.elbo_fn = elbo_fn
        layers: list[nn.Module] = []
        width = input_dim
        for i, h in enumerate(hidden_dims):
            layers += [nn.Linear(width, _validate.positive_int(f"hidden_dims[{i}]", h)), nn.Tanh()]
            width = h
        self.body = nn.Sequential(*layers)
        n_scale = K if family == "diag" else K * (K + 1) // 2
        self.head = nn.Linear(width, K + n_scale)
        self.register_buffer("_tril_rows", torch.tril_indices(K, K, offset=-1)[0], persistent=False)
        self.register_buffer("_tril_cols", torch.tril_indices(K, K, offset=-1)[1], persistent=False)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Encode a batch.

        Args:
            x: shape (B, D).

        Returns:
            mu of shape (B, K) and scale_tril of shape (B, K, K).
        """
        if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[-1] != self.input_dim:
            got = f"shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(
                f"x must be a tensor of shape (B, {self.input_dim}); got {got}. "
                f"A single point needs x.unsqueeze(0)."
            )
        K = self.latent_dim
        out = self.head(self.body(x))  # (B, K + n_scale)
        mu, rest = out[:, :K], out[:, K:]
        if self.family == "diag":
            return mu, torch.diag_embed((0.5 * rest).exp())  # rest is log_var
        off_diag = out.new_zeros(x.shape[0], K, K)  # (B, K, K)
        off_diag[:, self._tril_rows, self._tril_cols] = rest[:, K:]
        return mu, _scale_tril_from(rest[:, :K], off_diag)

    def check_data(self, x: Tensor, name: str = "x") -> Tensor:
        """The data contract ``fit`` checks once per data set: finite rows ``(N, D)``, N >= 1."""
        if x.dim() != 2 or x.shape[1] != self.input_dim:
            raise ValueError(
                f"{name} must have shape (N, {self.input_dim}): one data point per row; got shape "
                f"{tuple(x.shape)}."
            )
        return _batch(name, x)

    def loss(self, x: Tensor, beta: float = 1.0) -> LossParts:
        """The negative ELBO of the encoder's q(z | x), averaged over the batch, and its two parts.

            loss = recon + beta * kl,   kl = KL(q(z | x) || N(0, I))  (closed form, lecture 03),
            recon = -ELBO - kl = E_q[-log p(x | z)]  when the model's prior is N(0, I)

        (true of :class:`vaelib.linear_gaussian.LinearGaussianModel`; for another prior ``recon``
        also holds the prior's difference, and ``loss`` at beta = 1 is still exactly -ELBO).

        Args:
            x: data points, shape (B, D).
            beta: the weight of the KL part (1: the ELBO).

        Returns:
            :class:`vaelib.objectives.LossParts` of scalars (batch means).
        """
        if self.elbo_fn is None:
            raise ValueError(
                "GaussianEncoder.loss needs the ELBO of the model it encodes for: build it with "
                "GaussianEncoder(..., elbo_fn=model.elbo) or set encoder.elbo_fn = model.elbo."
            )
        beta = _validate.real_number("beta", beta, minimum=0, meaning="the weight of the KL term; 1 is the ELBO")
        mu, scale_tril = self(x)  # (B, K), (B, K, K)
        elbo = self.elbo_fn(x, mu, scale_tril)  # (B,)
        if elbo.shape != (x.shape[0],):
            raise ValueError(f"elbo_fn must return one ELBO per point, shape ({x.shape[0]},); got shape {tuple(elbo.shape)}.")
        # KL(N(mu, L L^T) || N(0, I)) = 1/2 [||L||_F^2 + ||mu||^2 - K - 2 sum_k log L_kk] (lecture 03,
        # vaelib.kl.full_gaussian_to_std_normal), written out: L comes from forward(), so it is
        # lower-triangular with a positive diagonal by construction and needs no per-step checks.
        log_diag = scale_tril.diagonal(dim1=-2, dim2=-1).log()  # (B, K)
        kl_rows = 0.5 * (scale_tril.pow(2).sum((-2, -1)) + mu.pow(2).sum(-1) - self.latent_dim - 2 * log_diag.sum(-1))
        kl_term = kl_rows.mean()
        recon = -elbo.mean() - kl_term
        return LossParts(loss=recon + beta * kl_term, recon=recon, kl=kl_term)


# ---------------------------------------------------------------------------------------------
# The gap decomposition (Cremer, Li & Duvenaud 2018)
# ---------------------------------------------------------------------------------------------


@dataclass
class InferenceGaps:
    """The inference gaps of Cremer, Li & Duvenaud (2018), per data point, in nats.

    Attributes:
        approximation: log p(x) - ELBO(q*_family), shape (B,): >= 0, the cost of the family.
        amortization: ELBO(q*_family) - ELBO(q_amortized), shape (B,): >= 0 up to the
            optimisation error of the per-point fit, the cost of sharing one encoder.
        total: log p(x) - ELBO(q_amortized) = approximation + amortization, shape (B,).
    """

    approximation: Tensor
    amortization: Tensor
    total: Tensor

    def mean(self) -> dict[str, float]:
        """The average of each gap over the batch, as floats."""
        return {
            "approximation": self.approximation.mean().item(),
            "amortization": self.amortization.mean().item(),
            "total": self.total.mean().item(),
        }


def inference_gaps(log_px: Tensor, elbo_best: Tensor, elbo_amortized: Tensor) -> InferenceGaps:
    """Split the encoder's gap log p(x) - ELBO(q_amortized) into approximation + amortization.

        total         = log p(x) - ELBO(q_amortized)
        approximation = log p(x) - ELBO(q*)          (q* the per-point optimum in the family)
        amortization  = ELBO(q*) - ELBO(q_amortized)

    Cremer, Li & Duvenaud (2018), "Inference Suboptimality in Variational Autoencoders" (ICML), Table 1.

    Args:
        log_px: exact (or very tight) log-likelihoods, shape (B,).
        elbo_best: the ELBO of the per-point optimum of the family, shape (B,).
        elbo_amortized: the ELBO of the encoder's q(z | x), shape (B,).

    Returns:
        an :class:`InferenceGaps` of (B,) tensors.

    Introduced in lecture 04.
    """
    log_px = _validate.finite("log_px", _validate.as_tensor("log_px", log_px))
    elbo_best = _validate.finite("elbo_best", _validate.as_tensor("elbo_best", elbo_best))
    elbo_amortized = _validate.finite("elbo_amortized", _validate.as_tensor("elbo_amortized", elbo_amortized))
    _validate.same_shape("log_px", log_px, "elbo_best", elbo_best)
    _validate.same_shape("log_px", log_px, "elbo_amortized", elbo_amortized)
    return InferenceGaps(
        approximation=log_px - elbo_best,
        amortization=elbo_best - elbo_amortized,
        total=log_px - elbo_amortized,
    )


# ---------------------------------------------------------------------------------------------
# MCMC for comparison: asymptotically exact, but many steps per point
# ---------------------------------------------------------------------------------------------


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
    z = _validate.as_tensor("z0", z0).clone()
    _validate.min_dims("z0", z, 2, "(B, K)")
    n_steps = _validate.positive_int("n_steps", n_steps)
    step_size = _validate.positive_number("step_size", step_size)
    log_p = log_density(z)  # (B,)
    if log_p.shape != z.shape[:-1]:
        raise ValueError(
            f"log_density must return shape {tuple(z.shape[:-1])} for z0 (one value per chain); "
            f"got shape {tuple(log_p.shape)}."
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
