"""The von Mises-Fisher law on the unit sphere: Wood's rejection sampler and its gradient (lecture 06).

Introduced in lecture 06. vMF(mu, kappa) on S^{d-1} = {z in R^d : ||z|| = 1} has density

    q(z; mu, kappa) = C_d(kappa) exp(kappa mu^T z),   C_d(kappa) = kappa^{d/2-1} / ((2 pi)^{d/2} I_{d/2-1}(kappa))

(mean direction mu, ||mu|| = 1; concentration kappa > 0; I_nu the modified Bessel function of the
first kind). Its one hard coordinate is w = mu^T z in [-1, 1], with marginal density

    f(w; kappa) = exp(kappa w) (1 - w^2)^{(d-3)/2} / N_d(kappa),
    N_d(kappa) = sqrt(pi) Gamma((d-1)/2) (2/kappa)^{d/2-1} I_{d/2-1}(kappa),

and mean E[w] = A_d(kappa) = I_{d/2}(kappa) / I_{d/2-1}(kappa) (Mardia & Jupp 2000, chapter 9).
Given w, z = w mu + sqrt(1 - w^2) v with v uniform on the unit sphere orthogonal to mu.

**Wood's algorithm** (Wood 1994) draws w by rejection: with
b = (d-1) / (2 kappa + sqrt(4 kappa^2 + (d-1)^2)), x0 = (1-b)/(1+b), c = kappa x0 + (d-1) log(1 - x0^2),
propose eps ~ Beta((d-1)/2, (d-1)/2), w = h(eps, kappa) = (1 - (1+b) eps) / (1 - (1-b) eps),
and accept when kappa w + (d-1) log(1 - x0 w) - c >= log u, u ~ U(0, 1).

**Its gradient** (Naesseth et al. 2017; Davidson et al. 2018). The
accepted eps has density pi(eps; kappa) = f(h(eps, kappa); kappa) |dh/deps|, which depends on
kappa: which proposals survive changes with kappa. Hence

    d/dkappa E[g(w)] = E_pi[ g'(w) dh/dkappa ]                       (g_rep: the path through h)
                     + E_pi[ g(w) d/dkappa log pi(eps; kappa) ]     (g_cor: the acceptance step)

and g_rep alone (what autograd returns when it differentiates the accepted sample) is biased.
In ``d/dkappa log pi`` the normaliser contributes d/dkappa (-log N_d) = -A_d(kappa).

Bessel functions come from scipy (``scipy.special.ive``, exponentially scaled, stable for large
kappa); they carry no autograd gradient. Nothing runs at import time.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Sequence

import numpy as np
import scipy.special
import torch
from torch import Tensor

from vaelib import _validate

__all__ = [
    "WoodSample",
    "log_bessel_iv",
    "mean_resultant_length",
    "marginal_log_density",
    "log_normalizer",
    "log_prob",
    "kl_to_uniform",
    "proposal_w",
    "wood_w",
    "sample",
    "log_accepted_density",
    "rejection_gradient_terms",
]


class WoodSample(NamedTuple):
    """Accepted draws of Wood's sampler: ``w = h(eps, kappa)`` (differentiable in kappa), the
    accepted Beta proposals ``eps`` (detached) and how many proposals were made in total."""

    w: Tensor
    eps: Tensor
    proposals: int


def _dimension(d: int) -> int:
    if not isinstance(d, int) or isinstance(d, bool) or d < 2:
        raise ValueError(
            f"d must be an integer >= 2 (the sphere S^(d-1) lives in R^d; d = 3 is the usual sphere); got {d!r}."
        )
    return d


def _kappa(kappa) -> Tensor:
    return _validate.parameter("kappa", kappa, positive=True)


def log_bessel_iv(nu: float, kappa: Tensor) -> Tensor:
    """log I_nu(kappa), computed as log(ive(nu, kappa)) + kappa (finite for large kappa); no gradient.

    Args:
        nu: the order, a finite number >= 0 (d/2 - 1 for the sphere in R^d).
        kappa: the argument, > 0, any shape.
    """
    nu = _validate.real_number("nu", nu, minimum=0, meaning="the order of the Bessel function, d/2 - 1 for R^d")
    kappa = _kappa(kappa)
    k = kappa.detach().cpu().double().numpy()
    return torch.as_tensor(np.log(scipy.special.ive(nu, k)) + k, dtype=kappa.dtype, device=kappa.device)


def mean_resultant_length(kappa, d: int) -> Tensor:
    """A_d(kappa) = E[mu^T z] = I_{d/2}(kappa) / I_{d/2-1}(kappa), shape of ``kappa``; no gradient.

    Introduced in lecture 06.
    """
    kappa, d = _kappa(kappa), _dimension(d)
    k = kappa.detach().cpu().double().numpy()
    return torch.as_tensor(
        scipy.special.ive(d / 2, k) / scipy.special.ive(d / 2 - 1, k), dtype=kappa.dtype, device=kappa.device
    )


def _log_marginal_normalizer(kappa: Tensor, d: int) -> Tensor:
    # log N_d = 1/2 log pi + lgamma((d-1)/2) + (d/2 - 1) log(2/kappa) + log I_{d/2-1}(kappa)
    return (
        0.5 * math.log(math.pi)
        + math.lgamma((d - 1) / 2)
        + (d / 2 - 1) * torch.log(2 / kappa.detach())
        + log_bessel_iv(d / 2 - 1, kappa)
    )


def marginal_log_density(w, kappa, d: int) -> Tensor:
    """log f(w; kappa) of w = mu^T z: kappa w + (d-3)/2 log(1 - w^2) - log N_d(kappa).

    Args:
        w: values in (-1, 1), any shape broadcastable with ``kappa``.
        kappa: concentrations > 0.
        d: the dimension of the ambient space (z in R^d).

    Returns:
        log-densities, the broadcast shape (differentiable in w and, except for log N_d, in kappa).
    """
    kappa, d = _kappa(kappa), _dimension(d)
    w = _validate.parameter("w", w, like=kappa)
    return kappa * w + 0.5 * (d - 3) * torch.log1p(-w * w) - _log_marginal_normalizer(kappa, d)


def log_normalizer(kappa, d: int) -> Tensor:
    """log C_d(kappa) = (d/2 - 1) log kappa - (d/2) log(2 pi) - log I_{d/2-1}(kappa); no gradient."""
    kappa, d = _kappa(kappa), _dimension(d)
    return (d / 2 - 1) * torch.log(kappa.detach()) - (d / 2) * math.log(2 * math.pi) - log_bessel_iv(d / 2 - 1, kappa)


def _check_unit(mu: Tensor) -> Tensor:
    mu = _validate.parameter("mu", mu)
    _validate.min_dims("mu", mu, 1, "(the last one holds the d coordinates)")
    norms = mu.detach().norm(dim=-1)
    if ((norms - 1).abs() > 1e-4).any():
        raise ValueError(
            f"mu must be unit vectors along its last dimension (the mean direction); got norms from "
            f"{norms.min().item():.4g} to {norms.max().item():.4g}. Normalise it: mu / mu.norm(dim=-1, keepdim=True)."
        )
    return mu


def log_prob(z: Tensor, mu: Tensor, kappa) -> Tensor:
    """log q(z; mu, kappa) = log C_d(kappa) + kappa mu^T z for unit vectors z, mu of shape ``(..., d)``."""
    mu = _check_unit(mu)
    z = _validate.parameter("z", z, like=mu)
    kappa = _kappa(kappa)
    return log_normalizer(kappa, mu.shape[-1]) + kappa * (mu * z).sum(-1)


def kl_to_uniform(kappa, d: int) -> Tensor:
    """KL(vMF(mu, kappa) || Uniform(S^{d-1})) = kappa A_d(kappa) + log C_d(kappa) + log |S^{d-1}|.

    |S^{d-1}| = 2 pi^{d/2} / Gamma(d/2) is the sphere's surface area; the KL does not depend on mu
    (Davidson et al. 2018). No gradient (Bessel functions from scipy).
    """
    kappa, d = _kappa(kappa), _dimension(d)
    log_area = math.log(2) + (d / 2) * math.log(math.pi) - math.lgamma(d / 2)
    return kappa.detach() * mean_resultant_length(kappa, d) + log_normalizer(kappa, d) + log_area


def _envelope(kappa: Tensor, d: int) -> tuple[Tensor, Tensor, Tensor]:
    b = (d - 1) / (2 * kappa + torch.sqrt(4 * kappa * kappa + (d - 1) ** 2))  # stable form of Wood's b
    x0 = (1 - b) / (1 + b)
    c = kappa * x0 + (d - 1) * torch.log1p(-x0 * x0)
    return b, x0, c


def _eps(eps, like: Tensor) -> Tensor:
    """Wood's proposal noise: finite values strictly inside (0, 1) (the Beta's support)."""
    eps = _validate.real("eps", eps, like=like, cast=True)
    if ((eps <= 0) | (eps >= 1)).any():
        raise ValueError(
            f"eps must lie strictly between 0 and 1 (a Beta((d-1)/2, (d-1)/2) draw; the endpoints map to "
            f"w = +-1, where the density is 0); got values in [{eps.min().item():.4g}, {eps.max().item():.4g}]."
        )
    return eps


def proposal_w(eps: Tensor, kappa, d: int) -> Tensor:
    """Wood's proposal map w = h(eps, kappa) = (1 - (1+b) eps) / (1 - (1-b) eps), differentiable in kappa."""
    kappa, d = _kappa(kappa), _dimension(d)
    eps = _eps(eps, kappa)
    b, _, _ = _envelope(kappa, d)
    return (1 - (1 + b) * eps) / (1 - (1 - b) * eps)


def wood_w(
    kappa,
    d: int,
    *,
    sample_shape: Sequence[int] = (),
    generator: torch.Generator | None = None,
    max_rounds: int = 1000,
) -> WoodSample:
    """Draw w = mu^T z of vMF(mu, kappa) on S^{d-1} by Wood's (1994) rejection algorithm.

    Every entry proposes eps ~ Beta((d-1)/2, (d-1)/2) and u ~ U(0, 1) until
    kappa w + (d-1) log(1 - x0 w) - c >= log u (module docstring); entries are redrawn in
    rounds, only where still rejected.

    Args:
        kappa: concentrations > 0, any shape.
        d: dimension of the ambient space, >= 2.
        sample_shape: leading sample dimensions.
        generator: random number generator (seeds every proposal).
        max_rounds: give up (RuntimeError) after this many rounds.

    Returns:
        :class:`WoodSample` with ``w`` and ``eps`` of shape ``sample_shape + kappa.shape``;
        ``w = proposal_w(eps, kappa, d)`` carries the pathwise gradient in kappa (g_rep only).
    """
    kappa, d = _kappa(kappa), _dimension(d)
    max_rounds = _validate.positive_int("max_rounds", max_rounds)
    generator = torch.default_generator if generator is None else generator
    shape = _validate.noise_shape(_validate.sample_shape_tuple(sample_shape), kappa.shape)
    k = kappa.detach().expand(shape).to(torch.float64)
    b, x0, c = _envelope(k, d)
    half = torch.full(shape, (d - 1) / 2, dtype=torch.float64)
    eps = torch.empty(shape, dtype=torch.float64)
    todo = torch.ones(shape, dtype=torch.bool)
    proposals = 0
    for _ in range(max_rounds):
        n = int(todo.sum())
        if n == 0:
            break
        proposals += n
        # Beta(a, a) as a ratio of Gammas, so that the generator seeds it (torch's Beta takes none)
        g1, g2 = _gamma(half[todo], generator), _gamma(half[todo], generator)
        e = g1 / (g1 + g2)
        w = (1 - (1 + b[todo]) * e) / (1 - (1 - b[todo]) * e)
        u = torch.rand(n, dtype=torch.float64, generator=generator)
        accept = k[todo] * w + (d - 1) * torch.log1p(-x0[todo] * w) - c[todo] >= torch.log(u)
        idx = todo.nonzero(as_tuple=True)
        eps[tuple(i[accept] for i in idx)] = e[accept]
        todo[tuple(i[accept] for i in idx)] = False
    else:
        raise RuntimeError(f"Wood's sampler did not accept every proposal in {max_rounds} rounds (kappa {kappa}).")
    eps = eps.to(kappa.dtype)
    return WoodSample(w=proposal_w(eps, kappa, d), eps=eps, proposals=proposals)


def _gamma(alpha: Tensor, generator: torch.Generator) -> Tensor:
    # Gamma(alpha, 1) for alpha >= 1/2 by Marsaglia & Tsang (2000), driven by ``generator``:
    # for alpha < 1 use Gamma(alpha) = Gamma(alpha + 1) * U^(1/alpha).
    boost = alpha < 1
    a = torch.where(boost, alpha + 1, alpha)
    dd = a - 1 / 3
    cc = 1 / torch.sqrt(9 * dd)
    out = torch.empty_like(a)
    todo = torch.ones_like(a, dtype=torch.bool)
    while todo.any():
        n = int(todo.sum())
        x = torch.randn(n, dtype=a.dtype, generator=generator)
        v = (1 + cc[todo] * x) ** 3
        u = torch.rand(n, dtype=a.dtype, generator=generator)
        ok = (v > 0) & (torch.log(u) < 0.5 * x * x + dd[todo] * (1 - v + torch.log(v.clamp_min(1e-300))))
        idx = todo.nonzero(as_tuple=True)[0]
        out[idx[ok]] = (dd[todo] * v)[ok]
        todo[idx[ok]] = False
    if boost.any():
        u = torch.rand(int(boost.sum()), dtype=a.dtype, generator=generator)
        out[boost] = out[boost] * u ** (1 / alpha[boost])
    return out


def sample(
    mu: Tensor,
    kappa,
    *,
    sample_shape: Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Samples of vMF(mu, kappa): Wood's w, a uniform tangent direction, a Householder reflection.

    z' = (w, sqrt(1 - w^2) v) in coordinates where e_1 is the mean direction (v uniform on
    S^{d-2}), then z = H z' with H = I - 2 r r^T / (r^T r), r = e_1 - mu, the reflection that
    maps e_1 to mu (as in Davidson et al. 2018). Differentiable in mu (through H) and in
    kappa (through w, the pathwise part g_rep only).

    Args:
        mu: unit mean directions, shape ``(..., d)``.
        kappa: concentrations > 0, shape ``(...)`` (broadcast against mu's batch shape).
        sample_shape: leading sample dimensions.
        generator: random number generator.

    Returns:
        unit vectors, shape ``sample_shape + mu.shape``.
    """
    mu = _check_unit(mu)
    d = _dimension(mu.shape[-1])
    kappa = _kappa(kappa)
    batch = _validate.broadcastable(("mu[..., 0]", "kappa"), (mu[..., 0], kappa))
    shape = (*_validate.sample_shape_tuple(sample_shape), *batch)
    w = wood_w(kappa.expand(batch), d, sample_shape=sample_shape, generator=generator).w.unsqueeze(-1)  # (..., 1)
    v = torch.randn((*shape, d - 1), dtype=mu.dtype, generator=generator)
    v = v / v.norm(dim=-1, keepdim=True)  # (..., d-1): uniform on S^{d-2}
    z_prime = torch.cat([w, torch.sqrt((1 - w * w).clamp_min(0)) * v], dim=-1)  # (..., d)
    e1 = torch.zeros(d, dtype=mu.dtype)
    e1[0] = 1
    r = (e1 - mu).expand(*shape, d)  # (..., d)
    r_sq = (r * r).sum(-1, keepdim=True)
    reflect = torch.where(
        r_sq > 1e-12, 2 * (r * z_prime).sum(-1, keepdim=True) / r_sq.clamp_min(1e-12), torch.zeros_like(r_sq)
    )
    return z_prime - reflect * r  # H z' = z' - 2 r (r^T z') / (r^T r)


def log_accepted_density(eps: Tensor, kappa, d: int) -> Tensor:
    """log pi(eps; kappa) = log f(h(eps, kappa); kappa) + log |dh/deps|, the law of an accepted eps.

    dh/deps = -2b / (1 - (1-b) eps)^2. Differentiable in kappa except through log N_d (whose
    derivative is -A_d(kappa); :func:`rejection_gradient_terms` adds it).
    """
    kappa, d = _kappa(kappa), _dimension(d)
    eps = _eps(eps, kappa)
    b, _, _ = _envelope(kappa, d)
    w = proposal_w(eps, kappa, d)
    log_jacobian = torch.log(2 * b) - 2 * torch.log1p(-(1 - b) * eps)
    return marginal_log_density(w, kappa, d) + log_jacobian


def rejection_gradient_terms(
    g: Callable[[Tensor], Tensor],
    kappa: float,
    d: int,
    num_samples: int,
    *,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Per-sample estimates of the two terms of d/dkappa E[g(w)] (Naesseth et al. 2017).

    g_rep_s = g'(w_s) dh/dkappa (eps_s),   g_cor_s = g(w_s) d/dkappa log pi(eps_s; kappa),
    with eps_s accepted draws of Wood's sampler. Their sum is unbiased; g_rep alone is not.

    Args:
        g: w of shape ``(S,)`` -> ``(S,)``, differentiable.
        kappa: a concentration > 0 (a number).
        d: dimension of the ambient space, >= 2.
        num_samples: S >= 1.
        generator: random number generator.

    Returns:
        ``(g_rep, g_cor)``, each of shape ``(S,)`` (float64, detached).
    """
    S = _validate.positive_int("num_samples", num_samples)
    g = _validate.function("g", g, "lambda w: w")
    k = torch.full((S,), _validate.positive_number("kappa", kappa), dtype=torch.float64, requires_grad=True)
    eps = wood_w(k.detach(), _dimension(d), generator=generator).eps  # (S,)
    w = proposal_w(eps, k, d)  # (S,): one leaf per sample
    values = g(w)
    (g_rep,) = torch.autograd.grad(values.sum(), k, retain_graph=True)
    (dlog_pi,) = torch.autograd.grad(log_accepted_density(eps, k, d).sum(), k)
    dlog_pi = dlog_pi - mean_resultant_length(k.detach(), d)  # d/dkappa of -log N_d
    return g_rep.detach(), (values.detach() * dlog_pi).detach()
