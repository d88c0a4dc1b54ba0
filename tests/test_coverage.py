"""Every concept and scenario of Ch.4 is taught where the quiz bank says: a section, a question, a check.

For each (concept, notebook) pair that a notebook's metadata names (`course_utils.concepts`, never shown
to learners), read without executing anything:

- the quiz bank has questions on the concept that name this notebook, and each of their
  sections is a Markdown heading of the notebook;
- at least one of those questions is shown inside its section (``quiz.show``, ``quiz.predict``
  or a ``quiz.show_section`` that selects the concept or the notebook);
- the notebook has at least one ``assert`` in a code cell, so its claims are checked when it runs.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import nbformat
import pytest

from course_utils import quiz

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

CHAPTER = "ch04"


def taught_concepts() -> dict[str, list[str]]:
    """Each notebook's concepts, from its metadata (``course_utils.concepts``): learners never see these ids."""
    found = {}
    for path in sorted((NOTEBOOKS / CHAPTER).glob("*.ipynb")):
        concepts = nbformat.read(path, as_version=4).metadata.get("course_utils", {}).get("concepts", [])
        found[path.relative_to(NOTEBOOKS).as_posix()] = list(concepts)
    return found


TAUGHT = taught_concepts()
COVERAGE = [(concept, notebook) for notebook, concepts in TAUGHT.items() for concept in concepts]


def test_the_chapter_notebooks_cover_every_concept_and_scenario():
    covered = {concept for concept, _ in COVERAGE}
    assert covered == set(quiz.CONCEPTS) | set(quiz.SCENARIOS), (
        f"not taught: {sorted(set(quiz.CONCEPTS) | set(quiz.SCENARIOS) - covered)}; "
        f"unknown: {sorted(covered - set(quiz.CONCEPTS) - set(quiz.SCENARIOS))}")


HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)


@dataclass
class Section:
    """A Markdown heading and the cells under it, up to the next heading of the same or a higher level."""

    title: str
    level: int
    start: int  # index of the Markdown cell that holds the heading
    end: int  # index of the first cell after the section


@dataclass
class QuizCall:
    """A call of the quiz API in a code cell."""

    cell: int
    function: str  # show, predict or show_section
    question: str | None  # the id for show and predict
    concepts: tuple[str, ...]  # show_section's concepts=[...]
    notebook: str | None  # show_section's notebook=...


@lru_cache(maxsize=None)
def read(notebook: str) -> nbformat.NotebookNode:
    path = NOTEBOOKS / notebook
    if not path.exists():
        pytest.fail(f"{notebook} does not exist under {NOTEBOOKS}")
    return nbformat.read(path, as_version=4)


def sections(nb: nbformat.NotebookNode) -> list[Section]:
    """Every Markdown heading of the notebook with the span of cells it covers."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for hashes, title in HEADING.findall(cell.source):
                found.append(Section(title, len(hashes), i, len(nb.cells)))
    for k, section in enumerate(found):
        later = [s for s in found[k + 1:] if s.level <= section.level and s.start > section.start]
        if later:
            section.end = later[0].start
    return found


def _literal(node: ast.AST):
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def quiz_calls(nb: nbformat.NotebookNode) -> list[QuizCall]:
    """Calls of quiz.show, quiz.predict and quiz.show_section in the code cells."""
    calls = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        # IPython magics (%pip, !ls) are not Python: read each as a `pass` at the same indentation.
        source = re.sub(r"^(\s*)[%!].*$", r"\1pass", cell.source, flags=re.MULTILINE)
        for node in ast.walk(ast.parse(source)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "quiz"
                    and node.func.attr in ("show", "predict", "show_section")):
                continue
            keywords = {k.arg: _literal(k.value) for k in node.keywords}
            first = _literal(node.args[0]) if node.args else None
            calls.append(QuizCall(
                cell=i, function=node.func.attr,
                question=first if node.func.attr != "show_section" else None,
                concepts=tuple(keywords.get("concepts") or (_literal(node.args[1]) if len(node.args) > 1 else ()) or ()),
                notebook=keywords.get("notebook"),
            ))
    return calls


def has_assert(nb: nbformat.NotebookNode) -> bool:
    return any(cell.cell_type == "code" and re.search(r"^\s*assert\b", cell.source, re.MULTILINE) for cell in nb.cells)


def bank_questions(concept: str, notebook: str) -> list[quiz.Question]:
    return [q for q in quiz.questions("ch04") if concept in q.concepts and q.notebook == notebook]


def shows(call: QuizCall, question: quiz.Question, concept: str, notebook: str) -> bool:
    """Whether ``call`` puts ``question`` (a question on ``concept``) in front of the learner."""
    if call.function in ("show", "predict"):
        return call.question == question.id
    return concept in call.concepts or call.notebook == notebook


@pytest.mark.parametrize("concept, notebook", COVERAGE, ids=[f"{c}-{Path(n).stem}" for c, n in COVERAGE])
def test_concept_is_taught_where_the_bank_says(concept: str, notebook: str):
    questions = bank_questions(concept, notebook)
    assert questions, f"the ch04 bank has no question on {concept} that names {notebook}"
    nb = read(notebook)
    by_title = {s.title: s for s in sections(nb)}
    missing = sorted({q.section for q in questions} - set(by_title))
    assert not missing, f"{notebook} lacks the Markdown section(s) {missing} that the bank names for {concept}"

    calls = quiz_calls(nb)
    shown_in_place = [q.id for q in questions for c in calls
                      if shows(c, q, concept, notebook) and by_title[q.section].start < c.cell < by_title[q.section].end]
    assert shown_in_place, (f"{notebook}: no question on {concept} ({', '.join(q.id for q in questions)}) is shown "
                            f"inside its section")
    assert has_assert(nb), f"{notebook} checks none of its claims with assert"


@pytest.mark.parametrize("notebook", list(TAUGHT))
def test_every_bank_question_of_the_notebook_is_shown_in_its_section(notebook: str):
    nb = read(notebook)
    by_title = {s.title: s for s in sections(nb)}
    calls = quiz_calls(nb)
    for q in [q for q in quiz.questions("ch04") if q.notebook == notebook]:
        assert q.section in by_title, f"{notebook} lacks the section {q.section!r} of {q.id}"
        section = by_title[q.section]
        placed = [c for c in calls if c.question == q.id or (c.function == "show_section" and not q.needs_values and (
            set(c.concepts) & set(q.concepts) or c.notebook == notebook))]  # show_section leaves those out
        assert placed, f"{q.id} is never shown in {notebook}"
        assert any(section.start < c.cell < section.end for c in placed), (
            f"{q.id} is shown in {notebook} outside its section {q.section!r}")
        if q.type == "predict":
            assert any(c.function == "predict" and c.question == q.id for c in placed), (
                f"{q.id} is a predict question: use quiz.predict({q.id!r}) and reveal the measurement")


def test_the_section_parser_reads_levels_and_spans():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_markdown_cell("## A\ntext"),
        nbformat.v4.new_code_cell('quiz.show("ch04.s1")'),
        nbformat.v4.new_markdown_cell("### A.1"),
        nbformat.v4.new_code_cell('p = quiz.predict("ch04.s1-run")\nassert True'),
        nbformat.v4.new_markdown_cell("## B"),
        nbformat.v4.new_code_cell('quiz.show_section("ch04", concepts=["C01"])'),
    ])
    found = {s.title: (s.level, s.start, s.end) for s in sections(nb)}
    assert found == {"Title": (1, 0, 7), "A": (2, 1, 5), "A.1": (3, 3, 5), "B": (2, 5, 7)}
    calls = quiz_calls(nb)
    assert [(c.cell, c.function, c.question, c.concepts) for c in calls] == [
        (2, "show", "ch04.s1", ()), (4, "predict", "ch04.s1-run", ()), (6, "show_section", None, ("C01",))]
    assert has_assert(nb)
