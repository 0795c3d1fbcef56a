"""Tests of vaelib.meanfield: per-point VI, encoders, the gap decomposition, MCMC.

Oracles: the linear-Gaussian model's exact posterior and log p(x) (vaelib.linear_gaussian,
itself tested against quadrature and torch.distributions); the closed-form optimum of a
diagonal Gaussian under reverse KL (mean = posterior mean, variances 1/diag(precision);
Bishop 2006, Sec. 10.1.2) and its KL (vaelib.gaussians.best_diagonal_reverse_kl); the
forward-KL optimum found by numerical optimisation of torch's kl_divergence; Gaussian
moments for the Metropolis chains.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import MultivariateNormal, kl_divergence

from vaelib import meanfield
from vaelib.gaussians import best_diagonal_reverse_kl
from vaelib.linear_gaussian import LinearGaussianModel
from vaelib.train import CosineDecay, fit

F64 = torch.float64


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _model(D: int = 8, K: int = 3, seed: int = 0) -> LinearGaussianModel:
    """A model whose posterior is correlated (columns of W share a direction)."""
    return LinearGaussianModel.random(D, K, noise_var=0.5, correlation=0.7, generator=_gen(seed), dtype=F64)


@pytest.fixture(scope="module")
def setting():
    model = _model()
    x, _ = model.sample(20, _gen(1))
    return model, x


# --------------------------------------------------------------------------- per-point fits


def test_diag_fit_reaches_the_reverse_kl_optimum(setting):
    """Mean-field optimum: mean = posterior mean, variances = 1 / diag(posterior precision)."""
    model, x = setting
    fit = meanfield.fit_per_point(model.elbo, x, 3, family="diag")
    posterior = model.posterior(x)
    torch.testing.assert_close(fit.mu, posterior.mu, rtol=0, atol=1e-6)
    expected_var = 1.0 / model.posterior_precision().diagonal()
    torch.testing.assert_close(fit.var, expected_var.expand(20, 3), rtol=1e-6, atol=1e-8)
    assert torch.equal(fit.scale_tril, torch.diag_embed(fit.scale_tril.diagonal(dim1=-2, dim2=-1)))
    # the approximation gap is the minimal reverse KL, the same for every point
    _, _, kl_min = best_diagonal_reverse_kl(posterior.mu[0], posterior.cov)
    gap = model.log_marginal(x) - fit.elbo
    torch.testing.assert_close(gap, kl_min.expand(20), rtol=1e-6, atol=1e-9)
    assert kl_min > 0.05  # the posterior is correlated, so the gap is real


def test_full_fit_recovers_the_exact_posterior(setting):
    model, x = setting
    fit = meanfield.fit_per_point(model.elbo, x, 3, family="full")
    posterior = model.posterior(x)
    torch.testing.assert_close(fit.mu, posterior.mu, rtol=0, atol=1e-6)
    torch.testing.assert_close(fit.cov, posterior.cov.expand(20, 3, 3), rtol=0, atol=1e-7)
    torch.testing.assert_close(fit.elbo, model.log_marginal(x), rtol=0, atol=1e-9)
    assert fit.family == "full" and len(fit.history) > 1


def test_adam_with_a_monte_carlo_elbo_converges_near_the_optimum(setting):
    """Stochastic VI with reparameterized gradients: close to the optimum, not exactly on it."""
    model, x = setting
    elbo_fn = functools.partial(meanfield.monte_carlo_elbo, model.log_joint, n_samples=16, generator=_gen(2))
    fit = meanfield.fit_per_point(elbo_fn, x[:5], 3, family="diag", optimizer="adam", steps=600, lr=0.05)
    posterior = model.posterior(x[:5])
    sd = (1.0 / model.posterior_precision().diagonal()).sqrt()
    assert ((fit.mu - posterior.mu).abs() < 0.15 * sd).all()
    ratio = fit.var / (1.0 / model.posterior_precision().diagonal())
    assert ((ratio - 1).abs() < 0.2).all(), ratio


def test_adam_with_the_closed_form_elbo(setting):
    model, x = setting
    fit = meanfield.fit_per_point(model.elbo, x[:4], 3, family="full", optimizer="adam", steps=600, lr=0.05)
    gap = model.log_marginal(x[:4]) - fit.elbo
    assert (gap >= 0).all() and (gap < 0.02).all(), gap
    assert fit.history[-1] > fit.history[0] + 1.0


def test_warm_start_from_the_optimum_stays_there(setting):
    model, x = setting
    posterior = model.posterior(x)
    L = posterior.scale_tril.expand(20, 3, 3)
    fit = meanfield.fit_per_point(model.elbo, x, 3, family="full", steps=5, init_mu=posterior.mu, init_scale_tril=L)
    torch.testing.assert_close(fit.elbo, model.log_marginal(x), rtol=0, atol=1e-9)
    assert abs(fit.history[0] - model.log_marginal(x).mean().item()) < 1e-9


def test_points_are_fitted_independently(setting):
    """The optimum of a point does not depend on the other points in the batch."""
    model, x = setting
    alone = meanfield.fit_per_point(model.elbo, x[:1], 3, family="diag")
    together = meanfield.fit_per_point(model.elbo, x, 3, family="diag")
    torch.testing.assert_close(alone.mu[0], together.mu[0], rtol=0, atol=1e-6)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 1000), K=st.integers(1, 3), log_noise=st.floats(-2.0, 1.0))
def test_family_ordering_of_elbos(seed, K, log_noise):
    """Property: ELBO(best diag) <= ELBO(best full) = log p(x)."""
    g = _gen(seed)
    model = LinearGaussianModel(torch.randn(5, K, generator=g, dtype=F64), None, math.exp(log_noise))
    x, _ = model.sample(3, g)
    diag = meanfield.fit_per_point(model.elbo, x, K, family="diag")
    full = meanfield.fit_per_point(model.elbo, x, K, family="full")
    log_px = model.log_marginal(x)
    assert (diag.elbo <= full.elbo + 1e-8).all()
    torch.testing.assert_close(full.elbo, log_px, rtol=0, atol=1e-7)


# --------------------------------------------------------------------------- the MC ELBO


def test_monte_carlo_elbo_is_unbiased(setting):
    model, x = setting
    g = _gen(3)
    mu = torch.randn(4, 3, generator=g, dtype=F64)
    A = torch.randn(4, 3, 3, generator=g, dtype=F64)
    scale_tril = torch.linalg.cholesky(A @ A.mT + 0.3 * torch.eye(3, dtype=F64))
    eps = torch.randn(100_000, 4, 3, generator=g, dtype=F64)
    per_sample = torch.stack(
        [
            meanfield.monte_carlo_elbo(model.log_joint, x[:4], mu, scale_tril, eps=eps[i : i + 1000])
            for i in range(0, 100_000, 1000)
        ]
    )  # (100, 4): means over 1000 samples each
    estimate = per_sample.mean(0)
    stderr = per_sample.std(0) / math.sqrt(per_sample.shape[0])
    exact = model.elbo(x[:4], mu, scale_tril)
    assert ((estimate - exact).abs() < 4 * stderr).all()


def test_monte_carlo_elbo_gradients_flow():
    model = _model(D=4, K=2)
    x, _ = model.sample(2, _gen(4))
    mu = torch.zeros(2, 2, dtype=F64, requires_grad=True)
    scale_tril = torch.eye(2, dtype=F64).repeat(2, 1, 1).requires_grad_(True)
    meanfield.monte_carlo_elbo(model.log_joint, x, mu, scale_tril, n_samples=4, generator=_gen(5)).sum().backward()
    assert mu.grad is not None and mu.grad.abs().sum() > 0
    assert scale_tril.grad is not None and scale_tril.grad.abs().sum() > 0


# --------------------------------------------------------------------------- coordinate ascent, KL optima


def test_forward_kl_optimum_is_moment_matching():
    cov = torch.tensor([[2.0, 1.2], [1.2, 1.0]], dtype=F64)
    mu = torch.tensor([0.5, -1.0], dtype=F64)
    mu_q, var_q, kl_min = meanfield.best_diagonal_forward_kl(mu, cov)
    torch.testing.assert_close(var_q, cov.diagonal())
    torch.testing.assert_close(mu_q, mu)
    p = MultivariateNormal(mu, cov)
    torch.testing.assert_close(kl_min, kl_divergence(p, MultivariateNormal(mu_q, torch.diag(var_q))))
    # numerical optimisation of KL(p || q) over diagonal q lands on the same point
    params = torch.zeros(4, dtype=F64, requires_grad=True)
    opt = torch.optim.LBFGS(
        [params], max_iter=200, line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-16
    )

    def closure():
        opt.zero_grad()
        q = MultivariateNormal(params[:2], torch.diag(params[2:].exp()))
        loss = kl_divergence(p, q)
        loss.backward()
        return loss

    opt.step(closure)
    torch.testing.assert_close(params[:2].detach(), mu, atol=1e-6, rtol=0)
    torch.testing.assert_close(params[2:].detach().exp(), var_q, atol=1e-6, rtol=0)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), K=st.integers(1, 5))
def test_reverse_kl_variances_never_exceed_forward_kl_variances(seed, K):
    """Property: 1 / (Sigma^{-1})_kk <= Sigma_kk: mean-field under reverse KL underestimates."""
    g = _gen(seed)
    A = torch.randn(K, K, generator=g, dtype=F64)
    cov = A @ A.T + 0.1 * torch.eye(K, dtype=F64)
    mu = torch.zeros(K, dtype=F64)
    _, var_reverse, _ = best_diagonal_reverse_kl(mu, cov)
    _, var_forward, kl_forward = meanfield.best_diagonal_forward_kl(mu, cov)
    assert (var_reverse <= var_forward * (1 + 1e-9)).all()
    assert kl_forward >= -1e-12


def test_forward_kl_rejects_bad_covariances():
    mu = torch.zeros(2)
    with pytest.raises(ValueError, match=r"cov_p must have shape \(K, K\) = \(2, 2\)"):
        meanfield.best_diagonal_forward_kl(mu, torch.eye(3))
    with pytest.raises(ValueError, match="cov_p must be symmetric"):
        meanfield.best_diagonal_forward_kl(mu, torch.tensor([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="cov_p must be positive definite"):
        meanfield.best_diagonal_forward_kl(mu, torch.tensor([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match=r"mu_p must have shape \(K,\)"):
        meanfield.best_diagonal_forward_kl(torch.zeros(1, 2), torch.eye(2))


# --------------------------------------------------------------------------- encoders


@pytest.mark.parametrize("family", ["diag", "full"])
@pytest.mark.parametrize("hidden_dims", [(), (16, 8)])
def test_encoder_output_shapes_and_factor(family, hidden_dims):
    encoder = meanfield.GaussianEncoder(6, 3, hidden_dims, family=family)
    x = torch.randn(5, 6)
    mu, scale_tril = encoder(x)
    assert mu.shape == (5, 3) and scale_tril.shape == (5, 3, 3)
    assert torch.equal(scale_tril, torch.tril(scale_tril))
    assert (scale_tril.diagonal(dim1=-2, dim2=-1) > 0).all()
    off_diagonal = torch.tril(scale_tril, diagonal=-1)
    assert (off_diagonal.abs().sum() > 0) == (family == "full")
    n_out = 3 + (3 if family == "diag" else 6)
    assert encoder.head.out_features == n_out


def test_full_encoder_gradients_reach_the_off_diagonal():
    encoder = meanfield.GaussianEncoder(4, 3, (), family="full")
    _, scale_tril = encoder(torch.randn(2, 4))
    torch.tril(scale_tril, diagonal=-1).sum().backward()
    assert encoder.head.weight.grad[6:].abs().sum() > 0  # the K(K-1)/2 strictly-lower outputs


def test_linear_encoder_learns_the_exact_posterior_map():
    """The posterior mean is linear in x, so a linear full-covariance encoder trained by fit is exact."""
    torch.manual_seed(0)
    model = _model(D=6, K=2, seed=5)
    x_train, _ = model.sample(2000, _gen(6))
    encoder = meanfield.GaussianEncoder(6, 2, (), family="full", elbo_fn=model.elbo).to(F64)
    history = fit(
        encoder,
        x_train,
        epochs=30,
        batch_size=50,
        lr=0.05,
        lr_schedule=CosineDecay(30),
        device="cpu",
        progress=False,
        seed=7,
    )
    assert len(history) == 30 and history.loss[-1] < history.loss[0]
    x_test, _ = model.sample(50, _gen(8))
    with torch.no_grad():
        mu, scale_tril = encoder(x_test)
    posterior = model.posterior(x_test)
    torch.testing.assert_close(mu, posterior.mu, atol=1e-3, rtol=0)
    gain = (model.W / model.noise_var[:, None]) @ model.posterior_cov()  # (D, K)
    torch.testing.assert_close(encoder.head.weight[:2].detach().T, gain, atol=1e-3, rtol=0)
    gaps = model.log_marginal(x_test) - model.elbo(x_test, mu, scale_tril)
    assert (gaps >= -1e-10).all() and gaps.mean() < 1e-4


def test_encoder_loss_is_the_negative_elbo_split_into_its_two_terms(setting):
    """recon = E_q[-log p(x | z)] (Monte Carlo oracle), kl = KL(q || N(0, I)) (torch.distributions)."""
    model, x = setting
    torch.manual_seed(1)
    encoder = meanfield.GaussianEncoder(8, 3, (4,), family="full", elbo_fn=model.elbo).to(F64)
    parts = encoder.loss(x)
    mu, scale_tril = encoder(x)
    q = MultivariateNormal(mu, scale_tril=scale_tril)
    prior = MultivariateNormal(torch.zeros(3, dtype=F64), torch.eye(3, dtype=F64))
    torch.testing.assert_close(parts.kl, torch.distributions.kl_divergence(q, prior).mean())
    torch.testing.assert_close(parts.loss, -model.elbo(x, mu, scale_tril).mean())
    z = q.rsample((20_000,))  # (S, B, K)
    nll = -model.log_likelihood(x, z)  # (S, B)
    se = nll.mean(1).std() / 20_000**0.5
    assert abs(parts.recon.item() - nll.mean().item()) < 4 * se.item()
    half = encoder.loss(x, beta=0.5)
    torch.testing.assert_close(half.loss, half.recon + 0.5 * half.kl)


def test_briefly_trained_tiny_encoder_has_a_large_amortization_gap():
    torch.manual_seed(0)
    model = _model(D=6, K=2, seed=5)
    x_train, _ = model.sample(500, _gen(6))
    encoder = meanfield.GaussianEncoder(6, 2, (1,), family="diag", elbo_fn=model.elbo).to(F64)
    fit(encoder, x_train, epochs=2, lr=1e-2, device="cpu", progress=False, seed=7)
    x_test, _ = model.sample(50, _gen(8))
    best = meanfield.fit_per_point(model.elbo, x_test, 2, family="diag")
    with torch.no_grad():
        amortized = model.elbo(x_test, *encoder(x_test))
    gaps = meanfield.inference_gaps(model.log_marginal(x_test), best.elbo, amortized)
    assert gaps.mean()["amortization"] > 1.0
    assert (gaps.amortization >= -1e-8).all() and (gaps.approximation >= -1e-8).all()


def test_encoder_rejects_bad_input():
    encoder = meanfield.GaussianEncoder(6, 2)
    with pytest.raises(ValueError, match=r"x must be a tensor of shape \(B, 6\); got shape \(6,\)"):
        encoder(torch.zeros(6))
    with pytest.raises(ValueError, match="family must be 'diag'"):
        meanfield.GaussianEncoder(6, 2, family="diagonal")
    with pytest.raises(ValueError, match=r"hidden_dims\[1\] must be an integer >= 1; got 0"):
        meanfield.GaussianEncoder(6, 2, (4, 0))
    with pytest.raises(TypeError, match="elbo_fn must be a callable"):
        meanfield.GaussianEncoder(6, 2, elbo_fn=3)
    with pytest.raises(ValueError, match="needs the ELBO of the model.*elbo_fn=model.elbo"):
        encoder.loss(torch.zeros(3, 6))


def test_fit_checks_the_encoders_data_contract_once():
    model = _model(D=4, K=2)
    encoder = meanfield.GaussianEncoder(4, 2, elbo_fn=model.elbo).to(F64)
    with pytest.raises(ValueError, match=r"x_train must have shape \(N, 4\)"):
        fit(encoder, torch.zeros(3, 5, dtype=F64), epochs=1, progress=False)
    with pytest.raises(ValueError, match="x_train contains 1 non-finite"):
        fit(encoder, torch.tensor([[0.0, 1.0, math.nan, 2.0]], dtype=F64), epochs=1, progress=False)
    # Not images: values outside [0, 1] are fine for this model.
    history = fit(encoder, 10 * torch.randn(40, 4, dtype=F64), epochs=2, batch_size=20, progress=False, device="cpu")
    assert len(history) == 2 and all(map(math.isfinite, history.loss))


# --------------------------------------------------------------------------- the gaps


def test_inference_gaps_sum_and_sign(setting):
    model, x = setting
    log_px = model.log_marginal(x)
    diag = meanfield.fit_per_point(model.elbo, x, 3, family="diag")
    encoder = meanfield.GaussianEncoder(8, 3, (4,)).to(F64)  # untrained: a poor encoder
    with torch.no_grad():
        amortized = model.elbo(x, *encoder(x))
    gaps = meanfield.inference_gaps(log_px, diag.elbo, amortized)
    torch.testing.assert_close(gaps.approximation + gaps.amortization, gaps.total, rtol=0, atol=1e-12)
    torch.testing.assert_close(gaps.total, log_px - amortized)
    assert (gaps.approximation > 0).all() and (gaps.amortization > 0).all()
    means = gaps.mean()
    assert set(means) == {"approximation", "amortization", "total"}
    assert abs(means["total"] - gaps.total.mean().item()) < 1e-12


def test_inference_gaps_reject_bad_input():
    with pytest.raises(ValueError, match="log_px and elbo_best must have the same shape"):
        meanfield.inference_gaps(torch.zeros(3), torch.zeros(2), torch.zeros(3))
    with pytest.raises(ValueError, match="elbo_amortized contains 1 non-finite"):
        meanfield.inference_gaps(torch.zeros(2), torch.zeros(2), torch.tensor([0.0, float("nan")]))


def test_fit_per_point_rejects_bad_input(setting):
    model, x = setting
    with pytest.raises(ValueError, match="family must be 'diag'"):
        meanfield.fit_per_point(model.elbo, x, 3, family="mean-field")
    with pytest.raises(ValueError, match="optimizer must be 'lbfgs'"):
        meanfield.fit_per_point(model.elbo, x, 3, optimizer="sgd")
    with pytest.raises(ValueError, match=r"x must have shape \(B, D\).*got shape \(8,\)"):
        meanfield.fit_per_point(model.elbo, x[0], 3)
    with pytest.raises(ValueError, match=r"init_mu must have shape \(B, K\) = \(20, 3\)"):
        meanfield.fit_per_point(model.elbo, x, 3, init_mu=torch.zeros(20, 2, dtype=F64))
    with pytest.raises(ValueError, match="init_scale_tril must have a strictly positive diagonal"):
        meanfield.fit_per_point(model.elbo, x, 3, init_scale_tril=torch.zeros(20, 3, 3, dtype=F64))
    with pytest.raises(ValueError, match=r"elbo_fn must return one ELBO per point, shape \(20,\)"):
        meanfield.fit_per_point(lambda x, mu, L: model.elbo(x, mu, L).sum(), x, 3)


def test_monte_carlo_elbo_rejects_bad_shapes(setting):
    model, x = setting
    mu = torch.zeros(20, 3, dtype=F64)
    with pytest.raises(ValueError, match=r"scale_tril must have shape \(B, K, K\) = \(20, 3, 3\)"):
        meanfield.monte_carlo_elbo(model.log_joint, x, mu, torch.eye(3, dtype=F64))
    with pytest.raises(ValueError, match=r"eps must have shape \(S, B, K\) = \(S, 20, 3\)"):
        meanfield.monte_carlo_elbo(
            model.log_joint, x, mu, torch.eye(3, dtype=F64).repeat(20, 1, 1), eps=torch.zeros(20, 3)
        )


# --------------------------------------------------------------------------- MCMC
