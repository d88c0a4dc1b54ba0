"""How a notebook marks what learners must not see, in nbgrader's conventions.

* A **solution region** sits between a ``### BEGIN SOLUTION`` and a ``### END SOLUTION`` line
  (any number of ``#``), in a cell whose metadata says ``{"nbgrader": {"solution": true}}``.
  In a code cell it becomes :data:`CODE_STUB`, indented like the marker, and the code before and
  after the region stays; in a Markdown cell it becomes :data:`TEXT_STUB`. A solution cell
  without markers is replaced as a whole, as nbgrader does.
* A **mark scheme** sits between ``=== BEGIN MARK SCHEME ===`` and ``=== END MARK SCHEME ===``
  lines (nbgrader's task cells) and is removed without a stub.
* An **instructor cell** is removed as a whole. It carries a tag that starts with ``instructor``
  in any case (``instructor``, ``Instructor``, ``instructor-only``), or its first line is an
  ``# instructor`` comment (a Markdown heading in a text cell). An ``# instructor`` line further
  down a cell marks nothing: the leak check reports it (``leaks.py``), as the author meant to hide
  something and the build cannot tell what.

The stub keeps nbgrader's ``# YOUR CODE HERE`` line, so nbgrader's autograder treats a student
notebook made here like one of its own, and raises an error that tells the learner what to do.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbformat import NotebookNode

CODE_STUB = '# YOUR CODE HERE\nraise NotImplementedError("Exercise: your code here (see the instructions above)")'
TEXT_STUB = "YOUR ANSWER HERE"
STUB_ERROR = "NotImplementedError"
INSTRUCTOR_TAG = "instructor"
INSTRUCTOR_LINE = re.compile(r"^[ \t]*#+[ \t]*instructor\b", re.IGNORECASE | re.MULTILINE)

_BEGIN_SOLUTION = re.compile(r"^\s*#+\s*BEGIN SOLUTION\s*$")
_END_SOLUTION = re.compile(r"^\s*#+\s*END SOLUTION\s*$")
_BEGIN_MARK_SCHEME = "BEGIN MARK SCHEME"  # nbgrader matches these anywhere in the line
_END_MARK_SCHEME = "END MARK SCHEME"
ANY_MARKER = re.compile(r"BEGIN SOLUTION|END SOLUTION|BEGIN MARK SCHEME|END MARK SCHEME")


class MarkupError(ValueError):
    """Markers that do not pair up; the message names the notebook, the cell and the line."""


@dataclass(frozen=True)
class SplitCell:
    """A cell's source as learners get it, and the lines taken out of it."""

    source: str
    hidden: tuple[str, ...]  # the marker lines and everything between them
    stubs: int  # exercises in the cell: solution regions replaced by a stub, or 1 for a whole solution cell


def is_instructor_tag(tag: str) -> bool:
    """``instructor``, ``Instructor``, ``instructor-only``...: a tag an author may use to hide a cell."""
    return tag.strip().casefold().startswith(INSTRUCTOR_TAG)


def is_instructor_cell(cell: NotebookNode) -> bool:
    """Cells for the instructor's copy only: tagged so (any case and spelling), or opening with ``# instructor``."""
    if any(is_instructor_tag(str(tag)) for tag in cell.get("metadata", {}).get("tags", [])):
        return True
    first = next((line for line in cell.get("source", "").split("\n") if line.strip()), "")
    return bool(INSTRUCTOR_LINE.match(first))


def is_solution_cell(cell: NotebookNode) -> bool:
    """nbgrader's mark of an answer cell: ``metadata.nbgrader.solution`` is true."""
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution", False))


def is_check_cell(cell: NotebookNode) -> bool:
    """nbgrader's mark of a cell that checks an exercise: graded, and not itself an answer."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution", False)


def is_stub_cell(cell: NotebookNode) -> bool:
    """A code cell of a student notebook where the learner's code goes."""
    return cell.get("cell_type") == "code" and CODE_STUB.splitlines()[-1] in cell.get("source", "")


def region_text(source: str, kind: str) -> str:
    """The text inside every ``kind`` region of ``source`` ("solution" or "mark scheme"), markers left out."""
    begin, end = (_BEGIN_SOLUTION.match, _END_SOLUTION.match) if kind == "solution" else (
        lambda line: _BEGIN_MARK_SCHEME in line, lambda line: _END_MARK_SCHEME in line)
    inside, lines = False, []
    for line in source.split("\n"):
        if begin(line) or end(line):
            inside = bool(begin(line))
        elif inside:
            lines.append(line)
    return "\n".join(lines).strip()


def split_cell(cell: NotebookNode, where: str) -> SplitCell:
    """Take the solution regions and mark schemes out of one cell (``where`` names it in errors)."""
    stub = CODE_STUB if cell.get("cell_type") == "code" else TEXT_STUB
    kept: list[str] = []
    hidden: list[str] = []
    region: str | None = None  # "solution" or "mark scheme" while inside one
    opened_at = 0
    regions = 0
    for number, line in enumerate(cell.get("source", "").split("\n"), start=1):
        opens = "solution" if _BEGIN_SOLUTION.match(line) else "mark scheme" if _BEGIN_MARK_SCHEME in line else None
        closes = "solution" if _END_SOLUTION.match(line) else "mark scheme" if _END_MARK_SCHEME in line else None
        if opens:
            if region:
                raise MarkupError(f"{where}, line {number}: a {opens} region opens inside the {region} "
                                  f"region opened at line {opened_at}; close that one first")
            region, opened_at = opens, number
            hidden.append(line)
            if opens == "solution":
                regions += 1
                indent = line[: len(line) - len(line.lstrip())]
                kept += [indent + stub_line for stub_line in stub.split("\n")]
        elif closes:
            if region != closes:
                raise MarkupError(f"{where}, line {number}: END of a {closes} region that was never opened")
            region = None
            hidden.append(line)
        elif region:
            hidden.append(line)
        else:
            kept.append(line)
    if region:
        raise MarkupError(f"{where}, line {opened_at}: the {region} region opened here is never closed "
                          f"(add its END line)")
    if regions == 0 and is_solution_cell(cell):  # nbgrader: a solution cell without markers is all solution
        return SplitCell(stub, tuple(cell.get("source", "").split("\n")), 1)
    return SplitCell("\n".join(kept), tuple(hidden), regions)
