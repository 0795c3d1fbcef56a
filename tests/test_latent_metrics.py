"""vaelib.latent_metrics: typicality, pairs, path metrics and judged samples against hand computations."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import MultivariateNormal

from vaelib import latent_metrics as M
from vaelib.judge import DigitJudge, judge_images
from vaelib.models import VAE, Autoencoder


@pytest.fixture(scope="module")
def setting():
    torch.manual_seed(0)
    x = torch.rand(40, 784)
    y = torch.arange(40) % 4
    return x, y, DigitJudge().eval()


def test_typicality_is_the_cosine_to_the_class_mean_and_most_typical_its_argmax(setting):
    x, y, _ = setting
    cos = M.typicality(x, y, x, y)
    mean_1 = x[y == 1].mean(0)
    assert torch.allclose(cos[1], F.cosine_similarity(x[1], mean_1, dim=0))
    i = M.most_typical(x, y, x, y, 1)
    assert y[i] == 1 and cos[i] == cos[y == 1].max()
    with pytest.raises(ValueError, match="digit must be a class present"):
        M.most_typical(x, y, x, y, 7)
    with pytest.raises(ValueError, match="no reference image of the classes"):
        M.typicality(x, y, x[y != 3], y[y != 3])


def test_random_pairs_are_seeded_and_of_different_classes(setting):
    _, y, _ = setting
    pairs = M.random_pairs(y, 50, seed=3)
    assert pairs.shape == (50, 2) and (y[pairs[:, 0]] != y[pairs[:, 1]]).all()
    assert torch.equal(pairs, M.random_pairs(y, 50, seed=3)) and not torch.equal(pairs, M.random_pairs(y, 50, seed=4))
    with pytest.raises(ValueError, match="at least two classes"):
        M.random_pairs(torch.zeros(5, dtype=torch.long), 3)


def test_gaussian_log_density_matches_torch():
    z = torch.randn(7, 3)
    oracle = MultivariateNormal(torch.zeros(3), torch.eye(3)).log_prob(z)
    assert torch.allclose(M.gaussian_log_density(z), oracle, atol=1e-5)


def test_path_metrics_decode_the_straight_line_and_measure_it(setting):
    x, y, judge = setting
    torch.manual_seed(1)
    model = Autoencoder(784, 2, [16])
    pairs = torch.tensor([[0, 1], [2, 7]])
    m = M.path_metrics(model, judge, x, y, pairs, steps=5)
    with torch.no_grad():
        z_a, z_b = model.embed(x[2:3])[0], model.embed(x[7:8])[0]
        assert torch.allclose(m.z[1, 2], (z_a + z_b) / 2, atol=1e-6)
        assert torch.allclose(m.x_hat[1], model.decode_mean(m.z[1]))
    v = judge_images(judge, m.x_hat[1])
    assert torch.equal(m.digit[1], v.digit) and torch.allclose(m.confidence[1], v.confidence)
    steps = (m.x_hat[0, 1:] - m.x_hat[0, :-1]).abs().mean(-1)
    assert torch.allclose(m.steps[0], steps) and torch.isclose(m.max_step_share[0], steps.max() / steps.sum())
    assert (m.max_step_share >= 1 / 4 - 1e-6).all() and (m.max_step_share <= 1).all()
    assert torch.equal(m.ends_right[:, 0], v.digit.new_tensor([m.digit[0, 0], m.digit[1, 0]]) == y[pairs[:, 0]])
    assert torch.allclose(m.log_prior, M.gaussian_log_density(m.z))
    assert m.frac_confident(0.0).eq(1).all() and m.frac_confident(1.01).eq(0).all()
    with pytest.raises(ValueError, match=r"pairs must have shape \(P, 2\)"):
        M.path_metrics(model, judge, x, y, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="steps must be an integer >= 3"):
        M.path_metrics(model, judge, x, y, pairs, steps=2)


def test_a_jump_has_a_max_step_share_near_one():
    class Step(torch.nn.Module):
        latent_dim = 1

        def embed(self, x):
            return x[:, :1]

        def decode_mean(self, z):  # image 0 for z < 0.5, image 1 above: one jump
            return (z >= 0.5).float().expand(*z.shape[:-1], 784)

    x = torch.zeros(2, 784)
    x[1, 0] = 1.0
    m = M.path_metrics(Step(), DigitJudge().eval(), x, torch.tensor([0, 1]), torch.tensor([[0, 1]]), steps=11)
    assert m.max_step_share.item() == pytest.approx(1.0)


def test_judged_samples_draw_from_the_given_gaussian(setting):
    _, _, judge = setting
    torch.manual_seed(2)
    vae = VAE(784, 2, [16])
    x_hat, verdict, frac = M.judged_samples(vae, judge, 30, generator=torch.Generator().manual_seed(0))
    eps = torch.randn(30, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(x_hat, vae.decode_mean(eps))
    assert frac == pytest.approx((verdict.confidence >= M.CONFIDENT).float().mean().item())
    mean, tril = torch.tensor([5.0, -1.0]), torch.tensor([[2.0, 0.0], [0.5, 0.1]])
    x_hat2, _, _ = M.judged_samples(
        vae, judge, 30, mean=mean, scale_tril=tril, generator=torch.Generator().manual_seed(0)
    )
    with torch.no_grad():
        assert torch.allclose(x_hat2, vae.decode_mean(eps @ tril.T + mean), atol=1e-6)
    with pytest.raises(ValueError, match="n must be an integer"):
        M.judged_samples(vae, judge, 0)
    assert math.isfinite(frac)


def test_knn_accuracy_on_separated_and_mixed_classes():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 2
    separated = torch.randn(200, 2, generator=g) * 0.1 + y[:, None] * 5.0
    assert M.knn_accuracy(separated[:100], y[:100], separated[100:], y[100:], k=5) == 1.0
    assert M.knn_accuracy(10 * separated[:100], y[:100], 10 * separated[100:], y[100:], k=5) == 1.0  # scale-free
    mixed = torch.randn(200, 2, generator=g)
    assert 0.3 < M.knn_accuracy(mixed[:100], y[:100], mixed[100:], y[100:], k=5) < 0.7
    with pytest.raises(ValueError, match="k must be an integer"):
        M.knn_accuracy(mixed, y, mixed, y, k=0)


class _Encoder(torch.nn.Module):
    def __init__(self, mu, log_var):
        super().__init__()
        self.mu, self.log_var = mu, log_var

    def encode(self, x):
        return self.mu, self.log_var


def test_information_split_adds_up_and_bounds_the_information():
    g = torch.Generator().manual_seed(0)
    mu, log_var = torch.randn(50, 2, generator=g) * 2, torch.full((50, 2), -2.0)
    split = M.information_split(_Encoder(mu, log_var), torch.zeros(50, 1), samples=20, generator=g)
    assert split.rate_mc == pytest.approx(split.mutual_information + split.marginal_kl, abs=1e-4)  # exact identity
    assert split.rate == pytest.approx(split.rate_mc, rel=0.05)  # closed form vs Monte Carlo
    assert 0 < split.mutual_information <= math.log(50) + 1e-6 and split.marginal_kl > 0
    # a posterior equal to the prior for every x carries no information
    none = M.information_split(_Encoder(torch.zeros(50, 2), torch.zeros(50, 2)), torch.zeros(50, 1), generator=g)
    assert abs(none.mutual_information) < 1e-5 and abs(none.rate) < 1e-6
