"""The gradebook: the learners' quiz progress files collected into one table.

Learners hand in their progress file (``~/.course_utils/progress.json``, written by the quiz
widget, see ``course_utils/quiz/store.py``); the instructor puts them in one folder, in any
sub-folders and under any names ending in ``.json``. Each question a learner answered becomes
one row:

===================  ===========================================================================
learner              the name the file records (``$COURSE_UTILS_LEARNER`` or the login name)
notebook             the notebook the question was answered in (``ch04/01_base_vs_instruct.ipynb``)
question             the question id (``ch04.s1``)
attempts             how many times the learner pressed Check
first_try_correct    whether the first attempt was right
score                ``1 / attempts`` if the question was answered right at some attempt, else 0:
                     1 for right at once, 0.5 for right at the second try, 0 for never right
===================  ===========================================================================

Opening the answer ("Reveal") is possible only after an attempt and is not scored apart: its
cost is the attempts before it. A file that cannot be read as progress is skipped, named in
the returned list, and the rest still make the table; if the same learner's question appears
in several files (two machines, two hand-ins), the record with more attempts is kept.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

COLUMNS = ("learner", "notebook", "question", "attempts", "first_try_correct", "score")


@dataclass(frozen=True)
class Row:
    """One learner's result on one question."""

    learner: str
    notebook: str
    question: str
    attempts: int
    first_try_correct: bool
    score: float


@dataclass
class Gradebook:
    """The rows of every readable file, and the files skipped with the reason why."""

    rows: list[Row]
    files_read: list[Path]
    skipped: list[tuple[Path, str]]

    def write_csv(self, path: Path) -> None:
        """Write the rows under :data:`COLUMNS`; with no rows, the header alone."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(COLUMNS)
            for row in self.rows:
                writer.writerow([row.learner, row.notebook, row.question, row.attempts,
                                 row.first_try_correct, f"{row.score:.3g}"])


def score(attempts: int, correct: bool) -> float:
    """Full marks for a right first answer, shrinking with every further attempt; 0 if never right."""
    return 1.0 / attempts if correct and attempts > 0 else 0.0


def read_progress(path: Path) -> list[Row]:
    """The rows of one progress file; a ValueError says why the file is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot be read as JSON ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("learners"), dict):
        raise ValueError("not a quiz progress file (no 'learners' mapping)")
    rows = []
    for learner, records in data["learners"].items():
        if not isinstance(records, dict):
            raise ValueError(f"learner {learner!r}: expected a mapping of question ids to records")
        for question, rec in records.items():
            rows.append(_row(learner, question, rec))
    return rows


def _row(learner: str, question: str, rec: object) -> Row:
    """One record as a row, checked, so a hand-edited file fails with the question named."""
    if not isinstance(rec, dict) or not isinstance(rec.get("attempts"), int) or rec["attempts"] < 0:
        raise ValueError(f"learner {learner!r}, question {question!r}: a record needs a whole number 'attempts'")
    attempts, correct = rec["attempts"], bool(rec.get("correct"))
    return Row(learner, str(rec.get("notebook", "")), question, attempts,
               bool(rec.get("first_try_correct")), score(attempts, correct))


def collect(folder: Path) -> Gradebook:
    """Read every ``*.json`` under ``folder`` (recursively) into one gradebook."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of progress files")
    best: dict[tuple[str, str], Row] = {}
    read, skipped = [], []
    for path in sorted(p for p in folder.rglob("*.json") if p.is_file()):
        try:
            rows = read_progress(path)
        except ValueError as err:
            skipped.append((path, str(err)))
            continue
        read.append(path)
        for row in rows:
            key = (row.learner, row.question)
            if key not in best or row.attempts > best[key].attempts:
                best[key] = row
    rows = sorted(best.values(), key=lambda r: (r.learner, r.notebook, r.question))
    return Gradebook(rows, read, skipped)
