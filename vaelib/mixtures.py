"""Gaussian-mixture latents: the ELBO with the component summed out exactly (lecture 06).

Introduced in lecture 06. The latent is a pair (c, z): a component c in {1..C} and a Gaussian
z in R^K given c, in the prior and in the posterior (the Gaussian-mixture VAE of Dilokthanakul
et al. 2016, with the notation of Kingma et al. 2014's M2 model):

    p(c) = Cat(softmax(prior_logits)),   p(z | c) = N(prior_mu_c, diag exp(prior_log_var_c)),
    q(c | x) = Cat(softmax(q_logits)),   q(z | x, c) = N(q_mu_c, diag exp(q_log_var_c)).

Sampling c would leave the weights q(c | x) without a pathwise gradient (c is discrete). But c takes
only C values, so the ELBO can sum over it exactly and sample only z, inside each component:

    ELBO(x) = sum_c q(c|x) [ E_{q(z|x,c)} log p(x | z) - KL(q(z|x,c) || p(z|c)) ] - KL(q(c|x) || p(c)),

which follows from log p(x, z, c) - log q(z, c | x) = log p(x|z) + [log p(z|c) - log q(z|x,c)]
+ [log p(c) - log q(c|x)] by taking the expectation over q(c|x) q(z|x,c) term by term. Every term
but the reconstruction is closed form; the reconstruction term uses z = q_mu_c + std_c * eps for
each c, so the whole bound is differentiable in every q parameter, the weights included (no
score function). Nothing runs at import time.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from vaelib import _validate, kl

__all__ = ["categorical_kl", "gaussian_mixture_elbo"]


def categorical_kl(q_logits: Tensor, p_logits: Tensor) -> Tensor:
    """KL(Cat(softmax(q_logits)) || Cat(softmax(p_logits))) = sum_c q_c (log q_c - log p_c), per row.

    Args:
        q_logits: ``(..., C)``.
        p_logits: broadcastable with ``q_logits``.

    Returns:
        shape ``(...)``, in nats.
    """
    q_logits = _validate.logits("q_logits", q_logits)
    p_logits = _validate.logits("p_logits", p_logits)
    _validate.broadcastable(("q_logits", "p_logits"), (q_logits, p_logits))
    log_q = torch.log_softmax(q_logits, -1)
    log_p = torch.log_softmax(p_logits, -1)
    terms = torch.where(log_q > -torch.inf, log_q.exp() * (log_q - log_p), torch.zeros_like(log_q))  # 0 log 0 = 0
    return terms.sum(-1)


def gaussian_mixture_elbo(
    log_likelihood: Callable[[Tensor], Tensor],
    q_logits: Tensor,
    q_mu: Tensor,
    q_log_var: Tensor,
    prior_logits: Tensor,
    prior_mu: Tensor,
    prior_log_var: Tensor,
    *,
    samples: int = 1,
    eps: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The ELBO of a Gaussian-mixture latent with the component c summed out exactly.

    ELBO = sum_c q_c [ mean_s log p(x | z_cs) - KL(q(z|x,c) || p(z|c)) ] - KL(q(c|x) || p(c)),
    z_cs = q_mu_c + exp(q_log_var_c / 2) * eps_cs (Dilokthanakul et al. 2016).

    Args:
        log_likelihood: z of shape ``(S, B, C, K)`` -> log p(x | z) of shape ``(S, B, C)`` (the
            data x is bound inside it, e.g. ``lambda z: -bernoulli_nll(decoder(z), x[:, None])``).
        q_logits: logits of q(c | x), ``(B, C)``.
        q_mu, q_log_var: the Gaussian of each component of q(z | x, c), ``(B, C, K)`` each.
        prior_logits: logits of p(c), ``(C,)`` (or broadcastable with ``q_logits``).
        prior_mu, prior_log_var: p(z | c), ``(C, K)`` each (or broadcastable with ``q_mu``).
        samples: S, the z draws per component.
        eps: standard normal noise ``(S, B, C, K)``; drawn (from ``generator``) when omitted.
        generator: random number generator for fresh noise.

    Returns:
        the ELBO of each row, shape ``(B,)``, differentiable in every argument.
    """
    S = _validate.positive_int("samples", samples)
    log_likelihood = _validate.function(
        "log_likelihood", log_likelihood, "lambda z: -bernoulli_nll(decoder(z), x[:, None])"
    )
    generator = _validate.generator(generator)
    q_logits = _validate.logits("q_logits", q_logits)
    q_mu = _validate.parameter("q_mu", q_mu)
    q_log_var = _validate.parameter("q_log_var", q_log_var, like=q_mu)
    _validate.min_dims("q_mu", q_mu, 3, "(B, C, K): a Gaussian for each of the C components")
    _validate.same_shape("q_mu", q_mu, "q_log_var", q_log_var)
    if q_logits.shape != q_mu.shape[:-1]:
        raise ValueError(
            f"q_logits must have shape (B, C) = {tuple(q_mu.shape[:-1])}, one logit per component of q_mu; "
            f"got {tuple(q_logits.shape)}."
        )
    prior_logits = _validate.logits("prior_logits", prior_logits)
    if prior_logits.numel() == 0:
        raise ValueError("prior_logits is empty; it needs one logit per component, shape (C,).")
    prior_mu = _validate.parameter("prior_mu", prior_mu, like=q_mu)
    prior_log_var = _validate.parameter("prior_log_var", prior_log_var, like=q_mu)
    _validate.broadcastable(("q_mu", "prior_mu", "prior_log_var"), (q_mu, prior_mu, prior_log_var))
    if eps is None:
        noise_device = generator.device if generator is not None else q_mu.device
        eps = torch.randn((S, *q_mu.shape), generator=generator, dtype=q_mu.dtype, device=noise_device).to(q_mu.device)
    else:
        eps = _validate.parameter("eps", eps, like=q_mu)
        if eps.shape[1:] != q_mu.shape:
            raise ValueError(
                f"eps must have shape (S, *q_mu.shape) = (S, {', '.join(map(str, q_mu.shape))}); got {tuple(eps.shape)}."
            )
    z = q_mu + torch.exp(0.5 * q_log_var) * eps  # (S, B, C, K)
    recon = log_likelihood(z)  # (S, B, C)
    if recon.shape != z.shape[:-1]:
        raise ValueError(
            f"log_likelihood must map z {tuple(z.shape)} to shape {tuple(z.shape[:-1])}; got {tuple(recon.shape)}."
        )
    kl_z = kl.diag_gaussian_to_diag_gaussian(q_mu, q_log_var, prior_mu, prior_log_var)  # (B, C)
    q_c = torch.softmax(q_logits, -1)  # (B, C)
    per_component = recon.mean(0) - kl_z  # (B, C)
    return (q_c * per_component).sum(-1) - categorical_kl(q_logits, prior_logits)
