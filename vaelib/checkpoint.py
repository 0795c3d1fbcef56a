"""Checkpoints of a model, its optimizer and ``fit``'s state: written atomically, read safely.

Written to a temporary file and moved into place (``vaelib._io.atomic_write``), refused when the
state holds NaN/inf (a good checkpoint is never overwritten by a diverged one), read back with
``torch.load(weights_only=True)`` (a file that would execute code is refused). Introduced in
lecture 05.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch
from torch import Tensor, nn

from vaelib import _validate
from vaelib._io import atomic_write
from vaelib.history import History

CHECKPOINT_FORMAT = "vaelib-checkpoint"
CHECKPOINT_VERSION = 2  # 2 adds the optimizer's class and fit's state (noise generator, seed, lr)
READABLE_VERSIONS = (1, 2)


def state_is_finite(model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> Tensor:
    """A 0-d bool tensor (no host sync): are all of ``model``'s parameters and buffers, and all of
    ``optimizer``'s floating-point state (Adam's moments), finite?"""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__} {model!r}"[:200] + ".")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer or None; got {type(optimizer).__name__}.")
    tensors = [t for t in model.state_dict().values() if t.is_floating_point()]
    if optimizer is not None:
        tensors += [
            v for s in optimizer.state.values() for v in s.values() if isinstance(v, Tensor) and v.is_floating_point()
        ]
    if not tensors:
        return torch.tensor(True)
    device = tensors[0].device
    # min and max of each tensor (NaN and inf propagate to them): one pass, ~10x faster than isfinite(t).all()
    extremes = [torch.stack(torch.aminmax(t.detach())).to(device) for t in tensors if t.numel()]
    return torch.isfinite(torch.cat(extremes)).all() if extremes else torch.tensor(True)


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    history: History | None = None,
    *,
    fit_state: dict | None = None,
) -> Path:
    """Write model (and optimizer, history, fit's state) to ``path`` atomically.

    The file is written to a temporary file in the same folder and moved into place with
    ``os.replace``, so an interrupted save never leaves a half-written checkpoint behind. A model
    or optimizer holding NaN/inf is refused (:class:`vaelib._validate.NonFiniteError`): a good
    checkpoint is never overwritten by a diverged one.

    Args:
        path: the file.
        model: its ``state_dict`` and ``config`` (if it has one) are saved.
        optimizer: its ``state_dict`` and class name are saved.
        history: a :class:`History`.
        fit_state: what ``fit`` needs to resume exactly (seed, noise generator state, learning rates).

    Returns:
        the path written.
    """
    path = Path(path)
    if not bool(state_is_finite(model, optimizer)):
        raise _validate.NonFiniteError(
            f"refusing to write checkpoint {str(path)!r}: the model's weights or the optimizer's "
            f"state contain NaN/inf. The file on disk (if any) is kept. Restore good weights first "
            f"(fit does this itself when its NaN guard fires)."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model_config": dict(getattr(model, "config", {}) or {}),
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer_class": type(optimizer).__name__ if optimizer is not None else None,
        "optimizer_state": optimizer.state_dict() if optimizer is not None else None,
        "history": history.as_dict() if history is not None else None,
        "fit_state": fit_state,
    }
    atomic_write(path, lambda f: torch.save(payload, f))
    return path


def _read_payload(path: Path) -> dict:
    """torch.load with weights_only=True, every failure turned into a message that says what to do."""
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {str(path)!r}. Check the path, or train first with fit(..., checkpoint=path)."
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "unsupported global" in str(err).lower():  # torch's weights_only refusal of an object
            raise ValueError(
                f"checkpoint {str(path)!r} was refused for safety: besides tensors and numbers it "
                f"holds Python objects, and unpickling those can run arbitrary code. vaelib never "
                f"writes such objects, so this file was not written by vaelib.train.save_checkpoint "
                f"(or has been altered). Do not load it unless you trust where it came from; save "
                f"the model again with save_checkpoint or fit(..., checkpoint=path)."
            ) from None
        raise _corrupted(path, err) from err
    except Exception as err:
        raise _corrupted(path, err) from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{str(path)!r} is a torch file but not a vaelib checkpoint (no format marker "
            f"{CHECKPOINT_FORMAT!r}). Write checkpoints with vaelib.train.save_checkpoint or fit(..., checkpoint=path)."
        )
    if payload.get("version") not in READABLE_VERSIONS:
        raise ValueError(
            f"checkpoint {str(path)!r} has format version {payload.get('version')!r}; this vaelib reads "
            f"versions {READABLE_VERSIONS}. Train again with this version."
        )
    return payload


def _corrupted(path: Path, err: Exception) -> ValueError:
    first = str(err).splitlines()[0] if str(err) else ""
    return ValueError(
        f"checkpoint {str(path)!r} is corrupted or is not a checkpoint file (torch.load failed: "
        f"{type(err).__name__}: {first}). Delete it and train again, or load an earlier checkpoint."
    )


def _load_model(path: Path, payload: dict, model: nn.Module) -> None:
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


def _load_optimizer(path: Path, payload: dict, optimizer: torch.optim.Optimizer) -> None:
    """Restore the optimizer's state, refusing another kind of optimizer or other parameter shapes."""
    state = payload["optimizer_state"]
    kind = payload.get("optimizer_class")
    if kind is not None and kind != type(optimizer).__name__:
        raise ValueError(
            f"checkpoint {str(path)!r} holds the state of a {kind} optimizer, but the optimizer given "
            f"is a {type(optimizer).__name__}: its moments would be meaningless (or silently missing). "
            f"Pass a {kind}, or load the weights only (load_checkpoint(path, model))."
        )
    sizes = [len(g["params"]) for g in optimizer.param_groups]
    saved_sizes = [len(g["params"]) for g in state["param_groups"]]
    if sizes != saved_sizes:
        raise ValueError(
            f"checkpoint {str(path)!r} holds an optimizer state for other parameters (parameter groups "
            f"of sizes {saved_sizes}; this optimizer's: {sizes}). Build the optimizer over the same "
            f"model, in the same order, as when it was saved."
        )
    params = [p for group in optimizer.param_groups for p in group["params"]]
    saved_ids = [i for group in state["param_groups"] for i in group["params"]]
    for index, param in zip(saved_ids, params):
        for key, value in state["state"].get(index, {}).items():
            if isinstance(value, Tensor) and value.dim() > 0 and value.shape != param.shape:
                raise ValueError(
                    f"checkpoint {str(path)!r} holds optimizer state {key!r} of shape "
                    f"{tuple(value.shape)} for a parameter of shape {tuple(param.shape)}: it was saved "
                    f"for another model. Build the model (and its optimizer) with the checkpoint's sizes."
                )
    try:
        optimizer.load_state_dict(state)
    except (ValueError, KeyError) as err:
        raise ValueError(
            f"checkpoint {str(path)!r} holds an optimizer state for other parameters ({err}). "
            f"Build the optimizer over the same model, in the same order, as when it was saved."
        ) from err


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (``torch.load(weights_only=True)``).

    Args:
        path: the checkpoint file.
        model: if given, its weights are replaced by the checkpoint's (same architecture).
        optimizer: if given, its state is restored too (same class, same parameters).

    Returns:
        the checkpoint: a dict with ``model_config``, ``model_state``, ``optimizer_class``,
        ``optimizer_state``, ``history`` (a :class:`History`, or None) and ``fit_state``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is corrupted, not a vaelib checkpoint, refused for safety (it holds
            code-executing objects), for another architecture, or for another optimizer.
    """
    path = Path(path)
    payload = _read_payload(path)
    if model is not None:
        _load_model(path, payload, model)
    if optimizer is not None and payload.get("optimizer_state") is not None:
        _load_optimizer(path, payload, optimizer)
    history = payload.get("history")
    payload["history"] = History.from_dict(history) if history is not None else None
    payload.setdefault("fit_state", None)
    payload.setdefault("optimizer_class", None)
    return payload
