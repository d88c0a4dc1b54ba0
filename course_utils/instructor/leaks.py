"""Proof that a student notebook gives nothing away: no solution text, no quiz key.

Three kinds of leak are looked for, and each is reported with the notebook and the cell:

* **hidden text**: a line that the source notebook hides (inside a solution region or a mark
  scheme, in a solution cell or an instructor cell) and does not also show elsewhere, found in
  the student notebook's sources or outputs; leftover markers and instructor cells count too;
* **quiz explanations**: the explanation of an instructor bank's question, or any sentence of it
  of ten words or more (learner banks only hold it sealed);
* **quiz answers**: a cell that names a question id (``ch04.s1``) and states its right answer the
  way a bank or a call would: ``correct: b``, ``answer: 127``, ``.answer("b")``, ``.answer(127)``.

Finally no file of the student folder may be an instructor bank (``kind: instructor``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from course_utils.instructor import markers

if TYPE_CHECKING:
    from nbformat import NotebookNode

MIN_SENTENCE_WORDS = 10  # shorter sentences of an explanation are too generic to call a leak
_STATEMENT = re.compile(r"(?:\bcorrect|\banswer)\s*(?::|=|\()\s*(?P<value>[^\n)]*)\)?")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE]-?\d+)?")


@dataclass(frozen=True)
class QuizKey:
    """What an instructor bank knows about one question and a learner must not read."""

    question_id: str
    right_keys: frozenset[str]  # choice questions: the right option keys
    value: float | None  # numeric questions: the expected value
    explanation: str  # whitespace collapsed, lower case

    def sentences(self) -> list[str]:
        """The explanation's sentences long enough to be recognisable on their own."""
        parts = re.split(r"(?<=[.!?])\s+", self.explanation)
        return [part for part in parts if len(part.split()) >= MIN_SENTENCE_WORDS]

    def stated_in(self, text: str) -> str | None:
        """The statement of this question's answer in ``text`` (which names the question), if any."""
        for match in _STATEMENT.finditer(text):
            value = match.group("value")
            if self.value is not None:
                if any(abs(float(n) - self.value) <= 1e-9 * max(1.0, abs(self.value)) for n in _NUMBER.findall(value)):
                    return match.group(0).strip()
            elif self.right_keys and set(re.findall(r"\b[a-z]\b", value)) == self.right_keys:
                return match.group(0).strip()
        return None


def normalise(text: str) -> str:
    """Text compared for leaks: lower case, runs of whitespace as one space."""
    return " ".join(text.split()).lower()


def quiz_keys(bank_dir: Path | None = None) -> list[QuizKey]:
    """The key of every question of the instructor banks (``instructor/quizzes/ch*.yaml``)."""
    from course_utils.quiz.bank import read_yaml
    from course_utils.quiz.build import instructor_dir

    keys = []
    for path in sorted((bank_dir or instructor_dir()).glob("ch*.yaml")):
        for q in read_yaml(path)["questions"]:
            correct = q.get("correct", [])
            right = frozenset(correct if isinstance(correct, list) else [correct])
            value = float(q["answer"]) if q.get("type") == "numeric" else None
            keys.append(QuizKey(q["id"], right, value, normalise(q.get("explanation", ""))))
    return keys


def hidden_lines(source_nb: NotebookNode, name: str) -> set[str]:
    """Lines (stripped) the source notebook hides from learners and shows nowhere else."""
    hidden: set[str] = set()
    shown: set[str] = set()
    for number, cell in enumerate(source_nb.cells, start=1):
        if markers.is_instructor_cell(cell):
            hidden |= _lines(cell.source)
            continue
        split = markers.split_cell(cell, f"{name}, cell {number}")
        hidden |= {line.strip() for line in split.hidden if line.strip()}
        shown |= _lines(split.source)
    return hidden - shown


def cell_text(cell: NotebookNode) -> str:
    """A cell's source and the text of its outputs: everything a learner can read in it."""
    parts = [cell.get("source", "")]
    for output in cell.get("outputs", []):
        parts.append(_text(output.get("text", "")))
        parts += [_text(value) for mime, value in output.get("data", {}).items() if mime.startswith("text/")]
        parts += [output.get("evalue", ""), *output.get("traceback", [])]
    return "\n".join(parts)


def find_leaks(student_nb: NotebookNode, source_nb: NotebookNode, keys: list[QuizKey], name: str) -> list[str]:
    """Every leak in ``student_nb`` (built from ``source_nb``), one message each; empty if none."""
    hidden = hidden_lines(source_nb, name)
    leaks = []
    for number, cell in enumerate(student_nb.cells, start=1):
        where = f"{name}, cell {number}"
        text = cell_text(cell)
        if markers.is_instructor_cell(cell):
            leaks.append(f"{where}: an instructor cell is still there")
        if marker := markers.ANY_MARKER.search(text):
            leaks.append(f"{where}: a '{marker.group(0)}' marker is still there")
        for line in sorted(_lines(text) & hidden):
            leaks.append(f"{where}: solution or instructor text: {line[:80]!r}")
        leaks += [f"{where}: {problem}" for problem in quiz_key_leaks(text, keys)]
    return leaks


def quiz_key_leaks(text: str, keys: list[QuizKey]) -> list[str]:
    """The quiz explanations and answers that ``text`` (one cell) gives away."""
    flat = normalise(text)
    problems = []
    for key in keys:
        if key.explanation and (key.explanation in flat or any(s in flat for s in key.sentences())):
            problems.append(f"the explanation of quiz question {key.question_id}")
        if key.question_id.lower() in flat and (statement := key.stated_in(text)):
            problems.append(f"the answer of quiz question {key.question_id} ({statement!r})")
    return problems


def instructor_banks_in(folder: Path) -> list[Path]:
    """Files under ``folder`` that are instructor banks, which must never reach learners."""
    found = []
    for path in sorted(folder.rglob("*")):
        if path.suffix in (".yaml", ".yml") and path.is_file():
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (yaml.YAMLError, UnicodeDecodeError):
                continue  # not a bank at all
            if isinstance(data, dict) and data.get("kind") == "instructor":
                found.append(path)
    return found


def _lines(text: str) -> set[str]:
    return {line.strip() for line in text.split("\n") if line.strip()}


def _text(value) -> str:
    """Output text is a string or, in some saved notebooks, a list of lines."""
    return "".join(value) if isinstance(value, list) else str(value)
