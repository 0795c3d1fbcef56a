"""The samplers of vaelib.families (and the relaxations' laws and error paths) against independent oracles.

Oracles: scipy.stats laws (Kolmogorov-Smirnov tests at fixed seeds, false-alarm rate
alpha = 0.001 per test), exact CDFs derived by hand, expectations computed by numerical
integration (scipy.integrate.quad) and differentiated by central finite differences, and torch's
implicit reparameterization gradients. Lecture 06.
"""

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.special
import scipy.stats as st
import torch
from hypothesis import given, settings
from hypothesis import strategies as hs

from vaelib import _validate, families, relaxations

ALPHA = 1e-3  # false-alarm rate of each KS test (fixed seeds make the outcome reproducible)
N = 4000  # samples per KS test: detects a CDF error of about 0.03


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def t64(*values) -> torch.Tensor:
    return torch.tensor(values if len(values) > 1 else values[0], dtype=torch.float64)


LOGITS = torch.tensor([1.0, -0.5, 0.3, 0.0], dtype=torch.float64)  # one categorical, C = 4


def ks_pvalue(samples: torch.Tensor, cdf) -> float:
    return st.kstest(samples.detach().numpy().ravel(), cdf).pvalue


# ----------------------------------------------------------------------------------------------
# Every sampler's law: KS tests against scipy.stats (or an exact CDF)
# ----------------------------------------------------------------------------------------------

LAWS = {
    # name: (draw n samples from generator g, scipy/exact CDF)
    "laplace": (
        lambda n, g: families.laplace(t64(0.7), t64(1.8), sample_shape=(n,), generator=g),
        st.laplace(loc=0.7, scale=1.8).cdf,
    ),
    "logistic": (
        lambda n, g: families.logistic(t64(-1.0), t64(0.5), sample_shape=(n,), generator=g),
        st.logistic(loc=-1.0, scale=0.5).cdf,
    ),
    "exponential": (
        lambda n, g: families.exponential(t64(2.5), sample_shape=(n,), generator=g),
        st.expon(scale=1 / 2.5).cdf,
    ),
    "gumbel": (
        lambda n, g: families.gumbel(t64(0.3), t64(2.0), sample_shape=(n,), generator=g),
        st.gumbel_r(loc=0.3, scale=2.0).cdf,
    ),
    "kumaraswamy": (
        lambda n, g: families.kumaraswamy(t64(2.0), t64(5.0), sample_shape=(n,), generator=g),
        lambda z: 1 - (1 - np.clip(z, 0, 1) ** 2.0) ** 5.0,  # F(z) = 1 - (1 - z^a)^b
    ),
    "kumaraswamy_a1_is_beta": (  # Kumaraswamy(1, b) = Beta(1, b)
        lambda n, g: families.kumaraswamy(t64(1.0), t64(3.0), sample_shape=(n,), generator=g),
        st.beta(1.0, 3.0).cdf,
    ),
    "kumaraswamy_b1_is_beta": (  # Kumaraswamy(a, 1) = Beta(a, 1)
        lambda n, g: families.kumaraswamy(t64(0.4), t64(1.0), sample_shape=(n,), generator=g),
        st.beta(0.4, 1.0).cdf,
    ),
    "gamma_approx_follows_its_own_law": (  # P(z <= x) = min(1, x^alpha / Gamma(alpha + 1))
        lambda n, g: families.gamma_approx(t64(0.7), sample_shape=(n,), generator=g),
        lambda z: np.minimum(1.0, z**0.7 / scipy.special.gamma(1.7)),
    ),
    "gamma_approx_small_alpha_is_gamma": (
        lambda n, g: families.gamma_approx(t64(0.02), sample_shape=(n,), generator=g),
        st.gamma(0.02).cdf,
    ),
    "relaxed_bernoulli": (  # P(Y <= y) = sigmoid(tau logit(y) - logit(p))
        lambda n, g: relaxations.relaxed_bernoulli(t64(0.3), 0.5, sample_shape=(n,), generator=g),
        lambda y: scipy.special.expit(0.5 * scipy.special.logit(y) - scipy.special.logit(0.3)),
    ),
}


@pytest.mark.parametrize("name", sorted(LAWS))
def test_samples_follow_the_target_law(name):
    draw, cdf = LAWS[name]
    p = ks_pvalue(draw(N, gen(1)), cdf)
    assert p > ALPHA, f"{name}: KS p-value {p:.2g} < {ALPHA}"


@pytest.mark.parametrize(
    "name,wrong_cdf",
    [
        ("laplace", st.norm(0.7, 1.8 * math.sqrt(2)).cdf),  # same mean and variance, wrong law
        ("exponential", st.expon(scale=2.5).cdf),  # rate used as a scale
        ("gumbel", st.gumbel_l(loc=0.3, scale=2.0).cdf),  # the mirror image
        ("kumaraswamy", st.beta(2.0, 5.0).cdf),  # the Beta it imitates is a different law
    ],
)
def test_ks_test_has_power_against_a_wrong_law(name, wrong_cdf):
    """The KS tests above could fail: at N samples they reject these near-miss laws."""
    draw, _ = LAWS[name]
    assert ks_pvalue(draw(N, gen(1)), wrong_cdf) < ALPHA


def test_gamma_approx_is_far_from_gamma_for_alpha_at_least_one():
    # At alpha = 1 the approximation is U(0, 1) exactly, not Exponential(1).
    z = families.gamma_approx(t64(1.0), sample_shape=(N,), generator=gen(2))
    assert ks_pvalue(z, st.uniform().cdf) > ALPHA
    assert st.kstest(z.numpy(), st.gamma(1.0).cdf).statistic > 0.3


def test_inverse_cdf_samplers_invert_the_scipy_cdf():
    u = torch.linspace(0.01, 0.99, 50, dtype=torch.float64)
    cases = [
        (families.exponential(t64(1.7), u=u), st.expon(scale=1 / 1.7).cdf),
        (families.gumbel(t64(-0.4), t64(0.8), u=u), st.gumbel_r(-0.4, 0.8).cdf),
        (families.kumaraswamy(t64(1.0), t64(2.5), u=u), st.beta(1.0, 2.5).cdf),
        (families.laplace(t64(0.0), t64(1.0), eps=t64(st.laplace.ppf(u.numpy()))), st.laplace.cdf),
        (families.logistic(t64(0.0), t64(1.0), eps=torch.logit(u)), st.logistic.cdf),
    ]
    for z, cdf in cases:
        np.testing.assert_allclose(cdf(z.numpy()), u.numpy(), atol=1e-12)


# ----------------------------------------------------------------------------------------------
# Gradients: pathwise (mean of per-sample autograd derivatives) vs finite differences of the
# exact expectation E[f(z)] computed by numerical integration
# ----------------------------------------------------------------------------------------------


def f_smooth(z):
    return torch.sin(z) + 0.1 * z**2 if isinstance(z, torch.Tensor) else np.sin(z) + 0.1 * z**2


def exact_expectation(pdf, lo, hi, f=f_smooth):
    value, err = scipy.integrate.quad(lambda z: f(z) * pdf(z), lo, hi, limit=200, epsabs=1e-11, epsrel=1e-11)
    return value


GRADIENT_CASES = {
    # name: (sampler(params, n, g), params, expectation(params), f)
    "laplace": (
        lambda p, n, g: families.laplace(p[0], p[1], sample_shape=() if n is None else (n,), generator=g),
        [0.4, 0.9],
        lambda p: exact_expectation(st.laplace(p[0], p[1]).pdf, -np.inf, np.inf),
        f_smooth,
    ),
    "logistic": (
        lambda p, n, g: families.logistic(p[0], p[1], sample_shape=() if n is None else (n,), generator=g),
        [-0.3, 0.6],
        lambda p: exact_expectation(st.logistic(p[0], p[1]).pdf, -np.inf, np.inf),
        f_smooth,
    ),
    "exponential": (
        lambda p, n, g: families.exponential(p[0], sample_shape=() if n is None else (n,), generator=g),
        [1.3],
        lambda p: exact_expectation(st.expon(scale=1 / p[0]).pdf, 0, np.inf),
        f_smooth,
    ),
    "gumbel": (
        lambda p, n, g: families.gumbel(p[0], p[1], sample_shape=() if n is None else (n,), generator=g),
        [0.2, 0.7],
        lambda p: exact_expectation(st.gumbel_r(p[0], p[1]).pdf, p[0] - 30 * p[1], p[0] + 80 * p[1]),
        f_smooth,
    ),
    "kumaraswamy": (
        lambda p, n, g: families.kumaraswamy(p[0], p[1], sample_shape=() if n is None else (n,), generator=g),
        [2.0, 3.0],
        lambda p: exact_expectation(lambda z: p[0] * p[1] * z ** (p[0] - 1) * (1 - z ** p[0]) ** (p[1] - 1), 0, 1),
        f_smooth,
    ),
}


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_pathwise_gradient_matches_finite_differences_of_exact_expectation(name):
    sampler, params, expectation, f = GRADIENT_CASES[name]
    n = 20000
    # one leaf copy of each parameter per sample: row i of the gradient is d f(z_i) / d theta
    copies = [torch.full((n,), v, dtype=torch.float64, requires_grad=True) for v in params]
    z = sampler(copies, None, gen(3))  # (n,)
    grads = torch.stack(torch.autograd.grad(f(z).sum(), copies), dim=1)  # (n, P)
    mean, se = grads.mean(0), grads.std(0) / math.sqrt(n)
    h = 1e-5
    for k, v in enumerate(params):
        up = list(params)
        down = list(params)
        up[k], down[k] = v + h, v - h
        fd = (expectation(up) - expectation(down)) / (2 * h)
        assert abs(mean[k].item() - fd) < 4 * se[k].item() + 1e-6, (
            f"{name} d/dparam{k}: pathwise {mean[k].item():.5f} +- {se[k].item():.5f}, FD {fd:.5f}"
        )


def test_transform_derivatives_with_fixed_noise_match_finite_differences():
    """d z / d theta at fixed noise (what autograd uses) against central differences."""
    u = torch.tensor([0.05, 0.3, 0.6, 0.97], dtype=torch.float64)
    transforms = {
        "exponential": (lambda th: families.exponential(th[0], u=u), [1.3]),
        "gumbel": (lambda th: families.gumbel(th[0], th[1], u=u), [0.2, 0.7]),
        "kumaraswamy": (lambda th: families.kumaraswamy(th[0], th[1], u=u), [0.6, 3.0]),
        "gamma_approx": (lambda th: families.gamma_approx(th[0], u=u), [0.3]),
        "relaxed_bernoulli": (lambda th: relaxations.relaxed_bernoulli(th[0], 0.7, u=u), [0.3]),
    }
    for name, (fn, params) in transforms.items():
        theta = tuple(torch.tensor(v, dtype=torch.float64) for v in params)
        jac = torch.autograd.functional.jacobian(lambda *th: fn(th), theta)
        for k in range(len(params)):
            h = 1e-6
            up = [t.clone() for t in theta]
            down = [t.clone() for t in theta]
            up[k] += h
            down[k] -= h
            fd = (fn(up) - fn(down)) / (2 * h)
            torch.testing.assert_close(jac[k], fd, rtol=1e-6, atol=1e-8, msg=f"{name}, param {k}")
    # the exponential's derivative in closed form: dz/drate = -z / rate
    rate = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    z = families.exponential(rate, u=u)
    (g,) = torch.autograd.grad(z.sum(), rate)
    torch.testing.assert_close(g, (-z / rate).sum().detach())


# ----------------------------------------------------------------------------------------------
# Dirichlet approximation and implicit reparameterization
# ----------------------------------------------------------------------------------------------


def test_dirichlet_approx_is_normalised_gamma_approx():
    alpha = torch.tensor([0.3, 0.8, 1.5], dtype=torch.float64)
    u = torch.rand(200, 3, generator=gen(16), dtype=torch.float64).clamp(1e-6, 1 - 1e-6)
    v = families.gamma_approx(alpha, u=u)
    torch.testing.assert_close(families.dirichlet_approx(alpha, u=u), v / v.sum(-1, keepdim=True))


def test_dirichlet_approx_stays_finite_when_every_gamma_underflows():
    alpha = torch.full((3,), 0.002, dtype=torch.float64)
    z = families.dirichlet_approx(alpha, sample_shape=(1000,), generator=gen(17))
    assert torch.isfinite(z).all()
    torch.testing.assert_close(z.sum(-1), torch.ones(1000, dtype=torch.float64))
    assert (families.gamma_approx(alpha, sample_shape=(1000,), generator=gen(17)) == 0).any()


def test_dirichlet_approx_marginals_match_beta_for_small_alpha():
    alpha = torch.tensor([0.05, 0.1, 0.08], dtype=torch.float64)
    z = families.dirichlet_approx(alpha, sample_shape=(N,), generator=gen(18))
    a0 = alpha.sum().item()
    for k in range(3):  # Dirichlet marginals: z_k ~ Beta(alpha_k, alpha_0 - alpha_k)
        a = alpha[k].item()
        assert st.kstest(z[:, k].numpy(), st.beta(a, a0 - a).cdf).statistic < 0.03
    # ... but not for alpha >= 1
    z = families.dirichlet_approx(torch.tensor([2.0, 3.0], dtype=torch.float64), sample_shape=(N,), generator=gen(18))
    assert st.kstest(z[:, 0].numpy(), st.beta(2.0, 3.0).cdf).statistic > 0.1


def gamma_cdf(z, alpha):
    return torch.special.gammainc(alpha, z)


def test_implicit_gradient_equals_torch_gamma_rsample_gradient():
    """Per sample, to 2e-3 relative (torch approximates dF/dalpha by series; its worst samples,
    far in the tails, are off by ~1e-3), and to 1e-4 for the typical (median) sample."""
    torch.manual_seed(0)
    alpha = torch.tensor([0.05, 0.3, 1.0, 4.0, 10.0], dtype=torch.float64).expand(2000, 5).clone().requires_grad_(True)
    z = torch.distributions.Gamma(alpha, torch.ones_like(alpha)).rsample()  # (2000, 5)
    (torch_grad,) = torch.autograd.grad(z.sum(), alpha)  # per sample: one leaf copy each
    mine = families.implicit_gradient(gamma_cdf, z.detach(), alpha.detach())
    rel = (mine - torch_grad).abs() / mine.abs()
    assert rel.max() < 2e-3 and rel.median() < 1e-4
    # the finite differences are converged: a 10x smaller step changes them by < 1e-6 relative
    finer = families.implicit_gradient(gamma_cdf, z.detach(), alpha.detach(), step=1e-6)
    assert ((finer - mine).abs() / mine.abs()).max() < 1e-6


def test_implicit_gradient_equals_torch_beta_rsample_gradient_with_a_scipy_cdf():
    a = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(2.0, dtype=torch.float64)
    z = torch.distributions.Beta(a, b).rsample((40,))
    (torch_grad,) = torch.autograd.grad(z.sum(), a)
    cdf = lambda z, a: torch.from_numpy(scipy.special.betainc(a.numpy(), 2.0, z.numpy()))  # noqa: E731
    mine = families.implicit_gradient(cdf, z.detach(), a.detach())
    torch.testing.assert_close(mine.sum(), torch_grad, rtol=1e-4, atol=1e-8)


def test_implicit_gradient_equals_the_explicit_inverse_cdf_gradient():
    u = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    rate = torch.tensor(2.0, dtype=torch.float64)
    z = families.exponential(rate, u=u)
    expo_cdf = lambda z, r: 1 - torch.exp(-r * z)  # noqa: E731
    torch.testing.assert_close(families.implicit_gradient(expo_cdf, z, rate), -z / rate, rtol=1e-7, atol=1e-10)


def test_torch_gamma_pathwise_gradient_of_the_mean_is_one():
    """E[z] = alpha, so d/dalpha E[z] = 1: the mean of dz/dalpha over samples, within 4 s.e."""
    alpha = torch.full((20000,), 0.4, dtype=torch.float64, requires_grad=True)
    z = torch.distributions.Gamma(alpha, torch.ones_like(alpha)).rsample()
    (g,) = torch.autograd.grad(z.sum(), alpha)
    assert abs(g.mean().item() - 1.0) < 4 * g.std().item() / math.sqrt(len(g))


# ----------------------------------------------------------------------------------------------
# Shapes and generators
# ----------------------------------------------------------------------------------------------

SHAPES = [(), (4,), (2, 3)]


@pytest.mark.parametrize("shape", SHAPES)
def test_output_shapes_follow_sample_shape_and_parameters(shape):
    one = torch.ones(shape, dtype=torch.float64)
    assert families.laplace(one, one, sample_shape=(5,)).shape == (5, *shape)
    assert families.logistic(one, one).shape == shape
    assert families.exponential(one, sample_shape=(2, 5)).shape == (2, 5, *shape)
    assert families.gumbel(one, one, sample_shape=(5,)).shape == (5, *shape)
    assert families.kumaraswamy(one, 2 * one, sample_shape=(5,)).shape == (5, *shape)
    assert families.gamma_approx(one, sample_shape=(5,)).shape == (5, *shape)
    assert relaxations.relaxed_bernoulli(0.5 * one, 1.0, sample_shape=(5,)).shape == (5, *shape)
    logits = torch.zeros((*shape, 3), dtype=torch.float64)
    assert relaxations.gumbel_softmax(logits, 1.0, sample_shape=(5,)).shape == (5, *shape, 3)
    assert relaxations.gumbel_max(logits).shape == (*shape, 3)
    assert families.dirichlet_approx(logits + 1, sample_shape=(5,)).shape == (5, *shape, 3)


def test_noise_broadcasts_with_parameters():
    loc = torch.zeros(3, dtype=torch.float64)
    eps = torch.randn(7, 3, dtype=torch.float64)
    torch.testing.assert_close(families.laplace(loc, torch.tensor(2.0, dtype=torch.float64), eps=eps), 2 * eps)


def test_generator_makes_draws_reproducible():
    a = relaxations.gumbel_softmax(LOGITS, 0.5, sample_shape=(3,), generator=gen(42))
    b = relaxations.gumbel_softmax(LOGITS, 0.5, sample_shape=(3,), generator=gen(42))
    torch.testing.assert_close(a, b)


# ----------------------------------------------------------------------------------------------
# Properties (hypothesis)
# ----------------------------------------------------------------------------------------------

unit = hs.floats(1e-6, 1 - 1e-6)
pos = hs.floats(0.05, 20.0)


@settings(max_examples=60, deadline=None)
@given(u1=unit, u2=unit, a=pos, b=pos)
def test_kumaraswamy_is_increasing_in_u_and_inside_the_unit_interval(u1, u2, a, b):
    lo, hi = sorted((u1, u2))
    z = families.kumaraswamy(t64(a), t64(b), u=t64(lo, hi))
    assert 0 <= z[0] <= z[1] <= 1


@settings(max_examples=60, deadline=None)
@given(
    logits=hs.lists(hs.floats(-30, 30), min_size=2, max_size=6),
    temperature=hs.floats(0.01, 100.0),
    seed=hs.integers(0, 2**31),
)
def test_gumbel_softmax_is_on_the_simplex_and_its_argmax_is_gumbel_max(logits, temperature, seed):
    logits = torch.tensor(logits, dtype=torch.float64)
    u = torch.rand(len(logits), generator=gen(seed), dtype=torch.float64).clamp(1e-9, 1 - 1e-9)
    y = relaxations.gumbel_softmax(logits, temperature, u=u)
    assert torch.isfinite(y).all() and (y >= 0).all()
    assert abs(y.sum().item() - 1) < 1e-9
    scores = logits - torch.log(-torch.log(u))
    if (scores.sort().values[-1] - scores.sort().values[-2]) > 1e-9:  # no tie
        assert y.argmax() == relaxations.gumbel_max(logits, u=u).argmax()


@settings(max_examples=60, deadline=None)
@given(u=unit, rate=pos, loc=hs.floats(-5, 5), scale=pos)
def test_inverse_cdf_round_trip(u, rate, loc, scale):
    z = families.exponential(t64(rate), u=t64(u)).item()
    assert math.isclose(st.expon(scale=1 / rate).cdf(z), u, rel_tol=1e-9, abs_tol=1e-12)
    z = families.gumbel(t64(loc), t64(scale), u=t64(u)).item()
    assert math.isclose(st.gumbel_r(loc, scale).cdf(z), u, rel_tol=1e-9, abs_tol=1e-12)


# ----------------------------------------------------------------------------------------------
# Error paths: clear ValueErrors naming the argument, the value and the fix
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), True, "1"])
def test_bad_temperature(bad):
    with pytest.raises(ValueError, match=r"temperature must be a finite number > 0; got .*gumbel_max"):
        relaxations.gumbel_softmax(LOGITS, bad)
    with pytest.raises(ValueError, match="temperature"):
        relaxations.relaxed_bernoulli(t64(0.5), bad)


@pytest.mark.parametrize("fn", [families.gamma_approx, families.dirichlet_approx])
@pytest.mark.parametrize("bad", [0.0, -0.5])
def test_bad_alpha(fn, bad):
    with pytest.raises(ValueError, match=r"alpha must be strictly positive.*softplus"):
        fn(torch.tensor([1.0, bad]))


def test_nan_alpha():
    with pytest.raises(ValueError, match=r"alpha contains 1 non-finite value"):
        families.dirichlet_approx(torch.tensor([1.0, float("nan")]))


@pytest.mark.parametrize("bad", [-0.1, 1.2])
def test_probabilities_outside_unit_interval(bad):
    with pytest.raises(ValueError, match=rf"probs must lie in \[0, 1\]; got 1 value\(s\) outside, e.g. {bad}.*sigmoid"):
        relaxations.relaxed_bernoulli(torch.tensor([0.5, bad]), 1.0)


def test_nan_probabilities():
    with pytest.raises(ValueError, match=r"probs contains 1 NaN"):
        relaxations.relaxed_bernoulli(torch.tensor([0.5, float("nan")]), 1.0)


@pytest.mark.parametrize("fn", [lambda l: relaxations.gumbel_softmax(l, 1.0), relaxations.gumbel_max])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_plus_inf_logits(fn, bad):
    with pytest.raises(ValueError, match=r"logits contains 1 NaN or \+inf value\(s\) \(shape \(3,\)\)"):
        fn(torch.tensor([0.0, bad, 1.0]))


def test_all_minus_inf_logits():
    with pytest.raises(ValueError, match="every logit of a row is -inf"):
        relaxations.gumbel_max(torch.tensor([[0.0, 1.0], [-math.inf, -math.inf]]))


def test_scalar_logits_need_a_class_dimension():
    with pytest.raises(ValueError, match=r"logits must have at least 1 dimension"):
        relaxations.gumbel_softmax(torch.tensor(0.0), 1.0)


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: families.laplace(t64(0.0), t64(0.0)), "scale"),
        (lambda: families.logistic(t64(0.0), t64(-1.0)), "scale"),
        (lambda: families.gumbel(t64(0.0), t64(-1.0)), "scale"),
        (lambda: families.exponential(t64(0.0)), "rate"),
        (lambda: families.kumaraswamy(t64(-1.0), t64(1.0)), "a"),
        (lambda: families.kumaraswamy(t64(1.0), t64(0.0)), "b"),
    ],
)
def test_non_positive_scale_parameters(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must be strictly positive; got 1 bad value"):
        call()


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.2, 1.5])
def test_uniform_noise_outside_open_unit_interval(bad):
    with pytest.raises(ValueError, match=r"u must lie strictly between 0 and 1.*torch.rand"):
        families.gumbel(t64(0.0), t64(1.0), u=torch.tensor([0.5, bad], dtype=torch.float64))


def test_noise_that_does_not_broadcast():
    with pytest.raises(ValueError, match=r"shapes do not broadcast: rate \(3,\), u \(2,\)"):
        families.exponential(torch.ones(3), u=torch.full((2,), 0.5))
    with pytest.raises(ValueError, match=r"shapes do not broadcast"):
        families.logistic(torch.zeros(3), torch.ones(3), eps=torch.zeros(4))


def test_nan_noise():
    with pytest.raises(ValueError, match=r"eps contains 1 non-finite"):
        families.laplace(t64(0.0), t64(1.0), eps=torch.tensor([0.0, float("nan")], dtype=torch.float64))


def test_bad_sample_shape():
    with pytest.raises(ValueError, match=r"sample_shape must be a tuple of non-negative ints"):
        families.exponential(t64(1.0), sample_shape=(-1,))


def test_integer_parameters_are_a_type_error():
    with pytest.raises(TypeError, match=r"rate must be a floating-point tensor.*float\(\)"):
        families.exponential(torch.tensor([1, 2]))


# ----------------------------------------------------------------------------------------------
# Review additions: extreme noise, the approximation's mean, the approximate Dirichlet's gradient
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_laplace_fresh_noise_stays_finite_at_the_extreme_uniforms(monkeypatch, dtype):
    """u = tiny rounds v = u - 1/2 to exactly -1/2, where log(1 - 2|v|) = -inf (a float32 draw
    hits u = 0 once in 2^24): the sampler must still return finite samples."""
    info = torch.finfo(dtype)
    extreme = torch.tensor([info.tiny, 0.5, 1 - info.eps], dtype=dtype)
    monkeypatch.setattr(_validate, "fresh_uniform", lambda shape, like, generator: extreme)
    z = families.laplace(torch.zeros(3, dtype=dtype), torch.ones(3, dtype=dtype))
    assert torch.isfinite(z).all(), z
    assert z[0] < -10 and z[1] == 0 and z[2] > 10


def test_gamma_approx_mean_is_the_closed_form_and_its_support_is_cut():
    """E[z] = Gamma(alpha + 1)^(1/alpha) alpha / (alpha + 1) (within 4 s.e.), at most e^-gamma alpha;
    every sample lies below Gamma(alpha + 1)^(1/alpha), the cut-off tail."""
    for alpha in (0.05, 0.5, 3.0):
        z = families.gamma_approx(t64(alpha), sample_shape=(20000,), generator=gen(30))
        top = math.exp(math.lgamma(alpha + 1) / alpha)
        mean = top * alpha / (alpha + 1)
        assert abs(z.mean().item() - mean) < 4 * z.std().item() / math.sqrt(len(z))
        assert mean < math.exp(-np.euler_gamma) * alpha
        assert z.max().item() <= top


def test_dirichlet_approx_gradient_of_the_mean_is_exact_only_for_small_alpha():
    """E[z_1] = alpha_1 / alpha_0: the mean pathwise gradient d z_1 / d alpha_1 must be
    (alpha_0 - alpha_1) / alpha_0^2 within 4 s.e. for small concentrations, and misses it for (2, 3)."""
    n = 20000
    results = {}
    for alpha in ((0.05, 0.1, 0.08), (2.0, 3.0)):
        copies = t64(*alpha).expand(n, len(alpha)).clone().requires_grad_(True)
        z = families.dirichlet_approx(copies, generator=gen(31))
        (g,) = torch.autograd.grad(z[:, 0].sum(), copies)
        a0 = sum(alpha)
        results[alpha] = abs(g[:, 0].mean().item() - (a0 - alpha[0]) / a0**2) / (g[:, 0].std().item() / math.sqrt(n))
    assert results[(0.05, 0.1, 0.08)] < 4
    assert results[(2.0, 3.0)] > 10
