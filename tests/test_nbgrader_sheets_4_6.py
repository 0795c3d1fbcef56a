"""nbgrader end to end on sheets 04-06 (tests/test_nbgrader.py has the steps and sheets 01-03).

A file of its own so that pytest-xdist, which keeps a file's tests in one worker (--dist loadfile,
needed for nbval's notebooks), runs these three sheets beside the other three.
"""

from __future__ import annotations

import pytest
from test_nbgrader import ASSIGNMENTS, run_sheet_through_nbgrader

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("assignment", ASSIGNMENTS[3:])
def test_every_sheet_through_nbgrader_generate_autograde_feedback(assignment, tmp_path, monkeypatch):
    run_sheet_through_nbgrader(assignment, tmp_path, monkeypatch)
