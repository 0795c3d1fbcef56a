"""The inference gaps of Cremer, Li & Duvenaud (2018): approximation + amortization.

For a model whose log p(x) is known exactly, the encoder's shortfall splits in two:

    log p(x) - ELBO(q_amortized)
        = [log p(x) - ELBO(q*_family)]            approximation gap (the family is too small)
        + [ELBO(q*_family) - ELBO(q_amortized)]   amortization gap (the encoder misses q*)

with q*_family the per-point optimum (:func:`vaelib.meanfield.fit_per_point`). Re-exported by
:mod:`vaelib.meanfield`. Introduced in lecture 04.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from vaelib import _validate

__all__ = ["InferenceGaps", "inference_gaps"]


@dataclass
class InferenceGaps:
    """The inference gaps of Cremer, Li & Duvenaud (2018), per data point, in nats.

    Attributes:
        approximation: log p(x) - ELBO(q*_family), shape (B,): >= 0, the cost of the family.
        amortization: ELBO(q*_family) - ELBO(q_amortized), shape (B,): >= 0 up to the
            optimisation error of the per-point fit, the cost of sharing one encoder.
        total: log p(x) - ELBO(q_amortized) = approximation + amortization, shape (B,).
    """

    approximation: Tensor
    amortization: Tensor
    total: Tensor

    def mean(self) -> dict[str, float]:
        """The average of each gap over the batch, as floats."""
        return {
            "approximation": self.approximation.mean().item(),
            "amortization": self.amortization.mean().item(),
            "total": self.total.mean().item(),
        }


def inference_gaps(log_px: Tensor, elbo_best: Tensor, elbo_amortized: Tensor) -> InferenceGaps:
    """Split the encoder's gap log p(x) - ELBO(q_amortized) into approximation + amortization.

        total         = log p(x) - ELBO(q_amortized)
        approximation = log p(x) - ELBO(q*)          (q* the per-point optimum in the family)
        amortization  = ELBO(q*) - ELBO(q_amortized)

    Cremer, Li & Duvenaud (2018), "Inference Suboptimality in Variational Autoencoders" (ICML), Table 1.

    Args:
        log_px: exact (or very tight) log-likelihoods, shape (B,).
        elbo_best: the ELBO of the per-point optimum of the family, shape (B,).
        elbo_amortized: the ELBO of the encoder's q(z | x), shape (B,).

    Returns:
        an :class:`InferenceGaps` of (B,) tensors.

    Introduced in lecture 04.
    """
    log_px = _validate.real("log_px", log_px)
    elbo_best = _validate.real("elbo_best", elbo_best, like=log_px, cast=True)
    elbo_amortized = _validate.real("elbo_amortized", elbo_amortized, like=log_px, cast=True)
    _validate.same_shape("log_px", log_px, "elbo_best", elbo_best)
    _validate.same_shape("log_px", log_px, "elbo_amortized", elbo_amortized)
    return InferenceGaps(
        approximation=log_px - elbo_best,
        amortization=elbo_best - elbo_amortized,
        total=log_px - elbo_amortized,
    )
