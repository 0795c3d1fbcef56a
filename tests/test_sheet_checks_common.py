"""What every exercise check must do, whatever the sheet: let a blank's NotImplementedError
through unchanged (so an untouched sheet fails only at its blanks), and report a crashing
answer as a CheckFailed that names the error."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from vaelib.checks import CheckFailed


def _takes_one_function(check) -> bool:
    """Checks of a student's function take just it; the few that check a trained model or a
    value take more and are tested in their sheet's own test file."""
    required = [p for p in inspect.signature(check).parameters.values() if p.default is p.empty]
    return len(required) == 1


SHEETS = sorted(p.stem for p in (Path(__file__).parents[1] / "vaelib" / "checks").glob("sheet*.py"))
CHECKS = [
    (f"{sheet}.{name}", fn)
    for sheet in SHEETS
    for name, fn in inspect.getmembers(importlib.import_module(f"vaelib.checks.{sheet}"), inspect.isfunction)
    if name.startswith("check_") and fn.__module__ == f"vaelib.checks.{sheet}" and _takes_one_function(fn)
]


def test_every_sheet_has_checks():
    assert SHEETS == [f"sheet{n:02d}" for n in range(1, 7)]
    assert {name.split(".")[0] for name, _ in CHECKS} == set(SHEETS)


def _blank(*args, **kwargs):
    raise NotImplementedError("Exercise N: replace this line with your answer")


def _crashes(*args, **kwargs):
    raise IndexError("index 7 is out of bounds")


@pytest.mark.parametrize("check", [fn for _, fn in CHECKS], ids=[name for name, _ in CHECKS])
def test_a_blank_answer_raises_not_implemented_unchanged(check):
    with pytest.raises(NotImplementedError, match="Exercise N"):
        check(_blank)


@pytest.mark.parametrize("check", [fn for _, fn in CHECKS], ids=[name for name, _ in CHECKS])
def test_a_crashing_answer_is_reported_with_its_error(check):
    with pytest.raises(CheckFailed, match="raised IndexError: index 7 is out of bounds"):
        check(_crashes)
