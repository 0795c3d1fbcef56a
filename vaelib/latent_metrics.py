"""Measured claims about a latent space, judged by the digit judge (:mod:`vaelib.judge`).

Introduced in lecture 05, where a plain autoencoder and a VAE with 2-d codes are compared on
numbers rather than on a picture chosen by eye:

- :func:`typicality` / :func:`most_typical`: how typical each test digit is of its class (the
  cosine of its pixel vector with the class's mean training image), and the most typical one;
- :func:`random_pairs`: pairs of test digits of different classes, drawn by a seeded rule;
- :func:`path_metrics`: for many pairs at once, the straight latent path
  z(t) = (1 - t) z_a + t z_b decoded at ``steps`` points, with the judge's verdict at each
  point, the largest step between consecutive decodes, and the prior log-density of the points;
- :func:`judged_samples`: decodes of latents drawn from a Gaussian (the prior N(0, I), or one
  fitted to the codes), and the fraction the judge confidently calls a digit.

Nothing runs at import time.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from vaelib import _validate, gaussians
from vaelib.judge import DigitJudge, judge_images
from vaelib.objectives import check_targets

__all__ = [
    "typicality",
    "most_typical",
    "random_pairs",
    "PathMetrics",
    "path_metrics",
    "gaussian_log_density",
    "knn_accuracy",
    "InformationSplit",
    "information_split",
    "judged_samples",
    "CONFIDENT",
]

CONFIDENT = 0.9  # the judge "confidently calls a digit" when its largest class probability is at least this


def _check_labels(x: Tensor, y: Tensor, name: str = "y") -> Tensor:
    return _validate.labels(name, y, n=len(x))


def _images(name: str, x) -> Tensor:
    """Images ``(N, D)``: a non-empty float tensor in [0, 1] (the Bernoulli models' pixels)."""
    x = check_targets(name, x)
    if x.dim() != 2:
        raise ValueError(f"{name} must have shape (N, D), one flattened image per row; got shape {tuple(x.shape)}.")
    return x


def _points(name: str, z) -> Tensor:
    """Latent points ``(N, K)``: a non-empty, finite float tensor."""
    z = _validate.real(name, z)
    if z.dim() != 2:
        raise ValueError(f"{name} must have shape (N, K), one latent point per row; got shape {tuple(z.shape)}.")
    return z


def _judge(judge) -> DigitJudge:
    return _validate.instance("judge", judge, DigitJudge, "a vaelib.judge.DigitJudge (vaelib.pretrained.load('judge'))")


def _threshold(threshold) -> float:
    return _validate.number("threshold", threshold, low=0.0, explain="(a confidence level, e.g. 0.9)")


def typicality(x: Tensor, y: Tensor, x_ref: Tensor, y_ref: Tensor) -> Tensor:
    """cos(x_n, mean of the reference images of class y_n): how typical each image is of its class.

    Args:
        x: images ``(N, D)``, y: their labels ``(N,)``.
        x_ref, y_ref: the reference images (e.g. the training digits) and labels.

    Returns:
        shape ``(N,)``, cosines in [-1, 1] (in [0, 1] for non-negative pixels).
    """
    x, x_ref = _images("x", x), _images("x_ref", x_ref)
    if x.shape[1] != x_ref.shape[1]:
        raise ValueError(
            f"x and x_ref must have the same number of pixels; got {tuple(x.shape)} and {tuple(x_ref.shape)}."
        )
    y = _check_labels(x, y)
    y_ref = _check_labels(x_ref, y_ref, "y_ref")
    missing = sorted(set(y.unique().tolist()) - set(y_ref.unique().tolist()))
    if missing:
        raise ValueError(f"y_ref has no reference image of the classes {missing} that occur in y.")
    means = torch.stack(
        [x_ref[y_ref == c].mean(0) if (y_ref == c).any() else x_ref[0] * 0 for c in range(int(y.max()) + 1)]
    )  # (C, D)
    return F.cosine_similarity(x, means[y], dim=1)


def most_typical(x: Tensor, y: Tensor, x_ref: Tensor, y_ref: Tensor, digit: int) -> int:
    """The row of ``x`` of class ``digit`` with the largest :func:`typicality`."""
    y = _check_labels(_images("x", x), y)
    digit = _validate.integer("digit", digit, minimum=0)
    rows = (y == digit).nonzero().squeeze(1)
    if len(rows) == 0:
        raise ValueError(f"digit must be a class present in y; got {digit!r}, classes {sorted(y.unique().tolist())}.")
    return int(rows[typicality(x[rows], y[rows], x_ref, y_ref).argmax()])


def random_pairs(y: Tensor, n: int, *, seed: int = 0) -> Tensor:
    """``n`` pairs of rows ``(i, j)`` with different labels ``y[i] != y[j]``, drawn uniformly by a seeded rule.

    Pairs are drawn uniformly among all ordered pairs of images; those of one class are redrawn.

    Returns:
        int64 tensor of shape ``(n, 2)``.
    """
    y = _validate.labels("y", y)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be an integer >= 1 (how many pairs); got {n!r}.")
    seed = _validate.integer("seed", seed, minimum=0)
    if len(y.unique()) < 2:
        raise ValueError("y must hold at least two classes to draw pairs of different digits.")
    generator = torch.Generator().manual_seed(seed)
    pairs = torch.empty(0, 2, dtype=torch.int64)
    while len(pairs) < n:
        draw = torch.randint(len(y), (2 * n, 2), generator=generator)
        pairs = torch.cat([pairs, draw[y[draw[:, 0]] != y[draw[:, 1]]]])
    return pairs[:n]


def gaussian_log_density(z: Tensor) -> Tensor:
    """log N(z; 0, I) = -1/2 (|z|^2 + K log 2 pi) of points ``(..., K)``; shape ``(...)``."""
    z = _validate.real("z", z, dims=1, meaning="(the last one indexes the K latents)", allow_empty=True)
    return -0.5 * (z.pow(2).sum(-1) + z.shape[-1] * gaussians.LOG_2PI)


def _model(model, methods: tuple[str, ...]) -> None:
    missing = [m for m in methods if isinstance(model, (str, bytes)) or not callable(getattr(model, m, None))]
    if missing:
        raise TypeError(
            f"model must have the method(s) {', '.join(missing)} (a vaelib.models.VAE or Autoencoder); got "
            f"{type(model).__name__} {model!r}"[:240]
        )


class PathMetrics(NamedTuple):
    """What :func:`path_metrics` measures on P straight latent paths of S points each."""

    z: Tensor  # (P, S, K) the path points
    x_hat: Tensor  # (P, S, D) their decodes
    digit: Tensor  # (P, S) the judge's class at each point
    confidence: Tensor  # (P, S) the judge's confidence at each point
    steps: Tensor  # (P, S-1) mean absolute pixel change between consecutive decodes
    max_step_share: Tensor  # (P,) the largest step as a share of the path's total change, in [1/(S-1), 1]
    log_prior: Tensor  # (P, S) log N(z; 0, I) of each point
    ends_right: Tensor  # (P, 2) bool: the judge calls the decodes at t = 0 and t = 1 the digits of x_a, x_b

    def frac_confident(self, threshold: float = CONFIDENT) -> Tensor:
        """(P,) the fraction of a path's points the judge confidently calls some digit."""
        return (self.confidence >= _threshold(threshold)).float().mean(1)


@torch.no_grad()
def path_metrics(model, judge: DigitJudge, x: Tensor, y: Tensor, pairs: Tensor, *, steps: int = 21) -> PathMetrics:
    """Decode the straight latent paths between pairs of images and measure them with the judge.

    For each pair (a, b): z(t) = (1 - t) z_a + t z_b at t = 0, 1/(S-1), ..., 1, where z_a, z_b are
    where the model places x_a and x_b (``model.embed``: the code of an autoencoder, the posterior
    mean of a VAE); x_hat(t) = sigmoid(decode(z(t))). A gradual morph changes the image by about
    1/(S-1) of its total change at each step (``max_step_share`` near 1/(S-1)); a path that
    jumps has one step carrying most of the change (share near 1).

    Args:
        model: has ``embed`` and ``decode_mean`` (:class:`vaelib.models.Autoencoder` or ``VAE``).
        judge: a trained :class:`vaelib.judge.DigitJudge`.
        x: images ``(N, D)``; y: labels ``(N,)``.
        pairs: rows of ``x``, shape ``(P, 2)`` (e.g. :func:`random_pairs`).
        steps: S, points on each path (ends included), >= 3.

    Returns:
        :class:`PathMetrics`.
    """
    _model(model, ("embed", "decode_mean"))
    _judge(judge)
    x = _images("x", x)
    y = _check_labels(x, y)
    if not isinstance(pairs, Tensor) or pairs.is_floating_point() or pairs.dtype is torch.bool:
        raise TypeError(
            f"pairs must be an integer tensor of row indices, shape (P, 2); got {type(pairs).__name__} "
            f"{getattr(pairs, 'dtype', '')}. Draw them with random_pairs(y, P)."
        )
    if pairs.dim() == 2 and pairs.numel() and (pairs.min() < 0 or pairs.max() >= len(x)):
        raise ValueError(
            f"pairs must hold row indices of x in 0..{len(x) - 1}; got values in "
            f"[{int(pairs.min())}, {int(pairs.max())}]."
        )
    if pairs.dim() != 2 or pairs.shape[1] != 2 or len(pairs) == 0:
        raise ValueError(f"pairs must have shape (P, 2) with P >= 1 (rows of x); got {tuple(pairs.shape)}.")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 3:
        raise ValueError(f"steps must be an integer >= 3 (points on a path, ends included); got {steps!r}.")
    codes = model.embed(x[pairs.reshape(-1)]).reshape(len(pairs), 2, -1)  # (P, 2, K)
    t = torch.linspace(0.0, 1.0, steps)[None, :, None]  # (1, S, 1)
    z = (1 - t) * codes[:, :1] + t * codes[:, 1:]  # (P, S, K)
    x_hat = model.decode_mean(z)  # (P, S, D)
    verdict = judge_images(judge, x_hat.reshape(-1, x_hat.shape[-1]))
    digit = verdict.digit.reshape(len(pairs), steps)
    confidence = verdict.confidence.reshape(len(pairs), steps)
    step = (x_hat[:, 1:] - x_hat[:, :-1]).abs().mean(-1)  # (P, S-1)
    share = step.max(1).values / step.sum(1).clamp_min(1e-12)
    ends = torch.stack([digit[:, 0] == y[pairs[:, 0]], digit[:, -1] == y[pairs[:, 1]]], dim=1)
    return PathMetrics(
        z=z,
        x_hat=x_hat,
        digit=digit,
        confidence=confidence,
        steps=step,
        max_step_share=share,
        log_prior=gaussian_log_density(z),
        ends_right=ends,
    )


@torch.no_grad()
def judged_samples(
    model,
    judge: DigitJudge,
    n: int,
    *,
    mean: Tensor | None = None,
    scale_tril: Tensor | None = None,
    generator: torch.Generator | None = None,
    threshold: float = CONFIDENT,
):
    """Decode latents z = mean + L eps, eps ~ N(0, I), and judge the decodes.

    With the defaults (mean 0, L = I) the latents come from the prior N(0, I). For an autoencoder,
    which has no prior, pass the mean and Cholesky factor of a Gaussian fitted to its codes.

    Args:
        model: has ``latent_dim`` and ``decode_mean``.
        n: how many samples.
        mean: ``(K,)``; scale_tril: ``(K, K)`` lower triangular.

    Returns:
        ``(x_hat (n, D), verdict, frac_confident)``: the decodes, the judge's
        :class:`vaelib.judge.Verdict`, and the fraction with confidence >= ``threshold``.
    """
    _model(model, ("decode_mean",))
    _judge(judge)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be an integer >= 1 (how many samples); got {n!r}.")
    threshold = _threshold(threshold)
    generator = _validate.generator(generator)
    k = model.latent_dim
    if mean is not None:
        mean = _validate.real("mean", mean, like=torch.empty(0), cast=True)
        if mean.shape != (k,):
            raise ValueError(f"mean must have shape ({k},) (latent_dim={k}); got shape {tuple(mean.shape)}.")
    if scale_tril is not None:
        scale_tril = _validate.scale_tril("scale_tril", scale_tril, "mean", torch.zeros(k) if mean is None else mean)
        scale_tril = scale_tril.to(torch.get_default_dtype())
    eps = torch.randn(n, k, generator=generator)  # (n, K)
    z = eps if scale_tril is None else eps @ scale_tril.T
    z = z if mean is None else z + mean
    x_hat = model.decode_mean(z)
    verdict = judge_images(judge, x_hat)
    return x_hat, verdict, (verdict.confidence >= threshold).float().mean().item()


@torch.no_grad()
def knn_accuracy(z_ref: Tensor, y_ref: Tensor, z: Tensor, y: Tensor, k: int = 10) -> float:
    """How well classes are separated in a latent space: k-nearest-neighbour accuracy.

    Each point of ``z`` ``(N, K)`` is given the majority label of its ``k`` nearest points of
    ``z_ref`` ``(M, K)`` (Euclidean; ties to the smaller label); returns the fraction equal to ``y``.
    Scale-free: multiplying every code by a constant leaves it unchanged.
    """
    z, z_ref = _points("z", z), _points("z_ref", z_ref)
    if z.shape[1] != z_ref.shape[1]:
        raise ValueError(
            f"z and z_ref must have the same number of latents; got {tuple(z.shape)} and {tuple(z_ref.shape)}."
        )
    y = _check_labels(z, y)
    y_ref = _check_labels(z_ref, y_ref, "y_ref")
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= len(z_ref):
        raise ValueError(f"k must be an integer in [1, {len(z_ref)}] (neighbours); got {k!r}.")
    if z.dtype != z_ref.dtype:  # one dtype for the distances
        z, z_ref = z.double(), z_ref.double()
    nearest = torch.cdist(z, z_ref).topk(k, largest=False).indices  # (N, k)
    votes = F.one_hot(y_ref[nearest], int(y_ref.max()) + 1).sum(1)  # (N, C)
    return votes.argmax(1).eq(y).float().mean().item()


class InformationSplit(NamedTuple):
    """The rate and its split R = I(x; z) + KL(q(z) || p(z)), estimated on a finite data set (nats)."""

    rate: float  # mean_n KL(q(z | x_n) || p(z)), in closed form
    mutual_information: float  # I_q(x; z), x uniform on the N images, Monte Carlo
    marginal_kl: float  # KL(q(z) || p(z)), q(z) = mean_n q(z | x_n), Monte Carlo
    rate_mc: float  # the Monte Carlo estimate of the rate from the same draws: = I + marginal KL exactly


@torch.no_grad()
def information_split(
    model, x: Tensor, *, samples: int = 4, generator: torch.Generator | None = None
) -> InformationSplit:
    """Split the rate (the average KL) into mutual information and the aggregate posterior's KL.

    With x uniform on the N images and q(z) = (1/N) sum_m q(z | x_m) (the aggregate posterior),
    E_x KL(q(z|x) || p(z)) = I_q(x; z) + KL(q(z) || p(z)) (Hoffman & Johnson 2016; Alemi et al.
    2018), so the rate is an upper bound on I_q(x; z), which is itself at most log N. Estimated
    with ``samples`` draws z ~ q(z | x_n) per image:
    I = mean[log q(z | x_n) - log q(z)], KL(q(z) || p) = mean[log q(z) - log p(z)].

    Args:
        model: has ``encode(x) -> (mu, log_var)``.
        x: images ``(N, D)`` (a few thousand at most: the cost is N^2 * samples).

    Returns:
        :class:`InformationSplit`.
    """
    _model(model, ("encode",))
    samples = _validate.positive_int("samples", samples)
    generator = _validate.generator(generator)
    x = _validate.as_tensor("x", x)
    _validate.nonempty_batch("x", x, "one image per row")
    mu, log_var = model.encode(x)  # (N, K)
    mu, log_var = (
        _validate.real("mu (the model's encoding of x)", mu),
        _validate.real("log_var (the model's encoding of x)", log_var),
    )
    n, k = mu.shape
    std = torch.exp(0.5 * log_var)
    eps = torch.randn(samples, n, k, generator=generator)  # (S, N, K)
    z = mu + std * eps  # (S, N, K)
    # log q(z_sn | x_m) for every image m: (S, N, M)
    diff = (z[:, :, None, :] - mu[None, None]) / std[None, None]
    log_q_all = -0.5 * (diff.pow(2) + log_var[None, None] + gaussians.LOG_2PI).sum(-1)
    log_q_own = -0.5 * (eps.pow(2) + log_var + gaussians.LOG_2PI).sum(-1)  # (S, N)
    log_q_marginal = torch.logsumexp(log_q_all, dim=2) - math.log(n)  # (S, N)
    log_p = gaussian_log_density(z)  # (S, N)
    info = (log_q_own - log_q_marginal).mean().item()
    marginal_kl = (log_q_marginal - log_p).mean().item()
    rate = (0.5 * (mu.pow(2) + log_var.exp() - 1 - log_var)).sum(1).mean().item()
    return InformationSplit(
        rate=rate, mutual_information=info, marginal_kl=marginal_kl, rate_mc=(log_q_own - log_p).mean().item()
    )
