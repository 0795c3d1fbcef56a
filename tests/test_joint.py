"""Tests of vaelib.joint: maximum likelihood, the M-step, variational EM, joint training."""

import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from vaelib import joint, meanfield
from vaelib.linear_gaussian import LinearGaussianModel
from vaelib.train import CosineDecay, fit

D, K = 6, 2


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    truth = LinearGaussianModel.random(D, K, noise_var=0.3, correlation=0.6, generator=g, dtype=torch.float64)
    truth = LinearGaussianModel(truth.W, torch.linspace(-1, 1, D, dtype=torch.float64), truth.noise_var)
    x, _ = truth.sample(400, g)
    return truth, x


def start_model():
    return LinearGaussianModel.random(
        D, K, noise_var=1.0, correlation=0.6, generator=torch.Generator().manual_seed(7), dtype=torch.float64
    )


# -- maximum likelihood ------------------------------------------------------------------------


def test_ppca_ml_matches_torch_and_em_and_is_a_maximum(data):
    """Oracle: the log-likelihood through torch's MultivariateNormal, and EM run to convergence."""
    _, x = data
    ml = joint.ppca_maximum_likelihood(x, K)
    mean, cov = ml.marginal()
    ll = MultivariateNormal(mean, cov).log_prob(x).mean()
    assert torch.allclose(ll, ml.log_marginal(x).mean(), atol=1e-10)
    em = start_model()
    for _ in range(300):
        em = em.em_step(x, isotropic=True)
    assert em.log_marginal(x).mean() <= ll + 1e-9  # EM cannot beat the global maximum
    assert abs(em.log_marginal(x).mean() - ll) < 1e-5  # and reaches it
    assert torch.allclose(em.W @ em.W.T, ml.W @ ml.W.T, atol=1e-3)  # the same model up to rotation
    # The gradient of log p(x) at the optimum is zero in every parameter.
    W, b, s = (t.detach().clone().requires_grad_(True) for t in (ml.W, ml.b, ml.noise_var[:1]))
    value = LinearGaussianModel(W, b, s.expand(D)).log_marginal(x).mean()
    for grad in torch.autograd.grad(value, (W, b, s)):
        assert grad.abs().max() < 1e-9
    assert (ml.W.T @ ml.W - torch.diag((ml.W.T @ ml.W).diagonal())).abs().max() < 1e-10  # R = I


def test_ppca_ml_is_rotation_invariant_in_likelihood(data):
    _, x = data
    ml = joint.ppca_maximum_likelihood(x, K)
    angle = 0.7
    R = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], dtype=torch.float64)
    rotated = LinearGaussianModel(ml.W @ R, ml.b, ml.noise_var)
    assert torch.allclose(rotated.log_marginal(x), ml.log_marginal(x), atol=1e-10)
    assert joint.posterior_correlation(rotated) > 0.05 > joint.posterior_correlation(ml)


def test_ppca_ml_errors(data):
    _, x = data
    with pytest.raises(ValueError, match="latent_dim must be smaller"):
        joint.ppca_maximum_likelihood(x, D)
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        joint.ppca_maximum_likelihood(x[0], K)
    white = torch.randn(500, D, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    white = white - white.mean(0)
    white = white @ torch.linalg.inv(torch.linalg.cholesky(white.T @ white / 500)).T  # covariance exactly I
    with pytest.raises(ValueError, match="no 2-dimensional signal"):
        joint.ppca_maximum_likelihood(white, 2)


# -- the M-step ---------------------------------------------------------------------------------


@pytest.mark.parametrize("isotropic", [True, False])
@pytest.mark.parametrize("shared", [True, False])
def test_m_step_is_a_stationary_point_of_the_elbo(data, isotropic, shared):
    _, x = data
    g = torch.Generator().manual_seed(3)
    mu = torch.randn(len(x), K, generator=g, dtype=torch.float64)
    if shared:
        scale_tril = torch.tensor([[0.5, 0.0], [0.2, 0.4]], dtype=torch.float64)
    else:
        scale_tril = torch.diag_embed(0.2 + torch.rand(len(x), K, generator=g, dtype=torch.float64))
    model = joint.m_step(x, mu, scale_tril, isotropic=isotropic)
    grads = joint.model_gradients(model, x, mu, scale_tril)
    assert grads["W"].abs().max() < 1e-9 and grads["b"].abs().max() < 1e-9
    if isotropic:
        assert abs(grads["noise_var"].sum()) < 1e-9
    else:
        assert grads["noise_var"].abs().max() < 1e-9
    # and a maximum: any perturbation of the parameters lowers the ELBO
    for scale in (1e-3, 1e-2):
        W = model.W + scale * torch.randn(D, K, generator=g, dtype=torch.float64)
        worse = LinearGaussianModel(W, model.b + scale, model.noise_var * (1 + scale))
        assert worse.elbo(x, mu, scale_tril).mean() < model.elbo(x, mu, scale_tril).mean()


def test_m_step_with_exact_posterior_is_em_step(data):
    _, x = data
    model = start_model()
    q = model.posterior(x)
    for isotropic in (True, False):
        ours = joint.m_step(x, q.mu, q.scale_tril, isotropic=isotropic)
        theirs = model.em_step(x, isotropic=isotropic)
        for a, b in ((ours.W, theirs.W), (ours.b, theirs.b), (ours.noise_var, theirs.noise_var)):
            assert torch.allclose(a, b, atol=1e-10)


def test_a_wrong_normaliser_is_not_stationary(data):
    """The check the lecture makes: 1/(N-1) in place of 1/N leaves d ELBO / d sigma^2 nonzero."""
    _, x = data
    q = start_model().posterior(x)
    right = joint.m_step(x, q.mu, q.scale_tril)
    N = len(x)
    wrong = LinearGaussianModel(right.W, right.b, right.noise_var * N / (N - 1))
    assert abs(joint.model_gradients(wrong, x, q.mu, q.scale_tril)["noise_var"].sum()) > 1e-3


def test_m_step_errors(data):
    _, x = data
    mu = torch.zeros(len(x), K, dtype=torch.float64)
    with pytest.raises(ValueError, match="mu must have shape"):
        joint.m_step(x, mu[:-1], torch.eye(K, dtype=torch.float64))
    with pytest.raises(ValueError, match="scale_tril must have shape"):
        joint.m_step(x, mu, torch.eye(K + 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="non-finite"):
        joint.m_step(x, mu * float("nan"), torch.eye(K, dtype=torch.float64))


# -- per-point VI alternated with model updates -------------------------------------------------


def test_mean_field_q_is_the_numerical_per_point_optimum(data):
    truth, x = data
    mu, scale_tril = joint.mean_field_q(truth, x[:20])
    fit = meanfield.fit_per_point(truth.elbo, x[:20], K, family="diag")
    assert torch.allclose(fit.mu, mu, atol=1e-5)
    assert torch.allclose(fit.var, scale_tril.diagonal().pow(2).expand(20, K), rtol=1e-5)


def test_variational_em_never_lowers_the_elbo_and_full_is_em(data):
    _, x = data
    for family in ("diag", "full"):
        fit = joint.variational_em(x, start_model(), iters=30, family=family)
        assert len(fit.elbo) == 30
        assert all(b >= a - 1e-10 for a, b in zip(fit.elbo, fit.elbo[1:])), family
    em = start_model()
    for _ in range(30):
        em = em.em_step(x, isotropic=True)
    full = joint.variational_em(x, start_model(), iters=30, family="full").model
    assert torch.allclose(full.W, em.W, atol=1e-9) and torch.allclose(full.noise_var, em.noise_var, atol=1e-9)


def test_mean_field_em_reaches_ml_with_a_diagonal_posterior(data):
    """PPCA's likelihood is invariant to rotations of W, so mean-field EM can (and does) reach the
    maximum likelihood while rotating W until its posterior is diagonal (zero approximation gap)."""
    _, x = data
    fit = joint.variational_em(x, start_model(), iters=300, family="diag")
    ml = joint.ppca_maximum_likelihood(x, K)
    assert abs(fit.model.log_marginal(x).mean() - ml.log_marginal(x).mean()) < 1e-3
    assert joint.posterior_correlation(fit.model) < 0.05 < joint.posterior_correlation(start_model())


def test_variational_em_errors(data):
    _, x = data
    with pytest.raises(ValueError, match="family must be"):
        joint.variational_em(x, start_model(), iters=2, family="mixture")
    with pytest.raises(ValueError, match="iters must be"):
        joint.variational_em(x, start_model(), iters=0)


# -- amortized joint training -----------------------------------------------------------------


def test_joint_loss_is_the_closed_form_negative_elbo(data):
    _, x = data
    torch.manual_seed(0)
    encoder = meanfield.GaussianEncoder(D, K, (), family="full").double()
    j = joint.JointLinearGaussian(start_model(), encoder)
    parts = j.loss(x, beta=0.5)
    with torch.no_grad():
        elbo = start_model().elbo(x, *encoder(x))
    assert torch.allclose(parts.recon + parts.kl, -elbo.mean(), atol=1e-10)
    assert torch.allclose(parts.loss, parts.recon + 0.5 * parts.kl)
    assert torch.allclose(j.elbo(x), elbo, atol=1e-10)
    learned = j.learned_model()
    assert not learned.W.requires_grad and torch.allclose(learned.noise_var, start_model().noise_var)


def test_fit_trains_model_and_linear_encoder_to_maximum_likelihood(data):
    _, x = data
    torch.manual_seed(1)
    j = joint.JointLinearGaussian(start_model(), meanfield.GaussianEncoder(D, K, (), family="full"))
    losses = fit(
        j, x, epochs=500, batch_size=len(x), lr=0.1, lr_schedule=CosineDecay(500), progress=False, device="cpu"
    ).loss
    assert losses[-1] < losses[0]
    ml = joint.ppca_maximum_likelihood(x, K)
    learned = j.learned_model()
    assert abs(learned.log_marginal(x).mean() - ml.log_marginal(x).mean()) < 5e-3
    assert (learned.log_marginal(x) - j.elbo(x)).mean() < 5e-3  # the encoder is (nearly) exact


def test_fit_trains_joint_in_minibatches_and_errors(data):
    _, x = data
    j = joint.JointLinearGaussian(start_model(), meanfield.GaussianEncoder(D, K, ()))
    losses = fit(j, x, epochs=30, batch_size=64, lr=0.05, seed=0, progress=False, device="cpu").loss
    assert len(losses) == 30 and all(math.isfinite(v) for v in losses)
    with pytest.raises(TypeError, match="init must be a LinearGaussianModel"):
        joint.JointLinearGaussian("model", meanfield.GaussianEncoder(D, K, ()))
    with pytest.raises(TypeError, match="encoder must be an nn.Module"):
        joint.JointLinearGaussian(start_model(), lambda x: x)
