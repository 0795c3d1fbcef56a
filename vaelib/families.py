"""Reparameterizable continuous families beyond the Gaussian (lecture 06).

Location-scale families (Laplace, logistic: z = loc + scale * eps), inverse-CDF samplers
(exponential, Gumbel, Kumaraswamy: z = F^-1(u), u ~ U(0, 1)), the Dirichlet VAE's approximate
Gamma/Dirichlet sampler (Joo et al. 2020) and the implicit reparameterization gradient
(Figurnov et al. 2018) that torch's own Gamma/Beta/Dirichlet ``rsample`` uses.

Shared API: every sampler takes its parameters as tensors (or numbers) that broadcast, the noise
as ``eps=`` or ``u=`` (so a test or a student can pass it; fresh noise is drawn when it is
omitted, of shape ``(*sample_shape, *broadcast parameter shape)``, from ``generator`` if given),
and returns samples of the broadcast shape, differentiable in the parameters.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor

from vaelib import _validate


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
    loc = _validate.parameter("loc", loc)
    scale = _validate.parameter("scale", scale, like=loc, positive=True)
    if eps is None:
        v = _validate.fresh_uniform(_validate.noise_shape(sample_shape, loc.shape, scale.shape), loc, generator) - 0.5
        # |v| can round to exactly 1/2 (u = tiny gives v = -1/2), where log(1 - 2|v|) = -inf
        two_abs_v = (2.0 * v.abs()).clamp(max=1.0 - torch.finfo(loc.dtype).eps)
        eps = -torch.sign(v) * torch.log1p(-two_abs_v)
    else:
        eps = _validate.parameter("eps", eps, like=loc)
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
    loc = _validate.parameter("loc", loc)
    scale = _validate.parameter("scale", scale, like=loc, positive=True)
    if eps is None:
        u = _validate.fresh_uniform(_validate.noise_shape(sample_shape, loc.shape, scale.shape), loc, generator)
        eps = torch.log(u) - torch.log1p(-u)
    else:
        eps = _validate.parameter("eps", eps, like=loc)
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
    rate = _validate.parameter("rate", rate, positive=True)
    u = _validate.uniform_noise("u", u, rate, _validate.noise_shape(sample_shape, rate.shape), generator)
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
    loc = _validate.parameter("loc", loc)
    scale = _validate.parameter("scale", scale, like=loc, positive=True)
    u = _validate.uniform_noise("u", u, loc, _validate.noise_shape(sample_shape, loc.shape, scale.shape), generator)
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
    a = _validate.parameter("a", a, positive=True)
    b = _validate.parameter("b", b, like=a, positive=True)
    u = _validate.uniform_noise("u", u, a, _validate.noise_shape(sample_shape, a.shape, b.shape), generator)
    _validate.broadcastable(("a", "b", "u"), (a, b, u))
    # (1 - u)^(1/b) = exp(log1p(-u) / b); 1 - that = -expm1(...), accurate when it is tiny
    return (-torch.expm1(torch.log1p(-u) / b)) ** (1.0 / a)


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
    alpha = _validate.parameter("alpha", alpha, positive=True)
    u = _validate.uniform_noise("u", u, alpha, _validate.noise_shape(sample_shape, alpha.shape), generator)
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
    alpha = _validate.parameter("alpha", alpha, positive=True)
    _validate.min_dims("alpha", alpha, 1, "(the last one indexes the K components)")
    u = _validate.uniform_noise("u", u, alpha, _validate.noise_shape(sample_shape, alpha.shape), generator)
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
    cdf = _validate.function("cdf", cdf, "lambda z, alpha: torch.special.gammainc(alpha, z)")
    z = _validate.parameter("z", z).detach().to(torch.float64)
    theta = _validate.parameter("theta", theta).detach().to(torch.float64)
    _validate.broadcastable(("z", "theta"), (z, theta))
    step = _validate.positive_number("step", step)
    # relative steps (so that a tiny z, as a Gamma sample with small alpha, is not stepped over 0)
    h_theta = step * torch.where(theta != 0, theta.abs(), torch.ones_like(theta))
    h_z = step * torch.where(z != 0, z.abs(), torch.ones_like(z))
    dF_dtheta = (cdf(z, theta + h_theta) - cdf(z, theta - h_theta)) / (2 * h_theta)
    dF_dz = (cdf(z + h_z, theta) - cdf(z - h_z, theta)) / (2 * h_z)
    grad = -dF_dtheta / dF_dz
    bad = ~torch.isfinite(grad)
    if bad.any():
        raise ValueError(
            f"the implicit gradient is not finite at {int(bad.sum())} of {grad.numel()} entries "
            f"(e.g. z={z.expand_as(grad)[bad][0].item():.4g}, theta={theta.expand_as(grad)[bad][0].item():.4g}): "
            f"cdf returned NaN there or has zero slope in z. Check that z lies inside the "
            f"support of cdf(., theta) and theta in its parameter range (e.g. z > 0, alpha > 0 for a Gamma)."
        )
    return grad
