"""Sheet 06's checks tried on answers written the way students write them (issue 14).

Not copies of the ``Mistake`` functions listed in the checks: whole functions in different styles,
wrong ones and right ones. A wrong answer must be rejected with a message that says what is
actually wrong (the words listed); a right answer, however it is written, must pass.
"""

from __future__ import annotations

import pytest
import torch

from vaelib.checks import CheckFailed, sheet06


def kuma_one_minus_u(a, b, u):
    """Right: F^-1(1 - u), the same law."""
    return (1 - u ** (1 / b)) ** (1 / a)


def kuma_pow(a, b, u):
    return torch.pow(1 - torch.pow(1 - u, b.reciprocal()), a.reciprocal())


def kuma_item(a, b, u):
    """Wrong: floats cut the gradient."""
    return (1 - (1 - u) ** (1 / b.item())) ** (1 / a.item())


def gs_hand_softmax_stable(logits, u, temperature):
    y = (logits - torch.log(-torch.log(u))) / temperature
    y = y - y.max(-1, keepdim=True).values
    return y.exp() / y.exp().sum(-1, keepdim=True)


def gs_hand_softmax_unstable(logits, u, temperature):
    """Wrong at small temperature: exp overflows without the max subtraction."""
    y = torch.exp((logits - torch.log(-torch.log(u))) / temperature)
    return y / y.sum(-1, keepdim=True)


def gs_distribution(logits, u, temperature):
    """Wrong: torch's RelaxedOneHotCategorical draws its own noise."""
    return torch.distributions.RelaxedOneHotCategorical(torch.tensor(temperature), logits=logits).rsample(u.shape[:-1])


def gumbel_max_bernoulli_rsample(logits, u):
    """Wrong: a Bernoulli has no rsample (torch's own NotImplementedError)."""
    return torch.distributions.Bernoulli(logits=logits).rsample(u.shape[:-1])


WRONG = [
    (sheet06.check_kumaraswamy_sample, kuma_item, ["no gradient reaches a and b"]),
    (sheet06.check_gumbel_softmax_sample, gs_hand_softmax_unstable, ["NaN or inf", "subtract each row's maximum"]),
    (sheet06.check_gumbel_softmax_sample, gs_distribution, ["draws its own noise"]),
    (
        sheet06.check_gumbel_max_sample,
        gumbel_max_bernoulli_rsample,
        ["raised NotImplementedError", "not the unanswered-exercise marker"],
    ),
]

RIGHT = [
    (sheet06.check_kumaraswamy_sample, kuma_one_minus_u),
    (sheet06.check_kumaraswamy_sample, kuma_pow),
    (sheet06.check_gumbel_softmax_sample, gs_hand_softmax_stable),
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
