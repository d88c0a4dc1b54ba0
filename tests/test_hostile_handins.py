"""Hand-ins and handouts against mischief: hostile progress files for the gradebook, and solutions
hidden in unusual places of a source notebook for the student build.

Self-contained: every file is written to tmp_path, the gradebook is given its own small set of
question ids and the student build no quiz keys, so nothing here reads the repository's banks or
notebooks.
"""
from __future__ import annotations

import base64
import csv
import json
from pathlib import Path

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from course_utils import cli
from course_utils.instructor import gradebook, leaks, markers, student

KNOWN = {"ch04.s1", "ch02.targets"}
NOTEBOOK = "ch04/01_base_vs_instruct.ipynb"


def record(attempts: object = 1, correct: object = True, first: object = True, notebook: object = NOTEBOOK) -> dict:
    """A record as ``ProgressStore`` writes it (the fields the gradebook reads)."""
    return {"chapter": "ch04", "attempts": attempts, "correct": correct, "first_try_correct": first,
            "notebook": notebook, "revealed": False}


def hand_in(path: Path, learners: dict, text: str | None = None) -> Path:
    """A progress file holding ``learners`` (or the raw ``text``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text is not None else json.dumps({"version": 1, "learners": learners}), encoding="utf-8")
    return path


def csv_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


# -- gradebook: one file never stops the rest ----------------------------------------------------------
HOSTILE = {
    "huge.json": b'{"version": 1, "learners": {"eve": {"ch04.s1": {"attempts": 1' + b"0" * 400 + b', "correct": true, '
                 b'"first_try_correct": false, "notebook": "nb.ipynb"}}}}',
    "deep.json": b"[" * 100_000 + b"]" * 100_000,
    "digits.json": b'{"version": 1, "learners": {"eve": {"ch04.s1": {"attempts": ' + b"7" * 5000 + b"}}}}",
    "latin1.json": b'{"learners": {"\xe9ve": {}}}',
    "list.json": b"[1, 2, 3]",
}


def hostile_folder(folder: Path) -> Path:
    """A good hand-in of ada's beside every file of :data:`HOSTILE`."""
    hand_in(folder / "ada.json", {"ada": {"ch04.s1": record()}})  # a question of the shipped banks too
    for name, content in HOSTILE.items():
        (folder / name).write_bytes(content)
    return folder


def test_hostile_files_are_skipped_by_name_and_the_good_ones_make_the_csv(tmp_path):
    folder = hostile_folder(tmp_path / "hand-in")
    (folder / "folder.json").mkdir()  # not a file: not read at all

    book = gradebook.collect(folder, KNOWN)
    assert [(r.learner, r.question, r.attempts) for r in book.rows] == [("ada", "ch04.s1", 1)]
    skipped = {path.name: reason for path, reason in book.skipped}
    assert sorted(skipped) == sorted(HOSTILE)
    assert "'attempts' must be a whole number from 0 to 10000" in skipped["huge.json"]
    assert skipped["deep.json"].startswith("cannot be read as JSON (nested too deeply")
    assert skipped["digits.json"].startswith("cannot be read as JSON")
    assert skipped["latin1.json"].startswith("cannot be read as JSON")
    assert skipped["list.json"] == "not a quiz progress file (no 'learners' mapping)"
    book.write_csv(tmp_path / "grades.csv")
    assert [row[0] for row in csv_rows(tmp_path / "grades.csv")] == ["learner", "ada"]


def test_the_command_over_hostile_files_names_each_and_writes_the_csv_of_the_good_ones(tmp_path, capsys):
    folder = hostile_folder(tmp_path / "hand-in")
    assert cli.main(["gradebook", str(folder), "--out", str(tmp_path / "grades.csv")]) == 0
    err = capsys.readouterr().err
    assert all(f"warning: skipped {folder / name}: " in err for name in HOSTILE)
    assert [row[0] for row in csv_rows(tmp_path / "grades.csv")] == ["learner", "ada"]


def test_a_file_larger_than_any_progress_file_is_not_read(tmp_path, monkeypatch):
    monkeypatch.setattr(gradebook, "MAX_FILE_BYTES", 1000)
    hand_in(tmp_path / "big.json", {"ada": {f"q{i}": record() for i in range(50)}})
    book = gradebook.collect(tmp_path, KNOWN)
    assert book.rows == [] and book.skipped[0][1].startswith("larger than any quiz progress file")


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                 max_size=4),
                    max_leaves=20)
FIELD = st.one_of(JSON, st.integers(-5, 20_000), st.sampled_from(["false", "true", "", "=1+1", NOTEBOOK]))
RECORD = st.fixed_dictionaries({}, optional={"attempts": FIELD, "correct": FIELD, "first_try_correct": FIELD,
                                             "notebook": FIELD, "revealed": FIELD})
PROGRESS = st.fixed_dictionaries({"version": st.just(1), "learners": st.dictionaries(
    st.text(max_size=8) | st.sampled_from(["ada", "=cmd|' /C calc'!A0"]),
    st.dictionaries(st.sampled_from(sorted(KNOWN)) | st.text(max_size=8), RECORD | JSON, max_size=3) | JSON,
    max_size=3)})


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=PROGRESS | JSON)
def test_no_file_content_stops_the_gradebook(tmp_path, content):
    """Whatever a hand-in holds, it is read or skipped with a reason; the good file's row is always there."""
    folder = tmp_path / "hypothesis"
    hand_in(folder / "a-good.json", {"ada": {"ch04.s1": record()}})
    hand_in(folder / "b-hostile.json", {}, json.dumps(content))
    book = gradebook.collect(folder, KNOWN)
    assert ("ada", "a-good.json", 1.0) in [(r.learner, r.file, r.score) for r in book.rows]
    assert len(book.files_read) + len(book.skipped) == 2
    for row in book.rows:
        assert row.question in KNOWN and 0 <= row.attempts <= gradebook.MAX_ATTEMPTS and 0 <= row.score <= 1
    book.write_csv(tmp_path / "grades.csv")


# -- gradebook: every field checked -----------------------------------------------------------------------------
BAD_FIELD = "learner 'ada', question 'ch04.s1': "
RULE = "characters of text (not blank, no line break, tab or other control character)"
BAD_NAME = f": the learner name must be 1 to 100 {RULE}"


@pytest.mark.parametrize("learner, rec, reason", [
    ("ada", record(correct="false"), BAD_FIELD + "'correct' must be true or false, not 'false'"),
    ("ada", record(first="yes"),
     BAD_FIELD + "'first_try_correct' must be true or false (null before the first attempt), not 'yes'"),
    ("ada", record(attempts=True), BAD_FIELD + "'attempts' must be a whole number from 0 to 10000, not True"),
    ("ada", record(attempts=2.0), BAD_FIELD + "'attempts' must be a whole number from 0 to 10000, not 2.0"),
    ("ada", record(attempts=-1), BAD_FIELD + "'attempts' must be a whole number from 0 to 10000, not -1"),
    ("ada", record(attempts=10_001), BAD_FIELD + "'attempts' must be a whole number from 0 to 10000, not 10001"),
    ("ada", record(notebook=5), BAD_FIELD + f"'notebook' must be 1 to 500 {RULE}, not 5"),
    ("ada", record(notebook=" "), BAD_FIELD + f"'notebook' must be 1 to 500 {RULE}, not ' '"),
    ("ada", {k: v for k, v in record().items() if k != "correct"},
     BAD_FIELD + "a record needs 'correct', true or false"),
    ("ada", record(first=None), BAD_FIELD + "'first_try_correct' is null after 1 attempts"),
    ("ada", record(attempts=0, first=None), BAD_FIELD + "'correct' is true with no attempt"),
    ("ada", record(correct=[[1]]), BAD_FIELD + "'correct' must be true or false, not a list"),
    ("ada", record(correct=False, first=True), BAD_FIELD + "'first_try_correct' is true but 'correct' is false"),
    ("ada", "solved", BAD_FIELD + "the record must be a mapping of fields, not str"),
    ("", record(), "learner ''" + BAD_NAME),
    ("a" * 300, record(), f"learner {'a' * 60 + '...'!r}" + BAD_NAME),
    ("ada\nbob", record(), "learner 'ada\\nbob'" + BAD_NAME),
])
def test_a_bad_record_skips_its_file_naming_file_learner_question_and_field(tmp_path, learner, rec, reason):
    hand_in(tmp_path / "bad.json", {learner: {"ch04.s1": rec}})
    hand_in(tmp_path / "good.json", {"grace": {"ch04.s1": record()}})
    book = gradebook.collect(tmp_path, KNOWN)
    assert [r.learner for r in book.rows] == ["grace"]
    assert book.skipped == [(tmp_path / "bad.json", reason)]


def test_a_bad_question_id_skips_its_file(tmp_path):
    hand_in(tmp_path / "bad.json", {"ada": {"": record(), "x" * 101: record()}})
    [(_, reason)] = gradebook.collect(tmp_path, KNOWN).skipped
    assert reason == f"learner 'ada', question '': the question id must be 1 to 100 {RULE}"


def test_a_zero_attempt_record_may_leave_first_try_unset(tmp_path):
    """Revealing before any attempt writes ``first_try_correct: null`` with 0 attempts: a real record."""
    hand_in(tmp_path / "ada.json", {"ada": {"ch04.s1": record(attempts=0, correct=False, first=None)}})
    book = gradebook.collect(tmp_path, KNOWN)
    assert [(r.attempts, r.first_try_correct, r.score) for r in book.rows] == [(0, None, 0.0)] and not book.skipped


# -- gradebook: names -----------------------------------------------------------------------------------------
def test_claiming_another_learners_name_never_replaces_their_rows_and_is_reported(tmp_path):
    hand_in(tmp_path / "ada.json", {"ada": {"ch04.s1": record(attempts=1)}})
    hand_in(tmp_path / "mallory.json", {"Ada ": {"ch04.s1": record(attempts=10)}})  # same name, other case
    book = gradebook.collect(tmp_path, KNOWN)
    assert [(r.learner, r.file, r.attempts) for r in book.rows] == [("Ada ", "mallory.json", 10),
                                                                    ("ada", "ada.json", 1)]
    assert book.same_name == {"ada": ["ada.json", "mallory.json"]}
    assert book.warnings()[0].startswith("learner 'ada' is in 2 files: ada.json, mallory.json")


def test_a_name_or_question_twice_in_one_file_skips_the_file(tmp_path):
    """JSON keeps the last of two equal keys, so a second ``"ada"`` would silently replace the first."""
    one = json.dumps({"ch04.s1": record(attempts=1)})
    hand_in(tmp_path / "twice.json", {}, f'{{"version": 1, "learners": {{"ada": {one}, "ada": {one}}}}}')
    hand_in(tmp_path / "q.json", {}, '{"version": 1, "learners": {"bob": {"ch04.s1": %s, "ch04.s1": %s}}}'
            % (json.dumps(record()), json.dumps(record())))
    book = gradebook.collect(tmp_path, KNOWN)
    assert book.rows == [] and [reason for _, reason in book.skipped] == [
        "the key 'ch04.s1' appears twice in one mapping: this file was edited by hand; ask for a fresh export",
        "the key 'ada' appears twice in one mapping: this file was edited by hand; ask for a fresh export"]


@pytest.mark.parametrize("text", ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_a_cell_a_spreadsheet_would_run_is_escaped_with_a_quote(text):
    assert gradebook.spreadsheet_safe(text) == "'" + text
    assert gradebook.spreadsheet_safe("Ada Lovelace") == "Ada Lovelace"


def test_names_questions_notebooks_and_files_are_escaped_in_the_csv(tmp_path):
    evil = "=cmd|' /C calc'!A0"
    hand_in(tmp_path / "-2+3.json", {evil: {"@SUM(A1)": record(notebook="+HYPERLINK(1)")}})
    book = gradebook.collect(tmp_path, KNOWN | {"@SUM(A1)"})
    book.write_csv(tmp_path / "grades.csv")
    assert csv_rows(tmp_path / "grades.csv")[1] == [
        "'" + evil, "'-2+3.json", "'+HYPERLINK(1)", "'@SUM(A1)", "1", "True", "1"]


# -- gradebook: question ids -------------------------------------------------------------------------------
def test_answers_to_questions_not_in_the_banks_are_left_out_and_reported(tmp_path):
    hand_in(tmp_path / "ada.json", {"ada": {"ch04.s1": record(), "ch99.free-marks": record(),
                                            "ch04.s1 ": record()}})
    book = gradebook.collect(tmp_path, KNOWN)
    assert [r.question for r in book.rows] == ["ch04.s1"]
    assert book.unknown == [("ada.json", "ada", "ch04.s1 "), ("ada.json", "ada", "ch99.free-marks")]
    assert "ada.json: learner 'ada' answered 2 questions not in the quiz banks, left out of the scores: " \
           "'ch04.s1 ', 'ch99.free-marks'" in book.warnings()


# -- student build: a solution hidden anywhere --------------------------------------------------------------
SECRET = "return v * 2  # the doubling trick"
SOLUTION_CELL = {"nbgrader": {"solution": True, "grade": False, "locked": False, "grade_id": "ex1",
                              "schema_version": 3}}


def source_notebook(path: Path, *extra_cells, **metadata) -> Path:
    """A notebook whose one exercise hides :data:`SECRET`, plus ``extra_cells`` and notebook ``metadata``."""
    nb = new_notebook(cells=[
        new_markdown_cell("Write `double`."),
        new_code_cell(f"def double(v):\n    ### BEGIN SOLUTION\n    {SECRET}\n    ### END SOLUTION",
                      metadata=SOLUTION_CELL),
        *extra_cells,
    ])
    nb.metadata.update({"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                        **metadata})
    nbformat.write(nb, path)
    return path


def build(source: Path, out: Path) -> student.StudentNotebook:
    return student.build_one(source, out, keys=[])


def shows_secret(built: student.StudentNotebook) -> bool:
    """Whether the secret reached the student's file, as text or base64."""
    if not built.target.exists():
        return False
    text = built.target.read_text(encoding="utf-8")
    return SECRET in text or base64.b64encode(SECRET.encode()).decode() in text


def test_the_plain_exercise_builds_clean_without_the_secret(tmp_path):
    built = build(source_notebook(tmp_path / "nb.ipynb"), tmp_path / "out")
    assert built.problems == [] and built.target.exists() and not shows_secret(built)


def test_a_solution_in_cell_metadata_is_stripped(tmp_path):
    cell = new_code_cell("x = 1", metadata={"solution_backup": SECRET, "tags": ["parameters"]})
    built = build(source_notebook(tmp_path / "nb.ipynb", cell), tmp_path / "out")
    assert built.problems == [] and not shows_secret(built)
    assert nbformat.read(built.target, as_version=4).cells[2].metadata == {"tags": ["parameters"]}


def test_a_solution_in_nbgrader_metadata_beyond_nbgraders_keys_is_stripped(tmp_path):
    cell = new_code_cell("x = 1", metadata={"nbgrader": {**SOLUTION_CELL["nbgrader"], "answer": SECRET}})
    built = build(source_notebook(tmp_path / "nb.ipynb", cell), tmp_path / "out")
    assert not shows_secret(built)


def test_a_solution_in_notebook_metadata_is_stripped(tmp_path):
    built = build(source_notebook(tmp_path / "nb.ipynb", answers={"ex1": SECRET}), tmp_path / "out")
    assert built.problems == [] and not shows_secret(built)
    assert set(nbformat.read(built.target, as_version=4).metadata) == {"kernelspec"}


def test_a_solution_in_a_markdown_attachment_is_reported(tmp_path):
    cell = new_markdown_cell("See the notes ![notes](attachment:notes.txt)")
    cell.attachments = {"notes.txt": {"text/plain": base64.b64encode(SECRET.encode()).decode()}}
    built = build(source_notebook(tmp_path / "nb.ipynb", cell), tmp_path / "out")
    assert built.problems == [f"nb.ipynb, cell 3: solution or instructor text: {SECRET!r}"]
    assert not built.target.exists()


@pytest.mark.parametrize("first_line", ["# instructor", "# Instructor only", "## INSTRUCTOR: the answer",
                                        "#instructor"])
def test_a_cell_whose_first_line_is_an_instructor_comment_is_removed(tmp_path, first_line):
    cell = new_code_cell(f"{first_line}\nexpected = double(3)\nassert expected == 6  # {SECRET}")
    built = build(source_notebook(tmp_path / "nb.ipynb", cell), tmp_path / "out")
    assert built.problems == [] and built.changes.removed_cells == 1 and not shows_secret(built)


def test_an_instructor_comment_inside_a_cell_is_reported(tmp_path):
    cell = new_code_cell(f"x = 1\n# instructor\ny = 2  # {SECRET}")
    built = build(source_notebook(tmp_path / "nb.ipynb", cell), tmp_path / "out")
    assert built.problems == ["nb.ipynb, cell 3: a '# instructor' line (line 2) in a cell learners get: tag the "
                              "cell 'instructor' or put the text in a solution region"]
    assert not built.target.exists()


@pytest.mark.parametrize("tag", ["Instructor", "INSTRUCTOR", "instructor-only", "Instructor_Only", " instructor "])
def test_instructor_cells_are_found_by_tag_in_any_case_and_spelling(tmp_path, tag):
    cell = new_code_cell(f"HIDDEN = '{SECRET}'", metadata={"tags": [tag]})
    built = build(source_notebook(tmp_path / "nb.ipynb", cell), tmp_path / "out")
    assert built.problems == [] and built.changes.removed_cells == 1 and not shows_secret(built)


def leaks_of(student_nb, tmp_path) -> list[str]:
    """The leak check of a student notebook built by hand from the source notebook."""
    source = nbformat.read(source_notebook(tmp_path / "nb.ipynb"), as_version=4)
    return leaks.find_leaks(student_nb, source, [], "nb.ipynb")


def student_copy(*cells, **metadata):
    nb = new_notebook(cells=[new_markdown_cell("Write `double`."), *cells])
    nb.metadata.update(metadata)
    return nb


def test_the_leak_check_reads_cell_metadata_kept_by_the_build(tmp_path):
    nb = student_copy(new_code_cell("x = 1", metadata={"nbgrader": {"grade_id": SECRET}, "tags": ["a"]}))
    assert leaks_of(nb, tmp_path) == [f"nb.ipynb, cell 2: solution or instructor text: {SECRET!r}"]


def test_the_leak_check_reads_notebook_metadata(tmp_path):
    nb = student_copy(kernelspec={"name": "python3", "display_name": SECRET})
    assert leaks_of(nb, tmp_path) == [f"nb.ipynb, notebook metadata: solution or instructor text: {SECRET!r}"]


def test_the_leak_check_reads_every_kind_of_output(tmp_path):
    cell = new_code_cell("x = 1", outputs=[new_output("display_data", data={"application/json": {"a": SECRET}})])
    assert leaks_of(student_copy(cell), tmp_path) == [f"nb.ipynb, cell 2: solution or instructor text: {SECRET!r}"]


@pytest.mark.parametrize("tag", ["Instructor", "instructor-only"])
def test_the_leak_check_finds_an_instructor_cell_by_any_tag(tmp_path, tag):
    nb = student_copy(new_code_cell("x = 1", metadata={"tags": [tag]}))
    assert leaks_of(nb, tmp_path) == ["nb.ipynb, cell 2: an instructor cell is still there"]


def test_is_instructor_cell_reads_tags_and_the_first_line():
    assert markers.is_instructor_cell(new_code_cell("x", metadata={"tags": ["Instructor-Notes"]}))
    assert markers.is_instructor_cell(new_markdown_cell("\n# Instructor notes\nsay this"))
    assert not markers.is_instructor_cell(new_markdown_cell("# Instructors' corner is elsewhere"))
    assert not markers.is_instructor_cell(new_code_cell("x = 1\n# instructor", metadata={"tags": ["parameters"]}))


# -- student build: a notebook that cannot be read ---------------------------------------------------------
BROKEN = {
    "bad-json.ipynb": '{"cells": [',
    "list.ipynb": "[1, 2]",
    "deep.ipynb": "[" * 100_000 + "]" * 100_000,
    "no-source.ipynb": json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "id": "a1", "metadata": {}, "outputs": [], "execution_count": None}]}),
    "tags-not-a-list.ipynb": json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "markdown", "id": "a1", "metadata": {"tags": "instructor"}, "source": "x"}]}),
    "version-9.ipynb": json.dumps({"nbformat": 9, "nbformat_minor": 0, "metadata": {}, "cells": []}),
}


def test_a_notebook_that_cannot_be_read_is_named_and_the_others_are_built(tmp_path, monkeypatch):
    monkeypatch.setattr(student, "check_learner_banks", lambda: None)  # no repository banks here
    sources = [source_notebook(tmp_path / "good.ipynb")]
    for name, text in BROKEN.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        sources.append(tmp_path / name)
    (tmp_path / "latin1.ipynb").write_bytes(b'{"cells": "\xe9"}')
    report = student.build([*sources, tmp_path / "latin1.ipynb"], tmp_path / "out", keys=[])
    assert not report.ok
    by_name = {nb.source.name: nb.problems for nb in report.notebooks}
    assert by_name.pop("good.ipynb") == [] and (tmp_path / "out" / "good.ipynb").exists()
    assert sorted(by_name) == sorted([*BROKEN, "latin1.ipynb"])
    for name, problems in by_name.items():
        [problem] = problems
        assert problem.startswith(f"{name}: cannot be read as a notebook (") and "fix it or leave it out" in problem
        assert "\n" not in problem and not (tmp_path / "out" / name).exists()
    assert "is a required property" in by_name["no-source.ipynb"][0]
