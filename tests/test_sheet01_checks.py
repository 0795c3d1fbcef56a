"""Each sheet-01 check accepts the reference answer and rejects typical wrong answers, naming them."""

from __future__ import annotations

import math

import pytest
import torch
from sheet_support import rejects as _rejects

from vaelib.checks import CheckFailed
from vaelib.checks import sheet01 as checks

Normal = torch.distributions.Normal


# --------------------------------------------------------------------------- Exercise 1


def score_estimate_sigma(theta, sigma, x):
    return x**2 * ((x - theta) ** 2 / sigma**3 - 1 / sigma)


def score_estimate_sigma_autograd(theta, sigma, x):
    """Another right answer: the score by autograd through log_prob, one copy of sigma per sample."""
    s = sigma.detach().expand(x.shape).clone().requires_grad_(True)
    (score,) = torch.autograd.grad(Normal(theta, s).log_prob(x).sum(), s)
    return x**2 * score


@pytest.mark.parametrize("answer", [score_estimate_sigma, score_estimate_sigma_autograd])
def test_score_estimate_sigma_accepts_right_answers(answer, capsys):
    checks.check_score_estimate_sigma(answer)
    assert "Exercise 1: score_estimate_sigma passed all 4 checks." in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda theta, sigma, x: x**2 * (x - theta) ** 2 / sigma**3, ["normalising constant", "-1/sigma"]),
        (lambda theta, sigma, x: x**2 * (x - theta) / sigma**2, ["score with respect to theta"]),
        (
            lambda theta, sigma, x: x**2 * ((x - theta) ** 2 / sigma**4 - 1 / sigma**2) / 2,
            ["derivative with respect to the variance"],
        ),
        (lambda theta, sigma, x: 2 * x * (x - theta) / sigma, ["pathwise estimator"]),
        (
            lambda theta, sigma, x: x**2 * ((x - theta) ** 2 / sigma**2 - 1 / sigma),
            ["quadratic part", "The simpler cases passed"],
        ),
        (
            lambda theta, sigma, x: (x**2 * ((x - theta) ** 2 / sigma**3 - 1 / sigma)).mean(),
            ["expected shape (1,), got shape ()"],
        ),
    ],
)
def test_score_estimate_sigma_rejects_typical_mistakes(wrong, words):
    with pytest.raises(CheckFailed) as info:
        checks.check_score_estimate_sigma(wrong)
    msg = str(info.value)
    assert msg.startswith("Exercise 1, theta = ")
    for word in words:
        assert word in msg, (word, msg)


# --------------------------------------------------------------------------- Exercise 2


def pathwise_gradient(theta, num_samples):
    theta = theta.clone().requires_grad_(True)
    x = Normal(theta, 1.0).rsample((num_samples,))
    (x**2).mean().backward()
    return theta.grad


def pathwise_gradient_float(theta, num_samples):
    """Returning a Python float is fine too."""
    return pathwise_gradient(theta, num_samples).item()


def used_sample_and_backward(theta, num_samples):
    theta = theta.clone().requires_grad_(True)
    x = Normal(theta, 1.0).sample((num_samples,))
    (x**2).mean().backward()  # RuntimeError: does not require grad
    return theta.grad


def used_sample_allow_unused(theta, num_samples):
    theta = theta.clone().requires_grad_(True)
    x = Normal(theta, 1.0).sample((num_samples,))  # noqa: F841 (a student answer that draws and never uses it)
    return theta.grad  # None: nothing was differentiated


def summed(theta, num_samples):
    theta = theta.clone().requires_grad_(True)
    (Normal(theta, 1.0).rsample((num_samples,)) ** 2).sum().backward()
    return theta.grad


def forgot_square(theta, num_samples):
    theta = theta.clone().requires_grad_(True)
    Normal(theta, 1.0).rsample((num_samples,)).mean().backward()
    return theta.grad


def negated(theta, num_samples):
    return -pathwise_gradient(theta, num_samples)


@pytest.mark.parametrize("answer", [pathwise_gradient, pathwise_gradient_float])
def test_pathwise_gradient_accepts_right_answers(answer, capsys):
    checks.check_pathwise_gradient(answer)
    assert "Exercise 2: pathwise_gradient passed all 3 checks." in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, words",
    [
        (used_sample_and_backward, ["raised RuntimeError", "does not require grad", "sample()", "rsample()"]),
        (used_sample_allow_unused, ["got NoneType", "sample() draws x without a graph", "rsample()"]),
        (summed, ["MEAN", "divide by S"]),
        (forgot_square, ["E[x^2]"]),
        (negated, ["sign error", "theta.grad"]),
    ],
)
def test_pathwise_gradient_rejects_typical_mistakes(wrong, words):
    with pytest.raises(CheckFailed) as info:
        checks.check_pathwise_gradient(wrong)
    msg = str(info.value)
    assert msg.startswith("Exercise 2, theta = 1.5, 1000 samples")
    for word in words:
        assert word in msg, (word, msg)


def test_pathwise_check_leaves_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.check_pathwise_gradient(pathwise_gradient)
    torch.testing.assert_close(torch.rand(3), expected)


# --------------------------------------------------------------------------- Exercise 3
# f(x) = e^x: answers written the way students write them (not copies of the listed mistakes).


def score_variance(theta, b):
    return 5 * torch.exp(2 * theta + 2) - torch.exp(2 * theta + 1) - 4 * b * torch.exp(theta + 0.5) + b**2


def score_variance_factored(theta, b):
    """Right: e^{2 theta + 1} (5 e - 1) - 4 b e^{theta + 1/2} + b^2, with math.e."""
    m = torch.exp(theta + 0.5)  # E[f(x)] = the mean of the estimator
    return m**2 * (5 * math.e - 1) - 4 * b * m + b * b


def score_variance_moments(theta, b):
    """Right: E[g^2] - (E g)^2 with each moment written out, via e^{a^2/2} (1 + a^2)."""
    second = torch.exp(2 * theta) * math.exp(2) * 5 - 2 * b * torch.exp(theta) * math.exp(0.5) * 2 + b**2
    mean = torch.exp(theta) * math.exp(0.5)
    return second - mean.pow(2)


@pytest.mark.parametrize("answer", [score_variance, score_variance_factored, score_variance_moments])
def test_score_variance_accepts_right_answers(answer, capsys):
    checks.check_score_variance(answer)
    assert "Exercise 3: score_variance passed all 5 checks." in capsys.readouterr().out


def variance_no_mean(theta, b):
    """Wrong: stopped at E[g^2]."""
    e2 = torch.exp(2 * theta)
    return 5 * math.e**2 * e2 - 4 * b * math.sqrt(math.e) * torch.exp(theta) + b * b


def variance_forgot_shift(theta, b):
    """Wrong: E[eps^2 e^{a eps}] taken as e^{a^2/2}, in the cross term and the square alike."""
    m = torch.exp(theta + 0.5)
    return torch.exp(2 * theta + 2) - 2 * b * m + b**2 - m**2


def variance_lecture_copy(theta, b):
    """Wrong: the lecture's x^2 formula, copied."""
    return theta**4 + 14 * theta**2 + 15 - 2 * b * (theta**2 + 3) + b**2


def variance_wrong_cross(theta, b):
    """Wrong: cross term -2 b E[e^x] (forgot the eps^2 weight, but kept the square right)."""
    m = torch.exp(theta + 0.5)
    return 5 * torch.exp(2 * theta + 2) - m**2 - 2 * b * m + b**2


def variance_math_exp(theta, b):
    """Wrong on tensors: math.exp of a tensor with several entries."""
    return 5 * math.exp(2 * theta + 2) - math.exp(2 * theta + 1) - 4 * b * math.exp(theta + 0.5) + b**2


@pytest.mark.parametrize(
    "wrong, label, words",
    [
        (variance_no_mean, "theta = 0.0, b = 0.0", ["second moment", "e^{2 theta + 1}"]),
        (variance_forgot_shift, "theta = 0.0, b = 0.0", ["(1 + a^2)"]),
        (variance_lecture_copy, "theta = 0.0, b = 0.0", ["f(x) = x^2"]),
        (
            variance_wrong_cross,
            "theta = 0.0, b = 1.0",
            ["the cross term", "counted only half", "The simpler cases passed: theta = 0.0, b = 0.0"],
        ),
        (variance_math_exp, "theta a tensor", ["raised", "only one element tensors", "torch.exp"]),
    ],
)
def test_score_variance_rejects_student_mistakes(wrong, label, words):
    msg = _rejects(checks.check_score_variance, wrong, *words)
    assert msg.startswith(f"Exercise 3, {label}"), msg


def test_score_variance_names_a_doubled_cross_term_from_scalar_cases():
    def cross_doubled(theta, b):  # right at b = 0; the cross term twice too big
        return score_variance(theta, b) - 4 * b * torch.exp(theta + 0.5)

    msg = _rejects(checks.check_score_variance, cross_doubled, "the cross term", "is counted twice")
    assert msg.startswith("Exercise 3, theta = 0.0, b = 1.0")


# --------------------------------------------------------------------------- Exercise 4


def baseline_two_mean(theta):
    return 2 * torch.exp(theta) * math.sqrt(math.e)


def baseline_from_variance(theta):
    """Right: minimises the student's own quadratic numerically (vertex -B / 2A of A b^2 + B b + C)."""
    c0 = score_variance(theta, torch.zeros_like(theta))
    c1 = score_variance(theta, torch.ones_like(theta))
    cm = score_variance(theta, -torch.ones_like(theta))
    A = (c1 + cm - 2 * c0) / 2
    B = (c1 - cm) / 2
    return -B / (2 * A)


@pytest.mark.parametrize("answer", [baseline_two_mean, baseline_from_variance])
def test_optimal_baseline_accepts_right_answers(answer, capsys):
    checks.check_optimal_baseline(answer)
    assert "Exercise 4: optimal_baseline passed all 4 checks." in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda theta: torch.exp(theta + 0.5), ["E[f(x)]", "not the minimiser"]),
        (lambda theta: 4 * math.exp(0.5) * theta.exp(), ["d/db b^2 = 2 b"]),
        (lambda theta: theta * theta + 3, ["lecture's optimal baseline"]),
        (lambda theta: -2 * torch.exp(theta + 0.5), ["sign error"]),
        (lambda theta: torch.exp(theta + 0.5) + 1, ["values differ"]),
    ],
)
def test_optimal_baseline_rejects_student_mistakes(wrong, words):
    msg = _rejects(checks.check_optimal_baseline, wrong, *words)
    assert msg.startswith("Exercise 4, theta = 0.0")


def fraction_by_hand(theta):
    return 0.682  # 5 (e - 1) / (5 e - 1), rounded, for every theta


def fraction_from_functions(theta):
    """Right: from the student's own formulas, not simplified."""
    return score_variance(theta, baseline_two_mean(theta)) / score_variance(theta, 0.0)


def fraction_exact(theta):
    return 5 * (math.e - 1) / (5 * math.e - 1)


@pytest.mark.parametrize("answer", [fraction_by_hand, fraction_from_functions, fraction_exact])
def test_remaining_fraction_accepts_right_predictions(answer, capsys):
    checks.check_remaining_fraction(answer)
    assert "Exercise 4: remaining_fraction passed all 3 checks." in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda theta: 0.32, ["REMOVES"]),
        (lambda theta: score_variance(theta, torch.exp(theta + 0.5)) / score_variance(theta, 0.0), ["E[f(x)]"]),
        (lambda theta: 0.5, ["values differ", "simplify by hand"]),
        (lambda theta: 0.83, ["standard deviations"]),
    ],
)
def test_remaining_fraction_rejects_wrong_predictions(wrong, words):
    _rejects(checks.check_remaining_fraction, wrong, *words)


# --------------------------------------------------------------------------- Exercise 5


@pytest.mark.parametrize(
    "answer",
    [
        lambda rate, u: -torch.log1p(-u) / rate,
        lambda rate, u: -torch.log(u) / rate,
        lambda rate, u: -torch.log(1 - u) / rate,
    ],
)
def test_exponential_sample_accepts_right_answers(answer, capsys):
    checks.check_exponential_sample(answer)
    out = capsys.readouterr().out
    assert "Exercise 5: exponential_sample passed all 3 checks" in out and "-4 / rate^3" in out


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda rate, u: -rate * torch.log1p(-u), ["rate as a scale", "divide by rate"]),
        (lambda rate, u: torch.log1p(-u) / rate, ["mind the minus"]),
        (lambda rate, u: 1 - torch.exp(-rate * u), ["that is the CDF"]),
        (lambda rate, u: (-torch.log1p(-u) / rate).detach(), ["no gradient reaches rate", "graph is cut"]),
        (
            lambda rate, u: torch.tensor((-torch.log1p(-u) / rate).tolist()),
            ["no gradient reaches rate", "graph is cut"],
        ),
        (lambda rate, u: -torch.log1p(-u[:4]) / rate, ["expected shape (8,)"]),
    ],
)
def test_exponential_sample_rejects_typical_mistakes(wrong, words):
    with pytest.raises(CheckFailed) as info:
        checks.check_exponential_sample(wrong)
    msg = str(info.value)
    assert msg.startswith("Exercise 5, rate = 0.7")
    for word in words:
        assert word in msg, (word, msg)


def test_exponential_gradient_check_catches_a_wrong_gradient_with_right_values():
    """Right values, wrong gradient (a custom autograd function): caught by the Monte Carlo part."""

    class WrongGrad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, rate, u):
            ctx.save_for_backward(rate, u)
            return -torch.log1p(-u) / rate

        @staticmethod
        def backward(ctx, grad):
            rate, u = ctx.saved_tensors
            return (grad * torch.log1p(-u) / rate).sum(), None  # should be / rate^2

    with pytest.raises(CheckFailed, match="more than 5 standard errors"):
        checks.check_exponential_sample(WrongGrad.apply)


# --------------------------------------------------------------------------- blanks
