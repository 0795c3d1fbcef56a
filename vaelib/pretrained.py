"""Small trained weights shipped with vaelib: lecture 05's digit judge, its 2-d AE and VAE, and its 16-d comparison models.

Introduced in lecture 05. Training a 2-d autoencoder and VAE well enough that the judge
recognises their reconstructions takes a few hundred epochs over the 4000 training digits, and
the judge (a small CNN) about a minute: more than a lecture's budget. So the weights are trained
once, by a committed, deterministic command, and shipped (float16)::

    python -m vaelib.pretrained --retrain          # all of them, into vaelib/weights/ (a few minutes)
    python -m vaelib.pretrained --retrain --only ae16,vae16_warmup   # some of them; the others are kept
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

The 16-d models that lecture 05 compares with its own 16-d VAE (the autoencoder of section 4; the
beta = 4, 16 and 784 runs, free bits and KL warm-up of section 5) are different: each is one
:func:`vaelib.train.fit` call, written out by :meth:`FitRecipe.call` (the lecture prints it), and
shipped with the :class:`~vaelib.train.History` that ``fit`` returned, so that the lecture shows
their training curves without spending 12 s of its budget retraining them. :func:`load_with_history`
returns both.
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
from vaelib.history import History
from vaelib.models import VAE, Autoencoder

__all__ = [
    "WEIGHTS_DIR",
    "Recipe",
    "FitRecipe",
    "RECIPES",
    "TINY",
    "train_model",
    "train_fit_model",
    "retrain",
    "load",
    "load_with_history",
    "verify",
    "sha256",
    "main",
]

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


@dataclass(frozen=True)
class FitRecipe:
    """One :func:`vaelib.train.fit` call of lecture 05 on the binarized offline digits (see :meth:`call`).

    ``torch.manual_seed(seed)``, then the model is built, then trained; ``warmup_epochs`` gives
    ``beta=LinearWarmup(epochs=warmup_epochs)`` (then ``beta`` must be 1), ``free_bits`` trains the
    model wrapped in ``FreeBitsVAE(model, allowance=free_bits)``, and ``validate`` passes the 1000
    test digits as ``x_val``.
    """

    kind: str  # "Autoencoder" or "VAE"
    epochs: int
    lr: float = 3e-3
    beta: float = 1.0
    warmup_epochs: int | None = None
    free_bits: float | None = None
    validate: bool = False
    hidden_dims: tuple[int, ...] = (256,)
    latent_dim: int = 16
    seed: int = 0
    n_train: int | None = None  # the first n training digits only (None: all 4000)
    trainer: str = "fit"

    def __post_init__(self):
        if self.kind not in ("Autoencoder", "VAE"):
            raise ValueError(f"kind must be 'Autoencoder' or 'VAE'; got {self.kind!r}.")
        if self.kind == "Autoencoder" and (self.beta != 1.0 or self.warmup_epochs or self.free_bits):
            raise ValueError(
                "an Autoencoder has no KL term: leave beta, warmup_epochs and free_bits at their defaults."
            )
        if self.warmup_epochs is not None and self.beta != 1.0:
            raise ValueError("with warmup_epochs, beta ramps from 0 to 1: leave beta at 1.")

    def call(self) -> str:
        """The lecture's code for this run, e.g. ``fit(VAE(784, 16, [256]), x_train, epochs=8, ...)``."""
        model = f"{self.kind}(784, {self.latent_dim}, {list(self.hidden_dims)})"
        if self.free_bits is not None:
            model = f"FreeBitsVAE({model}, allowance={self.free_bits:g})"
        args = [model, "x_train", f"epochs={self.epochs}", f"lr={self.lr:g}"]
        if self.warmup_epochs is not None:
            args.append(f"beta=LinearWarmup(epochs={self.warmup_epochs})")
        elif self.beta != 1.0:
            args.append(f"beta={self.beta:g}")
        if self.validate:
            args.append("x_val=x_test")
        return f"torch.manual_seed({self.seed}); fit({', '.join(args)}, seed={self.seed})"


RECIPES = {
    "judge": Recipe("judge", epochs=4, lr=2e-3),
    "ae2": Recipe("Autoencoder", epochs=100, lr=2e-3, hidden_dims=(256, 64)),
    "vae2": Recipe("VAE", epochs=100, lr=2e-3, hidden_dims=(256, 64)),
    # lecture 05's 16-d comparison models: each as long as the measurements of its section need
    "ae16": FitRecipe("Autoencoder", epochs=20),
    "vae16_beta4": FitRecipe("VAE", epochs=8, beta=4.0, validate=True),
    "vae16_beta16": FitRecipe("VAE", epochs=8, beta=16.0, validate=True),
    "vae16_beta784": FitRecipe("VAE", epochs=5, beta=784.0, validate=True),
    "vae16_free_bits": FitRecipe("VAE", epochs=8, beta=16.0, free_bits=0.25),
    "vae16_warmup": FitRecipe("VAE", epochs=20, warmup_epochs=10, validate=True),
}
TINY = {  # the smoke-test configuration of ``--tiny``: same code paths, seconds
    "judge": Recipe("judge", epochs=1, lr=2e-3, n_train=200),
    "ae2": Recipe("Autoencoder", epochs=2, lr=3e-3, hidden_dims=(16,), n_train=200),
    "vae2": Recipe("VAE", epochs=2, lr=3e-3, hidden_dims=(16,), n_train=200),
    "vae16_free_bits": FitRecipe("VAE", epochs=2, beta=16.0, free_bits=0.25, hidden_dims=(16,), n_train=200),
    "vae16_warmup": FitRecipe("VAE", epochs=2, warmup_epochs=1, validate=True, hidden_dims=(16,), n_train=200),
}


def sha256(path: str | Path) -> str:
    """The SHA-256 hex digest of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _build(recipe: Recipe | FitRecipe) -> nn.Module:
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


def train_fit_model(recipe: FitRecipe, x: Tensor, x_val: Tensor | None = None) -> tuple[nn.Module, History]:
    """Run the ``fit`` call of a :class:`FitRecipe` (its :meth:`~FitRecipe.call`), with no progress bar.

    Args:
        recipe: a :class:`FitRecipe`.
        x: training images ``(N, 784)`` in [0, 1] (binarized at 0.5 here, as lecture 05 does).
        x_val: the validation images (used if ``recipe.validate``; binarized the same way).

    Returns:
        ``(model, history)``: the trained model in eval mode and what ``fit`` returned.
    """
    from vaelib.free_bits import FreeBitsVAE
    from vaelib.train import LinearWarmup, fit

    if recipe.validate and x_val is None:
        raise ValueError("this recipe validates on the test digits: pass x_val.")
    if recipe.n_train is not None:
        x = x[: recipe.n_train]
    torch.manual_seed(recipe.seed)  # the initial weights (and the global noise FreeBitsVAE draws)
    model = _build(recipe)
    target = model if recipe.free_bits is None else FreeBitsVAE(model, allowance=recipe.free_bits)
    beta = recipe.beta if recipe.warmup_epochs is None else LinearWarmup(epochs=recipe.warmup_epochs)
    history = fit(
        target,
        (x > 0.5).float(),
        epochs=recipe.epochs,
        lr=recipe.lr,
        beta=beta,
        x_val=(x_val > 0.5).float() if recipe.validate else None,
        seed=recipe.seed,
        progress=False,
    )
    return model.eval(), history


def _config(model: nn.Module) -> dict:
    return dict(model.config)


def _state_bytes(model: nn.Module, history: History | None = None) -> bytes:
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    payload = state if history is None else {"state_dict": state, "history": history.as_dict()}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def _check_only(only: list[str], recipes: dict) -> None:
    unknown = sorted(set(only) - set(recipes))
    if unknown:
        raise KeyError(f"only must name models of the recipes, {sorted(recipes)}; got {unknown}.")


def retrain(
    out: str | Path = WEIGHTS_DIR, *, recipes: dict | None = None, only: list[str] | None = None, log=print
) -> dict:
    """Train every model of ``recipes`` (default :data:`RECIPES`) and write them with a manifest.

    Uses the offline digits (:func:`vaelib.data.load_mnist`) and one torch thread (restored
    afterwards). Each model is written as ``NAME.pt`` (a float16 state dict, with the ``fit``
    history for a :class:`FitRecipe`, atomically), and ``manifest.json`` records for each its
    SHA-256, constructor arguments and recipe.

    Args:
        out: the weights folder.
        recipes: ``{name: Recipe or FitRecipe}``.
        only: train just these names of ``recipes`` and keep the other entries of the manifest
            already in ``out`` (None: train all, and write a manifest of exactly these).
        log: called with a line per model (e.g. ``print``), or None.

    Returns:
        the manifest (a dict).
    """
    from vaelib.data import load_mnist

    recipes = RECIPES if recipes is None else recipes
    if only is not None:
        _check_only(only, recipes)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (x_train, y_train), (x_test, _) = load_mnist()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    manifest = {"format": "vaelib-pretrained", "version": 1, "torch": torch.__version__, "models": {}}
    if only is not None:
        kept = _manifest(out)["models"] if (out / MANIFEST).is_file() else {}
        manifest["models"] = {name: entry for name, entry in kept.items() if name not in only}
        recipes = {name: recipes[name] for name in only}
    try:
        for name, recipe in recipes.items():
            start = time.perf_counter()
            if isinstance(recipe, FitRecipe):
                model, history = train_fit_model(recipe, x_train, x_test)
                data = _state_bytes(model, history)
            else:
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
    """Load a shipped model by name (``"judge"``, ``"ae2"``, ``"vae2"``, ``"ae16"``, ...), checksum-verified, in eval mode.

    Args:
        name: a key of the manifest (:data:`RECIPES` lists the shipped ones).
        directory: where the weights are (default: vaelib/weights, the shipped ones).

    Returns:
        the model (float32 weights, read from the float16 file).

    Raises:
        KeyError: no such model; ValueError: the file's SHA-256 differs from the manifest's.
    """
    return _load(name, directory)[0]


def load_with_history(name: str, directory: str | Path | None = None) -> tuple[nn.Module, History]:
    """Load a model trained by a :class:`FitRecipe` and the :class:`~vaelib.train.History` ``fit`` returned.

    Args:
        name: a key of the manifest whose recipe is a ``FitRecipe`` (``"ae16"``, ``"vae16_warmup"``, ...).
        directory: where the weights are (default: vaelib/weights, the shipped ones).

    Returns:
        ``(model, history)``, checksum-verified, the model in eval mode with float32 weights.

    Raises:
        KeyError: no such model; ValueError: the file's SHA-256 differs from the manifest's, or the
        model was not trained by ``fit`` (the judge, ``ae2`` and ``vae2``: use :func:`load`).
    """
    model, history = _load(name, directory)
    if history is None:
        raise ValueError(f"{name} was not trained by fit and has no history: load it with pretrained.load({name!r}).")
    return model, history


def _load(name: str, directory: str | Path | None) -> tuple[nn.Module, History | None]:
    """The checksum-verified model and, for a FitRecipe's file, its history (else None)."""
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
    payload = torch.load(io.BytesIO(data), weights_only=True)
    fields = {**entry["recipe"], "hidden_dims": tuple(entry["recipe"]["hidden_dims"])}
    recipe = FitRecipe(**fields) if fields.get("trainer") == "fit" else Recipe(**fields)
    model = _build(recipe)
    if _config(model) != entry["config"]:
        raise ValueError(f"{name}: the recipe builds {_config(model)}, but the file was saved from {entry['config']}.")
    state, history = (
        (payload["state_dict"], History.from_dict(payload["history"])) if "history" in payload else (payload, None)
    )
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval(), history


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
    parser.add_argument(
        "--only", default=None, help="with --retrain: a comma-separated list of models; the others are kept"
    )
    args = parser.parse_args(argv)
    directory = WEIGHTS_DIR if args.out is None else Path(args.out)
    if args.retrain:
        if args.tiny and args.out is None:
            parser.error("--tiny would overwrite the shipped weights: give --out DIR")
        recipes = TINY if args.tiny else RECIPES
        only = None if args.only is None else [name.strip() for name in args.only.split(",") if name.strip()]
        if only is not None:
            try:
                _check_only(only, recipes)
            except KeyError as err:  # a usage error, reported before anything is trained
                parser.error(f"--only: {err.args[0]}")
        retrain(directory, recipes=recipes, only=only)
    if args.verify or not args.retrain:
        result = verify(directory)
        for name, ok in result.items():
            print(f"{name}: {'OK' if ok else 'CHECKSUM MISMATCH'}")
        return 0 if all(result.values()) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
