"""Training objectives and diagnostics of a VAE: negative ELBO, beta-ELBO, IWAE bound, active units.

Introduced in lecture 05. The model is p(z) = N(0, I), p(x | z) = Bernoulli(sigmoid(decode(z)))
and q(z | x) = N(mu, diag exp(log_var)) with ``(mu, log_var) = encode(x)``; any object with
those two methods works (see :mod:`vaelib.models`).

Reduction convention, used everywhere: a log-likelihood is **summed over pixels** (the pixels
are independent given z, so the log-probability of an image is the sum of its pixels'), and a
loss is **averaged over the batch** (an unbiased estimate of the average over the data set whose
scale does not depend on the batch size).
"""

from __future__ import annotations

import inspect
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from vaelib import _validate, gaussians, reparam
from vaelib import kl as _kl

__all__ = [
    "LossParts",
    "ActiveUnits",
    "check_targets",
    "check_beta",
    "bernoulli_nll",
    "sample_latent",
    "negative_elbo",
    "elbo",
    "log_importance_weights",
    "iwae_bound",
    "kl_per_dimension",
    "active_units",
]


class LossParts(NamedTuple):
    """A training loss and its two parts, each a scalar tensor (a batch mean).

    ``loss = recon + beta * kl``; unpack it as ``loss, recon, kl = negative_elbo(model, x)``.
    """

    loss: Tensor
    recon: Tensor
    kl: Tensor


class ActiveUnits(NamedTuple):
    """The result of :func:`active_units`: how many latent dimensions are active, and why."""

    count: int
    variance: Tensor  # (K,) Cov_x(E_q[z_k]) for each dimension k
    threshold: float


def check_beta(beta: float) -> float:
    """Return ``beta`` as a float, or raise a ValueError unless it is a finite number >= 0 (not a bool)."""
    if not isinstance(beta, (int, float)) or isinstance(beta, bool) or not math.isfinite(beta) or beta < 0:
        raise ValueError(f"beta must be a finite number >= 0 (the weight of the KL term; 1 is the ELBO); got {beta!r}.")
    return float(beta)


def _check_k(k: int, name: str = "k") -> int:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        what = "the number of importance samples" if name == "k" else "the number of z draws per image"
        raise ValueError(f"{name} must be an integer >= 1 ({what}); got {k!r}.")
    return k


def _check_model(model) -> None:
    """Raise a TypeError unless ``model`` has callable ``encode`` and ``decode`` methods."""
    if not (callable(getattr(model, "encode", None)) and callable(getattr(model, "decode", None))):
        raise TypeError(
            f"model must have encode(x) -> (mu, log_var) and decode(z) -> logits methods (a "
            f"vaelib.models.VAE); got {type(model).__name__} {model!r}"[:300]
        )


_TAKES_CHECK: dict[type, bool] = {}


def _encode(model, x: Tensor, checked: bool):
    """``model.encode(x)``; once ``x`` is ``checked`` (or on the hot path), without re-checking its
    values if the model's ``encode`` takes ``check`` (the vaelib models do; any other works too)."""
    takes = _TAKES_CHECK.get(type(model))
    if takes is None:
        try:
            takes = "check" in inspect.signature(model.encode).parameters
        except (TypeError, ValueError):
            takes = False
        _TAKES_CHECK[type(model)] = takes
    return model.encode(x, check=not checked) if takes else model.encode(x)


def check_targets(name: str, x) -> Tensor:
    """The Bernoulli likelihood's data contract: a non-empty float tensor with values in [0, 1].

    Raises a TypeError for a non-tensor or an integer tensor (8-bit images: divide by 255), a
    ValueError for an empty batch, NaN/inf (a :class:`vaelib._validate.NonFiniteError`) or values
    outside [0, 1] (e.g. pixels scaled to 0-255, which give a log-likelihood of about -1e24).
    One host sync: call it at entry points and once on a data set, not on every training step.

    Args:
        name: the argument's name, for the message.
        x: the images, shape ``(B, ...)`` with B >= 1.

    Returns:
        ``x``, unchanged.
    """
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor; got {type(x).__name__}. Convert it with "
            f"torch.as_tensor({name}, dtype=torch.float32)."
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor with values in [0, 1]; got dtype {x.dtype}. "
            f"For 8-bit images use {name}.float() / 255."
        )
    _validate.nonempty_batch(name, x, "one image per row")
    return _validate.unit_interval(
        name, x, "the Bernoulli likelihood's", "Pixel values are probabilities: divide 8-bit images by 255."
    )


def bernoulli_nll(logits: Tensor, x: Tensor, *, check: bool = True) -> Tensor:
    """Negative log-likelihood of images under independent Bernoullis, summed over pixels.

    -log p(x | z) = -sum_d [x_d log sigmoid(l_d) + (1 - x_d) log(1 - sigmoid(l_d))], computed
    from the logits l with ``binary_cross_entropy_with_logits`` (stable for any logit; never
    apply sigmoid first). Pixel values in [0, 1] are allowed (the "continuous Bernoulli"
    normalising constant is ignored, as in Kingma & Welling 2014).

    Args:
        logits: decoder outputs, shape ``(..., D)``.
        x: images, shape broadcastable to ``logits``, values in [0, 1].
        check: validate ``x`` (:func:`check_targets`: a non-empty float tensor in [0, 1]; one
            host sync). The training hot path (``VAE.loss`` inside ``fit``, which checked the
            whole data set once) passes ``False``.

    Returns:
        shape ``(...)``: one value per image, in nats.
    """
    if check:
        check_targets("x", x)
        if not isinstance(logits, Tensor):
            raise TypeError(f"logits must be a torch.Tensor of shape (..., D); got {type(logits).__name__}.")
        _validate.real("logits", logits, dims=1, meaning="(the last one indexes the D pixels)")
    if logits.shape[-1] != x.shape[-1]:
        raise ValueError(
            f"logits and x must have the same number of pixels in their last dimension; got logits "
            f"{tuple(logits.shape)} and x {tuple(x.shape)}. Flatten images to (B, D) first."
        )
    x = x.expand_as(logits)
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)  # (...)


def sample_latent(mu: Tensor, log_var: Tensor, eps: Tensor | None = None) -> Tensor:
    """One reparameterized sample z = mu + exp(log_var / 2) * eps from N(mu, diag exp(log_var)).

    Args:
        mu, log_var: shape ``(B, K)`` each.
        eps: standard normal noise of shape ``(B, K)``; drawn fresh when omitted.

    Returns:
        z, shape ``(B, K)``, differentiable in ``mu`` and ``log_var``.
    """
    mu = _validate.real("mu", mu, allow_empty=True)
    log_var = _validate.real("log_var", log_var, like=mu, allow_empty=True)
    _validate.broadcastable(("mu", "log_var"), (mu, log_var))
    std = torch.exp(0.5 * log_var)  # log_var is the log of the *variance*: std = exp(log_var / 2)
    return reparam.diag_gaussian(mu, std, eps)


def negative_elbo(
    model,
    x: Tensor,
    beta: float = 1.0,
    *,
    eps: Tensor | None = None,
    generator: torch.Generator | None = None,
    check: bool = True,
) -> LossParts:
    """The (beta-weighted) negative evidence lower bound, averaged over the batch.

    -ELBO(x) = E_{q(z|x)}[-log p(x | z)] + beta * KL(q(z | x) || N(0, I)), with the expectation
    estimated by one reparameterized sample z = mu + std * eps and the KL in closed form
    (Kingma & Welling 2014, eq. 10 and Appendix B); beta != 1 is the beta-VAE objective
    (Higgins et al. 2017).

    Args:
        model: has ``encode(x) -> (mu, log_var)`` and ``decode(z) -> logits``.
        x: images, shape ``(B, D)``, values in [0, 1].
        beta: weight of the KL term, >= 0.
        eps: the noise, shape ``(B, K)``; drawn fresh when omitted.
        generator: draws the fresh noise (``fit`` passes its own, checkpointed, so that a
            resumed run draws what an uninterrupted one would); None: torch's global generator.
        check: validate ``x`` (:func:`check_targets`: values in [0, 1], non-empty), ``std``
            and the KL's inputs (NaN, inf, negative std) on every call. ``VAE.loss`` inside
            ``vaelib.train.fit`` passes ``False``: fit checks the data once and the loss once per
            epoch, and the per-tensor checks cost about 10% of a training step
            (benchmarks/REPORT.md). Same arithmetic, same random numbers.

    Returns:
        :class:`LossParts` ``(loss, recon, kl)``: scalars, ``loss = recon + beta * kl``, where
        ``recon`` is the Bernoulli NLL summed over pixels and ``kl`` is summed over latent
        dimensions, both averaged over the batch.
    """
    beta = check_beta(beta)
    if check:
        _check_model(model)
        check_targets("x", x)
        generator = _validate.generator(generator)
    mu, log_var = _encode(model, x, checked=True)  # (B, K), (B, K); x checked above or by fit
    if eps is None and generator is not None:
        eps = _noise(tuple(mu.shape), mu, generator)  # (B, K)
    if check:
        z = sample_latent(mu, log_var, eps)  # (B, K)
        kl = _kl.diag_gaussian_to_std_normal(mu, log_var).mean()
    else:
        eps = torch.randn_like(mu) if eps is None else eps  # the same draw reparam.diag_gaussian makes
        z = mu + torch.exp(0.5 * log_var) * eps  # (B, K)
        kl = _kl.diag_gaussian_to_std_normal_unchecked(mu, log_var).mean()
    recon = bernoulli_nll(model.decode(z), x, check=False).mean()
    return LossParts(loss=recon + beta * kl, recon=recon, kl=kl)


def _noise(shape: tuple, like: Tensor, generator: torch.Generator | None) -> Tensor:
    device = generator.device if generator is not None else like.device
    return torch.randn(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def elbo(model, x: Tensor, *, samples: int = 1, generator: torch.Generator | None = None) -> Tensor:
    """The ELBO of each image, in nats: E_q[log p(x | z)] - KL(q(z | x) || p(z)).

    The expectation is averaged over ``samples`` reparameterized draws; the KL is exact.

    Args:
        model: has ``encode`` and ``decode`` (a :class:`vaelib.models.VAE`).
        x: images, shape ``(B, D)``.
        samples: number of z draws per image for the reconstruction term.
        generator: seeds the noise.

    Returns:
        shape ``(B,)``, a lower bound on log p(x) for each image.
    """
    samples = _check_k(samples, "samples")
    _check_model(model)
    check_targets("x", x)
    generator = _validate.generator(generator)
    mu, log_var = _encode(model, x, checked=True)  # (B, K)
    eps = _noise((samples, *mu.shape), mu, generator)  # (S, B, K)
    z = sample_latent(mu.expand_as(eps), log_var.expand_as(eps), eps)  # (S, B, K)
    log_px_z = -bernoulli_nll(model.decode(z), x, check=False).mean(0)  # (B,)
    return log_px_z - _kl.diag_gaussian_to_std_normal(mu, log_var)


def log_importance_weights(
    model, x: Tensor, k: int, *, generator: torch.Generator | None = None, check: bool = True
) -> Tensor:
    """Log importance weights log w_i = log p(x, z_i) - log q(z_i | x), z_i ~ q(z | x).

    log w = log p(x | z) + log N(z; 0, I) - log N(z; mu, diag std^2). With z = mu + std * eps,
    log q(z | x) = -1/2 sum_k (eps_k^2 + log_var_k + log 2 pi) exactly.

    Args:
        model: has ``encode`` and ``decode``.
        x: images, shape ``(B, D)``.
        k: number of samples per image.
        generator: seeds the noise.
        check: validate ``x`` and ``generator`` (``iwae_bound`` checks once, then passes False).

    Returns:
        shape ``(k, B)``; differentiable (the IWAE training objective is built from it).
    """
    k = _check_k(k)
    if check:
        _check_model(model)
        check_targets("x", x)
        generator = _validate.generator(generator)
    mu, log_var = _encode(model, x, checked=True)  # (B, K)
    eps = _noise((k, *mu.shape), mu, generator)  # (k, B, K)
    z = sample_latent(mu.expand_as(eps), log_var.expand_as(eps), eps)  # (k, B, K)
    log_px_z = -bernoulli_nll(model.decode(z), x, check=False)  # (k, B)
    log_pz = -0.5 * (z.pow(2) + gaussians.LOG_2PI).sum(-1)  # (k, B)
    log_qz = -0.5 * (eps.pow(2) + log_var + gaussians.LOG_2PI).sum(-1)  # (k, B)
    return log_px_z + log_pz - log_qz


@torch.no_grad()
def iwae_bound(
    model,
    x: Tensor,
    k: int,
    *,
    chunk_size: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The importance-weighted lower bound on log p(x) of each image (Burda et al. 2016, eq. 8).

    L_k(x) = E[log (1/k) sum_{i=1}^k w_i] with w_i = p(x, z_i) / q(z_i | x), z_i ~ q(z | x),
    estimated with one set of k samples as logsumexp_i(log w_i) - log k (stable for any k).
    L_1 is the ELBO; L_k <= L_{k+1} <= log p(x), and L_k -> log p(x) as k -> infinity
    (Burda et al. 2016, Theorem 1). The k samples are drawn in chunks, so k = 5000 fits in
    memory; evaluation only (no gradients).

    Args:
        model: has ``encode`` and ``decode`` (a :class:`vaelib.models.VAE`).
        x: images, shape ``(B, D)``.
        k: number of importance samples, >= 1.
        chunk_size: samples per chunk; by default about 4 million decoded pixels per chunk.
        generator: seeds the noise (reproducible bounds).

    Returns:
        shape ``(B,)``, in nats (float64).
    """
    k = _check_k(k)
    _check_model(model)
    check_targets("x", x)
    generator = _validate.generator(generator)
    if chunk_size is None:
        chunk_size = max(1, (1 << 22) // max(1, x.numel()))
    elif not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an integer >= 1 (samples per chunk); got {chunk_size!r}.")
    chunks = []
    for start in range(0, k, chunk_size):
        n = min(chunk_size, k - start)
        chunks.append(log_importance_weights(model, x, n, generator=generator, check=False).double())  # (n, B)
    log_w = torch.cat(chunks)  # (k, B)
    return torch.logsumexp(log_w, dim=0) - math.log(k)


@torch.no_grad()
def kl_per_dimension(model, x: Tensor) -> Tensor:
    """KL(q(z_k | x) || N(0, 1)) of each latent dimension, averaged over the images.

    KL_k = 1/2 (mu_k^2 + exp(log_var_k) - 1 - log_var_k), averaged over the batch; the sum
    over k is the model's KL term. A dimension whose KL is ~0 carries no information about x
    (it is "collapsed" onto the prior).

    Args:
        model: has ``encode(x) -> (mu, log_var)``.
        x: images, shape ``(B, D)``.

    Returns:
        shape ``(K,)``, in nats.
    """
    _check_model(model)
    check_targets("x", x)
    mu, log_var = _encode(model, x, checked=True)  # (B, K)
    return _kl.diag_gaussian_to_std_normal_per_dim(mu, log_var).mean(0)  # lecture 03's formula, per dimension


@torch.no_grad()
def active_units(model, x: Tensor, threshold: float = 0.01) -> ActiveUnits:
    """Count the latent dimensions the model uses (Burda et al. 2016, Section 5.2).

    Unit k is active if A_k = Cov_x(E_{q(z|x)}[z_k]) = Var_x(mu_k(x)) > threshold (0.01 in
    the paper): its posterior mean moves with the input. An inactive unit's posterior is the
    same for every x, which (through the KL term) means it equals the prior: posterior collapse.

    Args:
        model: has ``encode(x) -> (mu, log_var)``.
        x: images, shape ``(B, D)`` with B >= 2 (use a few hundred held-out images).
        threshold: the activity threshold.

    Returns:
        :class:`ActiveUnits` ``(count, variance (K,), threshold)``.
    """
    _check_model(model)
    check_targets("x", x)
    if x.dim() != 2 or x.shape[0] < 2:
        raise ValueError(
            f"x must be a batch of at least 2 images, shape (B, D); got shape {tuple(x.shape)}. "
            f"Activity is a variance over images: pass a few hundred of them."
        )
    if (
        not isinstance(threshold, (int, float))
        or isinstance(threshold, bool)
        or not math.isfinite(threshold)
        or not threshold > 0
    ):
        raise ValueError(f"threshold must be a finite number > 0 (Burda et al. use 0.01); got {threshold!r}.")
    mu, _ = _encode(model, x, checked=True)  # (B, K)
    variance = mu.var(dim=0, unbiased=False)  # (K,)
    return ActiveUnits(count=int((variance > threshold).sum()), variance=variance, threshold=float(threshold))
