"""Model quality at an equal budget: the reference loop and ``fit`` after the same epochs.

For each seed, both loops train the 784-400-20 VAE for ``epochs`` epochs on the same training
images (batch 128, Adam lr 1e-3), and so do the ``fit`` variants asked for: fused Adam, larger
batches (a speed-up is only worth having if the bound at equal epochs holds). Every trained model
is then evaluated by the same code, ``vaelib.objectives``, on the same test images with the
same noise (a generator seeded per evaluation):

- test negative ELBO: -ELBO(x) averaged over the test images (one z sample per image, the KL
  exact; Kingma & Welling 2014, eq. 10);
- test negative IWAE bound with k samples (Burda et al. 2016, eq. 8) on a subset of the test
  images: a tighter bound on -log p(x), so the comparison does not hinge on the encoder alone.

The reference's weights are copied into a ``vaelib.models.VAE`` (:func:`reference.to_vaelib`;
the same network), so the evaluation is identical. The reference's loss is summed over the
batch and fit's averaged: Adam is invariant to that constant factor (up to its eps), so the
two are trained by the same update rule.
"""

from __future__ import annotations

import math
import re
import statistics
import time
from typing import Callable

import torch
from torch import Tensor

from benchmarks import peers, reference
from vaelib import objectives
from vaelib.models import VAE
from vaelib.train import fit

__all__ = ["evaluate", "train_reference", "train_peer", "train_fit", "measure", "summarise"]


@torch.no_grad()
def evaluate(model: VAE, x_test: Tensor, x_iwae: Tensor, k: int, seed: int = 12345) -> dict:
    """Test negative ELBO (mean over ``x_test``) and negative IWAE bound (mean over ``x_iwae``), in nats."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    total = 0.0
    for start in range(0, len(x_test), 1000):
        total += objectives.elbo(model, x_test[start : start + 1000], generator=gen).double().sum().item()
    neg_elbo = -total / len(x_test)
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(seed + 1)
    bounds = [
        objectives.iwae_bound(model, x_iwae[start : start + 100], k, generator=gen)
        for start in range(0, len(x_iwae), 100)
    ]
    neg_iwae = -torch.cat(bounds).mean().item()
    return {"neg_elbo": neg_elbo, "neg_iwae": neg_iwae, "iwae_seconds": time.perf_counter() - t0}


def train_reference(x_train: Tensor, epochs: int, seed: int) -> tuple[VAE, float]:
    """The reference loop for ``epochs`` epochs; returns the trained network as a vaelib VAE and the wall time."""
    torch.manual_seed(seed)
    model = reference.ReferenceVAE()
    optimizer = reference.make_optimizer(model)
    loader = reference.make_loader(x_train, 128, seed=seed)
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        reference.train_steps(model, optimizer, loader, epoch=epoch)
    return reference.to_vaelib(model), time.perf_counter() - t0


def train_peer(x_train: Tensor, epochs: int, seed: int, peer: str) -> tuple[VAE, float]:
    """The hand-written loop (``peer="hand"``) or pyro SVI (``"pyro"``) for ``epochs`` epochs (batch 128).

    Returns the trained network as a vaelib VAE (:func:`reference.to_vaelib`) and the wall time.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    if peer == "pyro":
        why = peers.pyro_available()
        if why is not None:
            raise ImportError(why)
        model = peers.PyroVAE()
        svi = model.make_svi()
        t0 = time.perf_counter()
        for _ in range(epochs):
            peers.pyro_epoch(svi, x_train, gen, 128)
    else:
        model = peers.HandVAE()
        optimizer = peers.hand_optimizer(model)
        t0 = time.perf_counter()
        for _ in range(epochs):
            peers.hand_epoch(model, optimizer, x_train, gen, 128)
    return reference.to_vaelib(model), time.perf_counter() - t0


def train_fit(
    x_train: Tensor, epochs: int, seed: int, batch_size: int = 128, fused_adam: bool = False
) -> tuple[VAE, float]:
    """``vaelib.train.fit`` for ``epochs`` epochs; returns the model and the wall time.

    ``fused_adam``: pass ``optimizer=torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)``.
    """
    torch.manual_seed(seed)
    model = VAE(784, 20, [400])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True) if fused_adam else None
    t0 = time.perf_counter()
    history = fit(model, x_train, epochs=epochs, batch_size=batch_size, seed=seed, progress=False, optimizer=optimizer)
    seconds = time.perf_counter() - t0
    if history.stopped is not None:
        raise RuntimeError(f"fit stopped early (seed {seed}, batch {batch_size}): {history.message}")
    return model, seconds


def measure(
    x_train: Tensor,
    x_test: Tensor,
    *,
    epochs: int,
    seeds: list[int],
    iwae_images: int,
    iwae_k: int,
    loops: tuple[str, ...] = ("reference", "fit"),
    log: Callable[[str], None] = print,
) -> dict:
    """Train and evaluate every (loop, seed); the runs alternate between loops seed by seed.

    Loops: ``reference``, ``hand`` and ``pyro`` (the peers, :mod:`benchmarks.peers`), ``fit``, ``fit_fused_adam`` (fit with ``Adam(fused=True)``) and
    ``fit_bN`` (fit with batch size N).

    Returns:
        a dict with the settings and ``runs``: one entry per trained model with ``loop``
        (``reference``, ``fit``, ``fit_b256``...), ``batch``, ``seed``, ``train_seconds``,
        ``neg_elbo``, ``neg_iwae``; and ``summary`` from :func:`summarise`.
    """
    if iwae_images > len(x_test):
        raise ValueError(f"iwae_images={iwae_images} but the test set has {len(x_test)} images; lower --iwae-images.")
    x_iwae = x_test[:iwae_images]
    parsed = [(loop, parse_loop(loop)) for loop in loops]
    runs = []
    for seed in seeds:
        for loop, (batch, fused) in parsed:
            if loop == "reference":
                model, seconds = train_reference(x_train, epochs, seed)
            elif loop in ("hand", "pyro"):
                try:
                    model, seconds = train_peer(x_train, epochs, seed, loop)
                except ImportError as err:
                    log(f"  seed {seed} {loop:>9}: skipped ({err})")
                    continue
            else:
                model, seconds = train_fit(x_train, epochs, seed, batch, fused_adam=fused)
            scores = evaluate(model, x_test, x_iwae, iwae_k)
            run = {"loop": loop, "batch": batch, "seed": seed, "train_seconds": seconds, **scores}
            run["samples_per_second"] = epochs * len(x_train) / seconds
            runs.append(run)
            log(
                f"  seed {seed} {loop:>9}: {seconds:6.1f} s training ({run['samples_per_second']:,.0f}/s), "
                f"test -ELBO {scores['neg_elbo']:.2f}, -IWAE(k={iwae_k}) {scores['neg_iwae']:.2f} nats"
            )
    return {
        "epochs": epochs,
        "train_images": len(x_train),
        "test_images": len(x_test),
        "iwae_images": iwae_images,
        "iwae_k": iwae_k,
        "seeds": list(seeds),
        "runs": runs,
        "summary": summarise(runs),
    }


def parse_loop(loop: str) -> tuple[int, bool]:
    """``(batch size, fused Adam)`` of a loop name: reference, fit, fit_fused_adam, fit_bN."""
    if loop in ("reference", "fit", "hand", "pyro"):
        return 128, False
    if loop == "fit_fused_adam":
        return 128, True
    match = re.fullmatch(r"fit_b(\d+)", loop)
    if match and int(match.group(1)) >= 1:
        return int(match.group(1)), False
    raise ValueError(
        f"unknown quality loop {loop!r}; use reference, hand, pyro, fit, fit_fused_adam or fit_bN (e.g. fit_b256)."
    )


def _mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else float("nan"))


def summarise(runs: list[dict]) -> dict:
    """Mean and standard deviation over seeds per loop, and each loop against the reference.

    "No worse" means: the mean test -ELBO is at most the reference's plus two standard errors
    of the difference of the means (sqrt(sd_a^2 / n_a + sd_b^2 / n_b)), i.e. not significantly
    worse; with a single seed, at most 1 nat worse.
    """
    by_loop: dict[str, list[dict]] = {}
    for run in runs:
        by_loop.setdefault(run["loop"], []).append(run)
    out = {}
    for loop, rows in by_loop.items():
        entry = {"n": len(rows), "batch": rows[0]["batch"]}
        for metric in ("neg_elbo", "neg_iwae", "train_seconds", "samples_per_second"):
            entry[metric], entry[metric + "_sd"] = _mean_sd([r[metric] for r in rows])
        out[loop] = entry
    ref = out.get("reference")
    for loop, entry in out.items():
        if ref is None or loop == "reference":
            continue
        for metric in ("neg_elbo", "neg_iwae"):
            diff = entry[metric] - ref[metric]
            if entry["n"] > 1 and ref["n"] > 1:
                se = math.sqrt(entry[metric + "_sd"] ** 2 / entry["n"] + ref[metric + "_sd"] ** 2 / ref["n"])
                tolerance = 2 * se
            else:
                se, tolerance = float("nan"), 1.0
            entry[metric + "_minus_reference"] = diff
            entry[metric + "_diff_se"] = se
            entry[metric + "_no_worse"] = bool(diff <= tolerance)
        entry["speedup_vs_reference"] = entry["samples_per_second"] / ref["samples_per_second"]
    return out
