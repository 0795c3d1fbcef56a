"""Tests of vaelib.mixtures: the summed-out mixture ELBO against enumeration over c with
quadrature over z, against log p(x) at the exact posterior, and its gradient in q(c | x)."""

import math

import pytest
import scipy.integrate
import torch

from vaelib import mixtures


@pytest.fixture(autouse=True)
def float64():
    # checks at a few standard errors need accurate sums; restore the default afterwards
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


# a 1-d latent, 2-d data, linear-Gaussian likelihood: everything is exact
W, B_, SIGMA = torch.tensor([1.5, -0.7], dtype=torch.float64), torch.tensor([0.2, 0.1], dtype=torch.float64), 0.5
F64 = {"dtype": torch.float64}
X = torch.tensor([1.0, -0.3], **F64)
PRIOR_LOGITS = torch.tensor([0.3, -0.3], **F64)
PRIOR_MU = torch.tensor([[-1.0], [2.0]], **F64)
PRIOR_LOG_VAR = torch.tensor([[math.log(0.5)], [math.log(0.8)]], **F64)


def log_lik(z):  # z (..., 1) -> (...)
    mean = z * W + B_  # (..., 2)
    return torch.distributions.Normal(mean, SIGMA).log_prob(X).sum(-1)


def normal_logpdf(z, m, v):
    return -0.5 * (math.log(2 * math.pi * v) + (z - m) ** 2 / v)


def elbo_by_enumeration(q_logits, q_mu, q_log_var):
    # sum over c, quadrature over z, of q(c, z) [log p(x, z, c) - log q(c, z)]: no KL formula used
    log_qc = torch.log_softmax(q_logits, -1).tolist()
    log_pc = torch.log_softmax(PRIOR_LOGITS, -1).tolist()
    total = 0.0
    for c in range(2):
        m, v = q_mu[c, 0].item(), math.exp(q_log_var[c, 0].item())
        pm, pv = PRIOR_MU[c, 0].item(), math.exp(PRIOR_LOG_VAR[c, 0].item())

        def integrand(z):
            log_q = normal_logpdf(z, m, v)
            log_joint = log_lik(torch.tensor([z])).item() + normal_logpdf(z, pm, pv) + log_pc[c]
            return math.exp(log_q) * (log_joint - log_q - log_qc[c])

        total += (
            math.exp(log_qc[c])
            * scipy.integrate.quad(integrand, m - 12 * math.sqrt(v), m + 12 * math.sqrt(v), limit=200)[0]
        )
    return total


def exact_posterior_and_evidence():
    log_pc = torch.log_softmax(PRIOR_LOGITS, -1)
    log_evidence_c, mus, log_vars = [], [], []
    for c in range(2):
        pm, pv = PRIOR_MU[c, 0], PRIOR_LOG_VAR[c, 0].exp()
        cov = pv * torch.outer(W, W) + SIGMA**2 * torch.eye(2)
        log_evidence_c.append(log_pc[c] + torch.distributions.MultivariateNormal(W * pm + B_, cov).log_prob(X))
        post_var = 1 / (1 / pv + (W @ W) / SIGMA**2)
        mus.append(post_var * (pm / pv + W @ (X - B_) / SIGMA**2))
        log_vars.append(torch.log(post_var))
    log_joint_c = torch.stack(log_evidence_c)  # log p(x, c)
    log_px = torch.logsumexp(log_joint_c, 0)
    return log_joint_c - log_px, torch.stack(mus).view(2, 1), torch.stack(log_vars).view(2, 1), log_px


def summed_elbo(q_logits, q_mu, q_log_var, samples, seed):
    return mixtures.gaussian_mixture_elbo(
        log_lik,
        q_logits[None],
        q_mu[None],
        q_log_var[None],
        PRIOR_LOGITS,
        PRIOR_MU,
        PRIOR_LOG_VAR,
        samples=samples,
        generator=torch.Generator().manual_seed(seed),
    )[0]


def test_summed_elbo_matches_enumeration():
    q_logits, q_mu, q_log_var = torch.tensor([0.5, -0.2]), torch.tensor([[0.1], [1.2]]), torch.tensor([[-1.0], [-0.5]])
    oracle = elbo_by_enumeration(q_logits, q_mu, q_log_var)
    estimates = torch.stack([summed_elbo(q_logits, q_mu, q_log_var, 1, s) for s in range(2000)])
    se = estimates.std().item() / math.sqrt(len(estimates))
    assert abs(estimates.mean().item() - oracle) < 4 * se


def test_exact_posterior_attains_log_evidence_and_others_fall_short():
    log_qc, mu, log_var, log_px = exact_posterior_and_evidence()
    value = summed_elbo(log_qc, mu, log_var, 20_000, 0).item()
    assert value == pytest.approx(log_px.item(), abs=5e-3)
    assert elbo_by_enumeration(log_qc, mu, log_var) == pytest.approx(log_px.item(), abs=1e-7)
    assert elbo_by_enumeration(torch.tensor([3.0, -3.0]), mu, log_var) < log_px.item() - 0.1


def test_gradient_in_the_mixture_weights_is_pathwise_and_right():
    q_logits = torch.tensor([0.5, -0.2], requires_grad=True)
    q_mu, q_log_var = torch.tensor([[0.1], [1.2]]), torch.tensor([[-1.0], [-0.5]])
    grads = []
    for s in range(400):
        (g,) = torch.autograd.grad(summed_elbo(q_logits, q_mu, q_log_var, 1, s), q_logits)
        grads.append(g)
    grads = torch.stack(grads)
    h = 1e-5
    fd = (
        elbo_by_enumeration(q_logits.detach() + torch.tensor([h, 0.0]), q_mu, q_log_var)
        - elbo_by_enumeration(q_logits.detach() - torch.tensor([h, 0.0]), q_mu, q_log_var)
    ) / (2 * h)
    se = grads[:, 0].std().item() / math.sqrt(len(grads))
    assert abs(grads[:, 0].mean().item() - fd) < 4 * se + 1e-6


def test_categorical_kl_against_torch():
    q, p = torch.randn(5, 4), torch.randn(4)
    expected = torch.distributions.kl_divergence(
        torch.distributions.Categorical(logits=q), torch.distributions.Categorical(logits=p.expand(5, 4))
    )
    assert torch.allclose(mixtures.categorical_kl(q, p), expected, atol=1e-12)
    assert mixtures.categorical_kl(torch.tensor([0.0, -math.inf]), torch.tensor([0.0, 0.0])).item() == pytest.approx(
        math.log(2)
    )


def test_bad_inputs():
    ones = torch.zeros(3, 2, 1)
    with pytest.raises(ValueError, match="q_logits must have shape"):
        mixtures.gaussian_mixture_elbo(
            lambda z: z.sum(-1), torch.zeros(3, 4), ones, ones, torch.zeros(2), torch.zeros(2, 1), torch.zeros(2, 1)
        )
    with pytest.raises(ValueError, match="eps must have shape"):
        mixtures.gaussian_mixture_elbo(
            lambda z: z.sum(-1),
            torch.zeros(3, 2),
            ones,
            ones,
            torch.zeros(2),
            torch.zeros(2, 1),
            torch.zeros(2, 1),
            eps=torch.zeros(1, 3, 2),
        )
    with pytest.raises(ValueError, match="log_likelihood must map"):
        mixtures.gaussian_mixture_elbo(
            lambda z: z.sum(), torch.zeros(3, 2), ones, ones, torch.zeros(2), torch.zeros(2, 1), torch.zeros(2, 1)
        )
