"""Training throughput (samples/s) of ``vaelib.train.fit`` against the reference, and of each
speed-up measured as a variant.

Method. Every variant trains the same 784-400-20 VAE (Adam, lr 1e-3) for one epoch over the same
slice of ``steps * 128`` training images, after a few untimed warm-up steps on a fresh model.
One *repeat* runs every variant once, in an order rotated by one each repeat, so that a change
in the machine's load (it is shared) hits all variants alike; the reported number is the median
over repeats, with the spread (min, max) beside it. Ratios are taken between medians; the
paired ratio (the median over repeats of the ratio within a repeat) is given too.

The variants form a ladder from the reference to ``fit``, one change at a time, plus changes
on top of ``fit`` that the lead may adopt (each says what exact change it measures):

    reference            DataLoader of single images, loss.item() every step (pytorch/examples)
    hand                 the strong peer: a competent hand-written loop (benchmarks/peers.py)
    pyro                 the other peer: pyro SVI with Trace_ELBO, the pyro VAE tutorial's structure
    ref_float_dataset    the same, but the Dataset slices a float tensor (no PIL, no ToTensor)
    ref_sliced           + data kept as one tensor, shuffled once per epoch and sliced
    ref_sliced_nosync    + no per-step host sync (loss summed on the device, read once)
    fit                  vaelib.train.fit(VAE(784, 20, [400]), ...), progress=False
    fit_progress         fit with its progress bar on (tqdm, output discarded)
    fit_threads1         fit under torch.set_num_threads(1)
    fit_fused_adam       fit(..., optimizer=Adam(..., fused=True))
    fit_unchecked_loss   fit on a VAE whose loss skips vaelib's per-call input checks
    bare_step            fit's loop without its bookkeeping, on that loss: the floor
    fit_compile          fit on a model whose ``loss`` is ``torch.compile``d (guarded)
    fit_b256, fit_b512   fit with batch_size 256 / 512 (quality checked in quality.py)
"""

from __future__ import annotations

import contextlib
import gc
import io
import statistics
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

from benchmarks import machine, peers, reference
from vaelib import objectives
from vaelib.models import VAE
from vaelib.train import fit

__all__ = ["VARIANTS", "Variant", "measure"]

LATENT = 20
HIDDEN = [400]


@dataclass(frozen=True)
class Variant:
    key: str
    label: str  # short, for tables and the plot
    change: str  # the exact change it measures, against ``base``
    base: str | None  # the variant it is compared with
    batch: int = 128


# A runner is built fresh for each repeat (a new model, warmed up); calling it trains one epoch
# over the slice and returns the number of images it trained on.
Runner = Callable[[], int]


def _new_vae() -> VAE:
    return VAE(784, LATENT, HIDDEN)


def _reference_runner(x: Tensor, warmup: int, batch: int, *, pil: bool = True) -> Runner:
    model = reference.ReferenceVAE()
    optimizer = reference.make_optimizer(model)
    reference.train_steps(model, optimizer, reference.make_loader(x[: warmup * batch], batch, pil=pil), steps=warmup)
    loader = reference.make_loader(x, batch, pil=pil)

    def run() -> int:
        return reference.train_steps(model, optimizer, loader, epoch=1)[1]

    return run


def _ref_sliced_runner(x: Tensor, warmup: int, batch: int, *, host_sync: bool) -> Runner:
    """The reference's model, loss and logging, but batches sliced from one shuffled tensor."""
    model = reference.ReferenceVAE()
    optimizer = reference.make_optimizer(model)
    gen = torch.Generator().manual_seed(0)
    log_interval = 10

    def epoch(data: Tensor) -> int:
        model.train()
        n = len(data)
        x_epoch = data[torch.randperm(n, generator=gen)]  # (N, 784): one gather per epoch
        train_loss = 0 if host_sync else torch.zeros(())
        for batch_idx, start in enumerate(range(0, n, batch)):
            xb = x_epoch[start : start + batch]
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(xb)
            loss = reference.loss_function(recon_batch, xb, mu, logvar)
            loss.backward()
            if host_sync:
                train_loss += loss.item()
                if batch_idx % log_interval == 0:
                    "Train Epoch: {} [{}/{}]\tLoss: {:.6f}".format(1, start, n, loss.item() / len(xb))
            else:
                train_loss += loss.detach()
            optimizer.step()
        float(train_loss)  # the one read of the epoch's loss
        return n

    epoch(x[: warmup * batch])
    return lambda: epoch(x)


class UncheckedVAE(VAE):
    """vaelib's VAE with ``loss`` = ``negative_elbo`` minus its per-call input checks.

    The same arithmetic and the same random numbers as :func:`vaelib.objectives.negative_elbo`
    (one ``torch.randn`` of shape (B, K), the KL as ``expm1(log_var) - log_var + mu^2``), but
    calling the encoder/decoder ``nn.Sequential``s directly and writing z = mu + std * eps
    inline, so none of ``_check_x``/``_check_z`` (shapes), ``_validate.finite`` (a reduction
    and a host sync per tensor) or ``_validate.positive`` runs on every step. fit's NaN guard
    (once per epoch) still catches a diverging run.
    """

    def loss(self, x: Tensor, beta: float = 1.0, check: bool = False) -> objectives.LossParts:
        mu, log_var = self.encoder(x).chunk(2, dim=-1)  # (B, K) each
        z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)  # (B, K)
        recon = objectives.bernoulli_nll(self.decoder(z), x).mean()
        kl = (0.5 * (torch.expm1(log_var) - log_var + mu.pow(2))).sum(-1).mean()
        return objectives.LossParts(loss=recon + beta * kl, recon=recon, kl=kl)


def _bare_runner(x: Tensor, warmup: int, batch: int) -> Runner:
    """The least a training loop can do per step: fit's loop without its bookkeeping.

    Sliced tensor, :class:`UncheckedVAE`'s loss, Adam, the loss summed on the device and read
    once; no beta schedule call, no stacking of (loss, recon, kl), no progress-bar update.
    """
    model = UncheckedVAE(784, LATENT, HIDDEN)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)

    def epoch(data: Tensor) -> int:
        n = len(data)
        x_epoch = data[torch.randperm(n, generator=gen)]  # (N, 784)
        sums = torch.zeros(())
        for start in range(0, n, batch):
            loss = model.loss(
                x_epoch[start : start + batch], check=False
            ).loss  # the hot path fit uses (data checked once)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            sums += loss.detach()
        float(sums)
        return n

    epoch(x[: warmup * batch])
    return lambda: epoch(x)


def _hand_runner(x: Tensor, warmup: int, batch: int) -> Runner:
    """The hand-written peer (:func:`benchmarks.peers.hand_epoch`), warmed up on a fresh model."""
    model = peers.HandVAE()
    optimizer = peers.hand_optimizer(model)
    gen = torch.Generator().manual_seed(0)
    peers.hand_epoch(model, optimizer, x[: warmup * batch], gen, batch)
    return lambda: (peers.hand_epoch(model, optimizer, x, gen, batch), len(x))[1]


def _pyro_runner(x: Tensor, warmup: int, batch: int) -> Runner:
    """pyro SVI (:func:`benchmarks.peers.pyro_epoch`); raises ImportError (reported) without pyro."""
    why = peers.pyro_available()
    if why is not None:
        raise ImportError(why)
    model = peers.PyroVAE()
    svi = model.make_svi()
    gen = torch.Generator().manual_seed(0)
    peers.pyro_epoch(svi, x[: warmup * batch], gen, batch)
    return lambda: (peers.pyro_epoch(svi, x, gen, batch), len(x))[1]


def _fit_runner(
    x: Tensor,
    warmup: int,
    batch: int,
    *,
    progress: bool = False,
    fused_adam: bool = False,
    compile_loss: bool = False,
    unchecked: bool = False,
) -> Runner:
    model = UncheckedVAE(784, LATENT, HIDDEN) if unchecked else _new_vae()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True) if fused_adam else None
    if compile_loss:
        model.loss = torch.compile(model.loss)
    sink = io.StringIO()

    def run_fit(data: Tensor) -> int:
        # The progress bar (stderr) and fit's closing summary line (stdout) are discarded.
        with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
            history = fit(model, data, epochs=1, batch_size=batch, progress=progress, optimizer=optimizer)
        if history.stopped is not None:
            raise RuntimeError(f"fit stopped early: {history.message}")
        sink.seek(0)
        sink.truncate()
        return len(data)

    run_fit(x[: warmup * batch])
    return lambda: run_fit(x)


def _make_runner(key: str, x: Tensor, warmup: int) -> Runner:
    builders: dict[str, Callable[[], Runner]] = {
        "reference": lambda: _reference_runner(x, warmup, 128),
        "ref_float_dataset": lambda: _reference_runner(x, warmup, 128, pil=False),
        "ref_sliced": lambda: _ref_sliced_runner(x, warmup, 128, host_sync=True),
        "ref_sliced_nosync": lambda: _ref_sliced_runner(x, warmup, 128, host_sync=False),
        "hand": lambda: _hand_runner(x, warmup, 128),
        "pyro": lambda: _pyro_runner(x, warmup, 128),
        "fit": lambda: _fit_runner(x, warmup, 128),
        "fit_progress": lambda: _fit_runner(x, warmup, 128, progress=True),
        "fit_threads1": lambda: _fit_runner(x, warmup, 128),
        "fit_fused_adam": lambda: _fit_runner(x, warmup, 128, fused_adam=True),
        "fit_unchecked_loss": lambda: _fit_runner(x, warmup, 128, unchecked=True),
        "bare_step": lambda: _bare_runner(x, warmup, 128),
        "fit_compile": lambda: _fit_runner(x, warmup, 128, compile_loss=True),
        "fit_b256": lambda: _fit_runner(x, max(1, warmup // 2), 256),
        "fit_b512": lambda: _fit_runner(x, max(1, warmup // 4), 512),
    }
    return builders[key]()


VARIANTS: list[Variant] = [
    Variant(
        "reference",
        "reference (DataLoader)",
        "pytorch/examples vae/main.py loop (torchvision-style dataset: PIL + ToTensor per image)",
        None,
    ),
    Variant(
        "ref_float_dataset",
        "ref, float dataset",
        "per-image PIL + ToTensor -> per-image slice of a float tensor (same DataLoader)",
        "reference",
    ),
    Variant(
        "ref_sliced",
        "ref + sliced tensor",
        "DataLoader of single images -> one tensor, x[perm] sliced per batch",
        "ref_float_dataset",
    ),
    Variant(
        "ref_sliced_nosync",
        "ref + sliced + no sync",
        "loss.item() every step -> loss summed on device, read once",
        "ref_sliced",
    ),
    Variant(
        "hand",
        "hand-written loop",
        "the strong peer: one float tensor sliced per batch, logits + fused BCE, fused (else foreach) Adam, no per-step .item()",
        "reference",
    ),
    Variant(
        "pyro",
        "pyro SVI",
        "the other peer: pyro SVI, Trace_ELBO, pyro.optim.Adam, the pyro VAE tutorial's model/guide on a sliced tensor",
        "reference",
    ),
    Variant("fit", "vaelib fit", "vaelib.train.fit(VAE(784, 20, [400]), progress=False)", "reference"),
    Variant("fit_progress", "fit, progress bar", "progress=False -> progress=True (tqdm)", "fit"),
    Variant("fit_threads1", "fit, 1 thread", "torch.set_num_threads(1) (default: one per core)", "fit"),
    Variant(
        "fit_fused_adam",
        "fit, fused Adam",
        "optimizer=torch.optim.Adam(params, lr=1e-3, fused=True) passed explicitly (adopted: now fit's default, so ~1.0x up to noise)",
        "fit",
    ),
    Variant(
        "fit_unchecked_loss",
        "fit, loss without checks",
        "model.loss = negative_elbo inlined without its per-call input checks (UncheckedVAE; adopted: VAE.loss now uses check=False, so ~1.0x up to noise)",
        "fit",
    ),
    Variant(
        "bare_step",
        "bare loop",
        "fit's loop without its per-step bookkeeping (beta schedule, loss sums, bar.update)",
        "fit_unchecked_loss",
    ),
    Variant("fit_compile", "fit, torch.compile", "model.loss = torch.compile(model.loss)", "fit"),
    Variant("fit_b256", "fit, batch 256", "batch_size 128 -> 256", "fit", batch=256),
    Variant("fit_b512", "fit, batch 512", "batch_size 128 -> 512", "fit", batch=512),
]
_BY_KEY = {v.key: v for v in VARIANTS}


@dataclass
class _Samples:
    seconds: list[float] = field(default_factory=list)
    samples: list[int] = field(default_factory=list)
    setup_seconds: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def rates(self) -> list[float]:
        return [n / s for n, s in zip(self.samples, self.seconds)]


def measure(
    x: Tensor,
    *,
    steps: int,
    repeats: int,
    warmup: int = 5,
    keys: list[str] | None = None,
    probes: dict[str, Callable[[], float]] | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Time each variant ``repeats`` times over one epoch of ``steps * 128`` images of ``x``.

    ``probes`` are other measurements (e.g. the matmul rate) taken once per repeat inside the
    same rotation, so that they see the same load as the variants; their values per repeat
    and median are returned under ``probes``.

    Args:
        x: training images, shape ``(N, 784)`` with N >= steps * 128.
        steps: steps of batch 128 per timing (variants with larger batches see the same images).
        repeats: timings per variant (the median is reported).
        warmup: untimed steps on each fresh model before its timing.
        keys: the variants to run (default: all of :data:`VARIANTS`); ``reference`` and ``fit``
            are always included.

    Returns:
        a dict with ``variants``: for each key its label, change, base, batch, rates (samples/s
        per repeat), median, min, max, setup seconds and error (None, or why it was skipped).
    """
    keys = list(keys) if keys is not None else [v.key for v in VARIANTS]
    for needed in ("reference", "fit"):
        if needed not in keys:
            keys.insert(0, needed)
    unknown = [k for k in keys if k not in _BY_KEY]
    if unknown:
        raise ValueError(f"unknown throughput variant(s) {unknown}; choose from {list(_BY_KEY)}.")
    n = steps * 128
    if len(x) < n:
        raise ValueError(f"x has {len(x)} images; {steps} steps of 128 need {n}. Lower --steps.")
    data = x[:n].contiguous()
    results = {k: _Samples() for k in keys}
    probes = probes or {}
    probe_values: dict[str, list[float]] = {name: [] for name in probes}
    default_threads = torch.get_num_threads()
    slots = keys + [f"probe:{name}" for name in probes]
    for r in range(repeats):
        order = slots[r % len(slots) :] + slots[: r % len(slots)]
        for key in order:
            if key.startswith("probe:"):
                name = key.removeprefix("probe:")
                probe_values[name].append(probes[name]())
                continue
            res = results[key]
            if res.error is not None:
                continue
            if key == "fit_threads1" and default_threads == 1:
                res.error = "the run already uses 1 thread"
                continue
            threads = 1 if key == "fit_threads1" else default_threads
            torch.set_num_threads(threads)
            torch.manual_seed(1000 + r)
            try:
                t0 = machine.clock()
                runner = _make_runner(key, data, warmup)
                gc.collect()  # the garbage of the variants before (pyro's traces, DataLoaders) is not this one's cost
                t1 = machine.clock()
                seen = runner()
                t2 = machine.clock()
            except Exception as err:  # a variant that cannot run here (e.g. torch.compile) is reported, not fatal
                res.error = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"
                log(f"  {key}: skipped ({res.error})")
                log("".join(traceback.format_exception_only(type(err), err)).strip()[:2000])
                continue
            finally:
                torch.set_num_threads(default_threads)
            res.setup_seconds.append(t1 - t0)
            res.seconds.append(t2 - t1)
            res.samples.append(seen)
        done = ", ".join(
            f"{k} {results[k].rates[-1]:,.0f}/s" for k in keys if results[k].error is None and results[k].rates
        )
        log(f"  repeat {r + 1}/{repeats}: {done}")

    out: dict = {"steps": steps, "images": n, "repeats": repeats, "warmup_steps": warmup, "threads": default_threads}
    out["probes"] = {
        name: {"values": values, "median": statistics.median(values) if values else None}
        for name, values in probe_values.items()
    }
    variants = {}
    for key in keys:
        v, res = _BY_KEY[key], results[key]
        rates = res.rates
        variants[key] = {
            "label": v.label,
            "change": v.change,
            "base": v.base,
            "batch": v.batch,
            "threads": 1 if key == "fit_threads1" else default_threads,
            "rates": rates,
            "median": statistics.median(rates) if rates else None,
            "min": min(rates) if rates else None,
            "max": max(rates) if rates else None,
            "setup_seconds": res.setup_seconds,
            "error": res.error,
        }
    for key, row in variants.items():
        base = variants.get(row["base"]) if row["base"] else None
        row["ratio_to_base"] = row["median"] / base["median"] if base and row["median"] and base["median"] else None
        ref = variants["reference"]
        row["ratio_to_reference"] = row["median"] / ref["median"] if row["median"] and ref["median"] else None
        if base and row["rates"] and len(base["rates"]) == len(row["rates"]):
            row["paired_ratio_to_base"] = statistics.median(a / b for a, b in zip(row["rates"], base["rates"]))
        else:
            row["paired_ratio_to_base"] = None
    out["variants"] = variants
    out["fit_over_reference"] = variants["fit"]["ratio_to_reference"]
    for peer in ("hand", "pyro"):
        row = variants.get(peer)
        out[f"fit_over_{peer}"] = _ratio(variants["fit"], row) if row else None
        out[f"fit_over_{peer}_paired"] = _paired(variants["fit"], row) if row else None
    return out


def _ratio(a: dict, b: dict) -> float | None:
    return a["median"] / b["median"] if a["median"] and b["median"] else None


def _paired(a: dict, b: dict) -> float | None:
    """The median over repeats of the within-repeat ratio a / b (same load in each repeat)."""
    if not a["rates"] or len(a["rates"]) != len(b["rates"]):
        return None
    return statistics.median(x / y for x, y in zip(a["rates"], b["rates"]))


def step_breakdown(x: Tensor, *, batch: int = 128, steps: int = 50, fused_adam: bool = False) -> dict:
    """Where one training step of ``fit``'s model and loss spends its time (seconds per step).

    Times the three phases of a step separately over ``steps`` steps (after 5 warm-up steps):
    ``model.loss`` (forward: encoder, sampling, decoder, Bernoulli NLL, KL, with vaelib's input
    checks), ``backward`` and ``optimizer.step`` (Adam; fused or not). On a CPU every op is
    synchronous, so wall-clock times around each phase are the phase's cost.

    Returns:
        ``{"forward": s, "backward": s, "optimizer": s, "total": s, "batch": batch, "fused_adam": bool}``
        (medians over the steps).
    """
    model = _new_vae()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused_adam)
    times: dict[str, list[float]] = {"forward": [], "backward": [], "optimizer": []}
    gen = torch.Generator().manual_seed(0)
    n_batches = max(1, len(x) // batch)
    for i in range(steps + 5):
        j = int(torch.randint(n_batches, (1,), generator=gen))
        xb = x[j * batch : (j + 1) * batch]
        t0 = time.perf_counter()
        parts = model.loss(xb, beta=1.0, check=False)  # as in fit: the data set was checked once
        t1 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        parts.loss.backward()
        t2 = time.perf_counter()
        optimizer.step()
        t3 = time.perf_counter()
        if i >= 5:
            times["forward"].append(t1 - t0)
            times["backward"].append(t2 - t1)
            times["optimizer"].append(t3 - t2)
    out = {k: statistics.median(v) for k, v in times.items()}
    out["total"] = sum(out.values())
    out.update(batch=batch, fused_adam=fused_adam)
    return out
