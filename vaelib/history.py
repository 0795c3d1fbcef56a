"""What ``fit`` records (:class:`History`), and the exception an interrupted run raises."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass
class History:
    """What ``fit`` records, one entry per completed epoch (lists of floats).

    ``loss`` is the objective that was minimised (with the epoch's beta), ``recon`` and ``kl``
    its parts, all averaged over the epoch's training batches. ``val_*`` hold the validation
    set's loss at beta = 1 (the negative ELBO for a VAE) and its parts, or are empty.
    ``stopped`` says why training ended early: ``"interrupted"`` (Ctrl-C or a time limit),
    ``"non-finite"`` (the NaN guard), ``"callback"``, or ``None`` when all epochs ran.
    """

    epoch: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    recon: list = field(default_factory=list)
    kl: list = field(default_factory=list)
    beta: list = field(default_factory=list)  # beta at the last step of the epoch
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

    def truncate(self, n: int) -> None:
        """Keep the first ``n`` epochs of every per-epoch list (a roll-back to epoch ``n``)."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                del value[n:]

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


class TrainingInterrupted(KeyboardInterrupt):
    """``fit`` was interrupted: by Ctrl-C, or by the kernel interrupt that nbval sends to a cell
    that exceeds ``--nbval-cell-timeout``. The two cannot be told apart (both are SIGINT in the
    kernel), so ``fit`` always does the safe thing for both: it rolls the model, the optimizer and
    the noise generator back to the end of the last complete epoch, writes the checkpoint (if
    any), and re-raises. A timed-out cell therefore fails its test, and a user's Ctrl-C loses
    nothing: the model keeps its weights, ``fit(..., resume=True)`` continues exactly, and the
    history so far is ``err.history``::

        try:
            history = fit(model, x, epochs=50, checkpoint="vae.pt")
        except KeyboardInterrupt as err:
            history = err.history

    A subclass of ``KeyboardInterrupt``, so code that catches Ctrl-C still catches it.
    """

    def __init__(self, history: History):
        super().__init__(history.message)
        self.history = history
