"""Each sheet-05 check accepts right answers and rejects typical wrong answers, naming them."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from sheet_support import rejects as _rejects
from torch.distributions import Bernoulli, Normal, kl_divergence

from vaelib import objectives
from vaelib.checks import sheet05 as checks
from vaelib.models import VAE


def _blank(*args):
    raise NotImplementedError("Exercise N: replace this line with your answer")


# --------------------------------------------------------------------------- Exercise 1


def vae_loss(x, logits, mu, log_var):
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1).mean()
    kl = 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(dim=1).mean()
    return recon + kl, recon, kl


def vae_loss_distributions(x, logits, mu, log_var):
    recon = -Bernoulli(logits=logits).log_prob(x).sum(-1).mean()
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * log_var)), Normal(torch.zeros_like(mu), 1.0)).sum(-1).mean()
    return objectives.LossParts(recon + kl, recon, kl)


def vae_loss_kingma_welling(x, logits, mu, log_var):
    B = x.shape[0]
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / B
    kl = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp()) / B
    return [recon + kl, recon, kl]


@pytest.mark.parametrize("answer", [vae_loss, vae_loss_distributions, vae_loss_kingma_welling])
def test_vae_loss_accepts_right_answers(answer, capsys):
    checks.check_vae_loss(answer)
    assert "Exercise 1: vae_loss passed all 5 checks." in capsys.readouterr().out


def _parts(recon_fn=None, kl_fn=None, combine=lambda r, k: r + k):
    def wrong(x, logits, mu, log_var):
        r = (
            recon_fn(x, logits)
            if recon_fn
            else F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1).mean()
        )
        k = kl_fn(mu, log_var) if kl_fn else 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(1).mean()
        return combine(r, k), r, k

    return wrong


@pytest.mark.parametrize(
    "wrong, words",
    [
        (_parts(recon_fn=lambda x, l: F.binary_cross_entropy_with_logits(l, x)), ["averaged over pixels", "beta = D"]),
        (
            _parts(
                recon_fn=lambda x, l: F.binary_cross_entropy_with_logits(l, x, reduction="sum"),
                kl_fn=lambda m, v: 0.5 * (m**2 + v.exp() - 1 - v).sum(),
            ),
            ["summed over the batch"],
        ),
        (
            _parts(recon_fn=lambda x, l: F.binary_cross_entropy_with_logits(l, x, reduction="sum")),
            ["different reductions", "factor B"],
        ),
        (
            _parts(kl_fn=lambda m, v: 0.5 * (m**2 + v**2 - 1 - torch.log(v**2)).sum(1).mean()),
            ["log_var as the standard deviation"],
        ),
        (
            _parts(kl_fn=lambda m, v: 0.5 * (m**2 + torch.exp(0.5 * v) - 1 - v).sum(1).mean()),
            ["the variance exp(log_var)"],
        ),
        (_parts(combine=lambda r, k: r - k), ["missing minus sign", "recon + KL"]),
        (_parts(kl_fn=lambda m, v: 0.5 * (1 + v - m**2 - v.exp()).sum(1).mean()), ["missing minus sign in the KL"]),
        (
            _parts(
                recon_fn=lambda x, l: (
                    F.binary_cross_entropy_with_logits(torch.sigmoid(l), x, reduction="none").sum(1).mean()
                )
            ),
            ["sigmoid twice"],
        ),
    ],
)
def test_vae_loss_rejects_typical_mistakes(wrong, words):
    _rejects(checks.check_vae_loss, wrong, "Exercise 1", *words)


def test_vae_loss_rejects_a_single_number():
    _rejects(checks.check_vae_loss, lambda *a: vae_loss(*a)[0], "expected a tuple of 3 values")


# --------------------------------------------------------------------------- Exercise 2


def reparameterize(mu, log_var, eps):
    return mu + torch.exp(0.5 * log_var) * eps


def reparameterize_via_std(mu, log_var, eps):
    std = log_var.mul(0.5).exp_()
    return eps.mul(std).add_(mu)


def test_reparameterize_accepts_right_answers(capsys):
    for answer in (reparameterize, reparameterize_via_std):
        checks.check_reparameterize(answer)
        assert (
            "Exercise 2: reparameterize passed all 5 checks (values, noise and gradients)." in capsys.readouterr().out
        )


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda mu, lv, eps: mu + lv.exp() * eps, ["exp(log_var) is the variance"]),
        (lambda mu, lv, eps: mu + lv * eps, ["log_var is not the standard deviation"]),
        (lambda mu, lv, eps: mu + torch.sqrt(lv) * eps, ["not sqrt(log_var)"]),
        (lambda mu, lv, eps: mu * torch.exp(0.5 * lv) + eps, ["roles are swapped"]),
        (lambda mu, lv, eps: mu + torch.exp(0.5 * lv), ["forgot the noise"]),
        (lambda mu, lv, eps: mu + torch.exp(0.5 * lv) * torch.randn_like(mu), ["use the eps you are given"]),
    ],
)
def test_reparameterize_rejects_typical_mistakes(wrong, words):
    _rejects(checks.check_reparameterize, wrong, "Exercise 2", *words)


def test_reparameterize_rejects_a_sample_without_gradients():
    def detached(mu, log_var, eps):
        with torch.no_grad():
            return mu + torch.exp(0.5 * log_var) * eps

    _rejects(
        checks.check_reparameterize,
        detached,
        "Exercise 2, gradients reach both encoder outputs",
        "no gradient reaches mu, log_var",
        "torch.no_grad()",
    )
    _rejects(
        checks.check_reparameterize,
        lambda mu, lv, eps: reparameterize(mu, lv.detach(), eps),
        "no gradient reaches log_var",
    )


# --------------------------------------------------------------------------- Exercise 3


def beta_vae_loss(x, logits, mu, log_var, beta):
    loss, recon, kl = vae_loss(x, logits, mu, log_var)
    return recon + beta * kl


def test_beta_vae_loss_accepts_the_right_answer(capsys):
    checks.check_beta_vae_loss(beta_vae_loss)
    assert "Exercise 3: beta_vae_loss passed all 4 checks." in capsys.readouterr().out


def _beta(combine):
    def wrong(x, logits, mu, log_var, beta):
        _, recon, kl = vae_loss(x, logits, mu, log_var)
        return combine(recon, kl, beta)

    return wrong


@pytest.mark.parametrize(
    "wrong, words",
    [
        (_beta(lambda r, k, b: b * r + k), ["wrong term"]),
        (_beta(lambda r, k, b: r + k / b), ["divided by it"]),
        (_beta(lambda r, k, b: r + k), ["forgot beta"]),
        (_beta(lambda r, k, b: b * (r + k)), ["only the KL term"]),
        (_beta(lambda r, k, b: r - b * k), ["missing minus sign"]),
        (
            lambda x, l, m, v, b: F.binary_cross_entropy_with_logits(l, x) + b * vae_loss(x, l, m, v)[2],
            ["averaged the reconstruction over pixels"],
        ),
    ],
)
def test_beta_vae_loss_rejects_typical_mistakes(wrong, words):
    _rejects(checks.check_beta_vae_loss, wrong, "Exercise 3", *words)


# --------------------------------------------------------------------------- Exercise 4


def log_importance_weights(x, logits, z, mu, log_var):
    log_px_z = -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)
    log_pz = Normal(0.0, 1.0).log_prob(z).sum(-1)
    log_qz = Normal(mu, torch.exp(0.5 * log_var)).log_prob(z).sum(-1)
    return log_px_z + log_pz - log_qz


def log_importance_weights_without_constants(x, logits, z, mu, log_var):
    """The -K/2 log(2 pi) of p(z) and q(z|x) cancel: dropping both is right."""
    log_px_z = -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)
    return log_px_z - 0.5 * (z**2).sum(-1) + 0.5 * (((z - mu) ** 2) / log_var.exp() + log_var).sum(-1)


def test_log_importance_weights_accepts_right_answers(capsys):
    for answer in (log_importance_weights, log_importance_weights_without_constants):
        checks.check_log_importance_weights(answer)
        assert "Exercise 4: log_importance_weights passed all 2 checks." in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, words",
    [
        (
            lambda x, l, z, m, v: log_importance_weights(x, l, z, m, v) - Normal(0.0, 1.0).log_prob(z).sum(-1),
            ["left out the prior"],
        ),
        (
            lambda x, l, z, m, v: (
                log_importance_weights(x, l, z, m, v) + 2 * Normal(m, torch.exp(0.5 * v)).log_prob(z).sum(-1)
            ),
            ["SUBTRACTED"],
        ),
        (
            lambda x, l, z, m, v: (
                log_importance_weights(x, l, z, m, v)
                + Normal(m, torch.exp(0.5 * v)).log_prob(z).sum(-1)
                - Normal(m, v.exp()).log_prob(z).sum(-1)
            ),
            ["exp(log_var) is the variance"],
        ),
        (
            lambda x, l, z, m, v: log_importance_weights(x, l, z, m, v) + 0.5 * z.shape[-1] * math.log(2 * math.pi),
            ["cancel"],
        ),
    ],
)
def test_log_importance_weights_rejects_typical_mistakes(wrong, words):
    _rejects(checks.check_log_importance_weights, wrong, "Exercise 4", *words)


# --------------------------------------------------------------------------- Exercise 5


def iwae_bound(log_w):
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


def iwae_bound_by_hand(log_w):
    top = log_w.max(dim=0).values
    return top + torch.log(torch.exp(log_w - top).mean(dim=0))


def test_iwae_bound_accepts_right_answers(capsys):
    for answer in (iwae_bound, iwae_bound_by_hand):
        checks.check_iwae_bound(answer)
        assert "Exercise 5: iwae_bound passed all 3 checks." in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda lw: torch.logsumexp(lw, 0), ["forgot the 1/k", "- log k"]),
        (lambda lw: lw.mean(0), ["average of log w", "ELBO"]),
        (lambda lw: torch.log(torch.exp(lw).mean(0)), ["underflows", "logsumexp"]),
        (lambda lw: torch.logsumexp(lw, 1) - math.log(lw.shape[1]), ["dim 0"]),
        (lambda lw: torch.logsumexp(lw, 0) - lw.shape[0], ["subtract log k, not k"]),
        (lambda lw: lw.max(0).values, ["maximum weight"]),
    ],
)
def test_iwae_bound_rejects_typical_mistakes(wrong, words):
    _rejects(checks.check_iwae_bound, wrong, "Exercise 5", *words)


# --------------------------------------------------------------------------- Putting it together


@pytest.fixture(scope="module")
def small_vae():
    torch.manual_seed(0)
    model = VAE(12, 2, [8])
    x = torch.bernoulli(torch.full((6, 12), 0.3), generator=torch.Generator().manual_seed(1))
    return model, x


def test_iwae_on_model_compares_with_vaelib(small_vae, capsys):
    model, x = small_vae
    checks.check_iwae_on_model(log_importance_weights, iwae_bound, model, x, k=20)
    assert "Exercise 5: your IWAE bound (k = 20) on the trained VAE" in capsys.readouterr().out
    _rejects(
        lambda f: checks.check_iwae_on_model(log_importance_weights, f, model, x, k=20),
        lambda lw: torch.logsumexp(lw, 0),
        "Exercise 5",
        "values differ",
    )
    with pytest.raises(NotImplementedError):
        checks.check_iwae_on_model(_blank, iwae_bound, model, x, k=20)


def test_trained_vae_check(small_vae, capsys):
    model, x = small_vae
    nelbo = -objectives.elbo(model, x, samples=10, generator=torch.Generator().manual_seed(0)).mean().item()
    checks.check_trained_vae(model, x, max_negative_elbo=nelbo + 1)
    assert "is correct" in capsys.readouterr().out
    _rejects(lambda m: checks.check_trained_vae(m, x, max_negative_elbo=nelbo - 1), model, "Exercise 3", "above")
