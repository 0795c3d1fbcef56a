"""Checks for exercise sheet 05, train a VAE (solutions/05_train_a_vae.ipynb).

The pieces of lecture 05: the (beta-)VAE loss with its reductions and the KL the student derives,
the beta a wrong reduction amounts to, the log importance weights, the IWAE bound and the
effective sample size of the weights, and a VAE trained with the student's loss. Each check runs
the student's function on fixed inputs, compares it with vaelib's reference (tested against
torch.distributions) and, when the answer matches a typical mistake on every case, names it.
Exercises 4 and 5 (latent paths, posterior collapse) are checked in :mod:`vaelib.checks.latent05`
and re-exported here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from vaelib import gaussians, kl, objectives
from vaelib.checks import Case, CheckFailed, Mistake, check_function, check_value
from vaelib.checks.bounds05 import check_effective_sample_size, check_iwae_bound, check_iwae_on_model
from vaelib.checks.latent05 import (
    check_collapse_report,
    check_largest_step_share,
    check_path_prediction,
    classmate_statistics,
)
from vaelib.checks.predictions import prediction_value

__all__ = [
    "check_vae_loss",
    "check_beta_prediction",
    "check_log_importance_weights",
    "check_iwae_bound",
    "check_effective_sample_size",
    "check_trained_vae",
    "check_iwae_on_model",
    "check_largest_step_share",
    "check_path_prediction",
    "check_collapse_report",
    "classmate_statistics",
]

F64 = torch.float64
LOG_2PI = gaussians.LOG_2PI


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed), dtype=F64)


def _binary(*shape: int, seed: int) -> torch.Tensor:
    return torch.bernoulli(torch.full(shape, 0.3, dtype=F64), generator=_gen(seed))


def _problem(B: int, D: int, K: int, seed: int):
    """(x, logits, mu, log_var): binary images, decoder logits and posterior parameters."""
    return (
        _binary(B, D, seed=seed),
        2 * _randn(B, D, seed=seed + 1),
        _randn(B, K, seed=seed + 2),
        1.5 * _randn(B, K, seed=seed + 3),
    )


def _recon(x, logits):
    # (..., B): sum over pixels; x (B, D) is broadcast against logits (..., B, D)
    return F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)


def _kl(mu, log_var):
    return kl.diag_gaussian_to_std_normal(mu, log_var)  # (B,): sum over latent dimensions


# --------------------------------------------------------------------------- Exercise 1


def _vae_loss(x, logits, mu, log_var, beta):
    recon, kl_term = _recon(x, logits).mean(), _kl(mu, log_var).mean()
    return recon + beta * kl_term, recon, kl_term


def _with(recon=None, kl_term=None, combine=lambda r, k, b: r + b * k):
    """A wrong vae_loss: replace how the reconstruction or the KL is computed, or how they combine."""

    def wrong(x, logits, mu, log_var, beta):
        r = recon(x, logits) if recon else _recon(x, logits).mean()
        k = kl_term(mu, log_var) if kl_term else _kl(mu, log_var).mean()
        return combine(r, k, beta), r, k

    return wrong


_kl_log_var_as_std = lambda mu, lv: (0.5 * (mu**2 + lv**2 - 1 - torch.log(lv**2))).sum(-1).mean()  # noqa: E731
_kl_std_as_variance = lambda mu, lv: (0.5 * (mu**2 + (0.5 * lv).exp() - 1 - lv)).sum(-1).mean()  # noqa: E731
_kl_log_std_slip = lambda mu, lv: (0.5 * (mu**2 + (2 * lv).exp() - 1 - 2 * lv)).sum(-1).mean()  # noqa: E731
_kl_no_half = lambda mu, lv: (mu**2 + lv.exp() - 1 - lv).sum(-1).mean()  # noqa: E731
_kl_no_mu = lambda mu, lv: (0.5 * (lv.exp() - 1 - lv)).sum(-1).mean()  # noqa: E731

REDUCTION_HINT = (
    "sum the reconstruction over the pixels (dim=1) and THEN average over the batch; "
    "F.binary_cross_entropy_with_logits(logits, x) with its default reduction='mean' also averages "
    "over the D pixels, which divides the reconstruction term by D: a beta-VAE with beta = D."
)
BATCH_HINT = (
    "the two terms use different reductions over the batch (sum for one, mean for the other): "
    "that changes their ratio by a factor B. Average both over the batch."
)

VAE_LOSS_MISTAKES = [
    Mistake(
        _with(recon=lambda x, l: F.binary_cross_entropy_with_logits(l, x)),
        "you averaged over pixels: " + REDUCTION_HINT,
    ),
    Mistake(
        _with(recon=lambda x, l: _recon(x, l).sum(), kl_term=lambda m, v: _kl(m, v).sum()),
        "you summed over the batch: average over it (.mean()) so that the loss does not grow with the batch size.",
    ),
    Mistake(_with(recon=lambda x, l: _recon(x, l).sum()), BATCH_HINT),
    Mistake(_with(kl_term=lambda m, v: _kl(m, v).sum()), BATCH_HINT),
    Mistake(
        _with(kl_term=_kl_log_var_as_std),
        "you treated log_var as the standard deviation; it is log sigma^2, so sigma^2 = exp(log_var).",
    ),
    Mistake(
        _with(kl_term=_kl_std_as_variance),
        "exp(0.5 * log_var) is the standard deviation; the KL needs the variance exp(log_var).",
    ),
    Mistake(
        _with(kl_term=_kl_log_std_slip),
        "you used log_var as if it were log sigma (log of the standard deviation); it is log sigma^2.",
    ),
    Mistake(
        _with(kl_term=_kl_no_half),
        "your KL is twice the right one: E_q[log q - log p] per dimension is 1/2 (mu^2 + sigma^2 - 1 - log sigma^2).",
    ),
    Mistake(
        _with(kl_term=_kl_no_mu),
        "your KL has no mu^2 term: E_q[z^2] = mu^2 + sigma^2 under q = N(mu, sigma^2), so a posterior away from 0 costs "
        "mu^2 / 2 per dimension.",
    ),
    Mistake(
        _with(combine=lambda r, k, b: r - b * k),
        "missing minus sign: ELBO = E[log p(x|z)] - KL, so the NEGATIVE ELBO to minimise is recon + beta * KL.",
    ),
    Mistake(
        _with(kl_term=lambda m, v: -_kl(m, v).mean(), combine=lambda r, k, b: r - b * k),
        "the KL must be >= 0: 1/2 sum(1 + log_var - mu^2 - exp(log_var)) is -KL (Kingma & Welling write the ELBO "
        "with it); return the KL itself.",
    ),
    Mistake(
        _with(kl_term=lambda m, v: -_kl(m, v).mean()),
        "missing minus sign in the KL: 1/2 sum(1 + log_var - mu^2 - exp(log_var)) is -KL (Kingma & Welling "
        "write the ELBO with it); the KL itself is >= 0.",
    ),
    Mistake(
        _with(recon=lambda x, l: -_recon(x, l).mean(), combine=lambda r, k, b: -r + b * k),
        "the reconstruction term must be the NEGATIVE log-likelihood, i.e. the binary cross-entropy (>= 0).",
    ),
    Mistake(
        _with(recon=lambda x, l: _recon(x, torch.sigmoid(l)).mean()),
        "you applied the sigmoid twice: binary_cross_entropy_with_logits takes the logits themselves.",
    ),
    Mistake(
        _with(
            recon=lambda x, l: F.binary_cross_entropy_with_logits(x, torch.sigmoid(l), reduction="none").sum(-1).mean()
        ),
        "the arguments of binary_cross_entropy_with_logits are (input=logits, target=x).",
    ),
    Mistake(
        _with(combine=lambda r, k, b: b * r + k),
        "beta is on the wrong term: it weights the KL, loss = recon + beta * kl.",
    ),
    Mistake(
        _with(combine=lambda r, k, b: r + k / b), "beta multiplies the KL term (recon + beta * kl); you divided by it."
    ),
    Mistake(_with(combine=lambda r, k, b: r + k), "you forgot beta: loss = recon + beta * kl."),
    Mistake(_with(combine=lambda r, k, b: b * (r + k)), "beta multiplies only the KL term, not the whole loss."),
    Mistake(
        _with(combine=lambda r, k, b: (1 - b) * r + b * k),
        "this is not the beta-VAE objective: loss = recon + beta * kl (recon keeps weight 1).",
    ),
]


def check_vae_loss(vae_loss) -> None:
    """Exercise 1: ``vae_loss(x, logits, mu, log_var, beta) -> (recon + beta kl, recon, kl)``, batch means.

    Simplest first (q = N(0, I) makes the KL 0; logits = 0 make every pixel cost log 2), beta = 1
    before other betas, so that a wrong KL or reduction is named before a misplaced beta.
    """
    x, logits, mu, log_var = _problem(4, 6, 3, 4)
    zeros = torch.zeros_like(mu)
    tol = {"atol": 1e-8, "rtol": 1e-6}
    cases = [
        Case(
            (x, torch.zeros_like(logits), zeros, zeros, 1.0),
            label="logits = 0, mu = 0, log_var = 0, beta = 1 (recon = D log 2, kl = 0)",
            **tol,
        ),
        Case(
            (x, logits, zeros, zeros, 1.0),
            label="mu = 0, log_var = 0, beta = 1 (kl = 0: only the reconstruction)",
            **tol,
        ),
        Case(
            (x, torch.zeros_like(logits), mu, zeros, 1.0),
            label="logits = 0, log_var = 0, beta = 1 (the KL of a shifted mean)",
            **tol,
        ),
    ]
    for (B, D, K), seed in [((4, 6, 3), 1), ((3, 784, 2), 2), ((1, 5, 4), 3)]:
        args = (*_problem(B, D, K, seed), 1.0)
        cases.append(Case(args, label=f"beta = 1, B = {B} images of D = {D} pixels, K = {K}", grad=(1, 2, 3), **tol))
    for beta, seed in [(4.0, 31), (0.25, 32), (0.0, 33)]:
        cases.append(Case((*_problem(5, 8, 3, seed), beta), label=f"beta = {beta:g}", **tol))
    check_function(
        vae_loss,
        cases,
        exercise=1,
        name="vae_loss",
        hint="recon = BCE-with-logits summed over pixels, averaged over the batch; kl = E_q[log q - log p] summed over "
        "the latent dimensions, averaged over the batch; loss = recon + beta * kl. Return (loss, recon, kl).",
        mistakes=VAE_LOSS_MISTAKES,
        reference=_vae_loss,
    )


def check_beta_prediction(beta_prediction, D: int = 784) -> None:
    """Exercise 1, the prediction: the classmate's pixel-averaged loss, times D, is a beta-VAE with beta = D."""
    label = f"your beta for the loss BCE(logits, x) [mean over pixels] + kl, with D = {D} pixels"
    beta_prediction = prediction_value(beta_prediction, exercise=1, name="beta_of_the_pixel_mean_loss")
    try:
        value = float(beta_prediction)
    except (TypeError, ValueError):
        raise CheckFailed(f"Exercise 1, {label}: expected a number, got {beta_prediction!r}.") from None
    if math.isfinite(value) and abs(value - D) <= 0.01 * D:
        print(f"Exercise 1: {label} is correct: beta = {D}.")
        return
    if math.isfinite(value) and abs(value * D - 1) < 0.01:
        why = (
            "that is 1/D: the mean over pixels divides the reconstruction by D, so recon / D + kl = (recon + D kl) / D; "
            "a constant factor does not move the optimum, which is a beta-VAE with beta = D (the KL weighs MORE)"
        )
    else:
        why = (
            "the mean over pixels divides the reconstruction by D, so the loss is recon / D + kl = (recon + ? kl) / D; "
            "read off the weight of the KL once the reconstruction has weight 1"
        )
    check_value(value, float(D), exercise=1, label=label, hint=why, atol=0.01 * D, rtol=0)


# --------------------------------------------------------------------------- Exercise 2


def _log_normal(z, mu, std, quad=0.5):
    """log N(z; mu, diag std^2) summed over the last dimension (``quad`` is the 1/2 of the quadratic:
    another value builds the "dropped the 1/2" mistake)."""
    wrong_quadratic = (0.5 - quad) * (((z - mu) / std) ** 2).sum(-1)  # 0 for the right answer
    return gaussians.diag_log_density(z, mu, 2 * torch.log(std)) + wrong_quadratic


def _log_w(
    x, logits, z, mu, log_var, *, prior=True, q_sign=-1.0, std=lambda lv: torch.exp(0.5 * lv), recon_sign=-1.0, quad=0.5
):
    log_px_z = recon_sign * _recon(x, logits)  # (k, B)
    log_pz = _log_normal(z, torch.zeros_like(z), torch.ones_like(z), quad) if prior else 0 * log_px_z
    return log_px_z + log_pz + q_sign * _log_normal(z, mu, std(log_var), quad)


LOG_W_MISTAKES = [
    Mistake(
        lambda *a: _log_w(*a, prior=False),
        "you left out the prior: log w = log p(x|z) + log p(z) - log q(z|x), with p(z) = N(0, I).",
    ),
    Mistake(
        lambda *a: _log_w(*a, q_sign=1.0),
        "sign of the posterior term: w = p(x, z) / q(z|x), so log q(z|x) is SUBTRACTED.",
    ),
    Mistake(
        lambda *a: _log_w(*a, std=torch.exp),
        "in log q(z|x) the standard deviation is exp(0.5 * log_var); exp(log_var) is the variance.",
    ),
    Mistake(
        lambda *a: _log_w(*a, std=lambda lv: lv.abs()),
        "log_var is not the standard deviation: std = exp(0.5 * log_var).",
    ),
    Mistake(
        lambda *a: _log_w(*a, recon_sign=1.0), "log p(x|z) is MINUS the binary cross-entropy (summed over pixels)."
    ),
    Mistake(
        lambda x, logits, z, mu, log_var: _log_w(x, logits, z, mu, log_var) + 0.5 * z.shape[-1] * LOG_2PI,
        "the -K/2 log(2 pi) constants of log p(z) and log q(z|x) cancel: keep both or drop both, not just one.",
    ),
    Mistake(
        lambda x, logits, z, mu, log_var: _log_w(x, logits, z, mu, log_var) - 0.5 * z.shape[-1] * LOG_2PI,
        "the -K/2 log(2 pi) constants of log p(z) and log q(z|x) cancel: keep both or drop both, not just one.",
    ),
    Mistake(
        lambda *a: _log_w(*a, quad=1.0), "a Gaussian log-density has -1/2 (z - mu)^2 / sigma^2: you dropped the 1/2."
    ),
]


def check_log_importance_weights(log_importance_weights) -> None:
    """Exercise 2: ``log_importance_weights(x, logits, z, mu, log_var)``, shape (k, B)."""
    cases = []
    for (k, B, D, K), seed in [((5, 3, 6, 2), 41), ((2, 4, 10, 3), 42)]:
        x, _, mu, log_var = _problem(B, D, K, seed)
        z = mu + torch.exp(0.5 * log_var) * _randn(k, B, K, seed=seed + 10)  # (k, B, K)
        logits = 2 * _randn(k, B, D, seed=seed + 11)  # decoder outputs for each sample, (k, B, D)
        args = (x, logits, z, mu, log_var)
        cases.append(
            Case(args, _log_w(*args), label=f"k = {k} samples, B = {B}, D = {D}, K = {K}", atol=1e-8, rtol=1e-6)
        )
    check_function(
        log_importance_weights,
        cases,
        exercise=2,
        name="log_importance_weights",
        hint="log w = -BCE(logits, x).sum(-1) + log N(z; 0, I) - log N(z; mu, diag exp(log_var)), each of shape (k, B).",
        mistakes=LOG_W_MISTAKES,
    )


# --------------------------------------------------------------------------- Putting it together


@torch.no_grad()
def check_trained_vae(model, x_test, *, max_negative_elbo: float) -> None:
    """The VAE trained with the student's loss reaches a test negative ELBO below ``max_negative_elbo``."""
    negative_elbo = -objectives.elbo(model, x_test, samples=10, generator=_gen(0)).mean().item()
    check_value(
        negative_elbo,
        lambda got: (
            None
            if math.isfinite(got) and got < max_negative_elbo
            else f"the test negative ELBO is {got:.1f} nats, above {max_negative_elbo}"
        ),
        exercise=1,
        label=f"the VAE trained with your loss (test negative ELBO below {max_negative_elbo:g} nats)",
        hint="check exercise 1 again; if it passes, the model may have trained too briefly.",
    )
