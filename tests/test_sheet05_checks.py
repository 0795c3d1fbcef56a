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


def _accepts(check, answers, line, capsys):
    """Every answer passes ``check``, which prints ``line``."""
    for answer in answers:
        check(answer)
        assert line in capsys.readouterr().out, answer.__name__


def _blank(*args):
    raise NotImplementedError("Exercise N: replace this line with your answer")


# --------------------------------------------------------------------------- Exercise 1


def vae_loss(x, logits, mu, log_var, beta):
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1).mean()
    kl = 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(dim=1).mean()
    return recon + beta * kl, recon, kl


def vae_loss_distributions(x, logits, mu, log_var, beta):
    recon = -Bernoulli(logits=logits).log_prob(x).sum(-1).mean()
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * log_var)), Normal(torch.zeros_like(mu), 1.0)).sum(-1).mean()
    return objectives.LossParts(recon + beta * kl, recon, kl)


def vae_loss_kingma_welling(x, logits, mu, log_var, beta=1.0):
    B = x.shape[0]
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / B
    kl = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp()) / B
    return [recon + beta * kl, recon, kl]


@pytest.mark.parametrize("answer", [vae_loss, vae_loss_distributions, vae_loss_kingma_welling])
def test_vae_loss_accepts_right_answers(answer, capsys):
    checks.check_vae_loss(answer)
    assert "Exercise 1: vae_loss passed all 9 checks." in capsys.readouterr().out


def _parts(recon_fn=None, kl_fn=None, combine=lambda r, k, b: r + b * k):
    def wrong(x, logits, mu, log_var, beta):
        r = (
            recon_fn(x, logits)
            if recon_fn
            else F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1).mean()
        )
        k = kl_fn(mu, log_var) if kl_fn else 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(1).mean()
        return combine(r, k, beta), r, k

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
        (_parts(combine=lambda r, k, b: r - b * k), ["missing minus sign", "recon + beta * KL"]),
        (_parts(kl_fn=lambda m, v: 0.5 * (1 + v - m**2 - v.exp()).sum(1).mean()), ["missing minus sign in the KL"]),
        (
            _parts(
                recon_fn=lambda x, l: (
                    F.binary_cross_entropy_with_logits(torch.sigmoid(l), x, reduction="none").sum(1).mean()
                )
            ),
            ["sigmoid twice"],
        ),
        (_parts(combine=lambda r, k, b: b * r + k), ["wrong term"]),
        (_parts(combine=lambda r, k, b: r + k / b), ["divided by it"]),
        (_parts(combine=lambda r, k, b: r + k), ["forgot beta"]),
        (_parts(combine=lambda r, k, b: b * (r + k)), ["only the KL term"]),
    ],
)
def test_vae_loss_rejects_typical_mistakes(wrong, words):
    _rejects(checks.check_vae_loss, wrong, "Exercise 1", *words)


def test_vae_loss_rejects_a_single_number():
    _rejects(checks.check_vae_loss, lambda *a: vae_loss(*a)[0], "expected a tuple of 3 values")


@pytest.mark.parametrize(
    "prediction", [784, 784.0, 28 * 28, torch.tensor(784.0), "784", lambda: 784, lambda: 28.0 * 28]
)
def test_the_beta_prediction_accepts_d(prediction, capsys):
    checks.check_beta_prediction(prediction)
    assert "is correct: beta = 784" in capsys.readouterr().out


@pytest.mark.parametrize(
    "prediction, words",
    [
        (1 / 784, ["that is 1/D"]),
        (1, ["read off the weight of the KL"]),
        ("D", ["expected a number"]),
        (None, ["a number"]),
    ],
)
def test_the_beta_prediction_says_why_it_is_wrong(prediction, words):
    _rejects(checks.check_beta_prediction, prediction, "Exercise 1", *words)
    _rejects(checks.check_beta_prediction, lambda: prediction, "Exercise 1", *words)


def test_an_unanswered_prediction_stops_at_its_blank():
    with pytest.raises(NotImplementedError, match="Exercise N"):
        checks.check_beta_prediction(_blank)


# --------------------------------------------------------------------------- Exercise 2


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
    _accepts(
        checks.check_log_importance_weights,
        [log_importance_weights, log_importance_weights_without_constants],
        "Exercise 2: log_importance_weights passed all 2 checks.",
        capsys,
    )


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
    _rejects(checks.check_log_importance_weights, wrong, "Exercise 2", *words)


# --------------------------------------------------------------------------- Exercise 3


def iwae_bound(log_w):
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


def iwae_bound_by_hand(log_w):
    top = log_w.max(dim=0).values
    return top + torch.log(torch.exp(log_w - top).mean(dim=0))


def test_iwae_bound_accepts_right_answers(capsys):
    _accepts(
        checks.check_iwae_bound, [iwae_bound, iwae_bound_by_hand], "Exercise 3: iwae_bound passed all 3 checks.", capsys
    )


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
    _rejects(checks.check_iwae_bound, wrong, "Exercise 3", *words)


def ess_by_weights(log_w):
    """Right: rescale by the largest weight, then the plain formula (the scale cancels)."""
    w = torch.exp(log_w - log_w.max(0, keepdim=True).values)
    return w.sum(0) ** 2 / (w**2).sum(0)


def ess_logs(log_w):
    return (2 * log_w.logsumexp(0) - (2 * log_w).logsumexp(0)).exp()


def test_effective_sample_size_accepts_right_answers(capsys):
    _accepts(
        checks.check_effective_sample_size,
        [ess_by_weights, ess_logs],
        "Exercise 3: effective_sample_size passed all 5 checks.",
        capsys,
    )


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda lw: lw.exp().sum(0) ** 2 / (lw.exp() ** 2).sum(0), ["underflows", "log space"]),
        (lambda lw: 1 / ess_logs(lw), ["upside down"]),
        (lambda lw: ess_logs(lw) / lw.shape[0], ["divided by k"]),
        (lambda lw: torch.exp(2 * lw.logsumexp(0) - lw.logsumexp(0)), ["values differ"]),
    ],
)
def test_effective_sample_size_rejects_typical_mistakes(wrong, words):
    _rejects(checks.check_effective_sample_size, wrong, "Exercise 3", *words)


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
    assert "Exercise 3: your IWAE bound (k = 20) on the trained VAE" in capsys.readouterr().out
    _rejects(
        lambda f: checks.check_iwae_on_model(log_importance_weights, f, model, x, k=20),
        lambda lw: torch.logsumexp(lw, 0),
        "Exercise 3",
        "values differ",
    )
    with pytest.raises(NotImplementedError):
        checks.check_iwae_on_model(_blank, iwae_bound, model, x, k=20)


def test_trained_vae_check(small_vae, capsys):
    model, x = small_vae
    nelbo = -objectives.elbo(model, x, samples=10, generator=torch.Generator().manual_seed(0)).mean().item()
    checks.check_trained_vae(model, x, max_negative_elbo=nelbo + 1)
    assert "is correct" in capsys.readouterr().out
    _rejects(lambda m: checks.check_trained_vae(m, x, max_negative_elbo=nelbo - 1), model, "Exercise 1", "above")


# --------------------------------------------------------------------------- Exercise 4


def largest_step_share(decoder, z_a, z_b, steps):
    t = torch.linspace(0, 1, steps, dtype=z_a.dtype)[:, None]
    x = decoder((1 - t) * z_a + t * z_b)
    step = (x[1:] - x[:-1]).abs().mean(-1)
    return step.max() / step.sum()


def largest_step_share_loop(decoder, z_a, z_b, steps):
    """Right: a loop over t, the change summed (not averaged) over pixels: the ratio is the same."""
    points = torch.stack([z_a + (z_b - z_a) * (j / (steps - 1)) for j in range(steps)])
    images = decoder(points)
    changes = [float((images[j + 1] - images[j]).abs().sum()) for j in range(steps - 1)]
    return max(changes) / sum(changes)


def test_largest_step_share_accepts_right_answers(capsys):
    _accepts(
        checks.check_largest_step_share,
        [largest_step_share, largest_step_share_loop],
        "Exercise 4: largest_step_share passed all 4 checks.",
        capsys,
    )


@pytest.mark.parametrize(
    "wrong, words",
    [
        (
            lambda dec, a, b, S: (lambda s: s.max() / s.sum())(
                (lambda x: (x[1:] - x[:-1]).mean(-1).abs())(dec(a + (b - a) * torch.linspace(0, 1, S)[:, None]))
            ),
            ["ABSOLUTE change"],
        ),
        (lambda dec, a, b, S: largest_step_share(dec, a, b, S) * (S - 1), ["not their mean"]),
        (lambda dec, a, b, S: largest_step_share(dec, a, a + b, S), ["z_a + z_b"]),
        (lambda dec, a, b, S: largest_step_share(dec, a, b, S - 1), ["steps - 1 points"]),
        (lambda dec, a, b, S: largest_step_share(dec, b, a, S) ** 2, ["values differ"]),
    ],
)
def test_largest_step_share_rejects_typical_mistakes(wrong, words):
    _rejects(checks.check_largest_step_share, wrong, "Exercise 4", *words)


@pytest.fixture(scope="module")
def shipped():
    from vaelib import latent_metrics, pretrained
    from vaelib.data import load_mnist

    (_, _), (x_test, y_test) = load_mnist()
    models = {"AE": pretrained.load("ae2"), "VAE": pretrained.load("vae2")}
    pairs = latent_metrics.random_pairs(y_test, 100, seed=1)
    return models, pretrained.load("judge"), (x_test > 0.5).float(), y_test, pairs


def test_path_prediction_grades_the_predictions_with_the_students_own_measurement(shipped, capsys):
    models, judge, x, y, pairs = shipped
    table = checks.check_path_prediction(lambda: (" ae", "Neither"), largest_step_share, models, judge, x, y, pairs)
    assert "your predictions match the measurement" in capsys.readouterr().out
    assert table["AE"]["median largest step"] > table["VAE"]["median largest step"] + 0.02
    assert abs(table["AE"]["confident points"] - table["VAE"]["confident points"]) < 0.1
    _rejects(
        lambda p: checks.check_path_prediction(("AE", p), largest_step_share, models, judge, x, y, pairs),
        "AE",
        "'leaves the digits more': you said AE, the measurement says neither",
    )
    _rejects(
        lambda p: checks.check_path_prediction([p, "neither"], largest_step_share, models, judge, x, y, pairs),
        "the AE",
        "expected one of ('AE', 'VAE', 'neither')",
    )
    _rejects(
        lambda f: checks.check_path_prediction(("AE", "neither"), f, models, judge, x, y, pairs[:3]),
        lambda dec, a, b, S: largest_step_share(dec, a, b, S) * 1.5,
        "vaelib.latent_metrics.path_metrics says",
    )
    _rejects(
        lambda p: checks.check_path_prediction(p, largest_step_share, models, judge, x, y, pairs[:3]),
        "AE",
        "expected two answers (jumps_more, leaves_more)",
    )
    with pytest.raises(NotImplementedError):
        checks.check_path_prediction(_blank, largest_step_share, models, judge, x, y, pairs[:3])


# --------------------------------------------------------------------------- Exercise 5


def collapse_report(mu, log_var, threshold=0.01):
    kl = 0.5 * (mu**2 + log_var.exp() - 1 - log_var).mean(0)
    activity = mu.var(0)
    return kl, activity, activity <= threshold


def collapse_report_distributions(mu, log_var, threshold=0.01):
    """Right: torch.distributions for the KL, the population variance, a strict threshold."""
    q = Normal(mu, torch.exp(0.5 * log_var))
    kl = kl_divergence(q, Normal(torch.zeros_like(mu), 1.0)).mean(0)
    activity = ((mu - mu.mean(0)) ** 2).mean(0)
    return kl, activity, ~(activity > threshold)


def test_collapse_report_accepts_right_answers(capsys):
    _accepts(
        checks.check_collapse_report,
        [collapse_report, collapse_report_distributions],
        "Exercise 5: collapse_report passed all 4 checks.",
        capsys,
    )


@pytest.mark.parametrize(
    "wrong, words",
    [
        (
            lambda m, v, t=0.01: (collapse_report(m, v, t)[0] * len(m), *collapse_report(m, v, t)[1:]),
            ["summed over the images"],
        ),
        (lambda m, v, t=0.01: (collapse_report(m, v, t)[0].sum(), *collapse_report(m, v, t)[1:]), ["kl has shape ()"]),
        (
            lambda m, v, t=0.01: (collapse_report(m, v, t)[0], v.exp().mean(0), v.exp().mean(0) <= t),
            ["not the posterior variance"],
        ),
        (lambda m, v, t=0.01: (*collapse_report(m, v, t)[:2], (m.var(0) <= t).float()), ["bool tensor"]),
        (lambda m, v, t=0.01: (*collapse_report(m, v, t)[:2], m.var(0) > t), ["activity <= threshold"]),
        (lambda m, v, t=0.01: collapse_report(m, v, t)[:2], ["expected a tuple"]),
    ],
)
def test_collapse_report_rejects_typical_mistakes(wrong, words):
    _rejects(checks.check_collapse_report, wrong, "Exercise 5", *words)


def test_the_classmate_statistics_say_what_the_sheet_says():
    mu, log_var = checks.classmate_statistics()
    kl, activity, inactive = collapse_report(mu, log_var)
    assert mu.shape == (500, 8) and inactive.nonzero().flatten().tolist() == [2, 5, 6]
    assert 1.2 < kl[6] < 1.4 and kl[[2, 5]].max() < 0.01 and (activity[[0, 1, 3, 4, 7]] > 0.05).all()


def test_the_new_checks_let_a_blank_through_and_report_a_crash():
    def crashes(*args):
        raise IndexError("index 7 is out of bounds")

    for check in (checks.check_effective_sample_size, checks.check_largest_step_share, checks.check_collapse_report):
        with pytest.raises(NotImplementedError):
            check(_blank)
        _rejects(check, crashes, "raised IndexError: index 7 is out of bounds")
