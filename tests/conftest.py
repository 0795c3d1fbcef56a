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


def pytest_collection_modifyitems(config, items):
    """Group the tests for pytest-xdist (``--dist loadgroup``, set in pyproject.toml).

    nbval runs a notebook's cells in order in one kernel, and several test files share expensive
    module-scoped fixtures: so every test file is one group, run whole by one worker. A test that
    names its own group (``pytest.mark.xdist_group``: the nbgrader sheets, one group each) keeps
    it, so that those spread over the workers. Without xdist the marks do nothing.
    """
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(name=item.nodeid.split("::")[0]))
