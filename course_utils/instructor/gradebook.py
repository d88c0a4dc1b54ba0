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
first_try_correct    whether the first attempt was right (empty before any attempt)
score                ``1 / attempts`` if the question was answered right at some attempt, else 0:
                     1 for right at once, 0.5 for right at the second try, 0 for never right
===================  ===========================================================================

Opening the answer ("Reveal") is possible only after an attempt and is not scored apart: its
cost is the attempts before it. Rows are kept by learner name and file together, so two files
are never merged: a name is only what a learner typed, and two learners may type the same one,
or one learner may hand in twice. When two files carry the same name (compared ignoring case,
spaces and Unicode look-alike forms, so ``Ada`` and ``ada `` are one name), both keep their rows
and the gradebook reports a conflict naming the learner and the files, for the instructor to
settle. A file whose learner is a shared login name (``root``, ``jovyan``, ...; see
``store.SHARED_LOGINS``) is included but reported: it cannot tell who this is.

A hand-in is a file a learner can edit, so every file is checked before it counts, and one file
never stops the rest. A file is skipped, named in the report with the reason, and the others
still make the table, when it is larger than :data:`MAX_FILE_BYTES`, not UTF-8 JSON (nesting too
deep for Python counts), has a key twice in one mapping (JSON would keep the last one silently),
or holds one bad record. A record is bad unless ``attempts`` is a whole number from 0 to
:data:`MAX_ATTEMPTS`, ``correct`` and ``first_try_correct`` are true JSON booleans (the string
``"false"`` is not; ``first_try_correct`` is null before the first attempt), ``notebook``, the
learner name and the question id are short texts without control characters, and the fields
agree with each other. One bad record skips its whole file: the quiz never writes one, so the
file was edited by hand and its other records cannot be trusted either; the reason names the
learner, the question and the field. Answers to questions that are not in the quiz banks are
left out of the table and reported: they may come from another release of the course, or be
invented for free marks. Text cells that a spreadsheet would run as a formula are escaped
(:func:`spreadsheet_safe`).
"""
from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.quiz.store import is_shared_login

COLUMNS = ("learner", "file", "notebook", "question", "attempts", "first_try_correct", "score")
MAX_FILE_BYTES = 5_000_000  # a whole class's raw progress.json is a few hundred kB
MAX_ATTEMPTS = 10_000  # far above any learner's clicks, far below where 1 / attempts stops being a float
MAX_NAME = 100  # characters of a learner name or a question id
MAX_NOTEBOOK = 500  # characters of a notebook's name (Jupyter may record its whole path)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula
SHOWN_UNKNOWN = 10  # unknown question ids listed per file and learner in the report
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class ProgressError(ValueError):
    """A file that cannot count as quiz progress; the message says why, and :func:`collect` skips the file."""


@dataclass(frozen=True)
class Row:
    """One learner's result on one question, from one file."""

    learner: str
    file: str
    notebook: str
    question: str
    attempts: int
    first_try_correct: bool | None
    score: float


@dataclass
class Gradebook:
    """The rows of every readable file, the files skipped, and what the instructor must check by hand."""

    rows: list[Row]
    files_read: list[Path]
    skipped: list[tuple[Path, str]]
    same_name: dict[str, list[str]]  # a learner name found in several files -> those files
    shared_name: list[tuple[str, str]]  # (file, learner) where the learner is a shared login name
    unknown: list[tuple[str, str, str]] = field(default_factory=list)  # (file, learner, question) not in the banks

    def warnings(self) -> list[str]:
        """What the instructor must look at by hand, one line each."""
        lines = [f"learner {name!r} is in {len(files)} files: {', '.join(files)}; their rows are kept apart "
                 f"(column 'file'): check whether this is one learner's two hand-ins or two learners of the "
                 f"same name" for name, files in self.same_name.items()]
        lines += [f"{file}: cannot tell who this is: its answers are under the shared login name {learner!r}; "
                  f"ask the learner to give their name (quiz.set_learner) and hand in again"
                  for file, learner in self.shared_name]
        unknown: dict[tuple[str, str], list[str]] = {}
        for file, learner, question in self.unknown:
            unknown.setdefault((file, learner), []).append(question)
        for (file, learner), questions in unknown.items():
            listed = ", ".join(repr(q) for q in questions[:SHOWN_UNKNOWN])
            more = f" and {len(questions) - SHOWN_UNKNOWN} more" if len(questions) > SHOWN_UNKNOWN else ""
            lines.append(f"{file}: learner {learner!r} answered {len(questions)} question{'s' * (len(questions) > 1)} "
                         f"not in the quiz banks, left out of the scores: {listed}{more}")
        return lines

    def write_csv(self, path: Path) -> None:
        """Write the rows under :data:`COLUMNS`, text cells escaped; with no rows, the header alone."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(COLUMNS)
            for row in self.rows:
                writer.writerow([*map(spreadsheet_safe, (row.learner, row.file, row.notebook, row.question)),
                                 row.attempts, row.first_try_correct, f"{row.score:.3g}"])


def spreadsheet_safe(text: str) -> str:
    """``text`` with a ``'`` in front if a spreadsheet would run it as a formula.

    Excel, LibreOffice and Google Sheets read a cell that starts with ``=``, ``+``, ``-`` or ``@``
    (or a tab or carriage return before one) as a formula, and a formula can start a program
    (``=cmd|' /C calc'!A0``) or send the sheet to a web address. Learners choose their name and
    their file's name, so every text cell is escaped the way OWASP advises: the leading quote
    makes the spreadsheet show the cell as text.
    """
    return "'" + text if text.startswith(FORMULA_START) else text


def score(attempts: int, correct: bool) -> float:
    """Full marks for a right first answer, shrinking with every further attempt; 0 if never right."""
    return 1.0 / attempts if correct and attempts > 0 else 0.0


def bank_question_ids() -> frozenset[str]:
    """The id of every question of the quiz banks the package ships (built from ``instructor/quizzes``)."""
    from course_utils.paths import quiz_dir
    from course_utils.quiz.bank import load_banks

    return frozenset(q.id for bank in load_banks(quiz_dir()).values() for q in bank.questions)


# -- one file -------------------------------------------------------------------------------------------
def read_progress(path: Path, file: str) -> list[Row]:
    """The rows of one progress file, labelled ``file``; a :class:`ProgressError` says why it cannot count."""
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("learners"), dict):
        raise ProgressError("not a quiz progress file (no 'learners' mapping)")
    rows = []
    for learner, records in data["learners"].items():
        if not _is_text(learner, MAX_NAME):
            raise ProgressError(f"learner {_shown(learner)}: the learner name must be {_text_rule(MAX_NAME)}")
        if not isinstance(records, dict):
            raise ProgressError(f"learner {_shown(learner)}: expected a mapping of question ids to records")
        for question, rec in records.items():
            where = f"learner {_shown(learner)}, question {_shown(question)}"
            if not _is_text(question, MAX_NAME):
                raise ProgressError(f"{where}: the question id must be {_text_rule(MAX_NAME)}")
            rows.append(_row(learner, file, question, rec, where))
    return rows


def _read_json(path: Path) -> object:
    """The JSON in ``path``, every mapping's keys unique; a :class:`ProgressError` if it cannot be read."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ProgressError(f"larger than any quiz progress file ({size:,} bytes; at most {MAX_FILE_BYTES:,} "
                                f"are read)")
        return json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_unique_keys)
    except ProgressError:
        raise
    except RecursionError:
        raise ProgressError("cannot be read as JSON (nested too deeply: not a progress file)") from None
    except (OSError, ValueError) as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ProgressError(f"cannot be read as JSON ({str(err)[:200]})") from None


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON mapping, refused if a key comes twice: ``json`` would silently keep the last, a hidden overwrite."""
    seen = set()
    for key, _ in pairs:
        if key in seen:
            raise ProgressError(f"the key {_shown(key)} appears twice in one mapping: this file was edited by hand; "
                                f"ask for a fresh export")
        seen.add(key)
    return dict(pairs)


def _is_text(value: object, limit: int) -> bool:
    """A name fit for a report and a CSV cell: a string, not blank, at most ``limit`` long, no control character."""
    return isinstance(value, str) and 0 < len(value.strip()) and len(value) <= limit and not _CONTROL.search(value)


def _text_rule(limit: int) -> str:
    return f"1 to {limit} characters of text (not blank, no line break, tab or other control character)"


# A record's fields: what each must hold, the rule a report gives, and how it names the field when missing.
_FIELDS = {
    "attempts": (lambda v: type(v) is int and 0 <= v <= MAX_ATTEMPTS, f"a whole number from 0 to {MAX_ATTEMPTS}",
                 "a whole number 'attempts'"),
    "correct": (lambda v: isinstance(v, bool), "true or false", "'correct', true or false"),
    "first_try_correct": (lambda v: v is None or isinstance(v, bool), "true or false (null before the first "
                          "attempt)", "'first_try_correct', true or false"),
    "notebook": (lambda v: _is_text(v, MAX_NOTEBOOK), _text_rule(MAX_NOTEBOOK), "'notebook', the notebook's name"),
}


def _row(learner: str, file: str, question: str, rec: object, where: str) -> Row:
    """One record as a row, every field checked, so a hand-edited record fails with its field named."""
    if not isinstance(rec, dict):
        raise ProgressError(f"{where}: the record must be a mapping of fields, not {type(rec).__name__}")
    for name, (ok, rule, needs) in _FIELDS.items():
        if name not in rec:
            raise ProgressError(f"{where}: a record needs {needs}")
        if not ok(rec[name]):
            raise ProgressError(f"{where}: '{name}' must be {rule}, not {_shown(rec[name])}")
    attempts, correct, first = rec["attempts"], rec["correct"], rec["first_try_correct"]
    for broken, problem in ((first is None and attempts > 0, f"'first_try_correct' is null after {attempts} attempts"),
                            (first is True and not correct, "'first_try_correct' is true but 'correct' is false"),
                            (correct and attempts == 0, "'correct' is true with no attempt")):
        if broken:
            raise ProgressError(f"{where}: {problem}")
    return Row(learner, file, rec["notebook"], question, attempts, first, score(attempts, correct))


def _shown(value: object, limit: int = 60) -> str:
    """``value`` as a report shows it: cut short, a mapping or list by its type (a hostile one may be huge)."""
    if isinstance(value, (dict, list)):
        return f"a {type(value).__name__}"
    text = repr(value[:limit] + "..." if isinstance(value, str) and len(value) > limit else value)
    return text if len(text) <= limit + 5 else text[:limit] + "..."


# -- the folder ---------------------------------------------------------------------------------------
def collect(folder: Path, known_ids: Collection[str] | None = None) -> Gradebook:
    """Read every ``*.json`` under ``folder`` (recursively) into one gradebook; no two files are merged.

    Answers to questions outside ``known_ids`` (default: :func:`bank_question_ids`) are left out
    and reported; a file that cannot count is skipped and reported (see the module docstring).
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of progress files")
    known = bank_question_ids() if known_ids is None else frozenset(known_ids)
    rows: list[Row] = []
    read, skipped, unknown = [], [], []
    for path in sorted(p for p in folder.rglob("*.json") if p.is_file()):
        try:
            found = read_progress(path, path.relative_to(folder).as_posix())
        except ProgressError as err:
            skipped.append((path, str(err)))
            continue
        read.append(path)
        rows += [row for row in found if row.question in known]
        unknown += sorted((row.file, row.learner, row.question) for row in found if row.question not in known)
    same_name, shared_name = _name_conflicts(rows)
    rows.sort(key=lambda r: (r.learner, r.file, r.notebook, r.question))
    return Gradebook(rows, read, skipped, same_name, shared_name, unknown)


def _name_conflicts(rows: list[Row]) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """Names found in several files (ignoring case, spaces and look-alike forms), and files under a shared login."""
    files_of: dict[str, set[str]] = {}
    for row in rows:
        files_of.setdefault(_same_person(row.learner), set()).add(row.file)
    same_name = {name: sorted(files) for name, files in sorted(files_of.items())
                 if len(files) > 1 and not is_shared_login(name)}  # a shared name is reported below
    shared_name = sorted({(row.file, row.learner) for row in rows if is_shared_login(row.learner)})
    return same_name, shared_name


def _same_person(name: str) -> str:
    """The form two spellings of one name share: NFKC-normalised, case-folded, runs of spaces as one."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())
