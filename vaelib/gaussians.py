"""Tools for looking at Gaussians: the log-density, moments with standard errors, ellipses,
tests, optima.

The Gaussian log-density lives here, once (:func:`log_density`, :func:`diag_log_density`);
every vaelib module that needs log N(z; mu, Sigma) calls it. Lecture 02 uses the rest to check
that ``z = mu + S eps`` has the law N(mu, S S^T) (moments with standard errors, covariance
ellipses and their coverage, a two-sample test), lecture 03 to compare a fitted diagonal
Gaussian with the best one in closed form, and lecture 04 the forward-KL optimum beside it.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from vaelib import _validate

__all__ = [
    "LOG_2PI",
    "log_density",
    "diag_log_density",
    "mean_and_stderr",
    "covariance_and_stderr",
    "random_orthogonal",
    "mahalanobis_sq",
    "ellipse_points",
    "ellipse_coverage",
    "chi2_coverage",
    "two_sample_projection_test",
    "best_diagonal_reverse_kl",
    "best_diagonal_forward_kl",
]

LOG_2PI = math.log(2.0 * math.pi)  # the normalising constant of a Gaussian, per dimension


def _samples(name: str, samples: Tensor) -> Tensor:
    samples = _validate.real(name, samples)  # a NaN would make every statistic below NaN or "same law"
    if samples.dim() != 2:
        fix = f"{name}.unsqueeze(1) for N samples of a number" if samples.dim() < 2 else f"{name}.reshape(-1, K)"
        raise ValueError(
            f"{name} must have shape (N, K), N samples of a K-dim vector; got shape "
            f"{tuple(samples.shape)}. Flatten or add dimensions first, e.g. {fix}."
        )
    if samples.shape[0] < 2:
        raise ValueError(
            f"{name} needs at least 2 samples (rows) to estimate a spread; got shape "
            f"{tuple(samples.shape)}. Draw more samples."
        )
    return samples


def mean_and_stderr(samples: Tensor) -> tuple[Tensor, Tensor]:
    """The sample mean of each coordinate and its standard error.

    Formula: ``mean = (1/N) sum_n z_n``, ``stderr = std(z) / sqrt(N)`` with the unbiased (N - 1)
    standard deviation; by the central limit theorem the mean is within 2 standard errors of
    the true mean about 95% of the time.

    Args:
        samples: ``(N, K)``, N independent draws of a K-dim vector.

    Returns:
        ``(mean, stderr)``, each ``(K,)``.

    Introduced in lecture 02.
    """
    samples = _samples("samples", samples)
    N = samples.shape[0]
    return samples.mean(0), samples.std(0) / math.sqrt(N)  # (K,), (K,)


def covariance_and_stderr(samples: Tensor) -> tuple[Tensor, Tensor]:
    """The sample covariance matrix and the standard error of each of its entries.

    Formula: with centred samples ``d_n = z_n - mean``, ``C_ij = (1/(N-1)) sum_n d_ni d_nj`` and
    ``stderr_ij = std_n(d_ni d_nj) / sqrt(N)``: the plug-in standard error of a mean of the
    products (it needs no Gaussian assumption; for a Gaussian it is close to
    ``sqrt((C_ij^2 + C_ii C_jj) / N)``).

    Args:
        samples: ``(N, K)``, N independent draws of a K-dim vector.

    Returns:
        ``(cov, stderr)``, each ``(K, K)``.

    Introduced in lecture 02.
    """
    samples = _samples("samples", samples)
    N = samples.shape[0]
    centred = samples - samples.mean(0)  # (N, K)
    products = centred.unsqueeze(2) * centred.unsqueeze(1)  # (N, K, K)
    cov = products.sum(0) / (N - 1)  # (K, K)
    stderr = products.std(0) / math.sqrt(N)  # (K, K)
    return cov, stderr


def random_orthogonal(K: int, generator: torch.Generator | None = None, dtype: torch.dtype | None = None) -> Tensor:
    """A random K x K orthogonal matrix, uniformly distributed (Haar measure) on O(K).

    Formula: ``Q`` from the QR factorisation of a matrix of standard normals, with the signs of
    its columns fixed by ``sign(diag R)`` so that the law is exactly uniform (Mezzadri 2007,
    "How to generate random matrices from the classical compact groups", Notices AMS 54).

    Args:
        K: the size.
        generator: a ``torch.Generator`` for reproducibility (optional).
        dtype: the floating dtype (default: torch's default dtype).

    Returns:
        ``(K, K)`` with ``Q.T @ Q = I``.

    Introduced in lecture 02.
    """
    K = _validate.positive_int("K", K)
    A = torch.randn(K, K, generator=_validate.generator(generator), dtype=dtype)
    Q, R = torch.linalg.qr(A)
    signs = torch.sign(torch.diagonal(R))
    signs[signs == 0] = 1.0
    return Q * signs  # multiplies column j by signs[j]


def mahalanobis_sq(z: Tensor, mean: Tensor, cov: Tensor) -> Tensor:
    """The squared Mahalanobis distance ``(z - mean)^T cov^{-1} (z - mean)`` of each sample.

    Computed with the Cholesky factor ``cov = L L^T`` as ``||L^{-1}(z - mean)||^2`` (a triangular
    solve; no inverse). If ``z ~ N(mean, cov)`` in K dims, it is chi-squared with K degrees of
    freedom.

    Args:
        z: ``(N, K)`` samples.
        mean: ``(K,)``.
        cov: ``(K, K)``, symmetric positive definite.

    Returns:
        ``(N,)``.

    Raises:
        ValueError: if ``cov`` is singular (a degenerate Gaussian has no Mahalanobis distance).

    Introduced in lecture 02.
    """
    z = _samples("z", z)
    K = z.shape[1]
    mean = _validate.real("mean", mean, like=z, cast=True)
    if mean.shape != (K,):
        raise ValueError(f"mean must have shape ({K},) to match z of shape {tuple(z.shape)}; got {tuple(mean.shape)}.")
    L = _validate.cholesky("cov", _validate.covariance("cov", cov, K))
    white = torch.linalg.solve_triangular(L, (z - mean).T, upper=False)  # (K, N)
    return (white**2).sum(0)


def ellipse_points(mean: Tensor, cov: Tensor, n_std: float = 1.0, num_points: int = 200) -> Tensor:
    """Points on the ``n_std``-sigma ellipse ``{z : (z - mean)^T cov^{-1} (z - mean) = n_std^2}``.

    Formula: with ``cov = U diag(lam) U^T`` (eigendecomposition), the points are
    ``mean + n_std * U diag(sqrt(lam)) (cos t, sin t)`` for t in [0, 2 pi]. A singular ``cov``
    gives a flat ellipse (a segment), which is what a degenerate Gaussian looks like.

    Args:
        mean: ``(2,)``.
        cov: ``(2, 2)``, symmetric positive semi-definite.
        n_std: the radius in standard deviations (1 for the 1-sigma ellipse).
        num_points: how many points (the first and last coincide, closing the curve).

    Returns:
        ``(num_points, 2)``; plot with ``ax.plot(*points.T)``.

    Introduced in lecture 02.
    """
    mean = _validate.real("mean", mean)
    if mean.shape != (2,):
        raise ValueError(f"mean must have shape (2,): ellipses are drawn in the plane; got {tuple(mean.shape)}.")
    cov = _validate.covariance("cov", cov, 2)
    n_std = _validate.positive_number("n_std", n_std)
    num_points = _validate.positive_int("num_points", num_points)
    lam, U = torch.linalg.eigh(cov)
    if lam.min() < -1e-6 * max(1.0, lam.abs().max().item()):
        raise ValueError(
            f"cov must be positive semi-definite; its smallest eigenvalue is {lam.min().item():.3g}. "
            f"Build it as S @ S.T."
        )
    t = torch.linspace(0.0, 2 * math.pi, num_points, dtype=cov.dtype)
    circle = torch.stack([torch.cos(t), torch.sin(t)])  # (2, num_points)
    return mean + (n_std * U @ (lam.clamp(min=0).sqrt().unsqueeze(1) * circle)).T  # (num_points, 2)


def chi2_coverage(n_std: float, K: int) -> float:
    """The probability that z ~ N(mean, cov) in K dims lies inside its ``n_std``-sigma ellipsoid.

    Formula: ``P(chi^2_K <= n_std^2)``; in two dimensions ``1 - exp(-n_std^2 / 2)``
    (0.393 for 1 sigma, 0.865 for 2 sigma: not the 68% / 95% of one dimension).

    Introduced in lecture 02.
    """
    from scipy import stats

    n_std = _validate.positive_number("n_std", n_std)
    K = _validate.positive_int("K", K)
    return float(stats.chi2.cdf(n_std**2, df=K))


def ellipse_coverage(z: Tensor, mean: Tensor, cov: Tensor, n_std: float) -> tuple[float, float]:
    """The fraction of samples inside the ``n_std``-sigma ellipsoid, and its standard error.

    Formula: ``p_hat = (1/N) #{n : mahalanobis_sq(z_n) <= n_std^2}``, with the binomial standard
    error ``sqrt(p_hat (1 - p_hat) / N)``. Compare with :func:`chi2_coverage`.

    Args:
        z: ``(N, K)`` samples.
        mean: ``(K,)``.
        cov: ``(K, K)``, symmetric positive definite.
        n_std: the radius in standard deviations.

    Returns:
        ``(fraction, stderr)`` as floats.

    Introduced in lecture 02.
    """
    n_std = _validate.positive_number("n_std", n_std)
    d2 = mahalanobis_sq(z, mean, cov)
    p_hat = (d2 <= n_std**2).double().mean().item()
    return p_hat, math.sqrt(max(p_hat * (1 - p_hat), 1e-300) / d2.numel())


def two_sample_projection_test(x: Tensor, y: Tensor, num_directions: int = 16, seed: int = 0) -> float:
    """A two-sample test of "x and y come from the same law", for K-dim samples.

    Projects both samples on ``num_directions`` random unit directions (by Cramer-Wold, two
    laws on R^K are equal iff all their 1-d projections are), runs scipy's two-sample
    Kolmogorov-Smirnov test on each, and combines the p-values with the Bonferroni correction
    ``min(1, num_directions * min p)``. Rejecting when the returned p-value is below alpha has a
    false-alarm rate of at most alpha for any K and any continuous law.

    Args:
        x: ``(N, K)`` samples.
        y: ``(M, K)`` samples.
        num_directions: how many random directions (more: more power against odd differences,
            a stricter correction).
        seed: the seed of the directions (fixed, so the test is a deterministic function of the
            samples).

    Returns:
        The Bonferroni-adjusted p-value, in [0, 1].

    Introduced in lecture 02.
    """
    from scipy import stats

    x = _samples("x", x)
    y = _samples("y", y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y must have the same number of columns K; got x {tuple(x.shape)} and y "
            f"{tuple(y.shape)}. Compare samples of the same vector."
        )
    num_directions = _validate.positive_int("num_directions", num_directions)
    gen = torch.Generator().manual_seed(_validate.seed("seed", seed))
    directions = torch.randn(x.shape[1], num_directions, generator=gen, dtype=torch.float64)
    directions = directions / directions.norm(dim=0)  # (K, D) unit columns
    px = (x.detach().double() @ directions).numpy()  # (N, D)
    py = (y.detach().double() @ directions).numpy()  # (M, D)
    p_min = min(stats.ks_2samp(px[:, d], py[:, d]).pvalue for d in range(num_directions))
    return float(min(1.0, num_directions * p_min))


def best_diagonal_reverse_kl(mu_p: Tensor, cov_p: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The diagonal Gaussian q that minimises KL(q || p) for p = N(mu_p, cov_p), and that KL.

    Formula: with the precision ``Lambda = cov_p^{-1}``, the optimum is ``mu_q = mu_p`` and
    ``var_q = 1 / diag(Lambda)`` (the conditional variances, smaller than the marginal ones
    ``diag(cov_p)``), and the minimal KL is ``(1/2) [log det cov_p + sum_k log Lambda_kk]``
    (zero iff cov_p is diagonal). Bishop 2006, *Pattern Recognition and Machine Learning*,
    Section 10.1.2; MacKay 2003, *Information Theory, Inference, and Learning Algorithms*, Ch. 33.

    Args:
        mu_p: ``(K,)``.
        cov_p: ``(K, K)``, symmetric positive definite.

    Returns:
        ``(mu_q, var_q, kl_min)``: ``(K,)``, ``(K,)`` and a scalar tensor (nats).

    Introduced in lecture 03.
    """
    mu_p, cov_p = _mean_and_covariance(mu_p, cov_p)
    L = _validate.cholesky("cov_p", cov_p)
    precision = torch.cholesky_inverse(L)  # (K, K)
    precision_diag = torch.diagonal(precision)
    log_det_cov = 2 * torch.log(torch.diagonal(L)).sum()
    kl_min = 0.5 * (log_det_cov + torch.log(precision_diag).sum())
    return mu_p.clone(), 1.0 / precision_diag, kl_min


def _mean_and_covariance(mu_p, cov_p) -> tuple[Tensor, Tensor]:
    mu_p = _validate.real("mu_p", mu_p)
    if mu_p.dim() != 1:
        raise ValueError(f"mu_p must have shape (K,); got {tuple(mu_p.shape)}. Pass one mean vector.")
    return mu_p, _validate.covariance("cov_p", cov_p, mu_p.shape[0], like=mu_p)


def best_diagonal_forward_kl(mu_p: Tensor, cov_p: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The diagonal Gaussian q that minimises the forward KL(p || q) for p = N(mu_p, cov_p).

    Formula: moment matching, ``mu_q = mu_p`` and ``var_q = diag(cov_p)`` (the marginal
    variances), with minimal KL ``(1/2) [sum_k log (cov_p)_kk - log det cov_p]`` (zero iff
    cov_p is diagonal). Forward KL is mass-covering: q gets p's marginal variances right but
    ignores the correlation. Compare the reverse-KL optimum :func:`best_diagonal_reverse_kl`
    (precision matching, ``var_q = 1 / diag(cov_p^{-1})``, never larger). Bishop 2006, Section
    10.1.2 (minimising KL(p || q) over a factorized q gives q_k = the marginal p(z_k)) and
    Section 10.7; Minka 2001, expectation propagation.

    Args:
        mu_p: ``(K,)``.
        cov_p: ``(K, K)``, symmetric positive definite.

    Returns:
        ``(mu_q, var_q, kl_min)``: ``(K,)``, ``(K,)`` and a scalar tensor (nats).

    Introduced in lecture 04 (``vaelib.meanfield.best_diagonal_forward_kl`` is the same function).
    """
    mu_p, cov_p = _mean_and_covariance(mu_p, cov_p)
    L = _validate.cholesky("cov_p", cov_p)
    var_q = cov_p.diagonal().clone()
    kl_min = 0.5 * (var_q.log().sum() - 2 * L.diagonal().log().sum())
    return mu_p.clone(), var_q, kl_min


def log_density(z: Tensor, mu: Tensor, scale_tril: Tensor) -> Tensor:
    """The Gaussian log-density log N(z; mu, L L^T) for a Cholesky factor L, one value per row.

    log N(z; mu, L L^T) = -1/2 ||L^{-1} (z - mu)||^2 - sum_i log L_ii - K/2 log(2 pi)

    since Sigma^{-1} = L^-T L^-1 and log det Sigma = 2 sum_i log L_ii; computed with a triangular
    solve (no inverse). Source: Bishop 2006, Eq. 2.43; Rasmussen & Williams 2006, Eq. A.5
    (with the Cholesky form of Section A.4). Introduced in lecture 02; the one Gaussian
    log-density of vaelib (lectures 03-05 use it).

    Args:
        z: points, shape ``(..., K)``.
        mu: means, shape ``(..., K)``, broadcasting with ``z``.
        scale_tril: lower-triangular factors with positive diagonal, shape ``(..., K, K)``;
            batch dimensions broadcast with those of ``z`` and ``mu``.

    Returns:
        log-densities, shape the broadcast batch shape ``(...)``.

    Raises:
        ValueError: NaN or inf; a ``scale_tril`` that is not lower-triangular with a positive
            diagonal (for a general factor S pass ``torch.linalg.cholesky(S @ S.mT)``); K
            mismatch; shapes that do not broadcast.
    """
    z = _validate.real("z", z, dims=1, meaning="(..., K)")
    mu = _validate.real("mu", mu, like=z, cast=True, dims=1, meaning="(..., K)")
    _validate.broadcastable(("z", "mu"), (z, mu))
    scale_tril = _validate.scale_tril("scale_tril", scale_tril, "mu", mu)
    diff = z - mu  # (..., K)
    try:
        batch = torch.broadcast_shapes(diff.shape[:-1], scale_tril.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"the batch shapes of z and mu {tuple(diff.shape[:-1])} and of scale_tril "
            f"{tuple(scale_tril.shape[:-2])} do not broadcast. Use z (B, K) with scale_tril (B, K, K) or (K, K)."
        ) from None
    K = diff.shape[-1]
    white = torch.linalg.solve_triangular(
        scale_tril.expand(*batch, K, K), diff.expand(*batch, K).unsqueeze(-1), upper=False
    ).squeeze(-1)  # (..., K): L^{-1} (z - mu)
    mahalanobis = white.pow(2).sum(-1)  # (...)
    log_det = 2.0 * scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # (...)
    return -0.5 * (mahalanobis + log_det + K * LOG_2PI)


def diag_log_density(z: Tensor, mu: Tensor, log_var: Tensor) -> Tensor:
    """The diagonal Gaussian log-density log N(z; mu, diag exp(log_var)), summed over K.

    log N(z; mu, diag sigma^2) = -1/2 sum_k [(z_k - mu_k)^2 exp(-log_var_k) + log_var_k + log(2 pi)]

    :func:`log_density` with L = diag(exp(log_var / 2)), in O(K). Takes the log-variance, as a
    VAE's encoder outputs it (``log_var = 2 * log(std)`` for a standard deviation). Source:
    Kingma & Welling 2014, Appendix C.2. Introduced in lecture 05 (log q(z | x) and log p(z)).

    Args:
        z: points, shape ``(..., K)``.
        mu: means, shape broadcasting with ``z``.
        log_var: log-variances, shape broadcasting with ``z`` (0 for a standard normal).

    Returns:
        log-densities, shape ``broadcast(z, mu, log_var).shape[:-1]``.

    Raises:
        ValueError: NaN or inf (a -inf log-variance is a variance of 0: no density); shapes that
            do not broadcast.
    """
    z = _validate.real("z", z, dims=1, meaning="(..., K)")
    mu = _validate.real("mu", mu, like=z, cast=True)
    log_var = _validate.real("log_var", log_var, like=z, cast=True)
    _validate.broadcastable(("z", "mu", "log_var"), (z, mu, log_var))
    standardised_sq = (z - mu).pow(2) * torch.exp(-log_var)  # (..., K)
    return -0.5 * (standardised_sq + log_var + LOG_2PI).sum(-1)
