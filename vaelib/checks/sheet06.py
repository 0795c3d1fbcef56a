"""Checks for exercise sheet 06, beyond the Gaussian (solutions/06_beyond_the_gaussian.ipynb).

Each check runs the student's function on fixed noise, compares with the reference answer and,
when the answer matches a typical mistake, names it. References: vaelib.reparam (Kumaraswamy,
Gumbel-max, Gumbel-softmax), the leave-one-out REINFORCE estimator of Kool et al. 2019 and the
implicit reparameterization gradient of Figurnov, Mohamed & Mnih 2018 (checked against closed-form
derivatives of explicit inverse CDFs). A sampler is accepted with u or with 1 - u (the same law).
"""

from __future__ import annotations

import copy

import torch

from vaelib.checks import Case, CheckFailed, Mistake, call, check_function, check_value, inverse_cdf_verdict
from vaelib.checks.implicit06 import check_implicit_gradient
from vaelib.checks.predictions import prediction_value

__all__ = [
    "check_kumaraswamy_sample",
    "check_gumbel_max_sample",
    "check_gumbel_softmax_sample",
    "check_temperature_prediction",
    "check_reinforce_loo",
    "check_implicit_gradient",
]

F64 = torch.float64


def _uniforms(shape, seed: int) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=F64).clamp(1e-6, 1 - 1e-6)


def _gumbel(u):
    return -torch.log(-torch.log(u))


def _same_law_with_one_minus_u(fn, cases, mirrored, noise: int = 1) -> bool:
    """The student's sampler equals ``mirrored`` (the right answer with u replaced by 1 - u) on every case.

    F^-1(1 - u) has the same law as F^-1(u) (1 - U ~ U), so such an answer is right: the sheet asks
    for a sampler of the law, not for one specific use of u.
    """
    for case in cases:
        try:
            got = fn(*copy.deepcopy(case.args))
        except Exception:
            return False
        args = list(case.args)
        args[noise] = 1 - args[noise]
        right = mirrored(*args)
        if not isinstance(got, torch.Tensor) or got.shape != right.shape:
            return False
        if not torch.allclose(got.detach().to(F64), right, atol=1e-6, rtol=1e-5):
            return False
    return True


def _check_sampler(fn, cases, mirrored, *, exercise: int, name: str, **kwargs) -> None:
    """check_function, accepting the same sampler written with 1 - u in place of u."""
    try:
        check_function(fn, cases, exercise=exercise, name=name, noise=1, quiet=True, **kwargs)
    except CheckFailed:
        if not _same_law_with_one_minus_u(fn, cases, mirrored):
            raise
    print(f"Exercise {exercise}: {name} passed all {len(cases)} checks.")


# --------------------------------------------------------------------------- Exercise 1


def _kumaraswamy_reference(a, b, u):
    return (1 - (1 - u) ** (1 / b)) ** (1 / a)


def _kumaraswamy_ok(a: torch.Tensor, b: torch.Tensor, u: torch.Tensor):
    """A property: F^-1(u) (or F^-1(1 - u), the same law since 1 - U ~ U), with a gradient path."""
    right = [_kumaraswamy_reference(a, b, u), _kumaraswamy_reference(a, b, 1 - u)]
    return inverse_cdf_verdict(u, right, "F^-1(u) = (1 - (1 - u)^(1/b))^(1/a)", "a and b")


KUMARASWAMY_MISTAKES = [
    Mistake(
        lambda a, b, u: (1 - (1 - u) ** (1 / a)) ** (1 / b),
        "you swapped a and b: F(z) = 1 - (1 - z^a)^b, so b is undone first (power 1/b), a last.",
    ),
    Mistake(
        lambda a, b, u: (1 - u ** (1 / a)) ** (1 / b),
        "you swapped a and b: F(z) = 1 - (1 - z^a)^b, so b is undone first (power 1/b), a last.",
    ),
    Mistake(
        lambda a, b, u: 1 - (1 - u) ** (1 / b),
        "you stopped one step early: that is z^a; take its a-th root, (...)^(1/a).",
    ),
    Mistake(
        lambda a, b, u: 1 - u ** (1 / b),
        "you stopped one step early: that is z^a; take its a-th root, (...)^(1/a).",
    ),
    Mistake(
        lambda a, b, u: (1 - (1 - u) ** b) ** a,
        "the inverse of a power x^b is x^(1/b): invert the exponents, (1 - (1 - u)^(1/b))^(1/a).",
    ),
    Mistake(
        lambda a, b, u: 1 - (1 - u**a) ** b,
        "that is the CDF F(u); sampling needs its inverse: solve u = 1 - (1 - z^a)^b for z.",
    ),
    Mistake(
        lambda a, b, u: _kumaraswamy_reference(a, b, u).detach(),
        "the values are right but the graph is cut (detach(), .item(), numpy or torch.tensor(...)): "
        "keep it a torch expression in a and b.",
    ),
]


def check_kumaraswamy_sample(kumaraswamy_sample) -> None:
    """Exercise 1: ``kumaraswamy_sample(a, b, u)`` = F^-1(u), differentiable in a and b."""
    cases = []
    # a != b and neither equal to 1, so that swapped or missing exponents give different values
    for a, b, seed in [(2.0, 5.0, 1), (0.5, 3.0, 2), (4.0, 0.7, 3)]:
        ta = torch.tensor(a, dtype=F64, requires_grad=True)
        tb = torch.tensor(b, dtype=F64, requires_grad=True)
        u = _uniforms(8, seed)
        cases.append(Case((ta, tb, u), _kumaraswamy_ok(ta, tb, u), label=f"a = {a}, b = {b}"))
    check_function(
        kumaraswamy_sample,
        cases,
        exercise=1,
        name="kumaraswamy_sample",
        hint="solve u = 1 - (1 - z^a)^b for z step by step: (1 - u) = (1 - z^a)^b, then z^a, then z.",
        mistakes=KUMARASWAMY_MISTAKES,
    )


# --------------------------------------------------------------------------- Exercise 2


def _gumbel_max_reference(logits, u):
    index = (logits + _gumbel(u)).argmax(-1)
    return torch.nn.functional.one_hot(index, logits.shape[-1]).to(logits.dtype)


def _one_hot(index, C, like):
    return torch.nn.functional.one_hot(index, C).to(like.dtype)


GUMBEL_MAX_MISTAKES = [
    Mistake(
        lambda logits, u: _one_hot(logits.argmax(-1).expand(u.shape[:-1]), logits.shape[-1], logits),
        "you returned the most probable class every time (the argmax of the logits): add the Gumbel "
        "noise g = -log(-log u) before the argmax, so that each class wins with its probability.",
    ),
    Mistake(
        lambda logits, u: _one_hot((logits - torch.log(u)).argmax(-1), logits.shape[-1], logits),
        "-log(u) is exponential noise, not Gumbel noise: g = -log(-log(u)) (two logs).",
    ),
    Mistake(
        lambda logits, u: _one_hot((logits + torch.log(-torch.log(u))).argmax(-1), logits.shape[-1], logits),
        "sign error in the noise: g = -log(-log u); +log(-log u) is a mirrored Gumbel and gives the "
        "wrong probabilities.",
    ),
    Mistake(
        lambda logits, u: _one_hot((torch.softmax(logits, -1) + _gumbel(u)).argmax(-1), logits.shape[-1], logits),
        "add the noise to the logits (log-probabilities), not to the probabilities softmax(logits).",
    ),
    Mistake(
        lambda logits, u: (logits + _gumbel(u)).argmax(-1),
        "you returned class indices; return one-hot vectors of shape (S, C), e.g. "
        "torch.nn.functional.one_hot(index, C).to(logits.dtype).",
    ),
    Mistake(
        lambda logits, u: logits + _gumbel(u),
        "you returned the perturbed logits; the sample is the one-hot vector of their argmax.",
    ),
]


def check_gumbel_max_sample(gumbel_max_sample) -> None:
    """Exercise 2: ``gumbel_max_sample(logits, u)``: one-hot argmax of logits + Gumbel noise."""
    cases = []
    for logits, S, seed in [
        ([1.0, -0.5, 0.3, 0.0], 12, 4),
        ([2.0, 0.0, -1.0], 20, 5),
        ([0.0, 0.0], 6, 6),
        ([3.0, 0.5, -2.0], 400, 7),
    ]:
        lg = torch.tensor(logits, dtype=F64)
        u = _uniforms((S, len(logits)), seed)
        cases.append(
            Case((lg, u), _gumbel_max_reference(lg, u), label=f"logits = {logits}, {S} samples", atol=0, rtol=0)
        )
    _check_sampler(
        gumbel_max_sample,
        cases,
        _gumbel_max_reference,
        exercise=2,
        name="gumbel_max_sample",
        hint="the Gumbel CDF F(g) = exp(-exp(-g)) inverts to g = -log(-log(u)); the sample is "
        "one_hot(argmax(logits + g)) along the last dimension.",
        mistakes=GUMBEL_MAX_MISTAKES,
    )


# --------------------------------------------------------------------------- Exercise 3


def _gumbel_softmax_reference(logits, u, temperature):
    return torch.softmax((logits + _gumbel(u)) / temperature, dim=-1)


GUMBEL_SOFTMAX_MISTAKES = [
    Mistake(
        lambda logits, u, t: torch.softmax((logits + _gumbel(u)) * t, dim=-1),
        "divide by the temperature, do not multiply: a small temperature must make y nearly one-hot.",
    ),
    Mistake(
        lambda logits, u, t: torch.softmax(logits / t + _gumbel(u), dim=-1),
        "divide the noise by the temperature too: y = softmax((logits + g) / temperature).",
    ),
    Mistake(
        lambda logits, u, t: torch.softmax(logits / t, dim=-1).expand(u.shape),
        "you forgot the Gumbel noise: without it y is the same for every sample (not random).",
    ),
    Mistake(
        lambda logits, u, t: torch.log_softmax((logits + _gumbel(u)) / t, dim=-1),
        "log_softmax returns log-probabilities; y must lie on the simplex: use torch.softmax.",
    ),
    Mistake(
        lambda logits, u, t: torch.softmax((logits - torch.log(u)) / t, dim=-1),
        "-log(u) is exponential noise, not Gumbel noise: g = -log(-log(u)).",
    ),
    Mistake(
        lambda logits, u, t: torch.softmax((logits + _gumbel(u)) / t, dim=0),
        "softmax over the classes (the last dimension, dim=-1), not over the samples.",
    ),
]


def check_gumbel_softmax_sample(gumbel_softmax_sample) -> None:
    """Exercise 3: ``gumbel_softmax_sample(logits, u, temperature)`` on the simplex."""
    cases = []
    # temperatures != 1 first: at temperature 1, multiplying and dividing agree
    for logits, S, t, seed in [
        ([1.0, -0.5, 0.3, 0.0], 10, 0.5, 7),
        ([2.0, 0.0, -1.0], 10, 3.0, 8),
        ([0.5, -0.5], 5, 1.0, 9),
    ]:
        lg = torch.tensor(logits, dtype=F64)
        u = _uniforms((S, len(logits)), seed)
        cases.append(
            Case(
                (lg, u, t),
                _gumbel_softmax_reference(lg, u, t),
                label=f"logits = {logits}, temperature = {t}",
                atol=1e-9,
                rtol=1e-7,
            )
        )
    # the sheet's next cell runs at temperature 0.01 with u down to 1e-12: (logits + g) / t reaches ~2800,
    # where exp overflows unless the largest entry of each row is subtracted first
    lg = torch.tensor([1.0, -0.5, 0.3, 0.0], dtype=F64)
    u = _uniforms((6, 4), 10)
    u[0, 2], u[3, 0] = 1 - 1e-12, 1e-12
    cases.append(
        Case(
            (lg, u, 0.01),
            _gumbel_softmax_reference(lg, u, 0.01),
            label="temperature = 0.01, u up to 1 - 1e-12 (as the next cell uses)",
            atol=1e-9,
            rtol=1e-7,
            hint="at a small temperature exp((logits + g) / temperature) overflows to inf (inf / inf = NaN): subtract each "
            "row's maximum before exp, or use torch.softmax, which does that for you.",
        )
    )
    _check_sampler(
        gumbel_softmax_sample,
        cases,
        _gumbel_softmax_reference,
        exercise=3,
        name="gumbel_softmax_sample",
        hint="y = softmax((logits + g) / temperature) over the last dimension, with g = -log(-log(u)).",
        mistakes=GUMBEL_SOFTMAX_MISTAKES,
    )


# --------------------------------------------------------------------------- Exercise 4


def _score(logits, z):
    return z - torch.softmax(logits, -1)  # (K, C): d/dlogits log q(z_k) for a softmax categorical


def _reinforce_loo_reference(logits, z, f_values):
    K = f_values.shape[0]
    baseline = (f_values.sum() - f_values) / (K - 1)  # (K,): the mean of the OTHER samples
    return ((f_values - baseline).unsqueeze(-1) * _score(logits, z)).mean(0)  # (C,)


REINFORCE_MISTAKES = [
    Mistake(
        lambda logits, z, f: ((f - f.mean()).unsqueeze(-1) * _score(logits, z)).mean(0),
        "your baseline includes the sample's own f value, so it depends on z_k and the estimate is "
        "biased (shrunk by (K - 1)/K): leave sample k out of its baseline, b_k = (sum_j f_j - f_k) / (K - 1).",
    ),
    Mistake(
        lambda logits, z, f: (f.unsqueeze(-1) * _score(logits, z)).mean(0),
        "that is plain REINFORCE without a baseline; subtract b_k = mean of the other samples' f.",
    ),
    Mistake(
        lambda logits, z, f: (
            (f - (f.sum() - f) / (len(f) - 1)).unsqueeze(-1) * z * (1 - torch.softmax(logits, -1))
        ).mean(0),
        "the score has a component for EVERY class, not only the sampled one: d/dlogits_c log softmax(logits)_z "
        "= [c = z] - softmax(logits)_c, i.e. onehot(z) - softmax(logits).",
    ),
    Mistake(
        lambda logits, z, f: ((f - (f.sum() - f) / (len(f) - 1)).unsqueeze(-1) * (z / torch.softmax(logits, -1))).mean(
            0
        ),
        "onehot(z) / softmax(logits) is the derivative of q with respect to its probabilities, not the score "
        "with respect to the logits: d/dlogits log softmax(logits)_z = onehot(z) - softmax(logits).",
    ),
    Mistake(
        lambda logits, z, f: -_reinforce_loo_reference(logits, z, f),
        "sign error: d/dlogits log softmax(logits)_z = onehot(z) - softmax(logits), not its negative.",
    ),
    Mistake(
        lambda logits, z, f: ((f - (f.sum() - f) / (len(f) - 1)).unsqueeze(-1) * _score(logits, z)).sum(0),
        "average over the K samples (mean), do not sum them.",
    ),
]


def check_reinforce_loo(reinforce_loo) -> None:
    """Exercise 4: REINFORCE with the leave-one-out baseline for one softmax categorical.

    Note: the leave-one-out weights f_k - b_k sum to 0, so any term of the score that is the same
    for every sample (the -softmax(logits) part) cancels; an answer that omits it is right too.
    """
    cases = []
    for logits, K, seed in [([0.5, -0.3, 0.1, -1.0], 4, 10), ([1.0, 0.0, -1.0], 6, 11), ([0.2, -0.2], 2, 12)]:
        lg = torch.tensor(logits, dtype=F64)
        g = torch.Generator().manual_seed(seed)
        index = torch.multinomial(torch.softmax(lg, -1), K, replacement=True, generator=g)  # (K,)
        z = torch.nn.functional.one_hot(index, len(logits)).to(F64)  # (K, C)
        f = 1.0 + torch.rand(K, generator=g, dtype=F64) * 3  # positive f: a baseline matters
        cases.append(
            Case(
                (lg, z, f),
                _reinforce_loo_reference(lg, z, f),
                label=f"logits = {logits}, K = {K}",
                atol=1e-9,
                rtol=1e-7,
            )
        )
    check_function(
        reinforce_loo,
        cases,
        exercise=4,
        name="reinforce_loo",
        hint=(
            "per sample: (f_k - b_k) (onehot(z_k) - softmax(logits)) with b_k the mean of the other "
            "samples' f values; return the mean over the K samples, shape (C,)."
        ),
        mistakes=REINFORCE_MISTAKES,
    )


def check_temperature_prediction(prediction, gumbel_softmax_sample) -> None:
    """Exercise 3, the prediction: y at temperature 1000 for logits (1, -0.5, 0.3, 0), whatever the noise.

    Compared with the student's own sampler at that temperature (200 draws, all within 0.01 of
    the prediction); a prediction equal to softmax(logits) or to a one-hot vector is named.
    """
    logits = torch.tensor([1.0, -0.5, 0.3, 0.0], dtype=F64)
    u = _uniforms((200, 4), 13)
    label = "your prediction of y at temperature 1000 (logits (1, -0.5, 0.3, 0))"
    prediction = prediction_value(prediction, exercise=3, name="y_at_high_temperature")
    p = _as_vector(prediction, 4, exercise=3, label=label)
    y = call(gumbel_softmax_sample, (logits, u, 1000.0), exercise=3, name="gumbel_softmax_sample", label=label)
    y = torch.as_tensor(y, dtype=F64).detach()
    if (y - p).abs().max() <= 0.01:
        print(f"Exercise 3: {label} is correct: every one of 200 draws is within 0.01 of it.")
        return
    if torch.allclose(p, torch.softmax(logits, -1), atol=0.01):
        why = (
            "that is softmax(logits), the class probabilities: at a large temperature (logits + g) / temperature "
            "tends to 0 in EVERY coordinate, so y tends to softmax(0) = (1/C, ..., 1/C) whatever the logits and noise"
        )
    elif p.max() > 0.99:
        why = "a one-hot y is the limit of a SMALL temperature; a large one flattens (logits + g) / temperature to 0"
    else:
        why = "divide (logits + g) by 1000 and look at what the softmax of a vector near 0 is"
    check_value(p, y.mean(0), exercise=3, label=label, hint=why, atol=0.01, rtol=0)


def _as_vector(value, n: int, *, exercise: int, label: str) -> torch.Tensor:
    try:
        v = torch.as_tensor(value, dtype=F64).detach().reshape(-1)
    except Exception as err:
        raise CheckFailed(f"Exercise {exercise}, {label}: expected {n} numbers, got {value!r} ({err}).") from None
    if v.numel() != n:
        raise CheckFailed(f"Exercise {exercise}, {label}: expected {n} numbers, got {v.numel()}.")
    return v
