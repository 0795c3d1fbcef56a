"""A digit judge: a small convolutional classifier used as an objective witness of decoded images.

Introduced in lecture 05. Does a decoded image look like a digit, and which one? A person
looking at a strip of decodes answers by eye; the judge answers with a number that a check
cell can assert: ``judge.predict(x_hat)`` gives the class it sees and its confidence (the
largest softmax probability). It is trained on the offline training digits only (grey levels,
their binarized versions, and copies shifted by up to two pixels, so that it also reads the
blurry pixel probabilities a decoder outputs) and measured on the test digits.

The architecture is LeNet-like (LeCun et al. 1998), scaled down: two 5x5 convolutions with 8
and 16 channels, each followed by ReLU and 2x2 max pooling, then one linear layer to 10
logits: 28x28 -> 8x14x14 -> 16x7x7 -> 10 (about 11 000 parameters). Nothing runs at import.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaelib import _validate
from vaelib.models import check_image_data, check_images

__all__ = ["DigitJudge", "Verdict", "judge_images", "shifted", "training_set", "train_judge", "accuracy"]


class Verdict(NamedTuple):
    """What the judge says about a batch of images: the class, its probability, all probabilities."""

    digit: Tensor  # (B,) int64, the most probable class
    confidence: Tensor  # (B,) the largest class probability, in (0.1, 1]
    probs: Tensor  # (B, 10) softmax probabilities


class DigitJudge(nn.Module):
    """A small CNN classifier of 28x28 digits (flattened rows of 784 values in [0, 1]).

    logits = Linear(16*7*7, 10)(pool(relu(conv2(pool(relu(conv1(x))))))), with 5x5 convolutions
    (padding 2) of 8 and 16 channels and 2x2 max pooling.

    Args:
        channels: the two convolutions' channel counts.
    """

    def __init__(self, channels: tuple[int, int] = (8, 16)):
        super().__init__()
        if (
            not isinstance(channels, (tuple, list))
            or len(channels) != 2
            or not all(isinstance(c, int) and c >= 1 for c in channels)
        ):
            raise ValueError(f"channels must be two integers >= 1, e.g. (8, 16); got {channels!r}.")
        self.channels = tuple(channels)
        self.conv1 = nn.Conv2d(1, channels[0], 5, padding=2)
        self.conv2 = nn.Conv2d(channels[0], channels[1], 5, padding=2)
        self.out = nn.Linear(channels[1] * 7 * 7, 10)

    @property
    def config(self) -> dict:
        """The constructor arguments (stored with shipped weights)."""
        return {"class": "DigitJudge", "channels": list(self.channels)}

    def forward(self, x: Tensor) -> Tensor:
        """Class logits, shape ``(B, 10)``, of images ``x`` of shape ``(B, 784)``."""
        check_image_data(x, 784)
        h = x.to(self.out.weight.dtype).reshape(-1, 1, 28, 28)  # (B, 1, 28, 28)
        h = F.max_pool2d(F.relu(self.conv1(h)), 2)  # (B, c1, 14, 14)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)  # (B, c2, 7, 7)
        return self.out(h.flatten(1))  # (B, 10)


@torch.no_grad()
def judge_images(judge: DigitJudge, x: Tensor, batch_size: int = 2000) -> Verdict:
    """Classify images: the judge's class, its confidence and all ten probabilities.

    Args:
        judge: a trained :class:`DigitJudge`.
        x: images (data or decodes ``x_hat``), shape ``(B, 784)``, values in [0, 1].

    Returns:
        :class:`Verdict` ``(digit (B,), confidence (B,), probs (B, 10))``.
    """
    _validate.instance("judge", judge, DigitJudge, "a vaelib.judge.DigitJudge (e.g. vaelib.pretrained.load('judge'))")
    check_image_data(x, 784)
    batch_size = _validate.positive_int("batch_size", batch_size)
    was_training = judge.training
    judge.eval()
    probs = torch.cat([F.softmax(judge(x[i : i + batch_size].float()), dim=1) for i in range(0, len(x), batch_size)])
    judge.train(was_training)
    confidence, digit = probs.max(dim=1)
    return Verdict(digit=digit, confidence=confidence, probs=probs)


def accuracy(judge: DigitJudge, x: Tensor, y: Tensor) -> float:
    """The fraction of images ``x`` (B, 784) whose judged class equals the label ``y`` (B,)."""
    _validate.instance("judge", judge, DigitJudge, "a vaelib.judge.DigitJudge (e.g. vaelib.pretrained.load('judge'))")
    check_image_data(x, 784)
    y = _validate.labels("y", y, n=len(x), num_classes=10)
    return judge_images(judge, x).digit.eq(y).float().mean().item()


def shifted(x: Tensor, dr: int, dc: int) -> Tensor:
    """Images ``(B, 784)`` moved by ``dr`` rows and ``dc`` columns, zeros shifted in (no wrap-around)."""
    check_image_data(x, 784)
    dr, dc = _validate.integer("dr", dr), _validate.integer("dc", dc)
    img = x.reshape(-1, 28, 28)
    out = torch.zeros_like(img)
    rs, rd = (slice(0, 28 - dr), slice(dr, 28)) if dr >= 0 else (slice(-dr, 28), slice(0, 28 + dr))
    cs, cd = (slice(0, 28 - dc), slice(dc, 28)) if dc >= 0 else (slice(-dc, 28), slice(0, 28 + dc))
    out[:, rd, cd] = img[:, rs, cs]
    return out.reshape(-1, 784)


def training_set(x: Tensor, y: Tensor, *, shifts: int = 2) -> tuple[Tensor, Tensor]:
    """The judge's training images: grey levels, binarized at 0.5, and both shifted by +-``shifts`` px.

    Returns ``(x, y)`` with ``(1 + 4 * [shifts > 0]) * 2 * B`` rows: the originals, then copies moved
    up, down, left and right by ``shifts`` pixels.
    """
    check_image_data(x, 784)
    y = _validate.labels("y", y, n=len(x), num_classes=10)
    shifts = _validate.integer("shifts", shifts, minimum=0)
    base = torch.cat([x, (x > 0.5).to(x.dtype)])  # (2B, 784)
    labels = torch.cat([y, y])
    parts, ys = [base], [labels]
    if shifts:
        for dr, dc in ((shifts, 0), (-shifts, 0), (0, shifts), (0, -shifts)):
            parts.append(shifted(base, dr, dc))
            ys.append(labels)
    return torch.cat(parts), torch.cat(ys)


def train_judge(
    x: Tensor,
    y: Tensor,
    *,
    epochs: int = 8,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    channels: tuple[int, int] = (8, 16),
    shifts: int = 2,
) -> DigitJudge:
    """Train a :class:`DigitJudge` by Adam on the cross-entropy of :func:`training_set` (x, y).

    Deterministic for a given seed on one CPU thread: the initial weights come from
    ``torch.manual_seed(seed)`` and the shuffling from a generator seeded by ``(seed, epoch)``.
    The learning rate falls linearly to 0 over the run.

    Args:
        x: training images ``(N, 784)`` in [0, 1]; y: their labels ``(N,)`` in 0..9.
        epochs: passes over the augmented set (10 N images with ``shifts > 0``).

    Returns:
        the trained judge, in eval mode.
    """
    check_images(x, 784)
    if y.shape != (len(x),) or y.dtype != torch.int64 or (len(y) and (y.min() < 0 or y.max() > 9)):
        raise ValueError(
            f"y must be int64 labels in 0..9, one per image, shape ({len(x)},); got {tuple(y.shape)} {y.dtype}."
        )
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1; got {epochs!r}.")
    torch.manual_seed(seed)
    judge = DigitJudge(channels)
    xs, ys = training_set(x.float(), y, shifts=shifts)
    opt = torch.optim.Adam(judge.parameters(), lr=lr)
    steps = epochs * -(-len(xs) // batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / steps)
    judge.train()
    for epoch in range(epochs):
        order = torch.randperm(len(xs), generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        for start in range(0, len(xs), batch_size):
            idx = order[start : start + batch_size]
            loss = F.cross_entropy(judge(xs[idx]), ys[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return judge.eval()
