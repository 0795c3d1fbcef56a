"""The argument contracts of vaelib._validate, and the bad-input defects of issue 10 they fix.

Each ``test_defect_*`` reproduces one defect found by the bad-input probe (the call that used to
return a silent wrong answer or an obscure error) and checks the clear error it gives now.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from vaelib import (
    _validate,
    discrete,
    estimators,
    families,
    gaussians,
    kl,
    linear_gaussian,
    meanfield,
    relaxations,
    reparam,
)

F64 = torch.float64


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------------------------
# Silent wrong answers (issue 10, defect 4)
# ---------------------------------------------------------------------------------------------


def test_defect_nan_samples_no_longer_pass_as_the_same_law():
    x = torch.randn(200, 2, generator=_gen(0))
    y = torch.randn(200, 2, generator=_gen(1)) + 5.0  # clearly another law
    assert gaussians.two_sample_projection_test(x, y) < 1e-6
    y[3, 1] = math.nan  # one NaN used to make every KS statistic NaN and the p-value 1.0
    with pytest.raises(_validate.NonFiniteError, match="y contains 1 non-finite value"):
        gaussians.two_sample_projection_test(x, y)


@pytest.mark.parametrize(
    "call",
    [
        lambda z: gaussians.mean_and_stderr(z),
        lambda z: gaussians.covariance_and_stderr(z),
        lambda z: gaussians.ellipse_coverage(z, torch.zeros(2), torch.eye(2), 1.0),
        lambda z: gaussians.mahalanobis_sq(z, torch.zeros(2), torch.eye(2)),
    ],
)
def test_defect_statistics_refuse_nan_samples(call):
    z = torch.randn(50, 2, generator=_gen(2))
    z[7, 0] = math.nan
    with pytest.raises(_validate.NonFiniteError, match=r"\b(z|samples) contains 1 non-finite"):
        call(z)


def _non_triangular_case():
    """A factor S with nonzeros above the diagonal, and the Cholesky factor of the same covariance."""
    S = torch.tensor([[1.0, 0.8, 0.0], [0.8, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=F64)
    return S, torch.linalg.cholesky(S @ S.T)


def test_defect_non_triangular_factor_overstated_the_monte_carlo_elbo():
    """The entropy term reads log L_ii, right only for a triangular L: S overstates the ELBO."""
    S, L = _non_triangular_case()
    overstatement = S.diagonal().log().sum() - L.diagonal().log().sum()  # entropy as read from S
    assert overstatement > 1.0  # the probe's case was 1.7 nats; this one is -log(0.36) = 1.02
    model = linear_gaussian.LinearGaussianModel.random(5, 3, generator=_gen(3), dtype=F64)
    x, mu = torch.randn(1, 5, generator=_gen(4), dtype=F64), torch.zeros(1, 3, dtype=F64)
    with pytest.raises(ValueError, match="scale_tril must be lower-triangular.*torch.linalg.cholesky"):
        meanfield.monte_carlo_elbo(model.log_joint, x, mu, S.unsqueeze(0), n_samples=4)
    with pytest.raises(ValueError, match="scale_tril must be lower-triangular"):
        model.elbo(x, mu, S.unsqueeze(0))
    # the fix it suggests gives the right answer: the closed form equals the Monte Carlo estimate
    eps = torch.randn(20000, 1, 3, generator=_gen(5), dtype=F64)
    mc = meanfield.monte_carlo_elbo(model.log_joint, x, mu, L.unsqueeze(0), eps=eps)
    assert torch.allclose(mc, model.elbo(x, mu, L.unsqueeze(0)), atol=0.1)


def test_defect_empty_inputs_raise_instead_of_nan():
    model = linear_gaussian.LinearGaussianModel.random(4, 2, generator=_gen(6))
    x, mu, L = torch.randn(2, 4), torch.zeros(2, 2), torch.eye(2).expand(2, 2, 2)
    with pytest.raises(ValueError, match="eps is empty"):  # used to average 0 samples: NaN
        meanfield.monte_carlo_elbo(model.log_joint, x, mu, L, eps=torch.empty(0, 2, 2))
    with pytest.raises(ValueError, match="values is empty"):
        discrete.moving_average_baseline(torch.empty(0))
    with pytest.raises(ValueError, match="grads is empty"):
        estimators.summarize(torch.empty(0))
    # elementwise maps keep an empty batch empty (no NaN to hide): one KL per row of nothing
    assert kl.diag_gaussian_to_std_normal(torch.empty(0, 3), torch.empty(0, 3)).shape == (0,)
    assert reparam.diag_gaussian(torch.empty(0, 3), torch.ones(3)).shape == (0, 3)


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: reparam.diag_gaussian(True, 1.0), "mu"),
        (lambda: families.laplace(torch.zeros(2), True), "scale"),
        (lambda: relaxations.gumbel_softmax(torch.zeros(3), 0.5, hard="yes"), "hard"),
        (lambda: linear_gaussian.LinearGaussianModel.random(4, 2).em_step(torch.randn(9, 4), isotropic=1), "isotropic"),
        (lambda: discrete.moving_average_baseline(torch.zeros(4), initial=True), "initial"),
        (lambda: relaxations.relaxed_bernoulli(torch.tensor([True, False]), 0.5), "probs"),
    ],
)
def test_defect_booleans_are_not_numbers(call, name):
    with pytest.raises((TypeError, ValueError), match=name):
        call()


def test_defect_one_hot_support_refuses_a_huge_enumeration_at_once():
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"at most 2\^20 configurations.*num_variables=1000000000000"):
        discrete.one_hot_support(10**12, 3)  # used to compute 3 ** (10 ** 12): a hang
    assert time.perf_counter() - start < 1.0


# ---------------------------------------------------------------------------------------------
# Obscure errors (issue 10, defect 5)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "draw",
    [
        lambda g: reparam.diag_gaussian(torch.zeros(3), torch.ones(3), generator=g),
        lambda g: families.gumbel(torch.zeros(3), torch.ones(3), generator=g),
        lambda g: relaxations.gumbel_softmax(torch.zeros(3), 0.5, generator=g),
        lambda g: gaussians.random_orthogonal(3, generator=g),
        lambda g: kl.monte_carlo_kl(
            torch.distributions.Normal(0.0, 1.0), torch.distributions.Normal(1.0, 1.0), 4, generator=g
        )[0],
        lambda g: linear_gaussian.LinearGaussianModel.random(3, 2, generator=_gen(1)).sample(2, generator=g)[0],
    ],
)
def test_defect_an_int_seed_is_a_generator(draw):
    """generator=0 means torch.Generator().manual_seed(0) everywhere; anything else is named."""
    assert torch.equal(draw(0), draw(torch.Generator().manual_seed(0)))
    with pytest.raises(TypeError, match="generator must be None, a torch.Generator or an int seed"):
        draw("0")


@pytest.mark.parametrize(
    "call",
    [
        lambda v: estimators.leave_one_out_baseline(v),  # used to raise AttributeError
        lambda v: discrete.leave_one_out_groups(v, 2),
        lambda v: estimators.summarize(v).variance,
        lambda v: discrete.one_hot_categorical(v).probs,
        lambda v: reparam.diag_gaussian(v, v, eps=v),
    ],
)
def test_defect_lists_and_numpy_arrays_work_like_tensors(call):
    values = torch.tensor([0.5, 1.5, 2.0, 4.0])
    expected = call(values)
    assert torch.allclose(call(values.tolist()), expected)
    assert torch.allclose(call(values.numpy()), expected)


def test_defect_float64_data_meets_a_float32_model():
    model = linear_gaussian.LinearGaussianModel.random(4, 2, generator=_gen(7))  # float32
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(3, 4)))  # float64
    assert torch.allclose(model.log_marginal(x), model.log_marginal(x.float()))
    z = torch.zeros(3, 2, dtype=F64)
    assert model.log_joint(x, z).dtype == torch.float32


@pytest.mark.parametrize(
    "call,name",
    [  # each message used to name another argument (scale_tril, mu) or none
        (lambda m, x: m.elbo_diag(x, torch.zeros(2, 2), torch.tensor([[0.0, math.nan], [0.0, 0.0]])), "log_var"),
        (lambda m, x: meanfield.fit_per_point(m.elbo, x, 2, init_mu=torch.full((2, 2), math.nan)), "init_mu"),
        (lambda m, x: estimators.per_sample_copies(torch.zeros(2), -1), "num_samples"),
        (lambda m, x: discrete.bias_variance(torch.zeros(0, 2), torch.zeros(2)), "estimates"),
        (lambda m, x: families.implicit_gradient(None, torch.ones(2), torch.ones(2)), "cdf"),
        (lambda m, x: gaussians.two_sample_projection_test(x, x, seed=1.5), "seed"),
    ],
)
def test_defect_messages_name_the_argument(call, name):
    model = linear_gaussian.LinearGaussianModel.random(4, 2, generator=_gen(8))
    x = torch.randn(2, 4, generator=_gen(9))
    with pytest.raises((TypeError, ValueError)) as info:
        call(model, x)
    assert name in str(info.value), str(info.value)


# ---------------------------------------------------------------------------------------------
# The contracts themselves
# ---------------------------------------------------------------------------------------------


def test_non_finite_input_has_its_own_exception_type():
    with pytest.raises(_validate.NonFiniteError) as info:
        kl.diag_gaussian_to_std_normal(torch.tensor([math.inf]), torch.zeros(1))
    assert isinstance(info.value, ValueError)  # except ValueError still catches it
    with pytest.raises(_validate.NonFiniteError, match="f returned 1 non-finite"):
        estimators.score_function(
            lambda t: torch.distributions.Normal(t, 1.0),
            torch.zeros(2),
            lambda z: torch.log(z.sum(-1) * 0),
            num_samples=1,
        )


@pytest.mark.parametrize(
    "call,hint",
    [  # the students' most common mistakes get their explanation
        (lambda: reparam.diag_gaussian(torch.zeros(2), torch.tensor([-1.0, 0.5])), "std = torch.exp(0.5 * log_var)"),
        (lambda: relaxations.relaxed_bernoulli(torch.tensor([2.0, 0.5]), 0.5), "torch.sigmoid"),
        (lambda: kl.full_gaussian_to_std_normal(torch.zeros(2), torch.ones(2, 2)), "torch.linalg.cholesky(S @ S.mT)"),
        (lambda: meanfield.coordinate_ascent_gaussian(torch.zeros(3), torch.eye(3)), "unsqueeze(0)"),
        (lambda: reparam.diag_gaussian(None, 1.0), "torch.zeros(B, K)"),
        (lambda: reparam.diag_gaussian(True, 1.0), "Booleans are not numbers"),
    ],
)
def test_messages_explain_the_common_mistakes(call, hint):
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    assert hint in str(info.value), str(info.value)


def test_generator_contract():
    assert _validate.generator(None) is None
    g = torch.Generator()
    assert _validate.generator(g) is g
    assert torch.equal(torch.rand(3, generator=_validate.generator(np.int64(4))), torch.rand(3, generator=_gen(4)))
    for bad, kind in ((True, TypeError), (1.5, TypeError), ("0", TypeError), (-1, ValueError)):
        with pytest.raises(kind, match="generator"):
            _validate.generator(bad)


def test_choice_flag_function_number_contracts():
    with pytest.raises(ValueError, match=r"mode must be 'a' or 'b'; got 'c'\. pick one"):
        _validate.choice("mode", "c", ("a", "b"), "pick one")
    with pytest.raises(TypeError, match="hard must be True or False; got str 'yes'"):
        _validate.flag("hard", "yes")
    with pytest.raises(TypeError, match="f must be a function, e.g. lambda z: z; got int 3"):
        _validate.function("f", 3, "lambda z: z")
    assert _validate.number("x", np.float64(0.5), low=0, high=1) == 0.5
    for bad in (math.nan, True, "1", 2.0):
        with pytest.raises(ValueError, match="x must be a finite number in"):
            _validate.number("x", bad, low=0, high=1)
