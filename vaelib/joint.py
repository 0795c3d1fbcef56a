"""Learning the model and its inference together, on the linear-Gaussian model.

Lecture 04 first fixes the model and asks which q is best. A VAE does not: it maximises the
ELBO over the variational parameters *and* the model parameters theta = (W, b, sigma^2),

    max_{theta, q}  1/N sum_n ELBO_theta(x_n; q_n)
                  = 1/N sum_n [log p_theta(x_n) - KL(q_n || p_theta(z | x_n))],

so the model is free to move towards parameters whose posterior the family of q fits well
(Cremer, Li & Duvenaud 2018: the generative model "accommodates" the choice of approximation). This module trains
probabilistic PCA (the linear-Gaussian model with isotropic noise, whose maximum-likelihood
solution is known in closed form: Tipping & Bishop 1999) three ways:

- :func:`ppca_maximum_likelihood`: the exact maximum of log p_theta(x), the reference;
- :func:`variational_em`: per-point VI, free (mu_n, L_n) for every training point, alternated
  with model updates (coordinate ascent on the ELBO; with the exact posterior it is EM);
- :class:`JointLinearGaussian` (trained by :func:`vaelib.train.fit`, like every model of the course): an amortized encoder trained jointly with
  the model by gradient ascent on the ELBO, as in a VAE.

Sources: Tipping & Bishop (1999), "Probabilistic principal component analysis", JRSS B 61(3),
eqs. 7-8 (Bishop 2006, eqs. 12.45-12.46); Neal & Hinton (1998) (EM as coordinate ascent on the
ELBO); Bishop (2006), Sec. 12.2.2 (EM for PPCA), eqs. 12.54-12.57; Cremer, Li & Duvenaud (2018),
"Inference suboptimality in variational autoencoders", ICML.

Introduced in lecture 04.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor, nn

from vaelib import _validate, kl
from vaelib.factor_em import m_step_regression
from vaelib.linear_gaussian import LinearGaussianModel

__all__ = [
    "ppca_maximum_likelihood",
    "m_step",
    "mean_field_q",
    "model_gradients",
    "VariationalEMFit",
    "variational_em",
    "JointLoss",
    "JointLinearGaussian",
    "posterior_correlation",
]


def _model(name: str, model) -> LinearGaussianModel:
    return _validate.instance(
        name,
        model,
        LinearGaussianModel,
        "a vaelib.linear_gaussian.LinearGaussianModel (e.g. LinearGaussianModel.random(D, K))",
    )


def _data(name: str, x: Tensor, min_rows: int = 2) -> Tensor:
    x = _validate.as_tensor(name, x)
    if x.dim() != 2 or x.shape[0] < min_rows:
        raise ValueError(
            f"{name} must have shape (N, D) with N >= {min_rows} data points, one per row; got "
            f"shape {tuple(x.shape)}. A single point needs {name}.unsqueeze(0)."
        )
    return _validate.finite(name, x)


# ---------------------------------------------------------------------------------------------
# The reference: maximum likelihood in closed form
# ---------------------------------------------------------------------------------------------


def ppca_maximum_likelihood(x: Tensor, latent_dim: int) -> LinearGaussianModel:
    """The maximum-likelihood probabilistic PCA model of data x, in closed form.

    With the sample mean x_bar, the sample covariance C = 1/N sum_n (x_n - x_bar)(x_n - x_bar)^T
    and its eigenvalues lambda_1 >= ... >= lambda_D with unit eigenvectors U (Tipping & Bishop
    1999, eqs. 7-8; Bishop 2006, eqs. 12.45-12.46):

        b = x_bar,   sigma^2 = 1/(D - K) sum_{j > K} lambda_j,   W = U_K (diag(lambda_1..K) - sigma^2 I)^{1/2} R

    for any orthogonal K x K matrix R (log p(x) depends on W only through W W^T); this returns
    R = I, whose columns are orthogonal. It is the global maximum of the log-likelihood.

    Args:
        x: data, shape (N, D), N >= 2.
        latent_dim: K, with 1 <= K < D.

    Returns:
        a :class:`~vaelib.linear_gaussian.LinearGaussianModel` with isotropic noise.

    Raises:
        ValueError: K >= D, or the K-th eigenvalue does not exceed sigma^2 (no K-dim signal).

    Introduced in lecture 04.
    """
    x = _data("x", x)
    K = _validate.positive_int("latent_dim", latent_dim)
    N, D = x.shape
    if K >= D:
        raise ValueError(
            f"latent_dim must be smaller than the data dimension D = {D} (PPCA's noise variance "
            f"is the mean of the D - K smallest eigenvalues); got latent_dim={K}."
        )
    b = x.mean(0)  # (D,)
    centred = x - b  # (N, D)
    eigenvalues, eigenvectors = torch.linalg.eigh(centred.T @ centred / N)  # ascending
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)  # descending
    noise_var = eigenvalues[K:].mean()
    if not eigenvalues[K - 1] > noise_var * (1 + 1e-9):
        raise ValueError(
            f"the data have no {K}-dimensional signal above the noise: eigenvalue {K} of the "
            f"sample covariance ({eigenvalues[K - 1].item():.4g}) does not exceed the noise "
            f"variance {noise_var.item():.4g}. Use a smaller latent_dim."
        )
    W = eigenvectors[:, :K] * (eigenvalues[:K] - noise_var).sqrt()  # (D, K)
    return LinearGaussianModel(W, b, noise_var)


# ---------------------------------------------------------------------------------------------
# Coordinate ascent: the q-step and the M-step
# ---------------------------------------------------------------------------------------------


def m_step(x: Tensor, mu: Tensor, scale_tril: Tensor, *, isotropic: bool = True) -> LinearGaussianModel:
    """The model that maximises the mean ELBO of fixed Gaussians q_n = N(mu_n, L_n L_n^T).

    Only E_q[log p(x | z)] depends on theta. With the augmented latent z~ = (z, 1), loadings
    W~ = [W b], E[z~_n] = (mu_n, 1) and E[z~_n z~_n^T] = [[L_n L_n^T + mu_n mu_n^T, mu_n], [mu_n^T, 1]],
    setting its gradient to zero gives (Bishop 2006, eqs. 12.56-12.57 and 12.69-12.70, there with
    q the exact posterior and b at the sample mean)

        W~ = [sum_n x_n E[z~_n]^T] [sum_n E[z~_n z~_n^T]]^{-1}
        sigma^2 = 1/(N D) sum_n [ ||x_n||^2 - 2 E[z~_n]^T W~^T x_n + tr(E[z~_n z~_n^T] W~^T W~) ]
        Psi_dd = 1/N sum_n [ x_nd^2 - (W~ E[z~_n])_d x_nd ]                         (not isotropic)

    The regression is :func:`vaelib.factor_em.m_step_regression`, the one home of this M-step.
    With q_n the exact posterior this is :meth:`LinearGaussianModel.em_step`; with a diagonal
    q_n it is the M-step of mean-field variational EM.

    Args:
        x: data, shape (N, D), N >= 2.
        mu: the means of q, shape (N, K).
        scale_tril: the Cholesky factors of q's covariances, shape (K, K) (shared) or (N, K, K).
        isotropic: one noise variance (PPCA) rather than one per data dimension (factor analysis).

    Returns:
        a new :class:`~vaelib.linear_gaussian.LinearGaussianModel`.

    Introduced in lecture 04.
    """
    x = _data("x", x)
    isotropic = _validate.flag("isotropic", isotropic)
    N, D = x.shape
    mu = _validate.finite("mu", _validate.as_tensor("mu", mu, like=x, cast=True))
    if mu.dim() != 2 or mu.shape[0] != N:
        raise ValueError(f"mu must have shape (N, K) = ({N}, K), one mean per data point; got {tuple(mu.shape)}.")
    K = mu.shape[1]
    scale_tril = _validate.finite("scale_tril", _validate.as_tensor("scale_tril", scale_tril, like=x, cast=True))
    if scale_tril.dim() >= 2 and scale_tril.shape[-1] == scale_tril.shape[-2]:
        if not torch.equal(scale_tril, scale_tril.tril()):
            raise ValueError(
                "scale_tril must be lower-triangular (a Cholesky factor L of the covariance L L^T); it has "
                "non-zero entries above the diagonal. Use torch.linalg.cholesky(cov), or torch.tril(...)."
            )
        if (scale_tril.diagonal(dim1=-2, dim2=-1) <= 0).any():
            raise ValueError(
                "scale_tril must have a strictly positive diagonal (a Cholesky factor); got a diagonal entry <= 0. "
                "Map the raw diagonal through exp or softplus."
            )
    if scale_tril.shape not in ((K, K), (N, K, K)):
        raise ValueError(
            f"scale_tril must have shape (K, K) = ({K}, {K}) (one covariance for all points) or "
            f"(N, K, K) = ({N}, {K}, {K}); got {tuple(scale_tril.shape)}."
        )
    cov = scale_tril @ scale_tril.transpose(-1, -2)  # (K, K) or (N, K, K)
    sum_cov = N * cov if cov.dim() == 2 else cov.sum(0)  # sum_n L_n L_n^T, (K, K)
    W, b, noise_var = m_step_regression(x, mu, sum_cov, isotropic=isotropic)
    if not (noise_var > 0).all():
        raise ValueError(
            f"the M-step gave a noise variance {noise_var.min().item():.3g} <= 0: q puts the data "
            f"exactly on a {K}-dim subspace. Check that x is not degenerate and that q has positive variances."
        )
    return LinearGaussianModel(W, b, noise_var)


def mean_field_q(model: LinearGaussianModel, x: Tensor) -> tuple[Tensor, Tensor]:
    """The per-point optimum of the ELBO over diagonal Gaussians q_n, in closed form.

    The ELBO's q-dependent part is -KL(q_n || p(z | x_n)) with p(z | x_n) = N(m(x_n), S),
    S^{-1} = Lambda; over diagonal q its minimiser is (Bishop 2006, eq. 10.13; derived in
    lecture 04, section 6)

        mean = m(x_n) (the posterior mean),        variance_k = 1 / Lambda_kk  (every point).

    Lecture 04, section 3 checks that :func:`vaelib.meanfield.fit_per_point` finds it numerically.

    Args:
        model: the current model.
        x: data, shape (N, D).

    Returns:
        the means, shape (N, K), and the shared diagonal Cholesky factor diag(Lambda_kk^{-1/2}), shape (K, K).

    Introduced in lecture 04.
    """
    model = _model("model", model)
    x = _data("x", x, min_rows=1).to(model.W.dtype)
    mu = model.posterior(x).mu  # (N, K)
    return mu, torch.diag(model.posterior_precision().diagonal().rsqrt())


def model_gradients(model: LinearGaussianModel, x: Tensor, mu: Tensor, scale_tril: Tensor) -> dict[str, Tensor]:
    """The gradient of the mean ELBO 1/N sum_n ELBO_theta(x_n; q_n) in (W, b, noise_var), q fixed.

    At an M-step's output every entry is zero: a test that the M-step really maximises the ELBO
    at fixed q (a 1/(N-1) in place of 1/N, say, leaves d/d noise_var nonzero).

    Args:
        model: the model theta at which to differentiate.
        x: data, shape (N, D).
        mu: the means of q, shape (N, K).
        scale_tril: q's Cholesky factors, shape (K, K) or (N, K, K).

    Returns:
        ``{"W": (D, K), "b": (D,), "noise_var": (D,)}``: the partial derivatives (for isotropic
        noise the derivative in the one variance sigma^2 is their sum).

    Introduced in lecture 04.
    """
    model = _model("model", model)
    W = model.W.detach().clone().requires_grad_(True)
    b = model.b.detach().clone().requires_grad_(True)
    noise_var = model.noise_var.detach().clone().requires_grad_(True)
    elbo = LinearGaussianModel(W, b, noise_var).elbo(x, mu, scale_tril).mean()
    grad_W, grad_b, grad_noise = torch.autograd.grad(elbo, (W, b, noise_var))
    return {"W": grad_W, "b": grad_b, "noise_var": grad_noise}


def posterior_correlation(model: LinearGaussianModel) -> float:
    """The largest |correlation| between two latents under the model's posterior p(z | x).

    0 means the posterior is a product of its marginals, so a diagonal q can be exact (its
    approximation gap is 0). The same for every x in a linear-Gaussian model.

    Args:
        model: a linear-Gaussian model.

    Returns:
        max_{j != k} |S_jk| / sqrt(S_jj S_kk), a float in [0, 1) (0 when K = 1).

    Introduced in lecture 04.
    """
    S = _model("model", model).posterior_cov()  # (K, K)
    std = S.diagonal().sqrt()
    corr = S / torch.outer(std, std)  # (K, K)
    off = corr - torch.diag(corr.diagonal())
    return off.abs().max().item()


@dataclass
class VariationalEMFit:
    """What :func:`variational_em` returns.

    Attributes:
        model: the learned model.
        elbo: the mean training ELBO after each q-step, one float per iteration (never decreasing).
        family: ``'diag'`` (mean-field) or ``'full'`` (exact posterior: plain EM).
    """

    model: LinearGaussianModel
    elbo: list = field(default_factory=list)
    family: str = "diag"


def variational_em(
    x: Tensor, init: LinearGaussianModel, *, iters: int, family: str = "diag", isotropic: bool = True
) -> VariationalEMFit:
    """Per-point VI alternated with model updates: coordinate ascent on the ELBO over (q_1..q_N, theta).

    Each iteration: (q-step) give every training point its own optimal q_n in the family for the
    current model (closed form: :func:`mean_field_q` for ``'diag'``, the exact posterior for
    ``'full'``); (M-step) :func:`m_step`, the model maximising the ELBO at those q_n. Neither step
    can lower the ELBO, so ``elbo`` never decreases (Neal & Hinton 1998). With ``'full'`` it is EM.

    Its own loop, not :func:`vaelib.train.fit`: fit takes gradient steps on one set of
    parameters, while here each half-step is an exact maximisation over one block (the N per-point
    q_n, then theta), which is what "per-point VI run to convergence, then a model update" means.

    Args:
        x: training data, shape (N, D).
        init: the starting model.
        iters: the number of (q-step, M-step) iterations, >= 1.
        family: ``'diag'`` or ``'full'``.
        isotropic: one noise variance (PPCA) or one per data dimension.

    Returns:
        a :class:`VariationalEMFit`.

    Introduced in lecture 04.
    """
    init = _model("init", init)
    x = _data("x", x).to(init.W.dtype)
    isotropic = _validate.flag("isotropic", isotropic)
    iters = _validate.positive_int("iters", iters)
    if family not in ("diag", "full"):
        raise ValueError(f"family must be 'diag' (mean-field) or 'full' (exact posterior: EM); got {family!r}.")
    model, history = init, []
    for _ in range(iters):
        if family == "diag":
            mu, scale_tril = mean_field_q(model, x)
        else:
            mu, scale_tril = model.posterior(x)
        history.append(model.elbo(x, mu, scale_tril).mean().item())
        model = m_step(x, mu, scale_tril, isotropic=isotropic)
    return VariationalEMFit(model, history, family)


# ---------------------------------------------------------------------------------------------
# Amortized: an encoder and the model trained together by gradient ascent (a linear VAE)
# ---------------------------------------------------------------------------------------------


class JointLoss(NamedTuple):
    """The mean negative ELBO of a batch and its two parts (the contract of ``vaelib.train.fit``)."""

    loss: Tensor  # recon + beta * kl
    recon: Tensor  # -1/B sum_n E_q[log p(x_n | z)]
    kl: Tensor  # 1/B sum_n KL(q(z | x_n) || N(0, I))


class JointLinearGaussian(nn.Module):
    """A linear-Gaussian model and an encoder, as one module trained on the negative ELBO.

        loss(x) = 1/B sum_n [ -E_q[log p_theta(x_n | z)] + beta KL(q_phi(z | x_n) || N(0, I)) ]

    with both terms in closed form (:meth:`LinearGaussianModel.expected_log_likelihood`,
    :func:`vaelib.kl.full_gaussian_to_std_normal`), so the gradient is exact. The parameters are
    W (D, K), b (D,), the log noise variance (a number, or (D,) if not isotropic), and the
    encoder's. ``loss(x, beta)`` returns ``(loss, recon, kl)``: the contract of
    :func:`vaelib.train.fit`.

    Args:
        init: the starting model (its W, b and noise are copied).
        encoder: a module x (B, D) -> (mu (B, K), scale_tril (B, K, K)), e.g.
            :class:`vaelib.meanfield.GaussianEncoder`.
        isotropic: one noise variance (PPCA) rather than one per data dimension.

    Introduced in lecture 04.
    """

    def __init__(self, init: LinearGaussianModel, encoder: nn.Module, *, isotropic: bool = True) -> None:
        super().__init__()
        if not isinstance(init, LinearGaussianModel):
            raise TypeError(f"init must be a LinearGaussianModel; got {type(init).__name__}.")
        isotropic = _validate.flag("isotropic", isotropic)
        if not isinstance(encoder, nn.Module):
            raise TypeError(
                f"encoder must be an nn.Module mapping x to (mu, scale_tril); got {type(encoder).__name__}."
            )
        self.W = nn.Parameter(init.W.detach().clone())  # (D, K)
        self.b = nn.Parameter(init.b.detach().clone())  # (D,)
        log_noise = init.noise_var.detach().log()  # (D,)
        self.log_noise_var = nn.Parameter(log_noise.mean().reshape(()) if isotropic else log_noise.clone())
        self.encoder = encoder.to(init.W.dtype)

    def model(self) -> LinearGaussianModel:
        """The current model theta as a :class:`LinearGaussianModel` (differentiable in the parameters)."""
        return LinearGaussianModel(self.W, self.b, self.log_noise_var.exp().expand(self.W.shape[0]))

    def learned_model(self) -> LinearGaussianModel:
        """A detached copy of the current model, to evaluate (exact log p(x), posterior)."""
        with torch.no_grad():
            return LinearGaussianModel(
                self.W.clone(), self.b.clone(), self.log_noise_var.exp().expand(self.W.shape[0]).clone()
            )

    def loss(self, x: Tensor, beta: float = 1.0) -> JointLoss:
        """The mean negative (beta-)ELBO of a batch x of shape (B, D), with its parts."""
        beta = _validate.real_number("beta", beta, minimum=0, meaning="the weight of the KL term; 1 is the ELBO")
        model = self.model()
        mu, scale_tril = self.encoder(x)  # (B, K), (B, K, K)
        recon = -model.expected_log_likelihood(x, mu, scale_tril).mean()
        kl_term = kl.full_gaussian_to_std_normal(mu, scale_tril).mean()
        return JointLoss(recon + beta * kl_term, recon, kl_term)

    def elbo(self, x: Tensor) -> Tensor:
        """The ELBO of every point under the current model and encoder, shape (B,) (no gradient)."""
        with torch.no_grad():
            return self.learned_model().elbo(x, *self.encoder(x))
