"""The linear-Gaussian latent model: everything about it is known in closed form.

    z ~ N(0, I_K),        x | z ~ N(W z + b, Psi),        Psi = diag(noise_var)

With a diagonal ``Psi`` this is factor analysis; with ``Psi = sigma^2 I`` it is probabilistic
PCA (Tipping & Bishop 1999). Because every distribution in it is Gaussian, the exact posterior
p(z | x), the exact marginal likelihood log p(x) and the ELBO of any Gaussian q(z | x) all
have closed forms. That makes it the test bed of lecture 04, where it measures the
approximation and amortization gaps of variational inference exactly.

Sources: Bishop (2006), *Pattern Recognition and Machine Learning*, Sec. 2.3.3 (Bayes' theorem
for Gaussian variables, eqs. 2.113-2.117) and Sec. 12.2 (probabilistic PCA and factor
analysis, with their EM algorithms); Tipping & Bishop (1999), "Probabilistic principal
component analysis", JRSS B 61(3).

Introduced in lecture 04.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from vaelib import _validate, factor_em, gaussians, kl

__all__ = ["GaussianPosterior", "LinearGaussianModel"]

LOG_2PI = gaussians.LOG_2PI  # kept importable; the Gaussian log-density itself is gaussians'


class GaussianPosterior(NamedTuple):
    """The exact posterior p(z | x) = N(mu, scale_tril scale_tril^T) of a batch of points.

    The covariance does not depend on x in a linear-Gaussian model, so ``scale_tril`` is one
    (K, K) matrix shared by the whole batch.

    Attributes:
        mu: posterior means, shape (..., K).
        scale_tril: lower Cholesky factor of the posterior covariance, shape (K, K).
    """

    mu: Tensor
    scale_tril: Tensor

    @property
    def cov(self) -> Tensor:
        """The posterior covariance S = scale_tril scale_tril^T, shape (K, K)."""
        return self.scale_tril @ self.scale_tril.transpose(-1, -2)


def _last_dim(name: str, t: Tensor, size: int, meaning: str) -> Tensor:
    """Raise a ValueError unless ``t`` has at least one dimension and its last one is ``size``."""
    if t.dim() == 0 or t.shape[-1] != size:
        raise ValueError(
            f"{name} must have shape (..., {size}) ({meaning}); got shape {tuple(t.shape)}. "
            f"Pass one row per data point, e.g. shape (B, {size}); a single point needs "
            f"{name}.unsqueeze(0)."
        )
    return t


class LinearGaussianModel:
    """A linear-Gaussian latent model (factor analysis; probabilistic PCA if isotropic).

        p(z) = N(z; 0, I_K),    p(x | z) = N(x; W z + b, Psi),    Psi = diag(noise_var)

    Args:
        W: factor loadings, shape (D, K): column k is the direction latent k moves x in.
        b: data mean, shape (D,); ``None`` means zeros.
        noise_var: the observation noise variances, a number (isotropic noise, PPCA) or a
            tensor of shape (D,) (factor analysis). Strictly positive.

    The model's dtype is that of ``W`` (use float64 where you compare against an oracle).

    Sources: Bishop (2006), Sec. 12.2; Tipping & Bishop (1999). Introduced in lecture 04.
    """

    def __init__(self, W: Tensor, b: Tensor | None = None, noise_var: float | Tensor = 1.0) -> None:
        W = _validate.as_tensor("W", W)
        if W.dim() != 2:
            raise ValueError(
                f"W must be a matrix of shape (D, K) (data dims, latent dims); got shape "
                f"{tuple(W.shape)}. For one latent dimension use W.reshape(-1, 1)."
            )
        _validate.finite("W", W)
        D, K = W.shape
        if D == 0 or K == 0:
            raise ValueError(f"W must have D >= 1 rows and K >= 1 columns; got shape {tuple(W.shape)}.")
        b = torch.zeros(D, dtype=W.dtype) if b is None else _validate.as_tensor("b", b, like=W).to(W.dtype)
        if b.shape != (D,):
            raise ValueError(
                f"b must have shape (D,) = ({D},), one mean per data dimension; got shape "
                f"{tuple(b.shape)}. W has shape {tuple(W.shape)}, so D = {D}."
            )
        _validate.finite("b", b)
        if isinstance(noise_var, (int, float)) and not isinstance(noise_var, bool):
            _validate.positive_number("noise_var", noise_var)
        noise_var = _validate.as_tensor("noise_var", noise_var, like=W).to(W.dtype)
        if noise_var.shape not in ((), (1,), (D,)):
            raise ValueError(
                f"noise_var must be a number (isotropic noise) or have shape (D,) = ({D},) "
                f"(one variance per data dimension); got shape {tuple(noise_var.shape)}."
            )
        _validate.finite("noise_var", noise_var)
        _validate.positive("noise_var", noise_var)
        self.W = W  # (D, K)
        self.b = b  # (D,)
        self.noise_var = noise_var.expand(D).clone()  # (D,)

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def random(
        cls,
        data_dim: int,
        latent_dim: int,
        *,
        noise_var: float = 0.5,
        correlation: float = 0.0,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
    ) -> "LinearGaussianModel":
        """A model with random loadings, zero mean and isotropic noise (a test or demo model).

        Column k of W is ``sqrt(1 - correlation) g_k + sqrt(correlation) g_0`` with independent
        standard normal vectors g_0, ..., g_K, so that a ``correlation`` near 1 makes the columns
        nearly parallel and the exact posterior strongly correlated.

        Args:
            data_dim: D >= 1.
            latent_dim: K >= 1.
            noise_var: the isotropic noise variance, > 0.
            correlation: in [0, 1): how much the columns of W share a common direction.
            generator: the random number generator (for reproducible models).
            dtype: the floating dtype (default: torch's default dtype).

        Returns:
            a :class:`LinearGaussianModel` with W of shape (D, K), b = 0 and the given noise.
        """
        D = _validate.positive_int("data_dim", data_dim)
        K = _validate.positive_int("latent_dim", latent_dim)
        _validate.positive_number("noise_var", noise_var)
        correlation = _validate.number("correlation", correlation, low=0.0, high=1.0)
        if correlation == 1.0:
            raise ValueError("correlation must be a number in [0, 1); got 1.0 (parallel columns: a rank-1 W).")
        dtype = dtype or torch.get_default_dtype()
        g = torch.randn(D, K + 1, generator=_validate.generator(generator), dtype=dtype)
        W = math.sqrt(1.0 - correlation) * g[:, 1:] + math.sqrt(correlation) * g[:, :1]  # (D, K)
        return cls(W, None, noise_var)

    @property
    def data_dim(self) -> int:
        """D, the number of observed dimensions."""
        return self.W.shape[0]

    @property
    def latent_dim(self) -> int:
        """K, the number of latent dimensions."""
        return self.W.shape[1]

    def __repr__(self) -> str:
        return f"LinearGaussianModel(data_dim={self.data_dim}, latent_dim={self.latent_dim}, dtype={self.W.dtype})"

    # -- input checks ------------------------------------------------------------------------

    # The contract of every method: tensors are converted to the model's dtype (that of W),
    # must be finite and non-empty, and end in D (observations) or K (latents) dimensions.

    def _x(self, x: Tensor) -> Tensor:
        x = _validate.real("x", x, like=self.W, cast=True)
        return _last_dim("x", x, self.data_dim, "D observed dimensions")

    def _z(self, z: Tensor, name: str = "z") -> Tensor:
        z = _validate.real(name, z, like=self.W, cast=True)
        return _last_dim(name, z, self.latent_dim, "K latent dimensions")

    def _scale_tril(self, scale_tril: Tensor, mu: Tensor) -> Tensor:
        K = self.latent_dim
        scale_tril = _validate.as_tensor("scale_tril", scale_tril, like=self.W, cast=True)
        if scale_tril.dim() < 2 or scale_tril.shape[-2:] != (K, K):
            raise ValueError(
                f"scale_tril must have shape (..., K, K) = (..., {K}, {K}), a lower-triangular "
                f"factor of each covariance; got shape {tuple(scale_tril.shape)}. For a "
                f"diagonal Gaussian pass torch.diag_embed(std)."
            )
        # lower-triangular with a positive diagonal: a general factor would give a wrong ELBO
        return _validate.scale_tril("scale_tril", scale_tril, "mu", mu)

    # -- the generative model ----------------------------------------------------------------

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Draw n pairs (x, z) from the joint p(z) p(x | z).

        Args:
            n: the number of samples, >= 1.
            generator: the random number generator (for reproducible data).

        Returns:
            x of shape (n, D) and z of shape (n, K).
        """
        n = _validate.positive_int("n", n)
        generator = _validate.generator(generator)
        z = _validate.randn((n, self.latent_dim), self.W, generator)  # (n, K)
        noise = _validate.randn((n, self.data_dim), self.W, generator)  # (n, D)
        x = z @ self.W.T + self.b + noise * self.noise_var.sqrt()  # (n, D)
        return x, z

    def log_prior(self, z: Tensor) -> Tensor:
        """log p(z) = log N(z; 0, I_K) = -1/2 (K log 2 pi + ||z||^2).

        Args:
            z: latents, shape (..., K).

        Returns:
            shape (...,).
        """
        z = self._z(z)
        return gaussians.diag_log_density(z, torch.zeros_like(z), torch.zeros_like(z))

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x | z) = sum_d log N(x_d; (W z + b)_d, noise_var_d).

        Args:
            x: observations, shape (..., D).
            z: latents, shape (..., K), broadcastable against x's batch shape.

        Returns:
            shape: the broadcast batch shape of x and z.
        """
        x, z = self._x(x), self._z(z)
        return gaussians.diag_log_density(x, z @ self.W.T + self.b, self.noise_var.log())

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x, z) = log p(z) + log p(x | z).

        Args:
            x: observations, shape (..., D).
            z: latents, shape (..., K), broadcastable against x's batch shape (e.g. x of
                shape (B, 1, D) with z of shape (G, K) evaluates every point on a grid).

        Returns:
            shape: the broadcast batch shape of x and z.
        """
        return self.log_prior(z) + self.log_likelihood(x, z)

    # -- exact inference ---------------------------------------------------------------------

    def posterior_precision(self) -> Tensor:
        """The posterior precision Lambda = I_K + W^T Psi^{-1} W, shape (K, K).

        It does not depend on x. Bishop (2006), eq. 2.116 with A = W, L = Psi^{-1}, and prior
        precision I (Bishop's PPCA matrix M = W^T W + sigma^2 I of eq. 12.41 is sigma^2 Lambda).
        """
        W_scaled = self.W / self.noise_var[:, None]  # Psi^{-1} W, (D, K)
        eye = torch.eye(self.latent_dim, dtype=self.W.dtype)
        return eye + self.W.T @ W_scaled  # (K, K)

    def posterior_cov(self) -> Tensor:
        """The posterior covariance S = Lambda^{-1} = (I_K + W^T Psi^{-1} W)^{-1}, shape (K, K)."""
        return torch.cholesky_inverse(torch.linalg.cholesky(self.posterior_precision()))

    def posterior(self, x: Tensor) -> GaussianPosterior:
        """The exact posterior p(z | x) = N(m(x), S).

            S = (I_K + W^T Psi^{-1} W)^{-1},        m(x) = S W^T Psi^{-1} (x - b)

        The mean is linear in x, which is why a linear encoder can represent it exactly.
        Bishop (2006), eqs. 2.116-2.117 (eq. 12.42 for PPCA).

        Args:
            x: observations, shape (..., D).

        Returns:
            a :class:`GaussianPosterior` with ``mu`` of shape (..., K) and ``scale_tril`` of
            shape (K, K) (its ``cov`` property gives S).
        """
        x = self._x(x)
        cov = self.posterior_cov()  # (K, K)
        gain = (self.W / self.noise_var[:, None]) @ cov  # Psi^{-1} W S, (D, K)
        mu = (x - self.b) @ gain  # (..., K)
        return GaussianPosterior(mu, torch.linalg.cholesky(cov))

    def marginal(self) -> tuple[Tensor, Tensor]:
        """The marginal p(x) = N(x; b, C) with C = W W^T + Psi (Bishop 2006, eq. 2.115 / 12.35).

        Returns:
            the mean b, shape (D,), and the covariance C, shape (D, D).
        """
        return self.b, self.W @ self.W.T + torch.diag(self.noise_var)

    def log_marginal(self, x: Tensor) -> Tensor:
        """The exact log-likelihood log p(x) = log N(x; b, W W^T + Psi).

        Computed in O(D K^2) through the posterior precision Lambda = I + W^T Psi^{-1} W:
        the matrix determinant lemma gives log det C = log det Psi + log det Lambda, and the
        Woodbury identity gives, with r = x - b and u = W^T Psi^{-1} r,

            r^T C^{-1} r = r^T Psi^{-1} r - u^T Lambda^{-1} u,

            log p(x) = -1/2 (D log 2 pi + log det C + r^T C^{-1} r).

        Bishop (2006), eqs. 2.115, C.7 (Woodbury) and 12.35.

        Args:
            x: observations, shape (..., D).

        Returns:
            shape (...,).
        """
        x = self._x(x)
        residual = x - self.b  # (..., D)
        chol = torch.linalg.cholesky(self.posterior_precision())  # (K, K)
        u = (residual / self.noise_var) @ self.W  # W^T Psi^{-1} r, (..., K)
        whitened = torch.linalg.solve_triangular(chol, u.unsqueeze(-1), upper=False).squeeze(-1)  # (..., K)
        mahalanobis = (residual**2 / self.noise_var).sum(-1) - (whitened**2).sum(-1)  # (...,)
        log_det = self.noise_var.log().sum() + 2.0 * chol.diagonal().log().sum()
        return -0.5 * (self.data_dim * LOG_2PI + log_det + mahalanobis)

    # -- the ELBO of a Gaussian q(z | x) -----------------------------------------------------

    def expected_log_likelihood(self, x: Tensor, mu: Tensor, scale_tril: Tensor) -> Tensor:
        """E_{q}[log p(x | z)] for q(z) = N(mu, L L^T), in closed form.

        With z = mu + L eps, W z + b - x has mean W mu + b - x and covariance W L L^T W^T, so

            E_q[log p(x|z)] = -1/2 sum_d [ log(2 pi Psi_dd)
                                           + ((x - W mu - b)_d^2 + (W L L^T W^T)_dd) / Psi_dd ].

        Args:
            x: observations, shape (..., D).
            mu: means of q, shape (..., K).
            scale_tril: lower Cholesky factors of q's covariances, shape (..., K, K) or (K, K).

        Returns:
            shape: the broadcast batch shape.
        """
        x, mu = self._x(x), self._z(mu, "mu")
        scale_tril = self._scale_tril(scale_tril, mu)
        spread = ((self.W @ scale_tril) ** 2).sum(-1)  # diag(W L L^T W^T), (..., D)
        log_density = gaussians.diag_log_density(x, mu @ self.W.T + self.b, self.noise_var.log())  # at z = mu
        return log_density - 0.5 * (spread / self.noise_var).sum(-1)

    def elbo(self, x: Tensor, mu: Tensor, scale_tril: Tensor) -> Tensor:
        """The ELBO of q(z | x) = N(mu, L L^T), in closed form (no sampling).

            ELBO = E_q[log p(x | z)] - KL(q(z | x) || N(0, I))  <=  log p(x),

        with equality exactly when q is the posterior. The KL term is
        :func:`vaelib.kl.full_gaussian_to_std_normal` (lecture 03).

        Args:
            x: observations, shape (..., D).
            mu: means of q, shape (..., K).
            scale_tril: lower Cholesky factors (positive diagonal), shape (..., K, K) or (K, K).

        Returns:
            one ELBO per point, shape: the broadcast batch shape of x and mu.
        """
        x, mu = self._x(x), self._z(mu, "mu")
        scale_tril = self._scale_tril(scale_tril, mu)
        batch = _validate.broadcastable(("x", "mu"), (x[..., :1], mu[..., :1]))[:-1]
        batch = torch.broadcast_shapes(batch, scale_tril.shape[:-2])
        K = self.latent_dim
        mu_b = mu.expand(*batch, K).reshape(-1, K)  # (N, K)
        tril_b = scale_tril.expand(*batch, K, K).reshape(-1, K, K)  # (N, K, K)
        kl_term = kl.full_gaussian_to_std_normal(mu_b, tril_b).reshape(batch)
        return self.expected_log_likelihood(x, mu, scale_tril) - kl_term

    def elbo_diag(self, x: Tensor, mu: Tensor, log_var: Tensor) -> Tensor:
        """The ELBO of a diagonal Gaussian q(z | x) = N(mu, diag(exp(log_var))), in closed form.

        Same as :meth:`elbo` with ``scale_tril = diag(exp(log_var / 2))``.

        Args:
            x: observations, shape (..., D).
            mu: means, shape (..., K).
            log_var: log-variances, shape (..., K).

        Returns:
            one ELBO per point, shape: the broadcast batch shape.
        """
        log_var = self._z(log_var, "log_var")
        return self.elbo(x, mu, torch.diag_embed((0.5 * log_var).exp()))

    # -- learning the model: EM (vaelib.factor_em) -------------------------------------------

    def em_step(self, x: Tensor, *, isotropic: bool = False, point_mass: bool = False) -> "LinearGaussianModel":
        """One EM iteration on data x; returns the updated model (this one is unchanged).

        Soft EM (the exact posterior as q), or hard EM with ``point_mass=True``; factor analysis,
        or PPCA with ``isotropic=True``. The algorithm, its sources and its failure mode are
        described at :func:`vaelib.factor_em.em_update`. Introduced in lecture 04.

        Args:
            x: training data, shape (N, D), N >= 2.
            isotropic: keep the noise isotropic (PPCA) instead of diagonal (factor analysis).
            point_mass: hard EM: q(z_n) = a point mass at the posterior mode.

        Returns:
            a new :class:`LinearGaussianModel`.
        """
        x = self._x(x)
        return LinearGaussianModel(*factor_em.em_update(self, x, isotropic=isotropic, point_mass=point_mass))
