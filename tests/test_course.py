"""vaelib.course.setup: what every notebook calls first."""

from __future__ import annotations

import random

import matplotlib
import numpy as np
import pytest
import torch

from vaelib.course import setup


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_setup_seeds_every_generator(restore_threads):
    setup(seed=3)
    first = (random.random(), np.random.rand(), torch.rand(()).item())
    setup(seed=3)
    assert (random.random(), np.random.rand(), torch.rand(()).item()) == first
    assert matplotlib.rcParams["figure.dpi"] == 72


def test_setup_limits_threads(restore_threads):
    setup(threads=1)
    assert torch.get_num_threads() == 1
    torch.set_num_threads(2)
    setup(threads=None)
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_setup_rejects_bad_thread_counts(bad, restore_threads):
    with pytest.raises(ValueError, match="threads must be an integer >= 1 or None"):
        setup(threads=bad)
