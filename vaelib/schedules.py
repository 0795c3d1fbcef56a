"""Schedules for ``fit``: the KL weight beta and the learning rate, as functions of the progress.

Each schedule is called with the training progress in epochs (a float, e.g. 2.5, updated every
step) and returns the value for that step. Introduced in lecture 05 (KL annealing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from vaelib import _validate


@dataclass(frozen=True)
class LinearWarmup:
    """KL annealing: beta grows linearly from ``start`` to ``beta`` over ``epochs`` epochs, then stays.

    beta(t) = start + (beta - start) * min(1, t / epochs), t in epochs (updated every step).
    Bowman et al. 2016 (Section 3.1) and Sonderby et al. 2016 ("warm-up") use it so that the
    decoder learns to use z before the KL term pushes q(z | x) onto the prior.
    """

    epochs: float  # length of the ramp, in epochs (finite: an endless ramp never reaches beta)
    beta: float = 1.0  # the final weight (1: the ELBO)
    start: float = 0.0  # the weight at step 0 (0: a plain autoencoder with noise)

    def __post_init__(self):
        _validate.real_number(
            "LinearWarmup epochs", self.epochs, minimum=0, strict=True, meaning="the ramp length in epochs"
        )
        for name in ("beta", "start"):
            _validate.real_number(f"LinearWarmup {name}", getattr(self, name), minimum=0)

    def __call__(self, t: float) -> float:
        return self.start + (self.beta - self.start) * min(1.0, t / self.epochs)


@dataclass(frozen=True)
class Cyclical:
    """Cyclical annealing (Fu et al. 2019): repeat a linear ramp from 0 to ``beta``.

    Within each period of ``period`` epochs, beta rises linearly over the first ``ramp``
    fraction of the period and then stays at ``beta``:
    beta(t) = beta * min(1, ((t mod period) / period) / ramp).
    """

    period: float  # epochs per cycle (finite)
    beta: float = 1.0  # the weight reached in each cycle
    ramp: float = 0.5  # fraction of the cycle spent rising

    def __post_init__(self):
        _validate.real_number("Cyclical period", self.period, minimum=0, strict=True, meaning="epochs per cycle")
        ramp = _validate.real_number("Cyclical ramp", self.ramp, minimum=0, strict=True)
        if ramp > 1:
            raise ValueError(f"Cyclical ramp must be in (0, 1] (fraction of a cycle spent rising); got {self.ramp!r}.")
        _validate.real_number("Cyclical beta", self.beta, minimum=0)

    def __call__(self, t: float) -> float:
        phase = (t % self.period) / self.period  # in [0, 1)
        return self.beta * min(1.0, phase / self.ramp)


@dataclass(frozen=True)
class CosineDecay:
    """A learning-rate factor that falls from 1 to ``final`` along a half cosine over ``epochs``.

    factor(t) = final + (1 - final) * (1 + cos(pi * min(t, epochs) / epochs)) / 2, t in epochs,
    updated every step: ``fit(..., lr=0.1, lr_schedule=CosineDecay(epochs=20))`` is
    ``torch.optim.lr_scheduler.CosineAnnealingLR`` with ``T_max`` = all the steps of 20 epochs
    (Loshchilov & Hutter 2017, SGDR, eq. 5 without restarts). A function of the progress alone,
    so a resumed run continues it exactly.
    """

    epochs: float  # length of the decay, in epochs
    final: float = 0.0  # the factor reached at the end (0: the learning rate decays to zero)

    def __post_init__(self):
        _validate.real_number(
            "CosineDecay epochs", self.epochs, minimum=0, strict=True, meaning="the decay length in epochs"
        )
        final = _validate.real_number("CosineDecay final", self.final, minimum=0)
        if final > 1:
            raise ValueError(f"CosineDecay final must be in [0, 1] (a fraction of lr); got {self.final!r}.")

    def __call__(self, t: float) -> float:
        return self.final + (1 - self.final) * 0.5 * (1 + math.cos(math.pi * min(t, self.epochs) / self.epochs))


def beta_schedule(beta) -> Callable[[float], float]:
    """``beta`` as a schedule: a callable is returned as it is, a number >= 0 becomes a constant."""
    if callable(beta):
        return beta
    if isinstance(beta, (int, float)) and not isinstance(beta, bool) and math.isfinite(beta) and beta >= 0:
        value = float(beta)
        return lambda t: value
    raise ValueError(
        f"beta must be a number >= 0 or a schedule (a callable of the epoch, e.g. "
        f"LinearWarmup(epochs=5)); got {beta!r}."
    )
