"""Instructor tools: the student build hides solutions and quiz keys, answer keys, the gradebook, the run check.

The kernels started here run small notebooks written to tmp_path, plus ``00_start_here.ipynb``;
the student versions of the real chapter notebooks are run only by the test marked ``slow``, in
smoke mode (``course_utils.smoke``): that test is about what the student build keeps, and nbval runs
the full notebooks.
"""
from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from course_utils import cli, smoke
from course_utils.instructor import answer_key, display_name, find_notebooks, gradebook, kernel, leaks, markers, student
from course_utils.paths import learner_notebooks_dir
from course_utils.quiz.bank import filled_with_examples, read_yaml
from course_utils.quiz.build import instructor_dir
from course_utils.quiz.store import ProgressStore

REAL_NOTEBOOKS = find_notebooks()
START_HERE = next(p for p in REAL_NOTEBOOKS if p.name == "00_start_here.ipynb")
BANKS = {path.stem: read_yaml(path) for path in sorted(instructor_dir().glob("ch*.yaml"))}
QUESTIONS = [q for bank in BANKS.values() for q in bank["questions"]]
SOLUTION_CELL = {"nbgrader": {"solution": True, "grade": False, "locked": False, "grade_id": "ex1",
                              "schema_version": 3}}
STUB_ERROR = "NotImplementedError: Exercise: your code here (see the instructions above)"


def write_notebook(path: Path, cells: list) -> Path:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def exercise_notebook(path: Path) -> Path:
    """A small notebook with every convention: an instructor cell, a code exercise, a written one."""
    return write_notebook(path, [
        new_markdown_cell("# Doubling\nWrite `double`."),
        new_code_cell("x = 2\nprint(x)", outputs=[new_output("stream", name="stdout", text="2\n")],
                      execution_count=1),
        new_code_cell("SECRET_TEST_VALUE = 41", metadata={"tags": ["instructor"]}),
        new_code_cell('def double(v):\n    """Twice v."""\n    ### BEGIN SOLUTION\n'
                      '    return v + v  # adds it to itself\n    ### END SOLUTION\n\nresult = double(x)',
                      metadata=SOLUTION_CELL),
        new_code_cell("assert result == 4"),
        new_markdown_cell("Why does it work?\n=== BEGIN MARK SCHEME ===\nAddition is doubling.\n"
                          "=== END MARK SCHEME ==="),
        new_markdown_cell("Because v + v doubles v.",
                          metadata={"nbgrader": {**SOLUTION_CELL["nbgrader"], "grade_id": "w1"}}),
    ])


def cell_sources(path: Path) -> list[str]:
    return [cell.source for cell in nbformat.read(path, as_version=4).cells]


# -- the student build on a synthetic notebook -------------------------------------------------
def test_solution_region_becomes_the_stub_code_around_it_kept_instructor_cells_and_outputs_gone(tmp_path):
    source = exercise_notebook(tmp_path / "ex.ipynb")
    report = student.build([source], tmp_path / "student")
    assert report.ok and report.notebooks[0].changes.stubs == 2 and report.notebooks[0].changes.removed_cells == 1
    assert cell_sources(tmp_path / "student" / "ex.ipynb") == [
        "# Doubling\nWrite `double`.",
        "x = 2\nprint(x)",
        'def double(v):\n    """Twice v."""\n    # YOUR CODE HERE\n'
        '    raise NotImplementedError("Exercise: your code here (see the instructions above)")\n\nresult = double(x)',
        "assert result == 4",
        "Why does it work?",
        markers.TEXT_STUB,
    ]
    built = nbformat.read(tmp_path / "student" / "ex.ipynb", as_version=4)
    assert all(c.outputs == [] and c.execution_count is None for c in built.cells if c.cell_type == "code")
    assert built.cells[2].metadata == SOLUTION_CELL  # nbgrader's metadata stays, so nbgrader can grade it


def test_the_stub_raises_the_clear_error_when_run(tmp_path):
    student.build([exercise_notebook(tmp_path / "ex.ipynb")], tmp_path / "student")
    built = nbformat.read(tmp_path / "student" / "ex.ipynb", as_version=4)
    error = kernel.run_notebook(built, tmp_path, "cpu", timeout=60)
    assert error is not None and error.cell == 3 and error.message == STUB_ERROR


def test_check_runs_up_to_the_first_exercise_and_names_a_cell_that_needed_an_instructor_cell(tmp_path):
    student.build([exercise_notebook(tmp_path / "ex.ipynb")], tmp_path / "student")
    run = student.check_until_first_exercise(tmp_path / "student" / "ex.ipynb", timeout=60)
    assert run.passed and run.first_exercise == 3 and run.cells_run == 1
    write_notebook(tmp_path / "needs.ipynb", [
        new_code_cell("HELPER = 1", metadata={"tags": ["instructor"]}),
        new_code_cell("y = HELPER + 1"),
        new_code_cell("### BEGIN SOLUTION\nz = y\n### END SOLUTION", metadata=SOLUTION_CELL),
    ])
    student.build([tmp_path / "needs.ipynb"], tmp_path / "student")
    run = student.check_until_first_exercise(tmp_path / "student" / "needs.ipynb", timeout=60)
    assert run.error == "cell 1: NameError: name 'HELPER' is not defined"


def test_unpaired_markers_are_refused_with_notebook_cell_and_line(tmp_path):
    write_notebook(tmp_path / "open.ipynb", [new_markdown_cell("intro"),
                                             new_code_cell("x = 1\n### BEGIN SOLUTION\ny = 2", metadata=SOLUTION_CELL)])
    report = student.build([tmp_path / "open.ipynb"], tmp_path / "student")
    assert report.notebooks[0].problems == [
        "open.ipynb, cell 2, line 2: the solution region opened here is never closed (add its END line)"]
    assert not report.ok and not (tmp_path / "student" / "open.ipynb").exists()


def test_a_notebook_that_leaks_a_quiz_key_is_not_written_and_the_leaks_are_named(tmp_path):
    targets = next(q for q in QUESTIONS if q["id"] == "ch02.targets")
    single = next(q for q in QUESTIONS if q["type"] == "single")
    write_notebook(tmp_path / "leaky.ipynb", [
        new_markdown_cell(f"As the quiz says: {targets['explanation']}"),
        new_code_cell(f'quiz.question("{single["id"]}").answer("{single["correct"]}")'),
        new_code_cell(f'quiz.question("ch02.targets").answer({targets["answer"]})'),
        new_code_cell('quiz.show("ch02.targets")'),  # naming a question is fine
    ])
    report = student.build([tmp_path / "leaky.ipynb"], tmp_path / "student")
    assert report.notebooks[0].problems == [
        "leaky.ipynb, cell 1: the explanation of quiz question ch02.targets",
        f"leaky.ipynb, cell 2: the answer of quiz question {single['id']} ('answer(\"{single['correct']}\")')",
        f"leaky.ipynb, cell 3: the answer of quiz question ch02.targets ('answer({targets['answer']})')",
    ]
    assert not (tmp_path / "student" / "leaky.ipynb").exists()


def test_stale_learner_banks_stop_the_build_and_an_instructor_bank_in_the_output_is_reported(tmp_path, monkeypatch):
    out = tmp_path / "student"
    out.mkdir()
    shutil.copy(instructor_dir() / "ch02.yaml", out / "answers.yaml")
    report = student.build([exercise_notebook(tmp_path / "ex.ipynb")], out)
    assert report.instructor_banks == [out / "answers.yaml"] and not report.ok
    stale = tmp_path / "quizzes"
    stale.mkdir()
    monkeypatch.setattr("course_utils.paths.quiz_dir", lambda: stale)
    with pytest.raises(student.StaleBanksError, match="python -m course_utils.quiz.build"):
        student.build([tmp_path / "ex.ipynb"], out)


# -- the student build of the real notebooks -------------------------------------------------------
@pytest.mark.parametrize("notebook", REAL_NOTEBOOKS, ids=display_name)
def test_student_notebooks_hold_no_solution_text_and_no_quiz_key(notebook, tmp_path):
    report = student.build([notebook], tmp_path)
    assert report.ok, report.notebooks[0].problems
    built = nbformat.read(report.notebooks[0].target, as_version=4)
    text = leaks.normalise("\n".join(leaks.cell_text(cell) for cell in built.cells))
    assert not markers.ANY_MARKER.search(text.upper())
    assert not any(markers.is_instructor_cell(cell) for cell in built.cells)
    assert all(not cell.get("outputs") for cell in built.cells)
    assert not [q["id"] for q in QUESTIONS if leaks.normalise(q["explanation"]) in text]


@pytest.mark.slow
@pytest.mark.parametrize("notebook", REAL_NOTEBOOKS, ids=display_name)
def test_student_notebooks_run_up_to_their_first_exercise(notebook, tmp_path):
    report = student.build([notebook], tmp_path)
    target = report.notebooks[0].target
    if student.first_exercise(nbformat.read(target, as_version=4)) is None:
        pytest.skip(f"{display_name(notebook)} has no code exercise")
    run = student.check_until_first_exercise(target, "cpu", env=smoke.kernel_env())
    assert run.passed, run.error


# -- answer keys -----------------------------------------------------------------------------------------
def question_block(text: str, question_id: str) -> str:
    """The part of an answer key about one question: from its heading to the next one."""
    start = text.index(f"#### {question_id} ·")
    end = text.find("\n#### ", start + 1)
    return text[start:] if end == -1 else text[start:end]


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_answer_key_lists_every_question_of_every_bank_with_its_right_answer(tmp_path, fmt):
    written = answer_key.write_answer_keys(out=tmp_path, fmt=fmt)
    assert [p.name for p in written] == [f"{chapter}-answer-key.{fmt}" for chapter in BANKS]
    for chapter, bank in BANKS.items():
        text = (tmp_path / f"{chapter}-answer-key.{fmt}").read_text()
        assert all(q["id"] in text for q in bank["questions"])
        if fmt == "html":
            continue
        for q in map(filled_with_examples, bank["questions"]):  # numbers from a notebook: as at size cpu
            block = question_block(text, q["id"])
            assert q["notebook"] in text and f"### {q['section']}" in text
            assert f"**Hint:** {q['hint'].strip()}" in block
            assert f"**Explanation:** {q['explanation'].strip()}" in block
            if q["type"] == "numeric":
                assert f"**Answer:** {float(q['answer']):g}" in block
                continue
            right = q["correct"] if isinstance(q["correct"], list) else [q["correct"]]
            for key in q["options"]:
                assert f"- {'✓' if key in right else '✗'} **({key})**" in block
            assert f"**Answer:** {', '.join(f'({k})' for k in q['options'] if k in right)}" in block


def test_numeric_answers_show_the_accepted_interval():
    q = {"answer": 3.6, "tolerance": "5%", "unit": "× 10^14 FLOPs"}
    assert answer_key.numeric_answer(q) == "3.6 × 10^14 FLOPs (accepted 3.42 to 3.78: ±5%)"
    assert answer_key.numeric_answer({"answer": 127, "tolerance": 0}) == "127 (exactly)"


# -- gradebook ------------------------------------------------------------------------------------------
def test_gradebook_skips_a_corrupt_file_by_name_and_writes_the_rows_of_the_good_ones(tmp_path, capsys):
    hand_in = tmp_path / "hand-in"
    ada = ProgressStore(hand_in / "ada" / "progress.json", learner="ada")
    ada.record("ch04.s1", "ch04", "a", False, "ch04/01_base_vs_instruct.ipynb")
    ada.record("ch04.s1", "ch04", "b", True, "ch04/01_base_vs_instruct.ipynb")
    ada.record("ch02.targets", "ch02", 127, True, "ch02/01_next_token_prediction.ipynb")
    ProgressStore(hand_in / "grace.json", learner="grace").record("ch04.s1", "ch04", "c", False,
                                                                  "ch04/01_base_vs_instruct.ipynb")
    (hand_in / "bob.json").write_text('{"version": 1, "learn')
    out = tmp_path / "grades.csv"
    assert cli.main(["gradebook", str(hand_in), "--out", str(out)]) == 0
    assert f"warning: skipped {hand_in / 'bob.json'}: cannot be read as JSON" in capsys.readouterr().err
    with open(out, newline="") as f:
        assert list(csv.reader(f)) == [
            ["learner", "file", "notebook", "question", "attempts", "first_try_correct", "score"],
            ["ada", "ada/progress.json", "ch02/01_next_token_prediction.ipynb", "ch02.targets", "1", "True", "1"],
            ["ada", "ada/progress.json", "ch04/01_base_vs_instruct.ipynb", "ch04.s1", "2", "False", "0.5"],
            ["grace", "grace.json", "ch04/01_base_vs_instruct.ipynb", "ch04.s1", "1", "False", "0"],
        ]


def test_gradebook_keeps_two_files_of_one_name_apart_and_reports_the_conflict_and_shared_names(tmp_path, capsys):
    hand_in = tmp_path / "hand-in"
    monday = ProgressStore(hand_in / "monday" / "progress-ada.json", learner="ada")
    monday.record("ch04.s1", "ch04", "b", True, "nb.ipynb")
    other = ProgressStore(hand_in / "progress-ada.json", learner="ada")
    other.record("ch04.s1", "ch04", "a", False, "nb.ipynb")
    other.record("ch04.s1", "ch04", "a", False, "nb.ipynb")
    ProgressStore(hand_in / "colab.json", learner="root").record("ch04.s1", "ch04", "b", True, "nb.ipynb")
    ProgressStore(hand_in / "hub.json", learner="root").record("ch04.s1", "ch04", "b", True, "nb.ipynb")

    book = gradebook.collect(hand_in)
    assert [(r.learner, r.file, r.attempts, r.score) for r in book.rows] == [
        ("ada", "monday/progress-ada.json", 1, 1.0),
        ("ada", "progress-ada.json", 2, 0.0),  # never merged with the other file of the same name
        ("root", "colab.json", 1, 1.0),  # included, though nobody can tell whose it is
        ("root", "hub.json", 1, 1.0),
    ]
    assert book.same_name == {"ada": ["monday/progress-ada.json", "progress-ada.json"]}  # root is no conflict
    assert book.shared_name == [("colab.json", "root"), ("hub.json", "root")]

    out = tmp_path / "grades.csv"
    assert cli.main(["gradebook", str(hand_in), "--out", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [f"warning: {line}" for line in book.warnings()] and len(err) == 3
    assert err[0].startswith("warning: learner 'ada' is in 2 files: monday/progress-ada.json, progress-ada.json; "
                             "their rows are kept apart")
    assert err[1].startswith("warning: colab.json: cannot tell who this is: its answers are under the shared "
                             "login name 'root'")
    with open(out, newline="") as f:
        assert [row[:2] for row in csv.reader(f)] == [["learner", "file"], ["ada", "monday/progress-ada.json"],
                                                     ["ada", "progress-ada.json"], ["root", "colab.json"],
                                                     ["root", "hub.json"]]


def test_gradebook_of_an_empty_folder_is_the_header_and_a_message(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert cli.main(["gradebook", str(tmp_path / "empty"), "--out", str(tmp_path / "grades.csv")]) == 0
    assert "no quiz progress found" in capsys.readouterr().out
    assert (tmp_path / "grades.csv").read_text().splitlines() == [",".join(gradebook.COLUMNS)]


def test_gradebook_reports_records_without_attempts_and_a_missing_folder(tmp_path):
    (tmp_path / "odd.json").write_text('{"version": 1, "learners": {"ada": {"ch04.s1": {"correct": true}}}}')
    book = gradebook.collect(tmp_path)
    assert book.rows == [] and book.skipped == [
        (tmp_path / "odd.json", "learner 'ada', question 'ch04.s1': a record needs a whole number 'attempts'")]
    with pytest.raises(FileNotFoundError, match="no such folder"):
        gradebook.collect(tmp_path / "missing")


def test_score_is_one_over_attempts_when_solved_else_zero():
    assert [gradebook.score(1, True), gradebook.score(2, True), gradebook.score(4, True)] == [1.0, 0.5, 0.25]
    assert gradebook.score(3, False) == 0.0


# -- run check -------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_check_on_cpu_passes_start_here_and_prints_its_time(capsys):
    assert cli.main(["check", "--size", "cpu", str(START_HERE)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["notebook", "result", "cells", "held", "not", "met", "time", "error"]
    name, result, cells, held, not_met, seconds = out[1].split()
    ran, code_cells = map(int, cells.split("/"))
    assert (name, result, held, not_met) == ("00_start_here.ipynb", "pass", "0", "0") and float(seconds.rstrip("s")) > 0
    assert ran == code_cells > 5
    assert out[2].startswith("1 notebooks, 0 failed; 0 claims, 0 not met; size cpu")


def test_check_shows_a_failure_with_its_error_and_exits_non_zero(tmp_path, capsys):
    broken = write_notebook(tmp_path / "broken.ipynb", [
        new_code_cell("from course_utils import settings\nassert settings.size() == 't4'"),  # size reached the kernel
        new_code_cell("1 / 0"),
    ])
    assert cli.main(["check", "--size", "t4", str(broken)]) == 1
    row = capsys.readouterr().out.splitlines()[1]
    assert row.startswith("broken.ipynb") and " FAIL " in row
    assert row.endswith("cell 2: ZeroDivisionError: division by zero")


def test_check_prints_every_claim_and_fails_on_one_not_met(tmp_path, capsys):
    claims = write_notebook(tmp_path / "claims.ipynb", [
        new_code_cell("from course_utils import claims\nclaims.expect('demo.rate', 0.9, at_least=0.8, text='a rate')"),
        new_code_cell("claims.expect('demo.loss', 2.5, at_most=2.0)"),
    ])
    assert cli.main(["check", "--size", "cpu", str(claims)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[1].endswith("cell 2: ClaimNotMet: claim demo.loss: measured 2.5, expected at most 2: NOT MET")
    assert out[2:4] == ["  claim demo.rate: measured 0.9, expected at least 0.8: holds (a rate)",
                        "  claim demo.loss: measured 2.5, expected at most 2: NOT MET"]
    assert out[4].startswith("1 notebooks, 1 failed; 2 claims, 1 not met; size cpu")


def test_existing_subcommands_are_still_there(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    listed = capsys.readouterr().out
    for command in ("build-assets", "train", "report", "student-build", "answer-key", "gradebook", "check"):
        assert command in listed


# -- hostile input through the commands (the cases one by one: tests/test_hostile_handins.py) -----------
def test_student_build_names_a_notebook_it_cannot_read_builds_the_others_and_exits_non_zero(tmp_path, capsys):
    (tmp_path / "broken.ipynb").write_text('{"cells": [', encoding="utf-8")
    good = exercise_notebook(tmp_path / "ex.ipynb")
    out = tmp_path / "student"
    assert cli.main(["student-build", str(tmp_path / "broken.ipynb"), str(good), "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "  broken.ipynb: NOT WRITTEN\n      broken.ipynb: cannot be read as a notebook (" in printed
    assert "the student build is NOT safe to hand out" in printed
    assert (out / "ex.ipynb").exists() and not (out / "broken.ipynb").exists()


def test_student_build_of_the_course_warns_of_a_copy_left_from_an_earlier_build(tmp_path, capsys):
    out = tmp_path / "student"
    stray = out / "ch04" / "05_renamed_since.ipynb"
    stray.parent.mkdir(parents=True)
    stray.write_text("{}", encoding="utf-8")
    assert cli.main(["student-build", "--out", str(out)]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "has no notebook in this build" in line]
    assert warnings == [f"warning: {stray} has no notebook in this build (renamed or removed?): delete it before handing out"]
    good = exercise_notebook(tmp_path / "ex.ipynb")
    assert cli.main(["student-build", str(good), "--out", str(out)]) == 0, "a build of named notebooks judges no others"
    assert "has no notebook in this build" not in capsys.readouterr().err


def test_student_build_check_smoke_runs_the_student_copies_in_smoke_mode_and_needs_check(tmp_path, capsys):
    source = write_notebook(tmp_path / "smoke.ipynb", [
        new_code_cell("from course_utils import smoke\nassert smoke.steps() == smoke.DEFAULT_STEPS"),
        new_code_cell("### BEGIN SOLUTION\nz = 1\n### END SOLUTION", metadata=SOLUTION_CELL),
    ])
    out = tmp_path / "student"
    assert cli.main(["student-build", str(source), "--out", str(out), "--check", "--smoke", "--timeout", "60"]) == 0
    assert "ran 1 code cells up to the exercise in cell 2: pass" in capsys.readouterr().out
    assert cli.main(["student-build", str(source), "--out", str(out), "--check", "--timeout", "60"]) == 1
    assert "cell 1: AssertionError" in capsys.readouterr().out
    assert cli.main(["student-build", str(source), "--out", str(out), "--smoke"]) == 2
    assert "--smoke cuts the runs of --check: give both" in capsys.readouterr().err

def test_a_command_without_the_instructor_extra_names_it_instead_of_a_traceback(tmp_path, monkeypatch, capsys):
    book = write_notebook(tmp_path / "book.ipynb", [new_code_cell("x = 1")])
    monkeypatch.setitem(sys.modules, "nbformat", None)  # as if pip had installed the package without the extra
    assert cli.main(["check", "--size", "cpu", str(book)]) == 2
    assert capsys.readouterr().err.endswith(
        "course-utils check: error: it needs nbformat, one of the instructor tools a plain install leaves out: "
        'pip install "llm-foundations-workbook[instructor]"\n')

def test_student_build_of_the_real_notebooks_keeps_only_known_metadata():
    for notebook in REAL_NOTEBOOKS:
        nb = nbformat.read(notebook, as_version=4)
        assert set(nb.metadata) <= student.NOTEBOOK_METADATA, display_name(notebook)
        for cell in nb.cells:
            assert set(cell.metadata) <= student.CELL_METADATA, display_name(notebook)
            assert set(cell.metadata.get("nbgrader", {})) <= student.NBGRADER_METADATA, display_name(notebook)


def test_gradebook_command_checks_question_ids_against_the_shipped_banks(tmp_path, capsys):
    ProgressStore(tmp_path / "ada.json", learner="ada").record("ch04.s1", "ch04", "b", True, "nb.ipynb")
    ProgressStore(tmp_path / "eve.json", learner="eve").record("ch09.free", "ch09", "b", True, "nb.ipynb")
    out = tmp_path / "grades.csv"
    assert cli.main(["gradebook", str(tmp_path), "--out", str(out)]) == 0
    assert ("warning: eve.json: learner 'eve' answered 1 question not in the quiz banks, left out of the scores: "
            "'ch09.free'") in capsys.readouterr().err
    with open(out, newline="") as f:
        assert [row[0] for row in csv.reader(f)] == ["learner", "ada"]


# -- written exercises: out of the student copies, into the answer key ---------------------------
def written_cell(answer: str, scheme: str, points: int = 2) -> nbformat.NotebookNode:
    meta = {"nbgrader": {"grade": True, "grade_id": "ch04-09-written", "locked": False, "points": points,
                         "schema_version": 3, "solution": True, "task": False}}
    return new_markdown_cell(f"### BEGIN SOLUTION\n{answer}\n### END SOLUTION\n\n=== BEGIN MARK SCHEME ===\n"
                             f"{scheme}\n=== END MARK SCHEME ===", metadata=meta)


def test_a_written_answer_becomes_an_empty_answer_cell_and_the_answer_key_prints_answer_and_scheme(tmp_path):
    notebooks = tmp_path / "notebooks"
    (notebooks / "ch04").mkdir(parents=True)
    source = write_notebook(notebooks / "ch04" / "09_why.ipynb", [
        new_markdown_cell("### Exercise 1: why mask? (a written answer)\n\nWhy is the prompt masked?"),
        written_cell("Because the prompt is input, not output.", "- 1 point: input\n- 1 point: output"),
    ])
    report = student.build([source], tmp_path / "student")
    assert report.ok and report.notebooks[0].changes.stubs == 1
    assert cell_sources(tmp_path / "student" / "09_why.ipynb")[1].strip() == markers.TEXT_STUB

    bank_dir = tmp_path / "instructor" / "quizzes"
    bank_dir.mkdir(parents=True)
    shutil.copy(instructor_dir() / "ch04.yaml", bank_dir)
    (key,) = answer_key.write_answer_keys(bank_dir, tmp_path / "keys", notebook_dir=notebooks)
    text = key.read_text()
    assert "## Written exercises" in text and "#### ch04/09_why.ipynb, cell 2 · 2 points · `ch04-09-written`" in text
    assert "Why is the prompt masked?" in text and "Because the prompt is input, not output." in text
    assert "- 1 point: input\n- 1 point: output" in text


def test_the_learner_copies_keep_no_model_answer_and_the_answer_key_shows_every_one(tmp_path):
    from course_utils.instructor.exercises import written_exercises

    written = [e for path in REAL_NOTEBOOKS
               for e in written_exercises(nbformat.read(path, as_version=4), display_name(path))]
    assert len(written) >= 9
    keys = "\n".join(p.read_text() for p in answer_key.write_answer_keys(out=tmp_path))
    for exercise in written:
        learner = nbformat.read(learner_notebooks_dir() / exercise.notebook, as_version=4)
        text = "\n".join(cell.source for cell in learner.cells)
        assert learner.cells[exercise.cell - 1].source.strip() == markers.TEXT_STUB
        assert exercise.answer.splitlines()[0] not in text and exercise.scheme.splitlines()[0] not in text
        assert exercise.answer in keys and keys.count(exercise.scheme) == 1, f"{exercise.grade_id}: in one key"
