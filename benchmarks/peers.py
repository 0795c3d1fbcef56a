"""The strong peers of ``fit``: a competent hand-written loop and pyro's SVI.

The reference (``benchmarks/reference.py``, pytorch/examples' DataLoader of PIL images) is the
loop a user copies; it is not the loop a careful user writes. The two peers here are:

- **the hand loop** (:func:`hand_epoch`): what a user who knows PyTorch writes for this model:
  the data as one float tensor, shuffled once per epoch and sliced per batch, the decoder's
  logits into ``binary_cross_entropy_with_logits``, the loss summed on the device and read once
  per epoch (no per-step ``.item()``), Adam fused if this torch has a fused CPU kernel, else
  ``foreach`` (:func:`hand_optimizer`);
- **pyro SVI** (:func:`pyro_epoch`): the structure of pyro's VAE tutorial
  (https://pyro.ai/examples/vae.html): a ``model`` with ``pyro.plate`` over the batch, a
  ``Normal(0, 1)`` prior and a Bernoulli likelihood, a ``guide`` with the encoder, ``SVI`` with
  ``Trace_ELBO`` and ``pyro.optim.Adam({"lr": 1e-3})``, one ``svi.step(x)`` per batch of a sliced
  tensor. Two changes from the tutorial, so that the network is the same 784-400-20 VAE as
  ``fit``'s: ReLU instead of softplus hidden units, and the encoder's second head is the
  log-variance (scale ``exp(0.5 * log_var)``) instead of ``log scale``; the decoder gives logits.

All three use the layers of :class:`benchmarks.reference.ReferenceVAE` (``fc1``, ``fc21``,
``fc22``, ``fc3``, ``fc4``), so :func:`benchmarks.reference.to_vaelib` turns any of them into a
``vaelib.models.VAE`` that ``benchmarks.quality`` evaluates with the same code as ``fit``'s model.
pyro is optional (the ``benchmarks`` extra): without it the pyro rows say why they are missing.
"""

from __future__ import annotations

import inspect

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from benchmarks import reference

__all__ = ["HandVAE", "hand_optimizer", "hand_epoch", "PyroVAE", "pyro_available", "pyro_epoch"]


class HandVAE(reference.ReferenceVAE):
    """The reference's layers, with a loss written for speed: logits, one fused BCE."""

    def loss(self, x: Tensor) -> Tensor:
        """Negative ELBO summed over the batch (Bernoulli likelihood, exact Gaussian KL)."""
        mu, log_var = self.encode(x)  # (B, 20) each
        z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)  # (B, 20)
        logits = self.fc4(F.relu(self.fc3(z)))  # (B, 784)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kl = 0.5 * torch.sum(log_var.exp() - 1 - log_var + mu.pow(2))
        return recon + kl


def hand_optimizer(model: nn.Module, lr: float = 1e-3) -> torch.optim.Optimizer:
    """Adam with the fastest CPU implementation this torch has: fused, else foreach."""
    if "fused" in inspect.signature(torch.optim.Adam).parameters:
        try:
            return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
        except (RuntimeError, ValueError):  # no fused kernel for this device/dtype
            pass
    return torch.optim.Adam(model.parameters(), lr=lr, foreach=True)


def hand_epoch(model: HandVAE, optimizer: torch.optim.Optimizer, x: Tensor, gen: torch.Generator, batch: int) -> float:
    """One epoch over ``x`` (N, 784): shuffled once, sliced per batch. Returns the mean loss per image."""
    model.train()
    n = len(x)
    x_epoch = x[torch.randperm(n, generator=gen)]  # (N, 784): one gather per epoch
    total = torch.zeros(())
    for start in range(0, n, batch):
        loss = model.loss(x_epoch[start : start + batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach()
    return float(total) / n  # the one host read of the epoch


def pyro_available() -> str | None:
    """None if pyro imports, else why not (the rows of the report say it)."""
    try:
        import pyro  # noqa: F401
    except ImportError as err:
        return f"pyro is not installed ({err}); pip install -e '.[benchmarks]'"
    return None


class PyroVAE(reference.ReferenceVAE):
    """The tutorial's ``model`` and ``guide`` on the reference's layers (see the module docstring)."""

    def model(self, x: Tensor) -> None:
        import pyro
        import pyro.distributions as dist

        pyro.module("vae", self)
        with pyro.plate("data", x.shape[0]):
            loc = x.new_zeros((x.shape[0], 20))
            z = pyro.sample("latent", dist.Normal(loc, torch.ones_like(loc)).to_event(1))
            logits = self.fc4(F.relu(self.fc3(z)))  # (B, 784)
            pyro.sample("obs", dist.Bernoulli(logits=logits, validate_args=False).to_event(1), obs=x)

    def guide(self, x: Tensor) -> None:
        import pyro
        import pyro.distributions as dist

        pyro.module("vae", self)
        with pyro.plate("data", x.shape[0]):
            mu, log_var = self.encode(x)  # (B, 20) each
            pyro.sample("latent", dist.Normal(mu, torch.exp(0.5 * log_var)).to_event(1))

    def make_svi(self, lr: float = 1e-3):
        """``SVI(model, guide, pyro.optim.Adam({"lr": lr}), Trace_ELBO())`` with a clean param store."""
        import pyro
        from pyro.infer import SVI, Trace_ELBO

        pyro.clear_param_store()
        return SVI(self.model, self.guide, pyro.optim.Adam({"lr": lr}), loss=Trace_ELBO())


def pyro_epoch(svi, x: Tensor, gen: torch.Generator, batch: int) -> float:
    """One epoch of ``svi.step`` over ``x`` shuffled and sliced, as the tutorial's ``train``. Returns loss per image."""
    n = len(x)
    x_epoch = x[torch.randperm(n, generator=gen)]  # (N, 784)
    total = 0.0
    for start in range(0, n, batch):
        total += svi.step(x_epoch[start : start + batch])  # pyro returns a float: its own host sync
    return total / n
