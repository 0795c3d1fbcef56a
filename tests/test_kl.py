"""Tests of vaelib.kl against torch.distributions.kl_divergence, Monte Carlo and properties.

Properties (hypothesis): KL >= 0; KL = 0 when q = p and > 0 otherwise; the diagonal formula
equals the full one with a diagonal factor; float32 stays accurate for log-variances from -20
to 10 and K up to 64 (compared with a float64 evaluation).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import (
    Categorical,
    Independent,
    MultivariateNormal,
    Normal,
    kl_divergence,
)

from vaelib import kl

BATCHES = [(), (4,), (2, 3)]
K = 5
F64 = torch.float64


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _random_tril(*shape: int, K_: int = K, seed: int = 0, dtype=F64) -> torch.Tensor:
    g = _gen(seed)
    A = torch.randn(*shape, K_, K_, generator=g, dtype=dtype)
    return torch.linalg.cholesky(A @ A.mT / K_ + 0.5 * torch.eye(K_, dtype=dtype))


def _std_normal(K_: int, dtype=F64):
    return MultivariateNormal(torch.zeros(K_, dtype=dtype), scale_tril=torch.eye(K_, dtype=dtype))


# --------------------------------------------------------------------------- to N(0, I)


@pytest.mark.parametrize("batch", BATCHES)
def test_diag_to_std_normal_matches_torch(batch):
    g = _gen(1)
    mu = torch.randn(*batch, K, generator=g, dtype=F64)
    log_var = 2 * torch.randn(*batch, K, generator=g, dtype=F64)
    ours = kl.diag_gaussian_to_std_normal(mu, log_var)
    assert ours.shape == batch
    q = Independent(Normal(mu, torch.exp(0.5 * log_var)), 1)
    p = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    torch.testing.assert_close(ours, kl_divergence(q, p))


def test_diag_to_std_normal_is_kingma_welling_appendix_b():
    mu = torch.tensor([[0.5, -1.0]], dtype=F64)
    log_var = torch.tensor([[0.3, -2.0]], dtype=F64)
    by_hand = 0.5 * (torch.exp(log_var) + mu**2 - 1 - log_var).sum(-1)
    torch.testing.assert_close(kl.diag_gaussian_to_std_normal(mu, log_var), by_hand)
    # log_var (K,) shared across the batch broadcasts
    assert kl.diag_gaussian_to_std_normal(torch.zeros(4, 2), torch.zeros(2)).shape == (4,)


@pytest.mark.parametrize("batch", BATCHES)
def test_full_to_std_normal_matches_torch(batch):
    mu = torch.randn(*batch, K, generator=_gen(2), dtype=F64)
    L = _random_tril(*batch, seed=3)
    ours = kl.full_gaussian_to_std_normal(mu, L)
    assert ours.shape == batch
    torch.testing.assert_close(ours, kl_divergence(MultivariateNormal(mu, scale_tril=L), _std_normal(K)))


def test_full_to_std_normal_formula_by_hand_and_broadcasting():
    mu = torch.tensor([1.0, -0.5], dtype=F64)
    L = torch.tensor([[2.0, 0.0], [0.3, 0.5]], dtype=F64)
    by_hand = 0.5 * (L.pow(2).sum() + mu @ mu - 2 - 2 * torch.log(L.diagonal()).sum())
    torch.testing.assert_close(kl.full_gaussian_to_std_normal(mu, L), by_hand)
    # one L shared by a batch of means, and one mean with a batch of L
    assert kl.full_gaussian_to_std_normal(torch.zeros(3, 2), L).shape == (3,)
    assert kl.full_gaussian_to_std_normal(mu, L.expand(4, 2, 2)).shape == (4,)


@pytest.mark.parametrize("K_", [64, 512])
def test_full_to_std_normal_large_K(K_):
    mu = torch.randn(2, K_, generator=_gen(4), dtype=F64)
    L = _random_tril(2, K_=K_, seed=5)
    torch.testing.assert_close(
        kl.full_gaussian_to_std_normal(mu, L),
        kl_divergence(MultivariateNormal(mu, scale_tril=L), _std_normal(K_)),
    )


@settings(max_examples=60, deadline=None)
@given(
    K_=st.integers(1, 64),
    log_var_lo=st.floats(-20, 10),
    log_var_hi=st.floats(-20, 10),
    mu_scale=st.floats(0, 10),
    seed=st.integers(0, 2**16),
)
def test_diag_equals_full_with_diagonal_factor_and_is_nonnegative(K_, log_var_lo, log_var_hi, mu_scale, seed):
    g = _gen(seed)
    lo, hi = sorted((log_var_lo, log_var_hi))
    log_var = lo + (hi - lo) * torch.rand(3, K_, generator=g, dtype=F64)
    mu = mu_scale * torch.randn(3, K_, generator=g, dtype=F64)
    diag = kl.diag_gaussian_to_std_normal(mu, log_var)
    full = kl.full_gaussian_to_std_normal(mu, torch.diag_embed(torch.exp(0.5 * log_var)))
    torch.testing.assert_close(diag, full, rtol=1e-10, atol=1e-12)
    assert (diag >= 0).all()


@settings(max_examples=60, deadline=None)
@given(K_=st.integers(1, 64), lo=st.floats(-20, 10), width=st.floats(0, 30), seed=st.integers(0, 2**16))
def test_float32_is_stable_for_extreme_log_variances(K_, lo, width, seed):
    """float32 result within 1e-5 relative (plus 1e-6 absolute per dimension) of float64."""
    g = _gen(seed)
    hi = min(lo + width, 10.0)
    log_var = lo + (hi - lo) * torch.rand(2, K_, generator=g, dtype=F64)
    mu = torch.randn(2, K_, generator=g, dtype=F64)
    exact = kl.diag_gaussian_to_std_normal(mu, log_var)
    approx = kl.diag_gaussian_to_std_normal(mu.float(), log_var.float())
    assert torch.isfinite(approx).all() and (approx >= 0).all()
    torch.testing.assert_close(approx.double(), exact, rtol=1e-5, atol=1e-6 * K_)
    # the full-covariance version with a diagonal factor, same tolerance
    L = torch.diag_embed(torch.exp(0.5 * log_var))
    approx_full = kl.full_gaussian_to_std_normal(mu.float(), L.float())
    torch.testing.assert_close(approx_full.double(), exact, rtol=1e-5, atol=1e-6 * K_)


def test_near_zero_log_variance_is_accurate_in_float32():
    """expm1 keeps exp(a) - 1 - a ~ a^2 / 2 accurate where exp(a) - 1 - a cancels."""
    log_var = torch.full((1, 1), 1e-4)
    kl32 = kl.diag_gaussian_to_std_normal(torch.zeros(1, 1), log_var)
    assert abs(kl32.item() / (0.5 * 0.5 * 1e-8) - 1) < 1e-3


@settings(max_examples=40, deadline=None)
@given(K_=st.integers(1, 16), seed=st.integers(0, 2**16), delta=st.floats(1e-3, 5))
def test_kl_zero_iff_same_distribution(K_, seed, delta):
    g = _gen(seed)
    mu = torch.randn(K_, generator=g, dtype=F64)
    L = _random_tril(K_=K_, seed=seed)
    assert kl.gaussian_to_gaussian(mu, L, mu, L).abs().item() < 1e-10
    log_var = torch.randn(K_, generator=g, dtype=F64)
    assert kl.diag_gaussian_to_diag_gaussian(mu, log_var, mu, log_var).item() == 0.0
    assert kl.diag_gaussian_to_std_normal(torch.zeros(K_), torch.zeros(K_)).item() == 0.0
    assert kl.full_gaussian_to_std_normal(torch.zeros(K_), torch.eye(K_)).item() == 0.0
    # any change of mean or covariance makes it strictly positive
    i = int(torch.randint(K_, (1,), generator=g))
    shifted = mu.clone()
    shifted[i] += delta
    assert kl.gaussian_to_gaussian(shifted, L, mu, L).item() > 0
    L2 = L.clone()
    L2[i, i] *= 1 + delta
    assert kl.gaussian_to_gaussian(mu, L2, mu, L).item() > 0
    assert kl.diag_gaussian_to_diag_gaussian(mu, log_var + delta, mu, log_var).item() > 0


# --------------------------------------------------------------------------- Gaussian to Gaussian


@pytest.mark.parametrize("batch", BATCHES)
def test_gaussian_to_gaussian_matches_torch(batch):
    g = _gen(6)
    mu_q = torch.randn(*batch, K, generator=g, dtype=F64)
    mu_p = torch.randn(*batch, K, generator=g, dtype=F64)
    L_q, L_p = _random_tril(*batch, seed=7), _random_tril(*batch, seed=8)
    ours = kl.gaussian_to_gaussian(mu_q, L_q, mu_p, L_p)
    assert ours.shape == batch
    expected = kl_divergence(MultivariateNormal(mu_q, scale_tril=L_q), MultivariateNormal(mu_p, scale_tril=L_p))
    torch.testing.assert_close(ours, expected)


def test_gaussian_to_gaussian_reduces_to_std_normal_and_broadcasts():
    mu = torch.randn(4, K, generator=_gen(9), dtype=F64)
    L = _random_tril(4, seed=10)
    torch.testing.assert_close(
        kl.gaussian_to_gaussian(mu, L, torch.zeros(K, dtype=F64), torch.eye(K, dtype=F64)),
        kl.full_gaussian_to_std_normal(mu, L),
    )
    # p shared by the batch
    assert kl.gaussian_to_gaussian(mu, L, mu[0], L[0]).shape == (4,)


@settings(max_examples=40, deadline=None)
@given(K_=st.integers(1, 64), seed=st.integers(0, 2**16), lo=st.floats(-20, 10), hi=st.floats(-20, 10))
def test_gaussian_to_gaussian_nonnegative_and_matches_torch_at_extremes(K_, seed, lo, hi):
    g = _gen(seed)
    log_var_q = lo + torch.rand(K_, generator=g, dtype=F64)
    log_var_p = hi + torch.rand(K_, generator=g, dtype=F64)
    L_q = torch.diag_embed(torch.exp(0.5 * log_var_q)) + torch.tril(
        0.01 * torch.randn(K_, K_, generator=g, dtype=F64), -1
    )
    L_p = torch.diag_embed(torch.exp(0.5 * log_var_p))
    mu_q, mu_p = torch.randn(2, K_, generator=g, dtype=F64)
    ours = kl.gaussian_to_gaussian(mu_q, L_q, mu_p, L_p)
    assert ours.item() >= 0
    expected = kl_divergence(MultivariateNormal(mu_q, scale_tril=L_q), MultivariateNormal(mu_p, scale_tril=L_p))
    torch.testing.assert_close(ours, expected, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("batch", BATCHES)
def test_diag_to_diag_matches_torch_and_full(batch):
    g = _gen(11)
    mu_q, mu_p = torch.randn(2, *batch, K, generator=g, dtype=F64)
    lv_q, lv_p = 3 * torch.randn(2, *batch, K, generator=g, dtype=F64)
    ours = kl.diag_gaussian_to_diag_gaussian(mu_q, lv_q, mu_p, lv_p)
    assert ours.shape == batch
    q = Independent(Normal(mu_q, torch.exp(0.5 * lv_q)), 1)
    p = Independent(Normal(mu_p, torch.exp(0.5 * lv_p)), 1)
    torch.testing.assert_close(ours, kl_divergence(q, p))
    full = kl.gaussian_to_gaussian(
        mu_q, torch.diag_embed(torch.exp(0.5 * lv_q)), mu_p, torch.diag_embed(torch.exp(0.5 * lv_p))
    )
    torch.testing.assert_close(ours, full)
    std_p = kl.diag_gaussian_to_diag_gaussian(mu_q, lv_q, torch.zeros(K, dtype=F64), torch.zeros(K, dtype=F64))
    torch.testing.assert_close(std_p, kl.diag_gaussian_to_std_normal(mu_q, lv_q))


def test_kl_gradients_match_torch():
    mu = torch.randn(3, K, dtype=F64, requires_grad=True)
    raw = torch.randn(3, K, K, dtype=F64)
    L = (torch.tril(raw, -1) + torch.diag_embed(torch.exp(raw.diagonal(dim1=-2, dim2=-1)))).requires_grad_(True)
    kl.full_gaussian_to_std_normal(mu, L).sum().backward()
    mu2, L2 = mu.detach().clone().requires_grad_(True), L.detach().clone().requires_grad_(True)
    kl_divergence(MultivariateNormal(mu2, scale_tril=L2), _std_normal(K)).sum().backward()
    torch.testing.assert_close(mu.grad, mu2.grad)
    torch.testing.assert_close(torch.tril(L.grad), torch.tril(L2.grad))


# --------------------------------------------------------------------------- Monte Carlo KL


@pytest.mark.parametrize("batch", BATCHES)
def test_monte_carlo_kl_within_five_standard_errors(batch):
    torch.manual_seed(12)
    g = _gen(12)
    mu_q, mu_p = torch.randn(2, *batch, K, generator=g, dtype=F64)
    L_q, L_p = _random_tril(*batch, seed=13), _random_tril(*batch, seed=14)
    q = MultivariateNormal(mu_q, scale_tril=L_q)
    p = MultivariateNormal(mu_p, scale_tril=L_p)
    estimate, se = kl.monte_carlo_kl(q, p, 20_000)
    assert estimate.shape == batch and se.shape == batch
    exact = kl.gaussian_to_gaussian(mu_q, L_q, mu_p, L_p)
    assert ((estimate - exact).abs() < 5 * se).all()
    assert (se > 0).all() and (se < 0.1 * exact.clamp_min(0.1)).all()


def test_monte_carlo_kl_is_differentiable_and_works_for_discrete():
    torch.manual_seed(0)
    mu = torch.zeros(3, requires_grad=True)
    q = Independent(Normal(mu, torch.ones(3)), 1)
    p = Independent(Normal(torch.ones(3), torch.ones(3)), 1)
    estimate, se = kl.monte_carlo_kl(q, p, 1000)
    estimate.backward()
    assert mu.grad is not None and not se.requires_grad
    q = Categorical(probs=torch.tensor([0.7, 0.2, 0.1]))
    p = Categorical(probs=torch.tensor([0.3, 0.3, 0.4]))
    estimate, se = kl.monte_carlo_kl(q, p, 20_000)
    assert abs(estimate.item() - kl_divergence(q, p).item()) < 5 * se.item()


def test_monte_carlo_kl_generator_is_reproducible_and_leaves_the_global_state_alone():
    q = MultivariateNormal(torch.tensor([1.0, -0.5], dtype=F64), scale_tril=_random_tril(K_=2, seed=15))
    p = _std_normal(2)
    torch.manual_seed(16)
    global_state = torch.random.get_rng_state()
    first = kl.monte_carlo_kl(q, p, 500, generator=_gen(17))
    assert torch.equal(torch.random.get_rng_state(), global_state)  # the global stream is untouched
    again = kl.monte_carlo_kl(q, p, 500, generator=_gen(17))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    g = _gen(17)
    kl.monte_carlo_kl(q, p, 500, generator=g)
    second = kl.monte_carlo_kl(q, p, 500, generator=g)  # the generator advanced: a new draw
    assert not torch.equal(second[0], first[0])
    # and both are estimates of the same KL, within 5 standard errors
    exact = kl.full_gaussian_to_std_normal(q.loc, q.scale_tril)
    for estimate, se in (first, second):
        assert abs(estimate - exact) < 5 * se
    # the rsample path keeps its gradient with a generator too
    mu = torch.zeros(2, dtype=F64, requires_grad=True)
    estimate, _ = kl.monte_carlo_kl(
        MultivariateNormal(mu, scale_tril=torch.eye(2, dtype=F64)), p, 10, generator=_gen(18)
    )
    estimate.backward()
    assert mu.grad is not None


def test_monte_carlo_kl_takes_an_int_seed_and_rejects_other_generators():
    """generator=0 means torch.Generator().manual_seed(0) (issue 10: it used to be a torch error)."""
    q, p = Normal(torch.zeros(3), 1.0), Normal(torch.ones(3), 1.0)
    by_seed = kl.monte_carlo_kl(q, p, 10, generator=0)
    by_generator = kl.monte_carlo_kl(q, p, 10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(by_seed[0], by_generator[0])
    with pytest.raises(TypeError) as info:
        kl.monte_carlo_kl(q, p, 10, generator="0")
    for word in ["generator must be None, a torch.Generator or an int seed", "str", "torch.Generator().manual_seed(0)"]:
        assert word in str(info.value), (word, str(info.value))


@pytest.mark.parametrize(
    "args, exc, words",
    [
        (("q", Normal(0.0, 1.0), 10), TypeError, ["q must be a torch.distributions.Distribution", "str"]),
        ((Normal(0.0, 1.0), Normal(0.0, 1.0), 1), ValueError, ["num_samples", ">= 2", "1"]),
        (
            (Normal(torch.zeros(3), 1.0), MultivariateNormal(torch.zeros(3), torch.eye(3)), 10),
            ValueError,
            ["event shape", "Independent"],
        ),
        ((Normal(torch.zeros(3), 1.0), Normal(torch.zeros(4), 1.0), 10), ValueError, ["batch shapes", "(3,)", "(4,)"]),
    ],
)
def test_monte_carlo_kl_errors(args, exc, words):
    with pytest.raises(exc) as info:
        kl.monte_carlo_kl(*args)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


# --------------------------------------------------------------------------- error paths


def test_full_to_std_normal_rejects_non_triangular():
    L = torch.eye(3)
    L[0, 2] = 0.7
    with pytest.raises(ValueError) as info:
        kl.full_gaussian_to_std_normal(torch.zeros(3), L)
    msg = str(info.value)
    for word in ["scale_tril", "lower-triangular", "1 nonzero", "0.7", "(3, 3)", "torch.linalg.cholesky"]:
        assert word in msg, (word, msg)


@pytest.mark.parametrize("bad", [0.0, -0.5])
def test_full_to_std_normal_rejects_non_positive_diagonal(bad):
    L = torch.eye(3)
    L[1, 1] = bad
    with pytest.raises(ValueError) as info:
        kl.full_gaussian_to_std_normal(torch.zeros(3), L)
    msg = str(info.value)
    for word in ["scale_tril", "strictly positive diagonal", f"{bad:.4g}", "softplus"]:
        assert word in msg, (word, msg)


@pytest.mark.parametrize(
    "mu, L, words",
    [
        (torch.zeros(3), torch.eye(4), ["K=3", "4 x 4"]),
        (torch.zeros(3), torch.ones(3, 4), ["scale_tril", "(3, 4)", "scale_tril_from_unconstrained"]),
        (torch.zeros(2, 3), torch.eye(3).expand(5, 3, 3), ["batch shapes", "(2,)", "(5,)"]),
        (torch.tensor([0.0, float("nan"), 0.0]), torch.eye(3), ["mu", "non-finite"]),
        (torch.zeros(3), torch.full((3, 3), float("nan")), ["scale_tril", "non-finite"]),
        (torch.tensor(1.0), torch.eye(1), ["mu", "at least 1 dimension"]),
    ],
)
def test_full_to_std_normal_shape_and_nan_errors(mu, L, words):
    with pytest.raises(ValueError) as info:
        kl.full_gaussian_to_std_normal(mu, L)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


@pytest.mark.parametrize(
    "args, words",
    [
        ((torch.zeros(4, 3), torch.zeros(2)), ["do not broadcast", "mu (4, 3)", "log_var (2,)"]),
        ((torch.zeros(3), torch.tensor([0.0, float("inf"), 0.0])), ["log_var", "non-finite"]),
        ((torch.tensor(0.0), torch.tensor(0.0)), ["mu", "at least 1 dimension"]),
    ],
)
def test_diag_to_std_normal_errors(args, words):
    with pytest.raises(ValueError) as info:
        kl.diag_gaussian_to_std_normal(*args)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_gaussian_to_gaussian_errors_name_the_argument():
    good = torch.eye(3)
    bad = torch.ones(3, 3)
    with pytest.raises(ValueError, match="scale_tril_p must be lower-triangular"):
        kl.gaussian_to_gaussian(torch.zeros(3), good, torch.zeros(3), bad)
    with pytest.raises(ValueError, match="scale_tril_q must be lower-triangular"):
        kl.gaussian_to_gaussian(torch.zeros(3), bad, torch.zeros(3), good)
    with pytest.raises(ValueError, match=r"mu_q \(3,\), mu_p \(2,\)"):
        kl.gaussian_to_gaussian(torch.zeros(3), good, torch.zeros(2), torch.eye(2))
    with pytest.raises(ValueError, match="log_var_p contains 1 non-finite"):
        kl.diag_gaussian_to_diag_gaussian(
            torch.zeros(2), torch.zeros(2), torch.zeros(2), torch.tensor([0.0, float("nan")])
        )


def test_per_dimension_kl_sums_to_the_kl_and_matches_torch():
    """kl.diag_gaussian_to_std_normal_per_dim: the terms of the diagonal KL (objectives.kl_per_dimension's formula)."""
    g = torch.Generator().manual_seed(11)
    mu, log_var = torch.randn(4, 3, generator=g, dtype=F64), 3 * torch.randn(4, 3, generator=g, dtype=F64)
    per_dim = kl.diag_gaussian_to_std_normal_per_dim(mu, log_var)
    assert per_dim.shape == (4, 3) and (per_dim >= 0).all()
    assert torch.allclose(per_dim.sum(-1), kl.diag_gaussian_to_std_normal(mu, log_var))
    expected = torch.distributions.kl_divergence(Normal(mu, (0.5 * log_var).exp()), Normal(0.0, 1.0))
    assert torch.allclose(per_dim, expected, rtol=1e-10)
