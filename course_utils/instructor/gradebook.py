"""The gradebook: the learners' quiz progress files collected into one table.

Learners hand in their progress file (written by ``quiz.export()`` as ``progress-<name>.json``,
or the raw ``~/.course_utils/progress.json``; see ``course_utils/quiz/store.py``); the instructor
puts them in one folder, in any sub-folders and under any names ending in ``.json``. Each
question a learner answered becomes one row:

===================  ===========================================================================
learner              the name the file records the answers under (the name the learner gave,
                     ``$COURSE_UTILS_LEARNER``, or else the login name)
file                 the file the row comes from, relative to the folder
notebook             the notebook the question was answered in (``ch04/01_base_vs_instruct.ipynb``)
question             the question id (``ch04.s1``)
attempts             how many times the learner pressed Check
first_try_correct    whether the first attempt was right
score                ``1 / attempts`` if the question was answered right at some attempt, else 0:
                     1 for right at once, 0.5 for right at the second try, 0 for never right
===================  ===========================================================================

Opening the answer ("Reveal") is possible only after an attempt and is not scored apart: its
cost is the attempts before it. Rows are kept by learner name and file together, so two files
are never merged: a name is only what a learner typed, and two learners may type the same one,
or one learner may hand in twice. When two files carry the same name, both keep their rows and
the gradebook reports a conflict naming the learner and the files, for the instructor to settle.
A file whose learner is a shared login name (``root``, ``jovyan``, ...; see
``store.SHARED_LOGINS``) is included but reported: it cannot tell who this is. A file that
cannot be read as progress is skipped, named in the report, and the rest still make the table.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from course_utils.quiz.store import is_shared_login

COLUMNS = ("learner", "file", "notebook", "question", "attempts", "first_try_correct", "score")


@dataclass(frozen=True)
class Row:
    """One learner's result on one question, from one file."""

    learner: str
    file: str
    notebook: str
    question: str
    attempts: int
    first_try_correct: bool
    score: float


@dataclass
class Gradebook:
    """The rows of every readable file, the files skipped, and the names that do not tell learners apart."""

    rows: list[Row]
    files_read: list[Path]
    skipped: list[tuple[Path, str]]
    same_name: dict[str, list[str]]  # a learner name found in several files -> those files
    shared_name: list[tuple[str, str]]  # (file, learner) where the learner is a shared login name

    def warnings(self) -> list[str]:
        """What the instructor must look at by hand, one line each."""
        lines = [f"learner {name!r} is in {len(files)} files: {', '.join(files)}; their rows are kept apart "
                 f"(column 'file'): check whether this is one learner's two hand-ins or two learners of the "
                 f"same name" for name, files in self.same_name.items()]
        lines += [f"{file}: cannot tell who this is: its answers are under the shared login name {learner!r}; "
                  f"ask the learner to give their name (quiz.set_learner) and hand in again"
                  for file, learner in self.shared_name]
        return lines

    def write_csv(self, path: Path) -> None:
        """Write the rows under :data:`COLUMNS`; with no rows, the header alone."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(COLUMNS)
            for row in self.rows:
                writer.writerow([row.learner, row.file, row.notebook, row.question, row.attempts,
                                 row.first_try_correct, f"{row.score:.3g}"])


def score(attempts: int, correct: bool) -> float:
    """Full marks for a right first answer, shrinking with every further attempt; 0 if never right."""
    return 1.0 / attempts if correct and attempts > 0 else 0.0


def read_progress(path: Path, file: str) -> list[Row]:
    """The rows of one progress file, labelled ``file``; a ValueError says why the file is not one."""
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
            rows.append(_row(learner, file, question, rec))
    return rows


def _row(learner: str, file: str, question: str, rec: object) -> Row:
    """One record as a row, checked, so a hand-edited file fails with the question named."""
    if not isinstance(rec, dict) or not isinstance(rec.get("attempts"), int) or rec["attempts"] < 0:
        raise ValueError(f"learner {learner!r}, question {question!r}: a record needs a whole number 'attempts'")
    attempts, correct = rec["attempts"], bool(rec.get("correct"))
    return Row(learner, file, str(rec.get("notebook", "")), question, attempts,
               bool(rec.get("first_try_correct")), score(attempts, correct))


def collect(folder: Path) -> Gradebook:
    """Read every ``*.json`` under ``folder`` (recursively) into one gradebook; no two files are merged."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of progress files")
    rows: list[Row] = []
    read, skipped = [], []
    for path in sorted(p for p in folder.rglob("*.json") if p.is_file()):
        try:
            rows += read_progress(path, path.relative_to(folder).as_posix())
        except ValueError as err:
            skipped.append((path, str(err)))
            continue
        read.append(path)
    files_of: dict[str, list[str]] = {}
    for learner, file in sorted({(row.learner, row.file) for row in rows}):
        files_of.setdefault(learner, []).append(file)
    same_name = {learner: files for learner, files in files_of.items()
                 if len(files) > 1 and not is_shared_login(learner)}  # a shared name is reported below
    shared_name = sorted((file, learner) for learner, files in files_of.items() if is_shared_login(learner)
                         for file in files)
    rows.sort(key=lambda r: (r.learner, r.file, r.notebook, r.question))
    return Gradebook(rows, read, skipped, same_name, shared_name)
