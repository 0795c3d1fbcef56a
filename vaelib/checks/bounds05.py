"""Sheet 05, exercise 3: the IWAE bound and the effective sample size of the importance weights.

Both are computed from log-weights that can be around -800 (exp underflows), so both need the
log-sum-exp. The IWAE bound of Burda et al. (2016) is L_k = log (1/k) sum_i w_i; the effective
sample size (Kong 1992; Owen 2013, eq. 9.13) is ESS = (sum_i w_i)^2 / sum_i w_i^2, between 1 and k.
Re-exported by :mod:`vaelib.checks.sheet05`.
"""

from __future__ import annotations

import math

import torch

from vaelib import objectives
from vaelib.checks import Case, Mistake, call, check_function, check_value

__all__ = ["check_iwae_bound", "check_effective_sample_size", "check_iwae_on_model"]

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed), dtype=F64)


# --------------------------------------------------------------------------- Exercise 3


def _iwae(log_w):
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


IWAE_MISTAKES = [
    Mistake(
        lambda lw: torch.logsumexp(lw, 0),
        "you forgot the 1/k: L_k = logsumexp(log w) - log k (an average of the weights, not a sum).",
    ),
    Mistake(
        lambda lw: lw.mean(0),
        "that is the average of log w (the ELBO estimate); IWAE takes the log of the average of w.",
    ),
    Mistake(
        lambda lw: torch.log(torch.exp(lw).mean(0)),
        "exp(log w) underflows to 0 for log w around -800 (log 0 = -inf): use torch.logsumexp(log_w, dim=0) - log k.",
    ),
    Mistake(
        lambda lw: torch.logsumexp(lw, 1) - math.log(lw.shape[1]),
        "average over the k samples (dim 0), not over the batch (dim 1).",
    ),
    Mistake(lambda lw: lw.max(0).values, "the maximum weight is not the average: use logsumexp(log w) - log k."),
    Mistake(
        lambda lw: torch.logsumexp(lw, 0) - lw.shape[0], "subtract log k, not k: log(sum / k) = logsumexp - log k."
    ),
    Mistake(
        lambda lw: torch.logsumexp(lw, 0) / lw.shape[0],
        "log(sum / k) = logsumexp - log k; dividing the log by k is something else.",
    ),
]


def check_iwae_bound(iwae_bound) -> None:
    """Exercise 3: ``iwae_bound(log_w) = logsumexp_i(log_w_i) - log k`` over dim 0, shape (B,)."""
    cases = [
        Case((-100 + 3 * _randn(7, 3, seed=51),), None, label="k = 7, B = 3, log w around -100"),
        Case((-800 + 2 * _randn(50, 2, seed=52),), None, label="k = 50, B = 2, log w around -800 (exp underflows)"),
        Case((_randn(1, 4, seed=53),), None, label="k = 1: the bound is log w itself (the ELBO estimate)"),
    ]
    for case in cases:
        case.expected, case.atol, case.rtol = _iwae(*case.args), 1e-8, 1e-9
    check_function(
        iwae_bound,
        cases,
        exercise=3,
        name="iwae_bound",
        hint="L_k = log((1/k) sum_i w_i) = torch.logsumexp(log_w, dim=0) - math.log(k), with k = log_w.shape[0].",
        mistakes=IWAE_MISTAKES,
    )


def _ess(log_w):
    return torch.exp(2 * torch.logsumexp(log_w, 0) - torch.logsumexp(2 * log_w, 0))


ESS_MISTAKES = [
    Mistake(
        lambda lw: torch.exp(lw).sum(0) ** 2 / torch.exp(2 * lw).sum(0),
        "exp(log w) underflows to 0 for log w around -800 (0 / 0 = NaN): compute both sums in log space, "
        "ESS = exp(2 logsumexp(log w) - logsumexp(2 log w)).",
    ),
    Mistake(
        lambda lw: 1 / _ess(lw),
        "upside down: ESS = (sum w)^2 / sum w^2 (k for equal weights, 1 when one weight dominates).",
    ),
    Mistake(
        lambda lw: _ess(lw) / lw.shape[0],
        "that is the ESS divided by k (the efficiency, between 1/k and 1); return the ESS itself, between 1 and k.",
    ),
    Mistake(
        lambda lw: torch.exp(2 * torch.logsumexp(lw, 0) - 2 * torch.logsumexp(lw, 0)),
        "the denominator is the sum of the SQUARED weights, sum w^2 = exp(logsumexp(2 log w)), not (sum w)^2.",
    ),
    Mistake(
        lambda lw: torch.exp(2 * torch.logsumexp(lw, 1) - torch.logsumexp(2 * lw, 1)),
        "sum over the k samples (dim 0), not over the batch (dim 1).",
    ),
]


def check_effective_sample_size(effective_sample_size) -> None:
    """Exercise 3: ``effective_sample_size(log_w) = (sum_i w_i)^2 / sum_i w_i^2`` over dim 0, shape (B,), stably."""
    equal = torch.zeros(5, 2, dtype=F64)
    one_big = torch.tensor([[0.0], [-50.0], [-50.0], [-50.0]], dtype=F64)
    cases = [
        Case((_randn(1, 3, seed=54),), label="k = 1: one weight, ESS = 1"),
        Case((equal,), label="k = 5 equal weights: ESS = k = 5"),
        Case((one_big,), label="one weight e^50 times the others: ESS just above 1"),
        Case((-100 + 3 * _randn(7, 3, seed=55),), label="k = 7, B = 3, log w around -100"),
        Case((-800 + 2 * _randn(50, 2, seed=56),), label="k = 50, B = 2, log w around -800 (exp underflows)"),
    ]
    for case in cases:
        case.atol, case.rtol = 1e-8, 1e-7
    check_function(
        effective_sample_size,
        cases,
        exercise=3,
        name="effective_sample_size",
        hint="ESS = (sum_i w_i)^2 / sum_i w_i^2; in logs: 2 log(sum w) - log(sum w^2), each a logsumexp over dim 0 "
        "(w^2 = exp(2 log w)).",
        mistakes=ESS_MISTAKES,
        reference=_ess,
    )


# --------------------------------------------------------------------------- on the trained VAE


@torch.no_grad()
def check_iwae_on_model(log_importance_weights, iwae_bound, model, x, k: int) -> None:
    """Exercises 2 and 3 on a trained VAE: the student's bound equals vaelib's with the same noise."""
    mu, log_var = model.encode(x)  # (B, K)
    eps = torch.randn((k, *mu.shape), generator=_gen(5))  # (k, B, K)
    z = mu + torch.exp(0.5 * log_var) * eps
    log_w = call(
        log_importance_weights,
        (x, model.decode(z), z, mu, log_var),
        exercise=2,
        name="log_importance_weights",
        label="on the trained VAE",
    )
    theirs = call(iwae_bound, (log_w,), exercise=3, name="iwae_bound", label="on the trained VAE's log-weights")
    reference = torch.logsumexp(
        objectives.log_importance_weights(model, x, k, generator=_gen(5)).double(), 0
    ) - math.log(k)
    check_value(
        theirs.double() if isinstance(theirs, torch.Tensor) else theirs,
        reference,
        exercise=3,
        label=f"your IWAE bound (k = {k}) on the trained VAE, equal to vaelib.objectives.iwae_bound with the same noise",
        atol=1e-3,
        rtol=1e-5,
    )
