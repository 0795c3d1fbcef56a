"""One training loop for every model of the course: ``fit``.

Introduced in lecture 04 (the encoders) and 05 (the VAEs). ``fit(model, x_train, epochs=...)``
trains any ``nn.Module`` that has ``loss(x, beta=1.0)`` returning ``(loss, recon, kl)`` (see
:mod:`vaelib.models`); it knows a model only through ``loss``, ``parameters``, ``state_dict``
and two optional hooks (``check_data`` and ``loss``'s ``generator=`` / ``check=`` keywords). It has:

- the data kept as one tensor on the device, shuffled by a seeded generator and sliced into
  batches (no per-image DataLoader: that is most of the time of a small model);
- a progress bar (text on stderr in a terminal; in Jupyter a line redrawn in place whose saved
  state is its final one; ``progress=False`` for none);
- a :class:`History` of loss / recon / KL per epoch, and of a validation set if given;
- a beta schedule (a number, :class:`LinearWarmup` for KL annealing, :class:`Cyclical`) and an
  optional learning-rate schedule (:class:`CosineDecay`);
- ``device="auto"``: CUDA, else Apple MPS, else CPU;
- a NaN/inf guard that stops with a clear message and restores the last good weights *and*
  optimizer state (Adam's moments), so neither the model nor the checkpoint is poisoned;
- exact resume: the noise the model draws comes from a generator that ``fit`` owns and
  checkpoints, and an interrupted epoch is rolled back to its start, so 2 + 2 epochs equal 4;
- Ctrl-C (or the interrupt a notebook test sends when a cell exceeds its time limit) rolls back
  to the last complete epoch, saves the checkpoint and re-raises as :class:`TrainingInterrupted`;
- atomic checkpoints (temporary file + ``os.replace``) read back with ``weights_only=True``.

Losses are accumulated on the device and read once per epoch: the loop adds no per-step host
sync, and a model with ``check_data`` is validated once per data set rather than per step.
"""

from __future__ import annotations

import copy
import inspect
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from vaelib import _validate
from vaelib.checkpoint import (
    load_checkpoint,
    save_checkpoint,
    state_is_finite,
)
from vaelib.history import History, TrainingInterrupted
from vaelib.progress import progress_bar
from vaelib.schedules import CosineDecay, Cyclical, LinearWarmup, beta_schedule

__all__ = [
    "History",
    "LinearWarmup",
    "Cyclical",
    "CosineDecay",
    "TrainingInterrupted",
    "fit",
    "select_device",
    "save_checkpoint",
    "load_checkpoint",
    "state_is_finite",
]


# ---------------------------------------------------------------------------------------------
# Devices and checkpoints
# ---------------------------------------------------------------------------------------------
def select_device(device: str | torch.device = "auto") -> torch.device:
    """The device to train on: ``"auto"`` picks CUDA, else Apple MPS, else the CPU.

    Args:
        device: ``"auto"``, or anything ``torch.device`` accepts (``"cpu"``, ``"cuda:0"``, ``"mps"``).

    Returns:
        a ``torch.device`` that is available on this machine.
    """
    if isinstance(device, str) and device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'; got {device!r}. "
            f"Use device='auto' to pick the best available one."
        ) from err
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
    }.get(dev.type, True)
    if not available:
        raise ValueError(f"device {device!r} is not available on this machine. Use device='auto' or 'cpu'.")
    return dev


# ---------------------------------------------------------------------------------------------
# fit: its settings, its data, its progress display
# ---------------------------------------------------------------------------------------------


@dataclass
class _Settings:
    """fit's arguments, validated."""

    epochs: int
    batch_size: int
    lr: float
    beta: Callable[[float], float]
    lr_schedule: Callable[[float], float] | None
    seed: int
    progress: bool
    grad_clip: float | None
    checkpoint: Path | None
    checkpoint_every: int
    resume: bool
    callback: Callable | None


def _check_settings(model, optimizer, **kw) -> _Settings:
    if not isinstance(model, nn.Module) or not callable(getattr(model, "loss", None)):
        raise TypeError(
            f"model must be an nn.Module with a loss(x, beta) method returning (loss, recon, kl); got "
            f"{type(model).__name__}. See vaelib.models.VAE."
        )
    for name in ("epochs", "batch_size", "checkpoint_every"):
        _validate.positive_int(name, kw[name])
    _validate.real_number("lr", kw["lr"], minimum=0, strict=True, meaning="Adam's step size, e.g. 1e-3")
    if kw["grad_clip"] is not None:
        _validate.real_number(
            "grad_clip",
            kw["grad_clip"],
            minimum=0,
            strict=True,
            meaning="the largest gradient norm; None for no clipping",
        )
    seed = kw["seed"]
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0 (it seeds the shuffling and the model's noise); got {seed!r}.")
    for name in ("progress", "resume"):
        if not isinstance(kw[name], bool):
            raise TypeError(f"{name} must be True or False; got {kw[name]!r}.")
    for name in ("lr_schedule", "callback"):
        if kw[name] is not None and not callable(kw[name]):
            raise TypeError(f"{name} must be None or a callable; got {type(kw[name]).__name__} {kw[name]!r}.")
    if optimizer is not None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer must be a torch.optim.Optimizer (or None for Adam); got {type(optimizer).__name__}."
            )
        mine = {id(p) for p in model.parameters()}
        if any(id(p) not in mine for g in optimizer.param_groups for p in g["params"]):
            raise ValueError(
                "optimizer must optimise this model's parameters: build it as torch.optim.X(model.parameters(), ...)."
            )
    checkpoint = kw["checkpoint"]
    if checkpoint is not None and not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a file path (str or Path) or None; got {type(checkpoint).__name__}.")
    if kw["resume"] and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=PATH (the file to resume from).")
    kw["beta"] = beta_schedule(kw["beta"])
    kw["checkpoint"] = Path(checkpoint) if checkpoint is not None else None
    kw["lr"], kw["grad_clip"] = float(kw["lr"]), None if kw["grad_clip"] is None else float(kw["grad_clip"])
    return _Settings(**kw)


def _as_data(model: nn.Module, name: str, x, device: torch.device, like: Tensor | None = None) -> Tensor:
    """Validate a data set once and move it to the device, in the model's dtype, without grad.

    Tensors, numpy arrays and nested lists are accepted (converted like ``torch.as_tensor``);
    float64 data for a float32 model is converted (``torch.from_numpy`` gives float64). The
    model's own contract (``model.check_data(x, name)``, e.g. pixels in [0, 1]) is checked here,
    once, not on every step.
    """
    if not isinstance(x, Tensor):
        try:
            x = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"{name} must be a torch.Tensor, a numpy array or a nested list of numbers, shape (N, ...); "
                f"got {type(x).__name__}."
            ) from err
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must hold floating-point numbers; got dtype {x.dtype}. For 8-bit images use "
            f"{name}.float() / 255 (numpy: {name}.astype('float32') / 255)."
        )
    if x.dim() < 1 or len(x) == 0:
        raise ValueError(f"{name} must have shape (N, ...) with N >= 1 examples; got shape {tuple(x.shape)}.")
    if like is not None and x.shape[1:] != like.shape[1:]:
        raise ValueError(
            f"{name} must hold examples of the same shape as x_train's, {tuple(like.shape[1:])}; got "
            f"shape {tuple(x.shape)}."
        )
    x = x.detach()
    _validate.finite(name, x)
    check = getattr(model, "check_data", None)
    if callable(check):
        check(x, name)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.get_default_dtype())
    return x.to(device, dtype)


def _loss_keywords(model: nn.Module, generator: torch.Generator) -> dict:
    """The optional keywords of the training protocol that ``model.loss`` takes."""
    try:
        params = inspect.signature(model.loss).parameters
    except (TypeError, ValueError):
        return {}
    keywords = {}
    if "generator" in params:
        keywords["generator"] = generator
    if "check" in params and callable(getattr(model, "check_data", None)):
        keywords["check"] = False  # the data set passed model.check_data once
    return keywords


@torch.no_grad()
def _evaluate(model: nn.Module, x: Tensor, batch_size: int, keywords: dict) -> list[float]:
    was_training = model.training
    model.eval()
    sums = torch.zeros(3, device=x.device)
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size]
        parts = model.loss(xb, beta=1.0, **keywords)
        sums += torch.stack([parts.loss, parts.recon, parts.kl]).float() * len(xb)
    model.train(was_training)
    return (sums / len(x)).tolist()


def _stream_seed(seed: int, stream: int) -> int:
    """Independent seeds for the shuffle of each epoch (stream = epoch) and the noise (stream < 0)."""
    return (seed * 1_000_003 + stream) % (2**63)


# ---------------------------------------------------------------------------------------------
# fit: the run (epoch, record, non-finite guard, snapshot, checkpoint)
# ---------------------------------------------------------------------------------------------


@dataclass
class _Snapshot:
    """Everything a roll-back restores: weights, optimizer state, noise state, epochs recorded."""

    model: dict
    optimizer: dict
    noise: Tensor
    epochs: int

    @classmethod
    def take(cls, run: "_Run") -> "_Snapshot":
        return cls(
            {k: v.detach().clone() for k, v in run.model.state_dict().items()},
            copy.deepcopy(run.optimizer.state_dict()),
            run.noise.get_state(),
            len(run.history),
        )

    def restore(self, run: "_Run") -> None:
        run.model.load_state_dict(self.model)
        run.optimizer.load_state_dict(copy.deepcopy(self.optimizer))
        run.noise.set_state(self.noise)
        run.history.truncate(self.epochs)


class _Run:
    """One call of fit: the model, its optimizer and noise generator, the data and the history."""

    def __init__(self, model, x, x_val, settings: _Settings, device, optimizer):
        self.model, self.x, self.x_val, self.s, self.device = model, x, x_val, settings, device
        if optimizer is None:
            # The fused kernel updates every parameter in one pass: the same Adam, about 10x less
            # time in optimizer.step() for these small models (benchmarks/REPORT.md).
            fused = {"fused": True} if device.type in ("cpu", "cuda") else {}
            optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, **fused)
        self.optimizer = optimizer
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]  # this call's step sizes
        self.noise = torch.Generator(device=device).manual_seed(_stream_seed(settings.seed, -1))
        self.keywords = _loss_keywords(model, self.noise)
        self.history = History(device=str(device))
        self.steps = math.ceil(len(x) / settings.batch_size)
        self.notes: list[str] = []
        self.bar = None

    def fit_state(self) -> dict:
        return {
            "seed": self.s.seed,
            "noise_state": self.noise.get_state(),  # the model's noise generator: exact resume
            "noise_device": self.device.type,
            "lrs": self.base_lrs,
        }

    def resume(self) -> None:
        """Load the checkpoint: weights, optimizer moments, history, noise; the lr stays this call's."""
        path = self.s.checkpoint
        saved = load_checkpoint(path, self.model, self.optimizer)
        for group, lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = lr
        if saved["history"] is not None:
            self.history = saved["history"]
        before = self.history.stopped
        self.history.stopped, self.history.message, self.history.device = None, "", str(self.device)
        state = saved["fit_state"] or {}
        note = f"fit: resuming from {str(path)!r} after epoch {len(self.history)} of {self.s.epochs}"
        if before == "non-finite":
            note += " (where the last run stopped on NaN/inf)"
        if state.get("lrs") is not None and [float(v) for v in state["lrs"]] != self.base_lrs:
            note += f", with lr {_format_lrs(self.base_lrs)} (the checkpoint's run used {_format_lrs(state['lrs'])})"
        if state.get("noise_device") == self.device.type:
            self.noise.set_state(state["noise_state"])
        else:
            note += "; the noise stream restarts (the checkpoint has none for this device), so the run is not bit-exact"
        self.notes.append(note)

    def train_epoch(self, epoch: int) -> tuple[Tensor, str, float]:
        """One pass over the shuffled data. Returns (sums of loss, recon, kl on the device, why it diverged, last beta)."""
        s, n = self.s, len(self.x)
        shuffle = torch.Generator().manual_seed(_stream_seed(s.seed, epoch))
        x_epoch = self.x[torch.randperm(n, generator=shuffle).to(self.device)]  # (N, ...), one gather
        sums = torch.zeros(3, device=self.device)  # running sums of loss, recon, kl (on the device)
        b = float(s.beta(epoch))
        for step, start in enumerate(range(0, n, s.batch_size)):
            t = epoch + step / self.steps
            b = float(s.beta(t))
            if s.lr_schedule is not None:
                factor = float(s.lr_schedule(t))
                for group, lr in zip(self.optimizer.param_groups, self.base_lrs):
                    group["lr"] = lr * factor
            xb = x_epoch[start : start + s.batch_size]
            try:
                parts = self.model.loss(xb, beta=b, **self.keywords)
            except (ValueError, RuntimeError) as err:
                # vaelib refuses NaN/inf with a NonFiniteError: a diverging model ends here.
                if isinstance(err, _validate.NonFiniteError) or not bool(state_is_finite(self.model)):
                    return sums, f"{type(err).__name__}: {str(err).splitlines()[0]}", b
                raise
            self.optimizer.zero_grad(set_to_none=True)
            parts.loss.backward()
            if s.grad_clip is not None:
                nn.utils.clip_grad_norm_(self.model.parameters(), s.grad_clip)
            self.optimizer.step()
            sums += torch.stack([parts.loss.detach(), parts.recon.detach(), parts.kl.detach()]).float() * len(xb)
            self.bar.update(1)
        return sums, "", b

    def guard(self, epoch: int, sums: Tensor, diverged: str) -> tuple[float, float, float] | None:
        """The epoch's mean loss parts, or None after rolling back a non-finite epoch (and saying so)."""
        # The one host sync of the epoch: the sums and the state's finiteness together.
        flags = torch.cat(
            [sums / len(self.x), state_is_finite(self.model, self.optimizer).float().reshape(1).to(sums.device)]
        )
        loss, recon, kl, finite = flags.tolist()
        if not diverged and finite == 1.0 and all(map(math.isfinite, (loss, recon, kl))):
            return loss, recon, kl
        self.snapshot.restore(self)
        done = f"epoch {len(self.history)}" if len(self.history) else "initialisation"
        cause = diverged or f"loss {loss:.4g}, recon {recon:.4g}, kl {kl:.4g}"
        where = f" (and in {str(self.s.checkpoint)!r})" if self.s.checkpoint is not None else ""
        self.history.stopped = "non-finite"
        self.history.message = (
            f"Training stopped in epoch {epoch + 1}: the loss or the weights became NaN/inf ({cause}). "
            f"The weights and the optimizer state from the end of {done} were restored{where}. Try a "
            f"smaller lr (now {_format_lrs(self.base_lrs)}), grad_clip=1.0, or check the inputs; "
            f"fit(..., lr=SMALLER, checkpoint=..., resume=True) continues from there."
        )
        warnings.warn(self.history.message, RuntimeWarning, stacklevel=5)
        return None

    def record(self, epoch: int, parts: tuple[float, float, float], beta: float, seconds_from: float) -> None:
        h = self.history
        h.epoch.append(epoch + 1)
        for key, value in zip(("loss", "recon", "kl"), parts):
            getattr(h, key).append(value)
        h.beta.append(beta)
        postfix = {"loss": f"{parts[0]:.4g}", "recon": f"{parts[1]:.4g}", "kl": f"{parts[2]:.3g}"}
        if self.x_val is not None:
            val_generator = torch.Generator(device=self.device).manual_seed(_stream_seed(self.s.seed, -2 - epoch))
            keywords = {**self.keywords, **({"generator": val_generator} if "generator" in self.keywords else {})}
            val = _evaluate(self.model, self.x_val, max(self.s.batch_size, 1024), keywords)
            for key, value in zip(("val_loss", "val_recon", "val_kl"), val):
                getattr(h, key).append(value)
            postfix["val"] = f"{val[0]:.4g}"
        h.seconds.append(time.perf_counter() - seconds_from)
        self.bar.set_postfix(postfix, refresh=False)

    def save(self) -> None:
        if self.s.checkpoint is None:
            return
        try:
            save_checkpoint(self.s.checkpoint, self.model, self.optimizer, self.history, fit_state=self.fit_state())
        except _validate.NonFiniteError as err:  # e.g. a model that was NaN before training began
            warnings.warn(str(err), RuntimeWarning, stacklevel=4)

    def epoch(self, epoch: int) -> bool:
        """Train, guard, record, snapshot, checkpoint, call back. Returns True to stop."""
        start = time.perf_counter()
        self.bar.set_description(f"epoch {epoch + 1}/{self.s.epochs}")
        sums, diverged, beta = self.train_epoch(epoch)
        parts = self.guard(epoch, sums, diverged)
        if parts is None:
            return True
        self.record(epoch, parts, beta, start)
        self.snapshot = _Snapshot.take(self)
        if self.s.checkpoint is not None and (epoch + 1) % self.s.checkpoint_every == 0:
            self.save()
        if self.s.callback is not None and self.s.callback(self.history, self.model):
            self.history.stopped = "callback"
            self.history.message = f"Training stopped by the callback after epoch {epoch + 1}."
            return True
        return False

    def interrupted(self, epoch: int) -> None:
        """Roll back to the last complete epoch, so that the checkpoint and a resume are exact."""
        self.snapshot.restore(self)
        done = len(self.history)
        where = f"; saved to {str(self.s.checkpoint)!r}" if self.s.checkpoint is not None else ""
        when = (
            f"after epoch {done} of {self.s.epochs}"
            if done == epoch + 1
            else f"during epoch {epoch + 1} of {self.s.epochs}"
        )
        self.history.stopped = "interrupted"
        self.history.message = (
            f"Training interrupted {when} (Ctrl-C, or a cell's time limit): rolled back to the end of "
            f"{f'epoch {done}' if done else 'initialisation'} (weights, optimizer, noise){where}. The "
            f"model keeps those weights, the history is this exception's .history, and "
            f"fit(..., checkpoint=PATH, resume=True) continues exactly."
        )
        self.bar.write(self.history.message)

    def train(self) -> History:
        s = self.s
        first = len(self.history)
        desc = f"epoch {min(first + 1, s.epochs)}/{s.epochs}"
        self.bar = progress_bar(s.epochs * self.steps, first * self.steps, desc, s.progress)
        for note in self.notes:
            self.bar.write(note)
        self.snapshot = _Snapshot.take(self)
        interrupt, epoch = None, first
        try:
            for epoch in range(first, s.epochs):
                if self.epoch(epoch):
                    break
        except KeyboardInterrupt as err:
            self.interrupted(epoch)
            interrupt = err
        finally:
            self.bar.close()
        self.save()
        self.summary()
        if interrupt is not None:
            raise TrainingInterrupted(self.history) from interrupt
        return self.history

    def summary(self) -> None:
        h = self.history
        if not (self.s.progress and len(h)):
            return
        # One line that stays readable wherever the progress bar does not.
        line = (
            f"fit: {len(h)} epochs in {sum(h.seconds):.1f} s on {self.device}; last epoch: loss "
            f"{h.loss[-1]:.2f} (recon {h.recon[-1]:.2f}, kl {h.kl[-1]:.2f})"
        )
        if h.val_loss:
            line += f"; validation loss {h.val_loss[-1]:.2f}"
        print(line)


def _format_lrs(lrs) -> str:
    return " / ".join(f"{float(v):g}" for v in lrs)


def fit(
    model: nn.Module,
    x_train,
    *,
    epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    beta=1.0,
    x_val=None,
    device: str | torch.device = "auto",
    seed: int = 0,
    progress: bool = True,
    optimizer: torch.optim.Optimizer | None = None,
    grad_clip: float | None = None,
    lr_schedule: Callable[[float], float] | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    resume: bool = False,
    callback: Callable[[History, nn.Module], bool | None] | None = None,
) -> History:
    """Train ``model`` on ``x_train`` by minibatch Adam on ``model.loss(x, beta)``.

    Each epoch shuffles the data with a generator seeded by ``(seed, epoch)`` and slices it into
    batches of ``batch_size`` (the last may be smaller); if ``model.loss`` takes ``generator=``,
    its noise comes from a generator seeded by ``seed`` that is checkpointed with the weights.
    So a run is reproducible from ``seed`` alone, and a resumed run sees the same batches and the
    same noise as an uninterrupted one. The model is trained in place and left on the device.

    Args:
        model: an ``nn.Module`` with ``loss(x, beta=1.0)`` returning ``(loss, recon, kl)`` scalars;
            optionally ``check_data(x, name)`` (its data contract, checked once per data set,
            after which ``loss`` gets ``check=False`` if it takes it) and a ``generator=``
            keyword on ``loss`` (see :mod:`vaelib.models`).
        x_train: training data ``(N, ...)``: a tensor, numpy array or nested list; converted to
            the model's dtype (float64 data for a float32 model is fine) and detached.
        epochs: total number of epochs (with ``resume``, including those already done).
        batch_size: examples per step.
        lr: Adam's learning rate (ignored if ``optimizer`` is given). On ``resume`` the
            learning rate is this call's, not the checkpoint's (only the moments are restored).
        beta: KL weight: a number, or a schedule called with the progress in epochs (a float),
            e.g. :class:`LinearWarmup` for KL annealing or :class:`Cyclical`.
        x_val: optional validation data ``(M, ...)``, evaluated after each epoch at beta = 1.
        device: ``"auto"`` (CUDA, MPS, else CPU) or a device name.
        seed: seeds the shuffling and the model's noise.
        progress: show a progress bar, and print a one-line summary at the end.
        optimizer: use this optimizer instead of a fresh ``Adam(model.parameters(), lr)``.
        grad_clip: if given, clip the gradient norm to this value each step.
        lr_schedule: a factor of the learning rate called with the progress in epochs, every
            step, e.g. :class:`CosineDecay`; None keeps it constant.
        checkpoint: if given, a file written atomically every ``checkpoint_every`` epochs and
            when training ends or stops (never with NaN/inf weights).
        checkpoint_every: epochs between checkpoints.
        resume: continue from ``checkpoint`` if that file exists (weights, optimizer moments,
            noise generator, history).
        callback: called as ``callback(history, model)`` after each epoch; return True to stop.

    Returns:
        a :class:`History`. When the loss or the weights become NaN/inf, training stops, the
        weights and optimizer state of the last finite epoch are restored, and a
        ``RuntimeWarning`` says so.

    Raises:
        TrainingInterrupted: (a ``KeyboardInterrupt``) on Ctrl-C or a notebook cell's time limit,
            after rolling back to the last complete epoch and writing the checkpoint; its
            ``.history`` holds the history so far.
    """
    settings = _check_settings(
        model,
        optimizer,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        beta=beta,
        lr_schedule=lr_schedule,
        seed=seed,
        progress=progress,
        grad_clip=grad_clip,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        resume=resume,
        callback=callback,
    )
    dev = select_device(device)
    model.to(dev)
    model.train()
    x_train = _as_data(model, "x_train", x_train, dev)
    x_val = _as_data(model, "x_val", x_val, dev, like=x_train) if x_val is not None else None
    run = _Run(model, x_train, x_val, settings, dev, optimizer)
    if settings.resume and settings.checkpoint.is_file():
        run.resume()
    return run.train()
