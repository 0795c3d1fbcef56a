"""vaelib.models: the MLP autoencoder and VAE (shapes, sizes, the training protocol, errors)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from vaelib import objectives
from vaelib.models import VAE, Autoencoder, ConfiguredModule, latent_path, mlp

D = 12  # tiny "images" keep the tests fast


@pytest.mark.parametrize("hidden", [[], [8], [16, 8]])
@pytest.mark.parametrize("K", [1, 2, 5])
def test_vae_shapes(hidden, K):
    torch.manual_seed(0)
    model = VAE(D, K, hidden)
    x = torch.rand(7, D)
    mu, log_var = model.encode(x)
    assert mu.shape == log_var.shape == (7, K)
    assert model.decode(mu).shape == (7, D)
    logits, mu2, log_var2 = model(x)
    assert logits.shape == (7, D) and torch.equal(mu, mu2) and torch.equal(log_var, log_var2)
    assert model.embed(x).shape == (7, K)
    x_hat = model.reconstruct(x)
    assert x_hat.shape == (7, D) and (x_hat >= 0).all() and (x_hat <= 1).all()


@pytest.mark.parametrize("hidden", [[], [8], [16, 8]])
def test_autoencoder_shapes(hidden):
    model = Autoencoder(D, 3, hidden)
    x = torch.rand(5, D)
    assert model.encode(x).shape == (5, 3)
    assert model(x).shape == (5, D)
    assert torch.equal(model.embed(x), model.encode(x))


def test_sizes_come_from_the_arguments():
    """No magic sizes: one encoder MLP ending in 2K outputs, a mirrored decoder."""
    model = VAE(784, 16, [256, 64])
    linears = [m for m in model.encoder if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 256), (256, 64), (64, 32)]
    linears = [m for m in model.decoder if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(16, 64), (64, 256), (256, 784)]
    assert model.config == {"class": "VAE", "input_dim": 784, "latent_dim": 16, "hidden_dims": [256, 64]}
    assert "latent_dim=16" in repr(model)


def test_mlp_has_no_activation_after_the_last_layer():
    net = mlp([4, 3, 2])
    assert isinstance(net[-1], torch.nn.Linear) and isinstance(net[1], torch.nn.ReLU) and len(net) == 3


def test_mu_and_log_var_are_the_two_halves_of_the_encoder_output():
    model = VAE(D, 3, [8])
    x = torch.rand(4, D)
    h = model.encoder(x)
    mu, log_var = model.encode(x)
    assert torch.equal(mu, h[:, :3]) and torch.equal(log_var, h[:, 3:])


@pytest.mark.parametrize(
    "args, word",
    [
        ((0, 2, [8]), "input_dim"),
        ((D, 1.5, [8]), "latent_dim"),
        ((D, True, [8]), "latent_dim"),
        ((D, 2, 256), "hidden_dims=[256]"),
        ((D, 2, [8, 0]), "hidden_dims"),
    ],
)
@pytest.mark.parametrize("cls", [VAE, Autoencoder])
def test_bad_sizes_are_refused_with_the_fix(cls, args, word):
    with pytest.raises(ValueError, match="must be") as info:
        cls(*args)
    assert word in str(info.value)


@pytest.mark.parametrize("cls", [VAE, Autoencoder])
def test_unflattened_images_are_refused_with_the_fix(cls):
    model = cls(784, 2, [8])
    with pytest.raises(ValueError, match=r"shape \(B, 784\).*got shape \(3, 28, 28\).*reshape"):
        model.encode(torch.rand(3, 28, 28))
    with pytest.raises(TypeError, match="torch.Tensor"):
        model.encode([[0.0] * 784])
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\).*got shape \(3, 5\)"):
        model.decode(torch.zeros(3, 5))


def test_autoencoder_loss_is_the_reconstruction_loss_with_zero_kl():
    torch.manual_seed(0)
    model = Autoencoder(D, 2, [8])
    x = torch.rand(6, D)
    parts = model.loss(x, beta=5.0)  # beta is ignored: there is no KL term
    expected = objectives.bernoulli_nll(model(x), x).mean()
    assert isinstance(parts, objectives.LossParts)
    assert torch.allclose(parts.loss, expected) and torch.allclose(parts.recon, expected)
    assert parts.kl.item() == 0.0


def test_vae_loss_is_negative_elbo():
    torch.manual_seed(0)
    model = VAE(D, 2, [8])
    x = torch.rand(6, D)
    torch.manual_seed(1)
    parts = model.loss(x, beta=0.5)
    torch.manual_seed(1)
    expected = objectives.negative_elbo(model, x, beta=0.5)
    for a, b in zip(parts, expected):
        assert torch.allclose(a, b)


def test_sample_draws_from_the_prior_and_is_reproducible():
    model = VAE(D, 2, [8])
    a = model.sample(5, generator=torch.Generator().manual_seed(3))
    b = model.sample(5, generator=torch.Generator().manual_seed(3))
    z = torch.randn(5, 2, generator=torch.Generator().manual_seed(3))
    assert a.shape == (5, D) and torch.equal(a, b)
    assert torch.allclose(a, torch.sigmoid(model.decode(z)))
    with pytest.raises(ValueError, match="n must be"):
        model.sample(0)


@pytest.mark.parametrize("cls", [VAE, Autoencoder])
def test_latent_path_is_the_straight_line_between_the_two_codes(cls):
    torch.manual_seed(0)
    model = cls(D, 2, [8])
    x_a, x_b = torch.rand(D), torch.rand(D)
    z, x_hat = latent_path(model, x_a, x_b, steps=5)
    ends = model.embed(torch.stack([x_a, x_b])).detach()
    assert z.shape == (5, 2) and x_hat.shape == (5, D)
    assert torch.allclose(z[0], ends[0]) and torch.allclose(z[-1], ends[1])
    assert torch.allclose(z[2], ends.mean(0), atol=1e-6)
    assert torch.allclose(x_hat, model.decode_mean(z))
    with pytest.raises(ValueError, match="steps must be"):
        latent_path(model, x_a, x_b, steps=1)


def test_nothing_runs_at_import_time():
    """Importing the models loads no data set, no plotting library and draws no random numbers."""
    code = (
        "import sys, torch; s = torch.random.get_rng_state(); import vaelib.models, vaelib.objectives, vaelib.train; "
        "assert torch.equal(s, torch.random.get_rng_state()); "
        "assert 'matplotlib' not in sys.modules and 'vaelib.data' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("cls", [VAE, Autoencoder])
def test_each_model_owns_its_data_contract(cls):
    """check_data (what fit calls once per data set): flattened, non-empty, finite, in [0, 1]."""
    model = cls(D, 2, [8])
    x = torch.rand(6, D)
    assert model.check_data(x, "x_train") is x
    with pytest.raises(ValueError, match=r"x_train must hold values in \[0, 1\].*got values in \[[\d.]+, 2\d\d"):
        model.check_data(255 * x, "x_train")
    with pytest.raises(ValueError, match=r"x_val must have shape \(B, 12\)"):
        model.check_data(x[:, :5], "x_val")
    with pytest.raises(ValueError, match="at least one row"):
        model.check_data(x[:0])
    with pytest.raises(ValueError, match=r"x must hold values in \[0, 1\]"):
        model.loss(255 * x)  # the loss checks by default ...
    assert torch.isfinite(model.loss(x, check=False).loss)  # ... fit's hot path skips it


@pytest.mark.parametrize("cls", [VAE, Autoencoder])
def test_float64_input_to_a_float32_model_says_what_to_do(cls):
    model = cls(D, 2, [8])
    with pytest.raises(
        TypeError,
        match=r"x has dtype torch.float64 but the model's weights are torch.float32.*x.to\(torch.float32\).*model.to\(torch.float64\)",
    ):
        model.encode(torch.rand(3, D, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor of shape \(B, 12\).*torch.as_tensor"):
        model.encode(torch.rand(3, D).numpy())


def test_vae_loss_draws_its_noise_from_the_generator():
    model = VAE(D, 2, [8])
    x = torch.rand(5, D)
    a = model.loss(x, generator=torch.Generator().manual_seed(4))
    b = model.loss(x, generator=torch.Generator().manual_seed(4), check=False)
    c = model.loss(x, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.loss, b.loss) and not torch.equal(a.loss, c.loss)
    ae = Autoencoder(D, 2, [8])
    assert torch.equal(ae.loss(x, generator=torch.Generator()).loss, ae.loss(x).loss)  # no noise: ignored


def test_latent_path_names_the_image_that_is_wrong():
    model = VAE(D, 2, [8])
    with pytest.raises(ValueError, match=r"x_b must be one image of 12 pixels.*got shape \(2, 12\)"):
        latent_path(model, torch.rand(D), torch.rand(2, D))


def test_config_and_repr_come_from_config_fields():
    """models.ConfiguredModule writes config and repr once for every image model (values as before the cut)."""
    from vaelib.categorical_vae import CategoricalVAE
    from vaelib.dirichlet_vae import DirichletVAE

    cases = [
        (Autoencoder(784, 2, (16, 8)), {"latent_dim": 2, "hidden_dims": [16, 8]},
         "input_dim=784, latent_dim=2, hidden_dims=[16, 8]"),
        (CategoricalVAE(784, 3, 4, [16]), {"num_variables": 3, "num_classes": 4, "hidden_dims": [16]},
         "input_dim=784, num_variables=3, num_classes=4, hidden_dims=[16], temperature=1.0, hard=False"),
        (DirichletVAE(784, 5, [16]), {"latent_dim": 5, "prior_concentration": 0.98, "sampler": "implicit"},
         "input_dim=784, latent_dim=5, hidden_dims=[16], prior_concentration=0.98, sampler='implicit'"),
    ]  # fmt: skip
    for model, some, shown in cases:
        assert isinstance(model, ConfiguredModule)
        assert model.config["class"] == type(model).__name__ and model.config["input_dim"] == 784
        assert some.items() <= model.config.items(), model.config
        assert model.extra_repr() == shown
    assert "temperature" not in cases[1][0].config  # an attribute a callback anneals, not a constructor setting
