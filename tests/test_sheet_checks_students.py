"""The sheet checks tried on answers written the way students write them (issue 14).

Not copies of the ``Mistake`` functions listed in the checks: whole functions in different styles
(loops, torch.distributions, a hand-written softmax, float32 constants, autograd instead of a
formula), wrong ones and right ones. A wrong answer must be rejected with a message that says what
is actually wrong (the words listed); a right answer, however it is written, must pass.

``WRONG`` and ``RIGHT`` are counted per sheet in ``test_the_counts_are_reported``.
"""

from __future__ import annotations

import math

import pytest
import torch

from vaelib.checks import CheckFailed, sheet01, sheet02, sheet03

Normal = torch.distributions.Normal


# --------------------------------------------------------------------------- sheet 01


def score_sigma_loop(theta, sigma, x):
    """Right: a loop over samples, the score written as ((x - theta)^2 - sigma^2) / sigma^3."""
    out = torch.empty_like(x)
    for s in range(len(x)):
        out[s] = x[s] ** 2 * ((x[s] - theta) ** 2 - sigma**2) / sigma**3
    return out


def score_sigma_log_prob_grad(theta, sigma, x):
    """Right: autograd through log_prob, one sigma per sample."""
    sg = sigma.detach().repeat(x.shape[0]).requires_grad_()
    lp = Normal(theta, sg).log_prob(x)
    (g,) = torch.autograd.grad(lp.sum(), sg)
    return x.pow(2) * g


def score_sigma_mean_centred(theta, sigma, x):
    """Wrong: centred with the sample mean instead of theta."""
    return x**2 * ((x - x.mean()) ** 2 / sigma**3 - 1 / sigma)


def score_sigma_float32(theta, sigma, x):
    """Wrong: a float32 result (torch.zeros defaults to float32)."""
    out = torch.zeros(len(x))
    for s in range(len(x)):
        out[s] = x[s] ** 2 * ((x[s] - theta) ** 2 / sigma**3 - 1 / sigma)
    return out


def pathwise_manual_eps(theta, num_samples):
    """Right: the same draw written by hand (rsample is loc + eps * scale with eps = randn)."""
    theta = theta.clone().requires_grad_(True)
    eps = torch.randn(num_samples, dtype=theta.dtype)
    x = theta + eps
    loss = torch.mean(x * x)
    loss.backward()
    return theta.grad.item()


def pathwise_no_requires_grad(theta, num_samples):
    """Wrong: forgot requires_grad, so backward() has nothing to do."""
    x = Normal(theta, 1.0).rsample((num_samples,))
    (x**2).mean().backward()
    return theta.grad


def variance_expanded(theta, b):
    """Right: expanded by hand into powers of theta."""
    return theta**4 + (14 * theta**2) + 15 - 2 * b * theta**2 - 6 * b + b * b


def variance_forgot_mean(theta, b):
    """Wrong: E[g^2] without subtracting (2 theta)^2, and b's terms from the lecture's (no baseline) case."""
    return theta**4 + 18 * theta**2 + 15 + b**2


def baseline_math(theta):
    return theta * theta + 3.0


def baseline_expected_f(theta):
    """Wrong: the 'obvious' baseline E[f] = theta^2 + 1."""
    return theta**2 + 1


def exp_sample_one_minus(rate, u):
    """Right: F^-1(1 - u) has the same law."""
    return -torch.log(u) / rate


def exp_sample_distribution_icdf(rate, u):
    """Right, through torch: Exponential has no icdf, so the student writes it via log1p."""
    return torch.log1p(-u).neg().div(rate)


def exp_sample_numpy(rate, u):
    """Wrong: numpy in the middle cuts the gradient."""
    import numpy as np

    return torch.from_numpy(-np.log(1 - u.numpy()) / rate.item())


def exp_sample_rate_times(rate, u):
    """Wrong: treated rate as the mean."""
    return -math.log(2) * 0 - rate * torch.log(1 - u)


# --------------------------------------------------------------------------- sheet 02


def diag_sqrt(mu, log_var, eps):
    return mu + torch.sqrt(torch.exp(log_var)) * eps


def diag_normal_rsample_style(mu, log_var, eps):
    """Right: the loc + eps * scale line of torch's Normal.rsample, with the given eps."""
    scale = log_var.mul(0.5).exp()
    return torch.addcmul(mu, eps, scale)


def diag_own_noise(mu, log_var, eps):
    """Wrong: draws new noise (the sampler of the lecture, without eps)."""
    return Normal(mu, torch.exp(0.5 * log_var)).rsample()


def diag_variance_inplace(mu, log_var, eps):
    """Wrong: multiplies eps by the variance, and edits in place."""
    z = eps.clone()
    z *= log_var.exp()
    z += mu
    return z


def diag_item_loop(mu, log_var, eps):
    """Wrong: builds the result from Python floats, so no gradient and float32."""
    rows = [
        [(m + math.exp(lv / 2) * e) for m, lv, e in zip(*r)] for r in zip(mu.tolist(), log_var.tolist(), eps.tolist())
    ]
    return torch.tensor(rows)


def full_einsum(mu, S, eps):
    return mu + torch.einsum("bij,bj->bi", S, eps)


def full_transposed(mu, S, eps):
    """Wrong: eps^T S instead of S eps."""
    return mu + torch.einsum("bij,bi->bj", S, eps)


def cov_einsum(S):
    return torch.einsum("bik,bjk->bij", S, S)


def cov_wrong_order(S):
    """Wrong: S^T S."""
    return S.transpose(-1, -2) @ S


def same_law_cov(S1, S2):
    return bool(torch.allclose(S1 @ S1.T, S2 @ S2.T))


def same_law_tensor(S1, S2):
    """Wrong type: a 0-d bool tensor."""
    return ((S1 @ S1.T - S2 @ S2.T).abs() < 1e-8).all()


def same_law_det(S1, S2):
    """Wrong: equal |det| is not enough."""
    return bool(torch.isclose(torch.det(S1).abs(), torch.det(S2).abs()))


# --------------------------------------------------------------------------- sheet 03


def kl_general_loop(mu, S):
    """Right: a loop over the batch, |det S| by LU (torch.det), in float64."""
    out = []
    for m, s in zip(mu, S):
        trace = torch.trace(s @ s.T)
        out.append(0.5 * (trace + m @ m - len(m) - torch.log(torch.det(s) ** 2)))
    return torch.stack(out)


def kl_general_qr(mu, S):
    """Right: |det S| = prod |R_ii| from a QR decomposition."""
    R = torch.linalg.qr(S).R
    log_det = 2 * torch.log(torch.diagonal(R, dim1=-2, dim2=-1).abs()).sum(-1)
    return 0.5 * (torch.linalg.matrix_norm(S) ** 2 + (mu**2).sum(-1) - mu.shape[-1] - log_det)


def kl_general_cholesky_of_S(mu, S):
    """Wrong: treats S as a Cholesky factor (sum of the log of its diagonal)."""
    K = mu.shape[1]
    return 0.5 * (
        (S**2).sum(dim=(1, 2)) + (mu**2).sum(dim=1) - K - 2 * torch.log(torch.diagonal(S, dim1=1, dim2=2)).sum(dim=1)
    )


def kl_general_float32_eye(mu, S):
    """Wrong dtype: compares against a float32 identity built with torch.eye."""
    K = mu.shape[-1]
    p = torch.distributions.MultivariateNormal(torch.zeros(K), torch.eye(K))
    q = torch.distributions.MultivariateNormal(mu.float(), scale_tril=torch.linalg.cholesky(S @ S.mT).float())
    return torch.distributions.kl_divergence(q, p)


def kl_general_logdet(mu, S):
    """Wrong at det S < 0: torch.logdet of a negative determinant is NaN."""
    return 0.5 * ((S * S).sum((-1, -2)) + (mu * mu).sum(-1) - mu.shape[-1] - 2 * torch.logdet(S))


def kl_general_detached(mu, S):
    """Wrong: the log-determinant from a detached copy (no gradient to S through it)."""
    log_det = 2 * torch.linalg.slogdet(S.detach()).logabsdet
    return 0.5 * ((S**2).sum((-2, -1)) + (mu**2).sum(-1) - mu.shape[-1] - log_det)


WRONG = {
    "01": [
        (sheet01.check_score_estimate_sigma, score_sigma_mean_centred, ["values differ"]),
        (sheet01.check_score_estimate_sigma, score_sigma_float32, ["your result is float32"]),
        (sheet01.check_pathwise_gradient, pathwise_no_requires_grad, ["does not require grad", "requires_grad_(True)"]),
        (sheet01.check_score_variance, variance_forgot_mean, ["values differ"]),
        (sheet01.check_optimal_baseline, baseline_expected_f, ["theta^2 + 1 = E[f(x)]"]),
        (sheet01.check_exponential_sample, exp_sample_numpy, ["no gradient reaches rate"]),
        (sheet01.check_exponential_sample, exp_sample_rate_times, ["rate as a scale"]),
    ],
    "02": [
        (sheet02.check_sample_diag_gaussian, diag_own_noise, ["draws its own noise"]),
        (sheet02.check_sample_diag_gaussian, diag_variance_inplace, ["variance exp(log_var)"]),
        (sheet02.check_sample_diag_gaussian, diag_item_loop, ["your result is float32"]),
        (sheet02.check_sample_full_gaussian, full_transposed, ["values differ"]),
        (sheet02.check_covariance_from_scale, cov_wrong_order, ["values differ"]),
        (sheet02.check_same_law, same_law_tensor, ["return a Python bool"]),
        (sheet02.check_same_law, same_law_det, ["expected False, got True"]),
    ],
    "03": [
        (sheet03.check_kl_general_scale, kl_general_cholesky_of_S, ["NaN", "2 log |det S|"]),
        (sheet03.check_kl_general_scale, kl_general_float32_eye, ["your result is float32"]),
        (sheet03.check_kl_general_scale, kl_general_logdet, ["det S < 0"]),
        (sheet03.check_kl_general_scale, kl_general_detached, ["gradient with respect to S is wrong"]),
    ],
}

RIGHT = {
    "01": [
        (sheet01.check_score_estimate_sigma, score_sigma_loop),
        (sheet01.check_score_estimate_sigma, score_sigma_log_prob_grad),
        (sheet01.check_pathwise_gradient, pathwise_manual_eps),
        (sheet01.check_score_variance, variance_expanded),
        (sheet01.check_optimal_baseline, baseline_math),
        (sheet01.check_exponential_sample, exp_sample_one_minus),
        (sheet01.check_exponential_sample, exp_sample_distribution_icdf),
    ],
    "02": [
        (sheet02.check_sample_diag_gaussian, diag_sqrt),
        (sheet02.check_sample_diag_gaussian, diag_normal_rsample_style),
        (sheet02.check_sample_full_gaussian, full_einsum),
        (sheet02.check_covariance_from_scale, cov_einsum),
        (sheet02.check_same_law, same_law_cov),
    ],
    "03": [(sheet03.check_kl_general_scale, kl_general_loop), (sheet03.check_kl_general_scale, kl_general_qr)],
}


def _ids(rows):
    return [f"{sheet}-{row[1].__name__}" for sheet, items in rows.items() for row in items]


@pytest.mark.parametrize("check, answer, words", [r for items in WRONG.values() for r in items], ids=_ids(WRONG))
def test_a_student_s_wrong_answer_is_rejected_with_what_is_wrong(check, answer, words):
    with pytest.raises(CheckFailed) as info:
        check(answer)
    msg = str(info.value)
    for word in words:
        assert word in msg, (word, msg)
    assert "Traceback" not in msg


@pytest.mark.parametrize("check, answer", [r for items in RIGHT.values() for r in items], ids=_ids(RIGHT))
def test_a_student_s_right_answer_passes_however_it_is_written(check, answer, capsys):
    check(answer)
    assert "passed" in capsys.readouterr().out


def test_the_counts_are_reported():
    counts = {
        sheet: (len(WRONG.get(sheet, [])), len(RIGHT.get(sheet, []))) for sheet in sorted(set(WRONG) | set(RIGHT))
    }
    assert all(w >= 4 and r >= 2 for w, r in counts.values()), counts
