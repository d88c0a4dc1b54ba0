"""The chapter notebooks keep the workbook's conventions, checked without running them.

Each notebook opens with a title and its learning goals (its Colab badge and install cell are checked
in ``test_colab.py``), has one ``parameters`` cell, at least two exercises marked for nbgrader with a check cell
after each, its predict-then-run questions, a summary, and no stored outputs. Every question of the
chapter's instructor bank is shown in the notebook its ``notebook:`` field names, under a heading equal
to its ``section:`` field. (Running the notebooks is nbval's job: ``pytest --nbval-lax notebooks``.)
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

from course_utils.instructor.exercises import is_written_answer, written_exercises

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BANKS = ROOT / "instructor" / "quizzes"
CHAPTERS = {
    "ch02": ["01_next_token_prediction.ipynb", "02_pretraining.ipynb", "03_decoding.ipynb"],
    "ch04": ["01_base_vs_instruct.ipynb", "02_sft_end_to_end.ipynb", "03_instruction_data.ipynb",
             "04_generalisation.ipynb", "05_cost_and_settings.ipynb", "06_regressions_and_bad_data.ipynb",
             "07_beyond_sft.ipynb", "08_capstone_contract_summaries.ipynb"],
}
CHAPTER_NOTEBOOKS = [f"{chapter}/{name}" for chapter, names in CHAPTERS.items() for name in names]

QUIZ_CALL = re.compile(r"""quiz\.(show|predict)\(\s*["']([\w.-]+)["']""")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
NBGRADER_SOLUTION = {"solution": True, "grade": False, "locked": False, "schema_version": 3}


def read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def bank_questions(chapter: str | None = None) -> list[dict]:
    """The questions of one chapter's instructor bank, or of every chapter's."""
    chapters = [chapter] if chapter else list(CHAPTERS)
    return [q for c in chapters for q in yaml.safe_load((BANKS / f"{c}.yaml").read_text(encoding="utf-8"))["questions"]]


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def heading_text(text: str) -> str:
    """A Markdown heading as plain text: no emphasis or code marks, single spaces."""
    return re.sub(r"\s+", " ", re.sub(r"[*_`]", "", text)).strip()


def quiz_calls(nb) -> list[tuple[str, str, tuple[str, ...], int]]:
    """(kind, question id, open headings, cell index) of every quiz.show / quiz.predict call, in order.

    The open headings are those a reader is "under" at that cell: the latest heading of each level,
    with deeper ones closed whenever a heading of the same or a higher level starts.
    """
    open_headings: dict[int, str] = {}
    calls = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            in_fence = False
            for line in cell.source.splitlines():
                if line.lstrip().startswith("```"):
                    in_fence = not in_fence
                match = None if in_fence else HEADING.match(line)
                if match:
                    level = len(match.group(1))
                    open_headings = {lvl: text for lvl, text in open_headings.items() if lvl < level}
                    open_headings[level] = heading_text(match.group(2))
        elif cell.cell_type == "code":
            for kind, question_id in QUIZ_CALL.findall(cell.source):
                calls.append((kind, question_id, tuple(open_headings.values()), index))
    return calls


def markdown_headings(nb) -> list[str]:
    return [heading_text(m.group(2)) for c in nb.cells if c.cell_type == "markdown"
            for m in map(HEADING.match, c.source.splitlines()) if m]


@pytest.fixture(params=CHAPTER_NOTEBOOKS, ids=lambda name: Path(name).stem)
def notebook(request):
    return request.param, read(request.param)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_notebook_of_the_chapter_is_listed(chapter):
    found = sorted(p.name for p in (NOTEBOOKS / chapter).glob("*.ipynb"))
    assert found == sorted(CHAPTERS[chapter])


def test_title_and_learning_goals_open_the_notebook(notebook):
    _, nb = notebook
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "the first cell is the title"
    assert "learning goals" in first.source.lower(), "the first cell states the learning goals"


def test_a_recap_of_what_came_before_opens_the_notebook(notebook):
    _, nb = notebook
    opening = nb.cells[0].source
    recap = [line for line in opening.splitlines() if line.startswith("> ")]
    assert recap and recap[0].startswith("> **So far.**"), "a '> **So far.** ...' recap under the title"
    assert opening.index("> **So far.**") < opening.index("**Learning goals.**")


def test_exactly_one_parameters_cell_sized_by_the_settings(notebook):
    _, nb = notebook
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "one cell tagged 'parameters'"
    assert tagged[0].cell_type == "code" and "settings.pick(" in tagged[0].source


def test_exercises_have_nbgrader_solutions_and_checks(notebook):
    _, nb = notebook
    solutions = [i for i, c in enumerate(nb.cells)
                 if c.metadata.get("nbgrader", {}).get("solution") and not is_written_answer(c)]
    assert len(solutions) >= 2, "at least two code exercises"
    grade_ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(grade_ids) == len(set(grade_ids)), "nbgrader grade ids are unique"
    for i in solutions:
        cell = nb.cells[i]
        assert cell.cell_type == "code"
        meta = cell.metadata["nbgrader"]
        assert {k: meta.get(k) for k in NBGRADER_SOLUTION} == NBGRADER_SOLUTION and meta.get("grade_id")
        begins, ends = cell.source.count("### BEGIN SOLUTION"), cell.source.count("### END SOLUTION")
        assert begins >= 1 and begins == ends, f"cell {i}: BEGIN/END SOLUTION markers in pairs"
        statement = next(c for c in reversed(nb.cells[:i]) if c.cell_type == "markdown")  # set-up code may come between
        assert "exercise" in statement.source.lower(), f"cell {i}: a Markdown cell states the exercise before its solution"
        after = nb.cells[i + 1]
        assert after.cell_type == "code" and "assert" in after.source, f"cell {i}: a check cell follows"
        assert "### BEGIN SOLUTION" not in after.source


@pytest.mark.parametrize("name", ["00_start_here.ipynb", *CHAPTER_NOTEBOOKS])
def test_every_notebook_asks_a_question_answered_in_words_with_a_model_answer_and_a_mark_scheme(name):
    exercises = written_exercises(read(name), name)
    assert exercises, "at least one written exercise (a Markdown answer cell graded by hand)"
    assert any("(a written answer)" in e.question for e in exercises), "one exercise that is a written answer only"
    for exercise in exercises:
        assert re.search(r"^### Exercise \d+", exercise.question, re.MULTILINE), (
            f"cell {exercise.cell}: the Markdown cell before the answer states an exercise ('### Exercise N: ...')")
        assert len(exercise.answer.split()) >= 20 * exercise.points, (
            f"cell {exercise.cell}: a model answer in full sentences, about 20 words a point")
        points = [int(p) for p in re.findall(r"^- (\d+) points?:", exercise.scheme, re.MULTILINE)]
        assert points and sum(points) == exercise.points, (
            f"cell {exercise.cell}: the mark scheme's points ({points}) add up to the cell's {exercise.points:g}")
        chapter_prefix = f"{name[:4]}-{name[5:7]}-" if "/" in name else f"start-{name[:2]}-"  # ch04-05-, start-00-
        assert exercise.grade_id.startswith(chapter_prefix), f"cell {exercise.cell}: grade id"


def test_a_summary_closes_the_notebook(notebook):
    _, nb = notebook
    assert "Summary" in markdown_headings(nb)
    last_markdown = [c for c in nb.cells if c.cell_type == "markdown"][-1]
    assert last_markdown.source.startswith("## Summary")


def test_stored_without_outputs_and_with_a_python3_kernel(notebook):
    _, nb = notebook
    for cell in code_cells(nb):
        assert cell.outputs == [] and cell.execution_count is None, "clear the outputs before committing"
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_predict_questions_are_predicted_then_revealed(notebook):
    name, nb = notebook
    expected = {q["id"] for q in bank_questions() if q["notebook"] == name and q["type"] == "predict"}
    calls = quiz_calls(nb)
    predicted = {question_id: index for kind, question_id, _, index in calls if kind == "predict"}
    assert set(predicted) == expected, "every predict question of the bank, and only those, via quiz.predict"
    for question_id, index in predicted.items():
        cell = nb.cells[index]
        variable = re.search(rf"""(\w+)\s*=\s*quiz\.predict\(\s*["']{re.escape(question_id)}""", cell.source)
        assert variable, f"{question_id}: keep the prediction, e.g. p = quiz.predict({question_id!r})"
        later = "\n".join(c.source for c in nb.cells[index + 1:] if c.cell_type == "code")
        assert f"{variable.group(1)}.reveal(measured=" in later, f"{question_id}: reveal the measured result later"
        experiment = nb.cells[index + 1:]
        reveal_at = next(i for i, c in enumerate(experiment) if f"{variable.group(1)}.reveal(" in c.source)
        assert any(c.cell_type == "code" for c in experiment[:reveal_at]), \
            f"{question_id}: the experiment runs between the prediction and the reveal"


def test_quiz_ids_in_the_notebooks_exist_in_the_bank(notebook):
    _, nb = notebook
    known = {q["id"] for q in bank_questions()}
    for _, question_id, _, _ in quiz_calls(nb):
        assert question_id in known, f"{question_id} is in no chapter bank under {BANKS}"


@pytest.mark.parametrize("question", bank_questions(), ids=lambda q: q["id"])
def test_each_bank_question_is_shown_under_its_section(question):
    assert question["notebook"] in CHAPTER_NOTEBOOKS, f"{question['id']}: unknown notebook {question['notebook']}"
    nb = read(question["notebook"])
    places = [headings for _, question_id, headings, _ in quiz_calls(nb) if question_id == question["id"]]
    assert places, f"{question['id']} is not shown in {question['notebook']}"
    section = heading_text(question["section"])
    assert any(section in headings for headings in places), \
        f"{question['id']} should sit under the heading {section!r}; it sits under {places}"
    assert section in markdown_headings(nb)


# Logic that the library holds once: a notebook that wrote its own would drift from it.
LIBRARY_LOGIC = {
    r"\.chat_template\s*=": "a chat template (models.prepare_for_chat readies every tokenizer)",
    r"def \w*sft_run\b": "its own SFT runner (finetune.fine_tune)",
    r"def \w*early_stop\w*\(": "its own early-stopping rule (train.early_stop_step)",
    r"\(\?<!\[\\w": "its own fact-matching regex (evaluate.contains_fact)",
}


@pytest.mark.parametrize("name", CHAPTER_NOTEBOOKS)
def test_notebooks_do_not_rewrite_library_logic(name):
    code = "\n".join(cell.source for cell in read(name).cells if cell.cell_type == "code")
    found = [what for pattern, what in LIBRARY_LOGIC.items() if re.search(pattern, code)]
    assert not found, f"{name} defines {', '.join(found)}"


# -- concept ids stay out of what learners read ---------------------------------------------------
CONCEPT_ID = re.compile(r"\b(?:C(?:0[1-9]|1\d|2[01])|S[1-5])\b")
CODE_PREFIX = re.compile(r"""(?:\b|_)[cs](?:0[1-9]|1\d|2[01]|[1-5])(?:[._])""", re.IGNORECASE)


@pytest.mark.parametrize("name", ["00_start_here.ipynb", *CHAPTER_NOTEBOOKS])
def test_learners_read_no_concept_ids(name):
    """The course map's ids (C01-C21, S1-S5) live in the notebook's metadata and the banks' `concepts`
    fields; the prose, the names in the code and the claims a run prints speak in words."""
    found = []
    for number, cell in enumerate(read(name).cells, 1):
        pattern = CONCEPT_ID if cell.cell_type == "markdown" else CODE_PREFIX
        found += [f"cell {number}: {line.strip()}" for line in cell.source.splitlines()
                  if pattern.search(line.replace("ch02.", "").replace("ch04.", ""))]
    assert found == [], "\n".join(found)


def test_quiz_text_names_no_concept_ids():
    found = [f"{q['id']} {field}" for q in bank_questions() for field in ("prompt", "hint", "explanation")
             if CONCEPT_ID.search(q[field])]
    found += [f"{q['id']} option {key}" for q in bank_questions() for key, opt in q.get("options", {}).items()
              if CONCEPT_ID.search(opt["text"] + opt["feedback"])]
    assert found == []
