"""Answer keys: every question of a chapter's instructor bank, with its answer, in Markdown or HTML.

One file per chapter (``ch04-answer-key.md`` or ``.html``). It opens with a table of the answers
at a glance, then gives each question under its notebook and section: the prompt, every option
marked ✓ or ✗ with its feedback (and its range for predict questions), the expected value and
the accepted interval of numeric questions with the feedback for answers too low or too high,
the hint and the explanation. It closes with the chapter notebooks' written exercises: each
question with its model answer and mark scheme (``exercises.py``). The HTML form is the same
Markdown rendered by nbconvert, with MathJax for the ``$math$`` of the banks.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from course_utils.instructor.exercises import WrittenExercise, exercise_markdown, written_exercises
from course_utils.quiz.bank import KNOWN_IDS, read_yaml, tolerance_width, validate_bank, filled_with_examples

DEFAULT_OUT = Path("build/answer-keys")
FORMATS = ("md", "html")
TYPE_NAMES = {"single": "single choice", "multiple": "multiple choice", "numeric": "numeric", "predict": "predict"}

_HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<script>window.MathJax = {{tex: {{inlineMath: [["$", "$"]]}}}};</script>
<script async src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 52em; margin: 2em auto; padding: 0 1em; line-height: 1.5; }}
table {{ border-collapse: collapse; }} th, td {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }}
code {{ background: #f4f4f4; padding: 0 0.2em; }} h4 {{ border-top: 1px solid #ddd; padding-top: 1em; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""


# -- one question ----------------------------------------------------------------------------
def right_keys(q: dict) -> list[str]:
    """The right option keys of a choice question, in option order."""
    correct = q["correct"] if isinstance(q["correct"], list) else [q["correct"]]
    return [key for key in q["options"] if key in correct]


def numeric_answer(q: dict) -> str:
    """``127 predictions (exactly)`` or ``3.2 × 10^14 FLOPs (accepted 3.04 to 3.36: ±5%)``."""
    value, tolerance = float(q["answer"]), q.get("tolerance", 0)
    width = tolerance_width(tolerance, value)
    unit = f" {q['unit']}" if q.get("unit") else ""
    if width == 0:
        return f"{value:g}{unit} (exactly)"
    return f"{value:g}{unit} (accepted {value - width:g} to {value + width:g}: ±{tolerance})"


def short_answer(q: dict) -> str:
    """The answer in a few characters, for the table at a glance."""
    q = filled_with_examples(q)
    if q["type"] == "numeric":
        return numeric_answer(q)
    return ", ".join(f"({key})" for key in right_keys(q))


def question_markdown(q: dict) -> str:
    """One question with everything an instructor needs to discuss it."""
    concepts = ", ".join(f"{c} ({KNOWN_IDS[c]})" for c in q["concepts"])
    lines = [f"#### {q['id']} · {TYPE_NAMES[q['type']]}", "", f"*Tests:* {concepts}", ""]
    if q.get("values"):
        given = "; ".join(f"`{name}` = {spec['example']!r}: {spec['about']}" for name, spec in q["values"].items())
        lines += [f"*Numbers from the notebook, shown here as at size cpu:* {given}.", ""]
    q = filled_with_examples(q)
    lines += [q["prompt"].strip(), ""]
    if q["type"] == "numeric":
        lines.append(f"**Answer:** {numeric_answer(q)}")
        feedback = q.get("feedback", {})
        for side, label in (("below", "too low"), ("above", "too high")):
            if side in feedback:
                lines.append(f"- *If {label}:* {feedback[side].strip()}")
    else:
        right = right_keys(q)
        for key, opt in q["options"].items():
            mark = "✓" if key in right else "✗"
            span = f" *(range {opt['range'][0]:g} to {opt['range'][1]:g})*" if "range" in opt else ""
            lines.append(f"- {mark} **({key})** {opt['text'].strip()}{span} — {opt['feedback'].strip()}")
        lines += ["", f"**Answer:** {short_answer(q)}"]
    lines += ["", f"**Hint:** {q['hint'].strip()}", "", f"**Explanation:** {q['explanation'].strip()}", ""]
    return "\n".join(lines)


# -- one chapter -------------------------------------------------------------------------------
def load_instructor_bank(path: Path) -> dict:
    """An instructor bank, validated, so a broken bank fails here with its file and field named."""
    data = read_yaml(path)
    validate_bank(data, path, "instructor")
    return data


def chapter_markdown(bank: dict, source: str, exercises: Sequence[WrittenExercise] = ()) -> str:
    """A chapter's answer key: the table at a glance, every question by notebook and section, then
    the chapter's written exercises with their model answers and mark schemes."""
    questions = bank["questions"]
    lines = [
        f"# Answer key: {bank['title']}", "",
        f"*Instructor only: do not share with learners.* Built by `course-utils answer-key` from "
        f"`{source}` ({len(questions)} questions).", "",
        "## Answers at a glance", "",
        "| question | notebook | section | answer |", "|---|---|---|---|",
    ]
    lines += [f"| {q['id']} | {q['notebook']} | {_cell(q['section'])} | {_cell(short_answer(q))} |" for q in questions]
    lines.append("")
    for notebook in dict.fromkeys(q["notebook"] for q in questions):  # in the bank's order
        lines += [f"## {notebook}", ""]
        in_notebook = [q for q in questions if q["notebook"] == notebook]
        for section in dict.fromkeys(q["section"] for q in in_notebook):
            lines += [f"### {section}", ""]
            lines += [question_markdown(q) for q in in_notebook if q["section"] == section]
    if exercises:
        lines += ["## Written exercises", "",
                  "Questions the notebooks ask learners to answer in words; the student copies keep only the "
                  "question and an empty answer cell.", ""]
        lines += [exercise_markdown(exercise) for exercise in exercises]
    return "\n".join(lines)


def to_html(markdown: str, title: str) -> str:
    """The Markdown key as a standalone HTML page (nbconvert's renderer keeps the math intact)."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return _HTML_PAGE.format(title=title, body=markdown2html_mistune(markdown))


def chapter_exercises(notebook_dir: Path, chapter: str, first: bool = False) -> list[WrittenExercise]:
    """The written exercises of a chapter's instructor notebooks (``notebooks/ch04/*.ipynb``); the
    first chapter's key also holds those of the notebooks that come before every chapter
    (``00_start_here.ipynb``), so that each exercise is in exactly one key."""
    import nbformat

    paths = sorted(notebook_dir.glob("*.ipynb")) if first else []
    paths += sorted((notebook_dir / chapter).glob("*.ipynb"))
    return [exercise for path in paths
            for exercise in written_exercises(nbformat.read(path, as_version=4),
                                              path.relative_to(notebook_dir).as_posix())]


def write_answer_keys(bank_dir: Path | None = None, out: Path = DEFAULT_OUT, fmt: str = "md",
                      notebook_dir: Path | None = None) -> list[Path]:
    """Write one answer key per instructor bank of ``bank_dir`` (with the written exercises of the
    notebooks in ``notebook_dir``, the repository's ``notebooks/`` by default); return the files written."""
    from course_utils.quiz.build import instructor_dir

    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {list(FORMATS)}, got {fmt!r}")
    bank_dir = bank_dir or instructor_dir()
    notebook_dir = notebook_dir or instructor_dir().parents[1] / "notebooks"
    paths = sorted(bank_dir.glob("ch*.yaml"))
    if not paths:
        raise FileNotFoundError(f"no instructor banks (ch*.yaml) in {bank_dir}")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        bank = load_instructor_bank(path)
        markdown = chapter_markdown(bank, f"{bank_dir.parent.name}/{bank_dir.name}/{path.name}",
                                    chapter_exercises(notebook_dir, bank["chapter"], first=path == paths[0]))
        target = out / f"{bank['chapter']}-answer-key.{fmt}"
        text = markdown if fmt == "md" else to_html(markdown, f"Answer key: {bank['title']}")
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")
