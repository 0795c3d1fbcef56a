"""Test-suite settings shared by every test module."""

import pytest
import torch
from hypothesis import settings

# Property tests run on loaded CI machines and on instructors' laptops: no per-example time
# limit (a slow machine is not a failure), and the same examples on every run, so that a
# failure reproduces and a pass means the same thing everywhere.
settings.register_profile("course", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("course")


@pytest.fixture(autouse=True)
def one_thread():
    """Every test runs on one torch thread, as the course does (vaelib.course.setup): the models and
    tensors are tiny, a second thread only adds synchronisation (painful on a busy machine), and one
    thread keeps floating-point reductions the same everywhere. Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def float64_default():
    """float64 as torch's default dtype for one test (closed forms checked to 1e-10), restored afterwards."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)
