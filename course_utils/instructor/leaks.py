"""Proof that a student notebook gives nothing away: no solution text, no quiz key.

Three kinds of leak are looked for, and each is reported with the notebook and the cell:

* **hidden text**: a line that the source notebook hides (inside a solution region or a mark
  scheme, in a solution cell or an instructor cell) and does not also show elsewhere, found
  anywhere a student notebook can carry text: a cell's source, its outputs of every type, its
  metadata, its attachments (decoded from base64), and the notebook's metadata. Leftover markers,
  instructor cells (tagged in any case or spelling, see ``markers.py``) and ``# instructor``
  lines count too;
* **quiz explanations**: the explanation of an instructor bank's question, or any sentence of it
  of ten words or more (learner banks only hold it sealed);
* **quiz answers**: a cell that names a question id (``ch04.s1``) and states its right answer the
  way a bank or a call would: ``correct: b``, ``answer: 127``, ``.answer("b")``, ``.answer(127)``.

Finally no file of the student folder may be an instructor bank (``kind: instructor``).
"""
from __future__ import annotations

import base64
import binascii
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
    from course_utils.quiz.bank import filled_with_examples, read_yaml
    from course_utils.quiz.build import instructor_dir

    keys = []
    for path in sorted((bank_dir or instructor_dir()).glob("ch*.yaml")):
        for q in map(filled_with_examples, read_yaml(path)["questions"]):  # numbers from a notebook: as at cpu
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
    """Everything a learner can read in a cell: its source, its outputs, its metadata and its attachments."""
    parts = [cell.get("source", ""), *json_strings(cell.get("outputs", [])), *json_strings(cell.get("metadata", {}))]
    for bundle in cell.get("attachments", {}).values():
        parts += [_decoded(value) for value in json_strings(bundle)]
    return "\n".join(parts)


def json_strings(value: object) -> list[str]:
    """Every string inside a JSON value, keys included: metadata and output data can hold text at any depth."""
    found, todo = [], [value]
    while todo:  # a loop, not recursion: a hostile notebook may nest deeply
        item = todo.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            todo += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            todo += item
    return found


def find_leaks(student_nb: NotebookNode, source_nb: NotebookNode, keys: list[QuizKey], name: str) -> list[str]:
    """Every leak in ``student_nb`` (built from ``source_nb``), one message each; empty if none."""
    hidden = hidden_lines(source_nb, name)
    leaks = []
    for number, cell in enumerate(student_nb.cells, start=1):
        where, source = f"{name}, cell {number}", cell.get("source", "")
        if markers.is_instructor_cell(cell):
            leaks.append(f"{where}: an instructor cell is still there")
        elif found := markers.INSTRUCTOR_LINE.search(source):
            line = source.count("\n", 0, found.start()) + 1
            leaks.append(f"{where}: a '# instructor' line (line {line}) in a cell learners get: tag the cell "
                         f"'instructor' or put the text in a solution region")
        leaks += text_leaks(cell_text(cell), hidden, keys, where)
    metadata = "\n".join(json_strings(student_nb.get("metadata", {})))
    return leaks + text_leaks(metadata, hidden, keys, f"{name}, notebook metadata")


def text_leaks(text: str, hidden: set[str], keys: list[QuizKey], where: str) -> list[str]:
    """The markers, hidden lines and quiz keys in ``text`` (what one cell, or the notebook's metadata, holds)."""
    leaks = []
    if marker := markers.ANY_MARKER.search(text):
        leaks.append(f"{where}: a '{marker.group(0)}' marker is still there")
    for line in sorted(_lines(text) & hidden):
        leaks.append(f"{where}: solution or instructor text: {line[:80]!r}")
    return leaks + [f"{where}: {problem}" for problem in quiz_key_leaks(text, keys)]


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


def _decoded(value: str) -> str:
    """An attachment's base64 as the text it encodes (an image gives its base64 back: nothing to read)."""
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return value
