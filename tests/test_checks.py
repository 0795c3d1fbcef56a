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
    mistakes = [
        Mistake(lambda x: x + 2, "you added instead of multiplying"),
        Mistake(lambda x: 3 * x, "three, not two"),
    ]
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


# --------------------------------------------------------------------------- issue 14: checks that diagnose

from vaelib.checks import Term, call, is_blank  # noqa: E402

F64 = torch.float64


def _sampler(mu, log_var, eps):
    return mu + torch.exp(0.5 * log_var) * eps


def _sampler_cases():
    g = torch.Generator().manual_seed(0)
    mu, log_var, eps = (torch.randn(3, 2, generator=g, dtype=F64) for _ in range(3))
    return [Case((mu, log_var, eps), label="general", atol=1e-8, rtol=1e-6, grad=(0, 1), noise=2)]


def _check_sampler(answer):
    check_function(answer, _sampler_cases(), exercise=7, name="sampler", reference=_sampler, quiet=True)


def test_a_failed_check_renders_as_its_message_and_stays_an_assertion():
    err = CheckFailed("Exercise 1, case: wrong.\nHint: do this.")
    assert isinstance(err, AssertionError)
    assert err._render_traceback_() == ["CheckFailed: Exercise 1, case: wrong.", "Hint: do this."]


def test_the_blank_passes_through_as_the_same_exception_rendered_in_one_line():
    marker = NotImplementedError("Exercise 4: replace this line with your answer")

    def blank(x):
        raise marker

    with pytest.raises(NotImplementedError) as info:
        check_function(blank, CASES, exercise=4)
    assert info.value is marker and is_blank(marker)
    (line,) = marker._render_traceback_()
    assert line.startswith("NotImplementedError: Exercise 4: replace this line")


def test_torch_s_own_not_implemented_error_is_explained_not_taken_for_a_blank():
    def bernoulli_rsample(p):
        return torch.distributions.Bernoulli(probs=p).rsample()

    with pytest.raises(CheckFailed) as info:
        check_function(bernoulli_rsample, [Case((torch.tensor([0.3]),), torch.tensor([0.0]))], exercise=2)
    msg = str(info.value)
    assert "raised NotImplementedError" in msg and "rsample() of a distribution" in msg
    assert "not the unanswered-exercise marker" in msg and "in your code, line" in msg


def test_a_crash_names_the_line_of_the_student_code():
    def crashes(x):
        y = x * 2
        return y @ torch.ones(3, dtype=y.dtype)  # shapes (2,) @ (3,)

    with pytest.raises(CheckFailed) as info:
        check_function(crashes, CASES, exercise=1)
    assert "return y @ torch.ones(3, dtype=y.dtype)" in str(info.value)


def test_an_in_place_operation_that_breaks_autograd_is_explained():
    def in_place(mu, log_var, eps):
        std = torch.exp(0.5 * log_var)
        std.mul_(eps)  # exp's output is needed for its gradient
        return mu + std

    with pytest.raises(CheckFailed, match="in-place operation"):
        _check_sampler(in_place)


def test_wrong_dtype_is_named():
    with pytest.raises(CheckFailed, match="your result is float32 but the inputs are float64"):
        check_function(
            lambda x: (2 * x).float(),
            [Case((torch.tensor([1.0, 2.0], dtype=F64),), torch.tensor([2.0, 4.0], dtype=F64))],
            exercise=1,
        )


def test_float32_inputs_get_float32_tolerances():
    x = torch.tensor([1e3, 2e3], dtype=torch.float32)
    slightly_off = lambda x: 2 * x * (1 + 1e-6)  # noqa: E731 (float32 rounding level)
    check_function(slightly_off, [Case((x,), 2 * x, atol=1e-8, rtol=1e-8)], exercise=1, quiet=True)


def test_a_bool_answer_that_is_a_tensor_is_named():
    with pytest.raises(CheckFailed, match=r"your answer is a tensor .*return a Python bool"):
        check_function(
            lambda a, b: torch.equal(a, b) | torch.tensor(False),
            [Case((torch.ones(2), torch.ones(2)), True)],
            exercise=6,
        )
    check_function(
        lambda a, b: bool((a == b).all()), [Case((torch.ones(2), torch.ones(2)), True)], exercise=6, quiet=True
    )


def test_an_answer_that_draws_its_own_noise_or_ignores_it_is_named():
    with pytest.raises(CheckFailed, match="draws its own noise"):
        _check_sampler(lambda mu, log_var, eps: mu + torch.exp(0.5 * log_var) * torch.randn_like(mu))
    with pytest.raises(CheckFailed, match="ignores the noise"):
        _check_sampler(lambda mu, log_var, eps: mu + torch.exp(0.5 * log_var))


def test_a_missing_gradient_is_named_for_each_input():
    with pytest.raises(CheckFailed, match="no gradient reaches log_var"):
        _check_sampler(lambda mu, log_var, eps: mu + torch.exp(0.5 * log_var.detach()) * eps)
    with pytest.raises(CheckFailed, match="no gradient reaches mu, log_var"):
        _check_sampler(lambda mu, log_var, eps: torch.tensor((mu + torch.exp(0.5 * log_var) * eps).tolist(), dtype=F64))
    _check_sampler(
        lambda mu, log_var, eps: (
            torch.distributions.Normal(mu, (0.5 * log_var).exp()).rsample() * 0 + _sampler(mu, log_var, eps)
        )
    )


def test_a_mistake_is_named_only_when_it_fits_every_case():
    cases = [
        Case((torch.tensor([1.0]),), torch.tensor([2.0]), label="x = 1"),
        Case((torch.tensor([3.0]),), torch.tensor([6.0]), label="x = 3"),
    ]
    plus_one = [Mistake(lambda x: x + 1, "you added one")]
    with pytest.raises(CheckFailed) as info:  # x**2 + 1 agrees with x + 1 at x = 1 only
        check_function(lambda x: x**2 + 1, cases, exercise=1, mistakes=plus_one, hint="double it")
    assert "you added one" not in str(info.value) and "Hint: double it" in str(info.value)
    with pytest.raises(CheckFailed, match="you added one"):
        check_function(lambda x: x + 1, cases, exercise=1, mistakes=plus_one)


def test_a_mistake_must_fit_the_property_cases_too():
    """Cases whose expected value is a property (a sampler's law) count when deciding whether a
    listed mistake fits: a hint that is right on one case and wrong on another is not shown."""

    def near(value):
        return lambda got: None if abs(float(got) - value) < 1e-9 else f"expected about {value}"

    cases = [Case((1.0,), near(2.0), label="x = 1"), Case((3.0,), near(6.0), label="x = 3")]
    squared = [Mistake(lambda x: x**2, "you squared x")]
    with pytest.raises(CheckFailed) as info:  # agrees with x ** 2 at x = 3 (where it fails), not at x = 1
        check_function(lambda x: 2 * x if x < 2 else x**2, cases, exercise=1, mistakes=squared, hint="double it")
    assert "you squared x" not in str(info.value) and "Hint: double it" in str(info.value)
    with pytest.raises(CheckFailed, match="you squared x"):
        check_function(lambda x: x**2, cases, exercise=1, mistakes=squared)


def test_a_wrong_term_is_named_with_its_factor():
    def reference(a, b):
        return a**2 + 3 * b

    terms = [Term("square term a^2", lambda a, b: a**2), Term("linear term 3b", lambda a, b: 3 * b)]
    case = [
        Case((torch.tensor([1.0, 2.0, -0.5], dtype=F64), torch.tensor([0.5, -1.0, 2.0], dtype=F64)), label="general")
    ]
    for answer, words in [
        (lambda a, b: a**2, "the linear term 3b is missing"),
        (lambda a, b: a**2 - 3 * b, "the linear term 3b has the wrong sign"),
        (lambda a, b: 2 * a**2 + 3 * b, "the square term a^2 is counted twice"),
        (lambda a, b: 2 * (a**2 + 3 * b), "2 times the right one"),
    ]:
        with pytest.raises(CheckFailed) as info:
            check_function(answer, case, exercise=1, terms=terms, reference=reference)
        assert words in str(info.value)


def test_a_wrong_term_is_named_from_scalar_cases_pooled():
    """One number per case is too few to tell terms apart; the cases together are enough, and a
    term that vanishes in the simple cases (b = 0) is identified from the others."""

    def reference(a, b):
        return a**2 + 3 * b

    terms = [Term("square term a^2", lambda a, b: a**2), Term("linear term 3b", lambda a, b: 3 * b)]
    cases = [
        Case((torch.tensor(a, dtype=F64), torch.tensor(b, dtype=F64)), label=f"a = {a}, b = {b}")
        for a, b in [(1.0, 0.0), (2.0, 1.0), (-0.5, 2.0), (1.5, -1.0)]
    ]
    with pytest.raises(CheckFailed) as info:
        check_function(lambda a, b: a * a - 3 * b, cases, exercise=1, terms=terms, reference=reference)
    msg = str(info.value)
    assert msg.startswith("Exercise 1, a = 2.0, b = 1.0") and "the linear term 3b has the wrong sign" in msg
    assert "The simpler cases passed: a = 1.0, b = 0.0" in msg
    with pytest.raises(CheckFailed) as info:  # wrong by something that is no multiple of a term: no term named
        check_function(lambda a, b: a**2 + 3 * b + a * b, cases, exercise=1, terms=terms, reference=reference)
    assert "term" not in str(info.value).split("Hint:")[0]


def test_call_reports_any_error_and_lets_the_blank_through():
    assert call(lambda x: x + 1, (1,), exercise=1, name="f", label="x = 1") == 2
    with pytest.raises(CheckFailed, match="f raised ZeroDivisionError"):
        call(lambda x: 1 / x, (0,), exercise=1, name="f", label="x = 0")
    with pytest.raises(NotImplementedError):
        call(
            lambda: (_ for _ in ()).throw(NotImplementedError("Exercise 2: replace this line with your answer")),
            exercise=2,
            name="f",
            label="-",
        )


def test_a_returned_none_is_named():
    with pytest.raises(CheckFailed, match="did you forget a return statement"):
        check_function(lambda x: None, CASES, exercise=1)
