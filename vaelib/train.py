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

import os
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from vaelib import _validate
from vaelib._fit_run import Run, Settings
from vaelib.checkpoint import (
    load_checkpoint,
    save_checkpoint,
    state_is_finite,
)
from vaelib.history import History, TrainingInterrupted
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


def _check_settings(model, optimizer, **kw) -> Settings:
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
    return Settings(**kw)


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
    run = Run(model, x_train, x_val, settings, dev, optimizer)
    if settings.resume and settings.checkpoint.is_file():
        run.resume()
    return run.train()
