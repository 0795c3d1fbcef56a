"""Reparameterized samplers: every sample is a deterministic transform of explicit noise.

Each sampler takes ``eps=`` so that a test or a student can pass the noise; when it is
omitted, fresh noise is drawn. Gradients flow to the parameters through the transform.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import Tensor

from vaelib import _validate

# ---------------------------------------------------------------------------------------------
# Gaussian samplers (lectures 01-03)
# ---------------------------------------------------------------------------------------------


def _sample_shape(sample_shape) -> tuple[int, ...]:
    """``sample_shape`` as a tuple of non-negative ints, or a ValueError."""
    if isinstance(sample_shape, int) and not isinstance(sample_shape, bool):
        sample_shape = (sample_shape,)
    try:
        shape = tuple(int(n) for n in sample_shape)
        ok = all(n >= 0 for n in shape) and all(
            isinstance(n, int) and not isinstance(n, bool) for n in sample_shape
        )
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(
            f"sample_shape must be a tuple of non-negative ints such as (16,) or (); got "
            f"{sample_shape!r}."
        )
    return shape


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
    if eps is None:
        return torch.randn(
            (*sample_shape, *shape), dtype=like.dtype, device=like.device, generator=generator
        )
    eps = _validate.as_tensor("eps", eps, like=like)
    _validate.finite("eps", eps)
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
    mu = _validate.as_tensor("mu", mu)
    std = _validate.as_tensor("std", std, like=mu)
    _validate.finite("mu", mu)
    _validate.finite("std", std)
    try:
        _validate.positive("std", std, allow_zero=True)
    except ValueError as err:
        raise ValueError(
            f"{err} If you have a log-variance, use std = torch.exp(0.5 * log_var)."
        ) from None
    shape = _validate.broadcastable(("mu", "std"), (mu, std))
    like = mu if mu.dtype == torch.promote_types(mu.dtype, std.dtype) else std
    eps = _noise(
        eps, shape, _sample_shape(sample_shape), like, generator, "the broadcast shape of mu and std"
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
    _validate.min_dims("mu", mu, 1, "(..., K)")
    _validate.square_matrices(
        "scale", scale, "mu", mu, "a square matrix",
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
    like = mu if mu.dtype == torch.promote_types(mu.dtype, scale.dtype) else scale
    eps = _noise(
        eps, torch.Size((*batch, K)), _sample_shape(sample_shape), like, generator, "(*batch, K)"
    )
    return mu + (scale @ eps.unsqueeze(-1)).squeeze(-1)  # (..., K, K) @ (..., K, 1) -> (..., K)


_DIAG_TRANSFORMS = ("softplus", "exp")


def _check_tril_args(K: int, diag_transform: str, min_diag: float) -> None:
    _validate.positive_int("K", K)
    if diag_transform not in _DIAG_TRANSFORMS:
        raise ValueError(
            f"diag_transform must be one of {_DIAG_TRANSFORMS}; got {diag_transform!r}. "
            f"'softplus' grows linearly (stable); 'exp' matches a log-std parameterisation."
        )
    if (
        not isinstance(min_diag, (int, float))
        or isinstance(min_diag, bool)
        or not min_diag >= 0
        or min_diag == float("inf")
    ):
        raise ValueError(f"min_diag must be a finite number >= 0; got {min_diag!r}.")


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
) -> Tensor:
    """Map K(K+1)/2 unconstrained numbers per row to a lower-triangular L with positive diagonal.

    L_ij = raw_(ij) for i > j,    L_ii = softplus(raw_(ii)) + min_diag  (or exp(raw_(ii))),
    L_ij = 0 for i < j

    The packed order is the row-major lower triangle (``torch.tril_indices(K, K)``):
    (0,0), (1,0), (1,1), (2,0), ... This is how an encoder outputs a Cholesky factor
    (the "full-covariance" head), so L L^T is a valid covariance for any network output.
    Introduced in lecture 03.

    Args:
        raw: unconstrained numbers, shape ``(..., K(K+1)/2)``.
        K: the number of latent dimensions.
        diag_transform: ``"softplus"`` (default; grows linearly, stable gradients) or
            ``"exp"`` (raw diagonal = log of the diagonal).
        min_diag: added to the transformed diagonal, a floor that keeps log L_ii finite
            when softplus underflows (e.g. 1e-4); 0 by default.

    Returns:
        scale_tril, shape ``(..., K, K)``.

    Raises:
        ValueError: wrong last dimension; unknown ``diag_transform``; NaN or inf in ``raw``.
    """
    _check_tril_args(K, diag_transform, min_diag)
    raw = _validate.as_tensor("raw", raw)
    n = K * (K + 1) // 2
    if raw.dim() < 1 or raw.shape[-1] != n:
        raise ValueError(
            f"raw must have K(K+1)/2 = {n} entries in its last dimension for K={K}; got shape "
            f"{tuple(raw.shape)}. A network head for a K x K Cholesky factor outputs "
            f"K(K+1)/2 numbers per row (shape (B, {n}))."
        )
    _validate.finite("raw", raw)
    diag_pos, off_pos, off_rows, off_cols = _tril_layout(K, raw.device)
    raw_diag = raw[..., diag_pos]  # (..., K)
    if diag_transform == "softplus":
        diag = torch.nn.functional.softplus(raw_diag) + min_diag
    else:
        diag = torch.exp(raw_diag) + min_diag
    scale_tril = raw.new_zeros(*raw.shape[:-1], K, K)  # (..., K, K)
    scale_tril[..., off_rows, off_cols] = raw[..., off_pos]
    return scale_tril + torch.diag_embed(diag)


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
        raise ValueError(
            f"scale_tril must have shape (..., K, K); got shape {tuple(scale_tril.shape)}."
        )
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


# ---------------------------------------------------------------------------------------------
# Beyond the Gaussian (lecture 06)
# ---------------------------------------------------------------------------------------------


def _noise_shape(sample_shape: Sequence[int], *shapes: torch.Size) -> torch.Size:
    """The shape of fresh noise: ``sample_shape`` followed by the broadcast parameter shape."""
    return torch.Size(_sample_shape(sample_shape)) + torch.broadcast_shapes(*shapes)


def _fresh_uniform(shape: torch.Size, like: Tensor, generator: torch.Generator | None) -> Tensor:
    """Uniform(0, 1) noise kept strictly inside (0, 1), so that log(u) and log(1 - u) are finite."""
    u = torch.rand(shape, dtype=like.dtype, device=like.device, generator=generator)
    tiny = torch.finfo(like.dtype).tiny
    return u.clamp(min=tiny, max=1.0 - torch.finfo(like.dtype).eps)


def _uniform_noise(name: str, u, like: Tensor, shape: torch.Size, generator) -> Tensor:
    """Validate the user's uniform noise ``u`` (strictly inside (0, 1)) or draw fresh noise."""
    if u is None:
        return _fresh_uniform(shape, like, generator)
    u = _validate.as_tensor(name, u, like=like)
    _validate.finite(name, u)
    bad = (u <= 0) | (u >= 1)
    if bad.any():
        raise ValueError(
            f"{name} must lie strictly between 0 and 1 (the endpoints map to infinite samples); "
            f"got {int(bad.sum())} value(s) outside, e.g. {u[bad].flatten()[0].item():.4g} "
            f"(shape {tuple(u.shape)}). Draw it with torch.rand(...).clamp(1e-6, 1 - 1e-6)."
        )
    return u


def _parameter(name: str, value, *, like: Tensor | None = None, positive: bool = False) -> Tensor:
    """A finite floating tensor (strictly positive if asked), or a ValueError naming ``name``."""
    t = _validate.as_tensor(name, value, like=like)
    _validate.finite(name, t)
    if positive:
        _validate.positive(name, t)
    return t


def _temperature(value) -> float:
    """The Concrete temperature: a finite number > 0."""
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(
            f"temperature must be a finite number > 0; got {value!r}. A small value such as 0.1 "
            f"gives nearly one-hot samples, a large one nearly uniform ones; for exact one-hot "
            f"samples use gumbel_max, or hard=True for the straight-through variant."
        )
    return float(value)


def _logits(name: str, value) -> Tensor:
    """Logits may be -inf (a class with probability 0) but never NaN or +inf."""
    t = _validate.as_tensor(name, value)
    _validate.min_dims(name, t, 1, "(the last one indexes the C classes)")
    if torch.isnan(t).any() or (t == math.inf).any():
        bad = int((torch.isnan(t) | (t == math.inf)).sum())
        raise ValueError(
            f"{name} contains {bad} NaN or +inf value(s) (shape {tuple(t.shape)}). Logits must be "
            f"finite (-inf is allowed for a class of probability 0); check the network output "
            f"that produced them."
        )
    if (t == -math.inf).all(dim=-1).any():
        raise ValueError(
            f"{name} gives some categorical distribution no class of positive probability: every "
            f"logit of a row is -inf (shape {tuple(t.shape)}). Keep at least one finite logit per row."
        )
    return t


def _probabilities(name: str, value) -> Tensor:
    """Probabilities must lie in [0, 1]."""
    p = _validate.as_tensor(name, value)
    if torch.isnan(p).any():
        raise ValueError(
            f"{name} contains {int(torch.isnan(p).sum())} NaN value(s) (shape {tuple(p.shape)}). "
            f"Check the computation that produced the probabilities."
        )
    bad = (p < 0) | (p > 1)
    if bad.any():
        raise ValueError(
            f"{name} must lie in [0, 1]; got {int(bad.sum())} value(s) outside, e.g. "
            f"{p[bad].flatten()[0].item():.4g} (shape {tuple(p.shape)}). Map a network output "
            f"through torch.sigmoid, or pass logits to gumbel_softmax instead."
        )
    return p


def laplace(
    loc: Tensor,
    scale: Tensor,
    *,
    eps: Tensor | None = None,
    sample_shape: Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Laplace(loc, scale) as a location-scale transform: ``z = loc + scale * eps``.

    ``eps`` is standard Laplace noise, density exp(-|e|)/2; fresh noise is drawn by its
    inverse CDF, ``eps = -sign(v) log(1 - 2|v|)`` with ``v ~ U(-1/2, 1/2)``.

    Args:
        loc: location, any shape broadcastable with ``scale``, e.g. ``(B, K)``.
        scale: scale b > 0 (the standard deviation is sqrt(2) b).
        eps: standard Laplace noise of the broadcast shape (drawn if None).
        sample_shape: leading sample dimensions of fresh noise.
        generator: random number generator for fresh noise.

    Returns:
        z of shape ``sample_shape + broadcast(loc, scale)`` (or ``broadcast(loc, scale, eps)``).

    Introduced in lecture 06 (location-scale families).
    """
    loc = _parameter("loc", loc)
    scale = _parameter("scale", scale, like=loc, positive=True)
    if eps is None:
        v = _fresh_uniform(_noise_shape(sample_shape, loc.shape, scale.shape), loc, generator) - 0.5
        # |v| can round to exactly 1/2 (u = tiny gives v = -1/2), where log(1 - 2|v|) = -inf
        two_abs_v = (2.0 * v.abs()).clamp(max=1.0 - torch.finfo(loc.dtype).eps)
        eps = -torch.sign(v) * torch.log1p(-two_abs_v)
    else:
        eps = _parameter("eps", eps, like=loc)
        _validate.broadcastable(("loc", "scale", "eps"), (loc, scale, eps))
    return loc + scale * eps


def logistic(
    loc: Tensor,
    scale: Tensor,
    *,
    eps: Tensor | None = None,
    sample_shape: Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Logistic(loc, scale) as a location-scale transform: ``z = loc + scale * eps``.

    ``eps`` is standard logistic noise, CDF 1/(1 + e^-x); fresh noise is drawn by its inverse
    CDF, ``eps = log(u) - log(1 - u)`` with ``u ~ U(0, 1)``.

    Args:
        loc: location, any shape broadcastable with ``scale``.
        scale: scale s > 0 (the standard deviation is s pi / sqrt(3)).
        eps: standard logistic noise of the broadcast shape (drawn if None).
        sample_shape: leading sample dimensions of fresh noise.
        generator: random number generator for fresh noise.

    Returns:
        z of shape ``sample_shape + broadcast(loc, scale)``.

    Introduced in lecture 06 (location-scale families).
    """
    loc = _parameter("loc", loc)
    scale = _parameter("scale", scale, like=loc, positive=True)
    if eps is None:
        u = _fresh_uniform(_noise_shape(sample_shape, loc.shape, scale.shape), loc, generator)
        eps = torch.log(u) - torch.log1p(-u)
    else:
        eps = _parameter("eps", eps, like=loc)
        _validate.broadcastable(("loc", "scale", "eps"), (loc, scale, eps))
    return loc + scale * eps


def exponential(
    rate: Tensor,
    *,
    u: Tensor | None = None,
    sample_shape: Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Exponential(rate) by its inverse CDF: ``z = F^-1(u) = -log(1 - u) / rate``.

    F(z) = 1 - exp(-rate z) for z >= 0, so dz/drate = -z / rate.

    Args:
        rate: rate lambda > 0 (the mean is 1 / rate), any shape.
        u: Uniform(0, 1) noise strictly inside (0, 1), broadcastable with ``rate``.
        sample_shape: leading sample dimensions of fresh noise.
        generator: random number generator for fresh noise.

    Returns:
        z >= 0 of shape ``sample_shape + rate.shape`` (or ``broadcast(rate, u)``).

    Introduced in lecture 06 (inverse-CDF families).
    """
    rate = _parameter("rate", rate, positive=True)
    u = _uniform_noise("u", u, rate, _noise_shape(sample_shape, rate.shape), generator)
    _validate.broadcastable(("rate", "u"), (rate, u))
    return -torch.log1p(-u) / rate


def gumbel(
    loc: Tensor,
    scale: Tensor,
    *,
    u: Tensor | None = None,
    sample_shape: Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Gumbel(loc, scale) by its inverse CDF: ``z = loc - scale * log(-log u)``.

    F(z) = exp(-exp(-(z - loc) / scale)); solving F(z) = u gives the formula above.

    Args:
        loc: location, any shape broadcastable with ``scale``.
        scale: scale beta > 0.
        u: Uniform(0, 1) noise strictly inside (0, 1) (drawn if None).
        sample_shape: leading sample dimensions of fresh noise.
        generator: random number generator for fresh noise.

    Returns:
        z of shape ``sample_shape + broadcast(loc, scale)``.

    Introduced in lecture 06 (inverse-CDF families; the noise of the Gumbel-max trick).
    """
    loc = _parameter("loc", loc)
    scale = _parameter("scale", scale, like=loc, positive=True)
    u = _uniform_noise("u", u, loc, _noise_shape(sample_shape, loc.shape, scale.shape), generator)
    _validate.broadcastable(("loc", "scale", "u"), (loc, scale, u))
    return loc - scale * torch.log(-torch.log(u))


def kumaraswamy(
    a: Tensor,
    b: Tensor,
    *,
    u: Tensor | None = None,
    sample_shape: Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Kumaraswamy(a, b) by its inverse CDF: ``z = (1 - (1 - u)^(1/b))^(1/a)``.

    F(z) = 1 - (1 - z^a)^b on [0, 1]: a Beta-like law with a closed-form inverse CDF, used as a
    reparameterizable stand-in for the Beta (Kumaraswamy 1980; Nalisnick & Smyth 2017).

    Args:
        a, b: shape parameters > 0, broadcastable, e.g. ``(B, K)``.
        u: Uniform(0, 1) noise strictly inside (0, 1) (drawn if None).
        sample_shape: leading sample dimensions of fresh noise.
        generator: random number generator for fresh noise.

    Returns:
        z in [0, 1] of shape ``sample_shape + broadcast(a, b)``.

    Introduced in lecture 06 (inverse-CDF families).
    """
    a = _parameter("a", a, positive=True)
    b = _parameter("b", b, like=a, positive=True)
    u = _uniform_noise("u", u, a, _noise_shape(sample_shape, a.shape, b.shape), generator)
    _validate.broadcastable(("a", "b", "u"), (a, b, u))
    # (1 - u)^(1/b) = exp(log1p(-u) / b); 1 - that = -expm1(...), accurate when it is tiny
    return (-torch.expm1(torch.log1p(-u) / b)) ** (1.0 / a)


def _straight_through(y: Tensor) -> Tensor:
    """One-hot argmax of ``y`` in the forward pass, the gradient of ``y`` in the backward pass."""
    hard = torch.nn.functional.one_hot(y.argmax(dim=-1), y.shape[-1]).to(y.dtype)  # (..., C)
    return hard + (y - y.detach())


def gumbel_max(
    logits: Tensor,
    *,
    u: Tensor | None = None,
    sample_shape: Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """An exact one-hot sample of Categorical(softmax(logits)): ``onehot(argmax(logits + g))``.

    g = -log(-log u) is standard Gumbel noise; the argmax of logits plus independent Gumbel
    noise is distributed as softmax(logits) (the Gumbel-max trick; Gumbel 1954, Maddison et al.
    2014). The result is a step function of the logits: it carries no gradient.

    Args:
        logits: unnormalised log-probabilities ``(..., C)``.
        u: Uniform(0, 1) noise of shape ``(..., C)`` (drawn if None).
        sample_shape: leading sample dimensions of fresh noise.
        generator: random number generator for fresh noise.

    Returns:
        one-hot float tensor of shape ``sample_shape + logits.shape``.

    Introduced in lecture 06.
    """
    logits = _logits("logits", logits)
    u = _uniform_noise("u", u, logits, _noise_shape(sample_shape, logits.shape), generator)
    _validate.broadcastable(("logits", "u"), (logits, u))
    scores = logits.detach() - torch.log(-torch.log(u))  # (..., C)
    return torch.nn.functional.one_hot(scores.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)


def gumbel_softmax(
    logits: Tensor,
    temperature: float,
    *,
    u: Tensor | None = None,
    hard: bool = False,
    sample_shape: Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Gumbel-softmax / Concrete sample: ``y = softmax((logits + g) / temperature)``.

    g = -log(-log u) is standard Gumbel noise. As the temperature tends to 0, y tends to the
    one-hot Gumbel-max sample, distributed as Categorical(softmax(logits)); at any temperature
    > 0, y is a differentiable function of the logits (Maddison et al. 2017; Jang et al. 2017,
    eq. 2). With ``hard=True`` the forward value is the one-hot argmax of y while the
    gradient is that of y (straight-through Gumbel-softmax, Jang et al. 2017, section 2.2).

    Args:
        logits: unnormalised log-probabilities ``(..., C)``; -inf marks a class of probability 0.
        temperature: tau > 0.
        u: Uniform(0, 1) noise of shape ``(..., C)`` (drawn if None).
        hard: return the straight-through one-hot value.
        sample_shape: leading sample dimensions of fresh noise.
        generator: random number generator for fresh noise.

    Returns:
        y on the probability simplex, shape ``sample_shape + logits.shape``.

    Introduced in lecture 06.
    """
    logits = _logits("logits", logits)
    tau = _temperature(temperature)
    u = _uniform_noise("u", u, logits, _noise_shape(sample_shape, logits.shape), generator)
    _validate.broadcastable(("logits", "u"), (logits, u))
    y = torch.softmax((logits - torch.log(-torch.log(u))) / tau, dim=-1)  # (..., C)
    return _straight_through(y) if hard else y


def relaxed_bernoulli(
    probs: Tensor,
    temperature: float,
    *,
    u: Tensor | None = None,
    hard: bool = False,
    sample_shape: Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Binary Concrete sample: ``y = sigmoid((logit(p) + log u - log(1 - u)) / temperature)``.

    The two-class Gumbel-softmax: the difference of two Gumbels is logistic noise
    ``log u - log(1 - u)`` (the binary Concrete of Maddison et al. 2017). As the temperature
    tends to 0, y tends to the Bernoulli(p) sample ``1[u > 1 - p]``. With ``hard=True`` the
    forward value is ``1[y > 1/2]`` and the gradient that of y (straight-through).

    Args:
        probs: Bernoulli probabilities in [0, 1], any shape.
        temperature: tau > 0.
        u: Uniform(0, 1) noise broadcastable with ``probs`` (drawn if None).
        hard: return the straight-through 0/1 value.
        sample_shape: leading sample dimensions of fresh noise.
        generator: random number generator for fresh noise.

    Returns:
        y in [0, 1] of shape ``sample_shape + probs.shape``.

    Introduced in lecture 06.
    """
    probs = _probabilities("probs", probs)
    tau = _temperature(temperature)
    u = _uniform_noise("u", u, probs, _noise_shape(sample_shape, probs.shape), generator)
    _validate.broadcastable(("probs", "u"), (probs, u))
    logit = torch.log(probs) - torch.log1p(-probs)  # +-inf at p = 1 or 0: y is then exactly 1 or 0
    y = torch.sigmoid((logit + torch.log(u) - torch.log1p(-u)) / tau)
    if hard:
        return (y > 0.5).to(y.dtype) + (y - y.detach())
    return y


def _approx_log_gamma(alpha: Tensor, u: Tensor) -> Tensor:
    """log of the approximate Gamma(alpha, 1) sample (u alpha Gamma(alpha))^(1/alpha)."""
    # u alpha Gamma(alpha) = u Gamma(alpha + 1), computed in log space
    return (torch.log(u) + torch.lgamma(alpha + 1.0)) / alpha


def gamma_approx(
    alpha: Tensor,
    *,
    u: Tensor | None = None,
    sample_shape: Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Approximate Gamma(alpha, 1) sample ``z = (u alpha Gamma(alpha))^(1/alpha)``.

    For small z, the Gamma CDF is F(z) ~ z^alpha / (alpha Gamma(alpha)) (the first term of the
    series of the lower incomplete gamma function); inverting that gives the formula (Knowles
    2015; used by the Dirichlet VAE, Joo et al. 2020). Since F(z) <= z^alpha / Gamma(alpha + 1),
    the approximate sample is never above the exact quantile. Its law is close for alpha << 1
    (Kolmogorov-Smirnov distance < 0.05 for alpha <= 0.1) and wrong for alpha >= 1 (at alpha = 1
    it returns U(0, 1) instead of Exponential(1)); its mean, though, is Gamma(alpha + 1)^(1/alpha)
    alpha / (alpha + 1), at most e^-gamma ~ 0.56 of the true mean alpha at EVERY alpha (the tail
    is cut off at Gamma(alpha + 1)^(1/alpha)). Normalised, as in :func:`dirichlet_approx` with
    small concentrations, most of that error cancels.

    Args:
        alpha: shape parameter > 0, any shape.
        u: Uniform(0, 1) noise strictly inside (0, 1) (drawn if None).
        sample_shape: leading sample dimensions of fresh noise.
        generator: random number generator for fresh noise.

    Returns:
        z >= 0 of shape ``sample_shape + alpha.shape`` (may underflow to 0 for tiny alpha).

    Introduced in lecture 06 (Gamma, Beta, Dirichlet).
    """
    alpha = _parameter("alpha", alpha, positive=True)
    u = _uniform_noise("u", u, alpha, _noise_shape(sample_shape, alpha.shape), generator)
    _validate.broadcastable(("alpha", "u"), (alpha, u))
    return torch.exp(_approx_log_gamma(alpha, u))


def dirichlet_approx(
    alpha: Tensor,
    *,
    u: Tensor | None = None,
    sample_shape: Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """The Dirichlet VAE's approximate Dirichlet(alpha) sample: normalised approximate Gammas.

    ``v_k = (u_k alpha_k Gamma(alpha_k))^(1/alpha_k)`` approximates Gamma(alpha_k, 1) (see
    :func:`gamma_approx`), and ``z = v / sum_k v_k``; the normalisation is done in log space (a
    softmax of log v), so that it stays finite when every v_k underflows (Joo et al. 2020). With
    every alpha_k << 1 its marginals and the gradient of its mean match the exact Dirichlet's
    (lecture 06 measures both); with concentrations above 1 they do not: use
    ``torch.distributions.Dirichlet(alpha).rsample()`` there.

    Args:
        alpha: concentrations > 0, shape ``(..., K)``.
        u: Uniform(0, 1) noise of shape ``(..., K)`` (drawn if None).
        sample_shape: leading sample dimensions of fresh noise.
        generator: random number generator for fresh noise.

    Returns:
        z on the simplex (sums to 1 over the last dim), shape ``sample_shape + alpha.shape``.

    Introduced in lecture 06 (Gamma, Beta, Dirichlet).
    """
    alpha = _parameter("alpha", alpha, positive=True)
    _validate.min_dims("alpha", alpha, 1, "(the last one indexes the K components)")
    u = _uniform_noise("u", u, alpha, _noise_shape(sample_shape, alpha.shape), generator)
    _validate.broadcastable(("alpha", "u"), (alpha, u))
    return torch.softmax(_approx_log_gamma(alpha, u), dim=-1)  # (..., K)


def implicit_gradient(
    cdf: Callable[[Tensor, Tensor], Tensor],
    z: Tensor,
    theta: Tensor,
    *,
    step: float = 1e-5,
) -> Tensor:
    """Implicit reparameterization gradient ``dz/dtheta = -(dF/dtheta) / (dF/dz)``.

    Holding the noise u = F(z; theta) fixed and differentiating F(z(theta); theta) = u gives
    the formula (Figurnov et al. 2018). Here both partial derivatives are central finite
    differences of ``cdf`` in float64, so any CDF that can be evaluated works; torch's ``rsample``
    for Gamma, Beta and Dirichlet computes the same quantity, with series and rational
    approximations of dF/dtheta (accurate to about 1e-3 relative in the far tails).

    Args:
        cdf: F(z, theta) -> probabilities, elementwise and broadcasting.
        z: samples, any shape.
        theta: the parameter of each sample, broadcastable with ``z``.
        step: relative finite-difference step (absolute for entries equal to 0).

    Returns:
        dz/dtheta in float64, shape ``broadcast(z, theta)``.

    Introduced in lecture 06 (implicit reparameterization).
    """
    z = _parameter("z", z).detach().to(torch.float64)
    theta = _parameter("theta", theta).detach().to(torch.float64)
    _validate.broadcastable(("z", "theta"), (z, theta))
    step = _validate.positive_number("step", step)
    # relative steps (so that a tiny z, as a Gamma sample with small alpha, is not stepped over 0)
    h_theta = step * torch.where(theta != 0, theta.abs(), torch.ones_like(theta))
    h_z = step * torch.where(z != 0, z.abs(), torch.ones_like(z))
    dF_dtheta = (cdf(z, theta + h_theta) - cdf(z, theta - h_theta)) / (2 * h_theta)
    dF_dz = (cdf(z + h_z, theta) - cdf(z - h_z, theta)) / (2 * h_z)
    return -dF_dtheta / dF_dz
