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


def variance_elementwise(theta, b):
    """Right: one theta at a time with math.exp, rebuilt into a float64 tensor (values only are checked)."""
    thetas = theta.reshape(-1).tolist()
    b = float(b)
    values = [5 * math.exp(2 * t + 2) - math.exp(2 * t + 1) - 4 * b * math.exp(t + 0.5) + b * b for t in thetas]
    return torch.tensor(values, dtype=torch.float64).reshape(theta.shape)


def variance_completed_square(theta, b):
    """Right: written as (b - 2 m)^2 + m^2 (5 e - 5) with m = E[e^x], the vertex form."""
    m = theta.exp() * math.exp(0.5)
    return (b - 2 * m) ** 2 + m**2 * (5 * math.e - 5)


def variance_minus_mean(theta, b):
    """Wrong: subtracts the mean itself instead of its square."""
    mean = torch.exp(theta + 0.5)
    second = 5 * torch.exp(2 * (theta + 1)) - 4 * b * mean + b * b
    return second - mean


def baseline_sqrt_e(theta):
    return 2 * math.sqrt(math.e) * theta.exp()


def baseline_mean_of_f(theta):
    """Wrong: the 'obvious' baseline E[f] = e^(theta + 1/2), written from the lognormal mean."""
    return torch.exp(theta + 1 / 2)


def fraction_rounded(theta):
    """Right: the prediction worked out by hand, rounded."""
    return torch.full_like(theta, 0.68)


def fraction_lecture_formula(theta):
    """Wrong: the fraction for f(x) = x^2 from the lecture."""
    return (8 * theta * theta + 6) / (theta**4 + 14 * theta**2 + 15)


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


def uniform_via_distributions(mu, log_var, u):
    """Right: Uniform(low, high) with the matched bounds mu -+ sqrt(3) std, sampled by its icdf at u."""
    half_width = math.sqrt(3) * torch.exp(0.5 * log_var)
    return torch.distributions.Uniform(mu - half_width, mu + half_width).icdf(u)


def uniform_width_two_std(mu, log_var, u):
    """Wrong: makes the uniform's range [mu - std, mu + std], whose variance is std^2 / 3."""
    std = torch.exp(0.5 * log_var)
    return mu - std + 2 * std * u


def uniform_float32_constant(mu, log_var, u):
    """Wrong dtype: a float32 constant tensor of shape (1,) promotes nothing but breaks the float64 result."""
    scale = torch.tensor([12.0]).sqrt()
    return (mu + torch.exp(0.5 * log_var) * (u - 0.5) * scale).float()


def covariance_eigh_loop(mu, cov, eps):
    """Right: the symmetric square root, applied row by row."""
    w, V = torch.linalg.eigh(cov)
    root = V @ torch.diag_embed(torch.sqrt(w)) @ V.mT
    return torch.stack([mu + root @ e for e in eps])


def covariance_svd(mu, cov, eps):
    """Right: U diag(sqrt(s)) from the SVD of cov is a square root (U s U^T = cov)."""
    U, s, _ = torch.linalg.svd(cov)
    return mu + eps @ (U * s.sqrt()).T


def covariance_diag_only(mu, cov, eps):
    """Wrong: scales each coordinate by its own standard deviation (the correlations are lost)."""
    return mu + eps * torch.sqrt(torch.diagonal(cov))


def covariance_lower_times_eps(mu, cov, eps):
    """Wrong: eps @ L applies L^T."""
    L = torch.linalg.cholesky(cov)
    return mu + torch.matmul(eps, L)


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
        (sheet01.check_score_variance, variance_minus_mean, ["subtracted the mean", "its square"]),
        (sheet01.check_optimal_baseline, baseline_mean_of_f, ["E[f(x)]", "not the minimiser"]),
        (sheet01.check_remaining_fraction, fraction_lecture_formula, ["f(x) = x^2"]),
        (sheet01.check_exponential_sample, exp_sample_numpy, ["no gradient reaches rate"]),
        (sheet01.check_exponential_sample, exp_sample_rate_times, ["rate as a scale"]),
    ],
    "02": [
        (sheet02.check_sample_matching_moments, uniform_width_two_std, ["variance is 1/3", "sqrt(3)"]),
        (sheet02.check_sample_matching_moments, uniform_float32_constant, ["your result is float32"]),
        (sheet02.check_sample_with_covariance, covariance_diag_only, ["only the variances"]),
        (sheet02.check_sample_with_covariance, covariance_lower_times_eps, ["S^T S = cov", "eps @ L.T"]),
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
        (sheet01.check_score_variance, variance_elementwise),
        (sheet01.check_score_variance, variance_completed_square),
        (sheet01.check_optimal_baseline, baseline_sqrt_e),
        (sheet01.check_remaining_fraction, fraction_rounded),
        (sheet01.check_exponential_sample, exp_sample_one_minus),
        (sheet01.check_exponential_sample, exp_sample_distribution_icdf),
    ],
    "02": [
        (sheet02.check_sample_matching_moments, uniform_via_distributions),
        (sheet02.check_sample_with_covariance, covariance_eigh_loop),
        (sheet02.check_sample_with_covariance, covariance_svd),
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
