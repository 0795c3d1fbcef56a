"""Amortized inference: one encoder network x -> q(z | x) = N(mu(x), L(x) L(x)^T) for every x.

Classic VI fits every point's Gaussian by its own optimisation
(:func:`vaelib.meanfield.fit_per_point`); an encoder *amortizes* it: one forward pass maps any x
to (mu, L), and :func:`vaelib.train.fit` trains its weights on the fixed model's ELBO. The gap
between the two is lecture 04's amortization gap (Cremer, Li & Duvenaud 2018). Lecture 04 builds
it as ``meanfield.GaussianEncoder`` (re-exported there). Introduced in lecture 04.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from vaelib import _validate, reparam
from vaelib.objectives import LossParts

__all__ = ["GaussianEncoder", "ElboFn"]

ElboFn = Callable[[Tensor, Tensor, Tensor], Tensor]  # elbo_fn(x, mu, scale_tril) -> (B,)


def _scale_tril_from(log_diag: Tensor, off_diag: Tensor | None) -> Tensor:
    """Lower-triangular factor with diagonal exp(log_diag) and strictly-lower part off_diag.

    The encoder's layout (log-diagonal, then a (B, K, K) strictly-lower part); the diagonal goes
    through :func:`vaelib.reparam.scale_tril_from_unconstrained`, vaelib's one raw-to-Cholesky map.
    """
    scale_tril = reparam.scale_tril_from_unconstrained(log_diag, log_diag.shape[-1], "exp", family="diag")
    if off_diag is not None:
        scale_tril = scale_tril + torch.tril(off_diag, diagonal=-1)
    return scale_tril


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
        self.family = _validate.gaussian_family(family)
        if elbo_fn is not None and not callable(elbo_fn):
            raise TypeError(
                f"elbo_fn must be a callable elbo_fn(x, mu, scale_tril) -> (B,); got {type(elbo_fn).__name__}."
            )
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
        return self._encode(self._input(x))

    def _input(self, x) -> Tensor:
        """``x`` as a finite, non-empty (B, D) tensor of the weights' dtype (float64 is converted)."""
        if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[-1] != self.input_dim:
            got = f"shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(
                f"x must be a tensor of shape (B, {self.input_dim}); got {got}. A single point needs x.unsqueeze(0)."
            )
        return _validate.real("x", x, like=self.head.weight, cast=True)

    def _encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """forward() without the checks (the training hot path: fit checked the data set once)."""
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
                f"{name} must have shape (N, {self.input_dim}): one data point per row; got shape {tuple(x.shape)}."
            )
        return _validate.data_rows(name, x)

    def loss(self, x: Tensor, beta: float = 1.0, *, check: bool = True) -> LossParts:
        """The negative ELBO of the encoder's q(z | x), averaged over the batch, and its two parts.

            loss = recon + beta * kl,   kl = KL(q(z | x) || N(0, I))  (closed form, lecture 03),
            recon = -ELBO - kl = E_q[-log p(x | z)]  when the model's prior is N(0, I)

        (true of :class:`vaelib.linear_gaussian.LinearGaussianModel`; for another prior ``recon``
        also holds the prior's difference, and ``loss`` at beta = 1 is still exactly -ELBO).

        Args:
            x: data points, shape (B, D).
            beta: the weight of the KL part (1: the ELBO).
            check: validate ``x`` (finite, non-empty, converted to the weights' dtype; one host
                sync). ``vaelib.train.fit`` passes False after checking the data set once
                (:meth:`check_data`).

        Returns:
            :class:`vaelib.objectives.LossParts` of scalars (batch means).
        """
        if self.elbo_fn is None:
            raise ValueError(
                "GaussianEncoder.loss needs the ELBO of the model it encodes for: build it with "
                "GaussianEncoder(..., elbo_fn=model.elbo) or set encoder.elbo_fn = model.elbo."
            )
        beta = _validate.real_number("beta", beta, minimum=0, meaning="the weight of the KL term; 1 is the ELBO")
        if check:
            x = self._input(x)
        mu, scale_tril = self._encode(x)  # (B, K), (B, K, K)
        elbo = self.elbo_fn(x, mu, scale_tril)  # (B,)
        if elbo.shape != (x.shape[0],):
            raise ValueError(
                f"elbo_fn must return one ELBO per point, shape ({x.shape[0]},); got shape {tuple(elbo.shape)}."
            )
        # KL(N(mu, L L^T) || N(0, I)) = 1/2 [||L||_F^2 + ||mu||^2 - K - 2 sum_k log L_kk] (lecture 03,
        # vaelib.kl.full_gaussian_to_std_normal), written out: L comes from forward(), so it is
        # lower-triangular with a positive diagonal by construction and needs no per-step checks.
        log_diag = scale_tril.diagonal(dim1=-2, dim2=-1).log()  # (B, K)
        kl_rows = 0.5 * (scale_tril.pow(2).sum((-2, -1)) + mu.pow(2).sum(-1) - self.latent_dim - 2 * log_diag.sum(-1))
        kl_term = kl_rows.mean()
        recon = -elbo.mean() - kl_term
        return LossParts(loss=recon + beta * kl_term, recon=recon, kl=kl_term)
