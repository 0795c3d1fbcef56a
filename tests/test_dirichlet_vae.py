"""Tests of vaelib.dirichlet_vae: the model's protocol, its loss against torch's Dirichlet,
and the collapsing measurements on hand-built decoders."""

import math

import pytest
import torch
from torch.distributions import Dirichlet, kl_divergence

from vaelib import dirichlet_vae
from vaelib.dirichlet_vae import DirichletVAE
from vaelib.models import VAE
from vaelib.train import fit


def images(n=64, seed=0):
    return (torch.rand(n, 12, generator=torch.Generator().manual_seed(seed)) > 0.5).float()


def test_shapes_and_simplex():
    model = DirichletVAE(12, 5, [8])
    x = images()
    alpha = model.encode(x)
    assert alpha.shape == (64, 5) and (alpha > 0).all()
    z = model.embed(x)
    assert torch.allclose(z.sum(-1), torch.ones(64), atol=1e-6)
    assert model.decode(z).shape == (64, 12)
    assert model.sample(3).shape == (3, 12)
    assert model.reconstruct(x).shape == (64, 12)
    assert model.config["sampler"] == "implicit"


def test_loss_parts_match_torch():
    torch.manual_seed(0)
    model = DirichletVAE(12, 5, [8], prior_concentration=0.5)
    x = images()
    parts = model.loss(x, beta=0.3)
    alpha = model.encode(x)
    expected_kl = kl_divergence(Dirichlet(alpha), Dirichlet(torch.full((5,), 0.5))).mean()
    assert torch.allclose(parts.kl, expected_kl)
    assert torch.allclose(parts.loss, parts.recon + 0.3 * parts.kl)
    parts.loss.backward()  # implicit reparameterization: gradients reach the encoder
    assert model.encoder[0].weight.grad.abs().sum() > 0


def test_elbo_is_seeded_and_does_not_touch_the_global_rng():
    model = DirichletVAE(12, 5, [8])
    x = images()
    state = torch.get_rng_state()
    a, b = model.elbo(x, samples=3, seed=4), model.elbo(x, samples=3, seed=4)
    assert torch.equal(a, b) and a.shape == (64,)
    assert torch.equal(state, torch.get_rng_state())


def test_approx_sampler_trains_and_is_on_the_simplex():
    torch.manual_seed(0)
    model = DirichletVAE(12, 5, [8], sampler="approx")
    z = model.rsample(torch.full((4, 5), 0.3))
    assert torch.allclose(z.sum(-1), torch.ones(4), atol=1e-6)
    history = fit(model, images(), epochs=2, progress=False)
    assert len(history) == 2


def test_fit_improves_the_loss():
    torch.manual_seed(0)
    model = DirichletVAE(12, 4, [16])
    x = images(256)
    before = model.loss(x).loss.item()
    fit(model, x, epochs=15, lr=1e-2, progress=False)
    assert model.loss(x).loss.item() < before


def test_decoder_column_norms_on_a_hand_built_decoder():
    model = VAE(6, 3, [4])
    with torch.no_grad():
        model.decoder[0].weight.copy_(torch.tensor([[3.0, 0.0, 1.0]] * 4))
    assert torch.allclose(dirichlet_vae.decoder_column_norms(model), torch.tensor([6.0, 0.0, 2.0]))
    with pytest.raises(TypeError, match="decoder"):
        dirichlet_vae.decoder_column_norms(torch.nn.Linear(2, 2))


def test_activity_and_mean_value():
    model = DirichletVAE(12, 5, [8])
    x = images()
    act = dirichlet_vae.posterior_mean_activity(model, x)
    assert torch.allclose(act, model.embed(x).var(0, unbiased=False))
    assert math.isclose(dirichlet_vae.mean_latent_value(model, x).sum().item(), 1.0, rel_tol=1e-5)
    with pytest.raises(ValueError, match="at least 2 images"):
        dirichlet_vae.posterior_mean_activity(model, x[:1])
    with pytest.raises(TypeError, match="DirichletVAE"):
        dirichlet_vae.mean_latent_value(VAE(12, 5, [8]), x)


def test_bad_arguments():
    with pytest.raises(ValueError, match="latent_dim must be an integer >= 2"):
        DirichletVAE(12, 1, [8])
    with pytest.raises(ValueError, match="sampler must be one of"):
        DirichletVAE(12, 3, [8], sampler="exact")
    with pytest.raises(ValueError, match="prior_concentration"):
        DirichletVAE(12, 3, [8], prior_concentration=0.0)
    with pytest.raises(ValueError, match="beta"):
        DirichletVAE(12, 3, [8]).loss(images(), beta=-1.0)
    with pytest.raises(ValueError, match="z must have shape"):
        DirichletVAE(12, 3, [8]).decode(torch.zeros(2, 4))
