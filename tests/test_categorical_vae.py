"""vaelib.categorical_vae: the categorical KL against torch.distributions, the discrete ELBO against
exact enumeration of a tiny model, the relaxed loss against a hand computation, and training by
vaelib.train.fit."""

from __future__ import annotations

import math

import pytest
import torch

from vaelib import objectives, relaxations
from vaelib.categorical_vae import CategoricalVAE, categorical_kl_to_uniform


def test_kl_to_uniform_matches_torch_distributions():
    logits = torch.randn(5, 3, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    q = torch.distributions.Categorical(logits=logits)
    p = torch.distributions.Categorical(probs=torch.full((4,), 0.25, dtype=torch.float64))
    expected = torch.distributions.kl_divergence(q, p).sum(-1)  # (5,)
    torch.testing.assert_close(categorical_kl_to_uniform(logits), expected)


def test_kl_to_uniform_extremes():
    assert categorical_kl_to_uniform(torch.zeros(2, 6, 3)).abs().max() < 1e-6  # q uniform: 0
    sharp = torch.tensor([[[0.0, -math.inf, -math.inf]] * 6])  # q one-hot: N log C
    torch.testing.assert_close(categorical_kl_to_uniform(sharp), torch.tensor([6 * math.log(3)]))


def test_kl_to_uniform_needs_n_and_c():
    with pytest.raises(ValueError, match=r"logits must have at least 2 dimension\(s\) \(\.\.\., N, C\)"):
        categorical_kl_to_uniform(torch.zeros(4))


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return CategoricalVAE(6, num_variables=2, num_classes=3, hidden_dims=[5]).double()


def test_shapes():
    model = tiny_model()
    x = torch.rand(4, 6, dtype=torch.float64)
    assert model.encode(x).shape == (4, 2, 3)
    assert model.decode(torch.zeros(7, 4, 2, 3, dtype=torch.float64)).shape == (7, 4, 6)
    assert model.elbo(x, samples=3).shape == (4,)
    assert model.sample(5).shape == (5, 6) and model.reconstruct(x).shape == (4, 6)
    parts = model.loss(x)
    assert all(t.shape == () for t in parts)


def test_loss_is_recon_of_the_relaxed_sample_plus_beta_kl():
    model = tiny_model()
    x = torch.rand(4, 6, dtype=torch.float64)
    u = torch.rand(4, 2, 3, dtype=torch.float64).clamp(1e-6, 1 - 1e-6)
    parts = model.loss(x, beta=0.5, temperature=0.3, u=u)
    logits = model.encode(x)
    y = relaxations.gumbel_softmax(logits, 0.3, u=u)
    recon = objectives.bernoulli_nll(model.decode(y), x).mean()
    kl = categorical_kl_to_uniform(logits).mean()
    torch.testing.assert_close(parts.recon, recon)
    torch.testing.assert_close(parts.kl, kl)
    torch.testing.assert_close(parts.loss, recon + 0.5 * kl)


def test_loss_gradient_reaches_the_encoder_through_the_relaxed_sample():
    model = tiny_model()
    x = torch.rand(4, 6, dtype=torch.float64)
    model.loss(x, beta=0.0).loss.backward()  # beta = 0: only the reconstruction term
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())


def test_hard_model_feeds_one_hot_latents_to_the_decoder():
    model = tiny_model()
    model.hard = True
    seen = []
    model.decoder.register_forward_hook(lambda m, inp, out: seen.append(inp[0].detach()))
    x = torch.rand(4, 6, dtype=torch.float64)
    model.loss(x).loss.backward()
    assert torch.all((seen[0] == 0) | (seen[0] == 1))
    assert all(p.grad.abs().sum() > 0 for p in model.encoder.parameters())


def exact_log_px_and_elbo(model, x):
    """log p(x) and the ELBO by enumerating all C^N latent values (the oracle)."""
    from vaelib.discrete import one_hot_support

    z = one_hot_support(model.num_variables, model.num_classes).to(torch.float64)  # (M, N, C)
    logits = model.decode(z).unsqueeze(1).expand(len(z), len(x), x.shape[1])  # (M, B, D)
    log_px_z = -objectives.bernoulli_nll(logits, x)  # (M, B)
    log_prior = -model.num_variables * math.log(model.num_classes)
    log_px = torch.logsumexp(log_px_z + log_prior, dim=0)  # (B,)
    log_q = torch.log_softmax(model.encode(x), -1)  # (B, N, C)
    log_qz = torch.einsum("mnc,bnc->mb", z, log_q)  # (M, B)
    elbo = (log_qz.exp() * (log_px_z + log_prior - log_qz)).sum(0)  # (B,)
    return log_px, elbo


def test_elbo_matches_exact_enumeration_and_is_below_log_px():
    model = tiny_model(seed=1)
    x = (torch.rand(3, 6, generator=torch.Generator().manual_seed(2)) > 0.5).double()
    with torch.no_grad():
        log_px, exact_elbo = exact_log_px_and_elbo(model, x)
    assert torch.all(exact_elbo <= log_px + 1e-12)
    n = 20000
    per_sample = model.elbo(x.repeat(n, 1), samples=1, generator=torch.Generator().manual_seed(3)).view(n, 3)
    mean, se = per_sample.mean(0), per_sample.std(0) / math.sqrt(n)
    assert torch.all((mean - exact_elbo).abs() < 4 * se), (mean, exact_elbo, se)


def test_fit_trains_it():
    from vaelib.train import fit

    torch.manual_seed(0)
    x = (torch.rand(256, 20, generator=torch.Generator().manual_seed(4)) > 0.7).float()
    x[:128, :10] = 1.0  # two clusters: a categorical latent can tell them apart
    model = CategoricalVAE(20, num_variables=2, num_classes=4, hidden_dims=[32])
    before = -model.elbo(x, samples=20, generator=torch.Generator().manual_seed(5)).mean().item()
    history = fit(model, x, epochs=15, batch_size=64, lr=3e-3, progress=False)
    after = -model.elbo(x, samples=20, generator=torch.Generator().manual_seed(5)).mean().item()
    assert len(history.loss) == 15 and history.loss[-1] < history.loss[0]
    assert after < before - 1.0, (before, after)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(num_classes=1), "num_classes must be an integer >= 2"),
        (dict(num_variables=0), "num_variables must be an integer >= 1"),
        (dict(hidden_dims=64), "hidden_dims must be a sequence of integers"),
        (dict(temperature=0.0), "temperature must be a finite number > 0"),
    ],
)
def test_constructor_errors(kwargs, match):
    args = dict(input_dim=6, num_variables=2, num_classes=3, hidden_dims=[5])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        CategoricalVAE(**args)


def test_input_errors():
    model = tiny_model()
    with pytest.raises(ValueError, match=r"x must have shape \(B, 6\)"):
        model.loss(torch.rand(4, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"z must have shape \(\.\.\., 2, 3\)"):
        model.decode(torch.rand(4, 6, dtype=torch.float64))
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        model.loss(torch.rand(4, 6, dtype=torch.float64), temperature=-1.0)
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
        model.loss(torch.rand(4, 6, dtype=torch.float64), beta=-1.0)


def test_the_bernoulli_data_contract_and_the_generator():
    model = tiny_model()
    x = torch.rand(4, 6, dtype=torch.float64)
    for call in (lambda v: model.loss(v), lambda v: model.elbo(v)):
        with pytest.raises(ValueError, match=r"x must hold values in \[0, 1\].*divide 8-bit images by 255"):
            call(255 * x)
        with pytest.raises(ValueError, match="at least one row"):
            call(x[:0])
    assert model.check_data(x, "x_train") is x
    with pytest.raises(ValueError, match=r"x_train must hold values in \[0, 1\]"):
        model.check_data(2 * x, "x_train")
    a = model.loss(x, generator=torch.Generator().manual_seed(2))
    b = model.loss(x, generator=torch.Generator().manual_seed(2), check=False)
    assert torch.equal(a.loss, b.loss)
    assert torch.equal(model.elbo(x, generator=7), model.elbo(x, generator=torch.Generator().manual_seed(7)))
    assert torch.equal(model.sample(2, generator=7), model.sample(2, generator=torch.Generator().manual_seed(7)))
    with pytest.raises(TypeError, match=r"generator must be None, a torch.Generator or an int seed"):
        model.sample(2, generator="7")


def test_fit_resumes_it_exactly(tmp_path):
    from vaelib.train import fit

    x = (torch.rand(128, 6, generator=torch.Generator().manual_seed(4)) > 0.5).double()
    torch.manual_seed(0)
    straight = tiny_model()
    start = {k: v.clone() for k, v in straight.state_dict().items()}
    fit(straight, x, epochs=4, batch_size=32, progress=False)
    first = tiny_model()
    first.load_state_dict(start)
    fit(first, x, epochs=2, batch_size=32, progress=False, checkpoint=tmp_path / "c.pt")
    second = tiny_model()
    fit(second, x, epochs=4, batch_size=32, progress=False, checkpoint=tmp_path / "c.pt", resume=True)
    for k, v in straight.state_dict().items():
        assert torch.allclose(second.state_dict()[k], v, atol=1e-12)
