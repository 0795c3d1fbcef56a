"""vaelib.train: fit (batches, schedules, history), the NaN guard, Ctrl-C, checkpoints, exact resume."""

from __future__ import annotations

import copy
import math
import os
import pickle
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from vaelib import _validate, checkpoint, objectives, train
from vaelib.models import VAE, Autoencoder
from vaelib.train import (
    CosineDecay,
    Cyclical,
    History,
    LinearWarmup,
    TrainingInterrupted,
    fit,
    load_checkpoint,
    save_checkpoint,
    select_device,
)

D = 16


@pytest.fixture
def data():
    """Two prototype patterns with flipped pixels: a structure a tiny model can learn."""
    g = torch.Generator().manual_seed(0)
    protos = torch.bernoulli(torch.full((2, D), 0.5), generator=g)
    x = protos[torch.arange(200) % 2]
    flip = torch.bernoulli(torch.full_like(x, 0.05), generator=g)
    return (x + flip) % 2


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _max_diff(a, b):
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def _optimizer_tensors(optimizer):
    return [v.clone() for s in optimizer.state.values() for v in s.values() if isinstance(v, torch.Tensor)]


def _vae(seed=0, cls=VAE):
    torch.manual_seed(seed)
    return cls(D, 2, [8])


class Recorder(nn.Module):
    """Wraps a model and records every batch and beta that fit passes to loss()."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.batches, self.betas = [], []

    def loss(self, x, beta=1.0):
        self.batches.append(x.clone())
        self.betas.append(beta)
        return self.model.loss(x, beta)


class Interrupting(nn.Module):
    """Passes fit's noise generator through to a VAE, and raises KeyboardInterrupt at call ``at``."""

    def __init__(self, model, at=None):
        super().__init__()
        self.model, self.at, self.calls = model, at, 0

    def loss(self, x, beta=1.0, *, generator=None):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return self.model.loss(x, beta, generator=generator)


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------


def test_fit_learns_and_records_a_history(data):
    model = _vae()
    history = fit(model, data, epochs=8, batch_size=32, lr=1e-2, x_val=data[:50], progress=False)
    assert isinstance(history, History) and len(history) == 8 and history.epoch == list(range(1, 9))
    for key in ("loss", "recon", "kl", "beta", "val_loss", "val_recon", "val_kl", "seconds"):
        assert len(getattr(history, key)) == 8 and all(map(math.isfinite, getattr(history, key)))
    assert history.loss[-1] < 0.7 * history.loss[0]
    assert all(abs(l - (r + k)) < 1e-3 for l, r, k in zip(history.loss, history.recon, history.kl))
    assert history.stopped is None and not history.interrupted and history.device == "cpu"
    assert "8 epochs" in repr(history)


def test_a_run_is_reproducible_from_its_seed_alone(data):
    """The VAE's noise comes from fit's own generator: the global RNG in between changes nothing."""
    first, second, other = _vae(), _vae(), _vae()
    h1 = fit(first, data, epochs=2, batch_size=50, progress=False, seed=5)
    torch.rand(1000)  # moves the global generator
    h2 = fit(second, data, epochs=2, batch_size=50, progress=False, seed=5)
    h3 = fit(other, data, epochs=2, batch_size=50, progress=False, seed=6)
    assert h1.loss == h2.loss and _same(_state(first), _state(second))
    assert h3.loss != h1.loss


def test_each_epoch_sees_every_example_once_in_a_seeded_order(data):
    rec = Recorder(Autoencoder(D, 2, [8]))
    fit(rec, data, epochs=2, batch_size=64, progress=False, seed=3)
    sizes = [len(b) for b in rec.batches]
    assert sizes == [64, 64, 64, 8] * 2  # slices of one shuffled tensor, the last one smaller
    first, second = torch.cat(rec.batches[:4]), torch.cat(rec.batches[4:])
    key = lambda t: sorted(map(tuple, t.tolist()))  # noqa: E731
    assert key(first) == key(data) == key(second)
    assert not torch.equal(first, second)  # reshuffled each epoch
    rec2 = Recorder(Autoencoder(D, 2, [8]))
    fit(rec2, data, epochs=1, batch_size=64, progress=False, seed=3)
    assert torch.equal(torch.cat(rec2.batches), first)  # the same seed gives the same order


def test_linear_warmup_cyclical_and_cosine_schedules():
    warm = LinearWarmup(epochs=4, beta=2.0)
    assert [warm(t) for t in (0, 1, 2, 4, 10)] == [0.0, 0.5, 1.0, 2.0, 2.0]
    assert LinearWarmup(epochs=2, beta=1.0, start=0.5)(1) == 0.75
    cyc = Cyclical(period=4, beta=1.0, ramp=0.5)
    assert [cyc(t) for t in (0, 1, 2, 3, 4, 5)] == [0.0, 0.5, 1.0, 1.0, 0.0, 0.5]
    cos = CosineDecay(epochs=4)
    assert [cos(t) for t in (0, 2, 4, 9)] == pytest.approx([1.0, 0.5, 0.0, 0.0])
    assert CosineDecay(epochs=2, final=0.1)(2) == pytest.approx(0.1)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: LinearWarmup(epochs=0), "LinearWarmup epochs must be a finite number > 0"),
        (lambda: LinearWarmup(epochs=math.inf), "LinearWarmup epochs must be a finite number"),  # beta 0 for ever
        (lambda: LinearWarmup(epochs=True), "LinearWarmup epochs must be a finite number"),
        (lambda: LinearWarmup(epochs=2, beta=-1), "LinearWarmup beta must be"),
        (lambda: Cyclical(period=2, ramp=0), "Cyclical ramp must be"),
        (lambda: Cyclical(period=2, ramp=1.5), "Cyclical ramp must be in"),
        (lambda: Cyclical(period=math.inf), "Cyclical period must be a finite number"),
        (lambda: Cyclical(period=False), "Cyclical period must be a finite number"),
        (lambda: CosineDecay(epochs=math.inf), "CosineDecay epochs must be a finite number"),
        (lambda: CosineDecay(epochs=2, final=2), "CosineDecay final must be in"),
    ],
)
def test_schedules_refuse_bad_settings(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_fit_passes_the_scheduled_beta_at_every_step(data):
    rec = Recorder(VAE(D, 2, [8]))
    history = fit(rec, data, epochs=3, batch_size=100, beta=LinearWarmup(epochs=2), progress=False)
    assert rec.betas == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 1.0])  # two steps per epoch
    assert history.beta == pytest.approx([0.25, 0.75, 1.0])
    rec = Recorder(VAE(D, 2, [8]))
    fit(rec, data, epochs=1, batch_size=100, beta=4.0, progress=False)
    assert rec.betas == [4.0, 4.0]


def test_cosine_decay_is_torchs_cosine_annealing(data):
    """lr_schedule=CosineDecay(epochs) sets the lr of every step as CosineAnnealingLR(T_max = all steps) does."""
    lrs = []
    opt = torch.optim.Adam(VAE(D, 2, [8]).parameters(), lr=0.1)
    reference = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=3 * 4)
    for _ in range(3 * 4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        reference.step()
    model = VAE(D, 2, [8])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    seen = []

    class Watch(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def loss(self, x, beta=1.0):
            seen.append(optimizer.param_groups[0]["lr"])
            return self.model.loss(x, beta)

    fit(Watch(), data, epochs=3, batch_size=50, optimizer=optimizer, lr_schedule=CosineDecay(3), progress=False)
    assert seen == pytest.approx(lrs, rel=1e-12)


# --------------------------------------------------------------------------------------------
# The NaN guard
# --------------------------------------------------------------------------------------------


class Diverging(nn.Module):
    """A VAE whose loss turns NaN from the ``bad_from``-th call on."""

    def __init__(self, bad_from):
        super().__init__()
        self.model = VAE(D, 2, [8])
        self.calls, self.bad_from = 0, bad_from

    def loss(self, x, beta=1.0):
        self.calls += 1
        parts = self.model.loss(x, beta)
        if self.calls >= self.bad_from:
            nan = parts.loss * float("nan")
            return objectives.LossParts(nan, nan, parts.kl)
        return parts


def test_nan_guard_restores_the_last_good_weights_and_optimizer_state(data):
    torch.manual_seed(0)
    model = Diverging(bad_from=2 * 4 + 2)  # 4 steps per epoch: NaN in the 3rd epoch
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    after = {}
    callback = lambda h, m: after.__setitem__(len(h), (_state(m), _optimizer_tensors(optimizer)))  # noqa: E731
    with pytest.warns(
        RuntimeWarning,
        match=r"stopped in epoch 3.*NaN/inf.*weights and the optimizer state from the end of epoch 2 were restored.*smaller lr",
    ):
        history = fit(model, data, epochs=5, batch_size=50, progress=False, callback=callback, optimizer=optimizer)
    assert history.stopped == "non-finite" and len(history) == 2 and "restored" in history.message
    weights, moments = after[2]
    assert _same(_state(model), weights)
    assert all(torch.equal(a, b) for a, b in zip(_optimizer_tensors(optimizer), moments))  # Adam's moments too
    assert all(torch.isfinite(t).all() for t in _optimizer_tensors(optimizer))


class CheckedVAE(VAE):
    """A VAE whose training loss validates its inputs on every step (VAE.loss inside fit does not)."""

    def loss(self, x, beta=1.0):
        return objectives.negative_elbo(self, x, beta=beta, check=True)


def test_nan_guard_catches_the_errors_vaelib_raises_on_non_finite_values(data):
    """vaelib's KL refuses a NaN mean with a NonFiniteError: fit treats it as divergence too."""
    torch.manual_seed(0)
    model = CheckedVAE(D, 2, [8])
    after = {}

    def poison(history, m):
        after[len(history)] = _state(m)
        if len(history) == 1:
            with torch.no_grad():
                m.encoder[0].weight[0, 0] = float("inf")

    with pytest.warns(RuntimeWarning, match=r"epoch 2.*NonFiniteError.*end of epoch 1 were restored"):
        history = fit(model, data, epochs=4, batch_size=50, progress=False, callback=poison)
    assert history.stopped == "non-finite" and len(history) == 1
    assert _same(_state(model), after[1])


class Raising(nn.Module):
    def __init__(self, error):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.error = error

    def loss(self, x, beta=1.0):
        raise self.error


def test_the_guard_recognises_non_finite_failures_by_type_not_by_wording(data):
    with pytest.warns(RuntimeWarning, match="NonFiniteError: mu went bad"):
        history = fit(Raising(_validate.NonFiniteError("mu went bad")), data, epochs=1, progress=False)
    assert history.stopped == "non-finite"
    with pytest.raises(ValueError, match="non-finite, but a plain ValueError"):
        fit(Raising(ValueError("non-finite, but a plain ValueError")), data, epochs=1, progress=False)


def test_other_errors_are_not_swallowed(data):
    with pytest.raises(ValueError, match="a genuine bug"):
        fit(Raising(ValueError("a genuine bug")), data, epochs=1, progress=False)


def test_a_diverged_run_keeps_its_checkpoint_good_and_resumes_with_a_smaller_lr(tmp_path, data, capsys):
    """Measured: lr=100 diverges in epoch 3; the checkpoint keeps epoch 2 (finite weights and moments);
    resuming with lr=1e-2 finishes and equals a run that used lr=1e-2 throughout."""
    path = tmp_path / "vae.pt"
    model = _vae()
    fit(model, data, epochs=2, batch_size=50, lr=1e-2, progress=False, checkpoint=path)
    good = load_checkpoint(path)["model_state"]
    with pytest.warns(RuntimeWarning, match="stopped in epoch 3.*end of epoch 2 were restored"):
        diverged = fit(model, data, epochs=6, batch_size=50, lr=100.0, progress=False, checkpoint=path, resume=True)
    assert diverged.stopped == "non-finite" and len(diverged) == 2
    saved = load_checkpoint(path)
    assert _same(saved["model_state"], good)  # never overwritten by the diverged state
    moments = [v for s in saved["optimizer_state"]["state"].values() for v in s.values()]
    assert all(torch.isfinite(v).all() for v in moments)
    assert saved["history"].stopped == "non-finite"
    capsys.readouterr()
    recovered = fit(model, data, epochs=6, batch_size=50, lr=1e-2, progress=True, checkpoint=path, resume=True)
    out = capsys.readouterr().out
    assert "resuming from" in out and "after epoch 2 of 6" in out and "NaN/inf" in out
    assert "with lr 0.01 (the checkpoint's run used 100)" in out
    assert recovered.stopped is None and len(recovered) == 6 and recovered.loss[-1] < 0.7 * recovered.loss[0]
    straight = _vae()
    reference = fit(straight, data, epochs=6, batch_size=50, lr=1e-2, progress=False)
    assert _max_diff(_state(model), _state(straight)) < 1e-5
    assert recovered.loss == pytest.approx(reference.loss, rel=1e-5)


def test_resume_uses_this_calls_learning_rate(tmp_path, data):
    path = tmp_path / "vae.pt"
    fit(_vae(), data, epochs=1, batch_size=50, lr=1e-2, progress=False, checkpoint=path)
    fit(_vae(1), data, epochs=2, batch_size=50, lr=1e-4, progress=False, checkpoint=path, resume=True)
    saved = load_checkpoint(path)
    assert saved["optimizer_state"]["param_groups"][0]["lr"] == 1e-4
    assert saved["fit_state"]["lrs"] == [1e-4]


def test_save_checkpoint_refuses_non_finite_state(tmp_path):
    model = Autoencoder(D, 2, [8])
    path = tmp_path / "ae.pt"
    save_checkpoint(path, model)
    good = path.read_bytes()
    with torch.no_grad():
        model.encoder[0].weight[0, 0] = float("nan")
    with pytest.raises(_validate.NonFiniteError, match="refusing to write checkpoint.*is kept"):
        save_checkpoint(path, model)
    assert path.read_bytes() == good


# --------------------------------------------------------------------------------------------
# Ctrl-C and cell time limits
# --------------------------------------------------------------------------------------------


def test_ctrl_c_in_a_callback_rolls_back_to_the_epoch_and_re_raises(data, capsys):
    model = _vae()
    seen = {}

    def interrupt(history, m):
        seen[len(history)] = _state(m)
        if len(history) == 2:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted) as caught:
        fit(model, data, epochs=5, batch_size=50, progress=False, callback=interrupt)
    history = caught.value.history
    assert isinstance(caught.value, KeyboardInterrupt)  # `except KeyboardInterrupt` still catches it
    assert history.interrupted and history.stopped == "interrupted" and len(history) == 2
    assert _same(_state(model), seen[2])
    assert "interrupted after epoch 2 of 5" in capsys.readouterr().out.lower()


def test_ctrl_c_mid_epoch_rolls_back_to_the_epoch_boundary_and_resumes_exactly(tmp_path, data):
    """Measured: interrupted in the middle of epoch 2, then resumed: the VAE equals a 3-epoch run."""
    torch.manual_seed(0)
    start = _state(VAE(D, 2, [8]))
    straight = VAE(D, 2, [8])
    straight.load_state_dict(start)
    full = fit(Interrupting(straight), data, epochs=3, batch_size=50, progress=False)
    after_one = VAE(D, 2, [8])
    after_one.load_state_dict(start)
    fit(Interrupting(after_one), data, epochs=1, batch_size=50, progress=False)

    path = tmp_path / "vae.pt"
    inner = VAE(D, 2, [8])
    inner.load_state_dict(start)
    with pytest.raises(TrainingInterrupted, match="rolled back to the end of epoch 1") as caught:
        fit(Interrupting(inner, at=4 + 2), data, epochs=3, batch_size=50, progress=False, checkpoint=path)
    assert len(caught.value.history) == 1 and "epoch 2 of 3" in caught.value.history.message
    assert _same(_state(inner), _state(after_one))  # the half epoch is undone, in memory ...
    assert load_checkpoint(path)["history"].epoch == [1]  # ... and in the checkpoint
    resumed_inner = VAE(D, 2, [8])
    resumed = fit(
        Interrupting(resumed_inner), data, epochs=3, batch_size=50, progress=False, checkpoint=path, resume=True
    )
    assert _max_diff(_state(resumed_inner), _state(straight)) < 1e-6
    assert resumed.loss == pytest.approx(full.loss, rel=1e-6) and len(resumed) == 3


def test_checkpoint_round_trip(tmp_path, data):
    model = _vae()
    path = tmp_path / "sub" / "vae.pt"
    history = fit(model, data, epochs=2, batch_size=50, progress=False, checkpoint=path)
    assert path.is_file() and os.listdir(path.parent) == ["vae.pt"]  # no temporary file left
    fresh = VAE(D, 2, [8])
    optimizer = torch.optim.Adam(fresh.parameters())
    saved = load_checkpoint(path, fresh, optimizer)
    assert _same(_state(fresh), _state(model))
    assert saved["history"].loss == history.loss and saved["model_config"] == model.config
    assert len(optimizer.state) == len(list(fresh.parameters()))  # Adam's moments came back
    assert saved["optimizer_class"] == "Adam" and saved["fit_state"]["seed"] == 0
    assert isinstance(saved["fit_state"]["noise_state"], torch.Tensor)


@pytest.mark.parametrize("cls", [VAE, Autoencoder])
def test_resumed_training_equals_uninterrupted_training(tmp_path, data, cls):
    """Same shuffles (seeded by epoch), same Adam state, same noise: 2 + 2 epochs == 4 epochs.
    Measured max |difference| of the weights: 0 (bit-identical) on this CPU; asserted < 1e-6."""
    torch.manual_seed(0)
    straight = cls(D, 2, [8])
    start = _state(straight)
    full = fit(straight, data, epochs=4, batch_size=50, progress=False, x_val=data[:30])
    path = tmp_path / "model.pt"
    first = cls(D, 2, [8])
    first.load_state_dict(start)
    fit(first, data, epochs=2, batch_size=50, progress=False, checkpoint=path, x_val=data[:30])
    torch.rand(100)  # the global generator moves in between: irrelevant
    second = cls(D, 2, [8])  # fresh weights, replaced by the checkpoint's
    resumed = fit(second, data, epochs=4, batch_size=50, progress=False, checkpoint=path, resume=True, x_val=data[:30])
    assert resumed.loss == pytest.approx(full.loss, rel=1e-6) and len(resumed) == 4
    assert resumed.val_loss == pytest.approx(full.val_loss, rel=1e-6)
    assert _max_diff(_state(second), _state(straight)) < 1e-6


def test_an_interrupted_save_leaves_the_old_checkpoint_intact(tmp_path, monkeypatch):
    model = Autoencoder(D, 2, [8])
    path = tmp_path / "ae.pt"
    save_checkpoint(path, model)
    good = path.read_bytes()

    def crash(obj, f):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(train.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model)
    assert path.read_bytes() == good and os.listdir(tmp_path) == ["ae.pt"]


def test_corrupted_checkpoints_are_refused_clearly(tmp_path):
    model = Autoencoder(D, 2, [8])
    path = tmp_path / "ae.pt"
    save_checkpoint(path, model)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(os.urandom(256))
    for bad in (truncated, garbage):
        with pytest.raises(ValueError, match=r"corrupted or is not a checkpoint file.*Delete it and train again"):
            load_checkpoint(bad, model)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")


class Payload:
    """Not a tensor: unpickling it would run arbitrary code, so weights_only refuses it."""

    def __reduce__(self):
        return (print, ("this must never run",))


def test_code_executing_checkpoints_are_refused_for_safety(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save(
        {"format": checkpoint.CHECKPOINT_FORMAT, "version": 2, "model_state": Payload()}, path, pickle_module=pickle
    )
    with pytest.raises(ValueError, match="refused for safety.*can run arbitrary code") as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert "corrupted" not in message and "weights_only=False" not in message
    assert "must never run" not in capsys.readouterr().out


def test_foreign_files_and_other_architectures_are_refused(tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ValueError, match="not a vaelib checkpoint"):
        load_checkpoint(other)
    path = tmp_path / "vae.pt"
    save_checkpoint(path, VAE(D, 2, [8]))
    with pytest.raises(ValueError, match="Build the model with the checkpoint's sizes"):
        load_checkpoint(path, VAE(D, 3, [8]))
    small = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="does not fit this model's layers"):
        load_checkpoint(path, small)


def test_an_optimizer_of_another_kind_or_shape_is_refused(tmp_path, data):
    path = tmp_path / "vae.pt"
    fit(_vae(), data, epochs=1, batch_size=50, progress=False, checkpoint=path)
    model = VAE(D, 2, [8])
    with pytest.raises(ValueError, match="state of a Adam optimizer, but the optimizer given is a SGD"):
        load_checkpoint(path, model, torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="SGD"):
        fit(
            model,
            data,
            epochs=2,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            checkpoint=path,
            resume=True,
            progress=False,
        )
    # Same number of tensors, other shapes: the moments of another model.
    twin = VAE(D, 2, [8])
    swapped = [twin.decoder[0].weight, twin.encoder[0].weight] + [
        p for n, p in twin.named_parameters() if n not in ("decoder.0.weight", "encoder.0.weight")
    ]
    with pytest.raises(ValueError, match="optimizer state 'exp_avg' of shape"):
        load_checkpoint(path, None, torch.optim.Adam(swapped))
    with pytest.raises(ValueError, match="optimizer state for other parameters"):
        load_checkpoint(path, None, torch.optim.Adam(twin.encoder.parameters()))


def test_device_selection(monkeypatch):
    assert select_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert select_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="not available on this machine"):
        select_device("cuda")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert select_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device("auto") == torch.device("cuda")
    with pytest.raises(ValueError, match="device must be 'auto'"):
        select_device("gpu please")


# --------------------------------------------------------------------------------------------
# Arguments and data
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(epochs=0), ValueError, "epochs must be an integer >= 1"),
        (dict(epochs=True), ValueError, "epochs must be an integer >= 1"),
        (dict(epochs=1, batch_size=0), ValueError, "batch_size must be"),
        (dict(epochs=1, lr=-1.0), ValueError, "lr must be a finite number > 0"),
        (dict(epochs=1, lr=True), ValueError, "lr must be a finite number > 0"),
        (dict(epochs=1, beta=-1.0), ValueError, "beta must be a number >= 0 or a schedule"),
        (dict(epochs=1, beta=True), ValueError, "beta must be a number >= 0 or a schedule"),
        (dict(epochs=1, resume=True), ValueError, "resume=True needs checkpoint"),
        (dict(epochs=1, grad_clip=0), ValueError, "grad_clip must be a finite number > 0"),
        (dict(epochs=1, grad_clip=True), ValueError, "grad_clip must be a finite number > 0"),
        (dict(epochs=1, grad_clip=math.inf), ValueError, "grad_clip must be a finite number > 0"),
        (dict(epochs=1, seed=-1), ValueError, "seed must be an integer >= 0"),
        (dict(epochs=1, seed=1.5), ValueError, "seed must be an integer >= 0"),
        (dict(epochs=1, resume="yes", checkpoint="x.pt"), TypeError, "resume must be True or False"),
        (dict(epochs=1, lr_schedule=0.5), TypeError, "lr_schedule must be None or a callable"),
        (dict(epochs=1, callback="stop"), TypeError, "callback must be None or a callable"),
        (dict(epochs=1, optimizer="adam"), TypeError, "optimizer must be a torch.optim.Optimizer"),
        (
            dict(epochs=1, optimizer=torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=1)),
            ValueError,
            "optimizer must optimise this model's parameters",
        ),
        (dict(epochs=1, checkpoint=3), TypeError, "checkpoint must be a file path"),
        (dict(epochs=1, device="tpu"), ValueError, "device must be"),
    ],
)
def test_bad_arguments_are_refused(data, kwargs, error, message):
    with pytest.raises(error, match=message):
        fit(VAE(D, 2, [8]), data, progress=False, **kwargs)


def test_bad_data_is_refused_with_the_fix(data):
    model = VAE(D, 2, [8])
    with pytest.raises(
        ValueError, match=r"x_train must hold values in \[0, 1\].*got values in \[0, 255\].*divide 8-bit images by 255"
    ):
        fit(model, data * 255, epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"x_val must hold values in \[0, 1\]"):
        fit(model, data, x_val=data[:5] * 255, epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"x_train must have shape \(B, 16\).*x_train.reshape"):
        fit(model, data.reshape(200, 4, 4), epochs=1, progress=False)
    with pytest.raises(TypeError, match="floating-point.*float\\(\\) / 255"):
        fit(model, data.long(), epochs=1, progress=False)
    with pytest.raises(_validate.NonFiniteError, match="x_train contains 3200 non-finite"):
        fit(model, data * float("nan"), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"x_val must hold examples of the same shape as x_train's, \(16,\)"):
        fit(model, data, x_val=torch.zeros(3, 5), epochs=1, progress=False)
    with pytest.raises(ValueError, match="N >= 1 examples"):
        fit(model, data[:0], epochs=1, progress=False)
    with pytest.raises(TypeError, match="x_train must be a torch.Tensor, a numpy array or a nested list"):
        fit(model, "digits.npy", epochs=1, progress=False)
    with pytest.raises(TypeError, match="loss"):
        fit(nn.Linear(2, 2), data, epochs=1, progress=False)


def test_float64_numpy_lists_and_data_that_requires_grad_are_converted(data):
    """torch.from_numpy gives float64; a float32 model trains on it as on float32 data."""
    reference = fit(_vae(), data, epochs=1, batch_size=50, progress=False)
    for variant in (data.double(), data.numpy().astype(np.float64), data.tolist(), data.clone().requires_grad_(True)):
        model = _vae()
        history = fit(model, variant, epochs=1, batch_size=50, progress=False, x_val=variant)
        assert history.loss == pytest.approx(reference.loss, rel=1e-6)
        assert all(p.dtype == torch.float32 for p in model.parameters())


class Regression(nn.Module):
    """A model with no [0, 1] assumption: Gaussian regression of column 0 on the others."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def loss(self, x, beta=1.0):
        err = ((self.linear(x[:, 1:]).squeeze(1) - x[:, 0]) ** 2).mean()
        return objectives.LossParts(err, err, torch.zeros(()))


def test_fit_is_model_agnostic_the_range_contract_is_the_models(data):
    g = torch.Generator().manual_seed(0)
    features = 100 * torch.randn(300, 3, generator=g)  # far outside [0, 1]
    target = features @ torch.tensor([2.0, -1.0, 0.5])  # (300,)
    x = torch.cat([target.unsqueeze(1), features], dim=1)  # (300, 4)
    history = fit(Regression(), x, epochs=30, batch_size=50, lr=0.05, progress=False)
    assert history.loss[-1] < 1e-2 * history.loss[0]


def test_the_data_contract_is_checked_once_and_the_hot_path_skips_it(data, monkeypatch):
    calls = {"check_data": 0, "check_false": 0, "steps": 0}
    real_check, real_loss = VAE.check_data, VAE.loss

    def counting_check(self, x, name="x"):
        calls["check_data"] += 1
        return real_check(self, x, name)

    def counting_loss(self, x, beta=1.0, *, generator=None, check=True):
        calls["steps"] += 1
        calls["check_false"] += not check
        return real_loss(self, x, beta, generator=generator, check=check)

    monkeypatch.setattr(VAE, "check_data", counting_check)
    monkeypatch.setattr(VAE, "loss", counting_loss)
    fit(VAE(D, 2, [8]), data, epochs=2, batch_size=50, x_val=data[:20], progress=False)
    assert calls["check_data"] == 2  # x_train and x_val, once each
    assert calls["steps"] == 2 * 4 + 2 and calls["check_false"] == calls["steps"]


def test_progress_bar_goes_to_stderr_and_can_be_disabled(data, capsys):
    fit(Autoencoder(D, 2, [8]), data, epochs=2, batch_size=100, progress=True, x_val=data[:10])
    captured = capsys.readouterr()
    assert "epoch 2/2" in captured.err and "4/4" in captured.err
    assert captured.out.startswith("fit: 2 epochs in") and "validation loss" in captured.out
    fit(Autoencoder(D, 2, [8]), data, epochs=2, batch_size=100, progress=False)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_callback_can_stop_training(data):
    history = fit(Autoencoder(D, 2, [8]), data, epochs=5, progress=False, callback=lambda h, m: len(h) == 2)
    assert history.stopped == "callback" and len(history) == 2


def test_history_round_trips_through_a_dict_and_truncates():
    h = History(
        epoch=[1, 2],
        loss=[2.0, 1.0],
        recon=[1.5, 0.8],
        kl=[0.5, 0.2],
        beta=[1.0, 1.0],
        seconds=[0.1, 0.1],
        stopped="callback",
    )
    assert History.from_dict(h.as_dict()) == h
    h.truncate(1)
    assert h.epoch == [1] and h.loss == [2.0] and h.seconds == [0.1] and len(h) == 1


def test_default_optimizer_is_fused_adam_on_cpu(data, monkeypatch):
    """fit's default optimizer is Adam with the fused kernel (one pass over all parameters)."""
    made = []
    real_adam = torch.optim.Adam

    def recording_adam(params, **kwargs):
        made.append(kwargs)
        return real_adam(params, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", recording_adam)
    fit(VAE(D, 2, [8]), data, epochs=1, progress=False)
    assert made == [{"lr": 1e-3, "fused": True}]


def test_no_warnings_in_a_normal_run(data):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(VAE(D, 2, [8]), data, epochs=1, progress=False)


def test_version_1_checkpoints_still_load_and_resume_with_a_note(tmp_path, data, capsys):
    """Checkpoints from before fit saved its noise state: weights, moments and history come back;
    the resume says the noise stream restarts (so it is not bit-exact)."""
    path = tmp_path / "old.pt"
    model = _vae()
    fit(model, data, epochs=1, batch_size=50, progress=False, checkpoint=path)
    payload = torch.load(path, weights_only=True)
    payload["version"] = 1
    del payload["fit_state"], payload["optimizer_class"]
    torch.save(payload, path)
    fresh = VAE(D, 2, [8])
    saved = load_checkpoint(path, fresh, torch.optim.Adam(fresh.parameters()))
    assert _same(_state(fresh), _state(model)) and saved["fit_state"] is None
    history = fit(fresh, data, epochs=2, batch_size=50, progress=False, checkpoint=path, resume=True)
    assert len(history) == 2 and "the noise stream restarts" in capsys.readouterr().out


@pytest.mark.parametrize("make", [lambda p: torch.optim.Adam(p, lr=1e-2, fused=True), lambda p: torch.optim.LBFGS(p)])
def test_the_epochs_snapshot_of_the_optimizer_equals_a_deepcopy_and_shares_no_tensor(make):
    """fit's roll-back point (taken after every epoch) copies the optimizer's state without deepcopy."""
    from vaelib._fit_run import _clone_tree

    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    optimizer = make(net.parameters())

    def closure():
        optimizer.zero_grad()
        loss = net(torch.randn(5, 3)).pow(2).sum()
        loss.backward()
        return loss

    for _ in range(2):
        optimizer.step(closure)
    state = optimizer.state_dict()
    snapshot, reference = _clone_tree(state), copy.deepcopy(state)

    def leaves(tree):
        if isinstance(tree, dict):
            return [(k, *leaf) for k in sorted(tree, key=str) for leaf in leaves(tree[k])]
        if isinstance(tree, (list, tuple)):
            return [(i, *leaf) for i, v in enumerate(tree) for leaf in leaves(v)]
        return [(tree,)]

    ours, theirs = leaves(snapshot), leaves(reference)
    assert len(ours) == len(theirs) > 2
    for a, b in zip(ours, theirs):
        assert a[:-1] == b[:-1] and type(a[-1]) is type(b[-1])
        assert torch.equal(a[-1], b[-1]) if isinstance(a[-1], torch.Tensor) else a[-1] == b[-1]
    originals = {leaf[-1].untyped_storage().data_ptr() for leaf in leaves(state) if isinstance(leaf[-1], torch.Tensor)}
    copies = [leaf[-1] for leaf in ours if isinstance(leaf[-1], torch.Tensor)]
    assert copies and all(t.untyped_storage().data_ptr() not in originals for t in copies)
    optimizer.step(closure)  # the optimizer moves on; the snapshot does not
    assert all(torch.equal(a[-1], b[-1]) for a, b in zip(ours, theirs) if isinstance(a[-1], torch.Tensor))
