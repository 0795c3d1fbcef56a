"""Each sheet-03 check accepts right answers and rejects typical wrong answers, naming them."""

from __future__ import annotations

import math

import pytest
import torch
from sheet_support import rejects as _rejects
from torch.distributions import MultivariateNormal, kl_divergence

from vaelib import gaussians, kl
from vaelib.checks import CheckFailed
from vaelib.checks import sheet03 as checks


def _diag(L):
    return torch.diagonal(L, dim1=-2, dim2=-1)


# --------------------------------------------------------------------------- Exercise 1


def kl_general_scale(mu, S):
    return 0.5 * ((S**2).sum((-2, -1)) + (mu**2).sum(-1) - mu.shape[-1] - 2 * torch.linalg.slogdet(S).logabsdet)


def kl_general_via_cholesky(mu, S):
    """Another right answer: the Cholesky factor of S S^T, then the formula of exercise 2."""
    L = torch.linalg.cholesky(S @ S.mT)
    return kl.full_gaussian_to_std_normal(mu, L)


def kl_general_via_distributions(mu, S):
    q = torch.distributions.MultivariateNormal(mu, covariance_matrix=S @ S.mT)
    p = torch.distributions.MultivariateNormal(
        torch.zeros_like(mu), covariance_matrix=torch.eye(mu.shape[-1], dtype=mu.dtype)
    )
    return torch.distributions.kl_divergence(q, p)


@pytest.mark.parametrize("answer", [kl_general_scale, kl_general_via_cholesky, kl_general_via_distributions])
def test_kl_general_scale_accepts_right_answers(answer, capsys):
    checks.check_kl_general_scale(answer)
    assert "Exercise 1: kl_general_scale passed all 4 checks." in capsys.readouterr().out


def _diag_of(S):
    return torch.diagonal(S, dim1=-2, dim2=-1)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (
            lambda mu, S: 0.5 * ((S**2).sum((-2, -1)) + (mu**2).sum(-1) - 3 - 2 * torch.log(_diag_of(S).abs()).sum(-1)),
            ["only for a triangular S"],
        ),
        (
            lambda mu, S: 0.5 * ((S**2).sum((-2, -1)) + (mu**2).sum(-1) - 3 - 2 * torch.log(_diag_of(S)).sum(-1)),
            ["S orthogonal", "NaN", "2 log |det S|"],
        ),
        (
            lambda mu, S: 0.5 * ((S**2).sum((-2, -1)) + (mu**2).sum(-1) - 3 - 2 * torch.logdet(S)),
            ["det S < 0", "slogdet"],
        ),
        (
            lambda mu, S: 0.5 * ((S**2).sum((-2, -1)) + (mu**2).sum(-1) - 3 - torch.linalg.slogdet(S).logabsdet),
            ["forgot the factor 2"],
        ),
        (
            lambda mu, S: 0.5 * (_diag_of(S).sum(-1) + (mu**2).sum(-1) - 3 - 2 * torch.linalg.slogdet(S).logabsdet),
            ["||S||_F^2"],
        ),
        (lambda mu, S: 0.5 * ((S**2).sum((-2, -1)) - 3 - 2 * torch.linalg.slogdet(S).logabsdet), ["S = I"]),
        (lambda mu, S: kl_general_scale(mu, S).sum(), ["expected shape (3,), got shape ()"]),
    ],
)
def test_kl_general_scale_rejects_typical_mistakes(wrong, words):
    with pytest.raises(CheckFailed) as info:
        checks.check_kl_general_scale(wrong)
    msg = str(info.value)
    assert msg.startswith("Exercise 1, ")
    for word in words:
        assert word in msg, (word, msg)


# --------------------------------------------------------------------------- Exercise 2


def kl_full(mu, scale_tril):
    K = mu.shape[-1]
    trace_term = (scale_tril**2).sum((-2, -1))
    log_det = 2 * torch.log(_diag(scale_tril)).sum(-1)
    return 0.5 * (trace_term + (mu**2).sum(-1) - K - log_det)


def kl_full_torch(mu, scale_tril):
    K = mu.shape[-1]
    q = MultivariateNormal(mu, scale_tril=scale_tril)
    return kl_divergence(q, MultivariateNormal(torch.zeros(K, dtype=mu.dtype), scale_tril=torch.eye(K, dtype=mu.dtype)))


def kl_full_covariance(mu, scale_tril):
    Sigma = scale_tril @ scale_tril.mT
    K = mu.shape[-1]
    return 0.5 * (torch.diagonal(Sigma, dim1=-2, dim2=-1).sum(-1) + (mu**2).sum(-1) - K - torch.logdet(Sigma))


@pytest.mark.parametrize("answer", [kl_full, kl_full_torch, kl_full_covariance, kl.full_gaussian_to_std_normal])
def test_kl_full_accepts_right_answers(answer, capsys):
    checks.check_kl_full(answer)
    assert "Exercise 2: kl_full passed all 4 checks." in capsys.readouterr().out


def _full(trace, log_det, half=0.5, mean_term=True, minus_K=True):
    def wrong(mu, L):
        K = mu.shape[-1]
        return half * (trace(L) + ((mu**2).sum(-1) if mean_term else 0) - (K if minus_K else 0) - log_det(L))

    return wrong


frobenius = lambda L: (L**2).sum((-2, -1))  # noqa: E731
two_log_diag = lambda L: 2 * torch.log(_diag(L)).sum(-1)  # noqa: E731


@pytest.mark.parametrize(
    "wrong, words",
    [
        (_full(lambda L: _diag(L).sum(-1), two_log_diag), ["squared Frobenius norm", "not the trace of L"]),
        (_full(lambda L: (_diag(L) ** 2).sum(-1), two_log_diag), ["off-diagonal ones too"]),
        (_full(frobenius, lambda L: torch.log(_diag(L)).sum(-1)), ["forgot the factor 2"]),
        (
            _full(lambda L: _diag(L).sum(-1), lambda L: torch.log(_diag(L)).sum(-1)),
            ["used L as if it were the covariance"],
        ),
        (_full(frobenius, two_log_diag, half=1.0), ["factor 1/2"]),
        (_full(frobenius, two_log_diag, mean_term=False), ["mean term mu^T mu"]),
        (_full(frobenius, two_log_diag, minus_K=False), ["forgot the -K"]),
        (lambda mu, L: kl_full(mu, L).sum(), ["expected shape (4,), got shape ()"]),
    ],
)
def test_kl_full_rejects_typical_mistakes(wrong, words):
    msg = _rejects(checks.check_kl_full, wrong, *words)
    assert msg.startswith("Exercise 2, B = 4, K = 3")


# --------------------------------------------------------------------------- Exercise 3
# Answers written as students write them: by whitening p and reusing exercise 2, from the textbook
# formula with explicit inverses, through torch.distributions; and the slips of each route.


def _solve(L, b):
    return torch.linalg.solve_triangular(L, b, upper=False)


def kl_gauss(mu_q, L_q, mu_p, L_p):
    """Right: whiten p, then exercise 2's KL of N(d, M M^T) to N(0, I)."""
    M = _solve(L_p, L_q)
    d = _solve(L_p, (mu_q - mu_p).unsqueeze(-1)).squeeze(-1)
    return kl_full(d, M)


def kl_gauss_textbook(mu_q, L_q, mu_p, L_p):
    """Right: the closed form with explicit inverses and log-determinants, in a loop over the batch."""
    out = []
    for mq, Lq, mp, Lp in zip(mu_q, L_q, mu_p, L_p):
        Sq, P = Lq @ Lq.T, torch.linalg.inv(Lp @ Lp.T)
        diff = mp - mq
        out.append(0.5 * (torch.trace(P @ Sq) + diff @ P @ diff - len(mq) - torch.logdet(Sq) + torch.logdet(Lp @ Lp.T)))
    return torch.stack(out)


def kl_gauss_torch(mu_q, L_q, mu_p, L_p):
    return kl_divergence(MultivariateNormal(mu_q, scale_tril=L_q), MultivariateNormal(mu_p, scale_tril=L_p))


@pytest.mark.parametrize("answer", [kl_gauss, kl_gauss_textbook, kl_gauss_torch, kl.gaussian_to_gaussian])
def test_kl_gauss_accepts_right_answers(answer, capsys):
    checks.check_kl_gauss(answer)
    assert "Exercise 3: kl_gauss passed all 7 checks." in capsys.readouterr().out


def whitened_with_q(mu_q, L_q, mu_p, L_p):
    """Wrong: sent q to N(0, I) instead of p."""
    M = _solve(L_q, L_p)
    return kl_full(_solve(L_q, (mu_p - mu_q).unsqueeze(-1)).squeeze(-1), M)


def mean_not_whitened(mu_q, L_q, mu_p, L_p):
    return kl_full(mu_q - mu_p, _solve(L_p, L_q))


def mean_not_shifted(mu_q, L_q, mu_p, L_p):
    return kl_full(_solve(L_p, mu_q.unsqueeze(-1)).squeeze(-1), _solve(L_p, L_q))


def scale_on_the_right(mu_q, L_q, mu_p, L_p):
    d = _solve(L_p, (mu_q - mu_p).unsqueeze(-1)).squeeze(-1)
    return kl_full(d, L_q @ torch.linalg.inv(L_p))


def textbook_log_dets_swapped(mu_q, L_q, mu_p, L_p):
    """Wrong: + log det Sigma_q - log det Sigma_p."""
    Sq, Sp = L_q @ L_q.mT, L_p @ L_p.mT
    P = torch.linalg.inv(Sp)
    diff = (mu_p - mu_q).unsqueeze(-1)
    quad = (diff.mT @ P @ diff).squeeze(-1).squeeze(-1)
    trace = torch.diagonal(P @ Sq, dim1=-2, dim2=-1).sum(-1)
    return 0.5 * (trace + quad - mu_q.shape[-1] + torch.logdet(Sq) - torch.logdet(Sp))


@pytest.mark.parametrize(
    "wrong, label, words",
    [
        (whitened_with_q, "p = N(0, I)", ["KL(p || q)", "whitened q instead of p"]),
        (mean_not_whitened, "B = 3, K = 3", ["did not whiten it"]),  # right while L_p = I or mu_q = mu_p
        (mean_not_shifted, "p = N(mu_p, I)", ["subtracts mu_p first"]),
        (scale_on_the_right, "equal means", ["order of the product", "L_p^-1 L_q"]),
        (textbook_log_dets_swapped, "p = N(0, I)", ["sign of the log-determinants"]),
    ],
)
def test_kl_gauss_rejects_student_mistakes(wrong, label, words):
    msg = _rejects(checks.check_kl_gauss, wrong, *words)
    assert msg.startswith(f"Exercise 3, {label}"), msg


# --------------------------------------------------------------------------- Exercise 4


def _log_normal(z, mu, L):
    white = torch.linalg.solve_triangular(L, (z - mu).unsqueeze(-1), upper=False).squeeze(-1)
    return -0.5 * (white**2).sum(-1) - torch.log(_diag(L)).sum(-1) - 0.5 * mu.shape[-1] * math.log(2 * math.pi)


def kl_monte_carlo(mu_q, L_q, mu_p, L_p, num_samples):
    eps = torch.randn(num_samples, mu_q.shape[-1], dtype=mu_q.dtype)
    z = mu_q + eps @ L_q.T
    log_ratio = _log_normal(z, mu_q, L_q) - _log_normal(z, mu_p, L_p)
    return log_ratio.mean(), log_ratio.std() / math.sqrt(num_samples)


def kl_monte_carlo_torch(mu_q, L_q, mu_p, L_p, num_samples):
    q, p = MultivariateNormal(mu_q, scale_tril=L_q), MultivariateNormal(mu_p, scale_tril=L_p)
    estimate, se = kl.monte_carlo_kl(q, p, num_samples)
    return float(estimate), float(se)


@pytest.mark.parametrize("answer", [kl_monte_carlo, kl_monte_carlo_torch])
def test_kl_monte_carlo_accepts_right_answers(answer, capsys):
    checks.check_kl_monte_carlo(answer)
    assert "Exercise 4: kl_monte_carlo passed all 2 checks." in capsys.readouterr().out


def test_kl_monte_carlo_check_restores_the_callers_random_state():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.check_kl_monte_carlo(kl_monte_carlo)
    torch.testing.assert_close(torch.rand(3), expected)


def _from_p(mu_q, L_q, mu_p, L_p, num_samples):
    eps = torch.randn(num_samples, mu_q.shape[-1], dtype=mu_q.dtype)
    z = mu_p + eps @ L_p.T  # sampled from p: estimates KL(p || q) with the roles swapped
    log_ratio = _log_normal(z, mu_p, L_p) - _log_normal(z, mu_q, L_q)
    return log_ratio.mean(), log_ratio.std() / math.sqrt(num_samples)


def _from_std_normal(mu_q, L_q, mu_p, L_p, num_samples):
    z = torch.randn(num_samples, mu_q.shape[-1], dtype=mu_q.dtype)  # forgot the transform to q
    log_ratio = _log_normal(z, mu_q, L_q) - _log_normal(z, mu_p, L_p)
    return log_ratio.mean(), log_ratio.std() / math.sqrt(num_samples)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (
            lambda *a: (kl_monte_carlo(*a)[0], kl_monte_carlo(*a)[1] * math.sqrt(a[-1])),
            ["times too large", "spread of ONE log-ratio"],
        ),
        (
            lambda *a: (kl_monte_carlo(*a)[0], kl_monte_carlo(*a)[1] / math.sqrt(a[-1])),
            ["times too small", "not by num_samples"],
        ),
        (_from_p, ["matches KL(p || q)", "draw z from q"]),
        (lambda *a: (-kl_monte_carlo(*a)[0], kl_monte_carlo(*a)[1]), ["minus the KL"]),
        (_from_std_normal, ["with z drawn from q (z = mu_q + L_q eps)"]),
        (lambda *a: kl_monte_carlo(*a)[0], ["expected a tuple (estimate, standard_error)"]),
        (
            lambda *a: (kl_monte_carlo(*a)[0] + 0.5, kl_monte_carlo(*a)[1]),
            ["standard errors from the exact KL(q || p)"],
        ),
    ],
)
def test_kl_monte_carlo_rejects_typical_mistakes(wrong, words):
    msg = _rejects(checks.check_kl_monte_carlo, wrong, *words)
    assert msg.startswith("Exercise 4, K = 2, 4000 samples")


# --------------------------------------------------------------------------- Exercise 5


def best_diagonal_q(mu_p, cov_p):
    precision = torch.linalg.inv(cov_p)
    return mu_p.clone(), 1 / torch.diagonal(precision)


def best_diagonal_q_vaelib(mu_p, cov_p):
    mu_q, var_q, _ = gaussians.best_diagonal_reverse_kl(mu_p, cov_p)
    return mu_q, var_q


@pytest.mark.parametrize("answer", [best_diagonal_q, best_diagonal_q_vaelib])
def test_best_diagonal_q_accepts_right_answers(answer, capsys):
    checks.check_best_diagonal_q(answer)
    assert "Exercise 5: best_diagonal_q passed all 3 checks." in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda mu, cov: (mu, torch.diagonal(cov)), ["FORWARD KL(p || q)", "conditional variances"]),
        (
            lambda mu, cov: (mu, torch.diagonal(torch.linalg.inv(cov))),
            ["diagonal entries of the precision", "inverses"],
        ),
        (lambda mu, cov: (mu, 1 / torch.diagonal(cov)), ["invert the matrix first"]),
        (lambda mu, cov: (mu, torch.diagonal(torch.linalg.inv(cov)).rsqrt()), ["variances, not standard deviations"]),
        (lambda mu, cov: (torch.zeros_like(mu), best_diagonal_q(mu, cov)[1]), ["best mean is mu_p"]),
        (lambda mu, cov: best_diagonal_q(mu, cov)[1], ["expected a tuple of 2 values"]),
    ],
)
def test_best_diagonal_q_rejects_typical_mistakes(wrong, words):
    msg = _rejects(checks.check_best_diagonal_q, wrong, *words)
    assert msg.startswith("Exercise 5, K = 2, correlation 0.85")
