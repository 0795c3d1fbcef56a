"""Checks for exercise sheet 05, train a VAE (solutions/05_train_a_vae.ipynb).

The pieces of lecture 05: the negative ELBO with its reductions, the reparameterized sample,
the beta-VAE objective, the log importance weights and the IWAE bound, and a VAE trained with
the student's loss. Each check runs the student's function on fixed inputs, compares it with
vaelib's reference (tested against torch.distributions) and, when the answer matches a typical
mistake, names it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from vaelib import gaussians, kl, objectives
from vaelib.checks import Case, Mistake, call, check_function, check_value

__all__ = [
    "check_vae_loss",
    "check_reparameterize",
    "check_beta_vae_loss",
    "check_log_importance_weights",
    "check_iwae_bound",
    "check_trained_vae",
    "check_iwae_on_model",
]

F64 = torch.float64
LOG_2PI = gaussians.LOG_2PI


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed), dtype=F64)


def _binary(*shape: int, seed: int) -> torch.Tensor:
    return torch.bernoulli(torch.full(shape, 0.3, dtype=F64), generator=_gen(seed))


def _problem(B: int, D: int, K: int, seed: int):
    """(x, logits, mu, log_var): binary images, decoder logits and posterior parameters."""
    return (
        _binary(B, D, seed=seed),
        2 * _randn(B, D, seed=seed + 1),
        _randn(B, K, seed=seed + 2),
        1.5 * _randn(B, K, seed=seed + 3),
    )


def _recon(x, logits):
    # (..., B): sum over pixels; x (B, D) is broadcast against logits (..., B, D)
    return F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)


def _kl(mu, log_var):
    return kl.diag_gaussian_to_std_normal(mu, log_var)  # (B,): sum over latent dimensions


# --------------------------------------------------------------------------- Exercise 1


def _vae_loss(x, logits, mu, log_var):
    recon, kl_term = _recon(x, logits).mean(), _kl(mu, log_var).mean()
    return recon + kl_term, recon, kl_term


def _with(recon=None, kl_term=None, combine=lambda r, k: r + k):
    """A wrong vae_loss: replace how the reconstruction or the KL is computed, or how they combine."""

    def wrong(x, logits, mu, log_var):
        r = recon(x, logits) if recon else _recon(x, logits).mean()
        k = kl_term(mu, log_var) if kl_term else _kl(mu, log_var).mean()
        return combine(r, k), r, k

    return wrong


_kl_log_var_as_std = lambda mu, lv: (0.5 * (mu**2 + lv**2 - 1 - torch.log(lv**2))).sum(-1).mean()  # noqa: E731
_kl_std_as_variance = lambda mu, lv: (0.5 * (mu**2 + (0.5 * lv).exp() - 1 - lv)).sum(-1).mean()  # noqa: E731
_kl_log_std_slip = lambda mu, lv: (0.5 * (mu**2 + (2 * lv).exp() - 1 - 2 * lv)).sum(-1).mean()  # noqa: E731

REDUCTION_HINT = (
    "sum the reconstruction over the pixels (dim=1) and THEN average over the batch; "
    "F.binary_cross_entropy_with_logits(logits, x) with its default reduction='mean' also averages "
    "over the D pixels, which divides the reconstruction term by D: a beta-VAE with beta = D."
)

VAE_LOSS_MISTAKES = [
    Mistake(
        _with(recon=lambda x, l: F.binary_cross_entropy_with_logits(l, x)),
        "you averaged over pixels: " + REDUCTION_HINT,
    ),
    Mistake(
        _with(recon=lambda x, l: _recon(x, l).sum(), kl_term=lambda m, v: _kl(m, v).sum()),
        "you summed over the batch: average over it (.mean()) so that the loss does not grow with the batch size.",
    ),
    Mistake(
        _with(recon=lambda x, l: _recon(x, l).sum()),
        "the two terms use different reductions over the batch (sum for one, mean for the other): "
        "that changes their ratio by a factor B. Average both over the batch.",
    ),
    Mistake(
        _with(recon=lambda x, l: _recon(x, l).mean(), kl_term=lambda m, v: _kl(m, v).sum()),
        "the two terms use different reductions over the batch (sum for one, mean for the other): "
        "that changes their ratio by a factor B. Average both over the batch.",
    ),
    Mistake(
        _with(kl_term=_kl_log_var_as_std),
        "you treated log_var as the standard deviation; it is log sigma^2, so sigma^2 = exp(log_var).",
    ),
    Mistake(
        _with(kl_term=_kl_std_as_variance),
        "exp(0.5 * log_var) is the standard deviation; the KL needs the variance exp(log_var).",
    ),
    Mistake(
        _with(kl_term=_kl_log_std_slip),
        "you used log_var as if it were log sigma (log of the standard deviation); it is log sigma^2.",
    ),
    Mistake(
        _with(combine=lambda r, k: r - k),
        "missing minus sign: ELBO = E[log p(x|z)] - KL, so the NEGATIVE ELBO to minimise is recon + KL.",
    ),
    Mistake(
        _with(kl_term=lambda m, v: -_kl(m, v).mean()),
        "missing minus sign in the KL: 1/2 sum(1 + log_var - mu^2 - exp(log_var)) is -KL (Kingma & Welling "
        "write the ELBO with it); the KL itself is >= 0.",
    ),
    Mistake(
        _with(recon=lambda x, l: -_recon(x, l).mean(), combine=lambda r, k: -r + k),
        "the reconstruction term must be the NEGATIVE log-likelihood, i.e. the binary cross-entropy (>= 0).",
    ),
    Mistake(
        _with(recon=lambda x, l: _recon(x, torch.sigmoid(l)).mean()),
        "you applied the sigmoid twice: binary_cross_entropy_with_logits takes the logits themselves.",
    ),
    Mistake(
        _with(
            recon=lambda x, l: F.binary_cross_entropy_with_logits(x, torch.sigmoid(l), reduction="none").sum(-1).mean()
        ),
        "the arguments of binary_cross_entropy_with_logits are (input=logits, target=x).",
    ),
]


def check_vae_loss(vae_loss) -> None:
    """Exercise 1: ``vae_loss(x, logits, mu, log_var) -> (loss, recon, kl)``, batch means."""
    x, logits, mu, log_var = _problem(4, 6, 3, 4)
    zeros = torch.zeros_like(mu)
    cases = [  # simplest first: q = N(0, I) makes the KL 0, logits = 0 make every pixel cost log 2
        Case(
            (x, torch.zeros_like(logits), zeros, zeros),
            label="logits = 0, mu = 0, log_var = 0 (recon = D log 2, kl = 0)",
            atol=1e-8,
            rtol=1e-6,
        ),
        Case(
            (x, logits, zeros, zeros),
            label="mu = 0, log_var = 0 (kl = 0: only the reconstruction)",
            atol=1e-8,
            rtol=1e-6,
        ),
    ]
    for (B, D, K), seed in [((4, 6, 3), 1), ((3, 784, 2), 2), ((1, 5, 4), 3)]:
        args = _problem(B, D, K, seed)
        cases.append(
            Case(args, label=f"B = {B} images of D = {D} pixels, K = {K}", atol=1e-8, rtol=1e-6, grad=(1, 2, 3))
        )
    check_function(
        vae_loss,
        cases,
        exercise=1,
        name="vae_loss",
        hint="recon = BCE-with-logits summed over pixels, averaged over the batch; kl = 1/2 sum_k (mu^2 + "
        "exp(log_var) - 1 - log_var), averaged over the batch; loss = recon + kl. Return (loss, recon, kl).",
        mistakes=VAE_LOSS_MISTAKES,
        reference=_vae_loss,
    )


# --------------------------------------------------------------------------- Exercise 2


def _reparameterize(mu, log_var, eps):
    return mu + torch.exp(0.5 * log_var) * eps


REPARAMETERIZE_MISTAKES = [
    Mistake(
        lambda mu, lv, eps: mu + lv.exp() * eps,
        "exp(log_var) is the variance; the standard deviation is exp(0.5 * log_var).",
    ),
    Mistake(
        lambda mu, lv, eps: mu + lv * eps,
        "log_var is not the standard deviation (it can be negative): std = exp(0.5 * log_var).",
    ),
    Mistake(
        lambda mu, lv, eps: mu + torch.sqrt(lv) * eps, "log_var is a log: std = exp(0.5 * log_var), not sqrt(log_var)."
    ),
    Mistake(
        lambda mu, lv, eps: mu + 0.5 * lv.exp() * eps, "std = exp(0.5 * log_var): the 1/2 goes inside the exponential."
    ),
    Mistake(
        lambda mu, lv, eps: mu * torch.exp(0.5 * lv) + eps,
        "the roles are swapped: z = mu + std * eps (eps scaled by std, then shifted by mu).",
    ),
    Mistake(lambda mu, lv, eps: mu + torch.exp(0.5 * lv), "you forgot the noise: z = mu + std * eps."),
    Mistake(
        lambda mu, lv, eps: mu + torch.exp(-0.5 * lv) * eps, "std = exp(+0.5 * log_var); exp(-0.5 * log_var) is 1/std."
    ),
]


def check_reparameterize(reparameterize) -> None:
    """Exercise 2: ``reparameterize(mu, log_var, eps) = mu + exp(log_var / 2) * eps``, with gradients.

    Simplest first (eps = 0: z = mu; log_var = 0: z = mu + eps), then general values. The last
    case checks that the given eps is used and that dz/dmu and dz/dlog_var are right: the point
    of the trick is that z is a differentiable function of the encoder's two outputs.
    """
    mu = _randn(3, 2, seed=23)
    zeros = torch.zeros(3, 2, dtype=F64)
    cases = [
        Case((mu, _randn(3, 2, seed=27), zeros), mu, label="eps = 0: z must equal mu", atol=1e-10),
        Case((mu, zeros, _randn(3, 2, seed=28)), label="log_var = 0: z must equal mu + eps", atol=1e-8, rtol=1e-6),
    ]
    for (B, K), seed in [((4, 3), 21), ((2, 5), 22)]:
        mu, log_var, eps = _randn(B, K, seed=seed), 1.5 * _randn(B, K, seed=seed + 1), _randn(B, K, seed=seed + 2)
        cases.append(Case((mu, log_var, eps), label=f"B = {B}, K = {K}", atol=1e-8, rtol=1e-6))
    mu, log_var, eps = _randn(4, 3, seed=24), _randn(4, 3, seed=25), _randn(4, 3, seed=26)
    cases.append(
        Case(
            (mu, log_var, eps),
            label="gradients reach both encoder outputs, mu and log_var",
            atol=1e-8,
            rtol=1e-6,
            grad=(0, 1),
        )
    )
    hint = "z = mu + std * eps with std = exp(0.5 * log_var); use the eps you are given, do not draw new noise."
    check_function(
        reparameterize,
        cases,
        noise=2,
        exercise=2,
        name="reparameterize",
        hint=hint,
        mistakes=REPARAMETERIZE_MISTAKES,
        reference=_reparameterize,
        quiet=True,
    )
    print(f"Exercise 2: reparameterize passed all {len(cases)} checks (values, noise and gradients).")


# --------------------------------------------------------------------------- Exercise 3


def _beta_loss(x, logits, mu, log_var, beta):
    return _recon(x, logits).mean() + beta * _kl(mu, log_var).mean()


def _beta_with(combine):
    return lambda x, logits, mu, log_var, beta: combine(_recon(x, logits).mean(), _kl(mu, log_var).mean(), beta)


BETA_MISTAKES = [
    Mistake(
        _beta_with(lambda r, k, b: b * r + k), "beta is on the wrong term: it weights the KL, loss = recon + beta * kl."
    ),
    Mistake(
        _beta_with(lambda r, k, b: r + k / b), "beta multiplies the KL term (recon + beta * kl); you divided by it."
    ),
    Mistake(_beta_with(lambda r, k, b: r + k), "you forgot beta: loss = recon + beta * kl."),
    Mistake(_beta_with(lambda r, k, b: b * (r + k)), "beta multiplies only the KL term, not the whole loss."),
    Mistake(
        _beta_with(lambda r, k, b: r - b * k),
        "missing minus sign: the negative ELBO adds the KL, loss = recon + beta * kl.",
    ),
    Mistake(
        _beta_with(lambda r, k, b: (1 - b) * r + b * k),
        "this is not the beta-VAE objective: loss = recon + beta * kl (recon keeps weight 1).",
    ),
    Mistake(
        lambda x, logits, mu, log_var, beta: (
            F.binary_cross_entropy_with_logits(logits, x) + beta * _kl(mu, log_var).mean()
        ),
        "you averaged the reconstruction over pixels: " + REDUCTION_HINT,
    ),
]


def check_beta_vae_loss(beta_vae_loss) -> None:
    """Exercise 3: ``beta_vae_loss(x, logits, mu, log_var, beta) = recon + beta * kl`` (batch means)."""
    cases = []
    for beta, seed in [(4.0, 31), (0.25, 32), (0.0, 33), (1.0, 34)]:
        args = (*_problem(5, 8, 3, seed), beta)
        cases.append(Case(args, _beta_loss(*args), label=f"beta = {beta:g}", atol=1e-8, rtol=1e-6))
    check_function(
        beta_vae_loss,
        cases,
        exercise=3,
        name="beta_vae_loss",
        hint="loss = recon + beta * kl, with the reductions of exercise 1 (a scalar).",
        mistakes=BETA_MISTAKES,
    )


# --------------------------------------------------------------------------- Exercise 4


def _log_normal(z, mu, std, quad=0.5):
    """log N(z; mu, diag std^2) summed over the last dimension (``quad`` is the 1/2 of the quadratic:
    another value builds the "dropped the 1/2" mistake)."""
    wrong_quadratic = (0.5 - quad) * (((z - mu) / std) ** 2).sum(-1)  # 0 for the right answer
    return gaussians.diag_log_density(z, mu, 2 * torch.log(std)) + wrong_quadratic


def _log_w(
    x, logits, z, mu, log_var, *, prior=True, q_sign=-1.0, std=lambda lv: torch.exp(0.5 * lv), recon_sign=-1.0, quad=0.5
):
    log_px_z = recon_sign * _recon(x, logits)  # (k, B)
    log_pz = _log_normal(z, torch.zeros_like(z), torch.ones_like(z), quad) if prior else 0 * log_px_z
    return log_px_z + log_pz + q_sign * _log_normal(z, mu, std(log_var), quad)


LOG_W_MISTAKES = [
    Mistake(
        lambda *a: _log_w(*a, prior=False),
        "you left out the prior: log w = log p(x|z) + log p(z) - log q(z|x), with p(z) = N(0, I).",
    ),
    Mistake(
        lambda *a: _log_w(*a, q_sign=1.0),
        "sign of the posterior term: w = p(x, z) / q(z|x), so log q(z|x) is SUBTRACTED.",
    ),
    Mistake(
        lambda *a: _log_w(*a, std=torch.exp),
        "in log q(z|x) the standard deviation is exp(0.5 * log_var); exp(log_var) is the variance.",
    ),
    Mistake(
        lambda *a: _log_w(*a, std=lambda lv: lv.abs()),
        "log_var is not the standard deviation: std = exp(0.5 * log_var).",
    ),
    Mistake(
        lambda *a: _log_w(*a, recon_sign=1.0), "log p(x|z) is MINUS the binary cross-entropy (summed over pixels)."
    ),
    Mistake(
        lambda x, logits, z, mu, log_var: _log_w(x, logits, z, mu, log_var) + 0.5 * z.shape[-1] * LOG_2PI,
        "the -K/2 log(2 pi) constants of log p(z) and log q(z|x) cancel: keep both or drop both, not just one.",
    ),
    Mistake(
        lambda x, logits, z, mu, log_var: _log_w(x, logits, z, mu, log_var) - 0.5 * z.shape[-1] * LOG_2PI,
        "the -K/2 log(2 pi) constants of log p(z) and log q(z|x) cancel: keep both or drop both, not just one.",
    ),
    Mistake(
        lambda *a: _log_w(*a, quad=1.0), "a Gaussian log-density has -1/2 (z - mu)^2 / sigma^2: you dropped the 1/2."
    ),
]


def check_log_importance_weights(log_importance_weights) -> None:
    """Exercise 4: ``log_importance_weights(x, logits, z, mu, log_var)``, shape (k, B)."""
    cases = []
    for (k, B, D, K), seed in [((5, 3, 6, 2), 41), ((2, 4, 10, 3), 42)]:
        x, _, mu, log_var = _problem(B, D, K, seed)
        z = mu + torch.exp(0.5 * log_var) * _randn(k, B, K, seed=seed + 10)  # (k, B, K)
        logits = 2 * _randn(k, B, D, seed=seed + 11)  # decoder outputs for each sample, (k, B, D)
        args = (x, logits, z, mu, log_var)
        cases.append(
            Case(args, _log_w(*args), label=f"k = {k} samples, B = {B}, D = {D}, K = {K}", atol=1e-8, rtol=1e-6)
        )
    check_function(
        log_importance_weights,
        cases,
        exercise=4,
        name="log_importance_weights",
        hint="log w = -BCE(logits, x).sum(-1) + log N(z; 0, I) - log N(z; mu, diag exp(log_var)), each of shape (k, B).",
        mistakes=LOG_W_MISTAKES,
    )


# --------------------------------------------------------------------------- Exercise 5


def _iwae(log_w):
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


IWAE_MISTAKES = [
    Mistake(
        lambda lw: torch.logsumexp(lw, 0),
        "you forgot the 1/k: L_k = logsumexp(log w) - log k (an average of the weights, not a sum).",
    ),
    Mistake(
        lambda lw: lw.mean(0),
        "that is the average of log w (the ELBO estimate); IWAE takes the log of the average of w.",
    ),
    Mistake(
        lambda lw: torch.log(torch.exp(lw).mean(0)),
        "exp(log w) underflows to 0 for log w around -800 (log 0 = -inf): use torch.logsumexp(log_w, dim=0) - log k.",
    ),
    Mistake(
        lambda lw: torch.logsumexp(lw, 1) - math.log(lw.shape[1]),
        "average over the k samples (dim 0), not over the batch (dim 1).",
    ),
    Mistake(lambda lw: lw.max(0).values, "the maximum weight is not the average: use logsumexp(log w) - log k."),
    Mistake(
        lambda lw: torch.logsumexp(lw, 0) - lw.shape[0], "subtract log k, not k: log(sum / k) = logsumexp - log k."
    ),
    Mistake(
        lambda lw: torch.logsumexp(lw, 0) / lw.shape[0],
        "log(sum / k) = logsumexp - log k; dividing the log by k is something else.",
    ),
]


def check_iwae_bound(iwae_bound) -> None:
    """Exercise 5: ``iwae_bound(log_w) = logsumexp_i(log_w_i) - log k`` over dim 0, shape (B,)."""
    cases = [
        Case((-100 + 3 * _randn(7, 3, seed=51),), None, label="k = 7, B = 3, log w around -100"),
        Case((-800 + 2 * _randn(50, 2, seed=52),), None, label="k = 50, B = 2, log w around -800 (exp underflows)"),
        Case((_randn(1, 4, seed=53),), None, label="k = 1: the bound is log w itself (the ELBO estimate)"),
    ]
    for case in cases:
        case.expected, case.atol, case.rtol = _iwae(*case.args), 1e-8, 1e-9
    check_function(
        iwae_bound,
        cases,
        exercise=5,
        name="iwae_bound",
        hint="L_k = log((1/k) sum_i w_i) = torch.logsumexp(log_w, dim=0) - math.log(k), with k = log_w.shape[0].",
        mistakes=IWAE_MISTAKES,
    )


# --------------------------------------------------------------------------- Putting it together


@torch.no_grad()
def check_trained_vae(model, x_test, *, max_negative_elbo: float) -> None:
    """The VAE trained with the student's loss reaches a test negative ELBO below ``max_negative_elbo``."""
    negative_elbo = -objectives.elbo(model, x_test, samples=10, generator=_gen(0)).mean().item()
    check_value(
        negative_elbo,
        lambda got: (
            None
            if math.isfinite(got) and got < max_negative_elbo
            else f"the test negative ELBO is {got:.1f} nats, above {max_negative_elbo}"
        ),
        exercise=3,
        label=f"the VAE trained with your loss (test negative ELBO below {max_negative_elbo:g} nats)",
        hint="check exercises 1-3 again; if they pass, the model may have trained too briefly.",
    )


@torch.no_grad()
def check_iwae_on_model(log_importance_weights, iwae_bound, model, x, k: int) -> None:
    """Exercises 4 and 5 on a trained VAE: the student's bound equals vaelib's with the same noise."""
    mu, log_var = model.encode(x)  # (B, K)
    eps = torch.randn((k, *mu.shape), generator=_gen(5))  # (k, B, K)
    z = mu + torch.exp(0.5 * log_var) * eps
    log_w = call(
        log_importance_weights,
        (x, model.decode(z), z, mu, log_var),
        exercise=4,
        name="log_importance_weights",
        label="on the trained VAE",
    )
    theirs = call(iwae_bound, (log_w,), exercise=5, name="iwae_bound", label="on the trained VAE's log-weights")
    reference = torch.logsumexp(
        objectives.log_importance_weights(model, x, k, generator=_gen(5)).double(), 0
    ) - math.log(k)
    check_value(
        theirs.double() if isinstance(theirs, torch.Tensor) else theirs,
        reference,
        exercise=5,
        label=f"your IWAE bound (k = {k}) on the trained VAE, equal to vaelib.objectives.iwae_bound with the same noise",
        atol=1e-3,
        rtol=1e-5,
    )
