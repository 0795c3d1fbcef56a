"""Tests of the Gaussian samplers in vaelib.reparam (lectures 01-03).

Oracles: torch.distributions (same noise stream, same sample), autograd, and Monte Carlo
moments with tolerances in standard errors.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vaelib.reparam import (
    diag_gaussian,
    full_gaussian,
    scale_tril_from_unconstrained,
    unconstrained_from_scale_tril,
)

BATCHES = [(), (4,), (2, 3)]
K = 3


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- diag_gaussian


@pytest.mark.parametrize("batch", BATCHES)
def test_diag_gaussian_is_mu_plus_std_times_eps(batch):
    g = _gen()
    mu = torch.randn(*batch, K, generator=g)
    std = torch.rand(*batch, K, generator=g) + 0.1
    eps = torch.randn(*batch, K, generator=g)
    z = diag_gaussian(mu, std, eps)
    assert z.shape == (*batch, K)
    torch.testing.assert_close(z, mu + std * eps, rtol=0, atol=0)


@pytest.mark.parametrize("batch", BATCHES)
def test_diag_gaussian_matches_torch_normal_rsample(batch):
    """Same seed, same noise stream: our sampler is torch's Normal.rsample."""
    mu = torch.randn(*batch, K)
    std = torch.rand(*batch, K) + 0.1
    torch.manual_seed(7)
    ours = diag_gaussian(mu, std)
    torch.manual_seed(7)
    theirs = torch.distributions.Normal(mu, std).rsample()
    torch.testing.assert_close(ours, theirs)


def test_diag_gaussian_gradients_are_one_and_eps():
    mu = torch.randn(5, K, requires_grad=True)
    std = (torch.rand(5, K) + 0.1).requires_grad_(True)
    eps = torch.randn(5, K)
    diag_gaussian(mu, std, eps).sum().backward()
    torch.testing.assert_close(mu.grad, torch.ones_like(mu))
    torch.testing.assert_close(std.grad, eps)


def test_diag_gaussian_moments_monte_carlo():
    """Sample mean and variance within 5 standard errors of mu and std^2."""
    mu = torch.tensor([-1.0, 0.0, 2.5], dtype=torch.float64)
    std = torch.tensor([0.5, 1.0, 3.0], dtype=torch.float64)
    S = 100_000
    z = diag_gaussian(mu, std, sample_shape=(S,), generator=_gen(1))  # (S, 3)
    assert z.shape == (S, 3)
    mean_se = std / math.sqrt(S)
    assert ((z.mean(0) - mu).abs() < 5 * mean_se).all()
    var_se = std**2 * math.sqrt(2 / (S - 1))  # Var[s^2] = 2 sigma^4 / (S - 1) for a Gaussian
    assert ((z.var(0) - std**2).abs() < 5 * var_se).all()


def test_diag_gaussian_broadcasts_and_accepts_leading_sample_dims():
    mu = torch.zeros(4, K)
    std = torch.ones(K)  # shared across the batch
    assert diag_gaussian(mu, std).shape == (4, K)
    eps = torch.randn(10, 4, K)
    torch.testing.assert_close(diag_gaussian(mu, std, eps), eps)
    assert diag_gaussian(torch.tensor(0.0), torch.tensor(1.0), sample_shape=(6,)).shape == (6,)
    assert diag_gaussian(mu, std, sample_shape=(2, 5)).shape == (2, 5, 4, K)


def test_diag_gaussian_generator_reproducible_and_zero_std_allowed():
    mu, std = torch.zeros(3), torch.ones(3)
    torch.testing.assert_close(diag_gaussian(mu, std, generator=_gen(3)), diag_gaussian(mu, std, generator=_gen(3)))
    torch.testing.assert_close(diag_gaussian(mu, torch.zeros(3)), mu)


def test_diag_gaussian_keeps_float64():
    z = diag_gaussian(torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64))
    assert z.dtype == torch.float64


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(mu=torch.zeros(3), std=torch.tensor([1.0, -0.5, 1.0])), ["std", "non-negative", "-0.5", "log_var"]),
        (dict(mu=torch.tensor([0.0, float("nan")]), std=torch.ones(2)), ["mu", "non-finite", "NaN"]),
        (dict(mu=torch.zeros(2), std=torch.tensor([1.0, float("inf")])), ["std", "non-finite"]),
        (dict(mu=torch.zeros(4, 3), std=torch.ones(2)), ["do not broadcast", "mu (4, 3)", "std (2,)"]),
        (
            dict(mu=torch.zeros(4, 3), std=torch.ones(3), eps=torch.randn(4, 2)),
            ["eps must have shape", "(4, 2)", "torch.randn"],
        ),
        (dict(mu=torch.zeros(4, 3), std=torch.ones(3), eps=torch.randn(3)), ["eps must have shape", "(3,)"]),
        (
            dict(mu=torch.zeros(3), std=torch.ones(3), eps=torch.randn(5, 3), sample_shape=(4,)),
            ["eps must have shape", "(4, 3)"],
        ),
        (dict(mu=torch.zeros(3), std=torch.ones(3), eps=torch.tensor([0.0, float("nan"), 0.0])), ["eps", "non-finite"]),
        (dict(mu=torch.zeros(3), std=torch.ones(3), sample_shape=(-1,)), ["sample_shape", "(-1,)"]),
    ],
)
def test_diag_gaussian_errors(kwargs, words):
    with pytest.raises(ValueError) as info:
        diag_gaussian(**kwargs)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_diag_gaussian_rejects_integer_tensors():
    with pytest.raises(TypeError, match="floating-point"):
        diag_gaussian(torch.zeros(3, dtype=torch.long), torch.ones(3))


# --------------------------------------------------------------------------- full_gaussian


@pytest.mark.parametrize("batch", BATCHES)
def test_full_gaussian_is_mu_plus_scale_at_eps_for_any_square_scale(batch):
    g = _gen(2)
    mu = torch.randn(*batch, K, generator=g)
    scale = torch.randn(*batch, K, K, generator=g)  # not triangular
    eps = torch.randn(*batch, K, generator=g)
    z = full_gaussian(mu, scale, eps)
    assert z.shape == (*batch, K)
    expected = mu + torch.einsum("...ij,...j->...i", scale, eps)
    torch.testing.assert_close(z, expected)


@pytest.mark.parametrize("batch", BATCHES)
def test_full_gaussian_matches_torch_multivariate_normal_rsample(batch):
    mu = torch.randn(*batch, K)
    A = torch.randn(*batch, K, K)
    scale_tril = torch.linalg.cholesky(A @ A.mT + torch.eye(K))
    torch.manual_seed(11)
    ours = full_gaussian(mu, scale_tril)
    torch.manual_seed(11)
    theirs = torch.distributions.MultivariateNormal(mu, scale_tril=scale_tril).rsample()
    torch.testing.assert_close(ours, theirs)


def test_full_gaussian_covariance_is_scale_scale_transpose_monte_carlo():
    """Sample covariance within 5 standard errors of S S^T, for a non-triangular S."""
    scale = torch.tensor([[1.0, 0.5, 0.0], [-0.3, 0.8, 0.4], [0.2, 0.2, 1.5]], dtype=torch.float64)
    mu = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    S = 100_000
    z = full_gaussian(mu, scale, sample_shape=(S,), generator=_gen(5))  # (S, K)
    sigma = scale @ scale.T
    centred = z - mu
    products = centred[:, :, None] * centred[:, None, :]  # (S, K, K)
    se = products.std(0) / math.sqrt(S)
    assert ((products.mean(0) - sigma).abs() < 5 * se).all()
    assert ((z.mean(0) - mu).abs() < 5 * sigma.diagonal().sqrt() / math.sqrt(S)).all()


def test_full_gaussian_batch_broadcasting_and_gradients():
    mu = torch.randn(K, requires_grad=True)
    scale = torch.randn(4, K, K, requires_grad=True)
    eps = torch.randn(4, K)
    z = full_gaussian(mu, scale, eps)
    assert z.shape == (4, K)
    z.sum().backward()
    torch.testing.assert_close(mu.grad, torch.full((K,), 4.0))
    # d/dS_ij sum_i (S eps)_i = eps_j
    torch.testing.assert_close(scale.grad, eps[:, None, :].expand(4, K, K))
    assert full_gaussian(torch.zeros(2, K), torch.eye(K), sample_shape=(7,)).shape == (7, 2, K)


def test_full_gaussian_singular_scale_gives_a_degenerate_sample():
    scale = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # rank one
    z = full_gaussian(torch.zeros(2), scale, sample_shape=(100,), generator=_gen())
    torch.testing.assert_close(z[:, 0], z[:, 1])


def test_full_gaussian_large_K():
    K_big = 512
    scale = torch.eye(K_big) * 2
    z = full_gaussian(torch.zeros(3, K_big), scale, generator=_gen())
    assert z.shape == (3, K_big) and torch.isfinite(z).all()


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(mu=torch.zeros(3), scale=torch.ones(3, 2)), ["scale must be a square", "(3, 2)"]),
        (dict(mu=torch.zeros(3), scale=torch.ones(3)), ["scale must be a square", "(3,)"]),
        (dict(mu=torch.zeros(3), scale=torch.eye(4)), ["K=3", "4 x 4"]),
        (dict(mu=torch.zeros(4, 3), scale=torch.eye(3).expand(5, 3, 3)), ["batch shapes", "(4,)", "(5,)"]),
        (dict(mu=torch.zeros(3), scale=torch.full((3, 3), float("nan"))), ["scale", "non-finite"]),
        (dict(mu=torch.zeros(2, 3), scale=torch.eye(3), eps=torch.randn(2, 4)), ["eps must have shape", "(2, 4)"]),
        (dict(mu=torch.zeros(0), scale=torch.eye(3)), ["K=0"]),
    ],
)
def test_full_gaussian_errors(kwargs, words):
    with pytest.raises(ValueError) as info:
        full_gaussian(**kwargs)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_full_gaussian_scalar_mu_is_rejected():
    with pytest.raises(ValueError, match="at least 1 dimension"):
        full_gaussian(torch.tensor(0.0), torch.eye(1))


# --------------------------------------------------------------------------- scale_tril maps


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("diag_transform", ["softplus", "exp"])
def test_scale_tril_from_unconstrained_layout(batch, diag_transform):
    K4 = 4
    raw = torch.randn(*batch, K4 * (K4 + 1) // 2, generator=_gen())
    L = scale_tril_from_unconstrained(raw, K4, diag_transform)
    assert L.shape == (*batch, K4, K4)
    rows, cols = torch.tril_indices(K4, K4)
    transform = torch.nn.functional.softplus if diag_transform == "softplus" else torch.exp
    expected = torch.zeros(*batch, K4, K4)
    expected[..., rows, cols] = raw
    diag = torch.arange(K4)
    expected[..., diag, diag] = transform(expected[..., diag, diag])
    torch.testing.assert_close(L, expected)
    assert (torch.triu(L, 1) == 0).all() and (L.diagonal(dim1=-2, dim2=-1) > 0).all()


@settings(max_examples=40, deadline=None)
@given(
    K_=st.integers(1, 8),
    values=st.lists(st.floats(-30, 30), min_size=36, max_size=36),
    diag_transform=st.sampled_from(["softplus", "exp"]),
)
def test_scale_tril_roundtrip_and_valid_cholesky(K_, values, diag_transform):
    raw = torch.tensor(values[: K_ * (K_ + 1) // 2], dtype=torch.float64)
    L = scale_tril_from_unconstrained(raw, K_, diag_transform, min_diag=1e-6)
    assert (L.diagonal() > 0).all() and (torch.triu(L, 1) == 0).all()
    back = unconstrained_from_scale_tril(L, diag_transform, min_diag=1e-6)
    again = scale_tril_from_unconstrained(back, K_, diag_transform, min_diag=1e-6)
    torch.testing.assert_close(again, L, rtol=1e-6, atol=1e-9)


def test_scale_tril_from_unconstrained_gradients_reach_every_entry():
    raw = torch.randn(2, 6, requires_grad=True)
    scale_tril_from_unconstrained(raw, 3).pow(2).sum().backward()
    assert (raw.grad != 0).all()


def test_scale_tril_from_unconstrained_min_diag_floor():
    raw = torch.full((3,), -200.0)  # softplus underflows to 0 in float32
    L = scale_tril_from_unconstrained(raw, 2, min_diag=1e-4)
    assert (L.diagonal() >= 1e-4).all()
    torch.testing.assert_close(unconstrained_from_scale_tril(torch.eye(2), "exp"), torch.zeros(3))


@pytest.mark.parametrize(
    "args, kwargs, words",
    [
        ((torch.zeros(5), 3), {}, ["K(K+1)/2 = 6", "K=3", "(5,)"]),
        ((torch.zeros(6), 3, "relu"), {}, ["diag_transform", "'relu'", "softplus"]),
        ((torch.zeros(6), 0), {}, ["K must be an integer >= 1", "0"]),
        ((torch.tensor([0.0, float("nan"), 0.0]), 2), {}, ["raw", "non-finite"]),
        ((torch.zeros(3), 2), {"min_diag": -1.0}, ["min_diag", "-1.0"]),
    ],
)
def test_scale_tril_from_unconstrained_errors(args, kwargs, words):
    with pytest.raises(ValueError) as info:
        scale_tril_from_unconstrained(*args, **kwargs)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


@pytest.mark.parametrize(
    "L, words",
    [
        (torch.ones(2, 2), ["lower-triangular", "1 nonzero"]),
        (torch.tensor([[1.0, 0.0], [0.5, -1.0]]), ["diagonal", "-1"]),
        (torch.ones(2, 3), ["(2, 3)"]),
    ],
)
def test_unconstrained_from_scale_tril_errors(L, words):
    with pytest.raises(ValueError) as info:
        unconstrained_from_scale_tril(L)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_scale_tril_from_unconstrained_diag_family():
    """family='diag': K raw numbers per row give a diagonal factor (meanfield's per-point fits use it)."""
    raw = torch.randn(5, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    for transform, f in (("softplus", torch.nn.functional.softplus), ("exp", torch.exp)):
        L = scale_tril_from_unconstrained(raw, 3, transform, family="diag", min_diag=1e-3)
        assert torch.equal(L, torch.diag_embed(f(raw) + 1e-3))
    with pytest.raises(ValueError, match=r"raw must have K = 3 entries \(the raw diagonal\)"):
        scale_tril_from_unconstrained(torch.zeros(5, 6), 3, family="diag")
    with pytest.raises(ValueError, match="family must be 'full' or 'diag'"):
        scale_tril_from_unconstrained(raw, 3, family="tril")
