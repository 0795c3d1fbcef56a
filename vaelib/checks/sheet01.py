"""Checks for exercise sheet 01, the stochastic node (solutions/01_the_stochastic_node.ipynb).

The toy problem of lecture 01: minimise E_{x ~ N(theta, 1)}[x^2] over theta. Exercise 1 frees the
standard deviation and differentiates with respect to sigma; exercises 3 and 4 take a new f,
f(x) = e^x: the variance of the score-function estimator with a baseline, the optimal baseline and
the fraction of the variance it leaves. Each check runs the student's function on fixed inputs,
simplest first, compares with the reference answer and names a typical mistake when it fits.
"""

from __future__ import annotations

import math

import torch

from vaelib.checks import Case, Mistake, Term, call, check_function, check_value, inverse_cdf_verdict

__all__ = [
    "check_score_estimate_sigma",
    "check_pathwise_gradient",
    "check_score_variance",
    "check_optimal_baseline",
    "check_remaining_fraction",
    "check_exponential_sample",
]

F64 = torch.float64
SEED = 2024  # the pathwise check draws its noise from torch's global generator, seeded with this


# --------------------------------------------------------------------------- Exercise 1


def _score_sigma_reference(theta, sigma, x):
    """f(x) d/dsigma log N(x; theta, sigma^2) = x^2 ((x - theta)^2 / sigma^3 - 1 / sigma)."""
    return x**2 * ((x - theta) ** 2 / sigma**3 - 1 / sigma)


SCORE_SIGMA_TERMS = [
    Term("quadratic part x^2 (x - theta)^2 / sigma^3", lambda theta, sigma, x: x**2 * (x - theta) ** 2 / sigma**3),
    Term("normalising part -x^2 / sigma", lambda theta, sigma, x: -(x**2) / sigma),
]

SCORE_SIGMA_MISTAKES = [
    Mistake(
        lambda theta, sigma, x: x**2 * (x - theta) ** 2 / sigma**3,
        "you dropped the derivative of the normalising constant: log N(x; theta, sigma^2) contains -log sigma, "
        "whose derivative -1/sigma is part of the score.",
    ),
    Mistake(
        lambda theta, sigma, x: x**2 * (x - theta) / sigma**2,
        "that is the score with respect to theta, (x - theta) / sigma^2; this exercise differentiates with respect to sigma.",
    ),
    Mistake(
        lambda theta, sigma, x: x**2 * ((x - theta) ** 2 / sigma**4 - 1 / sigma**2) / 2,
        "that is d/d(sigma^2) log N, the derivative with respect to the variance; differentiate with respect to sigma "
        "(the chain rule multiplies by d(sigma^2)/dsigma = 2 sigma).",
    ),
    Mistake(
        lambda theta, sigma, x: 2 * x * (x - theta) / sigma,
        "that is the pathwise estimator f'(x) dx/dsigma = 2x eps; the score-function estimator never differentiates f.",
    ),
]


def check_score_estimate_sigma(score_estimate_sigma) -> None:
    """Exercise 1: ``score_estimate_sigma(theta, sigma, x)`` = f(x_s) d/dsigma log N(x_s; theta, sigma^2), shape (S,).

    Simplest first: sigma = 1, theta = 0, one sample (where the estimate is x^2 (x^2 - 1)), then
    sigma != 1 (which separates sigma from sigma^2), then many samples.
    """
    cases = [
        Case(
            (torch.tensor(0.0, dtype=F64), torch.tensor(1.0, dtype=F64), torch.tensor([2.0], dtype=F64)),
            label="theta = 0, sigma = 1, one sample x = 2",
            atol=1e-8,
            rtol=1e-8,
        ),
    ]
    for theta, sigma, n, seed in [(0.5, 2.5, 6, 1), (-1.5, 0.5, 6, 2), (1.0, 1.5, 1000, 3)]:
        th, sg = torch.tensor(theta, dtype=F64), torch.tensor(sigma, dtype=F64)
        x = theta + sigma * torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=F64)
        cases.append(Case((th, sg, x), label=f"theta = {theta}, sigma = {sigma}, {n} samples", atol=1e-8, rtol=1e-8))
    check_function(
        score_estimate_sigma,
        cases,
        exercise=1,
        name="score_estimate_sigma",
        hint="differentiate log N(x; theta, sigma^2) = -(x - theta)^2 / (2 sigma^2) - log sigma - log(2 pi) / 2 with "
        "respect to sigma, then multiply by f(x) = x^2; one value per sample, shape (S,).",
        mistakes=SCORE_SIGMA_MISTAKES,
        terms=SCORE_SIGMA_TERMS,
        reference=_score_sigma_reference,
    )


# --------------------------------------------------------------------------- Exercise 2


def _pathwise_reference(theta, num_samples):
    theta = theta.clone().requires_grad_(True)
    x = torch.distributions.Normal(theta, 1.0).rsample((num_samples,))
    (x**2).mean().backward()
    return theta.grad


def _sample_instead_of_rsample(theta, num_samples):
    theta = theta.clone().requires_grad_(True)
    x = torch.distributions.Normal(theta, 1.0).sample((num_samples,))
    (grad,) = torch.autograd.grad((x**2).mean(), theta, allow_unused=True) if x.requires_grad else (None,)
    return grad


def _sum_not_mean(theta, num_samples):
    theta = theta.clone().requires_grad_(True)
    (torch.distributions.Normal(theta, 1.0).rsample((num_samples,)) ** 2).sum().backward()
    return theta.grad


def _forgot_square(theta, num_samples):
    theta = theta.clone().requires_grad_(True)
    torch.distributions.Normal(theta, 1.0).rsample((num_samples,)).mean().backward()
    return theta.grad


def _sign_flipped(theta, num_samples):
    return -_pathwise_reference(theta, num_samples)


def _returned_the_loss(theta, num_samples):
    return (torch.distributions.Normal(theta, 1.0).rsample((num_samples,)) ** 2).mean().detach()


def _seeded(fn):
    """fn with torch's global generator seeded first, so every call sees the same noise.

    The caller's random state is restored afterwards.
    """

    def wrapped(theta, num_samples):
        with torch.random.fork_rng(devices=[]):  # leave the caller's random state untouched
            torch.manual_seed(SEED)
            return fn(theta, num_samples)

    return wrapped


PATHWISE_MISTAKES = [
    Mistake(
        _seeded(_sample_instead_of_rsample),
        "sample() draws x without a graph, so no gradient reaches theta (None): use "
        "rsample(), which computes x = theta + eps.",
    ),
    Mistake(
        _seeded(_sum_not_mean),
        "you summed over the samples; the S-sample estimate is the MEAN of the per-sample gradients (divide by S).",
    ),
    Mistake(
        _seeded(_forgot_square),
        "you differentiated E[x]; the objective is E[x^2] (square x before averaging).",
    ),
    Mistake(
        _seeded(_sign_flipped),
        "sign error: return the gradient itself (theta.grad), not the descent direction -grad.",
    ),
    Mistake(
        _seeded(_returned_the_loss),
        "you returned the objective's estimate mean(x^2); return the gradient theta.grad after .backward().",
    ),
]


def check_pathwise_gradient(pathwise_gradient) -> None:
    """Exercise 2: ``pathwise_gradient(theta, num_samples)`` via rsample() and autograd.

    The check seeds torch (``torch.manual_seed(SEED)``) before each call, so the answer must
    draw its noise as ``torch.distributions.Normal(theta, 1.0).rsample((num_samples,))``.
    """
    seeded = _seeded(pathwise_gradient)
    cases = []
    for theta, n in [(1.5, 1000), (-0.5, 10), (0.0, 1)]:
        th = torch.tensor(theta, dtype=F64)
        expected = _seeded(_pathwise_reference)(th, n)
        cases.append(Case((th, n), expected, label=f"theta = {theta}, {n} samples", atol=1e-8, rtol=1e-6))
    check_function(
        seeded,
        cases,
        exercise=2,
        name="pathwise_gradient",
        hint=(
            "draw x = Normal(theta, 1.0).rsample((num_samples,)) with theta.requires_grad_(), "
            "call (x ** 2).mean().backward() and return theta.grad. If it raised 'does not "
            "require grad', you used sample(), which cuts the graph: use rsample(). The check "
            "seeds torch and expects exactly that draw."
        ),
        mistakes=PATHWISE_MISTAKES,
    )


# --------------------------------------------------------------------------- Exercise 3
# f(x) = e^x, x ~ N(theta, 1): g_b = (e^x - b)(x - theta). With E[h(eps) e^{a eps}] = e^{a^2/2} E[h(eps + a)],
# E[eps^2 e^{2 eps}] = 5 e^2 and E[eps^2 e^{eps}] = 2 e^{1/2}, so
# Var[g_b] = 5 e^{2 theta + 2} - 4 b e^{theta + 1/2} + b^2 - (E g)^2, E g = e^{theta + 1/2}.


def _exp(theta):
    return torch.exp(theta) if isinstance(theta, torch.Tensor) else math.exp(theta)


def _variance_reference(theta, b):
    return 5 * _exp(2 * theta + 2) - _exp(2 * theta + 1) - 4 * b * _exp(theta + 0.5) + b**2


VARIANCE_TERMS = [
    Term("second-moment term e^{2 theta} E[eps^2 e^{2 eps}] = 5 e^{2 theta + 2}", lambda t, b: 5 * _exp(2 * t + 2)),
    Term("squared mean (E g)^2 = e^{2 theta + 1}", lambda t, b: -_exp(2 * t + 1)),
    Term("cross term -2 b e^theta E[eps^2 e^eps] = -4 b e^{theta + 1/2}", lambda t, b: -4 * b * _exp(t + 0.5)),
    Term("baseline term b^2 E[eps^2] = b^2", lambda t, b: b**2 + 0 * t),
]

VARIANCE_MISTAKES = [
    Mistake(
        lambda t, b: 5 * _exp(2 * t + 2) - 4 * b * _exp(t + 0.5) + b**2,
        "that is the second moment E[g^2]; the variance subtracts the squared mean (E g)^2 = e^{2 theta + 1} "
        "(E g = d/dtheta E[e^x] = e^{theta + 1/2}).",
    ),
    Mistake(
        lambda t, b: _exp(2 * t + 2) - _exp(2 * t + 1) - 2 * b * _exp(t + 0.5) + b**2,
        "the factor eps^2 shifts too: E[eps^2 e^{a eps}] = e^{a^2/2} E[(eps + a)^2] = e^{a^2/2} (1 + a^2), "
        "not e^{a^2/2} (you kept only the 1).",
    ),
    Mistake(
        lambda t, b: 5 * _exp(2 * t + 2) - _exp(t + 0.5) - 4 * b * _exp(t + 0.5) + b**2,
        "you subtracted the mean E g = e^{theta + 1/2}; the variance subtracts its square, e^{2 theta + 1}.",
    ),
    Mistake(
        lambda t, b: 5 * _exp(2 * t + 2) - _exp(2 * t) - 4 * b * _exp(t + 0.5) + b**2,
        "the mean of the estimator is E[e^x] differentiated, e^{theta + 1/2}, not e^theta: its square is e^{2 theta + 1}.",
    ),
    Mistake(
        lambda t, b: 5 * _exp(2 * t + 2) - _exp(2 * t + 1) + 4 * b * _exp(t + 0.5) + b**2,
        "sign of the cross term: (e^x - b)^2 = e^{2x} - 2 b e^x + b^2.",
    ),
    Mistake(
        lambda t, b: 5 * _exp(2 * t + 2) - _exp(2 * t + 1) - 4 * b * _exp(t + 0.5),
        "you dropped b^2 E[eps^2] = b^2, the square of the baseline term.",
    ),
    Mistake(
        lambda t, b: t**4 + 14 * t**2 + 15 - 2 * b * (t**2 + 3) + b**2,
        "that is the lecture's variance for f(x) = x^2; this exercise has f(x) = e^x.",
    ),
]


def check_score_variance(score_variance) -> None:
    """Exercise 3: the exact Var[(e^x - b)(x - theta)], x ~ N(theta, 1).

    Simplest first: theta = 0 and b = 0 (no cross term, no b^2), then b != 0, then theta != 0,
    then a tensor theta (several values at once, where the terms can be told apart).
    """
    cases = [
        Case(
            (torch.tensor(t, dtype=F64), torch.tensor(b, dtype=F64)),
            label=f"theta = {t}, b = {b}",
            atol=1e-9,
            rtol=1e-9,
        )
        for t, b in [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (-1.5, 2.0)]
    ]
    theta = torch.tensor([-1.0, 0.0, 0.5, 2.0], dtype=F64)
    cases.append(
        Case((theta, torch.tensor(3.0, dtype=F64)), label="theta a tensor [-1, 0, 0.5, 2], b = 3", atol=1e-9, rtol=1e-9)
    )
    check_function(
        score_variance,
        cases,
        exercise=3,
        name="score_variance",
        hint=(
            "write x = theta + eps and g = (e^theta e^eps - b) eps; Var[g] = E[g^2] - (E g)^2; evaluate "
            "E[eps^2 e^{a eps}] with E[h(eps) e^{a eps}] = e^{a^2/2} E[h(eps + a)]. theta may be a tensor: use torch.exp."
        ),
        mistakes=VARIANCE_MISTAKES,
        terms=VARIANCE_TERMS,
        reference=_variance_reference,
    )


# --------------------------------------------------------------------------- Exercise 4


def _baseline_reference(theta):
    return 2 * _exp(theta + 0.5)


BASELINE_MISTAKES = [
    Mistake(
        lambda t: _exp(t + 0.5),
        "e^{theta + 1/2} = E[f(x)] is the usual guess (and not a bad baseline), but not the minimiser: set "
        "d/db Var = -4 e^{theta + 1/2} + 2 b to zero.",
    ),
    Mistake(lambda t: _exp(t), "e^theta = f(E[x]) ignores the noise; minimise the quadratic in b from exercise 3."),
    Mistake(lambda t: 4 * _exp(t + 0.5), "d/db b^2 = 2 b: b* is half the coefficient of -b in the variance."),
    Mistake(lambda t: -2 * _exp(t + 0.5), "sign error: a variance -c b + b^2 (c > 0) is minimised at b = +c/2."),
    Mistake(lambda t: t**2 + 3, "theta^2 + 3 is the lecture's optimal baseline for f(x) = x^2; here f(x) = e^x."),
    Mistake(lambda t: 0 * t, "b = 0 is the plain estimator; the optimum is where d/db of the variance vanishes."),
]


def check_optimal_baseline(optimal_baseline) -> None:
    """Exercise 4: the variance-minimising constant baseline b*(theta) = 2 e^{theta + 1/2} = 2 E[f(x)]."""
    cases = [Case((torch.tensor(t, dtype=F64),), label=f"theta = {t}", atol=1e-9, rtol=1e-9) for t in [0.0, 1.5, -2.0]]
    cases.append(Case((torch.tensor([0.0, 2.0], dtype=F64),), label="theta a tensor [0, 2]", atol=1e-9, rtol=1e-9))
    check_function(
        optimal_baseline,
        cases,
        exercise=4,
        name="optimal_baseline",
        hint="your variance from exercise 3 is a quadratic in b: set its derivative with respect to b to zero.",
        mistakes=BASELINE_MISTAKES,
        reference=_baseline_reference,
    )


E = math.e
REMAINING = 5 * (E - 1) / (5 * E - 1)  # Var[g_{b*}] / Var[g_0] = 5 e^{2t+1} (e - 1) / (e^{2t+1} (5 e - 1))


def _constant(value):
    return lambda t: value + 0 * t


FRACTION_MISTAKES = [
    Mistake(_constant(1 - REMAINING), "that is the fraction the baseline REMOVES; the question asks what is left."),
    Mistake(_constant((5 * E - 4) / (5 * E - 1)), "that is what the popular b = E[f(x)] leaves; use b* of exercise 4."),
    Mistake(_constant(math.sqrt(REMAINING)), "that is a ratio of standard deviations; take the ratio of variances."),
    Mistake(_constant(1 / REMAINING), "upside down: the fraction left is Var[g_b*] / Var[g_0], below 1."),
    Mistake(
        lambda t: (8 * t**2 + 6) / (t**4 + 14 * t**2 + 15),
        "that is the fraction for the lecture's f(x) = x^2; here f(x) = e^x.",
    ),
]


def check_remaining_fraction(remaining_fraction) -> None:
    """Exercise 4 (prediction): Var[g_b*] / Var[g_0] = 5 (e - 1) / (5 e - 1) = 0.682, for every theta.

    Checked loosely (to 5e-3, so a prediction rounded to 0.68 passes), at three values of theta.
    """
    cases = [
        Case((torch.tensor(t, dtype=F64),), REMAINING, label=f"theta = {t}", atol=5e-3, rtol=0.0)
        for t in [0.0, 2.0, -1.0]
    ]
    check_function(
        remaining_fraction,
        cases,
        exercise=4,
        name="remaining_fraction",
        hint=(
            "divide score_variance(theta, b*) by score_variance(theta, 0), simplify by hand "
            "(factor out e^{2 theta + 1}) and see what is left of theta."
        ),
        mistakes=FRACTION_MISTAKES,
    )


# --------------------------------------------------------------------------- Exercise 5


def _exponential_ok(rate: torch.Tensor, u: torch.Tensor):
    """A property: z = -log(1 - u)/rate (or -log(u)/rate, as 1 - U ~ U), with a gradient path."""
    right = [-torch.log1p(-u) / rate, -torch.log(u) / rate]
    return inverse_cdf_verdict(u, right, "F^-1(u) = -log(1 - u) / rate", "rate")


EXPONENTIAL_MISTAKES = [
    Mistake(
        lambda rate, u: -rate * torch.log1p(-u),
        "you used rate as a scale: Exp(rate) has mean 1/rate, so divide by rate.",
    ),
    Mistake(
        lambda rate, u: torch.log1p(-u) / rate,
        "log(1 - u) < 0: the inverse of F(z) = 1 - exp(-rate z) is z = -log(1 - u) / rate (mind the minus).",
    ),
    Mistake(
        lambda rate, u: 1 - torch.exp(-rate * u),
        "that is the CDF F(u); sampling needs its inverse: solve u = 1 - exp(-rate z) for z.",
    ),
    Mistake(
        lambda rate, u: (-torch.log1p(-u) / rate).detach(),
        "the values are right but the graph is cut (detach(), .item(), float() or "
        "torch.tensor(...)): keep it a torch expression in rate.",
    ),
]


def check_exponential_sample(exponential_sample, *, num_samples: int = 100_000) -> None:
    """Exercise 5: Exp(rate) samples via the inverse CDF, with gradients reaching ``rate``.

    Checks the values on fixed uniforms, then the pathwise gradient they give:
    d/d rate E[z^2] = d/d rate (2 / rate^2) = -4 / rate^3, within 5 standard errors.
    """
    cases = []
    for rate, seed in [(0.7, 1), (2.5, 2), (0.3, 3)]:  # not 1.0: there rate * and / rate agree
        u = torch.rand(8, generator=torch.Generator().manual_seed(seed), dtype=F64).clamp(1e-6, 1 - 1e-6)
        r = torch.tensor(rate, dtype=F64, requires_grad=True)
        cases.append(Case((r, u), _exponential_ok(r, u), label=f"rate = {rate}"))
    check_function(
        exponential_sample,
        cases,
        exercise=5,
        name="exponential_sample",
        hint="invert u = F(z) = 1 - exp(-rate z), and keep it a differentiable torch expression in rate.",
        mistakes=EXPONENTIAL_MISTAKES,
        quiet=True,
    )
    rate = torch.tensor(1.5, dtype=F64, requires_grad=True)
    u = torch.rand(num_samples, generator=torch.Generator().manual_seed(4), dtype=F64).clamp(1e-12, 1 - 1e-12)
    z = call(
        exponential_sample,
        (rate, u),
        exercise=5,
        name="exponential_sample",
        label="rate = 1.5, 100 000 samples",
        copy_inputs=False,
    )
    (per_sample,) = torch.autograd.grad(z.pow(2).sum(), rate)  # sum of per-sample gradients
    # per-sample gradients d/d rate z_s^2 = -2 z_s^2 / rate, computed again for their spread
    grads = -2 * z.detach().pow(2) / rate.detach()
    se = grads.std() / math.sqrt(num_samples)
    estimate = per_sample / num_samples
    exact = -4 / rate.detach() ** 3
    check_value(
        estimate,
        lambda got: (
            None
            if abs(got - exact) < 5 * se
            else (
                f"the pathwise estimate {float(got):.4f} is more than 5 standard errors ({float(se):.4f}) "
                f"from the exact -4 / rate^3 = {float(exact):.4f}"
            )
        ),
        exercise=5,
        label="the pathwise gradient of E[z^2] through your sampler",
        quiet=True,
    )
    print(
        f"Exercise 5: exponential_sample passed all {len(cases)} checks; its pathwise gradient "
        f"of E[z^2] matches -4 / rate^3 within 5 standard errors."
    )
