"""Reparameterized Gaussian samplers: every sample is a deterministic transform of explicit noise.

z = mu + std * eps (diagonal), z = mu + S eps (any K x K factor S), and the Cholesky factor built
from a network's unconstrained outputs (lectures 01-03). Each sampler takes ``eps=`` so that a test
or a student can pass the noise; when it is omitted, fresh noise is drawn. Gradients flow to the
parameters through the transform. Other families are in :mod:`vaelib.families`, the relaxations
of discrete variables in :mod:`vaelib.relaxations`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from vaelib import _validate


def _noise(
    eps: Tensor | None,
    shape: torch.Size,
    sample_shape: tuple[int, ...],
    like: Tensor,
    generator: torch.Generator | None,
    expected: str,
) -> Tensor:
    """Draw standard normal noise of shape ``(*sample_shape, *shape)``, or validate ``eps``.

    A given ``eps`` may carry its own leading sample dimensions; its trailing dimensions must
    equal ``shape``.
    """
    generator = _validate.generator(generator)
    if eps is None:
        return _validate.randn((*sample_shape, *shape), like, generator)
    eps = _validate.real("eps", eps, like=like, cast=True, allow_empty=True)
    n = len(shape)
    trailing = tuple(eps.shape[eps.dim() - n :]) if n else ()
    if sample_shape:
        ok = tuple(eps.shape) == (*sample_shape, *shape)
        want = f"{(*sample_shape, *shape)}"
    else:
        ok = eps.dim() >= n and trailing == tuple(shape)
        want = f"(..., {', '.join(str(s) for s in shape)})" if n else "any shape"
    if not ok:
        raise ValueError(
            f"eps must have shape {want}, that is {expected} with optional leading sample "
            f"dimensions; got eps of shape {tuple(eps.shape)}. Draw it as "
            f"torch.randn({tuple(shape)}) (one sample) or torch.randn(S, *{tuple(shape)}) "
            f"(S samples), or leave eps=None."
        )
    return eps


def diag_gaussian(
    mu: Tensor,
    std: Tensor,
    eps: Tensor | None = None,
    *,
    sample_shape: tuple[int, ...] = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Sample z ~ N(mu, diag(std^2)) as a differentiable transform of standard normal noise.

    z = mu + std * eps,    eps ~ N(0, I)

    The sample is a deterministic function of (mu, std, eps), so gradients flow from z back
    to mu and std: this is the reparameterization trick (Kingma & Welling 2014, Section 2.4;
    Rezende et al. 2014). Introduced in lecture 01; lecture 02 proves z has law N(mu, std^2).

    Args:
        mu: mean, shape ``(..., K)`` (any shape, e.g. ``(B, K)``).
        std: standard deviation >= 0, a shape that broadcasts with ``mu``. From a network's
            log-variance: ``std = torch.exp(0.5 * log_var)``.
        eps: standard normal noise, shape ``(*sample_shape, *broadcast(mu, std).shape)``;
            drawn with ``torch.randn`` when omitted. Extra leading dimensions are samples.
        sample_shape: leading sample dimensions for the drawn noise, e.g. ``(S,)``.
        generator: a ``torch.Generator`` for the drawn noise (ignored when ``eps`` is given).

    Returns:
        z, shape ``(*sample_shape, *broadcast(mu, std).shape)`` (or ``eps.shape``).

    Raises:
        ValueError: negative ``std``; NaN or inf in any input; shapes that do not broadcast;
            ``eps`` of the wrong shape.
    """
    mu = _validate.real("mu", mu, allow_empty=True)  # elementwise: an empty batch stays empty
    std = _validate.real("std", std, like=mu, allow_empty=True)
    try:
        _validate.positive("std", std, allow_zero=True)
    except ValueError as err:
        raise ValueError(f"{err} If you have a log-variance, use std = torch.exp(0.5 * log_var).") from None
    shape = _validate.broadcastable(("mu", "std"), (mu, std))
    like = mu if mu.dtype == torch.promote_types(mu.dtype, std.dtype) else std
    eps = _noise(
        eps, shape, _validate.sample_shape_tuple(sample_shape), like, generator, "the broadcast shape of mu and std"
    )
    return mu + std * eps  # (*sample_shape, *shape)


def full_gaussian(
    mu: Tensor,
    scale: Tensor,
    eps: Tensor | None = None,
    *,
    sample_shape: tuple[int, ...] = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Sample z ~ N(mu, S S^T) for ANY square matrix S, as z = mu + S eps.

    z = mu + S eps,    eps ~ N(0, I_K),    Cov[z] = S S^T

    S need not be triangular or invertible (a reshaped K^2 network output works); a singular
    S gives a degenerate law. S and S Q (Q orthogonal) give the same law; the Cholesky factor
    is the canonical choice (lecture 02). Source: Rezende et al. 2014, Section 3;
    Kingma & Welling 2014, Section 2.4. Introduced in lecture 02.

    Args:
        mu: mean, shape ``(..., K)``.
        scale: the matrix S, shape ``(..., K, K)``; batch dimensions broadcast with ``mu``'s.
        eps: standard normal noise, shape ``(*sample_shape, *batch, K)``; drawn when omitted.
            Extra leading dimensions are samples.
        sample_shape: leading sample dimensions for the drawn noise, e.g. ``(S,)``.
        generator: a ``torch.Generator`` for the drawn noise (ignored when ``eps`` is given).

    Returns:
        z, shape ``(*sample_shape, *batch, K)`` where ``batch`` broadcasts ``mu.shape[:-1]``
        and ``scale.shape[:-2]``.

    Raises:
        ValueError: non-square ``scale``; ``K`` of ``mu`` and ``scale`` differ; batch shapes
            that do not broadcast; NaN or inf; ``eps`` of the wrong shape.
    """
    mu = _validate.as_tensor("mu", mu)
    scale = _validate.as_tensor("scale", scale, like=mu)
    dtype = torch.promote_types(mu.dtype, scale.dtype)
    mu, scale = mu.to(dtype), scale.to(dtype)
    _validate.min_dims("mu", mu, 1, "(..., K)")
    _validate.square_matrices(
        "scale",
        scale,
        "mu",
        mu,
        "a square matrix",
        "Reshape a network's K*K outputs with raw.view(*raw.shape[:-1], K, K).",
    )
    K = mu.shape[-1]
    _validate.finite("mu", mu)
    _validate.finite("scale", scale)
    try:
        batch = torch.broadcast_shapes(mu.shape[:-1], scale.shape[:-2])
    except RuntimeError as err:
        raise ValueError(
            f"the batch shapes of mu {tuple(mu.shape[:-1])} (from mu {tuple(mu.shape)}) and "
            f"scale {tuple(scale.shape[:-2])} (from scale {tuple(scale.shape)}) do not "
            f"broadcast. Give both the same batch shape, e.g. mu (B, K) with scale (B, K, K)."
        ) from err
    eps = _noise(eps, torch.Size((*batch, K)), _validate.sample_shape_tuple(sample_shape), mu, generator, "(*batch, K)")
    return mu + (scale @ eps.unsqueeze(-1)).squeeze(-1)  # (..., K, K) @ (..., K, 1) -> (..., K)


_DIAG_TRANSFORMS = ("softplus", "exp")


def _check_tril_args(K: int, diag_transform: str, min_diag: float) -> None:
    _validate.positive_int("K", K)
    _validate.choice(
        "diag_transform",
        diag_transform,
        _DIAG_TRANSFORMS,
        "'softplus' grows linearly (stable); 'exp' matches a log-std parameterisation.",
    )
    _validate.number("min_diag", min_diag, low=0.0)


def _tril_layout(K: int, device) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Positions in the packed vector (row-major lower triangle) of the diagonal and the rest."""
    rows, cols = torch.tril_indices(K, K, device=device)  # (K(K+1)/2,) each
    is_diag = rows == cols
    packed = torch.arange(rows.numel(), device=device)
    return packed[is_diag], packed[~is_diag], rows[~is_diag], cols[~is_diag]


def scale_tril_from_unconstrained(
    raw: Tensor,
    K: int,
    diag_transform: str = "softplus",
    *,
    min_diag: float = 0.0,
    family: str = "full",
) -> Tensor:
    """Map K(K+1)/2 unconstrained numbers per row to a lower-triangular L with positive diagonal.

    L_ij = raw_(ij) for i > j,    L_ii = softplus(raw_(ii)) + min_diag  (or exp(raw_(ii))),
    L_ij = 0 for i < j

    The packed order is the row-major lower triangle (``torch.tril_indices(K, K)``):
    (0,0), (1,0), (1,1), (2,0), ... This is how an encoder outputs a Cholesky factor
    (the "full-covariance" head), so L L^T is a valid covariance for any network output.
    With ``family="diag"`` there are K numbers per row, the raw diagonal, and L is diagonal
    (mean-field; ``diag_transform="exp"`` with raw = log std). The one Cholesky-from-raw-outputs
    map of vaelib (lecture 04's per-point fits use it too). Introduced in lecture 03.

    Args:
        raw: unconstrained numbers, shape ``(..., K(K+1)/2)``.
        K: the number of latent dimensions.
        diag_transform: ``"softplus"`` (default; grows linearly, stable gradients) or
            ``"exp"`` (raw diagonal = log of the diagonal).
        min_diag: added to the transformed diagonal, a floor that keeps log L_ii finite
            when softplus underflows (e.g. 1e-4); 0 by default.
        family: ``"full"`` (K(K+1)/2 numbers per row) or ``"diag"`` (K numbers, a diagonal L).

    Returns:
        scale_tril, shape ``(..., K, K)``.

    Raises:
        ValueError: wrong last dimension; unknown ``diag_transform``; NaN or inf in ``raw``.
    """
    _check_tril_args(K, diag_transform, min_diag)
    raw = _validate.as_tensor("raw", raw)
    _validate.nonempty("raw", raw)
    family = _validate.choice(
        "family", family, ("full", "diag"), "'diag' takes K raw numbers per row, 'full' K(K+1)/2."
    )
    n = K * (K + 1) // 2 if family == "full" else K
    if raw.dim() < 1 or raw.shape[-1] != n:
        raise (
            ValueError(
                f"raw must have K(K+1)/2 = {n} entries in its last dimension for K={K}; got shape "
                f"{tuple(raw.shape)}. A network head for a K x K Cholesky factor outputs "
                f"K(K+1)/2 numbers per row (shape (B, {n}))."
            )
            if family == "full"
            else ValueError(
                f"raw must have K = {K} entries (the raw diagonal) in its last dimension for "
                f"family='diag'; got shape {tuple(raw.shape)}."
            )
        )
    _validate.finite("raw", raw)
    if family == "diag":
        return torch.diag_embed(_positive_diagonal(raw, diag_transform, min_diag))  # (..., K, K)
    diag_pos, off_pos, off_rows, off_cols = _tril_layout(K, raw.device)
    diag = _positive_diagonal(raw[..., diag_pos], diag_transform, min_diag)  # (..., K)
    scale_tril = raw.new_zeros(*raw.shape[:-1], K, K)  # (..., K, K)
    scale_tril[..., off_rows, off_cols] = raw[..., off_pos]
    return scale_tril + torch.diag_embed(diag)


def _positive_diagonal(raw_diag: Tensor, diag_transform: str, min_diag: float) -> Tensor:
    if diag_transform == "softplus":
        return torch.nn.functional.softplus(raw_diag) + min_diag
    return torch.exp(raw_diag) + min_diag


def unconstrained_from_scale_tril(
    scale_tril: Tensor,
    diag_transform: str = "softplus",
    *,
    min_diag: float = 0.0,
) -> Tensor:
    """The inverse of :func:`scale_tril_from_unconstrained`: L -> its K(K+1)/2 raw numbers.

    raw_(ii) = softplus^{-1}(L_ii - min_diag) = log(expm1(L_ii - min_diag))  (or log L_ii),
    raw_(ij) = L_ij for i > j

    Use it to initialise a network's output bias at a given covariance. Introduced in
    lecture 03.

    Args:
        scale_tril: lower-triangular, diagonal > min_diag, shape ``(..., K, K)``.
        diag_transform: ``"softplus"`` or ``"exp"``, as in the forward map.
        min_diag: the floor used in the forward map.

    Returns:
        raw, shape ``(..., K(K+1)/2)``.

    Raises:
        ValueError: non-square or non-triangular ``scale_tril``; a diagonal entry
            <= min_diag; NaN or inf.
    """
    scale_tril = _validate.as_tensor("scale_tril", scale_tril)
    if scale_tril.dim() < 2 or scale_tril.shape[-1] != scale_tril.shape[-2]:
        raise ValueError(f"scale_tril must have shape (..., K, K); got shape {tuple(scale_tril.shape)}.")
    K = scale_tril.shape[-1]
    _check_tril_args(K, diag_transform, min_diag)
    _validate.finite("scale_tril", scale_tril)
    above = torch.triu(scale_tril, diagonal=1)
    if (above != 0).any():
        raise ValueError(
            f"scale_tril must be lower-triangular; got {int((above != 0).sum())} nonzero "
            f"entries above the diagonal (shape {tuple(scale_tril.shape)}). Use "
            f"torch.linalg.cholesky(S @ S.mT) for a general square factor S."
        )
    shifted = scale_tril.diagonal(dim1=-2, dim2=-1) - min_diag  # (..., K)
    if (shifted <= 0).any():
        raise ValueError(
            f"the diagonal of scale_tril must exceed min_diag={min_diag}; the smallest entry "
            f"is {(shifted.min() + min_diag).item():.4g}. Lower min_diag or fix scale_tril."
        )
    if diag_transform == "softplus":
        raw_diag = shifted + torch.log(-torch.expm1(-shifted))  # log(expm1(y)), stable
    else:
        raw_diag = torch.log(shifted)
    diag_pos, off_pos, off_rows, off_cols = _tril_layout(K, scale_tril.device)
    raw = scale_tril.new_zeros(*scale_tril.shape[:-2], K * (K + 1) // 2)
    raw[..., diag_pos] = raw_diag
    raw[..., off_pos] = scale_tril[..., off_rows, off_cols]
    return raw  # (..., K(K+1)/2)
