"""Tests of vaelib.linear_gaussian against independent oracles.

Oracles: torch.distributions.MultivariateNormal for the marginal p(x); brute-force quadrature
over a grid of z (1-d and 2-d) for log p(x) = log int p(x, z) dz and for the posterior's
moments (Bayes' rule done numerically); Monte Carlo for the closed-form ELBO;
``kl_divergence`` for log p(x) - ELBO = KL(q || p(z|x)); sample moments for ``sample``; the
Tipping & Bishop (1999) closed-form maximum-likelihood PPCA noise for EM's fixed point.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import MultivariateNormal, kl_divergence

from vaelib.linear_gaussian import GaussianPosterior, LinearGaussianModel

F64 = torch.float64
BATCHES = [(), (4,), (2, 3)]


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _fa_model(D: int = 5, K: int = 2, seed: int = 0) -> LinearGaussianModel:
    """A factor-analysis model (diagonal, non-isotropic noise) with a non-zero mean."""
    g = _gen(seed)
    W = torch.randn(D, K, generator=g, dtype=F64)
    b = torch.randn(D, generator=g, dtype=F64)
    noise_var = 0.2 + torch.rand(D, generator=g, dtype=F64)
    return LinearGaussianModel(W, b, noise_var)


def _random_tril(*batch: int, K: int, seed: int = 0) -> torch.Tensor:
    g = _gen(seed)
    A = torch.randn(*batch, K, K, generator=g, dtype=F64)
    return torch.linalg.cholesky(A @ A.mT / K + 0.3 * torch.eye(K, dtype=F64))


def _grid(K: int, half_width: float, n: int) -> tuple[torch.Tensor, float]:
    """A regular grid over [-half_width, half_width]^K: points (G, K) and the cell volume."""
    axis = torch.linspace(-half_width, half_width, n, dtype=F64)
    step = (axis[1] - axis[0]).item()
    mesh = torch.meshgrid(*([axis] * K), indexing="ij")
    return torch.stack([m.reshape(-1) for m in mesh], -1), step**K


# --------------------------------------------------------------------------- the marginal


@pytest.mark.parametrize("batch", BATCHES)
def test_log_marginal_matches_multivariate_normal(batch):
    model = _fa_model(D=6, K=3)
    x = torch.randn(*batch, 6, generator=_gen(1), dtype=F64) * 2
    mean, cov = model.marginal()
    expected = MultivariateNormal(mean, covariance_matrix=cov).log_prob(x)
    got = model.log_marginal(x)
    assert got.shape == batch
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_marginal_covariance_is_WWT_plus_noise():
    model = _fa_model()
    mean, cov = model.marginal()
    torch.testing.assert_close(mean, model.b)
    torch.testing.assert_close(cov, model.W @ model.W.T + torch.diag(model.noise_var))


@pytest.mark.parametrize("K", [1, 2])
def test_log_marginal_matches_quadrature(K):
    """log p(x) = log int p(x, z) dz, the integral done on a grid (a Riemann sum)."""
    model = _fa_model(D=3, K=K, seed=K)
    x, _ = model.sample(4, _gen(2))
    z, volume = _grid(K, 7.0, 2001 if K == 1 else 401)
    log_joint = model.log_joint(x[:, None, :], z)  # (B, G)
    quadrature = torch.logsumexp(log_joint, dim=1) + math.log(volume)
    torch.testing.assert_close(model.log_marginal(x), quadrature, rtol=0, atol=1e-7)


# --------------------------------------------------------------------------- the posterior


@pytest.mark.parametrize("K", [1, 2])
def test_posterior_matches_bayes_rule_on_a_grid(K):
    """p(z|x) = p(x,z) / p(x): the grid's normalised weights give the posterior moments."""
    model = _fa_model(D=3, K=K, seed=10 + K)
    x, _ = model.sample(3, _gen(3))
    z, _ = _grid(K, 7.0, 2001 if K == 1 else 401)
    weights = torch.softmax(model.log_joint(x[:, None, :], z), dim=1)  # (B, G)
    mean = weights @ z  # (B, K)
    centred = z[None] - mean[:, None]  # (B, G, K)
    cov = torch.einsum("bg,bgi,bgj->bij", weights, centred, centred)  # (B, K, K)
    posterior = model.posterior(x)
    torch.testing.assert_close(posterior.mu, mean, rtol=0, atol=1e-8)
    torch.testing.assert_close(posterior.cov.expand_as(cov), cov, rtol=0, atol=1e-8)


def test_posterior_precision_and_cov_are_inverse():
    model = _fa_model(D=7, K=3)
    eye = torch.eye(3, dtype=F64)
    torch.testing.assert_close(model.posterior_precision() @ model.posterior_cov(), eye)
    posterior = model.posterior(torch.zeros(7, dtype=F64))
    assert isinstance(posterior, GaussianPosterior)
    L = posterior.scale_tril
    assert torch.equal(L, torch.tril(L)) and (L.diagonal() > 0).all()
    torch.testing.assert_close(posterior.cov, model.posterior_cov())


@pytest.mark.parametrize("batch", BATCHES)
def test_posterior_mean_shape_and_ppca_formula(batch):
    """PPCA: the posterior mean is M^{-1} W^T (x - b) with M = W^T W + sigma^2 I (Bishop 12.42)."""
    g = _gen(4)
    W = torch.randn(6, 2, generator=g, dtype=F64)
    b = torch.randn(6, generator=g, dtype=F64)
    model = LinearGaussianModel(W, b, 0.3)
    x = torch.randn(*batch, 6, generator=g, dtype=F64)
    M = W.T @ W + 0.3 * torch.eye(2, dtype=F64)
    expected_mu = (x - b) @ W @ torch.linalg.inv(M).T  # rows of M^{-1} W^T (x - b)
    posterior = model.posterior(x)
    assert posterior.mu.shape == (*batch, 2)
    torch.testing.assert_close(posterior.mu, expected_mu)
    torch.testing.assert_close(posterior.cov, 0.3 * torch.linalg.inv(M))


# --------------------------------------------------------------------------- the ELBO


def test_elbo_of_exact_posterior_is_log_marginal():
    model = _fa_model(D=8, K=3)
    x, _ = model.sample(10, _gen(5))
    posterior = model.posterior(x)
    torch.testing.assert_close(
        model.elbo(x, posterior.mu, posterior.scale_tril), model.log_marginal(x), rtol=0, atol=1e-10
    )


@pytest.mark.parametrize("batch", BATCHES)
def test_elbo_gap_is_kl_to_the_posterior(batch):
    """log p(x) - ELBO(q) = KL(q || p(z|x)) for any q: checked with torch's kl_divergence."""
    model = _fa_model(D=6, K=3)
    g = _gen(6)
    x = torch.randn(*batch, 6, generator=g, dtype=F64)
    mu = torch.randn(*batch, 3, generator=g, dtype=F64)
    scale_tril = _random_tril(*batch, K=3, seed=7)
    posterior = model.posterior(x)
    kl = kl_divergence(
        MultivariateNormal(mu, scale_tril=scale_tril),
        MultivariateNormal(posterior.mu, scale_tril=posterior.scale_tril.expand(*batch, 3, 3)),
    )
    gap = model.log_marginal(x) - model.elbo(x, mu, scale_tril)
    assert gap.shape == batch
    torch.testing.assert_close(gap, kl, rtol=1e-9, atol=1e-9)


def test_elbo_matches_monte_carlo():
    """E_q[log p(x, z) - log q(z)] by Monte Carlo, within 4 standard errors."""
    model = _fa_model(D=5, K=2)
    g = _gen(8)
    x = torch.randn(3, 5, generator=g, dtype=F64)
    mu = torch.randn(3, 2, generator=g, dtype=F64)
    scale_tril = _random_tril(3, K=2, seed=9)
    q = MultivariateNormal(mu, scale_tril=scale_tril)
    torch.manual_seed(0)
    z = q.sample((200_000,))  # (S, B, K)
    log_ratio = model.log_joint(x, z) - q.log_prob(z)  # (S, B)
    estimate, stderr = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(z.shape[0])
    exact = model.elbo(x, mu, scale_tril)
    assert ((exact - estimate).abs() < 4 * stderr).all(), (exact, estimate, stderr)


def test_expected_log_likelihood_matches_monte_carlo():
    model = _fa_model(D=4, K=3)
    g = _gen(11)
    x = torch.randn(2, 4, generator=g, dtype=F64)
    mu = torch.randn(2, 3, generator=g, dtype=F64)
    scale_tril = _random_tril(2, K=3, seed=12)
    torch.manual_seed(1)
    z = MultivariateNormal(mu, scale_tril=scale_tril).sample((200_000,))
    values = model.log_likelihood(x, z)
    estimate, stderr = values.mean(0), values.std(0) / math.sqrt(z.shape[0])
    exact = model.expected_log_likelihood(x, mu, scale_tril)
    assert ((exact - estimate).abs() < 4 * stderr).all()


def test_elbo_diag_equals_elbo_with_diagonal_factor():
    model = _fa_model()
    g = _gen(13)
    x = torch.randn(4, 5, generator=g, dtype=F64)
    mu = torch.randn(4, 2, generator=g, dtype=F64)
    log_var = torch.randn(4, 2, generator=g, dtype=F64)
    expected = model.elbo(x, mu, torch.diag_embed((0.5 * log_var).exp()))
    torch.testing.assert_close(model.elbo_diag(x, mu, log_var), expected)


def test_elbo_broadcasts_a_shared_scale_tril():
    model = _fa_model()
    x, _ = model.sample(5, _gen(14))
    posterior = model.posterior(x)
    shared = model.elbo(x, posterior.mu, posterior.scale_tril)  # (K, K) for all
    per_point = model.elbo(x, posterior.mu, posterior.scale_tril.expand(5, 2, 2))
    torch.testing.assert_close(shared, per_point)


@settings(max_examples=30, deadline=None)
@given(
    D=st.integers(1, 6),
    K=st.integers(1, 4),
    seed=st.integers(0, 10_000),
    log_noise=st.floats(-3.0, 2.0),
)
def test_elbo_never_exceeds_log_marginal(D, K, seed, log_noise):
    """Property: ELBO(q) <= log p(x) for every Gaussian q, with equality at the posterior."""
    g = _gen(seed)
    model = LinearGaussianModel(torch.randn(D, K, generator=g, dtype=F64), None, math.exp(log_noise))
    x = 3 * torch.randn(4, D, generator=g, dtype=F64)
    mu = torch.randn(4, K, generator=g, dtype=F64)
    scale_tril = _random_tril(4, K=K, seed=seed + 1)
    log_px = model.log_marginal(x)
    assert (model.elbo(x, mu, scale_tril) <= log_px + 1e-9).all()
    posterior = model.posterior(x)
    torch.testing.assert_close(model.elbo(x, posterior.mu, posterior.scale_tril), log_px, rtol=1e-9, atol=1e-8)
    mean, cov = model.marginal()
    torch.testing.assert_close(log_px, MultivariateNormal(mean, cov).log_prob(x), rtol=1e-9, atol=1e-8)


# --------------------------------------------------------------------------- sampling


def test_sample_moments_match_the_model():
    model = _fa_model(D=4, K=2)
    x, z = model.sample(200_000, _gen(15))
    assert x.shape == (200_000, 4) and z.shape == (200_000, 2) and x.dtype == F64
    mean, cov = model.marginal()
    # standard error of a sample mean: sqrt(var / n); of a covariance entry: about sqrt((C_ii C_jj + C_ij^2) / n)
    n = x.shape[0]
    assert ((x.mean(0) - mean).abs() < 4 * (cov.diagonal() / n).sqrt()).all()
    se_cov = ((cov.diagonal()[:, None] * cov.diagonal()[None] + cov**2) / n).sqrt()
    assert ((torch.cov(x.T) - cov).abs() < 4 * se_cov).all()
    assert ((z.mean(0)).abs() < 4 / math.sqrt(n)).all()


def test_sample_is_reproducible_with_a_generator():
    model = _fa_model()
    a, _ = model.sample(3, _gen(16))
    b, _ = model.sample(3, _gen(16))
    assert torch.equal(a, b)


def test_random_model_correlation_makes_columns_parallel():
    loose = LinearGaussianModel.random(200, 2, correlation=0.0, generator=_gen(0), dtype=F64)
    tight = LinearGaussianModel.random(200, 2, correlation=0.9, generator=_gen(0), dtype=F64)

    def cosine(W):
        return (W[:, 0] @ W[:, 1] / W.norm(dim=0).prod()).abs().item()

    assert cosine(loose.W) < 0.3 < 0.8 < cosine(tight.W)
    assert tight.W.dtype == F64 and torch.equal(tight.noise_var, torch.full((200,), 0.5, dtype=F64))


# --------------------------------------------------------------------------- EM


@pytest.mark.parametrize("isotropic", [False, True])
def test_em_increases_log_likelihood_monotonically(isotropic):
    """log p_new(x) >= ELBO(q, new) >= ELBO(q, old) = log p_old(x) with q the old posterior."""
    truth = _fa_model(D=6, K=2, seed=20)
    x, _ = truth.sample(500, _gen(21))
    model = LinearGaussianModel(torch.randn(6, 2, generator=_gen(22), dtype=F64), None, 1.0)
    values = [model.log_marginal(x).mean().item()]
    for _ in range(15):
        q = model.posterior(x)
        elbo_old = model.elbo(x, q.mu, q.scale_tril).mean().item()
        assert abs(elbo_old - values[-1]) < 1e-9  # the E-step makes the bound tight
        model = model.em_step(x, isotropic=isotropic)
        elbo_new = model.elbo(x, q.mu, q.scale_tril).mean().item()
        values.append(model.log_marginal(x).mean().item())
        assert elbo_old - 1e-12 <= elbo_new <= values[-1] + 1e-12
    increments = torch.tensor(values).diff()
    assert (increments >= -1e-10).all(), values
    assert values[-1] > values[0] + 0.1
    if isotropic:
        assert torch.allclose(model.noise_var, model.noise_var[0].expand(6))


def test_em_leaves_the_model_unchanged_and_ppca_reaches_the_tipping_bishop_optimum():
    """PPCA's ML noise is the mean of the D-K smallest eigenvalues of the sample covariance."""
    truth = LinearGaussianModel.random(5, 2, noise_var=0.3, generator=_gen(23), dtype=F64)
    x, _ = truth.sample(400, _gen(24))
    start = LinearGaussianModel(torch.randn(5, 2, generator=_gen(25), dtype=F64), None, 1.0)
    W_before = start.W.clone()
    model = start
    for _ in range(300):
        model = model.em_step(x, isotropic=True)
    assert torch.equal(start.W, W_before)
    centred = x - x.mean(0)
    eigenvalues = torch.linalg.eigvalsh(centred.T @ centred / x.shape[0])  # ascending
    torch.testing.assert_close(model.noise_var[0], eigenvalues[:3].mean(), rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(model.b, x.mean(0), rtol=0, atol=1e-8)  # the ML mean
    # and W W^T spans the top-2 eigenspace: C = W W^T + sigma^2 I matches S there
    _, C = model.marginal()
    evals_C = torch.linalg.eigvalsh(C)
    torch.testing.assert_close(evals_C[-2:], eigenvalues[-2:], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("isotropic", [False, True])
def test_hard_em_step_is_least_squares_on_the_posterior_modes(isotropic):
    """Oracle: with z_n fixed at the posterior mode, the M-step is ordinary least squares of x on
    (m_n, 1) (torch.linalg.lstsq), and the noise is the mean squared residual."""
    truth = _fa_model(D=6, K=2, seed=30)
    x, _ = truth.sample(200, _gen(31))
    model = _fa_model(D=6, K=2, seed=32)
    new = model.em_step(x, isotropic=isotropic, point_mass=True)
    design = torch.cat([model.posterior(x).mu, torch.ones(200, 1, dtype=F64)], 1)  # (N, K+1)
    coef = torch.linalg.lstsq(design, x).solution  # (K+1, D)
    residual = x - design @ coef  # (N, D)
    torch.testing.assert_close(new.W, coef[:2].T, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(new.b, coef[2], rtol=1e-9, atol=1e-10)
    expected_noise = (residual**2).mean() if isotropic else (residual**2).mean(0)
    torch.testing.assert_close(new.noise_var, expected_noise.expand(6), rtol=1e-8, atol=1e-12)


def test_hard_em_ascends_the_joint_at_the_mode_which_is_not_a_bound_and_collapses():
    """Hard EM is coordinate ascent on J = sum_n log p(x_n, z_n): J never decreases; J exceeds
    log p(x) by sum_n log p(z_n | x_n) = -N/2 (K log 2 pi + log det S) at the modes; a noise
    variance shrinks towards 0 until the M-step fails with a message naming the collapse."""
    truth = LinearGaussianModel.random(8, 2, noise_var=0.5, correlation=0.6, generator=_gen(33), dtype=F64)
    x, _ = truth.sample(300, _gen(34))
    model = LinearGaussianModel.random(8, 2, noise_var=1.0, generator=_gen(35), dtype=F64)
    J_values, min_noise = [], []
    with pytest.raises(ValueError, match=r"noise variance .* <= 0 in data dimension \d+: hard EM has collapsed"):
        for _ in range(200):
            modes = model.posterior(x).mu
            J = model.log_joint(x, modes)  # (N,)
            log_density_at_mode = -0.5 * (2 * math.log(2 * math.pi) + torch.logdet(model.posterior_cov()))
            torch.testing.assert_close(J - model.log_marginal(x), log_density_at_mode.expand(300), rtol=1e-6, atol=1e-6)
            J_values.append(J.mean().item())
            min_noise.append(model.noise_var.min().item())
            model = model.em_step(x, point_mass=True)
    assert all(b >= a - 1e-9 for a, b in zip(J_values, J_values[1:])), J_values
    assert min_noise[-1] < 1e-6 * min_noise[0]


def test_em_reports_a_non_positive_noise_variance(monkeypatch):
    """Exact EM's noise variances are >= 0 in exact arithmetic (a least-squares residual), so only
    rounding on a constant data dimension can trip the error; here a posterior covariance that is
    too negative forces it deterministically, to test the message."""
    model = _fa_model(D=5, K=2, seed=38)
    x, _ = model.sample(100, _gen(39))
    mu = model.posterior(x).mu  # (N, K)
    smallest = torch.linalg.eigvalsh(torch.cov(mu.T, correction=0))[0]
    fake = GaussianPosterior(mu, torch.eye(2, dtype=F64))
    monkeypatch.setattr(type(fake), "cov", property(lambda self: -0.999 * smallest * torch.eye(2, dtype=F64)))
    monkeypatch.setattr(model, "posterior", lambda x: fake)
    with pytest.raises(
        ValueError,
        match=r"noise variance -?[0-9.e+-]+ <= 0 in data dimension \d: check that data dimension \d is not constant",
    ):
        model.em_step(x)


# --------------------------------------------------------------------------- bad input


def test_W_must_be_a_matrix():
    with pytest.raises(ValueError, match=r"W must be a matrix of shape \(D, K\).*got shape \(5,\)"):
        LinearGaussianModel(torch.ones(5))


def test_W_must_be_floating():
    with pytest.raises(TypeError, match="W must be a floating-point tensor"):
        LinearGaussianModel(torch.ones(5, 2, dtype=torch.int64))


def test_W_must_be_finite():
    W = torch.ones(3, 2)
    W[0, 0] = float("nan")
    with pytest.raises(ValueError, match="W contains 1 non-finite"):
        LinearGaussianModel(W)


def test_b_must_match_D():
    with pytest.raises(ValueError, match=r"b must have shape \(D,\) = \(5,\).*got shape \(4,\)"):
        LinearGaussianModel(torch.ones(5, 2), torch.zeros(4))


@pytest.mark.parametrize("noise_var", [0.0, -1.0, torch.tensor([1.0, 0.0, 1.0])])
def test_noise_var_must_be_positive(noise_var):
    with pytest.raises(ValueError, match="noise_var must be"):
        LinearGaussianModel(torch.ones(3, 2), None, noise_var)


def test_noise_var_shape():
    with pytest.raises(
        ValueError, match=r"noise_var must be a number .* or have shape \(D,\) = \(3,\).*got shape \(2,\)"
    ):
        LinearGaussianModel(torch.ones(3, 2), None, torch.ones(2))


def test_x_with_the_wrong_last_dimension():
    model = _fa_model(D=5)
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 5\).*got shape \(3, 4\)"):
        model.log_marginal(torch.zeros(3, 4, dtype=F64))
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 5\).*got shape \(\)"):
        model.posterior(torch.tensor(1.0, dtype=F64))


def test_z_and_mu_with_the_wrong_last_dimension():
    model = _fa_model(D=5, K=2)
    x = torch.zeros(3, 5, dtype=F64)
    with pytest.raises(ValueError, match=r"z must have shape \(\.\.\., 2\)"):
        model.log_joint(x, torch.zeros(3, 3, dtype=F64))
    with pytest.raises(ValueError, match=r"mu must have shape \(\.\.\., 2\)"):
        model.elbo(x, torch.zeros(3, 3, dtype=F64), torch.eye(2, dtype=F64))


def test_scale_tril_with_the_wrong_shape():
    model = _fa_model(D=5, K=2)
    x = torch.zeros(3, 5, dtype=F64)
    with pytest.raises(
        ValueError, match=r"scale_tril must have shape \(\.\.\., K, K\) = \(\.\.\., 2, 2\).*got shape \(3, 2\)"
    ):
        model.elbo(x, torch.zeros(3, 2, dtype=F64), torch.ones(3, 2, dtype=F64))


def test_elbo_rejects_a_bad_cholesky_factor():
    model = _fa_model(D=5, K=2)
    x = torch.zeros(1, 5, dtype=F64)
    with pytest.raises(ValueError, match="strictly positive diagonal"):
        model.elbo(x, torch.zeros(1, 2, dtype=F64), -torch.eye(2, dtype=F64))


def test_sample_and_random_reject_bad_sizes():
    model = _fa_model()
    with pytest.raises(ValueError, match="n must be an integer >= 1; got 0"):
        model.sample(0)
    with pytest.raises(ValueError, match="latent_dim must be an integer >= 1"):
        LinearGaussianModel.random(4, 0)
    with pytest.raises(ValueError, match=r"correlation must be a number in \[0, 1\); got 1.0"):
        LinearGaussianModel.random(4, 2, correlation=1.0)


def test_em_needs_a_batch_of_points():
    model = _fa_model(D=5)
    with pytest.raises(ValueError, match=r"x must have shape \(N, D\) with N >= 2.*got shape \(5,\)"):
        model.em_step(torch.zeros(5, dtype=F64))


def test_repr_and_dims():
    model = _fa_model(D=5, K=2)
    assert (model.data_dim, model.latent_dim) == (5, 2)
    assert "data_dim=5, latent_dim=2" in repr(model)
