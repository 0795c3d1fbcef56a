"""vaelib.judge: the digit judge's shapes, errors, augmentation and that training learns."""

from __future__ import annotations

import pytest
import torch

from vaelib import judge as J


def _bars(n_per_class=20, seed=0):
    """A toy two-class problem: a vertical bar (class 0) or a horizontal bar (class 1), at random places."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(2 * n_per_class, 28, 28)
    for i in range(2 * n_per_class):
        p = int(torch.randint(6, 22, (1,), generator=g))
        if i % 2 == 0:
            x[i, 4:24, p : p + 2] = 1.0
        else:
            x[i, p : p + 2, 4:24] = 1.0
    return x.reshape(-1, 784), torch.arange(2 * n_per_class) % 2


def test_judge_outputs_logits_and_verdicts_with_the_right_shapes():
    torch.manual_seed(0)
    j = J.DigitJudge()
    x = torch.rand(5, 784)
    assert j(x).shape == (5, 10)
    v = J.judge_images(j, x)
    assert v.digit.shape == (5,) and v.confidence.shape == (5,) and v.probs.shape == (5, 10)
    assert torch.allclose(v.probs.sum(1), torch.ones(5))
    assert torch.equal(v.confidence, v.probs.max(1).values) and torch.equal(v.digit, v.probs.argmax(1))
    assert sum(p.numel() for p in j.parameters()) < 15_000
    with pytest.raises(ValueError, match=r"shape \(B, 784\)"):
        j(torch.rand(5, 28, 28))
    with pytest.raises(ValueError, match="channels"):
        J.DigitJudge((8,))


def test_shifted_moves_pixels_without_wrapping():
    x = torch.zeros(1, 784)
    x[0, 0] = 1.0  # top-left pixel
    down_right = J.shifted(x, 2, 3).reshape(28, 28)
    assert down_right[2, 3] == 1 and down_right.sum() == 1
    assert J.shifted(x, -1, 0).sum() == 0  # moved out of the image, not wrapped to the bottom
    assert torch.equal(J.shifted(J.shifted(x, 2, 3), -2, -3), x)


def test_training_set_holds_grey_binarized_and_shifted_copies():
    x, y = _bars(3)
    xs, ys = J.training_set(x, y, shifts=2)
    assert xs.shape == (10 * len(x), 784) and torch.equal(ys[: len(y)], y)
    assert torch.equal(xs[len(x) : 2 * len(x)], (x > 0.5).float())
    assert torch.equal(xs[2 * len(x) : 3 * len(x)], J.shifted(x, 2, 0))
    assert J.training_set(x, y, shifts=0)[0].shape == (2 * len(x), 784)


def test_training_learns_a_separable_problem_and_is_deterministic():
    x, y = _bars(20)
    a = J.train_judge(x, y, epochs=10, lr=5e-3, seed=1)
    b = J.train_judge(x, y, epochs=10, lr=5e-3, seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    x_new, y_new = _bars(10, seed=5)
    assert J.accuracy(a, x_new, y_new) >= 0.9
    assert not a.training


def test_training_and_accuracy_errors():
    x, y = _bars(2)
    with pytest.raises(ValueError, match="int64 labels in 0..9"):
        J.train_judge(x, y.float())
    with pytest.raises(ValueError, match="int64 labels in 0..9"):
        J.train_judge(x, y + 10)
    with pytest.raises(ValueError, match="epochs must be an integer"):
        J.train_judge(x, y, epochs=0)
    with pytest.raises(ValueError, match="one label per image"):
        J.accuracy(J.DigitJudge(), x, y[:1])
