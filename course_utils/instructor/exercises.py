"""Written exercises: questions answered in words, with a model answer and a mark scheme.

Beside its code exercises, every notebook asks at least one question that needs reasoning rather
than code, and a code exercise that ends with a question ("why?") has one too. It is a Markdown cell
that states the exercise (a ``### Exercise N`` heading), followed, after any code, by a Markdown
answer cell that nbgrader grades by hand
(``{"solution": true, "grade": true, "points": N}``). The answer cell holds the model answer in a
solution region and the marking guide in a mark-scheme region::

    ### BEGIN SOLUTION
    The model answer, in the words a good learner would use.
    ### END SOLUTION
    === BEGIN MARK SCHEME ===
    - 1 point: names ...
    === END MARK SCHEME ===

The student build leaves ``YOUR ANSWER HERE`` in its place and drops the scheme (``markers.py``);
the answer key prints the question, the model answer and the scheme (``answer_key.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from course_utils.instructor import markers

if TYPE_CHECKING:
    from nbformat import NotebookNode


@dataclass(frozen=True)
class WrittenExercise:
    """One question answered in words, as the instructor's notebook holds it."""

    notebook: str
    cell: int  # 1-based number of the answer cell
    grade_id: str
    points: float
    question: str  # the Markdown cell that states it
    answer: str  # the model answer
    scheme: str  # the mark scheme


def is_written_answer(cell: NotebookNode) -> bool:
    """A Markdown cell that nbgrader grades by hand: where a learner writes a reasoned answer."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "markdown" and bool(meta.get("solution")) and bool(meta.get("grade"))


def written_exercises(nb: NotebookNode, name: str) -> list[WrittenExercise]:
    """Every written exercise of the notebook ``name``, in order."""
    found = []
    for index, cell in enumerate(nb.cells):
        if not is_written_answer(cell):
            continue
        question = next((c.source for c in reversed(nb.cells[:index]) if c.cell_type == "markdown"), "")
        meta = cell.metadata["nbgrader"]
        found.append(WrittenExercise(
            notebook=name, cell=index + 1, grade_id=meta.get("grade_id", ""), points=float(meta.get("points", 0)),
            question=question.strip(), answer=markers.region_text(cell.source, "solution"),
            scheme=markers.region_text(cell.source, "mark scheme"),
        ))
    return found


def exercise_markdown(exercise: WrittenExercise) -> str:
    """One written exercise for the answer key: the question, the model answer, the mark scheme."""
    lines = exercise.question.splitlines()
    at = next((i for i, line in enumerate(lines) if line.startswith("### Exercise")), 0)
    title, rest = lines[at], lines[at + 1:]  # from the exercise's heading on: what the learner was asked
    question = "\n".join([f"**{title.lstrip('#').strip()}**", *rest])  # as bold text, under the key's own heading
    return "\n".join([
        f"#### {exercise.notebook}, cell {exercise.cell} · {exercise.points:g} point{'s' * (exercise.points != 1)} · "
        f"`{exercise.grade_id}`", "",
        question, "", "**Model answer.**", "", exercise.answer, "", "**Mark scheme.**", "", exercise.scheme, "",
    ])
