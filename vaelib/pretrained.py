"""Small trained weights shipped with vaelib: lecture 05's digit judge and its 2-d AE and VAE.

Introduced in lecture 05. Training a 2-d autoencoder and VAE well enough that the judge
recognises their reconstructions takes a few hundred epochs over the 4000 training digits, and
the judge (a small CNN) about a minute: more than a lecture's budget. So the weights are trained
once, by a committed, deterministic command, and shipped (float16, about 0.5 MB in all)::

    python -m vaelib.pretrained --retrain          # all three, into vaelib/weights/ (a few minutes)
    python -m vaelib.pretrained --retrain --tiny --out DIR   # a seconds-long smoke run
    python -m vaelib.pretrained --verify           # check the shipped files' SHA-256

:func:`load` checks each file's SHA-256 against ``manifest.json`` before reading it with
``torch.load(..., weights_only=True)`` (no code is unpickled), rebuilds the model from the
recorded constructor arguments and returns it in eval mode. On one CPU thread with the pinned
torch the retrain command reproduces the shipped files bit for bit (the manifest records the
torch version that wrote them); on other hardware it gives equally good, not identical, weights.

The recipe (:data:`RECIPES`): Adam with the learning rate falling linearly to 0, batches of 128,
shuffling from a generator seeded by ``(seed, epoch)``, the model's own ``loss(x, beta)`` (the
negative ELBO for the VAE, the reconstruction loss for the AE) on the binarized training digits.
A plain loop rather than :func:`vaelib.train.fit`, on purpose: the shipped files are this
loop's output, bit for bit, and lecture 05 quotes numbers measured on them. ``fit`` with
``lr_schedule=lambda t: 1 - t / epochs`` has the same schedule (its factor at step k is
1 - k / total steps, as here) and the same shuffling (``(seed, epoch)`` streams), but it draws the
VAE's noise from its own checkpointed generator instead of torch's global one and uses the fused
Adam kernel, so it would train different (equally good) weights: new checksums, and lecture 05's
numbers and its sheet re-measured. The judge is a classifier with a cross-entropy loss, not a
model with ``loss(x, beta)``, so it keeps :func:`vaelib.judge.train_judge` in any case.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from vaelib import judge as judge_module
from vaelib._io import atomic_write
from vaelib.models import VAE, Autoencoder

__all__ = ["WEIGHTS_DIR", "Recipe", "RECIPES", "TINY", "train_model", "retrain", "load", "verify", "sha256", "main"]

WEIGHTS_DIR = Path(__file__).with_name("weights")
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Recipe:
    """How one shipped model is built and trained."""

    kind: str  # "judge", "Autoencoder" or "VAE"
    epochs: int
    lr: float
    hidden_dims: tuple[int, ...] = ()
    latent_dim: int = 2
    batch_size: int = 128
    seed: int = 0
    n_train: int | None = None  # train on the first n training digits only (None: all 4000)


RECIPES = {
    "judge": Recipe("judge", epochs=4, lr=2e-3),
    "ae2": Recipe("Autoencoder", epochs=100, lr=2e-3, hidden_dims=(256, 64)),
    "vae2": Recipe("VAE", epochs=100, lr=2e-3, hidden_dims=(256, 64)),
}
TINY = {  # the smoke-test configuration of ``--tiny``: same code path, seconds
    "judge": Recipe("judge", epochs=1, lr=2e-3, n_train=200),
    "ae2": Recipe("Autoencoder", epochs=2, lr=3e-3, hidden_dims=(16,), n_train=200),
    "vae2": Recipe("VAE", epochs=2, lr=3e-3, hidden_dims=(16,), n_train=200),
}


def sha256(path: str | Path) -> str:
    """The SHA-256 hex digest of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _build(recipe: Recipe) -> nn.Module:
    if recipe.kind == "judge":
        return judge_module.DigitJudge()
    cls = {"Autoencoder": Autoencoder, "VAE": VAE}[recipe.kind]
    return cls(784, recipe.latent_dim, list(recipe.hidden_dims))


def train_model(recipe: Recipe, x: Tensor, y: Tensor | None = None, *, log=None) -> nn.Module:
    """Train one model by its recipe, deterministically (seeded weights, noise and shuffling).

    Args:
        recipe: a :class:`Recipe`.
        x: training images ``(N, 784)`` in [0, 1] (grey levels; the AE and VAE binarize them at 0.5).
        y: labels ``(N,)`` (the judge only).
        log: called with a progress line after every 50 epochs (e.g. ``print``), or None.

    Returns:
        the trained model, in eval mode.
    """
    if recipe.n_train is not None:
        x, y = x[: recipe.n_train], (None if y is None else y[: recipe.n_train])
    if recipe.kind == "judge":
        if y is None:
            raise ValueError("y (the labels) is needed to train the judge.")
        return judge_module.train_judge(
            x, y, epochs=recipe.epochs, lr=recipe.lr, seed=recipe.seed, batch_size=recipe.batch_size
        )
    torch.manual_seed(recipe.seed)  # initial weights and the VAE's noise
    model = _build(recipe)
    xb = (x > 0.5).float()
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    steps_per_epoch = -(-len(xb) // recipe.batch_size)
    total = recipe.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / total)
    model.train()
    for epoch in range(recipe.epochs):
        order = torch.randperm(len(xb), generator=torch.Generator().manual_seed(recipe.seed * 1_000_003 + epoch))
        for start in range(0, len(xb), recipe.batch_size):
            loss = model.loss(xb[order[start : start + recipe.batch_size]]).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if log is not None and (epoch + 1) % 50 == 0:
            log(f"  {recipe.kind}: epoch {epoch + 1}/{recipe.epochs}, last batch loss {loss.item():.2f}")
    return model.eval()


def _config(model: nn.Module) -> dict:
    return dict(model.config)


def _state_bytes(model: nn.Module) -> bytes:
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def retrain(out: str | Path = WEIGHTS_DIR, *, recipes: dict | None = None, log=print) -> dict:
    """Train every model of ``recipes`` (default :data:`RECIPES`) and write them with a manifest.

    Uses the offline digits (:func:`vaelib.data.load_mnist`) and one torch thread (restored
    afterwards). Each model is written as ``NAME.pt`` (a float16 state dict, atomically), and
    ``manifest.json`` records for each its SHA-256, constructor arguments and recipe.

    Returns:
        the manifest (a dict).
    """
    from vaelib.data import load_mnist

    recipes = RECIPES if recipes is None else recipes
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (x_train, y_train), _ = load_mnist()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    manifest = {"format": "vaelib-pretrained", "version": 1, "torch": torch.__version__, "models": {}}
    try:
        for name, recipe in recipes.items():
            start = time.perf_counter()
            model = train_model(recipe, x_train, y_train, log=log)
            data = _state_bytes(model)
            atomic_write(out / f"{name}.pt", lambda f: f.write(data))
            manifest["models"][name] = {
                "file": f"{name}.pt",
                "sha256": hashlib.sha256(data).hexdigest(),
                "config": _config(model),
                "recipe": asdict(recipe),
            }
            if log is not None:
                log(
                    f"{name}: trained in {time.perf_counter() - start:.1f} s, {len(data) / 1024:.0f} KiB, "
                    f"sha256 {manifest['models'][name]['sha256'][:16]}..."
                )
    finally:
        torch.set_num_threads(threads)
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    atomic_write(out / MANIFEST, lambda f: f.write(text.encode()))
    return manifest


def _manifest(directory: Path) -> dict:
    path = directory / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"no {MANIFEST} in {directory}: the shipped weights are missing. Recreate them with "
            f"`python -m vaelib.pretrained --retrain` (a few minutes), or reinstall vaelib."
        )
    return json.loads(path.read_text())


def load(name: str, directory: str | Path | None = None) -> nn.Module:
    """Load a shipped model by name (``"judge"``, ``"ae2"``, ``"vae2"``), checksum-verified, in eval mode.

    Args:
        name: a key of the manifest.
        directory: where the weights are (default: vaelib/weights, the shipped ones).

    Returns:
        the model (float32 weights, read from the float16 file).

    Raises:
        KeyError: no such model; ValueError: the file's SHA-256 differs from the manifest's.
    """
    directory = WEIGHTS_DIR if directory is None else Path(directory)
    entries = _manifest(directory)["models"]
    if name not in entries:
        raise KeyError(f"name must be one of {sorted(entries)} (the models in {directory / MANIFEST}); got {name!r}.")
    entry = entries[name]
    path = directory / entry["file"]
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry["sha256"]:
        raise ValueError(
            f"{path} has SHA-256 {digest[:16]}..., but {MANIFEST} expects {entry['sha256'][:16]}...: the file "
            f"is corrupt or was replaced. Retrain with `python -m vaelib.pretrained --retrain`."
        )
    state = torch.load(io.BytesIO(data), weights_only=True)
    model = _build(Recipe(**{**entry["recipe"], "hidden_dims": tuple(entry["recipe"]["hidden_dims"])}))
    if _config(model) != entry["config"]:
        raise ValueError(f"{name}: the recipe builds {_config(model)}, but the file was saved from {entry['config']}.")
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval()


def verify(directory: str | Path | None = None) -> dict[str, bool]:
    """``{name: True if the file's SHA-256 matches the manifest}`` for every shipped model."""
    directory = WEIGHTS_DIR if directory is None else Path(directory)
    entries = _manifest(directory)["models"]
    return {
        n: (directory / e["file"]).is_file() and sha256(directory / e["file"]) == e["sha256"]
        for n, e in entries.items()
    }


def main(argv: list[str] | None = None) -> int:
    """The command line: ``python -m vaelib.pretrained --retrain [--tiny] [--out DIR]`` or ``--verify``."""
    parser = argparse.ArgumentParser(prog="python -m vaelib.pretrained", description=__doc__.split("\n\n")[0])
    parser.add_argument("--retrain", action="store_true", help="train the models and write them with their manifest")
    parser.add_argument("--verify", action="store_true", help="check the files' SHA-256 against the manifest")
    parser.add_argument("--tiny", action="store_true", help="with --retrain: the seconds-long smoke configuration")
    parser.add_argument("--out", default=None, help="the weights folder (default: vaelib/weights)")
    args = parser.parse_args(argv)
    directory = WEIGHTS_DIR if args.out is None else Path(args.out)
    if args.retrain:
        if args.tiny and args.out is None:
            parser.error("--tiny would overwrite the shipped weights: give --out DIR")
        retrain(directory, recipes=TINY if args.tiny else RECIPES)
    if args.verify or not args.retrain:
        result = verify(directory)
        for name, ok in result.items():
            print(f"{name}: {'OK' if ok else 'CHECKSUM MISMATCH'}")
        return 0 if all(result.values()) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
