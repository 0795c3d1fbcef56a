"""EM for the linear-Gaussian model (factor analysis, PPCA): the M-step regression, soft and hard EM.

The M-step of a linear-Gaussian model is one regression of x on the augmented latent
z~ = (z, 1), whatever Gaussians q_n supply E[z~_n] and E[z~_n z~_n^T]: the exact posterior (EM,
:meth:`vaelib.linear_gaussian.LinearGaussianModel.em_step`), point masses at its mode (hard EM),
or any fixed q_n (:func:`vaelib.joint.m_step`, variational EM). :func:`m_step_regression` is that
regression, written once. Sources: Bishop (2006), Secs. 9.4 and 12.2; Ghahramani & Hinton (1996).
Introduced in lecture 04.
"""

from __future__ import annotations

import torch
from torch import Tensor

from vaelib import _validate

__all__ = ["m_step_regression", "em_update"]


def m_step_regression(
    x: Tensor, mu: Tensor, sum_cov: Tensor | None, *, isotropic: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """The (W, b, noise_var) maximising sum_n E_q[log N(x_n; W z_n + b, Psi)] for Gaussians q_n.

    With z~ = (z, 1), loadings W~ = [W b], E[z~_n] = (mu_n, 1) and
    sum_n E[z~_n z~_n^T] = sum_n E[z~_n] E[z~_n]^T + [[sum_cov, 0], [0, 0]]:

        W~       = [sum_n x_n E[z~_n]^T] [sum_n E[z~_n z~_n^T]]^{-1}
        sigma^2  = 1/(N D) sum_n [ ||x_n||^2 - 2 E[z~_n]^T W~^T x_n + tr(E[z~_n z~_n^T] W~^T W~) ]   (PPCA)
        Psi_dd   = 1/N sum_n [ x_nd^2 - (W~ E[z~_n])_d x_nd ]                          (factor analysis)

    Bishop (2006), eqs. 12.56-12.57 and 12.69-12.70 (there with b at the sample mean).

    Args:
        x: data, shape (N, D) (checked by the caller).
        mu: the means E_q[z_n], shape (N, K).
        sum_cov: sum_n Cov_q[z_n], shape (K, K), or None for point masses (hard EM).
        isotropic: one noise variance (PPCA) rather than one per data dimension.

    Returns:
        ``W (D, K)``, ``b (D,)`` and ``noise_var`` (a scalar tensor if isotropic, else (D,)),
        not yet checked to be positive.
    """
    N, K = mu.shape
    z_aug = torch.cat([mu, torch.ones(N, 1, dtype=x.dtype)], dim=1)  # E[z~_n], (N, K+1)
    sum_zz = z_aug.T @ z_aug  # (K+1, K+1)
    if sum_cov is not None:
        sum_zz[:K, :K] += sum_cov  # sum_n E[z~_n z~_n^T]
    sum_xz = x.T @ z_aug  # sum_n x_n E[z~_n]^T, (D, K+1)
    W_aug = torch.linalg.solve(sum_zz, sum_xz.T).T  # sum_xz sum_zz^{-1} (sum_zz symmetric), (D, K+1)
    if isotropic:
        total = (x**2).sum() - 2.0 * (z_aug * (x @ W_aug)).sum() + (sum_zz * (W_aug.T @ W_aug)).sum()
        noise_var = total / (N * x.shape[1])
    else:
        noise_var = (x**2).mean(0) - (W_aug * sum_xz).sum(-1) / N  # (D,)
    return W_aug[:, :K], W_aug[:, K], noise_var


def em_update(model, x: Tensor, *, isotropic: bool = False, point_mass: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """One EM iteration of a linear-Gaussian ``model`` on data x: the new (W, b, noise_var).

    EM is coordinate ascent on the ELBO L(q, theta) = log p_theta(x) - KL(q || p_theta(z | x))
    (Neal & Hinton 1998).
    E-step: q(z_n) = p(z_n | x_n) under the current model, with E[z_n] = m_n and
    E[z_n z_n^T] = S + m_n m_n^T. The bound is then tight: ELBO(q) = log p(x).
    M-step: maximise sum_n E_q[log N(x_n; W z_n + b, Psi)] over (W, b, Psi) jointly, by
    regressing x on the augmented latent z~ = (z, 1) with loadings W~ = [W b]:

        W~_new   = [sum_n x_n E[z~_n]^T] [sum_n E[z~_n z~_n^T]]^{-1}
        Psi_new  = diag( (1/N) sum_n (x_n x_n^T - W~_new E[z~_n] x_n^T) )        (factor analysis)
        sigma2_new = 1/(N D) sum_n ( ||x_n||^2 - 2 E[z~_n]^T W~_new^T x_n
                                     + tr(E[z~_n z~_n^T] W~_new^T W~_new) )    (PPCA)

    Each step cannot decrease the log-likelihood: log p_new(x) >= ELBO(q, new) >=
    ELBO(q, old) = log p_old(x). Bishop (2006), Secs. 9.4 and 12.2 (eqs. 12.54-12.57 for
    PPCA, 12.66-12.70 for factor analysis, there with b fixed at the sample mean);
    Ghahramani & Hinton (1996), "The EM algorithm for mixtures of factor analyzers" (the
    augmented latent).

    With ``point_mass=True`` this is *hard* (MAP) EM instead: q(z_n) is a point mass at the
    posterior mode m_n, so E[z_n z_n^T] = m_n m_n^T (the posterior covariance S is dropped)
    and the M-step is least-squares regression of x on (m_n, 1). That is coordinate ascent
    on J(z, theta) = sum_n log p_theta(x_n, z_n), which is *not* a lower bound on
    log p_theta(x) for a continuous z: J - log p_theta(x) = sum_n log p_theta(z_n | x_n), a
    log-density that rewards sharply peaked posteriors, so hard EM can drive a noise variance
    to zero, where J is unbounded. Introduced in lecture 04.

    Args:
        model: a :class:`~vaelib.linear_gaussian.LinearGaussianModel` (its posterior gives the E-step).
        x: training data, shape (N, D), N >= 2.
        isotropic: keep the noise isotropic (PPCA) instead of diagonal (factor analysis).
        point_mass: hard EM: q(z_n) = a point mass at the posterior mode.

    Returns:
        ``(W (D, K), b (D,), noise_var (D,))`` of the updated model
        (:meth:`vaelib.linear_gaussian.LinearGaussianModel.em_step` builds it).

    Raises:
        ValueError: if the M-step gives a noise variance that is not positive (hard EM's
            collapse, or a data dimension that is constant).
    """
    isotropic, point_mass = _validate.flag("isotropic", isotropic), _validate.flag("point_mass", point_mass)
    if x.dim() != 2 or x.shape[0] < 2:
        raise ValueError(f"x must have shape (N, D) with N >= 2 data points; got shape {tuple(x.shape)}.")
    posterior = model.posterior(x)  # E-step
    sum_cov = None if point_mass else x.shape[0] * posterior.cov  # sum_n Cov[z_n | x_n], (K, K)
    W, b, noise_var = m_step_regression(x, posterior.mu, sum_cov, isotropic=isotropic)  # M-step
    noise_var = noise_var.expand(model.data_dim)  # (D,)
    if not (noise_var > 0).all():
        d = int(noise_var.argmin())
        cause = (
            "hard EM has collapsed: a point-mass q makes the objective sum_n log p(x_n, z_n) "
            "unbounded as a noise variance goes to 0 (see lecture 04); use point_mass=False"
            if point_mass
            else f"check that data dimension {d} is not constant"
        )
        raise ValueError(
            f"the M-step gave noise variance {noise_var[d].item():.3g} <= 0 in data dimension {d}: {cause}."
        )
    return W, b, noise_var
