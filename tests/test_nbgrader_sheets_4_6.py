"""nbgrader end to end on sheets 04-06 (tests/test_nbgrader.py has the steps and sheets 01-03).

A file of its own so that pytest-xdist, which keeps a file's tests in one worker (--dist loadfile,
needed for nbval's notebooks), runs these three sheets beside the other three. These three share a
course folder of their own (``course``, made once for this file), as the other three do.
"""

from __future__ import annotations

import pytest
from test_nbgrader import ASSIGNMENTS, make_course, run_sheet_through_nbgrader

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return make_course(tmp_path_factory)


@pytest.mark.parametrize("assignment", ASSIGNMENTS[3:])
def test_every_sheet_through_nbgrader_generate_autograde_feedback(assignment, course, monkeypatch):
    run_sheet_through_nbgrader(assignment, course, monkeypatch)
