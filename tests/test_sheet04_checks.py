"""Each sheet-04 check accepts right answers and rejects typical wrong answers, naming them."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import MultivariateNormal, kl_divergence

from vaelib.checks import CheckFailed
from vaelib.checks import sheet04 as checks


def _failure(check, answer) -> str:
    with pytest.raises(CheckFailed) as info:
        check(answer)
    return str(info.value)


def _assert_words(msg: str, words: list[str]) -> None:
    for word in words:
        assert word in msg, (word, msg)


# --------------------------------------------------------------------------- Exercise 1


def posterior(x, W, b, noise_var):
    precision = torch.eye(W.shape[1], dtype=W.dtype) + W.T @ (W / noise_var[:, None])
    cov = torch.linalg.inv(precision)
    mu = ((x - b) / noise_var) @ W @ cov
    return mu, cov


def posterior_by_conditioning(x, W, b, noise_var):
    """Another right answer: condition the joint Gaussian of (z, x) (Bishop 2006, eq. 2.81-2.82)."""
    K = W.shape[1]
    C = W @ W.T + torch.diag(noise_var)  # Cov[x]
    gain = torch.linalg.solve(C, W).T  # Cov[z, x] C^{-1} = W^T C^{-1}, (K, D)
    mu = (x - b) @ gain.T
    cov = torch.eye(K, dtype=W.dtype) - gain @ W
    return mu, cov


@pytest.mark.parametrize("answer", [posterior, posterior_by_conditioning])
def test_posterior_accepts_right_answers(answer, capsys):
    checks.check_posterior(answer)
    assert "Exercise 1: posterior passed all 3 checks." in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, words",
    [
        (
            lambda x, W, b, v: posterior(x, W, b, torch.ones_like(v)),
            ["left out the noise variance", "divide by noise_var"],
        ),
        (
            lambda x, W, b, v: (posterior(x, W, b, v)[0], torch.linalg.inv(posterior(x, W, b, v)[1])),
            ["returned the precision", "its inverse"],
        ),
        (lambda x, W, b, v: posterior(x, W, torch.zeros_like(b), v), ["forgot the offset b"]),
        (lambda x, W, b, v: posterior(x, W, b, v.sqrt()), ["standard deviation where the variance belongs"]),
        (
            lambda x, W, b, v: (posterior(x, W, b, v)[0].mean(0), posterior(x, W, b, v)[1]),
            ["expected shape (3, 1), got shape (1,)"],
        ),
    ],
)
def test_posterior_rejects_typical_mistakes(wrong, words):
    msg = _failure(checks.check_posterior, wrong)
    assert msg.startswith("Exercise 1, 1-d model W = 2, b = 1, noise_var = 0.5")
    _assert_words(msg, words)


def test_posterior_names_a_missing_prior():
    def no_prior(x, W, b, v):
        precision = W.T @ (W / v[:, None])
        cov = torch.linalg.inv(precision)
        return ((x - b) / v) @ W @ cov, cov

    _assert_words(_failure(checks.check_posterior, no_prior), ["left out the prior", "adds the identity"])


def test_posterior_reports_a_crash_with_the_generic_hint():
    msg = _failure(checks.check_posterior, lambda x, W, b, v: (W.T @ x, W))  # x is (B, D): rows, not columns
    assert "posterior raised RuntimeError" in msg and "Lambda = I + W^T Psi^{-1} W" in msg


# --------------------------------------------------------------------------- Exercise 2


def mean_field_variances(cov):
    return 1.0 / torch.linalg.inv(cov).diagonal()


def mean_field_variances_by_schur(cov):
    """Another right answer: 1/Lambda_kk is the conditional variance Sigma_kk - s^T Sigma_rest^{-1} s."""
    K = cov.shape[0]
    out = []
    for k in range(K):
        rest = [j for j in range(K) if j != k]
        s = cov[rest, k]
        out.append(cov[k, k] - s @ torch.linalg.solve(cov[rest][:, rest], s))
    return torch.stack(out)


@pytest.mark.parametrize("answer", [mean_field_variances, mean_field_variances_by_schur])
def test_mean_field_variances_accepts_right_answers(answer, capsys):
    checks.check_mean_field_variances(answer)
    assert "Exercise 2: mean_field_variances passed all 3 checks." in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda cov: cov.diagonal(), ["Sigma_kk", "forward-KL (moment-matching)", "1 / (Sigma^{-1})_kk"]),
        (lambda cov: torch.linalg.inv(cov).diagonal(), ["diagonal of the precision", "reciprocal"]),
        (lambda cov: 1.0 / cov.diagonal(), ["invert the matrix first"]),
        (lambda cov: mean_field_variances(cov).sqrt(), ["standard deviations"]),
    ],
)
def test_mean_field_variances_rejects_typical_mistakes(wrong, words):
    msg = _failure(checks.check_mean_field_variances, wrong)
    assert msg.startswith("Exercise 2, Sigma = [[2, 1.2], [1.2, 1]]")
    _assert_words(msg, words)


# --------------------------------------------------------------------------- Exercise 3


def moment_matching(cov):
    var = cov.diagonal()
    return var, 0.5 * (var.log().sum() - torch.logdet(cov))


def moment_matching_with_torch(cov):
    """Another right answer: the KL by torch.distributions, returned as a float."""
    K = cov.shape[0]
    p = MultivariateNormal(torch.zeros(K, dtype=cov.dtype), cov)
    q = MultivariateNormal(torch.zeros(K, dtype=cov.dtype), torch.diag(cov.diagonal()))
    return cov.diagonal().clone(), kl_divergence(p, q).item()


@pytest.mark.parametrize("answer", [moment_matching, moment_matching_with_torch])
def test_moment_matching_accepts_right_answers(answer, capsys):
    checks.check_moment_matching(answer)
    assert "Exercise 3: moment_matching passed all 3 checks." in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, words, case",
    [
        (
            lambda cov: (mean_field_variances(cov), moment_matching(cov)[1]),
            ["reverse-KL (mean-field)", "var_k = Sigma_kk"],
            "Sigma = [[2",
        ),
        (lambda cov: (cov.diagonal(), 2 * moment_matching(cov)[1]), ["twice too large"], "Sigma = [[2"),
        (lambda cov: (cov.diagonal(), -moment_matching(cov)[1]), ["negative", "a KL is >= 0"], "Sigma = [[2"),
        (
            lambda cov: (torch.linalg.eigvalsh(cov), moment_matching(cov)[1]),
            ["eigenvalues", "principal axes"],
            "Sigma = [[2",
        ),
        (
            lambda cov: (cov.diagonal(), 0.5 * (torch.logdet(cov) + torch.linalg.inv(cov).diagonal().log().sum())),
            ["reverse-KL minimum"],
            "a correlated 3 x 3",  # in 2-d both minima are -1/2 log(1 - rho^2): only K = 3 tells them apart
        ),
    ],
)
def test_moment_matching_rejects_typical_mistakes(wrong, words, case):
    msg = _failure(checks.check_moment_matching, wrong)
    assert msg.startswith(f"Exercise 3, {case}")
    _assert_words(msg, words)


def test_moment_matching_wants_a_tuple():
    msg = _failure(checks.check_moment_matching, lambda cov: cov.diagonal())
    _assert_words(msg, ["expected a tuple of 2 values", "return a tuple (variances"])


# --------------------------------------------------------------------------- Exercise 4


def mean_field_gap(W, noise_var):
    precision = torch.eye(W.shape[1], dtype=W.dtype) + W.T @ (W / noise_var[:, None])
    S = torch.linalg.inv(precision)
    return 0.5 * (torch.logdet(S) + precision.diagonal().log().sum())


def mean_field_gap_float(W, noise_var):
    """Another right answer: log det S = -log det Lambda, as a Python float."""
    precision = torch.eye(W.shape[1], dtype=W.dtype) + W.T @ (W / noise_var[:, None])
    return float(0.5 * (precision.diagonal().log().sum() - torch.logdet(precision)))


@pytest.mark.parametrize("answer", [mean_field_gap, mean_field_gap_float])
def test_mean_field_gap_accepts_right_answers(answer, capsys):
    checks.check_mean_field_gap(answer)
    assert "Exercise 4: mean_field_gap passed all 3 checks." in capsys.readouterr().out


def _gap_variant(W, v, *, noise=True, prior=True, forward=False, scale=0.5):
    psi = v if noise else torch.ones_like(v)
    precision = W.T @ (W / psi[:, None]) + (torch.eye(W.shape[1], dtype=W.dtype) if prior else 0)
    S = torch.linalg.inv(precision)
    value = (
        S.diagonal().log().sum() - torch.logdet(S) if forward else torch.logdet(S) + precision.diagonal().log().sum()
    )
    return scale * value


@pytest.mark.parametrize(
    "wrong, words, case",
    [
        (lambda W, v: _gap_variant(W, v, noise=False), ["left out the noise variance"], "2-d latent"),
        (lambda W, v: _gap_variant(W, v, prior=False), ["left out the prior's identity"], "2-d latent"),
        (
            lambda W, v: _gap_variant(W, v, forward=True),
            ["forward-KL minimum", "reverse KL(q* || p(z|x))"],
            "3-d latent",
        ),
        (lambda W, v: _gap_variant(W, v, scale=-0.5), ["negative", ">= 0"], "2-d latent"),
        (lambda W, v: _gap_variant(W, v, scale=1.0), ["twice too large"], "2-d latent"),
    ],
)
def test_mean_field_gap_rejects_typical_mistakes(wrong, words, case):
    msg = _failure(checks.check_mean_field_gap, wrong)
    assert msg.startswith(f"Exercise 4, {case}")
    _assert_words(msg, words)


def test_mean_field_gap_wants_one_number():
    msg = _failure(checks.check_mean_field_gap, lambda W, v: torch.zeros(W.shape[1]))
    _assert_words(msg, ["expected shape ()", "one number"])


# --------------------------------------------------------------------------- Exercise 5
# Student-style answers: written from the derivation in different ways (torch.distributions, the
# total minus exercise 4, a per-dimension formula), wrong ones as a student would slip.


def _lambda(W, noise_var):
    return torch.eye(W.shape[1], dtype=W.dtype) + W.T @ torch.diag(1 / noise_var) @ W


def gap_decomposition(W, noise_var, enc_var):
    lam = _lambda(W, noise_var)
    d = lam.diagonal()
    approximation = 0.5 * (d.log().sum() - torch.logdet(lam))
    amortization = 0.5 * (d * enc_var - 1 - torch.log(d * enc_var)).sum()
    return approximation, amortization


def gap_decomposition_distributions(W, noise_var, enc_var):
    """Right: both KLs from torch.distributions, q* from exercise 2's variances."""
    S = torch.linalg.inv(_lambda(W, noise_var))
    m = torch.zeros(W.shape[1], dtype=W.dtype)
    post = MultivariateNormal(m, covariance_matrix=S)
    best = MultivariateNormal(m, covariance_matrix=torch.diag(1 / torch.linalg.inv(S).diagonal()))
    enc = MultivariateNormal(m, covariance_matrix=torch.diag(enc_var))
    approx = kl_divergence(best, post)
    return approx.item(), (kl_divergence(enc, post) - approx).item()


def gap_decomposition_loop(W, noise_var, enc_var):
    """Right: plain floats, a loop over the dimensions, slogdet."""
    lam = _lambda(W, noise_var)
    sign, logdet = torch.linalg.slogdet(lam)
    approx = 0.5 * (sum(float(torch.log(lam[k, k])) for k in range(len(lam))) - float(logdet))
    amort = 0.0
    for k in range(len(enc_var)):
        r = float(lam[k, k] * enc_var[k])
        amort += 0.5 * (r - 1 - torch.log(torch.tensor(r)).item())
    return approx, amort


@pytest.mark.parametrize("answer", [gap_decomposition, gap_decomposition_distributions, gap_decomposition_loop])
def test_gap_decomposition_accepts_right_answers(answer, capsys):
    checks.check_gap_decomposition(answer)
    assert "Exercise 5: gap_decomposition passed all 8 checks." in capsys.readouterr().out


def gap_marginal_variances(W, noise_var, enc_var):
    """Wrong: compared the encoder with the marginal posterior variances S_kk."""
    lam = _lambda(W, noise_var)
    s = torch.linalg.inv(lam).diagonal()
    approx = 0.5 * (lam.diagonal().log().sum() - torch.logdet(lam))
    return approx, 0.5 * (enc_var / s - 1 - torch.log(enc_var / s)).sum()


def gap_total_as_amortization(W, noise_var, enc_var):
    """Wrong: returned the total KL as the amortization gap."""
    lam = _lambda(W, noise_var)
    approx = 0.5 * (lam.diagonal().log().sum() - torch.logdet(lam))
    total = 0.5 * ((lam.diagonal() * enc_var).sum() - len(enc_var) - enc_var.log().sum() - torch.logdet(lam))
    return approx, total


def gap_no_minus_one(W, noise_var, enc_var):
    """Wrong: forgot the -K of the Gaussian KL."""
    lam = _lambda(W, noise_var)
    r = lam.diagonal() * enc_var
    return 0.5 * (lam.diagonal().log().sum() - torch.logdet(lam)), 0.5 * (r - torch.log(r)).sum()


def gap_swapped(W, noise_var, enc_var):
    a, b = gap_decomposition(W, noise_var, enc_var)
    return b, a


def gap_log_det_sign(W, noise_var, enc_var):
    """Wrong: log det S taken as +log det Lambda in the total."""
    lam = _lambda(W, noise_var)
    approx = 0.5 * (lam.diagonal().log().sum() - torch.logdet(lam))
    total = 0.5 * ((lam.diagonal() * enc_var).sum() - len(enc_var) - enc_var.log().sum() + torch.logdet(lam))
    return approx, total - approx


@pytest.mark.parametrize(
    "wrong, words",
    [
        (gap_marginal_variances, ["marginal posterior variances S_kk"]),
        (gap_total_as_amortization, ["TOTAL gap"]),
        (gap_no_minus_one, ["dropped the -1"]),
        (gap_swapped, ["swapped the two gaps"]),
        (gap_log_det_sign, ["values differ"]),
        (lambda W, v, e: sum(gap_decomposition(W, v, e)), ["expected a tuple of 2 values"]),
    ],
)
def test_gap_decomposition_rejects_typical_mistakes(wrong, words):
    msg = _failure(checks.check_gap_decomposition, wrong)
    assert msg.startswith("Exercise 5, ")
    _assert_words(msg, words)


@pytest.mark.parametrize("prediction", ["forward", "Forward", " forward ", lambda: "forward"])
def test_the_wider_prediction_accepts_forward(prediction, capsys):
    checks.check_wider_prediction(prediction)
    assert "is correct" in capsys.readouterr().out


@pytest.mark.parametrize(
    "prediction, words",
    [("reverse", ["SHRINKS q", "0.19"]), ("both", ['expected "reverse" or "forward"']), (1, ["got 1"])],
)
def test_the_wider_prediction_explains_a_wrong_one(prediction, words):
    _assert_words(_failure(checks.check_wider_prediction, prediction), ["Exercise 3", *words])


def test_an_unanswered_prediction_stops_at_its_blank():
    def blank():
        raise NotImplementedError("Exercise 3: replace this line with your answer")

    with pytest.raises(NotImplementedError, match="Exercise 3"):
        checks.check_wider_prediction(blank)
