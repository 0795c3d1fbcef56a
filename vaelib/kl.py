"""Kullback-Leibler divergences between Gaussians, in closed form, and a Monte Carlo KL.

Every closed form is written as a sum of terms that are each >= 0 (``expm1(a) - a`` for a
log-variance ratio ``a``, squares), so a KL is never negative from rounding and stays accurate
in float32 (within 1e-5 relative, tested) for log-variances from -20 to 10. Introduced in
lectures 03 and 05.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import Distribution

from vaelib import _validate

__all__ = [
    "diag_gaussian_to_std_normal",
    "diag_gaussian_to_std_normal_per_dim",
    "full_gaussian_to_std_normal",
    "diag_gaussian_to_diag_gaussian",
    "gaussian_to_gaussian",
    "monte_carlo_kl",
]


def _variance_term(log_ratio: Tensor) -> Tensor:
    """r - 1 - log r for r = exp(log_ratio), computed as expm1(log_ratio) - log_ratio (>= 0)."""
    return torch.expm1(log_ratio) - log_ratio


def _check_vectors(names: tuple[str, ...], tensors: tuple) -> tuple[tuple[Tensor, ...], torch.Size]:
    """Tensors of shape (..., K) that broadcast, finite; returns them and the broadcast shape."""
    out = []
    for name, t in zip(names, tensors):
        like = out[0] if out else None
        t = _validate.real(
            name, t, like=like, dims=1, meaning="(..., K), the last one the K latent dimensions", allow_empty=True
        )  # one KL per row: an empty batch gives an empty result
        out.append(t)
    shape = _validate.broadcastable(names, out)
    return tuple(out), shape


def diag_gaussian_to_std_normal(mu: Tensor, log_var: Tensor) -> Tensor:
    """KL(N(mu, diag exp(log_var)) || N(0, I)), one value per row, summed over K.

    KL = 1/2 sum_k [exp(log_var_k) + mu_k^2 - 1 - log_var_k]

    Source: Kingma & Welling 2014, Appendix B (there as -KL). Computed with
    ``expm1(log_var) - log_var`` so that each term is >= 0 and accurate near log_var = 0.
    Introduced in lecture 03; used by the VAE loss in lecture 05.

    Args:
        mu: means, shape ``(B, K)`` (any ``(..., K)``).
        log_var: log-variances, a shape that broadcasts with ``mu``.

    Returns:
        KL per row, shape ``(B,)`` (the broadcast shape without its last dimension).

    Raises:
        ValueError: NaN or inf; shapes that do not broadcast; a 0-d input.
    """
    return diag_gaussian_to_std_normal_per_dim(mu, log_var).sum(-1)


def diag_gaussian_to_std_normal_per_dim(mu: Tensor, log_var: Tensor) -> Tensor:
    """KL(N(mu_k, exp(log_var_k)) || N(0, 1)) for each latent dimension k, not summed.

    KL_k = 1/2 [exp(log_var_k) + mu_k^2 - 1 - log_var_k]

    The terms of :func:`diag_gaussian_to_std_normal` (their sum over the last dimension), for a
    per-dimension KL plot or the active units of a VAE (Burda et al. 2016). Same contract and
    source (Kingma & Welling 2014, Appendix B). Introduced in lecture 05.

    Args:
        mu: means, shape ``(B, K)`` (any ``(..., K)``).
        log_var: log-variances, a shape that broadcasts with ``mu``.

    Returns:
        KL per row and dimension, shape ``broadcast(mu, log_var).shape`` e.g. ``(B, K)``.

    Raises:
        ValueError: NaN or inf; shapes that do not broadcast; a 0-d or empty input.
    """
    (mu, log_var), _ = _check_vectors(("mu", "log_var"), (mu, log_var))
    return 0.5 * (_variance_term(log_var) + mu.pow(2))  # (..., K), each term >= 0


def diag_gaussian_to_std_normal_unchecked(mu: Tensor, log_var: Tensor) -> Tensor:
    """:func:`diag_gaussian_to_std_normal` without its input checks, for a training loop's hot path.

    The checks look at every value (a reduction, and on a GPU a host sync, per tensor per
    step); a training loop that checks its loss for NaN once per epoch (``vaelib.train.fit``)
    does not need them. Same formula, same shapes; garbage in, garbage out.
    """
    variance_term = _variance_term(log_var)  # (..., K): exp(lv) - 1 - lv >= 0
    mahalanobis = mu.pow(2)  # (..., K)
    return 0.5 * (variance_term + mahalanobis).sum(-1)  # (...)


def full_gaussian_to_std_normal(mu: Tensor, scale_tril: Tensor) -> Tensor:
    """KL(N(mu, L L^T) || N(0, I)) for a lower-triangular L with positive diagonal.

    KL = 1/2 [tr(Sigma) + mu^T mu - K - log det Sigma]
       = 1/2 [||L||_F^2 + mu^T mu - K - 2 sum_i log L_ii]

    since tr(L L^T) = ||L||_F^2 and log det(L L^T) = 2 sum_i log L_ii. Computed as
    1/2 [sum_i (L_ii^2 - 1 - log L_ii^2) + sum_{i>j} L_ij^2 + mu^T mu], each term >= 0;
    with a diagonal L it is exactly :func:`diag_gaussian_to_std_normal` with
    log_var = 2 log diag(L). Source: the Gaussian KL (Bishop 2006, Exercise 2.13; Rasmussen &
    Williams 2006, Eq. A.23; Kingma & Welling 2014, Appendix B for the diagonal case), derived
    step by step in lecture 03. Introduced in lecture 03.

    Args:
        mu: means, shape ``(..., K)``.
        scale_tril: Cholesky factors L, shape ``(..., K, K)``; batch dimensions broadcast.

    Returns:
        KL per row, shape ``(...)``.

    Raises:
        ValueError: ``scale_tril`` not square, not lower-triangular, or with a diagonal
            entry <= 0; K mismatch; NaN or inf; batch shapes that do not broadcast.
    """
    mu = _validate.real("mu", mu, dims=1, meaning="(..., K), the last one the K latent dimensions", allow_empty=True)
    scale_tril = _validate.scale_tril("scale_tril", scale_tril, "mu", mu)
    log_diag = torch.log(scale_tril.diagonal(dim1=-2, dim2=-1))  # (..., K)
    variance_term = _variance_term(2 * log_diag).sum(-1)  # (...): L_ii^2 - 1 - log L_ii^2
    off_diagonal_term = torch.tril(scale_tril, diagonal=-1).pow(2).sum((-2, -1))  # (...)
    mahalanobis = mu.pow(2).sum(-1)  # (...)
    return 0.5 * (variance_term + off_diagonal_term + mahalanobis)


def diag_gaussian_to_diag_gaussian(mu_q: Tensor, log_var_q: Tensor, mu_p: Tensor, log_var_p: Tensor) -> Tensor:
    """KL(N(mu_q, diag exp(log_var_q)) || N(mu_p, diag exp(log_var_p))), summed over K.

    KL = 1/2 sum_k [exp(log_var_q - log_var_p) - 1 - (log_var_q - log_var_p)
                    + (mu_q - mu_p)^2 exp(-log_var_p)]

    Source: the univariate Gaussian KL summed over independent dimensions (e.g. Bishop 2006,
    Exercise 1.30). Introduced in lecture 03 (a learned prior, lecture 05).

    Args:
        mu_q, log_var_q: the first Gaussian, shapes ``(..., K)``.
        mu_p, log_var_p: the second Gaussian, shapes ``(..., K)``; all four broadcast.

    Returns:
        KL per row, shape ``(...)``.

    Raises:
        ValueError: NaN or inf; shapes that do not broadcast.
    """
    names = ("mu_q", "log_var_q", "mu_p", "log_var_p")
    (mu_q, log_var_q, mu_p, log_var_p), _ = _check_vectors(names, (mu_q, log_var_q, mu_p, log_var_p))
    variance_term = _variance_term(log_var_q - log_var_p)  # (..., K)
    mahalanobis = (mu_q - mu_p).pow(2) * torch.exp(-log_var_p)  # (..., K)
    return 0.5 * (variance_term + mahalanobis).sum(-1)


def gaussian_to_gaussian(mu_q: Tensor, scale_tril_q: Tensor, mu_p: Tensor, scale_tril_p: Tensor) -> Tensor:
    """KL(N(mu_q, L_q L_q^T) || N(mu_p, L_p L_p^T)) for full covariances, via triangular solves.

    KL = 1/2 [tr(Sigma_p^-1 Sigma_q) + (mu_p - mu_q)^T Sigma_p^-1 (mu_p - mu_q) - K
              + log det Sigma_p - log det Sigma_q]

    With M = L_p^-1 L_q (lower-triangular, M_ii = L_q,ii / L_p,ii) and d = L_p^-1 (mu_p - mu_q):
    tr(Sigma_p^-1 Sigma_q) = ||M||_F^2, the quadratic form = ||d||^2 and
    log det Sigma_p - log det Sigma_q = -2 sum_i log M_ii, so
    KL = 1/2 [sum_i (M_ii^2 - 1 - log M_ii^2) + sum_{i>j} M_ij^2 + ||d||^2], each term >= 0.
    No matrix is inverted, and no determinant taken by LU: on the course's CPU build torch's
    2-thread float64 batched ``slogdet``/``inv`` are wrong for K >= 192, while this (Cholesky and
    triangular solves) is right with any thread count (tests/test_threads_linalg.py). Source: the Gaussian KL (e.g. Rasmussen & Williams 2006, Eq. A.23).
    Introduced in lecture 03.

    Args:
        mu_q: mean of q, shape ``(..., K)``.
        scale_tril_q: Cholesky factor of q's covariance, shape ``(..., K, K)``.
        mu_p: mean of p, shape ``(..., K)``.
        scale_tril_p: Cholesky factor of p's covariance, shape ``(..., K, K)``.

    Returns:
        KL per row, shape ``(...)`` (all batch shapes broadcast).

    Raises:
        ValueError: a factor not square, not lower-triangular, or with a diagonal entry <= 0;
            K mismatch; NaN or inf; batch shapes that do not broadcast.
    """
    (mu_q, mu_p), _ = _check_vectors(("mu_q", "mu_p"), (mu_q, mu_p))
    scale_tril_q = _validate.scale_tril("scale_tril_q", scale_tril_q, "mu_q", mu_q)
    scale_tril_p = _validate.scale_tril("scale_tril_p", scale_tril_p, "mu_p", mu_p)
    batch = torch.broadcast_shapes(mu_q.shape[:-1], mu_p.shape[:-1], scale_tril_q.shape[:-2], scale_tril_p.shape[:-2])
    K = mu_q.shape[-1]
    L_p = scale_tril_p.expand(*batch, K, K)
    M = torch.linalg.solve_triangular(L_p, scale_tril_q.expand(*batch, K, K), upper=False)  # (..., K, K)
    diff = (mu_p - mu_q).expand(*batch, K).unsqueeze(-1)  # (..., K, 1)
    d = torch.linalg.solve_triangular(L_p, diff, upper=False).squeeze(-1)  # (..., K)
    log_ratio = torch.log(scale_tril_q.diagonal(dim1=-2, dim2=-1)) - torch.log(
        scale_tril_p.diagonal(dim1=-2, dim2=-1)
    )  # (..., K): log M_ii
    variance_term = _variance_term(2 * log_ratio).sum(-1)  # (...)
    off_diagonal_term = torch.tril(M, diagonal=-1).pow(2).sum((-2, -1))  # (...)
    mahalanobis = d.pow(2).sum(-1)  # (...)
    return 0.5 * (variance_term + off_diagonal_term + mahalanobis)


def monte_carlo_kl(
    q: Distribution,
    p: Distribution,
    num_samples: int,
    *,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Monte Carlo estimate of KL(q || p) with its standard error, for torch distributions.

    KL(q || p) = E_{z ~ q}[log q(z) - log p(z)] ~ 1/S sum_s [log q(z_s) - log p(z_s)],
    standard error = sample std of the log-ratios / sqrt(S).

    Samples with ``rsample()`` when q supports it, so the estimate is differentiable in q's
    parameters (the "sampled KL" of Kingma & Welling 2014, Eq. 6); otherwise ``sample()``.
    Introduced in lecture 03.

    Random numbers: ``torch.distributions``' ``sample()`` and ``rsample()`` take no generator,
    so without ``generator`` the draw uses (and advances) torch's global generator. With
    ``generator``, one seed is drawn from it and the samples are drawn under
    ``torch.random.fork_rng`` from a global generator seeded with that seed: the result is a
    deterministic function of the generator's state, the generator advances (two calls give
    independent estimates), and the global random state is left exactly as it was. The
    samples then differ from those the same seed would give through ``torch.manual_seed``.

    Args:
        q: the distribution the expectation is under, batch shape ``(...)``.
        p: the other distribution, same event shape, a batch shape that broadcasts with q's.
        num_samples: S >= 2 samples per batch element.
        generator: a ``torch.Generator`` on the device q samples on (optional, see above).

    Returns:
        (estimate, standard_error), each of shape the broadcast batch shape ``(...)``;
        the standard error is detached.

    Raises:
        TypeError: q or p is not a ``torch.distributions.Distribution``; ``generator`` is not
            None, a ``torch.Generator`` or an int seed.
        ValueError: event shapes differ; batch shapes do not broadcast; num_samples < 2;
            ``generator`` on another device than q's samples.
    """
    for name, dist in (("q", q), ("p", p)):
        if not isinstance(dist, Distribution):
            raise TypeError(
                f"{name} must be a torch.distributions.Distribution, e.g. "
                f"torch.distributions.Normal(mu, std); got {type(dist).__name__}."
            )
    if _validate.positive_int("num_samples", num_samples) < 2:
        raise ValueError(
            f"num_samples must be an integer >= 2 (a standard error needs two samples); got {num_samples!r}."
        )
    if q.event_shape != p.event_shape:
        raise ValueError(
            f"q and p must have the same event shape; got q {tuple(q.event_shape)} and p "
            f"{tuple(p.event_shape)}. Wrap a factorised Normal in "
            f"torch.distributions.Independent(dist, 1) to compare it with a MultivariateNormal."
        )
    try:
        torch.broadcast_shapes(q.batch_shape, p.batch_shape)
    except RuntimeError as err:
        raise ValueError(
            f"the batch shapes of q {tuple(q.batch_shape)} and p {tuple(p.batch_shape)} do not "
            f"broadcast. Give them the same batch shape."
        ) from err
    generator = _validate.generator(generator)

    def draw() -> Tensor:
        return q.rsample((num_samples,)) if q.has_rsample else q.sample((num_samples,))

    if generator is None:
        z = draw()  # (S, *batch, *event)
    else:
        z = _validate.draw_with_generator(draw, generator)
    log_ratio = q.log_prob(z) - p.log_prob(z)  # (S, *batch)
    estimate = log_ratio.mean(0)
    standard_error = log_ratio.detach().std(0) / math.sqrt(num_samples)
    return estimate, standard_error


# ---------------------------------------------------------------------------------------------
# Lecture 03, continued: the sigma form of the diagonal KL, and the KL for any square factor S.
# ---------------------------------------------------------------------------------------------


def diag_gaussian_to_std_normal_from_std(mu: Tensor, std: Tensor) -> Tensor:
    """KL(N(mu, diag std^2) || N(0, I)) from standard deviations, one value per row, summed over K.

    KL = 1/2 sum_k [std_k^2 + mu_k^2 - 1 - 2 log std_k]

    The same number as :func:`diag_gaussian_to_std_normal` with ``log_var = 2 log std`` (the
    "sigma form" beside the "log-variance form"). An encoder that outputs ``log_std`` needs
    ``2 log_std`` where the log-variance form has ``log_var``; feeding ``log_std`` in as
    ``log_var`` gives 1/2 sum(std + mu^2 - 1 - log std), a different (wrong) number. Computed as
    ``expm1(2 log std) - 2 log std`` so every term is >= 0. Source: Kingma & Welling 2014,
    Appendix B. Introduced in lecture 03.

    Args:
        mu: means, shape ``(B, K)`` (any ``(..., K)``).
        std: standard deviations > 0, a shape that broadcasts with ``mu``.

    Returns:
        KL per row, shape ``(B,)`` (the broadcast shape without its last dimension).

    Raises:
        ValueError: NaN or inf; std <= 0; shapes that do not broadcast; a 0-d input.
    """
    (mu, std), _ = _check_vectors(("mu", "std"), (mu, std))
    _validate.positive("std", std)
    log_var = 2 * torch.log(std)  # (..., K)
    return 0.5 * (_variance_term(log_var) + mu.pow(2)).sum(-1)


def factor_gaussian_to_std_normal(mu: Tensor, scale: Tensor) -> Tensor:
    """KL(N(mu, S S^T) || N(0, I)) for ANY invertible square factor S (not only a Cholesky factor).

    KL = 1/2 [||S||_F^2 + mu^T mu - K - 2 log |det S|]

    since tr(S S^T) = ||S||_F^2 and log det(S S^T) = 2 log |det S|. For a general S the
    determinant needs a factorisation: ``torch.linalg.slogdet`` uses LU with partial pivoting,
    O(K^3) per row (Golub & Van Loan 2013, Section 3.2), against O(K^2) for a triangular factor,
    whose determinant is the product of its diagonal (:func:`full_gaussian_to_std_normal`).
    S and S Q (Q orthogonal) give the same value. Source: the Gaussian KL (Rasmussen & Williams
    2006, Eq. A.23) with Sigma = S S^T. Introduced in lecture 03.

    Args:
        mu: means, shape ``(..., K)``.
        scale: square factors S, shape ``(..., K, K)``; batch dimensions broadcast with mu's.

    Returns:
        KL per row, shape ``(...)``.

    Raises:
        ValueError: ``scale`` not square or of another K; NaN or inf; a singular S (the
            Gaussian is degenerate and its KL to N(0, I) is infinite).
    """
    mu = _validate.as_tensor("mu", mu)
    _validate.min_dims("mu", mu, 1, "(..., K), the last one the K latent dimensions")
    _validate.finite("mu", mu)
    scale = _validate.as_tensor("scale", scale, like=mu)
    _validate.square_matrices(
        "scale",
        scale,
        "mu",
        mu,
        "a square K x K matrix",
        "Reshape an encoder's K*K outputs with .view(..., K, K).",
    )
    _validate.finite("scale", scale)
    _validate.broadcastable(("mu without K", "scale without K x K"), (mu[..., 0], scale[..., 0, 0]))
    sign, log_abs_det = torch.linalg.slogdet(scale)  # (...): LU, O(K^3)
    if (sign == 0).any() or not torch.isfinite(log_abs_det).all():
        raise ValueError(
            f"scale must be invertible; {int(((sign == 0) | ~torch.isfinite(log_abs_det)).sum())} of its "
            f"matrices are singular (shape {tuple(scale.shape)}). A singular S gives a degenerate "
            f"Gaussian on a subspace, whose KL to N(0, I) is infinite (lecture 02, Section 7)."
        )
    K = mu.shape[-1]
    trace_term = scale.pow(2).sum((-2, -1))  # ||S||_F^2, (...)
    mahalanobis = mu.pow(2).sum(-1)  # mu^T mu, (...)
    return 0.5 * (trace_term + mahalanobis - K - 2 * log_abs_det)
