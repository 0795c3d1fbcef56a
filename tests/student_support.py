"""Shared by tests/test_sheet05_students.py and test_sheet06_students.py: how a student-style answer is judged."""

from __future__ import annotations

import pytest

from vaelib.checks import CheckFailed


def assert_rejected_saying(check, answer, words) -> None:
    """``check`` rejects ``answer`` with a short message (no traceback) that contains every word."""
    with pytest.raises(CheckFailed) as info:
        check(answer)
    message = str(info.value)
    missing = [w for w in words if w not in message]
    assert not missing, (missing, message)
    assert "Traceback" not in message


def assert_accepted(check, answer, capsys) -> None:
    """``check`` passes ``answer`` and prints its one-line success."""
    check(answer)
    assert "passed" in capsys.readouterr().out


def student_tests(wrong: list, right: list):
    """The three tests of a sheet's student-style answers, for a test module to bind at top level:

    ``test_wrong, test_right, test_counts = student_tests(WRONG, RIGHT)``, with WRONG rows
    ``(check, answer, words)`` and RIGHT rows ``(check, answer)``.
    """

    @pytest.mark.parametrize("check, answer, words", wrong, ids=[row[1].__name__ for row in wrong])
    def test_wrong(check, answer, words):
        assert_rejected_saying(check, answer, words)

    @pytest.mark.parametrize("check, answer", right, ids=[row[1].__name__ for row in right])
    def test_right(check, answer, capsys):
        assert_accepted(check, answer, capsys)

    def test_counts():
        assert len(wrong) >= 4 and len(right) >= 2, (len(wrong), len(right))

    return test_wrong, test_right, test_counts
