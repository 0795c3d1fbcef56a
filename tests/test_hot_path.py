"""The training hot path stays free of per-step value checks (issue 10).

Every public entry point of the models validates its input's values (finite, in [0, 1]: one
host sync each); ``fit`` checks the data set once with ``model.check_data`` and then calls
``loss(..., check=False)``, which must not run those checks again. Here the value checks are
replaced by functions that raise, so a check on the hot path fails the test; the checked path
must still refuse bad input by name.
"""

from __future__ import annotations

import pytest
import torch

from vaelib import _validate, categorical_vae, dirichlet_vae, linear_gaussian, meanfield, models, objectives, train


def _models():
    torch.manual_seed(0)
    lgm = linear_gaussian.LinearGaussianModel.random(6, 2, generator=torch.Generator().manual_seed(1))
    return {
        "VAE": models.VAE(6, 2, [4]),
        "Autoencoder": models.Autoencoder(6, 2, [4]),
        "CategoricalVAE": categorical_vae.CategoricalVAE(6, 2, 3, [4]),
        "DirichletVAE": dirichlet_vae.DirichletVAE(6, 3, [4]),
        "GaussianEncoder": meanfield.GaussianEncoder(6, 2, (4,), elbo_fn=lgm.elbo),
    }


def _unchecked_elbo(x, mu, scale_tril):
    """A stand-in ELBO without checks of its own (LinearGaussianModel.elbo validates its inputs on
    every call: that is the model's contract, not the encoder's hot path)."""
    return -0.5 * ((x[:, :2] - mu) ** 2).sum(-1) - scale_tril.pow(2).sum((-2, -1))


def _refuse(*args, **kwargs):
    raise AssertionError("a per-step value check ran on the training hot path")


@pytest.mark.parametrize("name", list(_models()))
def test_loss_with_check_false_runs_no_value_check(name, monkeypatch):
    model = _models()[name]
    if name == "GaussianEncoder":
        model.elbo_fn = _unchecked_elbo
    x = torch.rand(5, 6, generator=torch.Generator().manual_seed(2))
    for module, attr in (
        (objectives, "check_targets"),
        (_validate, "unit_interval"),
        (_validate, "finite"),
        (_validate, "real"),
    ):
        monkeypatch.setattr(module, attr, _refuse)
    parts = model.loss(x, check=False)
    assert torch.isfinite(parts.loss)


@pytest.mark.parametrize("name", list(_models()))
def test_checked_entry_points_refuse_nan_and_out_of_range_by_name(name):
    model = _models()[name]
    x = torch.rand(5, 6, generator=torch.Generator().manual_seed(2))
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="x"):
        model.loss(bad)
    with pytest.raises(ValueError, match="x"):
        model.check_data(bad)
    if name != "GaussianEncoder":  # the encoder's data are any reals; the image models' are pixels
        with pytest.raises(ValueError, match=r"x must hold values in \[0, 1\]"):
            model.encode(x * 255)


@pytest.mark.parametrize("name", list(_models()))
def test_fit_trains_every_model_through_check_data_and_the_unchecked_loss(name):
    model = _models()[name]
    x = torch.rand(8, 6, generator=torch.Generator().manual_seed(3))
    history = train.fit(model, x, epochs=1, batch_size=4, lr=1e-3, device="cpu", progress=False, seed=0)
    assert len(history.loss) == 1 and all(torch.isfinite(torch.tensor(history.loss)))
