"""Sheet 05's checks tried on answers written the way students write them (issue 14).

Not copies of the ``Mistake`` functions listed in the checks: whole functions in different styles,
wrong ones and right ones. A wrong answer must be rejected with a message that says what is
actually wrong (the words listed); a right answer, however it is written, must pass.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vaelib.checks import CheckFailed, sheet05


def vae_loss_bce(x, logits, mu, log_var):
    recon = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum") / x.shape[0]
    kl = -0.5 * torch.sum(1 + log_var - mu**2 - log_var.exp()) / x.shape[0]
    return recon + kl, recon, kl


def vae_loss_kl_sum_over_batch(x, logits, mu, log_var):
    """Wrong: summed the KL over the batch, averaged the reconstruction."""
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1).mean()
    kl = 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum()
    return recon + kl, recon, kl


def reparam_chunks(mu, log_var, eps):
    std = log_var.div(2).exp()
    return eps.mul(std).add(mu)


def reparam_no_grad(mu, log_var, eps):
    """Wrong: wrapped in no_grad 'for speed'."""
    with torch.no_grad():
        z = mu + torch.exp(0.5 * log_var) * eps
    return z


def reparam_std_clamp_detached(mu, log_var, eps):
    """Wrong: a clamp written through .data, which cuts log_var's gradient."""
    std = torch.exp(0.5 * log_var.data.clamp(-30, 30))
    return mu + std * eps


def iwae_stable_by_hand(log_w):
    m = log_w.max(dim=0, keepdim=True).values
    return (m + torch.log(torch.exp(log_w - m).mean(0, keepdim=True))).squeeze(0)


def iwae_unstable(log_w):
    """Wrong at log w around -800: exp underflows."""
    return torch.log(torch.mean(torch.exp(log_w), dim=0))


WRONG = [
    (sheet05.check_vae_loss, vae_loss_kl_sum_over_batch, ["different reductions over the batch"]),
    (sheet05.check_reparameterize, reparam_no_grad, ["no gradient reaches mu, log_var"]),
    (sheet05.check_reparameterize, reparam_std_clamp_detached, ["no gradient reaches log_var"]),
    (sheet05.check_iwae_bound, iwae_unstable, ["underflows"]),
]

RIGHT = [
    (sheet05.check_vae_loss, vae_loss_bce),
    (sheet05.check_reparameterize, reparam_chunks),
    (sheet05.check_iwae_bound, iwae_stable_by_hand),
]


@pytest.mark.parametrize("check, answer, words", WRONG, ids=[row[1].__name__ for row in WRONG])
def test_a_student_s_wrong_answer_is_rejected_with_what_is_wrong(check, answer, words):
    with pytest.raises(CheckFailed) as info:
        check(answer)
    msg = str(info.value)
    for word in words:
        assert word in msg, (word, msg)
    assert "Traceback" not in msg


@pytest.mark.parametrize("check, answer", RIGHT, ids=[row[1].__name__ for row in RIGHT])
def test_a_student_s_right_answer_passes_however_it_is_written(check, answer, capsys):
    check(answer)
    assert "passed" in capsys.readouterr().out


def test_the_counts_are_reported():
    assert len(WRONG) >= 4 and len(RIGHT) >= 2, (len(WRONG), len(RIGHT))
