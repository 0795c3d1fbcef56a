"""Each sheet-01 check accepts the reference answer and rejects typical wrong answers, naming them."""

from __future__ import annotations

import pytest
import torch

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


def score_variance(theta, b):
    return theta**4 + 14 * theta**2 + 15 - 2 * b * (theta**2 + 3) + b**2


def test_score_variance_accepts_the_reference(capsys):
    checks.check_score_variance(score_variance)
    assert "Exercise 3: score_variance passed all 5 checks." in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, label, words",
    [
        (
            lambda t, b: t**4 + 18 * t**2 + 15 - 2 * b * (t**2 + 3) + b**2,
            "theta = 1.0, b = 0.0",
            ["second moment", "4 theta^2"],
        ),
        (lambda t, b: t**4 + 2 * t**2 + 15 - 2 * b * (t**2 + 1) + b**2, "theta = 1.0, b = 0.0", ["E[eps^4] = 3"]),
        (lambda t, b: t**4 + 14 * t**2 + 3 - 2 * b * (t**2 + 3) + b**2, "theta = 0.0, b = 0.0", ["E[eps^6] = 15"]),
        (
            lambda t, b: t**4 + 14 * t**2 + 15 + 2 * b * (t**2 + 3) + b**2,
            "theta = 2.0, b = 7.0",
            ["sign of the cross term"],
        ),
        (lambda t, b: t**4 + 14 * t**2 + 15 - 2 * b * (t**2 + 3), "theta = 2.0, b = 7.0", ["dropped b^2"]),
    ],
)
def test_score_variance_rejects_typical_mistakes(wrong, label, words):
    with pytest.raises(CheckFailed) as info:
        checks.check_score_variance(wrong)
    msg = str(info.value)
    assert msg.startswith(f"Exercise 3, {label}"), msg
    for word in words:
        assert word in msg, (word, msg)


def test_score_variance_rejects_code_that_breaks_on_tensors():
    import math

    with pytest.raises(CheckFailed, match="theta a tensor .* raised ValueError"):
        checks.check_score_variance(lambda t, b: math.pow(t, 4) + 14 * t**2 + 15 - 2 * b * (t**2 + 3) + b**2)


# --------------------------------------------------------------------------- Exercise 4


def test_optimal_baseline_accepts_the_reference(capsys):
    checks.check_optimal_baseline(lambda theta: theta**2 + 3)
    assert "Exercise 4: optimal_baseline passed all 4 checks." in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda t: t**2 + 1, ["E[f(x)]", "not the minimiser"]),
        (lambda t: t**2, ["f(E[x])"]),
        (lambda t: -(t**2 + 3), ["sign error"]),
        (lambda t: 0 * t, ["plain estimator"]),
    ],
)
def test_optimal_baseline_rejects_typical_mistakes(wrong, words):
    with pytest.raises(CheckFailed) as info:
        checks.check_optimal_baseline(wrong)
    msg = str(info.value)
    assert msg.startswith("Exercise 4, theta = 1.5")
    for word in words:
        assert word in msg, (word, msg)


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
