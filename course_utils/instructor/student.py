"""The student build: the notebooks as learners get them, and the checks that they are safe to hand out.

For each notebook the build removes instructor cells, replaces solution regions by a stub that
raises a clear error (see ``markers.py``), removes mark schemes, clears every output and keeps
only the metadata that Jupyter, nbgrader and Colab use (:data:`CELL_METADATA`,
:data:`NBGRADER_METADATA`, :data:`NOTEBOOK_METADATA`: any other key could carry a solution), then
writes the copy under the output folder at the same relative path (``ch02/01_x.ipynb``).
Before anything is written the learner quiz banks (``data/quizzes``, hashed) must match the
instructor banks, and after it no student notebook may leak a solution or a quiz key
(``leaks.py``); a leaking notebook is not written. A notebook that cannot be read (not JSON,
not a valid notebook for ``nbformat``, nested absurdly deep) is not written either: its problem
names it, and the build goes on with the others. The learner banks ship inside the package, so
the student folder holds notebooks only and never an instructor bank.

``check_until_first_exercise`` then runs a student notebook as a learner would: every cell
before the first exercise must run, and the exercise's stub must raise its error.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from course_utils.instructor import display_name, find_notebooks, kernel, leaks, markers

if TYPE_CHECKING:
    from collections.abc import Mapping

    from nbformat import NotebookNode

DEFAULT_OUT = Path("build/student")
# The metadata a student notebook keeps: Jupyter's own cell keys, nbgrader's (so nbgrader can grade
# it), the kernel, what Colab writes, and the concept ids the notebook teaches. Any other key is
# dropped, as it may hold a solution.
CELL_METADATA = frozenset({"tags", "collapsed", "scrolled", "deletable", "editable", "jupyter", "name", "format",
                           "nbgrader"})
NBGRADER_METADATA = frozenset({"grade", "grade_id", "locked", "points", "schema_version", "solution", "task",
                               "checksum", "cell_type"})
NOTEBOOK_METADATA = frozenset({"kernelspec", "language_info", "colab", "accelerator", "gpuClass",
                               "course_utils"})  # the course map's concept ids a notebook teaches
MAX_NESTING = 100  # levels of JSON; a real notebook has under ten, and Python's own recursion ends near 1,000


class StaleBanksError(RuntimeError):
    """The learner quiz banks do not match the instructor banks: rebuild them first."""


class UnreadableNotebookError(ValueError):
    """A source notebook that is not a valid notebook; the message names it and says what is wrong."""


@dataclass
class Changes:
    """What the build took out of one notebook, and what nbgrader would complain about."""

    stubs: int = 0  # solution regions and whole solution cells replaced by a stub
    removed_cells: int = 0  # instructor cells
    notes: list[str] = field(default_factory=list)


@dataclass
class StudentNotebook:
    """One notebook of the build: where it came from, where it went, and what was found."""

    source: Path
    target: Path
    changes: Changes
    problems: list[str]  # leaks or unpaired markers; non-empty: the notebook was not written


@dataclass
class BuildReport:
    """The whole student build: every notebook, and any instructor bank found in the output folder."""

    out: Path
    notebooks: list[StudentNotebook]
    instructor_banks: list[Path]

    @property
    def ok(self) -> bool:
        return not self.instructor_banks and not any(nb.problems for nb in self.notebooks)


@dataclass
class ExerciseRun:
    """The check of one student notebook: cells run before its first exercise, and the outcome."""

    notebook: Path
    first_exercise: int | None  # 1-based cell number of the first stub, None if no exercise
    cells_run: int
    error: str | None  # None: passed

    @property
    def passed(self) -> bool:
        return self.error is None


# -- one notebook ------------------------------------------------------------------------------
def student_notebook(nb: NotebookNode, name: str) -> tuple[NotebookNode, Changes]:
    """A learner's copy of ``nb`` (which is not modified) and what was taken out of it."""
    changes = Changes()
    student = copy.deepcopy(nb)
    student.cells = []
    for number, cell in enumerate(nb.cells, start=1):
        if markers.is_instructor_cell(cell):
            changes.removed_cells += 1
            continue
        where = f"{name}, cell {number}"
        split = markers.split_cell(cell, where)
        if split.stubs and not markers.is_solution_cell(cell):
            changes.notes.append(f"{where}: a solution region in a cell without nbgrader's "
                                 f"'solution' metadata (nbgrader would refuse it)")
        changes.stubs += split.stubs
        new = copy.deepcopy(cell)
        new.source = split.source
        _clear_outputs(new)
        _keep_only(new.metadata, CELL_METADATA)
        if isinstance(new.metadata.get("nbgrader"), dict):
            _keep_only(new.metadata.nbgrader, NBGRADER_METADATA)
        student.cells.append(new)
    _keep_only(student.metadata, NOTEBOOK_METADATA)  # saved widget state, for one, can hold quiz feedback
    return student, changes


def _clear_outputs(cell: NotebookNode) -> None:
    """Learners start from a clean notebook: no outputs or counts (timings go with the metadata)."""
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None


def _keep_only(metadata: dict, allowed: frozenset[str]) -> None:
    """Drop every key of ``metadata`` but ``allowed``."""
    for key in set(metadata) - allowed:
        del metadata[key]


# -- the whole build --------------------------------------------------------------------------------
def check_learner_banks() -> None:
    """Raise :class:`StaleBanksError` unless ``data/quizzes`` is the build of ``instructor/quizzes``."""
    from course_utils.paths import quiz_dir
    from course_utils.quiz import build as quiz_build

    source = quiz_build.instructor_dir()
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: the instructor quiz banks are not part of an installed package; "
                                f"the student build runs from a clone of the workbook's repository")
    stale = quiz_build.build(source, quiz_dir(), check=True)
    if stale:
        names = ", ".join(str(p) for p in stale)
        raise StaleBanksError(f"the learner quiz banks are out of date with instructor/quizzes ({names}); "
                              f"rebuild them with: python -m course_utils.quiz.build")


def build(notebooks: list[Path], out: Path = DEFAULT_OUT, keys: list[leaks.QuizKey] | None = None) -> BuildReport:
    """Write the student copy of every notebook under ``out``; a notebook with a problem is left out.

    ``keys`` defaults to the instructor banks' quiz keys; the learner banks are checked first.
    """
    check_learner_banks()
    keys = leaks.quiz_keys() if keys is None else keys
    records = [build_one(source, out, keys) for source in notebooks]
    return BuildReport(out, records, leaks.instructor_banks_in(out) if out.exists() else [])


def strays(out: Path, written: list[Path]) -> list[Path]:
    """Notebooks under ``out`` that a build of the whole course did not write: copies of notebooks since
    renamed or removed, which would otherwise be handed out with the rest."""
    kept = {path.resolve() for path in written}
    return sorted(path for path in find_notebooks([out]) if path.resolve() not in kept) if out.exists() else []


def build_one(source: Path, out: Path, keys: list[leaks.QuizKey]) -> StudentNotebook:
    """Write one student notebook at its relative path under ``out``, unless it leaks or cannot be read."""
    import nbformat

    name = display_name(source)
    target = out / name
    target.unlink(missing_ok=True)  # never leave an older copy where this one is refused
    try:
        nb = read_notebook(source, name)
        student, changes = student_notebook(nb, name)
    except (UnreadableNotebookError, markers.MarkupError) as err:
        return StudentNotebook(source, target, Changes(), [str(err)])
    problems = leaks.find_leaks(student, nb, keys, name)
    if not problems:
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.validate(student)
        nbformat.write(student, target)
    return StudentNotebook(source, target, changes, problems)


def read_notebook(path: Path, name: str) -> NotebookNode:
    """``path`` as a valid version-4 notebook; an :class:`UnreadableNotebookError` names it and says why not."""
    import nbformat

    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"its JSON is a {type(data).__name__}, not a notebook's mapping")
        if nesting(data) > MAX_NESTING:
            raise ValueError(f"its JSON nests more than {MAX_NESTING} levels deep")
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
        return nb
    except RecursionError:  # json gives up on deep nesting before the check above can count it
        reason = "its JSON nests too deeply to read"
    except (OSError, ValueError, nbformat.ValidationError) as err:  # a schema error's message is its first line
        reason = (getattr(err, "message", None) or str(err) or type(err).__name__).splitlines()[0][:200]
    raise UnreadableNotebookError(f"{name}: cannot be read as a notebook ({reason}): fix it or leave it out")


def nesting(value: object) -> int:
    """How many levels of lists and mappings a JSON value holds, counted without recursion."""
    deepest, todo = 0, [(value, 0)]
    while todo:
        item, depth = todo.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            todo += [(child, depth + 1) for child in item]
    return deepest


# -- running a student notebook ------------------------------------------------------------------
def first_exercise(nb: NotebookNode) -> int | None:
    """The index of the first cell holding the exercise stub, or None."""
    return next((i for i, cell in enumerate(nb.cells) if markers.is_stub_cell(cell)), None)


def check_until_first_exercise(path: Path, size: str = "cpu", timeout: int = 300,
                               env: Mapping[str, str] | None = None) -> ExerciseRun:
    """Run a student notebook up to its first exercise, then check that the stub raises its error.

    A notebook without an exercise is run to its end. Errors name the cell (1-based). ``env`` adds
    variables to the kernel's environment (a smoke run: ``course_utils.smoke``).
    """
    import nbformat

    nb = nbformat.read(path, as_version=4)
    stub = first_exercise(nb)
    end = len(nb.cells) if stub is None else stub
    code_cells = [i for i in range(end) if nb.cells[i].cell_type == "code"]
    with kernel.fresh_kernel(nb, path.parent, size, timeout, env=env) as run:
        for ran, index in enumerate(code_cells):
            if (error := run(index)) is not None:
                return ExerciseRun(path, _number(stub), ran, str(error))
        if stub is not None:
            error = run(stub) or kernel.error_in_outputs(nb, stub)
            if error is None or error.ename != markers.STUB_ERROR:
                got = "it ran without error" if error is None else f"got {error.message}"
                return ExerciseRun(path, stub + 1, len(code_cells),
                                   f"cell {stub + 1}: the exercise stub should raise {markers.STUB_ERROR}; {got}")
    return ExerciseRun(path, _number(stub), len(code_cells), None)


def _number(index: int | None) -> int | None:
    return None if index is None else index + 1
