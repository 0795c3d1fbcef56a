"""Sheet 06's checks tried on answers written the way students write them (issue 14).

Not copies of the ``Mistake`` functions listed in the checks: whole functions in different styles,
wrong ones and right ones. A wrong answer must be rejected with a message that says what is
actually wrong (the words listed); a right answer, however it is written, must pass.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from student_support import student_tests

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


def gumbel_max_one_minus_u(logits, u):
    """Right: Gumbel noise from 1 - u (the same law), and the class index by hand."""
    g = -torch.log(-torch.log1p(-u))
    index = torch.max(logits + g, dim=1).indices
    return torch.zeros_like(u).scatter_(1, index[:, None], 1.0)


def gumbel_max_eye(logits, u):
    """Right: rows of an identity matrix picked by the argmax."""
    return torch.eye(logits.numel(), dtype=logits.dtype)[torch.argmax(logits - torch.log(-torch.log(u)), -1)]


def gumbel_max_exponential_noise(logits, u):
    """Wrong: inverted the CDF as if it were exp(-g) (one log)."""
    g = -torch.log(u)
    return F.one_hot((logits + g).argmax(-1), logits.shape[0]).double()


def gumbel_max_probabilities(logits, u):
    """Wrong: noise added to the probabilities."""
    p = logits.exp() / logits.exp().sum()
    return F.one_hot((p - torch.log(-torch.log(u))).argmax(-1), len(logits)).to(u.dtype)


def gs_one_minus_u_log_softmax_exp(logits, u, temperature):
    """Right: 1 - u for the noise, and exp(log_softmax) for the softmax."""
    g = -torch.log(-torch.log(1 - u))
    return torch.log_softmax((logits + g) / temperature, dim=1).exp()


def gs_times_temperature(logits, u, temperature):
    """Wrong: multiplied by the temperature."""
    return F.softmax(temperature * (logits - torch.log(-torch.log(u))), dim=-1)


def loo_loop(logits, z, f_values):
    """Right: a loop over the samples, the score from autograd."""
    K = len(f_values)
    total = torch.zeros_like(logits)
    for k in range(K):
        theta = logits.detach().clone().requires_grad_(True)
        log_q = (z[k] * torch.log_softmax(theta, -1)).sum()
        (score,) = torch.autograd.grad(log_q, theta)
        b = (f_values.sum() - f_values[k]) / (K - 1)
        total = total + (f_values[k] - b) * score
    return total / K


def loo_without_probs(logits, z, f_values):
    """Right: the -softmax part cancels (the weights sum to 0)."""
    K = f_values.numel()
    w = f_values - (f_values.sum() - f_values) / (K - 1)
    return (w[:, None] * z).sum(0) / K


def loo_score_chosen_class_only(logits, z, f_values):
    """Wrong: differentiated log p_z only through the chosen class's logit."""
    K = f_values.numel()
    w = K / (K - 1) * (f_values - f_values.mean())
    p = torch.softmax(logits, 0)
    return (w[:, None] * z * (1 - p)).mean(0)


def loo_baseline_with_self(logits, z, f_values):
    """Wrong: the baseline is the mean of all samples, its own included."""
    return ((f_values - f_values.mean())[:, None] * (z - logits.softmax(-1))).mean(0)


def implicit_expand(cdf, z, theta):
    """Right: one copy of theta per sample."""
    z = z.clone().requires_grad_()
    th = theta.repeat(z.shape[0]).requires_grad_()
    F_ = cdf(z, th)
    dz, dth = torch.autograd.grad(F_, (z, th), grad_outputs=torch.ones_like(F_))
    return -dth / dz


def implicit_loop(cdf, z, theta):
    """Right: a loop, one autograd call per sample."""
    out = []
    for z_s in z:
        z_s = z_s.clone().requires_grad_(True)
        th = theta.clone().requires_grad_(True)
        dF_dz, dF_dth = torch.autograd.grad(cdf(z_s, th), [z_s, th])
        out.append(-dF_dth / dF_dz)
    return torch.stack(out)


def implicit_finite_differences(cdf, z, theta):
    """Right: central differences in both arguments."""
    h = 1e-6
    dF_dth = (cdf(z, theta + h) - cdf(z, theta - h)) / (2 * h)
    dF_dz = (cdf(z + h, theta) - cdf(z - h, theta)) / (2 * h)
    return -dF_dth / dF_dz


def implicit_jacobian(cdf, z, theta):
    """Right: torch.autograd.functional.jacobian, the diagonal for z."""
    J_z = torch.autograd.functional.jacobian(lambda v: cdf(v, theta), z)
    J_th = torch.autograd.functional.jacobian(lambda t: cdf(z, t), theta)
    return -J_th / torch.diagonal(J_z)


def implicit_shared_theta(cdf, z, theta):
    """Wrong: one theta for all samples: its gradient is the sum over the samples."""
    z = z.clone().requires_grad_(True)
    theta = theta.clone().requires_grad_(True)
    dF_dz, dF_dth = torch.autograd.grad(cdf(z, theta).sum(), (z, theta))
    return -dF_dth / dF_dz


def implicit_no_minus(cdf, z, theta):
    """Wrong: forgot the minus sign."""
    h = 1e-6
    return ((cdf(z, theta + h) - cdf(z, theta - h)) / (2 * h)) / ((cdf(z + h, theta) - cdf(z - h, theta)) / (2 * h))


def implicit_upside_down(cdf, z, theta):
    """Wrong: dF/dz over dF/dtheta."""
    z = z.clone().requires_grad_(True)
    th = theta.expand_as(z).clone().requires_grad_(True)
    dF_dz, dF_dth = torch.autograd.grad(cdf(z, th).sum(), (z, th))
    return -dF_dz / dF_dth


WRONG = [
    (sheet06.check_kumaraswamy_sample, kuma_item, ["no gradient reaches a and b"]),
    (sheet06.check_gumbel_softmax_sample, gs_hand_softmax_unstable, ["NaN or inf", "subtract each row's maximum"]),
    (sheet06.check_gumbel_softmax_sample, gs_distribution, ["draws its own noise"]),
    (
        sheet06.check_gumbel_max_sample,
        gumbel_max_bernoulli_rsample,
        ["raised NotImplementedError", "not the unanswered-exercise marker"],
    ),
    (sheet06.check_gumbel_max_sample, gumbel_max_exponential_noise, ["-log(u) is exponential noise"]),
    (sheet06.check_gumbel_max_sample, gumbel_max_probabilities, ["not to the probabilities"]),
    (sheet06.check_gumbel_softmax_sample, gs_times_temperature, ["divide by the temperature"]),
    (sheet06.check_reinforce_loo, loo_score_chosen_class_only, ["a component for EVERY class"]),
    (sheet06.check_reinforce_loo, loo_baseline_with_self, ["includes the sample's own f value"]),
    (sheet06.check_implicit_gradient, implicit_shared_theta, ["adds up dF_s/dtheta over the samples"]),
    (sheet06.check_implicit_gradient, implicit_no_minus, ["sign error"]),
    (sheet06.check_implicit_gradient, implicit_upside_down, ["upside down"]),
]

RIGHT = [
    (sheet06.check_kumaraswamy_sample, kuma_one_minus_u),
    (sheet06.check_kumaraswamy_sample, kuma_pow),
    (sheet06.check_gumbel_softmax_sample, gs_hand_softmax_stable),
    (sheet06.check_gumbel_softmax_sample, gs_one_minus_u_log_softmax_exp),
    (sheet06.check_gumbel_max_sample, gumbel_max_one_minus_u),
    (sheet06.check_gumbel_max_sample, gumbel_max_eye),
    (sheet06.check_reinforce_loo, loo_loop),
    (sheet06.check_reinforce_loo, loo_without_probs),
    (sheet06.check_implicit_gradient, implicit_expand),
    (sheet06.check_implicit_gradient, implicit_loop),
    (sheet06.check_implicit_gradient, implicit_finite_differences),
    (sheet06.check_implicit_gradient, implicit_jacobian),
]


# a wrong answer is rejected with what is wrong; a right one passes however it is written; the counts
test_wrong_answers, test_right_answers, test_the_counts = student_tests(WRONG, RIGHT)


def gs_reference(logits, u, temperature):
    return torch.softmax((logits - torch.log(-torch.log(u))) / temperature, dim=-1)


@pytest.mark.parametrize(
    "prediction",
    [[0.25] * 4, torch.full((4,), 0.25), (0.25, 0.25, 0.25, 0.25), torch.ones(4) / 4, lambda: [1 / 4] * 4],
    ids=["list", "tensor", "tuple", "ones-over-C", "a-function"],
)
def test_a_right_temperature_prediction_passes_however_it_is_written(prediction, capsys):
    sheet06.check_temperature_prediction(prediction, gs_reference)
    assert "is correct" in capsys.readouterr().out


@pytest.mark.parametrize(
    "prediction, words",
    [
        (torch.softmax(torch.tensor([1.0, -0.5, 0.3, 0.0]), 0).tolist(), ["that is softmax(logits)"]),
        ([1.0, 0.0, 0.0, 0.0], ["limit of a SMALL temperature"]),
        ([0.4, 0.2, 0.2, 0.2], ["softmax of a vector near 0"]),
        ([0.25, 0.25, 0.25], ["expected 4 numbers, got 3"]),
        ("uniform", ["expected 4 numbers"]),
    ],
    ids=["probabilities", "one-hot", "vague", "three-numbers", "a-word"],
)
def test_a_wrong_temperature_prediction_says_why(prediction, words):
    with pytest.raises(CheckFailed) as info:
        sheet06.check_temperature_prediction(prediction, gs_reference)
    for word in words:
        assert word in str(info.value), (word, str(info.value))
