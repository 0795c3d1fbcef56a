"""Argument contracts for matrices: square batches, Cholesky factors, covariances.

Part of :mod:`vaelib._validate` (used by the full-covariance Gaussians of lectures 02-04: reparam,
kl, gaussians, linear_gaussian, meanfield, classic_inference).
"""

from __future__ import annotations

import torch
from torch import Tensor

from vaelib._tensor_args import as_tensor, finite, real

__all__ = [
    "GAUSSIAN_FAMILIES",
    "gaussian_family",
    "square_matrices",
    "scale_tril",
    "covariance",
    "cholesky",
]


GAUSSIAN_FAMILIES = ("diag", "full")


def gaussian_family(family) -> str:
    """``'diag'`` (a diagonal Gaussian, mean-field) or ``'full'`` (a full covariance), else a ValueError."""
    if not isinstance(family, str) or family not in GAUSSIAN_FAMILIES:
        raise ValueError(
            f"family must be 'diag' (a diagonal Gaussian, mean-field) or 'full' (a full-covariance "
            f"Gaussian); got {family!r}."
        )
    return family


def square_matrices(name: str, t: Tensor, mu_name: str, mu: Tensor, what: str, fix: str) -> Tensor:
    """Raise a ValueError unless ``t`` is a batch of K x K matrices ``(..., K, K)`` with ``mu``'s K.

    Args:
        name, t: the matrices and their argument name.
        mu_name, mu: the means ``(..., K)`` they go with.
        what: what a matrix must be ("a square matrix", "a lower-triangular K x K matrix").
        fix: how to build one, appended to the shape error.
    """
    if t.dim() < 2 or t.shape[-1] != t.shape[-2]:
        raise ValueError(f"{name} must be {what} per row, shape (..., K, K); got shape {tuple(t.shape)}. {fix}")
    K = mu.shape[-1]
    if t.shape[-1] != K:
        raise ValueError(
            f"{mu_name} has K={K} latent dimensions (shape {tuple(mu.shape)}) but {name} is "
            f"{t.shape[-2]} x {t.shape[-1]} (shape {tuple(t.shape)}). Both must describe the same "
            f"K latent dimensions."
        )
    return t


def scale_tril(name: str, value, mu_name: str, mu: Tensor) -> Tensor:
    """A Cholesky factor ``(..., K, K)`` for the mean ``mu`` ``(..., K)``: square, K matching, finite,
    lower-triangular with a strictly positive diagonal, batch shapes broadcasting; else a ValueError.

    A general square factor S (as a network's reshaped K*K output) is refused with the fix
    ``torch.linalg.cholesky(S @ S.mT)``: a density or KL computed from a non-triangular S as if
    it were triangular is silently wrong.
    """
    scale_tril = as_tensor(name, value, like=mu, cast=True)
    square_matrices(
        name,
        scale_tril,
        mu_name,
        mu,
        "a lower-triangular K x K matrix",
        "Build it with vaelib.reparam.scale_tril_from_unconstrained(raw, K).",
    )
    finite(name, scale_tril)
    above = torch.triu(scale_tril, diagonal=1)
    if (above != 0).any():
        n_bad = int((above != 0).sum())
        worst = above.abs().max().item()
        raise ValueError(
            f"{name} must be lower-triangular (zeros above the diagonal); got {n_bad} nonzero "
            f"entries above the diagonal, the largest |value| {worst:.4g} (shape "
            f"{tuple(scale_tril.shape)}). Use torch.tril(...) or "
            f"vaelib.reparam.scale_tril_from_unconstrained; for a general square factor S "
            f"(covariance S S^T) pass torch.linalg.cholesky(S @ S.mT)."
        )
    diag = scale_tril.diagonal(dim1=-2, dim2=-1)
    if (diag <= 0).any():
        raise ValueError(
            f"{name} must have a strictly positive diagonal (it is a Cholesky factor); got "
            f"{int((diag <= 0).sum())} diagonal entries <= 0, the smallest "
            f"{diag.min().item():.4g} (shape {tuple(scale_tril.shape)}). Map the raw diagonal "
            f"through softplus or exp, as vaelib.reparam.scale_tril_from_unconstrained does."
        )
    try:
        torch.broadcast_shapes(mu.shape[:-1], scale_tril.shape[:-2])
    except RuntimeError as err:
        raise ValueError(
            f"the batch shapes of {mu_name} {tuple(mu.shape[:-1])} and {name} "
            f"{tuple(scale_tril.shape[:-2])} do not broadcast (full shapes {tuple(mu.shape)} and "
            f"{tuple(scale_tril.shape)}). Use mu (B, K) with scale_tril (B, K, K)."
        ) from err
    return scale_tril


def covariance(name: str, value, K: int | None = None, *, like: Tensor | None = None) -> Tensor:
    """A finite, symmetric ``(K, K)`` matrix (a covariance or a precision), or a ValueError naming ``name``."""
    cov = real(name, value, like=like, cast=True)
    if cov.dim() != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(
            f"{name} must be a square (K, K) covariance matrix; got shape {tuple(cov.shape)}. "
            f"Pass one matrix, e.g. S @ S.T."
        )
    if K is not None and cov.shape[0] != K:
        raise ValueError(
            f"{name} must have shape (K, K) = ({K}, {K}) to match the {K}-dim mean/samples; got shape "
            f"{tuple(cov.shape)}. Use the covariance of the same variables."
        )
    if not torch.allclose(cov, cov.T, atol=1e-6, rtol=1e-5):
        raise ValueError(
            f"{name} must be symmetric; the largest |cov - cov.T| is "
            f"{(cov - cov.T).abs().max().item():.3g}. Build it as S @ S.T, or symmetrise it with "
            f"(cov + cov.T) / 2."
        )
    return cov


def cholesky(name: str, cov: Tensor) -> Tensor:
    """The Cholesky factor of ``cov``, or a ValueError saying it is not positive definite."""
    L, info = torch.linalg.cholesky_ex(cov)
    if info.item() != 0:
        raise ValueError(
            f"{name} must be positive definite (a density exists only then); its Cholesky "
            f"factorisation failed at column {info.item()} (smallest eigenvalue "
            f"{torch.linalg.eigvalsh(cov).min().item():.3g}). A singular covariance describes a "
            f"degenerate Gaussian that lives on a subspace: it has no density and no Mahalanobis distance."
        )
    return L
