"""The exercise-check machinery: passes quietly-ish, fails with case, expected, got and a hint."""

from __future__ import annotations

import pytest
import torch

from vaelib.checks import Case, CheckFailed, Mistake, check_function, check_value, format_value


def right(x):
    return 2 * x


CASES = [Case((torch.tensor([1.0, 2.0]),), torch.tensor([2.0, 4.0]), label="a vector")]


def test_pass_prints_one_line(capsys):
    check_function(right, CASES, exercise=3)
    assert capsys.readouterr().out == "Exercise 3: right passed all 1 checks.\n"


def test_wrong_value_names_case_expected_got_and_generic_hint():
    with pytest.raises(CheckFailed) as info:
        check_function(lambda x: 3 * x, CASES, exercise=3, name="double", hint="multiply by two")
    msg = str(info.value)
    assert "Exercise 3, a vector: values differ" in msg
    assert "expected: tensor of shape (2,)" in msg and "got:      tensor of shape (2,)" in msg
    assert "Hint: multiply by two" in msg


def test_known_mistake_gives_its_own_hint():
    mistakes = [Mistake(lambda x: x + 2, "you added instead of multiplying"), Mistake(lambda x: 3 * x, "three, not two")]
    with pytest.raises(CheckFailed, match="Hint: three, not two"):
        check_function(lambda x: 3 * x, CASES, exercise=1, mistakes=mistakes)


def test_shape_mismatch_is_reported_before_values():
    with pytest.raises(CheckFailed, match=r"expected shape \(2,\), got shape \(\)"):
        check_function(lambda x: (2 * x).sum(), CASES, exercise=1)


def test_crash_is_reported_with_its_type():
    def crashes(x):
        raise TypeError("bad operand")

    with pytest.raises(CheckFailed, match="raised TypeError: bad operand"):
        check_function(crashes, CASES, exercise=1)


def test_blank_raises_not_implemented_unchanged():
    def blank(x):
        raise NotImplementedError("Exercise 4: replace this line with your answer")

    with pytest.raises(NotImplementedError, match="Exercise 4"):
        check_function(blank, CASES, exercise=4)


def test_inputs_are_copied_so_in_place_edits_do_no_harm():
    def in_place(x):
        return x.mul_(2)

    check_function(in_place, CASES + CASES, exercise=1, quiet=True)
    assert torch.equal(CASES[0].args[0], torch.tensor([1.0, 2.0]))


def test_property_case_and_tuple_results():
    positive = Case((1.0,), lambda got: None if got > 0 else "the result must be positive", label="sign")
    check_function(lambda x: x, [positive], exercise=2, quiet=True)
    with pytest.raises(CheckFailed, match="must be positive"):
        check_function(lambda x: -x, [positive], exercise=2)
    pair = Case((1.0,), (1.0, torch.tensor(2.0)))
    with pytest.raises(CheckFailed, match="item 1 of the returned tuple"):
        check_function(lambda x: (x, torch.tensor(3.0)), [pair], exercise=2)


def test_nan_is_named():
    with pytest.raises(CheckFailed, match="NaN or inf"):
        check_function(lambda x: x / 0 * 0, CASES, exercise=1)


def test_check_value(capsys):
    check_value(0.5, 0.5, exercise=5, label="the optimal baseline")
    assert "Exercise 5: the optimal baseline is correct." in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="Hint: look at the sign"):
        check_value(-0.5, 0.5, exercise=5, label="the optimal baseline", hint="look at the sign")


def test_not_a_function():
    with pytest.raises(CheckFailed, match="expected a function"):
        check_function(3, CASES, exercise=1)


def test_format_value_is_short():
    assert format_value(torch.zeros(100)).endswith(", ...]")
    assert format_value(0.123456789) == "0.123457"
