"""A question as text: Markdown for places without widgets, HTML for the widget itself.

The Markdown form is what GitHub, nbviewer and a headless run show. It holds the prompt and
the options and never the answer, the feedback or the explanation, so a saved notebook does
not give the quiz away. The HTML converter handles the small Markdown subset the banks use
(paragraphs, lists, quotes, tables, code, bold, italic) and leaves ``$math$`` for MathJax.
"""
from __future__ import annotations

import html
import re

from course_utils.quiz.bank import Question

TYPE_NOTES = {
    "single": "choose one answer",
    "multiple": "tick every right answer",
    "numeric": "give a number",
    "predict": "predict, then run the experiment",
}


def question_markdown(q: Question) -> str:
    """The question without its answer, for a notebook viewed where no kernel runs."""
    lines = [f"**Quiz {q.id}** · {TYPE_NOTES[q.type]}", "", q.prompt, ""]
    for opt in q.options:
        lines.append(f"- **({opt.key})** {opt.text}")
    if q.type == "numeric":
        lines.append(f"Answer: a number{f' in {q.unit}' if q.unit else ''}.")
    lines += ["", f"*Answer it with a running kernel; the experiment is in `{q.notebook}`, "
                  f"section “{q.section}”.*"]
    return "\n".join(lines)


# -- a small Markdown-to-HTML converter -------------------------------------------------------
_MATH = re.compile(r"(\$\$.+?\$\$|\$[^$\n]+?\$)", re.S)
_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*(?!\s)(.+?)(?<!\s)\*(?![*\w])")


def inline_html(text: str) -> str:
    """Escape ``text`` and apply code, bold and italic, leaving math spans untouched."""
    kept: list[str] = []

    def keep(fragment: str) -> str:
        kept.append(fragment)
        return f"\x00{len(kept) - 1}\x00"

    text = _MATH.sub(lambda m: keep(html.escape(m.group(0), quote=False)), text)
    text = _CODE.sub(lambda m: keep(f"<code>{html.escape(m.group(1), quote=False)}</code>"), text)
    text = html.escape(text, quote=False)
    text = _BOLD.sub(r"<b>\1</b>", text)
    text = _ITALIC.sub(r"<i>\1</i>", text)
    return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], text)


def markdown_html(markdown: str) -> str:
    """HTML for the Markdown subset of the banks: blocks are separated by blank lines."""
    out = []
    for block in _blocks(markdown):
        lines = block.split("\n")
        if lines[0].startswith("```"):
            code = "\n".join(lines[1:-1] if lines[-1].startswith("```") else lines[1:])
            out.append(f"<pre><code>{html.escape(code, quote=False)}</code></pre>")
        elif all(re.match(r"[-*] ", line) for line in lines):
            out.append("<ul>" + "".join(f"<li>{inline_html(line[2:])}</li>" for line in lines) + "</ul>")
        elif all(re.match(r"\d+\. ", line) for line in lines):
            items = (re.sub(r"^\d+\. ", "", line) for line in lines)
            out.append("<ol>" + "".join(f"<li>{inline_html(item)}</li>" for item in items) + "</ol>")
        elif all(line.startswith("|") for line in lines):
            out.append(_table_html(lines))
        elif all(line.startswith(">") for line in lines):
            quoted = " ".join(line[1:].strip() for line in lines)
            out.append(f"<blockquote>{inline_html(quoted)}</blockquote>")
        else:
            out.append(f"<p>{inline_html(' '.join(line.strip() for line in lines))}</p>")
    return "\n".join(out)


def _table_html(lines: list[str]) -> str:
    """A pipe table: a header row, a ``|---|`` rule, then body rows."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]
    body = [row for row in rows[1:] if not all(re.fullmatch(r":?-+:?", cell) for cell in row)]
    head = "".join(f"<th>{inline_html(cell)}</th>" for cell in rows[0])
    cells = "".join("<tr>" + "".join(f"<td>{inline_html(c)}</td>" for c in row) + "</tr>" for row in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>"


def _blocks(markdown: str) -> list[str]:
    """Split at blank lines, keeping each fenced code block whole."""
    blocks, current, fenced = [], [], False
    for line in markdown.strip().split("\n"):
        if line.startswith("```"):
            fenced = not fenced
        if not line.strip() and not fenced:
            if current:
                blocks.append("\n".join(current))
            current = []
        else:
            current.append(line.rstrip())
    if current:
        blocks.append("\n".join(current))
    return blocks
