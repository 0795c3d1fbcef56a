"""vaelib.pretrained: the retrain command at tiny size, checksum-verified loading, the shipped files."""

from __future__ import annotations

import json

import pytest
import torch

from vaelib import pretrained
from vaelib.judge import DigitJudge
from vaelib.models import VAE, Autoencoder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("weights")
    assert pretrained.main(["--retrain", "--tiny", "--out", str(out)]) == 0
    return out


def test_the_tiny_retrain_writes_loadable_models_with_their_checksums(tiny):
    manifest = json.loads((tiny / "manifest.json").read_text())
    assert set(manifest["models"]) == set(pretrained.TINY) and manifest["torch"] == torch.__version__
    for name, entry in manifest["models"].items():
        assert pretrained.sha256(tiny / entry["file"]) == entry["sha256"]
    ae, vae, judge = (pretrained.load(n, tiny) for n in ("ae2", "vae2", "judge"))
    assert isinstance(ae, Autoencoder) and isinstance(vae, VAE) and isinstance(judge, DigitJudge)
    assert vae.latent_dim == 2 and vae.hidden_dims == (16,) and not vae.training
    assert next(vae.parameters()).dtype == torch.float32
    assert vae.decode_mean(torch.zeros(1, 2)).shape == (1, 784)
    assert pretrained.verify(tiny) == dict.fromkeys(pretrained.TINY, True)


def test_the_retrain_is_bitwise_reproducible(tiny, tmp_path):
    again = pretrained.retrain(tmp_path, recipes={"vae2": pretrained.TINY["vae2"]}, log=None)
    first = json.loads((tiny / "manifest.json").read_text())
    assert again["models"]["vae2"]["sha256"] == first["models"]["vae2"]["sha256"]


def test_a_changed_file_is_refused(tiny, tmp_path):
    for f in tiny.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    data = bytearray((tmp_path / "ae2.pt").read_bytes())
    data[-100] ^= 1
    (tmp_path / "ae2.pt").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256 .* is corrupt or was replaced"):
        pretrained.load("ae2", tmp_path)
    assert pretrained.verify(tmp_path)["ae2"] is False
    assert pretrained.main(["--verify", "--out", str(tmp_path)]) == 1
    with pytest.raises(KeyError, match="name must be one of"):
        pretrained.load("vae16", tmp_path)
    with pytest.raises(FileNotFoundError, match="--retrain"):
        pretrained.load("ae2", tmp_path / "missing")


def test_tiny_refuses_to_overwrite_the_shipped_weights():
    with pytest.raises(SystemExit):
        pretrained.main(["--retrain", "--tiny"])


def test_the_shipped_weights_load_and_match_their_manifest():
    if not (pretrained.WEIGHTS_DIR / "manifest.json").is_file():
        pytest.fail("vaelib/weights/manifest.json is missing: run `python -m vaelib.pretrained --retrain`")
    assert all(pretrained.verify().values())
    total = sum(f.stat().st_size for f in pretrained.WEIGHTS_DIR.iterdir())
    # small enough to ship in the package: 6.6 MB, the two 2-d models and six 16-d ones in float16, and the judge
    assert total < 7_000_000
    assert set(pretrained.verify()) == set(pretrained.RECIPES)
    for name in ("judge", "ae2", "vae2"):
        pretrained.load(name)


@pytest.mark.parametrize("name", [n for n, r in pretrained.RECIPES.items() if isinstance(r, pretrained.FitRecipe)])
def test_a_shipped_fit_model_comes_with_the_history_of_its_recipe(name):
    recipe = pretrained.RECIPES[name]
    model, history = pretrained.load_with_history(name)
    assert isinstance(model, (VAE, Autoencoder)) and not model.training
    assert type(model).__name__ == recipe.kind and model.latent_dim == recipe.latent_dim
    assert len(history) == recipe.epochs and history.stopped is None
    assert (len(history.val_loss) == recipe.epochs) == recipe.validate
    if recipe.warmup_epochs is not None:  # the ramp went from near 0 to 1
        assert history.beta[0] < 0.2 and history.beta[-1] == 1.0
    else:
        assert set(history.beta) == {recipe.beta}
    assert f"epochs={recipe.epochs}," in recipe.call() and recipe.kind in recipe.call()


def test_the_shipped_beta784_model_is_what_its_recipe_trains():
    """Retrain the cheapest shipped fit model (5 epochs) and compare: bit for bit on the CPU that wrote the
    files; on another one, floating-point kernels differ, so the per-epoch losses must agree within 1%."""
    from vaelib.data import load_mnist

    (x_train, _), (x_test, _) = load_mnist()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, history = pretrained.train_fit_model(pretrained.RECIPES["vae16_beta784"], x_train, x_test)
    finally:
        torch.set_num_threads(threads)
    shipped_model, shipped = pretrained.load_with_history("vae16_beta784")
    for ours, theirs in zip(history.loss + history.val_loss, shipped.loss + shipped.val_loss):
        assert abs(ours - theirs) < 0.01 * abs(theirs)
    half = {k: v.half().float() for k, v in model.state_dict().items()}
    worst = max((half[k] - v).abs().max().item() for k, v in shipped_model.state_dict().items())
    assert worst < 0.05  # the same weights up to float16 rounding (or a few Adam steps' drift on another CPU)


def test_a_fit_recipe_is_the_fit_call_it_prints(tiny):
    from vaelib.data import load_mnist
    from vaelib.free_bits import FreeBitsVAE
    from vaelib.train import LinearWarmup, fit

    (x_train, _), (x_test, _) = load_mnist()
    x_train, x_test = (x_train[:200] > 0.5).float(), (x_test > 0.5).float()
    torch.manual_seed(0)
    warm = VAE(784, 16, [16])
    expected_warm = fit(
        warm, x_train, epochs=2, lr=3e-3, beta=LinearWarmup(epochs=1), x_val=x_test, seed=0, progress=False
    )
    torch.manual_seed(0)
    free = VAE(784, 16, [16])
    expected_free = fit(
        FreeBitsVAE(free, allowance=0.25), x_train, epochs=2, lr=3e-3, beta=16.0, seed=0, progress=False
    )
    for name, model, expected in (("vae16_warmup", warm, expected_warm), ("vae16_free_bits", free, expected_free)):
        loaded, history = pretrained.load_with_history(name, tiny)
        assert history.loss == expected.loss and history.val_loss == expected.val_loss
        for key, value in model.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value.half().float())
    assert pretrained.TINY["vae16_warmup"].call() == (
        "torch.manual_seed(0); fit(VAE(784, 16, [16]), x_train, epochs=2, lr=0.003, beta=LinearWarmup(epochs=1), "
        "x_val=x_test, seed=0)"
    )
    assert pretrained.TINY["vae16_free_bits"].call() == (
        "torch.manual_seed(0); fit(FreeBitsVAE(VAE(784, 16, [16]), allowance=0.25), x_train, epochs=2, lr=0.003, "
        "beta=16, seed=0)"
    )


def test_only_retrains_the_named_models_and_keeps_the_others(tiny, tmp_path):
    for f in tiny.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    before = json.loads((tiny / "manifest.json").read_text())["models"]
    (tmp_path / "vae2.pt").write_bytes(b"stale")
    assert pretrained.main(["--retrain", "--tiny", "--out", str(tmp_path), "--only", "vae2"]) == 0
    after = json.loads((tmp_path / "manifest.json").read_text())["models"]
    assert after == before  # vae2 retrained to the same bits, every other entry kept
    assert pretrained.verify(tmp_path) == dict.fromkeys(pretrained.TINY, True)
    with pytest.raises(SystemExit):
        pretrained.main(["--retrain", "--tiny", "--out", str(tmp_path), "--only", "vae16"])
    with pytest.raises(KeyError, match="only must name models"):
        pretrained.retrain(tmp_path, recipes=pretrained.TINY, only=["nope"], log=None)


def test_a_model_without_a_history_and_bad_recipes_are_refused(tiny):
    with pytest.raises(ValueError, match="no history: load it with pretrained.load"):
        pretrained.load_with_history("ae2", tiny)
    assert pretrained.load("vae16_warmup", tiny).hidden_dims == (16,)  # load works for both kinds
    with pytest.raises(ValueError, match="kind must be"):
        pretrained.FitRecipe("judge", epochs=1)
    with pytest.raises(ValueError, match="no KL term"):
        pretrained.FitRecipe("Autoencoder", epochs=1, beta=4.0)
    with pytest.raises(ValueError, match="leave beta at 1"):
        pretrained.FitRecipe("VAE", epochs=1, beta=4.0, warmup_epochs=2)
    with pytest.raises(ValueError, match="pass x_val"):
        pretrained.train_fit_model(pretrained.TINY["vae16_warmup"], torch.zeros(4, 784))
