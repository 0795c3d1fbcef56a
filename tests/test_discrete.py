"""Lecture 06 discrete-latent estimators of vaelib.estimators against exact enumeration.

The oracle is the exact gradient of E_{z ~ q_theta}[f(z)] computed by enumerating every value
of z (itself checked against closed forms and finite differences). Unbiased estimators must
land within 4 standard errors of it in every coordinate (two-sided false-alarm rate 6e-5 per
coordinate, at fixed seeds); biased ones must miss it by many standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vaelib import discrete as D
from vaelib import estimators as E

LOGITS = torch.tensor([0.5, -0.3, 0.1, -1.0], dtype=torch.float64)
TARGET = torch.tensor([0.0, 0.0, 0.9, 0.0], dtype=torch.float64)


def f_dist(z):
    """The lecture's test function: squared distance to a target point, f(z) = ||z - t||^2."""
    return ((z - TARGET) ** 2).sum(-1)


def support4():
    return D.one_hot_support(1, 4)[:, 0]  # (4, 4): the four one-hot vectors


def exact4(f=f_dist, logits=LOGITS):
    return D.exact_gradient(D.one_hot_categorical, logits, f, support4())


# ----------------------------------------------------------------------------------------------
# The oracle itself
# ----------------------------------------------------------------------------------------------


def test_supports_enumerate_every_configuration_once():
    s = D.one_hot_support(3, 4)
    assert s.shape == (64, 3, 4)
    assert torch.all(s.sum(-1) == 1)
    assert len({tuple(r.flatten().tolist()) for r in s}) == 64
    b = D.binary_support(5)
    assert b.shape == (32, 5) and len({tuple(r.tolist()) for r in b}) == 32


def test_exact_gradient_of_a_linear_f_is_the_softmax_jacobian_formula():
    v = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    value, grad = exact4(lambda z: (z * v).sum(-1))
    p = torch.softmax(LOGITS, -1)
    torch.testing.assert_close(value, (p * v).sum())
    torch.testing.assert_close(grad, p * (v - (p * v).sum()))  # d/dtheta_c sum p v = p_c (v_c - E v)


def test_exact_gradient_matches_finite_differences_for_independent_categoricals():
    logits = torch.tensor([[0.3, 0.0, -0.5], [-0.2, 0.4, 0.0]], dtype=torch.float64)
    vals = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)

    def f(z):  # a nonlinear interaction between the two variables
        return ((z[..., 0, :] * vals).sum(-1) - (z[..., 1, :] * vals).sum(-1) - 0.5) ** 2

    value, grad = D.exact_gradient(D.one_hot_categorical, logits, f, D.one_hot_support(2, 3))

    def expectation(th):  # written independently with numpy: sum over the 9 joint values
        p = np.exp(th) / np.exp(th).sum(-1, keepdims=True)
        return sum(p[0, i] * p[1, j] * (i - j - 0.5) ** 2 for i in range(3) for j in range(3))

    th = logits.numpy()
    assert math.isclose(value.item(), expectation(th), rel_tol=1e-12)
    h = 1e-6
    for idx in np.ndindex(th.shape):
        up, down = th.copy(), th.copy()
        up[idx] += h
        down[idx] -= h
        assert math.isclose(grad[idx].item(), (expectation(up) - expectation(down)) / (2 * h), abs_tol=1e-8)


def test_exact_gradient_for_bernoullis():
    theta = torch.tensor([0.4, -1.0, 2.0], dtype=torch.float64)
    bern = lambda t: torch.distributions.Bernoulli(logits=t)  # noqa: E731
    value, grad = D.exact_gradient(bern, theta, lambda z: z.prod(-1), D.binary_support(3))
    p = torch.sigmoid(theta)
    torch.testing.assert_close(value, p.prod())  # E[z1 z2 z3] = p1 p2 p3
    torch.testing.assert_close(grad, p.prod() * (1 - p))  # d/dtheta_i = p1 p2 p3 (1 - p_i)


def test_exact_gradient_rejects_an_incomplete_support():
    with pytest.raises(ValueError, match=r"total probability .* not 1.*one_hot_support"):
        D.exact_gradient(D.one_hot_categorical, LOGITS, f_dist, support4()[:3])


def test_support_size_limits():
    with pytest.raises(ValueError, match="num_classes >= 2"):
        D.one_hot_support(2, 1)
    with pytest.raises(ValueError, match="at most 2\\^20"):
        D.one_hot_support(30, 2)
    with pytest.raises(ValueError, match="num_variables must be an integer >= 1"):
        D.binary_support(0)


# ----------------------------------------------------------------------------------------------
# Unbiased estimators: REINFORCE with no, moving-average and leave-one-out baselines
# ----------------------------------------------------------------------------------------------

K = 4  # samples per estimate
R = 5000  # independent estimates


def reinforce(baseline, seed, logits=LOGITS, f=f_dist):
    torch.manual_seed(seed)
    return E.score_function(D.one_hot_categorical, logits, f, K * R, baseline=baseline)


BASELINES = {
    "none": None,
    "moving_average": lambda v: D.moving_average_baseline(v, decay=0.9, group_size=K),
    "leave_one_out": lambda v: D.leave_one_out_groups(v, K),
}


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_reinforce_is_unbiased_with_every_baseline(name):
    _, exact = exact4()
    bv = D.bias_variance(reinforce(BASELINES[name], seed=1), exact, group_size=K)
    assert bv.max_abs_z < 4, f"{name}: bias {bv.bias.tolist()} s.e. {bv.bias_se.tolist()}"


def test_baselines_reduce_the_variance():
    _, exact = exact4()
    var = {n: D.bias_variance(reinforce(b, seed=2), exact, group_size=K) for n, b in BASELINES.items()}
    for name in ("moving_average", "leave_one_out"):
        gap = var["none"].total_variance - var[name].total_variance
        se = math.hypot(var["none"].total_variance_se, var[name].total_variance_se)
        assert gap > 10 * se, f"{name} does not reduce the variance"


def test_reinforce_is_unbiased_for_two_categoricals():
    logits = torch.tensor([[0.3, 0.0, -0.5], [-0.2, 0.4, 0.0]], dtype=torch.float64)

    def f(z):
        return (z[..., 0, :] * z[..., 1, :]).sum(-1) + z[..., 0, 2]  # 1[z1 = z2] + 1[z1 = 2]

    _, exact = D.exact_gradient(D.one_hot_categorical, logits, f, D.one_hot_support(2, 3))
    est = reinforce(BASELINES["leave_one_out"], seed=3, logits=logits, f=f)
    assert est.shape == (K * R, 2, 3)
    assert D.bias_variance(est, exact, group_size=K).max_abs_z < 4


def test_leave_one_out_baseline_excludes_the_own_sample():
    values = torch.tensor([1.0, 2.0, 3.0, 10.0, 20.0, 30.0], dtype=torch.float64)
    b = D.leave_one_out_groups(values, 3)
    torch.testing.assert_close(b, torch.tensor([2.5, 2.0, 1.5, 25.0, 20.0, 15.0], dtype=torch.float64))
    # changing f(z_s) leaves b_s unchanged (and only changes its own group)
    bumped = values.clone()
    bumped[1] += 100
    b2 = D.leave_one_out_groups(bumped, 3)
    assert b2[1] == b[1] and torch.equal(b2[3:], b[3:])
    # agrees with lecture 01's leave_one_out_baseline on one group
    torch.testing.assert_close(D.leave_one_out_groups(values[:3], 3), E.leave_one_out_baseline(values[:3]))


def test_moving_average_baseline_uses_only_earlier_steps():
    values = torch.tensor([4.0, 4.0, 8.0, 8.0, 0.0, 0.0], dtype=torch.float64)
    b = D.moving_average_baseline(values, decay=0.5, initial=1.0, group_size=2)
    # b1 = 1; b2 = 0.5 * 1 + 0.5 * 4 = 2.5; b3 = 0.5 * 2.5 + 0.5 * 8 = 5.25
    torch.testing.assert_close(b, torch.tensor([1.0, 1.0, 2.5, 2.5, 5.25, 5.25], dtype=torch.float64))
    bumped = values.clone()
    bumped[2:4] = 100.0  # step 2's own values do not enter its baseline
    assert torch.equal(D.moving_average_baseline(bumped, decay=0.5, initial=1.0, group_size=2)[:4], b[:4])


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: D.leave_one_out_groups(torch.ones(6), 1), "group_size must be >= 2"),
        (lambda: D.leave_one_out_groups(torch.ones(7), 2), "divide the number of samples"),
        (lambda: D.moving_average_baseline(torch.ones(6), decay=1.0), r"decay must be a number in \[0, 1\)"),
        (lambda: D.moving_average_baseline(torch.ones(6), group_size=4), "divide the number of samples"),
    ],
)
def test_baseline_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------------------------------------
# Biased estimators: straight-through and Gumbel-softmax
# ----------------------------------------------------------------------------------------------


def test_straight_through_is_exact_for_a_linear_f():
    v = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    f = lambda z: (z * v).sum(-1)  # noqa: E731
    _, exact = exact4(f)
    est = D.straight_through(LOGITS, f, 50, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(est, exact.expand(50, 4))
    bv = D.bias_variance(est, exact)
    assert bv.max_abs_z == 0 and bv.total_variance < 1e-20


def test_straight_through_evaluates_f_at_exact_categorical_samples():
    seen = []

    def f(z):
        seen.append(z.detach())
        return f_dist(z)

    D.straight_through(LOGITS, f, 20000, generator=torch.Generator().manual_seed(1))
    z = seen[0]
    assert torch.all((z == 0) | (z == 1)) and torch.all(z.sum(-1) == 1)
    freq = z.mean(0)
    p = torch.softmax(LOGITS, -1)
    assert torch.all((freq - p).abs() < 4 * (p * (1 - p) / 20000).sqrt())


def test_straight_through_is_biased_for_a_nonlinear_f():
    _, exact = exact4()
    est = D.straight_through(LOGITS, f_dist, 20000, generator=torch.Generator().manual_seed(2))
    assert D.bias_variance(est, exact).max_abs_z > 20


def test_gumbel_softmax_gradient_is_the_pathwise_derivative_of_the_relaxation():
    """Each per-sample estimate equals a finite difference of f(softmax((theta + g) / tau))."""
    S, tau = 8, 0.5
    est = D.gumbel_softmax_gradient(LOGITS, f_dist, S, temperature=tau, generator=torch.Generator().manual_seed(3))
    u = torch.rand(S, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    u = u.clamp(torch.finfo(torch.float64).tiny, 1 - torch.finfo(torch.float64).eps)
    g = -torch.log(-torch.log(u))
    relaxed = lambda th: f_dist(torch.softmax((th + g) / tau, -1))  # noqa: E731
    h = 1e-6
    for c in range(4):
        e = torch.zeros(4, dtype=torch.float64)
        e[c] = h
        torch.testing.assert_close(
            est[:, c], (relaxed(LOGITS + e) - relaxed(LOGITS - e)) / (2 * h), atol=1e-7, rtol=1e-6
        )


def test_gumbel_softmax_bias_falls_and_variance_grows_as_temperature_falls():
    _, exact = exact4()
    stats = {}
    for i, tau in enumerate((2.0, 0.5, 0.1)):
        est = D.gumbel_softmax_gradient(
            LOGITS, f_dist, 20000, temperature=tau, generator=torch.Generator().manual_seed(10 + i)
        )
        stats[tau] = D.bias_variance(est, exact)
    assert stats[2.0].max_abs_z > 20 and stats[0.5].max_abs_z > 5  # clearly biased at these
    assert stats[2.0].bias_norm > stats[0.5].bias_norm > stats[0.1].bias_norm
    assert stats[2.0].total_variance < stats[0.5].total_variance < stats[0.1].total_variance


def test_straight_through_gumbel_softmax_is_biased():
    _, exact = exact4()
    est = D.gumbel_softmax_gradient(
        LOGITS, f_dist, 20000, temperature=1.0, hard=True, generator=torch.Generator().manual_seed(4)
    )
    assert D.bias_variance(est, exact).max_abs_z > 10


def test_estimator_shapes_for_independent_categoricals():
    logits = torch.zeros(3, 5, dtype=torch.float64)
    f = lambda z: (z[..., 0] ** 2).sum(-1)  # noqa: E731
    assert D.straight_through(logits, f, 7).shape == (7, 3, 5)
    assert D.gumbel_softmax_gradient(logits, f, 7, temperature=0.5).shape == (7, 3, 5)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: D.straight_through(torch.tensor([0.0, float("nan")]), f_dist, 4), "logits contains 1 NaN"),
        (lambda: D.straight_through(torch.tensor([0.0, -math.inf]), f_dist, 4), "logits contains 1 non-finite"),
        (
            lambda: D.gumbel_softmax_gradient(LOGITS, f_dist, 4, temperature=0.0),
            "temperature must be a finite number > 0",
        ),
        (lambda: D.gumbel_softmax_gradient(LOGITS, f_dist, 0, temperature=1.0), "num_samples must be an integer >= 1"),
        (lambda: D.straight_through(LOGITS, lambda z: z, 4), r"f must return one value per sample"),
    ],
)
def test_estimator_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------------------------------------
# bias_variance against synthetic estimates of known law
# ----------------------------------------------------------------------------------------------


def test_bias_variance_recovers_known_bias_and_variance_within_standard_errors():
    gen = torch.Generator().manual_seed(5)
    n = 40000
    true_bias = torch.tensor([0.0, 0.3], dtype=torch.float64)
    sd = torch.tensor([1.0, 2.0], dtype=torch.float64)
    exact = torch.tensor([1.0, -1.0], dtype=torch.float64)
    est = exact + true_bias + sd * torch.randn(n, 2, generator=gen, dtype=torch.float64)
    bv = D.bias_variance(est, exact)
    assert torch.all((bv.bias - true_bias).abs() < 4 * bv.bias_se)
    torch.testing.assert_close(bv.bias_se, sd / math.sqrt(n), rtol=0.02, atol=0)
    assert torch.all((bv.variance - sd**2).abs() < 4 * bv.variance_se)
    # Gaussian: Var[s^2] = 2 sigma^4 / (n - 1)
    torch.testing.assert_close(bv.variance_se, sd**2 * math.sqrt(2 / n), rtol=0.05, atol=0)
    assert abs(bv.total_variance.item() - 5.0) < 4 * bv.total_variance_se.item()
    assert bv.max_abs_z > 10  # the second coordinate's bias is 0.3 / 0.01 = 30 s.e.


def test_bias_variance_groups_average_k_samples():
    gen = torch.Generator().manual_seed(6)
    est = torch.randn(40000, generator=gen, dtype=torch.float64).unsqueeze(-1)
    bv = D.bias_variance(est, torch.zeros(1, dtype=torch.float64), group_size=4)
    assert bv.num_estimates == 10000
    assert abs(bv.variance.item() - 0.25) < 4 * bv.variance_se.item()


@pytest.mark.parametrize(
    "call,match",
    [
        (
            lambda: D.bias_variance(torch.zeros(10, 3), torch.zeros(2)),
            r"estimates must have shape \(S, \*exact.shape\)",
        ),
        (lambda: D.bias_variance(torch.zeros(10, 2), torch.zeros(2), group_size=3), "must divide"),
        (
            lambda: D.bias_variance(torch.full((10, 2), float("nan")), torch.zeros(2)),
            "estimates contains 20 non-finite",
        ),
        (lambda: D.bias_variance(torch.zeros(8, 2), torch.zeros(2), group_size=4), r"S >= 4"),
    ],
)
def test_bias_variance_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------------------------------------
# Exact variances and biases derived in lecture 06, against simulation
# ----------------------------------------------------------------------------------------------


def _exact_parts():
    value, exact = exact4()
    p = torch.softmax(LOGITS, -1)
    z = support4()
    f = f_dist(z)  # (4,)
    score_sq = ((z - p) ** 2).sum(-1)  # (4,)
    return value, exact, p, f, score_sq


def test_straight_through_bias_is_2Jp_and_its_variance_4trJ3():
    """For f(z) = ||z - t||^2 the straight-through estimate is 2 J (z - t), J = diag(p) - p p^T."""
    _, exact, p, _, _ = _exact_parts()
    J = torch.diag(p) - torch.outer(p, p)
    est = D.straight_through(LOGITS, f_dist, 40000, generator=torch.Generator().manual_seed(20))
    bv = D.bias_variance(est, exact)
    assert torch.all((bv.bias - 2 * J @ p).abs() < 4 * bv.bias_se)
    assert abs(bv.total_variance.item() - 4 * torch.trace(J @ J @ J).item()) < 4 * bv.total_variance_se.item()


@pytest.mark.parametrize("name", ["none", "oracle", "leave_one_out"])
def test_reinforce_variance_matches_the_exact_formula(name):
    """V_b = (E[(f - b)^2 ||s||^2] - ||g||^2) / K for a constant b; leave-one-out adds
    (Var(f) E||s||^2 + ||g||^2) / (K (K - 1)) to V_mu."""
    value, exact, p, f, score_sq = _exact_parts()
    grad_sq = (exact**2).sum()

    def v_const(b):
        return ((p * (f - b) ** 2 * score_sq).sum() - grad_sq) / K

    var_f = (p * (f - value) ** 2).sum()
    expected = {
        "none": v_const(0.0),
        "oracle": v_const(value),
        "leave_one_out": v_const(value) + (var_f * (p * score_sq).sum() + grad_sq) / (K * (K - 1)),
    }[name]
    baseline = {"none": None, "oracle": value.item(), "leave_one_out": BASELINES["leave_one_out"]}[name]
    bv = D.bias_variance(reinforce(baseline, seed=21), exact, group_size=K)
    assert abs(bv.total_variance.item() - expected.item()) < 4 * bv.total_variance_se.item()
