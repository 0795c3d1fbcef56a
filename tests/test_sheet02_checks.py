"""Each sheet-02 check accepts right answers and rejects typical wrong answers, naming them."""

from __future__ import annotations

import math

import pytest
import torch
from sheet_support import rejects as _rejects

from vaelib import reparam
from vaelib.checks import sheet02 as checks

softplus = torch.nn.functional.softplus


# --------------------------------------------------------------------------- Exercise 1


def sample_diag_gaussian(mu, log_var, eps):
    return mu + torch.exp(0.5 * log_var) * eps


def sample_diag_gaussian_vaelib(mu, log_var, eps):
    return reparam.diag_gaussian(mu, torch.exp(0.5 * log_var), eps)


def sample_diag_gaussian_sqrt(mu, log_var, eps):
    return mu + log_var.exp().sqrt() * eps


@pytest.mark.parametrize("answer", [sample_diag_gaussian, sample_diag_gaussian_vaelib, sample_diag_gaussian_sqrt])
def test_sample_diag_gaussian_accepts_right_answers(answer, capsys):
    checks.check_sample_diag_gaussian(answer)
    assert "Exercise 1: sample_diag_gaussian passed all 5 checks." in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda mu, lv, eps: mu + lv.exp() * eps, ["variance exp(log_var)", "exp(0.5 * log_var)"]),
        (lambda mu, lv, eps: mu + lv * eps, ["log-variance, not a standard deviation"]),
        (lambda mu, lv, eps: mu + torch.exp(-0.5 * lv) * eps, ["1 / std"]),
        (lambda mu, lv, eps: torch.exp(0.5 * lv) * eps, ["forgot the mean"]),
        (lambda mu, lv, eps: mu * eps + torch.exp(0.5 * lv), ["swapped"]),
        (
            lambda mu, lv, eps: (mu + torch.exp(0.5 * lv) * eps).detach(),
            ["mu and log_var require gradients", "no gradient reaches"],
        ),
        (
            lambda mu, lv, eps: (mu + torch.exp(0.5 * lv) * eps).sum(-1),
            ["expected shape (2, 3), got shape (2,)", "one dimension too few"],
        ),
    ],
)
def test_sample_diag_gaussian_rejects_typical_mistakes(wrong, words):
    msg = _rejects(checks.check_sample_diag_gaussian, wrong, *words)
    assert msg.startswith("Exercise 1, ")


# --------------------------------------------------------------------------- Exercise 2


def moments_with_stderr(z):
    N = z.shape[0]
    mean = z.mean(0)
    return mean, z.std(0) / math.sqrt(N), z.var(0), ((z - mean) ** 2).std(0) / math.sqrt(N)


def moments_with_stderr_biased(z):
    """The 1/N convention throughout is accepted too."""
    N = z.shape[0]
    mean = z.mean(0)
    return (
        mean,
        z.std(0, unbiased=False) / math.sqrt(N),
        z.var(0, unbiased=False),
        ((z - mean) ** 2).std(0, unbiased=False) / math.sqrt(N),
    )


@pytest.mark.parametrize("answer", [moments_with_stderr, moments_with_stderr_biased])
def test_moments_with_stderr_accepts_right_answers(answer, capsys):
    checks.check_moments_with_stderr(answer)
    assert "Exercise 2: moments_with_stderr passed all 2 checks." in capsys.readouterr().out


def _replace(index, fn):
    def wrong(z):
        answer = list(moments_with_stderr(z))
        answer[index] = fn(z)
        return tuple(answer)

    return wrong


@pytest.mark.parametrize(
    "wrong, words",
    [
        (_replace(1, lambda z: z.std(0)), ["item 1", "std / sqrt(N)", "spread of one sample"]),
        (_replace(1, lambda z: z.std(0) / z.shape[0]), ["by sqrt(N), not by N"]),
        (_replace(1, lambda z: z.var(0) / math.sqrt(z.shape[0])), ["standard deviation, not the variance"]),
        (_replace(3, lambda z: math.sqrt(2 / z.shape[0]) * z.var(0)), ["item 3", "Gaussian data only"]),
        (_replace(3, lambda z: z.std(0) / math.sqrt(z.shape[0])), ["squared deviations"]),
        (_replace(2, lambda z: z.std(0)), ["item 2", "variance (std squared)"]),
        (lambda z: moments_with_stderr(z.T), ["dim 0", "shape (K,)"]),
        (lambda z: moments_with_stderr(z)[:2], ["expected a tuple of 4 values"]),
    ],
)
def test_moments_with_stderr_rejects_typical_mistakes(wrong, words):
    msg = _rejects(checks.check_moments_with_stderr, wrong, *words)
    assert msg.startswith("Exercise 2, N = 1000 exponential samples, K = 2")


# --------------------------------------------------------------------------- Exercise 3


def sample_full_gaussian(mu, S, eps):
    return mu + (S @ eps.unsqueeze(-1)).squeeze(-1)


def sample_full_gaussian_einsum(mu, S, eps):
    return mu + torch.einsum("bij,bj->bi", S, eps)


@pytest.mark.parametrize("answer", [sample_full_gaussian, sample_full_gaussian_einsum, reparam.full_gaussian])
def test_sample_full_gaussian_accepts_right_answers(answer, capsys):
    checks.check_sample_full_gaussian(answer)
    assert "Exercise 3: sample_full_gaussian passed all 3 checks." in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda mu, S, eps: mu + (eps.unsqueeze(-2) @ S).squeeze(-2), ["S^T eps", "S @ eps"]),
        (lambda mu, S, eps: mu + (S.mT @ eps.unsqueeze(-1)).squeeze(-1), ["S^T eps"]),
        (
            lambda mu, S, eps: mu + ((S @ S.mT) @ eps.unsqueeze(-1)).squeeze(-1),
            ["covariance S S^T", "scale is S itself"],
        ),
        (lambda mu, S, eps: mu + torch.diagonal(S, dim1=-2, dim2=-1) * eps, ["only the diagonal"]),
        (lambda mu, S, eps: (S @ eps.unsqueeze(-1)).squeeze(-1), ["forgot the mean"]),
    ],
)
def test_sample_full_gaussian_rejects_typical_mistakes(wrong, words):
    msg = _rejects(checks.check_sample_full_gaussian, wrong, *words)
    assert msg.startswith("Exercise 3, B = 4, K = 3")


# --------------------------------------------------------------------------- Exercise 4


@pytest.mark.parametrize("answer", [lambda S: S @ S.mT, lambda S: torch.einsum("bik,bjk->bij", S, S)])
def test_covariance_from_scale_accepts_right_answers(answer, capsys):
    checks.check_covariance_from_scale(answer)
    assert "Exercise 4: covariance_from_scale passed all 3 checks." in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda S: S.mT @ S, ["S^T S is not the covariance", "S S^T"]),
        (lambda S: S.clone(), ["square root of the covariance"]),
        (lambda S: S @ S, ["missing a transpose"]),
        (lambda S: S**2, ["squares each entry"]),
        (lambda S: (S @ S.mT)[0], ["expected shape (2, 3, 3), got shape (3, 3)"]),
    ],
)
def test_covariance_from_scale_rejects_typical_mistakes(wrong, words):
    _rejects(checks.check_covariance_from_scale, wrong, *words)


def test_covariance_check_includes_the_SQ_case():
    """An answer that is right for S but not invariant under S -> S Q fails at the S Q case."""
    calls = []

    def only_first_right(S):
        calls.append(1)
        return S @ S.mT if len(calls) == 1 else S.mT @ S

    msg = _rejects(checks.check_covariance_from_scale, only_first_right, "S Q for an orthogonal Q")
    assert "S^T S is not the covariance" in msg


# --------------------------------------------------------------------------- Exercise 5


@pytest.mark.parametrize(
    "answer",
    [
        lambda S1, S2: torch.allclose(S1 @ S1.T, S2 @ S2.T),
        lambda S1, S2: bool(((S1 @ S1.T - S2 @ S2.T).abs().max() < 1e-9).item()),
        lambda S1, S2: torch.allclose(torch.linalg.cholesky(S1 @ S1.T), torch.linalg.cholesky(S2 @ S2.T)),
    ],
)
def test_same_law_accepts_right_answers(answer, capsys):
    checks.check_same_law(answer)
    assert "Exercise 5: same_law passed all 10 checks." in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, first_case, words",
    [
        (lambda S1, S2: torch.allclose(S1, S2), "S vs S Q", ["Compare the covariances S1 S1^T and S2 S2^T"]),
        (lambda S1, S2: torch.allclose(S1.T @ S1, S2.T @ S2), "S vs Q S", ["you compared S^T S"]),
        (
            lambda S1, S2: torch.allclose(torch.linalg.eigvalsh(S1 @ S1.T), torch.linalg.eigvalsh(S2 @ S2.T)),
            "S vs S^T",
            ["equal eigenvalues"],
        ),
        (
            lambda S1, S2: math.isclose(S1.norm().item(), S2.norm().item(), rel_tol=1e-6),
            "S vs a matrix with the same Frobenius norm",
            ["Frobenius norms"],
        ),
        (
            lambda S1, S2: math.isclose(
                abs(torch.linalg.det(S1).item()), abs(torch.linalg.det(S2).item()), rel_tol=1e-6
            ),
            "S vs S diag(2, 1/2, 1)",
            ["equal determinants are necessary but not sufficient"],
        ),
        (lambda S1, S2: True, "S vs S diag(2, 1/2, 1)", ["expected False, got True"]),
    ],
)
def test_same_law_rejects_typical_mistakes(wrong, first_case, words):
    msg = _rejects(checks.check_same_law, wrong, *words)
    assert msg.startswith(f"Exercise 5, {first_case}"), msg


# --------------------------------------------------------------------------- Exercise 6


def scale_tril_from_raw(raw, K):
    rows, cols = torch.tril_indices(K, K)
    L = raw.new_zeros(*raw.shape[:-1], K, K)
    L[..., rows, cols] = raw
    diagonal = torch.diagonal(L, dim1=-2, dim2=-1)
    return L - torch.diag_embed(diagonal) + torch.diag_embed(softplus(diagonal))


@pytest.mark.parametrize("answer", [scale_tril_from_raw, reparam.scale_tril_from_unconstrained])
def test_scale_tril_from_raw_accepts_right_answers(answer, capsys):
    checks.check_scale_tril_from_raw(answer)
    assert "Exercise 6: scale_tril_from_raw passed all 3 checks." in capsys.readouterr().out


def _built(raw, K, diag_fn, *, transpose=False, column_major=False, everything=None):
    if column_major:
        cols, rows = torch.triu_indices(K, K)
    else:
        rows, cols = torch.tril_indices(K, K)
    L = raw.new_zeros(*raw.shape[:-1], K, K)
    L[..., rows, cols] = raw if everything is None else everything(raw)
    d = torch.diagonal(L, dim1=-2, dim2=-1)
    L = L - torch.diag_embed(d) + torch.diag_embed(diag_fn(d))
    return L.mT if transpose else L


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda raw, K: _built(raw, K, torch.exp), ["exp on the diagonal", "softplus"]),
        (lambda raw, K: _built(raw, K, lambda d: d), ["diagonal must be positive"]),
        (lambda raw, K: _built(raw, K, torch.abs), ["abs makes the diagonal non-negative"]),
        (lambda raw, K: _built(raw, K, softplus, transpose=True), ["upper-triangular"]),
        (lambda raw, K: _built(raw, K, softplus, column_major=True), ["wrong order", "torch.tril_indices"]),
        (lambda raw, K: _built(raw, K, lambda d: d, everything=softplus), ["only the diagonal goes through softplus"]),
    ],
)
def test_scale_tril_from_raw_rejects_typical_mistakes(wrong, words):
    msg = _rejects(checks.check_scale_tril_from_raw, wrong, *words)
    assert msg.startswith("Exercise 6, B = 2, K = 3")
