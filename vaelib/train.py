"""One training loop for every model of the course: ``fit``.

Introduced in lecture 05. ``fit(model, x_train, epochs=...)`` trains any model that has
``loss(x, beta=1.0)`` returning ``(loss, recon, kl)`` (see :mod:`vaelib.models`), with:

- the data kept as one tensor on the device, shuffled by a seeded generator and sliced into
  batches (no per-image DataLoader: that is most of the time of a small model);
- a progress bar (``tqdm.auto``: a widget in Jupyter, text in a terminal; ``progress=False``);
- a :class:`History` of loss / recon / KL per epoch, and of a validation set if given;
- a beta schedule: a number, :class:`LinearWarmup` (KL annealing) or :class:`Cyclical`;
- ``device="auto"``: CUDA, else Apple MPS, else CPU;
- a NaN/inf guard that stops with a clear message and restores the last good weights;
- Ctrl-C (KeyboardInterrupt) stops cleanly and keeps what was trained;
- atomic checkpoints (temporary file + ``os.replace``) read back with ``weights_only=True``.

Losses are accumulated on the device and read once per epoch: the loop itself adds no per-step
host sync (a model's loss may add its own, e.g. input validation).
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from vaelib._io import atomic_write

__all__ = [
    "History",
    "LinearWarmup",
    "Cyclical",
    "fit",
    "select_device",
    "save_checkpoint",
    "load_checkpoint",
]

CHECKPOINT_FORMAT = "vaelib-checkpoint"
CHECKPOINT_VERSION = 1


# ---------------------------------------------------------------------------------------------
# Beta schedules: called with the training progress in epochs (a float, e.g. 2.5), return beta
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearWarmup:
    """KL annealing: beta grows linearly from ``start`` to ``beta`` over ``epochs`` epochs, then stays.

    beta(t) = start + (beta - start) * min(1, t / epochs), t in epochs (updated every step).
    Bowman et al. 2016 (Section 3.1) and Sonderby et al. 2016 ("warm-up") use it so that the
    decoder learns to use z before the KL term pushes q(z | x) onto the prior.
    """

    epochs: float  # length of the ramp, in epochs
    beta: float = 1.0  # the final weight (1: the ELBO)
    start: float = 0.0  # the weight at step 0 (0: a plain autoencoder with noise)

    def __post_init__(self):
        if not isinstance(self.epochs, (int, float)) or not self.epochs > 0:
            raise ValueError(f"LinearWarmup epochs must be a number > 0 (the ramp length); got {self.epochs!r}.")
        for name in ("beta", "start"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"LinearWarmup {name} must be a finite number >= 0; got {value!r}.")

    def __call__(self, t: float) -> float:
        return self.start + (self.beta - self.start) * min(1.0, t / self.epochs)


@dataclass(frozen=True)
class Cyclical:
    """Cyclical annealing (Fu et al. 2019): repeat a linear ramp from 0 to ``beta``.

    Within each period of ``period`` epochs, beta rises linearly over the first ``ramp``
    fraction of the period and then stays at ``beta``.
    """

    period: float  # epochs per cycle
    beta: float = 1.0  # the weight reached in each cycle
    ramp: float = 0.5  # fraction of the cycle spent rising

    def __post_init__(self):
        if not isinstance(self.period, (int, float)) or not self.period > 0:
            raise ValueError(f"Cyclical period must be a number > 0 (epochs per cycle); got {self.period!r}.")
        if not isinstance(self.ramp, (int, float)) or not 0 < self.ramp <= 1:
            raise ValueError(f"Cyclical ramp must be in (0, 1] (fraction of a cycle spent rising); got {self.ramp!r}.")
        if not isinstance(self.beta, (int, float)) or not math.isfinite(self.beta) or self.beta < 0:
            raise ValueError(f"Cyclical beta must be a finite number >= 0; got {self.beta!r}.")

    def __call__(self, t: float) -> float:
        phase = (t % self.period) / self.period  # in [0, 1)
        return self.beta * min(1.0, phase / self.ramp)


def _beta_schedule(beta) -> Callable[[float], float]:
    if callable(beta):
        return beta
    if isinstance(beta, (int, float)) and not isinstance(beta, bool) and math.isfinite(beta) and beta >= 0:
        value = float(beta)
        return lambda t: value
    raise ValueError(
        f"beta must be a number >= 0 or a schedule (a callable of the epoch, e.g. "
        f"LinearWarmup(epochs=5)); got {beta!r}."
    )


# ---------------------------------------------------------------------------------------------
# History
# ---------------------------------------------------------------------------------------------


@dataclass
class History:
    """What ``fit`` records, one entry per completed epoch (lists of floats).

    ``loss`` is the objective that was minimised (with the epoch's beta), ``recon`` and ``kl``
    its parts, all averaged over the epoch's training batches. ``val_*`` hold the validation
    set's loss at beta = 1 (the negative ELBO for a VAE) and its parts, or are empty.
    ``stopped`` says why training ended early: ``"interrupted"`` (Ctrl-C), ``"non-finite"``
    (the NaN guard), ``"callback"``, or ``None`` when all epochs ran.
    """

    epoch: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    recon: list = field(default_factory=list)
    kl: list = field(default_factory=list)
    beta: list = field(default_factory=list)  # beta at the end of the epoch
    val_loss: list = field(default_factory=list)
    val_recon: list = field(default_factory=list)
    val_kl: list = field(default_factory=list)
    seconds: list = field(default_factory=list)  # wall time of each epoch
    stopped: str | None = None
    message: str = ""
    device: str = "cpu"

    @property
    def interrupted(self) -> bool:
        """True when training was stopped by Ctrl-C (KeyboardInterrupt)."""
        return self.stopped == "interrupted"

    def __len__(self) -> int:
        return len(self.epoch)

    def as_dict(self) -> dict:
        """Plain lists, floats and strings (what a checkpoint stores)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "History":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def __repr__(self) -> str:
        last = f", last loss {self.loss[-1]:.4g}" if self.loss else ""
        why = f", stopped: {self.stopped}" if self.stopped else ""
        return f"History({len(self)} epochs{last}{why})"


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


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    history: History | None = None,
) -> Path:
    """Write model (and optimizer, history) to ``path`` atomically.

    The file is written to a temporary file in the same folder and moved into place with
    ``os.replace``, so an interrupted save never leaves a half-written checkpoint behind.

    Returns:
        the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model_config": dict(getattr(model, "config", {}) or {}),
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer_state": optimizer.state_dict() if optimizer is not None else None,
        "history": history.as_dict() if history is not None else None,
    }
    atomic_write(path, lambda f: torch.save(payload, f))
    return path


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (``torch.load(weights_only=True)``).

    Args:
        path: the checkpoint file.
        model: if given, its weights are replaced by the checkpoint's (same architecture).
        optimizer: if given, its state is restored too.

    Returns:
        the checkpoint: a dict with ``model_config``, ``model_state``, ``optimizer_state`` and
        ``history`` (a :class:`History`, or None).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is corrupted, not a vaelib checkpoint, or for another architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}. Check the path, or train first with fit(..., checkpoint=path).")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(
            f"checkpoint {str(path)!r} is corrupted or is not a checkpoint file "
            f"(torch.load failed: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). "
            f"Delete it and train again, or load an earlier checkpoint."
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{str(path)!r} is a torch file but not a vaelib checkpoint (no format marker "
            f"{CHECKPOINT_FORMAT!r}). Write checkpoints with vaelib.train.save_checkpoint or fit(..., checkpoint=path)."
        )
    if payload.get("version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"checkpoint {str(path)!r} has format version {payload.get('version')!r}; this vaelib reads "
            f"version {CHECKPOINT_VERSION}. Train again with this version."
        )
    if model is not None:
        saved = payload.get("model_config") or {}
        mine = dict(getattr(model, "config", {}) or {})
        if saved and mine and saved != mine:
            raise ValueError(
                f"checkpoint {str(path)!r} holds a {saved} but the model is a {mine}. "
                f"Build the model with the checkpoint's sizes before loading."
            )
        try:
            model.load_state_dict(payload["model_state"])
        except RuntimeError as err:
            raise ValueError(
                f"checkpoint {str(path)!r} does not fit this model's layers: {str(err).splitlines()[0]} "
                f"Build the model with the same sizes as when it was saved."
            ) from err
    if optimizer is not None and payload.get("optimizer_state") is not None:
        optimizer.load_state_dict(payload["optimizer_state"])
    history = payload.get("history")
    payload["history"] = History.from_dict(history) if history is not None else None
    return payload


# ---------------------------------------------------------------------------------------------
# fit
# ---------------------------------------------------------------------------------------------


def _check_data(name: str, x, input_dim: int | None = None) -> Tensor:
    if not isinstance(x, Tensor):
        try:
            x = torch.as_tensor(x, dtype=torch.float32)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{name} must be a tensor of shape (N, D); got {type(x).__name__}.") from err
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor; got dtype {x.dtype}. Use {name}.float() / 255 for 8-bit images.")
    if x.dim() != 2 or len(x) == 0:
        raise ValueError(
            f"{name} must have shape (N, D) with N >= 1 (one flattened image per row); got shape "
            f"{tuple(x.shape)}. Flatten images with {name}.reshape(len({name}), -1)."
        )
    if input_dim is not None and x.shape[1] != input_dim:
        raise ValueError(f"{name} must have {input_dim} columns like x_train; got shape {tuple(x.shape)}.")
    lo, hi = x.min().item(), x.max().item()
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} contains NaN or inf values. Clean the data before training.")
    if lo < 0 or hi > 1:
        raise ValueError(
            f"{name} must hold pixel values in [0, 1] (the Bernoulli likelihood's range); got values in "
            f"[{lo:.4g}, {hi:.4g}]. Divide 8-bit images by 255."
        )
    return x


def _positive_int(name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {value!r}.")
    return value


def _params_finite(model: nn.Module) -> Tensor:
    flags = [torch.isfinite(p).all() for p in model.parameters()]
    return torch.stack(flags).all() if flags else torch.tensor(True)


@torch.no_grad()
def _evaluate(model: nn.Module, x: Tensor, batch_size: int) -> list[float]:
    was_training = model.training
    model.eval()
    sums = torch.zeros(3, device=x.device)
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size]
        parts = model.loss(xb, beta=1.0)
        sums += torch.stack([parts.loss, parts.recon, parts.kl]).float() * len(xb)
    model.train(was_training)
    return (sums / len(x)).tolist()


def fit(
    model: nn.Module,
    x_train: Tensor,
    *,
    epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    beta=1.0,
    x_val: Tensor | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    progress: bool = True,
    optimizer: torch.optim.Optimizer | None = None,
    grad_clip: float | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    resume: bool = False,
    callback: Callable[[History, nn.Module], bool | None] | None = None,
) -> History:
    """Train ``model`` on ``x_train`` by minibatch Adam on ``model.loss(x, beta)``.

    Each epoch shuffles the data with a generator seeded by ``(seed, epoch)`` (so a run, and a
    resumed run, sees the same batches) and slices it into batches of ``batch_size`` (the last
    may be smaller). The model is trained in place and left on the training device.

    Args:
        model: has ``loss(x, beta=1.0)`` returning ``(loss, recon, kl)`` scalars.
        x_train: training images, shape ``(N, D)``, values in [0, 1].
        epochs: total number of epochs (with ``resume``, including those already done).
        batch_size: images per step.
        lr: Adam's learning rate (ignored if ``optimizer`` is given).
        beta: KL weight: a number, or a schedule called with the progress in epochs (a float),
            e.g. :class:`LinearWarmup` for KL annealing or :class:`Cyclical`.
        x_val: optional validation images ``(M, D)``, evaluated after each epoch at beta = 1.
        device: ``"auto"`` (CUDA, MPS, else CPU) or a device name.
        seed: seeds the shuffling.
        progress: show a ``tqdm.auto`` progress bar, and print a one-line summary at the end
            (it stays readable in a saved notebook, where the bar's widget does not).
        optimizer: use this optimizer instead of a fresh ``Adam(model.parameters(), lr)``.
        grad_clip: if given, clip the gradient norm to this value each step.
        checkpoint: if given, a file written atomically every ``checkpoint_every`` epochs and
            when training ends or stops.
        checkpoint_every: epochs between checkpoints.
        resume: continue from ``checkpoint`` if that file exists (weights, optimizer, history).
        callback: called as ``callback(history, model)`` after each epoch; return True to stop.

    Returns:
        a :class:`History`. Training stops early, keeping usable weights, when the loss or the
        weights become NaN/inf (the weights of the last finite epoch are restored, a
        ``RuntimeWarning`` says so) or on Ctrl-C (the weights trained so far are kept).
    """
    if not hasattr(model, "loss") or not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be an nn.Module with a loss(x, beta) method returning (loss, recon, kl); got "
            f"{type(model).__name__}. See vaelib.models.VAE."
        )
    epochs = _positive_int("epochs", epochs)
    batch_size = _positive_int("batch_size", batch_size)
    checkpoint_every = _positive_int("checkpoint_every", checkpoint_every)
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a finite number > 0 (Adam's step size, e.g. 1e-3); got {lr!r}.")
    if grad_clip is not None and (not isinstance(grad_clip, (int, float)) or not grad_clip > 0):
        raise ValueError(f"grad_clip must be None or a number > 0 (the largest gradient norm); got {grad_clip!r}.")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=PATH (the file to resume from).")
    schedule = _beta_schedule(beta)
    x_train = _check_data("x_train", x_train)
    if x_val is not None:
        x_val = _check_data("x_val", x_val, x_train.shape[1])

    dev = select_device(device)
    model.to(dev)
    model.train()
    x_train = x_train.to(dev, torch.float32)
    x_val = x_val.to(dev, torch.float32) if x_val is not None else None
    if optimizer is None:
        # The fused kernel updates every parameter in one pass: the same Adam, about 10x less
        # time in optimizer.step() for these small models (benchmarks/REPORT.md).
        fused = {"fused": True} if dev.type in ("cpu", "cuda") else {}
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, **fused)

    history = History(device=str(dev))
    if resume and Path(checkpoint).is_file():
        saved = load_checkpoint(checkpoint, model, optimizer)
        if saved["history"] is not None:
            history = saved["history"]
            history.stopped, history.message, history.device = None, "", str(dev)
    first_epoch = len(history)

    n = len(x_train)
    steps_per_epoch = math.ceil(n / batch_size)
    from tqdm.auto import tqdm  # imported here: tqdm.auto inspects the running front end

    bar = tqdm(
        total=epochs * steps_per_epoch,
        initial=first_epoch * steps_per_epoch,
        disable=not progress,
        unit="step",
        desc=f"epoch {min(first_epoch + 1, epochs)}/{epochs}",
        leave=True,
    )
    good_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    epoch = first_epoch
    try:
        for epoch in range(first_epoch, epochs):
            start_time = time.perf_counter()
            bar.set_description(f"epoch {epoch + 1}/{epochs}")
            shuffle = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
            x_epoch = x_train[torch.randperm(n, generator=shuffle).to(dev)]  # (N, D), one gather
            sums = torch.zeros(3, device=dev)  # running sums of loss, recon, kl (on the device)
            diverged = ""
            for step, start in enumerate(range(0, n, batch_size)):
                xb = x_epoch[start : start + batch_size]
                b = float(schedule(epoch + step / steps_per_epoch))
                try:
                    parts = model.loss(xb, beta=b)
                except (ValueError, RuntimeError) as err:
                    # vaelib's samplers and KLs refuse NaN/inf inputs: a diverging model ends here.
                    if _params_finite(model) and "non-finite" not in str(err):
                        raise
                    diverged = f"{type(err).__name__}: {str(err).splitlines()[0]}"
                    break
                optimizer.zero_grad(set_to_none=True)
                parts.loss.backward()
                if grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                optimizer.step()
                sums += torch.stack([parts.loss.detach(), parts.recon.detach(), parts.kl.detach()]).float() * len(xb)
                bar.update(1)
            # The one host sync of the epoch: the sums and the weights' finiteness together.
            summary = torch.cat([sums / n, _params_finite(model).float().reshape(1)]).tolist()
            loss, recon, kl, weights_ok = summary
            if diverged or not (weights_ok == 1.0 and all(map(math.isfinite, (loss, recon, kl)))):
                model.load_state_dict(good_state)
                done = f"epoch {epoch}" if epoch > 0 else "initialisation"
                cause = diverged or f"loss {loss:.4g}, recon {recon:.4g}, kl {kl:.4g}"
                history.stopped = "non-finite"
                history.message = (
                    f"Training stopped in epoch {epoch + 1}: the loss or the weights became NaN/inf "
                    f"({cause}). The weights from the end of {done} were restored. Try a smaller lr "
                    f"(now {optimizer.param_groups[0]['lr']:g}), grad_clip=1.0, or check the inputs."
                )
                warnings.warn(history.message, RuntimeWarning, stacklevel=2)
                break
            good_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            history.epoch.append(epoch + 1)
            history.loss.append(loss)
            history.recon.append(recon)
            history.kl.append(kl)
            history.beta.append(b)
            if x_val is not None:
                val_loss, val_recon, val_kl = _evaluate(model, x_val, max(batch_size, 1024))
                history.val_loss.append(val_loss)
                history.val_recon.append(val_recon)
                history.val_kl.append(val_kl)
            history.seconds.append(time.perf_counter() - start_time)
            postfix = {"loss": f"{loss:.4g}", "recon": f"{recon:.4g}", "kl": f"{kl:.3g}"}
            if x_val is not None:
                postfix["val"] = f"{history.val_loss[-1]:.4g}"
            bar.set_postfix(postfix, refresh=False)
            if checkpoint is not None and (epoch + 1) % checkpoint_every == 0:
                save_checkpoint(checkpoint, model, optimizer, history)
            if callback is not None and callback(history, model):
                history.stopped = "callback"
                history.message = f"Training stopped by the callback after epoch {epoch + 1}."
                break
    except KeyboardInterrupt:
        if not bool(_params_finite(model)):
            model.load_state_dict(good_state)
        history.stopped = "interrupted"
        history.message = (
            f"Training interrupted (Ctrl-C) during epoch {epoch + 1} of {epochs}; keeping the weights "
            f"trained so far ({len(history)} complete epochs recorded in the history)."
        )
        bar.write(history.message)
    finally:
        bar.close()
    if checkpoint is not None:
        save_checkpoint(checkpoint, model, optimizer, history)
    if progress and len(history):
        # One line that stays readable where the progress bar does not (a saved notebook).
        summary = (
            f"fit: {len(history)} epochs in {sum(history.seconds):.1f} s on {dev}; last epoch: loss "
            f"{history.loss[-1]:.2f} (recon {history.recon[-1]:.2f}, kl {history.kl[-1]:.2f})"
        )
        if history.val_loss:
            summary += f"; validation loss {history.val_loss[-1]:.2f}"
        print(summary)
    return history
