"""vaelib.objectives: negative ELBO (reductions, gradients), IWAE bound, collapse diagnostics.

Oracles: torch.distributions for the likelihood and the KL, hand-derived gradients for a
linear decoder, and log p(x) by numerical integration for a 1-d latent model.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.distributions import Bernoulli, Normal, kl_divergence

from vaelib import _validate, objectives
from vaelib.models import VAE
from vaelib.objectives import (
    active_units,
    bernoulli_nll,
    elbo,
    iwae_bound,
    kl_per_dimension,
    log_importance_weights,
    negative_elbo,
)


class Fixed(nn.Module):
    """A "model" whose posterior parameters are leaf tensors and whose decoder is linear.

    encode(x) returns (mu, log_var) regardless of x; decode(z) = z @ W.T + b. Gradients with
    respect to mu and log_var can then be derived by hand.
    """

    def __init__(self, mu, log_var, W, b):
        super().__init__()
        self.mu = nn.Parameter(mu.clone())
        self.log_var = nn.Parameter(log_var.clone())
        self.W = nn.Parameter(W.clone())
        self.b = nn.Parameter(b.clone())

    def encode(self, x):
        return self.mu, self.log_var

    def decode(self, z):
        return z @ self.W.T + self.b


def _fixed(B=4, K=3, D=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return Fixed(
        torch.randn(B, K, generator=g),
        0.5 * torch.randn(B, K, generator=g),
        torch.randn(D, K, generator=g),
        torch.randn(D, generator=g),
    )


def test_bernoulli_nll_matches_torch_distributions_and_sums_over_pixels():
    g = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(6, 10, generator=g)
    x = torch.bernoulli(torch.full((6, 10), 0.4), generator=g)
    expected = -Bernoulli(logits=logits).log_prob(x).sum(-1)
    got = bernoulli_nll(logits, x)
    assert got.shape == (6,)
    assert torch.allclose(got, expected, atol=1e-5)


def test_bernoulli_nll_is_stable_for_extreme_logits():
    logits = torch.tensor([[200.0, -200.0]])
    x = torch.tensor([[0.0, 1.0]])
    assert torch.allclose(bernoulli_nll(logits, x), torch.tensor([400.0]))
    with pytest.raises(ValueError, match="same number of pixels"):
        bernoulli_nll(torch.zeros(2, 3), torch.zeros(2, 4))


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 4.0])
def test_negative_elbo_matches_torch_distributions(beta):
    model = _fixed()
    x = torch.bernoulli(torch.full((4, 5), 0.5), generator=torch.Generator().manual_seed(1))
    eps = torch.randn(4, 3, generator=torch.Generator().manual_seed(2))
    loss, recon, kl = negative_elbo(model, x, beta=beta, eps=eps)
    std = torch.exp(0.5 * model.log_var)
    q = Normal(model.mu, std)
    z = model.mu + std * eps
    expected_recon = -Bernoulli(logits=model.decode(z)).log_prob(x).sum(-1).mean()  # sum pixels, mean batch
    expected_kl = kl_divergence(q, Normal(0.0, 1.0)).sum(-1).mean()
    assert torch.allclose(recon, expected_recon, atol=1e-5)
    assert torch.allclose(kl, expected_kl, atol=1e-6)
    assert torch.allclose(loss, expected_recon + beta * expected_kl, atol=1e-5)
    assert loss.shape == recon.shape == kl.shape == ()


def test_reductions_sum_over_pixels_and_mean_over_batch():
    """Duplicating the batch leaves the loss unchanged (a mean); duplicating every pixel doubles
    the reconstruction term (a sum)."""
    torch.manual_seed(0)
    model = VAE(6, 2, [8])
    x = torch.bernoulli(torch.full((5, 6), 0.5))
    eps = torch.randn(5, 2)
    one = negative_elbo(model, x, eps=eps)
    two = negative_elbo(model, torch.cat([x, x]), eps=torch.cat([eps, eps]))
    for a, b in zip(one, two):
        assert torch.allclose(a, b, atol=1e-5)
    z = objectives.sample_latent(*model.encode(x), eps)
    logits = model.decode(z)
    doubled = bernoulli_nll(torch.cat([logits, logits], 1), torch.cat([x, x], 1)).mean()
    assert torch.allclose(doubled, 2 * one.recon, atol=1e-4)


def test_gradients_match_the_hand_derived_reparameterization_gradients():
    """d/d mu and d/d log_var of the negative ELBO, by the chain rule through z = mu + std * eps.

    With logits = W z + b: d recon_i / d z_i = W^T (sigmoid(logits_i) - x_i); then
    d z / d mu = 1 and d z / d log_var = std * eps / 2. KL: d/d mu = mu, d/d log_var = (exp(log_var) - 1) / 2.
    Everything is divided by B (mean over the batch).
    """
    model = _fixed()
    B = model.mu.shape[0]
    x = torch.bernoulli(torch.full((4, 5), 0.5), generator=torch.Generator().manual_seed(1))
    eps = torch.randn(4, 3, generator=torch.Generator().manual_seed(2))
    negative_elbo(model, x, eps=eps).loss.backward()
    with torch.no_grad():
        std = torch.exp(0.5 * model.log_var)
        z = model.mu + std * eps
        d_z = (torch.sigmoid(model.decode(z)) - x) @ model.W  # (B, K)
        grad_mu = (d_z + model.mu) / B
        grad_log_var = (d_z * std * eps / 2 + (model.log_var.exp() - 1) / 2) / B
    assert torch.allclose(model.mu.grad, grad_mu, atol=1e-5)
    assert torch.allclose(model.log_var.grad, grad_log_var, atol=1e-5)


def test_the_reconstruction_reaches_the_encoder_only_through_the_sample(monkeypatch):
    """With beta = 0 the encoder's gradient is nonzero; cut the sample off the graph
    (z.detach()) and it becomes exactly zero: the pathwise gradient flows through z alone."""
    torch.manual_seed(0)
    model = VAE(6, 2, [8])
    x = torch.bernoulli(torch.full((5, 6), 0.5))

    def encoder_grad_norm():
        model.zero_grad()
        negative_elbo(model, x, beta=0.0).loss.backward()
        return sum(p.grad.abs().sum() for p in model.encoder.parameters() if p.grad is not None)

    assert encoder_grad_norm() > 0
    original = objectives.sample_latent
    monkeypatch.setattr(objectives, "sample_latent", lambda mu, log_var, eps=None: original(mu, log_var, eps).detach())
    assert encoder_grad_norm() == 0


@pytest.mark.parametrize("beta", [-1.0, float("nan"), "1", True])
def test_bad_beta_is_refused(beta):
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
        negative_elbo(_fixed(), torch.zeros(4, 5), beta=beta)


def _one_pixel_model(a=2.0, b=-0.5, mu=0.3, log_var=-0.7):
    """K = 1, D = 2: logits = (a z + b, -a z); q = N(mu, exp(log_var)) for every x."""
    return Fixed(torch.tensor([[mu]]), torch.tensor([[log_var]]), torch.tensor([[a], [-a]]), torch.tensor([b, 0.0]))


def _exact_log_px(model, x):
    """log p(x) = log integral N(z; 0, 1) p(x | z) dz, by the trapezoidal rule on [-12, 12]."""
    z = torch.linspace(-12, 12, 200001, dtype=torch.float64).unsqueeze(1)  # (Z, 1)
    logits = z @ model.W.detach().double().T + model.b.detach().double()
    log_joint = -bernoulli_nll(logits, x.double()) + Normal(0.0, 1.0).log_prob(z[:, 0]).double()
    dz = z[1, 0] - z[0, 0]
    return (torch.logsumexp(log_joint, 0) + math.log(dz)).item()


def test_iwae_bound_approaches_the_exact_log_likelihood():
    """L_5000 is within Monte Carlo error of log p(x) computed by quadrature, and below it."""
    model = _one_pixel_model()
    x = torch.tensor([[1.0, 0.0]])
    exact = _exact_log_px(model, x)
    bounds = torch.stack([iwae_bound(model, x, 5000, generator=torch.Generator().manual_seed(s)) for s in range(20)])
    mean, se = bounds.mean().item(), bounds.std().item() / math.sqrt(20)
    assert bounds.dtype == torch.float64 and bounds.shape == (20, 1)
    assert abs(mean - exact) < max(4 * se, 1e-3), (mean, exact, se)
    assert mean <= exact + 4 * se


def test_iwae_with_k_1_is_the_elbo_in_expectation_and_grows_with_k():
    """Burda et al. 2016, Theorem 1: L_1 = ELBO <= L_10 <= L_100 <= log p(x) (on average)."""
    model = _one_pixel_model()
    x = torch.tensor([[1.0, 0.0]]).expand(4000, 2)  # 4000 independent estimates of the same bound
    model.mu.data = model.mu.data.expand(4000, 1).clone()
    model.log_var.data = model.log_var.data.expand(4000, 1).clone()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # the KL is exact, the reconstruction term averaged over 200000 draws
        exact_elbo = elbo(_one_pixel_model(), x[:1], samples=200000, generator=g).item()
    means, ses = [], []
    for k in (1, 10, 100):
        b = iwae_bound(model, x, k, generator=g)
        means.append(b.mean().item())
        ses.append(b.std().item() / math.sqrt(len(b)))
    assert abs(means[0] - exact_elbo) < 4 * ses[0]
    assert means[0] < means[1] - 4 * ses[1] and means[1] < means[2] - 4 * ses[2]
    assert means[2] <= _exact_log_px(_one_pixel_model(), x[:1]) + 4 * ses[2]


def test_iwae_is_exact_when_q_is_the_true_posterior_even_for_tiny_likelihoods():
    """A decoder that ignores z has posterior = prior; with q = prior every weight equals p(x),
    so L_k = log p(x) for every k, however small p(x) is (logsumexp, not log(mean(exp)))."""
    model = Fixed(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(784, 3), torch.full((784,), 30.0))
    x = torch.zeros(2, 784)  # every pixel off, though the decoder says on with logit 30
    log_px = -bernoulli_nll(model.b.detach(), x[0]).item()  # about -23520 nats: exp underflows
    assert log_px < -20000
    for k in (1, 7, 300):
        got = iwae_bound(model, x, k, chunk_size=64, generator=torch.Generator().manual_seed(0))
        assert torch.allclose(got, torch.full((2,), log_px, dtype=torch.float64), rtol=1e-6)
    weights = log_importance_weights(model, x, 5)
    assert weights.shape == (5, 2)


def test_iwae_chunking_gives_the_same_bound():
    """k = 2000 in chunks of 16 or of 2000 estimates the same bound (within Monte Carlo error)."""
    torch.manual_seed(0)
    model = VAE(8, 2, [8])
    x = torch.bernoulli(torch.full((3, 8), 0.5))
    a = iwae_bound(model, x, 2000, chunk_size=16, generator=torch.Generator().manual_seed(1))
    b = iwae_bound(model, x, 2000, chunk_size=2000, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(a, b, atol=0.05)


def test_iwae_bound_matches_log_weights_by_hand():
    """log w = log p(x|z) + log N(z; 0, I) - log N(z; mu, std^2), oracle: torch.distributions."""
    torch.manual_seed(0)
    model = VAE(8, 3, [8])
    x = torch.bernoulli(torch.full((4, 8), 0.5))
    log_w = log_importance_weights(model, x, 6, generator=torch.Generator().manual_seed(5))
    eps = torch.randn(6, 4, 3, generator=torch.Generator().manual_seed(5))
    mu, log_var = model.encode(x)
    q = Normal(mu, torch.exp(0.5 * log_var))
    z = mu + q.scale * eps
    expected = (
        Bernoulli(logits=model.decode(z)).log_prob(x).sum(-1)
        + Normal(0.0, 1.0).log_prob(z).sum(-1)
        - q.log_prob(z).sum(-1)
    )
    assert torch.allclose(log_w, expected, atol=1e-4)
    bound = iwae_bound(model, x, 6, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(bound, (torch.logsumexp(expected.double(), 0) - math.log(6)), atol=1e-4)


@pytest.mark.parametrize("k", [0, 2.5, True])
def test_bad_k_and_chunk_size_are_refused(k):
    model = _fixed()
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        iwae_bound(model, torch.zeros(4, 5), k)
    with pytest.raises(ValueError, match="chunk_size must be"):
        iwae_bound(model, torch.zeros(4, 5), 3, chunk_size=0)


def test_elbo_matches_minus_negative_elbo():
    model = _fixed()
    x = torch.bernoulli(torch.full((4, 5), 0.5), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        per_image = elbo(model, x, samples=1, generator=torch.Generator().manual_seed(3))
        eps = torch.randn(1, 4, 3, generator=torch.Generator().manual_seed(3))[0]
        expected = negative_elbo(model, x, eps=eps)
    assert per_image.shape == (4,)
    assert torch.allclose(-per_image.mean(), expected.loss, atol=1e-5)


def test_kl_per_dimension_sums_to_the_kl_term():
    model = _fixed(B=6, K=4)
    x = torch.zeros(6, 5)
    per_dim = kl_per_dimension(model, x)
    assert per_dim.shape == (4,) and (per_dim >= 0).all()
    assert torch.allclose(per_dim.sum(), negative_elbo(model, x).kl, atol=1e-5)


def test_active_units_counts_dimensions_whose_mean_moves_with_x():
    """Burda et al. 2016: unit k is active if Var_x(mu_k(x)) > 0.01."""
    g = torch.Generator().manual_seed(0)
    mu = torch.zeros(500, 4)
    mu[:, 0] = torch.randn(500, generator=g)  # variance ~1: active
    mu[:, 1] = 0.3 * torch.randn(500, generator=g)  # variance ~0.09: active
    mu[:, 2] = 0.05 * torch.randn(500, generator=g)  # variance ~0.0025: inactive
    model = Fixed(mu, torch.zeros(500, 4), torch.zeros(5, 4), torch.zeros(5))
    result = active_units(model, torch.zeros(500, 5))
    assert result.count == 2 and result.threshold == 0.01
    assert torch.allclose(result.variance, mu.var(0, unbiased=False))
    assert active_units(model, torch.zeros(500, 5), threshold=1e-3).count == 3
    with pytest.raises(ValueError, match="at least 2 images"):
        active_units(model, torch.zeros(1, 5))
    with pytest.raises(ValueError, match="threshold must be"):
        active_units(model, torch.zeros(500, 5), threshold=0)


def test_unchecked_elbo_is_the_same_arithmetic_and_the_same_random_draw():
    """check=False (VAE.loss, fit's hot path) skips the input checks and nothing else."""
    model = VAE(12, 3, [8])
    x = torch.rand(5, 12)
    eps = torch.randn(5, 3)
    checked = objectives.negative_elbo(model, x, beta=2.0, eps=eps)
    unchecked = objectives.negative_elbo(model, x, beta=2.0, eps=eps, check=False)
    for a, b in zip(checked, unchecked):
        assert torch.equal(a, b)
    torch.manual_seed(3)
    drawn = objectives.negative_elbo(model, x)
    torch.manual_seed(3)
    assert torch.equal(model.loss(x, check=False).loss, drawn.loss)


def test_unchecked_elbo_lets_nan_through_for_the_epoch_guard():
    model = VAE(12, 3, [8])
    with torch.no_grad():
        model.encoder[0].weight[0, 0] = float("nan")
    x = torch.rand(5, 12)
    with pytest.raises(_validate.NonFiniteError, match="non-finite"):
        objectives.negative_elbo(model, x)
    with pytest.raises(_validate.NonFiniteError):
        model.loss(x)  # VAE.loss checks by default ...
    assert torch.isnan(model.loss(x, check=False).loss)  # ... fit's hot path does not


# --------------------------------------------------------------------------------------------
# The Bernoulli likelihood's data contract, at every entry point
# --------------------------------------------------------------------------------------------

ENTRY_POINTS = {
    "bernoulli_nll": lambda model, x: bernoulli_nll(torch.zeros(len(x), 12), x),
    "negative_elbo": lambda model, x: negative_elbo(model, x),
    "elbo": lambda model, x: elbo(model, x),
    "iwae_bound": lambda model, x: iwae_bound(model, x, 3),
    "log_importance_weights": lambda model, x: log_importance_weights(model, x, 2),
    "VAE.loss": lambda model, x: model.loss(x),
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_pixels_scaled_to_255_are_refused_at_every_entry_point(entry):
    """Before: -4.7e24 nats, silently. After: the range and the fix."""
    model = VAE(12, 3, [8])
    x = torch.rand(4, 12, generator=torch.Generator().manual_seed(0))
    ENTRY_POINTS[entry](model, x)  # [0, 1]: fine
    with pytest.raises(ValueError, match=r"x must hold values in \[0, 1\].*Bernoulli.*divide 8-bit images by 255"):
        ENTRY_POINTS[entry](model, 255 * x)
    with pytest.raises(ValueError, match="at least one row.*empty batch.*NaN"):
        ENTRY_POINTS[entry](model, x[:0])
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(_validate.NonFiniteError, match="x contains 1 non-finite"):
        ENTRY_POINTS[entry](model, bad)
    with pytest.raises(TypeError, match="floating-point.*float\\(\\) / 255"):
        ENTRY_POINTS[entry](model, (255 * x).to(torch.uint8))


def test_lists_numpy_and_float64_get_a_clear_message():
    model = VAE(12, 3, [8])
    x = torch.rand(4, 12)
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor.*torch.as_tensor\(x, dtype=torch.float32\)"):
        negative_elbo(model, x.tolist())
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor"):
        iwae_bound(model, x.numpy(), 2)
    with pytest.raises(
        TypeError, match=r"x has dtype torch.float64 but the model's weights are torch.float32.*x.to\(torch.float32\)"
    ):
        negative_elbo(model, x.double())  # the torch.from_numpy path
    assert torch.isfinite(negative_elbo(model.double(), x.double()).loss)


def test_an_int_seed_as_generator_is_a_seeded_generator_and_other_types_say_what_to_pass():
    """One contract for random sources (vaelib._validate.generator): None, a Generator, or an int seed."""
    model = VAE(12, 3, [8])
    x = torch.rand(4, 12)
    seeded = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    assert torch.equal(elbo(model, x, generator=3), elbo(model, x, generator=seeded()))
    assert torch.equal(iwae_bound(model, x, 2, generator=3), iwae_bound(model, x, 2, generator=seeded()))
    assert torch.equal(negative_elbo(model, x, generator=3).loss, negative_elbo(model, x, generator=seeded()).loss)
    assert torch.equal(model.sample(2, generator=3), model.sample(2, generator=seeded()))
    for call in (lambda: elbo(model, x, generator="3"), lambda: model.sample(2, generator=3.5)):
        with pytest.raises(
            TypeError, match=r"generator must be None, a torch.Generator or an int seed.*manual_seed\(0\)"
        ):
            call()


def test_samples_is_named_in_the_elbo_message():
    with pytest.raises(ValueError, match="samples must be an integer >= 1"):
        elbo(VAE(12, 3, [8]), torch.rand(2, 12), samples=0)


def test_negative_elbo_draws_its_noise_from_the_generator_it_is_given():
    model = VAE(12, 3, [8])
    x = torch.rand(5, 12)
    for check in (True, False):
        a = negative_elbo(model, x, generator=torch.Generator().manual_seed(1), check=check)
        eps = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
        b = negative_elbo(model, x, eps=eps, check=check)
        assert all(torch.equal(u, v) for u, v in zip(a, b))
