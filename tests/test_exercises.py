"""vaelib.exercises turns solution notebooks into exercise sheets (nbgrader markers)."""

from __future__ import annotations

import nbformat
import pytest

from vaelib import exercises
from vaelib.exercises import MarkerError, blank_source, build, make_exercise

SOLVED = '''# Exercise 2
def kl_diag(mu, log_var):
    """Docstring stays."""
    ### BEGIN SOLUTION
    return 0.5 * (log_var.exp() + mu**2 - 1 - log_var).sum(-1)
    ### END SOLUTION

check(kl_diag)'''


def test_code_blank_keeps_indentation_and_names_the_exercise():
    source, numbers = blank_source(SOLVED, "code", "cell 0")
    assert numbers == [2]
    assert "0.5 *" not in source
    assert '    raise NotImplementedError("Exercise 2: replace this line with your answer")' in source
    assert '    """Docstring stays."""' in source and source.endswith("check(kl_diag)")
    namespace = {}
    exec(source.replace("check(kl_diag)", ""), namespace)
    with pytest.raises(NotImplementedError, match="Exercise 2"):
        namespace["kl_diag"](0, 0)


def test_markdown_blank():
    source, numbers = blank_source("Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION", "markdown", "cell 1")
    assert source == "Why?\nYOUR ANSWER HERE" and numbers == []


@pytest.mark.parametrize(
    "source, message",
    [
        ("# Exercise 1\n### BEGIN SOLUTION\nx = 1", "never closed"),
        ("# Exercise 1\nx = 1\n### END SOLUTION", "without a matching"),
        ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "no '# Exercise N' line"),
        ("# Exercise 1\n### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another"),
    ],
)
def test_malformed_markers_are_reported_with_the_cell(source, message):
    with pytest.raises(MarkerError, match=message) as info:
        blank_source(source, "code", "solutions/x.ipynb, cell 3")
    assert "cell 3" in str(info.value)


def _solution_nb():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Sheet"), nbformat.v4.new_code_cell(SOLVED)]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="ok\n")]
    nb.cells[1].execution_count = 1
    return nb


def test_make_exercise_clears_outputs_and_adds_the_generated_note():
    exercise, numbers = make_exercise(_solution_nb(), "solutions/01_x.ipynb")
    assert numbers == [2]
    assert "generated from `solutions/01_x.ipynb`" in exercise.cells[0].source
    code = exercise.cells[2]
    assert code.outputs == [] and code.execution_count is None


def test_build_writes_then_check_detects_drift_and_stale_sheets(tmp_path, capsys):
    (tmp_path / "solutions").mkdir()
    nbformat.write(_solution_nb(), tmp_path / "solutions" / "01_x.ipynb")
    assert exercises.main(["--root", str(tmp_path), "--check"]) == 1  # nothing generated yet
    assert build(tmp_path) == ["exercises/01_x.ipynb"]
    assert exercises.main(["--root", str(tmp_path), "--check"]) == 0
    assert build(tmp_path) == []  # byte-stable: a second build changes nothing
    # editing a solution makes the sheet stale
    nb = _solution_nb()
    nb.cells[0].source = "# Sheet, edited"
    nbformat.write(nb, tmp_path / "solutions" / "01_x.ipynb")
    assert exercises.main(["--root", str(tmp_path), "--check"]) == 1
    assert "out of date" in capsys.readouterr().out
    build(tmp_path)
    # a sheet whose solution was deleted is reported and removed
    (tmp_path / "exercises" / "02_gone.ipynb").write_text("{}")
    assert exercises.main(["--root", str(tmp_path), "--check"]) == 1
    build(tmp_path)
    assert not (tmp_path / "exercises" / "02_gone.ipynb").exists()


def test_missing_solutions_folder_is_a_clear_error(tmp_path, capsys):
    assert exercises.main(["--root", str(tmp_path)]) == 2
    assert "no solutions/ folder" in capsys.readouterr().err


# --------------------------------------------------------------------------- nbgrader metadata, model answers (issue 14)

from vaelib.exercises import mark_for_nbgrader, nbgrader_source, write_nbgrader_course  # noqa: E402


def _sheet_with_a_written_answer():
    nb = _solution_nb()
    nb.cells[1].source = SOLVED.replace("check(kl_diag)", "")
    nb.cells.append(nbformat.v4.new_code_cell("sheet03.check_kl_diag(kl_diag)"))
    nb.cells.append(nbformat.v4.new_markdown_cell("## Exercise 3 (written): why?"))
    nb.cells.append(nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\nBecause $x > 0$.\n### END SOLUTION"))
    return nb


def test_exercise_cells_carry_nbgrader_metadata():
    exercise, _ = make_exercise(_sheet_with_a_written_answer(), "solutions/03_x.ipynb")
    meta = {
        c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"] for c in exercise.cells if "nbgrader" in c.metadata
    }
    assert set(meta) == {"exercise-2", "check-2", "written-3"}
    assert meta["exercise-2"]["solution"] and not meta["exercise-2"]["grade"]
    assert (
        meta["check-2"]["grade"] and meta["check-2"]["locked"] and meta["check-2"]["points"] == exercises.CHECK_POINTS
    )
    assert (
        meta["written-3"]["solution"]
        and meta["written-3"]["grade"]
        and meta["written-3"]["points"] == exercises.WRITTEN_POINTS
    )
    assert all(m["schema_version"] == 3 for m in meta.values())


def test_a_written_answer_is_followed_by_its_collapsed_model_answer_unless_graded():
    exercise, _ = make_exercise(_sheet_with_a_written_answer(), "solutions/03_x.ipynb")
    sources = [c.source for c in exercise.cells]
    i = sources.index("YOUR ANSWER HERE")
    assert sources[i + 1].startswith("<details><summary><b>Model answer</b>") and "Because $x > 0$." in sources[i + 1]
    graded, _ = make_exercise(_sheet_with_a_written_answer(), "solutions/03_x.ipynb", model_answers=False)
    assert not any("Model answer" in c.source for c in graded.cells)


def test_the_nbgrader_source_keeps_the_answers_and_marks_the_cells():
    source = nbgrader_source(_sheet_with_a_written_answer(), "solutions/03_x.ipynb")
    assert "### BEGIN SOLUTION" in source.cells[1].source and source.cells[1].metadata["nbgrader"]["solution"]
    assert source.cells[1].outputs == []


def test_grade_ids_stay_unique_when_an_exercise_has_two_check_cells():
    nb = _sheet_with_a_written_answer()
    nb.cells.insert(3, nbformat.v4.new_code_cell("sheet03.check_kl_diag(kl_diag)"))
    ids = list(mark_for_nbgrader(nb, "x").values())
    assert len(ids) == len(set(ids)) and "check-2-2" in ids


def test_the_nbgrader_course_folder(tmp_path):
    (tmp_path / "solutions").mkdir()
    nbformat.write(_sheet_with_a_written_answer(), tmp_path / "solutions" / "03_x.ipynb")
    assert exercises.main(["--root", str(tmp_path), "--nbgrader-course", str(tmp_path / "course")]) == 0
    assert (tmp_path / "course" / "source" / "sheet03" / "03_x.ipynb").exists()
    assert "c.CourseDirectory.root" in (tmp_path / "course" / "nbgrader_config.py").read_text()
    assert write_nbgrader_course(tmp_path, tmp_path / "course2") == ["sheet03"]
