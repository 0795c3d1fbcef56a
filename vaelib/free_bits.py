"""Free bits: a remedy for posterior collapse that gives every latent dimension a KL allowance.

Introduced in lecture 05. Kingma et al. (2016, "Improved Variational Inference with Inverse
Autoregressive Flow", Appendix C.8) replace the KL term by

    sum_k max(lambda, KL_k),    KL_k = E_{x in batch} KL(q(z_k | x) || N(0, 1)),

so that a dimension whose batch-average KL is below ``lambda`` nats feels no pull towards the
prior: the first ``lambda`` nats of each dimension are free, and the optimiser has no reason to
switch the dimension off. (Kingma et al. apply it to groups of dimensions; here each dimension
is its own group.) The objective is no longer a bound on log p(x); evaluate a model trained with
it with :func:`vaelib.objectives.elbo`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from vaelib import _validate, objectives

__all__ = ["free_bits_kl", "FreeBitsVAE"]


def free_bits_kl(mu: Tensor, log_var: Tensor, allowance: float) -> Tensor:
    """sum_k max(allowance, mean_b KL_bk), the free-bits KL term (a scalar).

    Args:
        mu, log_var: the encoder's outputs, shape ``(B, K)``.
        allowance: lambda, the free nats per dimension, >= 0 (0: the plain KL term).

    Returns:
        scalar tensor; equals the batch-mean KL when every dimension's KL is above ``allowance``.
    """
    if (
        not isinstance(allowance, (int, float))
        or isinstance(allowance, bool)
        or not math.isfinite(allowance)
        or allowance < 0
    ):
        raise ValueError(f"allowance must be a finite number >= 0 (free nats per latent dimension); got {allowance!r}.")
    mu = _validate.real("mu", mu)
    log_var = _validate.real("log_var", log_var, like=mu)
    if mu.shape != log_var.shape or mu.dim() != 2:
        raise ValueError(
            f"mu and log_var must both have shape (B, K); got {tuple(mu.shape)} and {tuple(log_var.shape)}."
        )
    kl_k = (0.5 * (mu.pow(2) + log_var.exp() - 1 - log_var)).mean(0)  # (K,)
    return kl_k.clamp_min(allowance).sum()


class FreeBitsVAE(nn.Module):
    """A :class:`vaelib.models.VAE` trained with the free-bits objective recon + beta * free_bits_kl.

    ``loss(x, beta)`` follows the training protocol of :func:`vaelib.train.fit`; its ``kl`` part
    is the free-bits term. The wrapped model is ``.vae`` (evaluate it, not the wrapper).

    Args:
        vae: the model to train (it is trained in place).
        allowance: lambda, free nats per latent dimension.
    """

    def __init__(self, vae: nn.Module, allowance: float):
        super().__init__()
        free_bits_kl(torch.zeros(1, 1), torch.zeros(1, 1), allowance)  # validates the allowance
        if not isinstance(vae, nn.Module) or not all(callable(getattr(vae, m, None)) for m in ("encode", "decode")):
            raise TypeError(
                f"vae must be a vaelib.models.VAE (an nn.Module with encode and decode); got {type(vae).__name__} {vae!r}"[
                    :240
                ]
            )
        self.vae = vae
        self.allowance = float(allowance)

    def loss(self, x: Tensor, beta: float = 1.0) -> objectives.LossParts:
        """recon + beta * sum_k max(lambda, KL_k), with one reparameterized sample; batch means."""
        beta = objectives.check_beta(beta)
        mu, log_var = self.vae.encode(x)  # (B, K) each
        z = objectives.sample_latent(mu, log_var)  # (B, K)
        recon = objectives.bernoulli_nll(self.vae.decode(z), x).mean()
        kl = free_bits_kl(mu, log_var, self.allowance)
        return objectives.LossParts(loss=recon + beta * kl, recon=recon, kl=kl)
