"""Each sheet-06 check accepts right answers and rejects typical wrong answers, naming them."""

from __future__ import annotations

import pytest
import torch

from vaelib import discrete, estimators, families, relaxations
from vaelib.checks import CheckFailed
from vaelib.checks import sheet06 as checks


def _gumbel(u):
    return -torch.log(-torch.log(u))


def _one_hot(index, C, like):
    return torch.nn.functional.one_hot(index, C).to(like.dtype)


def _expect_rejection(check, wrong, exercise, words):
    with pytest.raises(CheckFailed) as info:
        check(wrong)
    msg = str(info.value)
    assert msg.startswith(f"Exercise {exercise}, "), msg
    for word in words:
        assert word in msg, (word, msg)
    return msg


# --------------------------------------------------------------------------- Exercise 1


def kumaraswamy_sample(a, b, u):
    return (1 - (1 - u) ** (1 / b)) ** (1 / a)


def kumaraswamy_one_minus_u(a, b, u):
    """F^-1(1 - u): the same law (1 - U ~ U), accepted."""
    return (1 - u ** (1 / b)) ** (1 / a)


def kumaraswamy_vaelib(a, b, u):
    return families.kumaraswamy(a, b, u=u)


@pytest.mark.parametrize("answer", [kumaraswamy_sample, kumaraswamy_one_minus_u, kumaraswamy_vaelib])
def test_kumaraswamy_accepts_right_answers(answer, capsys):
    checks.check_kumaraswamy_sample(answer)
    assert "Exercise 1: kumaraswamy_sample passed all 3 checks." in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda a, b, u: (1 - (1 - u) ** (1 / a)) ** (1 / b), ["swapped a and b"]),
        (lambda a, b, u: 1 - (1 - u) ** (1 / b), ["one step early", "a-th root"]),
        # the same slips written with u in place of 1 - u (the accepted F^-1(1 - u) form)
        (lambda a, b, u: (1 - u ** (1 / a)) ** (1 / b), ["swapped a and b"]),
        (lambda a, b, u: 1 - u ** (1 / b), ["one step early", "a-th root"]),
        (lambda a, b, u: (1 - (1 - u) ** b) ** a, ["invert the exponents"]),
        (lambda a, b, u: 1 - (1 - u**a) ** b, ["that is the CDF F(u)", "inverse"]),
        (lambda a, b, u: kumaraswamy_sample(a, b, u).detach(), ["no gradient reaches a and b", "graph is cut"]),
        (lambda a, b, u: torch.tensor(kumaraswamy_sample(a, b, u).tolist()), ["graph is cut"]),
        (lambda a, b, u: kumaraswamy_sample(a, b, u).mean(), ["expected shape (8,)"]),
        (lambda a, b, u: u, ["values differ from the inverse CDF", "solve u = 1 - (1 - z^a)^b"]),
    ],
)
def test_kumaraswamy_rejects_typical_mistakes(wrong, words):
    _expect_rejection(checks.check_kumaraswamy_sample, wrong, 1, words)


# --------------------------------------------------------------------------- Exercise 2


def gumbel_max_sample(logits, u):
    return _one_hot((logits + _gumbel(u)).argmax(-1), logits.shape[-1], logits)


def gumbel_max_vaelib(logits, u):
    return relaxations.gumbel_max(logits, u=u)


@pytest.mark.parametrize("answer", [gumbel_max_sample, gumbel_max_vaelib])
def test_gumbel_max_accepts_right_answers(answer, capsys):
    checks.check_gumbel_max_sample(answer)
    assert "Exercise 2: gumbel_max_sample passed all 4 checks." in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda l, u: _one_hot(l.argmax(-1).expand(u.shape[:-1]), l.shape[-1], l), ["most probable class every time"]),
        (lambda l, u: _one_hot((l - torch.log(u)).argmax(-1), l.shape[-1], l), ["exponential noise", "two logs"]),
        (lambda l, u: _one_hot((l + torch.log(-torch.log(u))).argmax(-1), l.shape[-1], l), ["sign error in the noise"]),
        (
            lambda l, u: _one_hot((torch.softmax(l, -1) + _gumbel(u)).argmax(-1), l.shape[-1], l),
            ["add the noise to the logits"],
        ),
        (
            lambda l, u: (l + _gumbel(u)).argmax(-1),
            ["expected shape (12, 4), got shape (12,)", "class indices", "one_hot"],
        ),
        (lambda l, u: l + _gumbel(u), ["perturbed logits"]),
    ],
)
def test_gumbel_max_rejects_typical_mistakes(wrong, words):
    _expect_rejection(checks.check_gumbel_max_sample, wrong, 2, words)


# --------------------------------------------------------------------------- Exercise 3


def gumbel_softmax_sample(logits, u, temperature):
    return torch.softmax((logits + _gumbel(u)) / temperature, dim=-1)


def gumbel_softmax_vaelib(logits, u, temperature):
    return relaxations.gumbel_softmax(logits, temperature, u=u)


@pytest.mark.parametrize("answer", [gumbel_softmax_sample, gumbel_softmax_vaelib])
def test_gumbel_softmax_accepts_right_answers(answer, capsys):
    checks.check_gumbel_softmax_sample(answer)
    assert "Exercise 3: gumbel_softmax_sample passed all 4 checks." in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda l, u, t: torch.softmax((l + _gumbel(u)) * t, dim=-1), ["divide by the temperature, do not multiply"]),
        (lambda l, u, t: torch.softmax(l / t + _gumbel(u), dim=-1), ["divide the noise by the temperature too"]),
        (lambda l, u, t: torch.softmax(l / t, dim=-1).expand(u.shape), ["forgot the Gumbel noise"]),
        (lambda l, u, t: torch.log_softmax((l + _gumbel(u)) / t, dim=-1), ["log_softmax", "torch.softmax"]),
        (lambda l, u, t: torch.softmax((l - torch.log(u)) / t, dim=-1), ["exponential noise"]),
        (lambda l, u, t: torch.softmax((l + _gumbel(u)) / t, dim=0), ["dim=-1"]),
    ],
)
def test_gumbel_softmax_rejects_typical_mistakes(wrong, words):
    _expect_rejection(checks.check_gumbel_softmax_sample, wrong, 3, words)


# --------------------------------------------------------------------------- Exercise 4


def reinforce_loo(logits, z, f):
    K = len(f)
    b = (f.sum() - f) / (K - 1)
    return ((f - b).unsqueeze(-1) * (z - torch.softmax(logits, -1))).mean(0)


def reinforce_loo_kool_form(logits, z, f):
    """Kool et al.'s equivalent form: 1/(K-1) sum_k (f_k - mean f) score_k."""
    return ((f - f.mean()).unsqueeze(-1) * (z - torch.softmax(logits, -1))).sum(0) / (len(f) - 1)


def reinforce_loo_vaelib(logits, z, f):
    """The library: score_function with one_hot_categorical and the grouped leave-one-out baseline."""
    K = len(f)
    est = estimators.score_function(
        discrete.one_hot_categorical,
        logits,
        lambda given_z: f,  # score_function evaluates f at exactly the samples z passed in
        baseline=lambda v: discrete.leave_one_out_groups(v, K),
        z=z,
    )
    return est.mean(0)


def reinforce_loo_without_probabilities(logits, z, f):
    """Also right: the leave-one-out weights f_k - b_k sum to 0, so the -softmax(logits) part of
    the score cancels exactly."""
    K = len(f)
    return ((f - (f.sum() - f) / (K - 1)).unsqueeze(-1) * z).mean(0)


@pytest.mark.parametrize(
    "answer", [reinforce_loo, reinforce_loo_kool_form, reinforce_loo_vaelib, reinforce_loo_without_probabilities]
)
def test_reinforce_loo_accepts_right_answers(answer, capsys):
    checks.check_reinforce_loo(answer)
    assert "Exercise 4: reinforce_loo passed all 3 checks." in capsys.readouterr().out


def _score(l, z):
    return z - torch.softmax(l, -1)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (
            lambda l, z, f: ((f - f.mean()).unsqueeze(-1) * _score(l, z)).mean(0),
            ["own f value", "biased", "leave sample k out"],
        ),
        (lambda l, z, f: (f.unsqueeze(-1) * _score(l, z)).mean(0), ["plain REINFORCE without a baseline"]),
        (lambda l, z, f: -reinforce_loo(l, z, f), ["sign error"]),
        (lambda l, z, f: ((f - (f.sum() - f) / (len(f) - 1)).unsqueeze(-1) * _score(l, z)).sum(0), ["do not sum"]),
        (
            lambda l, z, f: reinforce_loo(l, z, f).unsqueeze(0).expand(len(f), -1),
            ["expected shape (4,), got shape (4, 4)"],
        ),
    ],
)
def test_reinforce_loo_rejects_typical_mistakes(wrong, words):
    _expect_rejection(checks.check_reinforce_loo, wrong, 4, words)


def test_checks_do_not_touch_the_callers_random_state():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    checks.check_gumbel_max_sample(gumbel_max_sample)
    checks.check_reinforce_loo(reinforce_loo)
    assert torch.equal(before, torch.random.get_rng_state())


def _blank(*args, **kwargs):
    raise NotImplementedError("Exercise N: replace this line with your answer")


def _crashes(*args, **kwargs):
    raise IndexError("index 7 is out of bounds")


def test_the_implicit_gradient_check_lets_a_blank_through_and_reports_a_crash():
    # check_implicit_gradient lives in vaelib.checks.implicit06, outside the common tests' sheetNN modules
    with pytest.raises(NotImplementedError, match="Exercise N"):
        checks.check_implicit_gradient(_blank)
    with pytest.raises(CheckFailed, match="raised IndexError: index 7 is out of bounds"):
        checks.check_implicit_gradient(_crashes)
    with pytest.raises(NotImplementedError, match="Exercise N"):
        checks.check_temperature_prediction([0.25] * 4, _blank)
    with pytest.raises(CheckFailed, match="raised IndexError: index 7 is out of bounds"):
        checks.check_temperature_prediction([0.25] * 4, _crashes)
