"""Sheet 05's checks tried on answers written the way students write them (issue 14).

Not copies of the ``Mistake`` functions listed in the checks: whole functions in different styles,
wrong ones and right ones. A wrong answer must be rejected with a message that says what is
actually wrong (the words listed); a right answer, however it is written, must pass.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from student_support import student_tests

from vaelib.checks import sheet05

Normal = torch.distributions.Normal


def vae_loss_bce(x, logits, mu, log_var, beta):
    """Right: BCE on probabilities, summed then divided by B; the KL in Kingma & Welling's form."""
    recon = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum") / x.shape[0]
    kl = -0.5 * torch.sum(1 + log_var - mu**2 - log_var.exp()) / x.shape[0]
    return recon + beta * kl, recon, kl


def vae_loss_kl_from_entropy_and_cross_entropy(x, logits, mu, log_var, beta):
    """Right: the KL derived as E_q[log q] - E_q[log p] term by term, in sigma."""
    sigma = torch.exp(log_var / 2)
    neg_entropy = -torch.log(sigma) - 0.5 * math.log(2 * math.pi) - 0.5  # E_q[log q]
    cross = -0.5 * math.log(2 * math.pi) - 0.5 * (mu**2 + sigma**2)  # E_q[log p]
    kl = (neg_entropy - cross).sum(-1).mean()
    log_px = -(torch.clamp(logits, min=0) - logits * x + torch.log1p(torch.exp(-logits.abs())))
    recon = -log_px.sum(-1).mean()
    return recon + beta * kl, recon, kl


def vae_loss_distributions(x, logits, mu, log_var, beta=1.0):
    """Right: torch.distributions for both terms, returned as a tuple of 0-d tensors."""
    recon = -torch.distributions.Bernoulli(logits=logits).log_prob(x).sum(1).mean()
    q, p = Normal(mu, (0.5 * log_var).exp()), Normal(0.0, 1.0)
    kl = torch.distributions.kl_divergence(q, p).sum(1).mean()
    return (recon + beta * kl, recon, kl)


def vae_loss_kl_sum_over_batch(x, logits, mu, log_var, beta):
    """Wrong: summed the KL over the batch, averaged the reconstruction."""
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1).mean()
    kl = 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum()
    return recon + beta * kl, recon, kl


def vae_loss_kl_forgot_mu(x, logits, mu, log_var, beta):
    """Wrong: derived the KL with E_q[z^2] = sigma^2 (forgot the mean)."""
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
    kl = 0.5 * (log_var.exp() - 1 - log_var).sum(dim=-1).mean()
    return recon + beta * kl, recon, kl


def vae_loss_detached_kl(x, logits, mu, log_var, beta):
    """Wrong: the KL computed from .data 'to save memory': no gradient reaches mu and log_var."""
    m, v = mu.data, log_var.data
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1).mean()
    kl = 0.5 * (m**2 + v.exp() - 1 - v).sum(1).mean()
    return recon + beta * kl, recon, kl


def vae_loss_beta_on_everything(x, logits, mu, log_var, beta):
    """Wrong: beta scales the whole loss."""
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.size(0)
    kl = -0.5 * (1 + log_var - mu.pow(2) - log_var.exp()).sum() / x.size(0)
    return beta * (recon + kl), recon, kl


def vae_loss_pixel_mean(x, logits, mu, log_var, beta):
    """Wrong: the classmate's loss (mean over pixels)."""
    recon = F.binary_cross_entropy_with_logits(logits, x)
    kl = 0.5 * torch.mean(torch.sum(mu**2 + torch.exp(log_var) - 1 - log_var, dim=1))
    return recon + beta * kl, recon, kl


def iwae_stable_by_hand(log_w):
    m = log_w.max(dim=0, keepdim=True).values
    return (m + torch.log(torch.exp(log_w - m).mean(0, keepdim=True))).squeeze(0)


def iwae_unstable(log_w):
    """Wrong at log w around -800: exp underflows."""
    return torch.log(torch.mean(torch.exp(log_w), dim=0))


def ess_shifted(log_w):
    """Right: shift by the max, then the formula on the weights."""
    shifted = log_w - log_w.max(0).values
    w = shifted.exp()
    return w.sum(0).pow(2) / w.pow(2).sum(0)


def ess_log_space(log_w):
    return torch.exp(2 * torch.logsumexp(log_w, 0) - torch.logsumexp(log_w * 2, 0))


def ess_normalised_weights(log_w):
    """Right: 1 / sum of squared normalised weights."""
    w_bar = torch.softmax(log_w, dim=0)
    return 1 / (w_bar**2).sum(0)


def ess_plain(log_w):
    """Wrong at log w around -800: 0 / 0."""
    w = torch.exp(log_w)
    return w.sum(0) ** 2 / (w * w).sum(0)


def ess_fraction(log_w):
    """Wrong: the efficiency ESS / k."""
    w_bar = torch.softmax(log_w, dim=0)
    return 1 / (len(log_w) * (w_bar**2).sum(0))


def share_vectorised(decoder, z_a, z_b, steps):
    """Right: z_a + t (z_b - z_a), the L1 norm over pixels."""
    t = torch.linspace(0, 1, steps, dtype=z_a.dtype).unsqueeze(1)
    x = decoder(z_a + t * (z_b - z_a))
    d = torch.linalg.vector_norm(x.diff(dim=0), ord=1, dim=1)
    return d.max() / d.sum()


def share_python(decoder, z_a, z_b, steps):
    """Right: a Python loop, plain floats."""
    xs = [decoder(((1 - j / (steps - 1)) * z_a + (j / (steps - 1)) * z_b)[None])[0] for j in range(steps)]
    d = [(b - a).abs().mean().item() for a, b in zip(xs, xs[1:])]
    return max(d) / sum(d)


def share_signed(decoder, z_a, z_b, steps):
    """Wrong: signed changes (brightening and darkening cancel)."""
    t = torch.linspace(0, 1, steps, dtype=z_a.dtype)[:, None]
    x = decoder((1 - t) * z_a + t * z_b)
    d = (x[1:] - x[:-1]).mean(1).abs()
    return d.max() / d.sum()


def share_largest_step(decoder, z_a, z_b, steps):
    """Wrong: the largest step itself."""
    t = torch.linspace(0, 1, steps, dtype=z_a.dtype)[:, None]
    x = decoder((1 - t) * z_a + t * z_b)
    return (x[1:] - x[:-1]).abs().mean(1).max()


def collapse_loop(mu, log_var, threshold=0.01):
    """Right: a loop over dimensions, numpy-style variance (ddof = 0)."""
    K = mu.shape[1]
    kl = torch.stack([0.5 * (mu[:, k] ** 2 + log_var[:, k].exp() - 1 - log_var[:, k]).mean() for k in range(K)])
    act = torch.stack([((mu[:, k] - mu[:, k].mean()) ** 2).mean() for k in range(K)])
    return kl, act, act <= threshold


def collapse_torch_var(mu, log_var, threshold=0.01):
    kl_each = -0.5 * (1 + log_var - mu.square() - log_var.exp())
    activity = torch.var(mu, dim=0, unbiased=True)
    return kl_each.mean(dim=0), activity, torch.lt(activity, threshold) | torch.eq(activity, threshold)


def collapse_kl_summed(mu, log_var, threshold=0.01):
    """Wrong: the KL summed over the images."""
    kl = (0.5 * (mu**2 + log_var.exp() - 1 - log_var)).sum(0)
    return kl, mu.var(0), mu.var(0) <= threshold


def collapse_posterior_variance(mu, log_var, threshold=0.01):
    """Wrong: activity from the posterior variance."""
    kl = (0.5 * (mu**2 + log_var.exp() - 1 - log_var)).mean(0)
    act = log_var.exp().mean(0)
    return kl, act, act <= threshold


def collapse_active_mask(mu, log_var, threshold=0.01):
    """Wrong: returns the ACTIVE units as the third element."""
    kl = (0.5 * (mu**2 + log_var.exp() - 1 - log_var)).mean(0)
    return kl, mu.var(0), mu.var(0) > threshold


WRONG = [
    (sheet05.check_vae_loss, vae_loss_kl_sum_over_batch, ["different reductions over the batch"]),
    (sheet05.check_vae_loss, vae_loss_kl_forgot_mu, ["no mu^2 term"]),
    (sheet05.check_vae_loss, vae_loss_detached_kl, ["no gradient reaches"]),
    (sheet05.check_vae_loss, vae_loss_beta_on_everything, ["only the KL term"]),
    (sheet05.check_vae_loss, vae_loss_pixel_mean, ["averaged over pixels", "beta = D"]),
    (sheet05.check_iwae_bound, iwae_unstable, ["underflows"]),
    (sheet05.check_effective_sample_size, ess_plain, ["underflows"]),
    (sheet05.check_effective_sample_size, ess_fraction, ["divided by k"]),
    (sheet05.check_largest_step_share, share_signed, ["ABSOLUTE change"]),
    (sheet05.check_largest_step_share, share_largest_step, ["SHARE of the path's total change"]),
    (sheet05.check_collapse_report, collapse_kl_summed, ["summed over the images"]),
    (sheet05.check_collapse_report, collapse_posterior_variance, ["not the posterior variance"]),
    (sheet05.check_collapse_report, collapse_active_mask, ["activity <= threshold"]),
]

RIGHT = [
    (sheet05.check_vae_loss, vae_loss_bce),
    (sheet05.check_vae_loss, vae_loss_kl_from_entropy_and_cross_entropy),
    (sheet05.check_vae_loss, vae_loss_distributions),
    (sheet05.check_iwae_bound, iwae_stable_by_hand),
    (sheet05.check_effective_sample_size, ess_shifted),
    (sheet05.check_effective_sample_size, ess_log_space),
    (sheet05.check_effective_sample_size, ess_normalised_weights),
    (sheet05.check_largest_step_share, share_vectorised),
    (sheet05.check_largest_step_share, share_python),
    (sheet05.check_collapse_report, collapse_loop),
    (sheet05.check_collapse_report, collapse_torch_var),
]


# a wrong answer is rejected with what is wrong; a right one passes however it is written; the counts
test_wrong_answers, test_right_answers, test_the_counts = student_tests(WRONG, RIGHT)
