"""Shared by the tests of the exercise checks (tests/test_sheetNN_checks.py)."""

from __future__ import annotations

import pytest

from vaelib.checks import CheckFailed


def rejects(check, wrong, *words: str) -> str:
    """Assert ``check`` rejects the answer ``wrong`` with a message containing every word."""
    with pytest.raises(CheckFailed) as info:
        check(wrong)
    msg = str(info.value)
    for word in words:
        assert word in msg, (word, msg)
    return msg
