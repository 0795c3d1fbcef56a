"""One call of :func:`vaelib.train.fit`, in the pieces a reader can hold one at a time.

- :class:`Settings`: fit's arguments, validated (by ``vaelib.train``);
- :meth:`Run.train_epoch`: one pass over the shuffled data, the losses summed on the device;
- :meth:`Run.guard`: the non-finite guard, the epoch's one host sync (losses and weights together),
  which rolls a diverged epoch back to the last :class:`Snapshot` and says why;
- :meth:`Run.record`: the :class:`History` row (and the validation loss, if a validation set is given);
- :meth:`Run.save` / :meth:`Run.resume`: the checkpoint (weights, Adam's moments, history, noise);
- :meth:`Run.interrupted`: Ctrl-C rolled back to the last complete epoch.

:func:`vaelib.train.fit` validates its arguments and data, builds a :class:`Run` and calls
:meth:`Run.train`; nothing here is needed by a user of ``fit``.
"""

from __future__ import annotations

import copy
import inspect
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from vaelib import _validate
from vaelib.checkpoint import load_checkpoint, save_checkpoint, state_is_finite
from vaelib.history import History, TrainingInterrupted
from vaelib.progress import progress_bar

__all__ = ["Settings", "Snapshot", "Run", "loss_keywords", "evaluate", "stream_seed", "format_lrs"]


@dataclass
class Settings:
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


def loss_keywords(model: nn.Module, generator: torch.Generator) -> dict:
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
def evaluate(model: nn.Module, x: Tensor, batch_size: int, keywords: dict) -> list[float]:
    was_training = model.training
    model.eval()
    sums = torch.zeros(3, device=x.device)
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size]
        parts = model.loss(xb, beta=1.0, **keywords)
        sums += torch.stack([parts.loss, parts.recon, parts.kl]).float() * len(xb)
    model.train(was_training)
    return (sums / len(x)).tolist()


def stream_seed(seed: int, stream: int) -> int:
    """Independent seeds for the shuffle of each epoch (stream = epoch) and the noise (stream < 0)."""
    return (seed * 1_000_003 + stream) % (2**63)


# ---------------------------------------------------------------------------------------------
# fit: the run (epoch, record, non-finite guard, snapshot, checkpoint)
# ---------------------------------------------------------------------------------------------


def _clone_tree(obj):
    """A copy of an optimizer's state dict that shares no tensor with it: the tensors cloned, the
    dicts, lists and tuples rebuilt, anything else deep-copied. The result equals
    ``copy.deepcopy(obj)``; it is taken after every epoch (the roll-back point), and deepcopy's
    per-object bookkeeping made it a quarter of a 600-epoch full-batch run (lecture 04)."""
    if isinstance(obj, Tensor):
        return obj.detach().clone()
    if type(obj) is dict:
        return {key: _clone_tree(value) for key, value in obj.items()}
    if type(obj) in (list, tuple):
        return type(obj)(_clone_tree(value) for value in obj)
    return copy.deepcopy(obj)


@dataclass
class Snapshot:
    """Everything a roll-back restores: weights, optimizer state, noise state, epochs recorded."""

    model: dict
    optimizer: dict
    noise: Tensor
    epochs: int

    @classmethod
    def take(cls, run: "Run") -> "Snapshot":
        return cls(
            {k: v.detach().clone() for k, v in run.model.state_dict().items()},
            _clone_tree(run.optimizer.state_dict()),
            run.noise.get_state(),
            len(run.history),
        )

    def restore(self, run: "Run") -> None:
        run.model.load_state_dict(self.model)
        run.optimizer.load_state_dict(_clone_tree(self.optimizer))  # the snapshot stays intact
        run.noise.set_state(self.noise)
        run.history.truncate(self.epochs)


class Run:
    """One call of fit: the model, its optimizer and noise generator, the data and the history."""

    def __init__(self, model, x, x_val, settings: Settings, device, optimizer):
        self.model, self.x, self.x_val, self.s, self.device = model, x, x_val, settings, device
        if optimizer is None:
            # The fused kernel updates every parameter in one pass: the same Adam, about 10x less
            # time in optimizer.step() for these small models (benchmarks/REPORT.md).
            fused = {"fused": True} if device.type in ("cpu", "cuda") else {}
            optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, **fused)
        self.optimizer = optimizer
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]  # this call's step sizes
        self.noise = torch.Generator(device=device).manual_seed(stream_seed(settings.seed, -1))
        self.keywords = loss_keywords(model, self.noise)
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
            note += f", with lr {format_lrs(self.base_lrs)} (the checkpoint's run used {format_lrs(state['lrs'])})"
        if state.get("noise_device") == self.device.type:
            self.noise.set_state(state["noise_state"])
        else:
            note += "; the noise stream restarts (the checkpoint has none for this device), so the run is not bit-exact"
        self.notes.append(note)

    def train_epoch(self, epoch: int) -> tuple[Tensor, str, float]:
        """One pass over the shuffled data. Returns (sums of loss, recon, kl on the device, why it diverged, last beta)."""
        s, n = self.s, len(self.x)
        shuffle = torch.Generator().manual_seed(stream_seed(s.seed, epoch))
        # (N, ...), one gather; index_select copies rows about 3x faster than x[perm] on a CPU, same values
        x_epoch = self.x.index_select(0, torch.randperm(n, generator=shuffle).to(self.device))
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
            f"smaller lr (now {format_lrs(self.base_lrs)}), grad_clip=1.0, or check the inputs; "
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
            val_generator = torch.Generator(device=self.device).manual_seed(stream_seed(self.s.seed, -2 - epoch))
            keywords = {**self.keywords, **({"generator": val_generator} if "generator" in self.keywords else {})}
            val = evaluate(self.model, self.x_val, max(self.s.batch_size, 1024), keywords)
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
        self.snapshot = Snapshot.take(self)
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
        self.snapshot = Snapshot.take(self)
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


def format_lrs(lrs) -> str:
    return " / ".join(f"{float(v):g}" for v in lrs)
