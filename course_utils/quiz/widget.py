"""Questions as widgets: choose, Check, read why; with a hint, a reveal and a score.

Core ipywidgets only, in the subset shared by ipywidgets 7.7 (still in Colab) and 8, so
no ``tooltip``/``description_tooltip`` and no HTML in descriptions. Answers are checked in
the kernel by ``Question.check``; feedback is text that starts with ✓ or ✗, so it does not
rely on colour. Every control is a native input or button and works from the keyboard.

Each view is displayed as one bundle holding both the widget and a ``text/markdown`` form
of the question without its answer: JupyterLab, Colab and VS Code show the widget, while
GitHub, nbviewer and a notebook saved by a headless run show the Markdown.

Where the login name cannot tell learners apart (Colab, shared logins: see ``store.py``), the
quizzes shown before a name is given carry one shared :class:`NamePrompt` (a text box and a
button) above them. Answering still works meanwhile: the feedback says the answer is kept
under the login name, and it moves to the learner's name once given.
"""
from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any, Callable

import ipywidgets as widgets
from IPython.display import display

from course_utils.quiz.bank import Feedback, Question
from course_utils.quiz.render import inline_html, markdown_html, question_markdown
from course_utils.quiz.store import ProgressStore, login_name, on_colab

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

# Long option texts must wrap instead of being cut off with an ellipsis; the radio comes first.
_STYLE = """<style>
.cu-quiz .widget-radio-box label, .cu-quiz .widget-checkbox label, .cu-quiz .widget-checkbox .widget-label-basic {
  white-space: normal; height: auto; line-height: 1.4; overflow: visible; }
.cu-quiz .widget-radio-box label {
  display: flex; flex-direction: row-reverse; justify-content: flex-end; align-items: flex-start;
  gap: 0.5em; margin: 0.25em 0; }
.cu-quiz .widget-radio-box input { float: none; flex: none; margin: 0.2em 0 0 0; }
.cu-quiz .widget-checkbox { height: auto; align-items: flex-start; margin: 0.25em 0; }
.cu-quiz .widget-checkbox input { flex: none; margin-top: 0.3em; }
.cu-quiz .cu-feedback div { margin: 0.2em 0; }
.cu-quiz table { border-collapse: collapse; margin: 0.4em 0; }
.cu-quiz th, .cu-quiz td { padding: 0.2em 0.8em; border: 1px solid var(--jp-border-color2, #ccc); text-align: left; }
</style>"""


def current_notebook(default: str) -> str:
    """The notebook this kernel serves (Jupyter sets ``JPY_SESSION_NAME``), else ``default``."""
    return os.environ.get("JPY_SESSION_NAME") or default


def _lines_html(text: str) -> str:
    """Feedback text as HTML, one block per line, announced politely by screen readers."""
    body = "".join(f"<div>{inline_html(line)}</div>" for line in text.split("\n") if line.strip())
    return f'<div class="cu-feedback" role="status" aria-live="polite">{body}</div>'


class NamePrompt:
    """Asks for the learner's name, once for all the quizzes of one progress file, and saves it there."""

    def __init__(self, store: ProgressStore):
        self.store = store
        self.message = widgets.HTML(markdown_html(_ask_text()))
        self.name = widgets.Text(value="", placeholder="e.g. Ada Lovelace", description="Your name:",
                                 style={"description_width": "initial"})
        self.save_button = widgets.Button(description="Save my name", button_style="primary")
        self.feedback = widgets.HTML("")
        self.save_button.on_click(lambda _: self._save())
        self.box = widgets.VBox([self.message, widgets.HBox([self.name, self.save_button]), self.feedback])
        self.box.add_class("cu-quiz")

    def _save(self) -> None:
        try:
            name = self.store.set_learner(self.name.value)
        except ValueError as err:  # an empty or shared name: say why, keep asking
            self.feedback.value = _lines_html(f"✗ {err}")
            return
        except OSError as err:
            self.feedback.value = _lines_html(f"✗ Your name could not be saved ({err}); "
                                              f"answers stay under the login name.")
            return
        name_saved(self.store.path, name)

    def show_saved(self, name: str) -> None:
        """Stop asking: show the saved name and how to hand the answers in."""
        self.name.value = name
        self.name.disabled = self.save_button.disabled = True
        self.feedback.value = _lines_html(
            f"✓ Saved: your answers are recorded as **{name}**, in this and later notebooks on this machine.\n"
            f"To hand them in, run `quiz.export()`."
        )


def _ask_text() -> str:
    """Why the name is asked for, in Markdown."""
    login = login_name()
    why = (f"On Colab every notebook runs as `{login}`" if on_colab()
           else f"This notebook runs as `{login}`, a login that many learners share")
    return (
        f"**Who is answering?** {why}, so the quizzes need your name to know whose answers these are. "
        f"Type it and press *Save my name*; it is kept for every later quiz on this machine. Until then "
        f"your answers are kept under `{login}` and move to your name when you save it. "
        f"(In code: `quiz.set_learner(\"Ada Lovelace\")`.)"
    )


_PROMPTS: dict[Path, NamePrompt] = {}  # one prompt per progress file, shown above every quiz until answered


def name_prompt(store: ProgressStore) -> NamePrompt | None:
    """The prompt the quizzes of ``store`` share while it needs a name, else None."""
    try:
        needed = store.needs_name
    except OSError:  # the progress file cannot be reached: there is nowhere to save a name either
        return None
    if not needed:
        return None
    if store.path not in _PROMPTS:
        _PROMPTS[store.path] = NamePrompt(store)
    return _PROMPTS[store.path]


def name_saved(path: Path, name: str) -> None:
    """The name for the progress file ``path`` was saved: the prompt shown for it stops asking."""
    prompt = _PROMPTS.pop(path, None)
    if prompt is not None:
        prompt.show_saved(name)


class QuestionView:
    """One question: its controls, a Check button, Hint and Reveal, and feedback in words."""

    check_label = "Check"

    def __init__(self, question: Question, store: ProgressStore | None = None, notebook: str | None = None):
        self.question = question
        self.store = store or ProgressStore()
        self.name_prompt = name_prompt(self.store)
        self.notebook = notebook or current_notebook(question.notebook)
        self.attempted = False
        self.listeners: list[Callable[[Feedback], None]] = []  # told after every check

        q = question
        header = f"**Quiz {q.id}**"
        self.prompt = widgets.HTMLMath(markdown_html(f"{header}\n\n{q.prompt}"))
        self.controls = self._make_controls()
        self.check_button = widgets.Button(description=self.check_label, button_style="primary")
        self.hint_button = widgets.Button(description="Hint")
        self.reveal_button = widgets.Button(description="Reveal answer", disabled=True)
        self.feedback = widgets.HTMLMath("")
        self.extra = widgets.HTMLMath("")  # hint, then the explanation
        self.check_button.on_click(lambda _: self._check())
        self.hint_button.on_click(lambda _: self._hint())
        self.reveal_button.on_click(lambda _: self._reveal())
        buttons = widgets.HBox([self.check_button, self.hint_button, self.reveal_button])
        self.box = widgets.VBox([widgets.HTML(_STYLE), self.prompt, self.controls, buttons, self.feedback, self.extra])
        self.box.add_class("cu-quiz")

    def __repr__(self) -> str:
        return f"<quiz question {self.question.id}>"

    # -- controls ------------------------------------------------------------------------
    def _make_controls(self) -> widgets.Widget:
        q = self.question
        if q.type == "numeric":
            unit = f" ({q.unit})" if q.unit else ""
            return widgets.FloatText(value=0.0, description=f"Your answer{unit}:", style={"description_width": "initial"})
        if q.type == "multiple":
            self.checkboxes = {
                opt.key: widgets.Checkbox(value=False, description=f"({opt.key}) {opt.text}", indent=False,
                                          layout=widgets.Layout(width="auto"))
                for opt in q.options
            }
            return widgets.VBox(list(self.checkboxes.values()))
        return widgets.RadioButtons(options=[(f"({o.key}) {o.text}", o.key) for o in q.options], value=None,
                                    layout=widgets.Layout(width="auto"))

    def _chosen(self) -> Any:
        """The answer the controls show now, or None if nothing is chosen."""
        if self.question.type == "multiple":
            keys = [key for key, box in self.checkboxes.items() if box.value]
            return keys or None
        return self.controls.value

    def _set_chosen(self, answer: Any) -> None:
        q = self.question
        if q.type == "multiple":
            chosen = q.check(answer).answer  # normalises "a, c" and lists alike
            for key, box in self.checkboxes.items():
                box.value = key in chosen
        elif q.type == "numeric":
            self.controls.value = float(answer)
        else:
            self.controls.value = q.check(answer).answer

    # -- actions -------------------------------------------------------------------------
    def answer(self, choice: Any) -> Feedback:
        """Choose ``choice`` in the controls and press Check, as a learner would."""
        self._set_chosen(choice)
        feedback = self._check()
        if feedback is None:
            raise ValueError(f"{self.question.id}: no option chosen in {choice!r}")
        return feedback

    def _check(self) -> Feedback | None:
        chosen = self._chosen()
        if chosen is None:
            self.feedback.value = _lines_html("Choose an option first.")
            return None
        feedback = self.question.check(chosen)
        saved = self._save(feedback)
        self.attempted = True
        self.reveal_button.disabled = False
        self._show_feedback(feedback, saved)
        for listener in self.listeners:
            listener(feedback)
        return feedback

    def _save(self, feedback: Feedback) -> str:
        """Record the attempt; return a note for the learner if the progress file failed."""
        try:
            self.store.record(self.question.id, self.question.chapter, feedback.answer, feedback.correct, self.notebook)
        except OSError as err:
            return f"(Your answer was checked but not saved: {err}.)"
        if self.name_prompt is not None and self.store.needs_name:
            return f"(Kept under the login name `{login_name()}` until you give your name above.)"
        return ""

    def _show_feedback(self, feedback: Feedback, note: str) -> None:
        self.feedback.value = _lines_html(f"{feedback.text}\n{note}")
        if feedback.correct:
            self.extra.value = markdown_html(f"**Why:** {self.question.explanation()}")

    def _hint(self) -> None:
        self.extra.value = markdown_html(f"**Hint:** {self.question.hint}")

    def _reveal(self) -> None:
        if not self.attempted:  # the button is disabled until then; the API may still call this
            return
        q = self.question
        try:
            self.store.mark_revealed(q.id, q.chapter, self.notebook)
        except OSError:
            pass  # revealing must work even where progress cannot be saved
        self.extra.value = markdown_html(f"{q.solution()}\n\n**Why:** {q.explanation()}")

    # -- display -------------------------------------------------------------------------
    def markdown(self) -> str:
        return question_markdown(self.question)

    def display(self) -> None:
        """Show the widget (below the name prompt, if asked), with the Markdown form for front ends without widgets."""
        show_bundle(_below(self.name_prompt, self.box), self.markdown())


class PredictionView(QuestionView):
    """Predict, then run: the learner commits to a prediction; the experiment's result comes later.

    The prediction is checked and recorded when committed, but the verdict stays hidden
    until :meth:`reveal` puts the measured result beside the prediction.
    """

    check_label = "Commit prediction"

    def __init__(self, question: Question, store: ProgressStore | None = None, notebook: str | None = None):
        super().__init__(question, store, notebook)
        self.prediction: Feedback | None = None
        self.verdict: Feedback | None = None  # set by reveal()
        self.result = widgets.HTMLMath("")
        children = list(self.box.children)
        children.insert(children.index(self.feedback), self.result)  # the comparison above the verdict
        self.box.children = tuple(children)

    def __repr__(self) -> str:
        return f"<prediction {self.question.id}: run the experiment, then call .reveal(measured=...)>"

    def _show_feedback(self, feedback: Feedback, note: str) -> None:
        self.prediction = feedback
        self.controls.disabled = True
        self.check_button.disabled = True
        chosen = self.question.option(feedback.answer)
        self.feedback.value = _lines_html(
            f"Prediction recorded: ({chosen.key}) {chosen.text}\n"
            f"Now run the experiment below; its result will appear here beside your prediction.\n{note}"
        )

    def reveal(self, measured: float, text: str = "") -> None:
        """Show the measured result beside the prediction, then the verdict and the explanation.

        ``measured`` is the experiment's number (in the unit of the options' ranges); ``text``
        says what it means, e.g. "93% of summaries name the product". Works even if no
        prediction was made (as when a notebook is run top to bottom), and says so. The
        verdict is kept in ``self.verdict``; nothing is returned, so a notebook cell ending
        with this call prints nothing more.
        """
        q = self.question
        self.controls.disabled = True
        self.check_button.disabled = True
        self.reveal_button.disabled = False
        landed = q.option_for(measured)
        measured_text = f"{measured:g}" + (f": {text}" if text else "")
        if landed is not None:
            measured_text += f" (that is option ({landed.key}))"
        if self.prediction is None:
            predicted_text = "no prediction was committed before the result came in"
            verdict = Feedback(q.id, False, "✗ No prediction was made, so there is nothing to compare.", None)
        else:
            chosen = q.option(self.prediction.answer)
            predicted_text = f"({chosen.key}) {chosen.text}"
            matched = landed.key == chosen.key if landed is not None else self.prediction.correct
            verdict_text = self.prediction.text
            if landed is not None and matched != self.prediction.correct:
                verdict_text += "\n(This run's measurement differs from the usual outcome; see the explanation.)"
            verdict = Feedback(q.id, matched, verdict_text, chosen.key)
        self.verdict = verdict
        self.result.value = _comparison_html(predicted_text, measured_text)
        self.feedback.value = _lines_html(verdict.text)
        self.extra.value = markdown_html(f"**Why:** {q.explanation()}")


def _comparison_html(predicted: str, measured: str) -> str:
    """Prediction and measurement side by side, as a two-column table."""
    return (
        "<table><tr><th>Your prediction</th><th>Measured</th></tr>"
        f"<tr><td>{inline_html(predicted)}</td><td>{inline_html(measured)}</td></tr></table>"
    )


class SectionView:
    """The quiz at the end of a notebook: several questions and a score that follows them."""

    def __init__(self, questions: list[Question], title: str, store: ProgressStore | None = None,
                 notebook: str | None = None):
        self.store = store or ProgressStore()
        self.name_prompt = name_prompt(self.store)
        self.title = title
        # Predict questions are plain single-choice ones here: their experiment has already run.
        self.views = [QuestionView(q, self.store, notebook) for q in questions]
        self.score = widgets.HTML("")
        for view in self.views:
            view.listeners.append(lambda _: self._update_score())
        header = widgets.HTML(f"<h3>{html.escape(title)}</h3>")
        separator = widgets.HTML("<hr>")
        parts: list[widgets.Widget] = [header]
        for view in self.views:
            parts += [view.box, separator]
        self.box = widgets.VBox([*parts, self.score])
        self._update_score()

    def __repr__(self) -> str:
        return f"<quiz section {self.title!r} with {len(self.views)} questions>"

    def _update_score(self) -> None:
        self.score.value = f"<b>{html.escape(self.score_text())}</b>"

    def score_text(self) -> str:
        """The learner's score over this section's questions, from the progress file."""
        try:
            records = self.store.records()
        except OSError:
            records = {}
        mine = [records.get(view.question.id, {}) for view in self.views]
        solved = sum(bool(r.get("correct")) for r in mine)
        first = sum(bool(r.get("first_try_correct")) for r in mine)
        return f"Score: {solved} of {len(self.views)} solved ({first} on the first try)"

    def markdown(self) -> str:
        parts = [f"### {self.title}"] + [view.markdown() for view in self.views]
        return "\n\n---\n\n".join(parts)

    def display(self) -> None:
        show_bundle(_below(self.name_prompt, self.box), self.markdown())


def _below(prompt: NamePrompt | None, box: widgets.Widget) -> widgets.Widget:
    """``box`` with the name prompt above it, if there is one."""
    return box if prompt is None else widgets.VBox([prompt.box, box])


def show_bundle(widget: widgets.Widget, markdown: str) -> None:
    """Display ``widget`` together with a Markdown fallback in one output."""
    bundle = {
        "text/plain": markdown,
        "text/markdown": markdown,
        WIDGET_MIME: {"version_major": 2, "version_minor": 0, "model_id": widget.model_id},
    }
    display(bundle, raw=True)
