"""vaelib.train: fit (batches, schedules, history), the NaN guard, Ctrl-C, checkpoints, devices."""

from __future__ import annotations

import math
import os
import pickle

import pytest
import torch
from torch import nn

from vaelib import objectives, train
from vaelib.models import VAE, Autoencoder
from vaelib.train import Cyclical, History, LinearWarmup, fit, load_checkpoint, save_checkpoint, select_device

D = 16


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: a second thread only adds synchronisation (painful on a busy machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


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


def test_fit_learns_and_records_a_history(data):
    torch.manual_seed(0)
    model = VAE(D, 2, [16])
    history = fit(model, data, epochs=8, batch_size=32, lr=1e-2, x_val=data[:50], progress=False)
    assert isinstance(history, History) and len(history) == 8 and history.epoch == list(range(1, 9))
    for key in ("loss", "recon", "kl", "beta", "val_loss", "val_recon", "val_kl", "seconds"):
        assert len(getattr(history, key)) == 8 and all(map(math.isfinite, getattr(history, key)))
    assert history.loss[-1] < 0.7 * history.loss[0]
    assert all(abs(l - (r + k)) < 1e-3 for l, r, k in zip(history.loss, history.recon, history.kl))
    assert history.stopped is None and not history.interrupted and history.device == "cpu"
    assert "8 epochs" in repr(history)


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


def test_linear_warmup_and_cyclical_schedules():
    warm = LinearWarmup(epochs=4, beta=2.0)
    assert [warm(t) for t in (0, 1, 2, 4, 10)] == [0.0, 0.5, 1.0, 2.0, 2.0]
    assert LinearWarmup(epochs=2, beta=1.0, start=0.5)(1) == 0.75
    cyc = Cyclical(period=4, beta=1.0, ramp=0.5)
    assert [cyc(t) for t in (0, 1, 2, 3, 4, 5)] == [0.0, 0.5, 1.0, 1.0, 0.0, 0.5]
    with pytest.raises(ValueError, match="epochs must be a number > 0"):
        LinearWarmup(epochs=0)
    with pytest.raises(ValueError, match="ramp must be in"):
        Cyclical(period=2, ramp=0)


def test_fit_passes_the_scheduled_beta_at_every_step(data):
    rec = Recorder(VAE(D, 2, [8]))
    history = fit(rec, data, epochs=3, batch_size=100, beta=LinearWarmup(epochs=2), progress=False)
    assert rec.betas == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 1.0])  # two steps per epoch
    assert history.beta == pytest.approx([0.25, 0.75, 1.0])
    rec = Recorder(VAE(D, 2, [8]))
    fit(rec, data, epochs=1, batch_size=100, beta=4.0, progress=False)
    assert rec.betas == [4.0, 4.0]


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


def test_nan_guard_stops_and_restores_the_last_good_weights(data):
    torch.manual_seed(0)
    model = Diverging(bad_from=2 * 4 + 2)  # 4 steps per epoch: NaN in the 3rd epoch
    after = {}
    callback = lambda h, m: after.__setitem__(len(h), _state(m))  # noqa: E731
    with pytest.warns(RuntimeWarning, match=r"stopped in epoch 3.*NaN/inf.*end of epoch 2 were restored.*smaller lr"):
        history = fit(model, data, epochs=5, batch_size=50, progress=False, callback=callback)
    assert history.stopped == "non-finite" and len(history) == 2 and "restored" in history.message
    assert _same(_state(model), after[2])
    assert all(torch.isfinite(p).all() for p in model.parameters())


class CheckedVAE(VAE):
    """A VAE whose training loss validates its inputs on every step (VAE.loss does not)."""

    def loss(self, x, beta=1.0):
        return objectives.negative_elbo(self, x, beta=beta, check=True)


def test_nan_guard_catches_the_errors_vaelib_raises_on_non_finite_values(data):
    """vaelib's KL refuses a NaN mean with a ValueError: fit treats it as divergence too."""
    torch.manual_seed(0)
    model = CheckedVAE(D, 2, [8])
    after = {}

    def poison(history, m):
        after[len(history)] = _state(m)
        if len(history) == 1:
            with torch.no_grad():
                m.encoder[0].weight[0, 0] = float("inf")

    with pytest.warns(RuntimeWarning, match=r"epoch 2.*non-finite.*end of epoch 1 were restored"):
        history = fit(model, data, epochs=4, batch_size=50, progress=False, callback=poison)
    assert history.stopped == "non-finite" and len(history) == 1
    assert _same(_state(model), after[1])


def test_other_errors_are_not_swallowed(data):
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def loss(self, x, beta=1.0):
            raise ValueError("a genuine bug")

    with pytest.raises(ValueError, match="a genuine bug"):
        fit(Broken(), data, epochs=1, progress=False)


def test_ctrl_c_in_a_callback_keeps_the_trained_weights(data, capsys):
    torch.manual_seed(0)
    model = VAE(D, 2, [8])
    seen = {}

    def interrupt(history, m):
        seen[len(history)] = _state(m)
        if len(history) == 2:
            raise KeyboardInterrupt

    history = fit(model, data, epochs=5, batch_size=50, progress=False, callback=interrupt)
    assert history.interrupted and history.stopped == "interrupted" and len(history) == 2
    assert _same(_state(model), seen[2])
    assert "interrupted" in capsys.readouterr().out.lower()


def test_ctrl_c_mid_epoch_keeps_the_steps_already_taken(data):
    torch.manual_seed(0)
    inner = VAE(D, 2, [8])
    before = _state(inner)

    class Interrupted(Recorder):
        def loss(self, x, beta=1.0):
            if len(self.batches) == 6:  # during the second epoch (4 steps per epoch)
                raise KeyboardInterrupt
            return super().loss(x, beta)

    model = Interrupted(inner)
    history = fit(model, data, epochs=3, batch_size=50, progress=False)
    assert history.interrupted and len(history) == 1 and "epoch 2 of 3" in history.message
    assert not _same(_state(inner), before)


def test_checkpoint_round_trip(tmp_path, data):
    torch.manual_seed(0)
    model = VAE(D, 2, [8])
    path = tmp_path / "sub" / "vae.pt"
    history = fit(model, data, epochs=2, batch_size=50, progress=False, checkpoint=path)
    assert path.is_file() and os.listdir(path.parent) == ["vae.pt"]  # no temporary file left
    fresh = VAE(D, 2, [8])
    optimizer = torch.optim.Adam(fresh.parameters())
    saved = load_checkpoint(path, fresh, optimizer)
    assert _same(_state(fresh), _state(model))
    assert saved["history"].loss == history.loss and saved["model_config"] == model.config
    assert len(optimizer.state) == len(list(fresh.parameters()))  # Adam's moments came back


def test_resumed_training_equals_uninterrupted_training(tmp_path, data):
    """Same shuffles (seeded by epoch), same Adam state: 2 + 2 epochs == 4 epochs."""
    torch.manual_seed(0)
    straight = Autoencoder(D, 2, [8])
    start = _state(straight)
    full = fit(straight, data, epochs=4, batch_size=50, progress=False)
    path = tmp_path / "ae.pt"
    first = Autoencoder(D, 2, [8])
    first.load_state_dict(start)
    fit(first, data, epochs=2, batch_size=50, progress=False, checkpoint=path)
    second = Autoencoder(D, 2, [8])  # fresh weights, replaced by the checkpoint's
    resumed = fit(second, data, epochs=4, batch_size=50, progress=False, checkpoint=path, resume=True)
    assert resumed.loss == pytest.approx(full.loss, rel=1e-6) and len(resumed) == 4
    for k, v in _state(straight).items():
        assert torch.allclose(_state(second)[k], v, atol=1e-6)


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


def test_checkpoints_are_loaded_with_weights_only(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format": train.CHECKPOINT_FORMAT, "version": 1, "model_state": Payload()}, path, pickle_module=pickle)
    with pytest.raises(ValueError, match="corrupted or is not a checkpoint file"):
        load_checkpoint(path)
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


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(epochs=0), ValueError, "epochs must be an integer >= 1"),
        (dict(epochs=1, batch_size=0), ValueError, "batch_size must be"),
        (dict(epochs=1, lr=-1.0), ValueError, "lr must be a finite number > 0"),
        (dict(epochs=1, beta=-1.0), ValueError, "beta must be a number >= 0 or a schedule"),
        (dict(epochs=1, resume=True), ValueError, "resume=True needs checkpoint"),
        (dict(epochs=1, grad_clip=0), ValueError, "grad_clip must be None"),
        (dict(epochs=1, device="tpu"), ValueError, "device must be"),
    ],
)
def test_bad_arguments_are_refused(data, kwargs, error, message):
    with pytest.raises(error, match=message):
        fit(VAE(D, 2, [8]), data, progress=False, **kwargs)


def test_bad_data_is_refused_with_the_fix(data):
    model = VAE(D, 2, [8])
    with pytest.raises(ValueError, match=r"\[0, 1\].*Divide 8-bit images by 255"):
        fit(model, data * 255, epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"shape \(N, D\).*reshape"):
        fit(model, data.reshape(200, 4, 4), epochs=1, progress=False)
    with pytest.raises(TypeError, match="floating-point"):
        fit(model, data.long(), epochs=1, progress=False)
    with pytest.raises(ValueError, match="NaN or inf"):
        fit(model, data * float("nan"), epochs=1, progress=False)
    with pytest.raises(ValueError, match="x_val must have 16 columns"):
        fit(model, data, x_val=torch.zeros(3, 5), epochs=1, progress=False)
    with pytest.raises(TypeError, match="loss"):
        fit(nn.Linear(2, 2), data, epochs=1, progress=False)


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


def test_history_round_trips_through_a_dict():
    h = History(epoch=[1], loss=[2.0], recon=[1.5], kl=[0.5], beta=[1.0], seconds=[0.1], stopped="callback")
    assert History.from_dict(h.as_dict()) == h


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
