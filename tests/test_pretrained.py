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
    assert set(manifest["models"]) == {"judge", "ae2", "vae2"} and manifest["torch"] == torch.__version__
    for name, entry in manifest["models"].items():
        assert pretrained.sha256(tiny / entry["file"]) == entry["sha256"]
    ae, vae, judge = (pretrained.load(n, tiny) for n in ("ae2", "vae2", "judge"))
    assert isinstance(ae, Autoencoder) and isinstance(vae, VAE) and isinstance(judge, DigitJudge)
    assert vae.latent_dim == 2 and vae.hidden_dims == (16,) and not vae.training
    assert next(vae.parameters()).dtype == torch.float32
    assert vae.decode_mean(torch.zeros(1, 2)).shape == (1, 784)
    assert pretrained.verify(tiny) == {"judge": True, "ae2": True, "vae2": True}


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
    assert total < 2_000_000  # small enough to ship in the package (1.7 MB: two 2-d models in float16 and the judge)
    for name in ("judge", "ae2", "vae2"):
        pretrained.load(name)
