"""Quizzes of the workbook: questions checked in Python, with feedback, hints and progress.

In a notebook::

    from course_utils import quiz
    quiz.show("ch04.s1")                          # one question as a widget
    quiz.show("ch04.s3-run", n_test=N_TEST)       # one whose text takes numbers from the run
    p = quiz.predict("ch04.s3")                   # commit a prediction ...
    # ... the experiment's cells run here ...
    p.reveal(measured=0.93, text="93% of summaries name the product")
    quiz.show_section("ch04", concepts=["C03"])   # a quiz with a score
    quiz.progress()                               # a table of progress by chapter

    quiz.export()                                 # progress-<your-name>.json, to hand in

From Python (tests, scripts)::

    quiz.set_learner("Ada Lovelace")              # whose answers these are (kept in the progress file)
    fb = quiz.question("ch04.s1").answer("b")
    fb.correct, fb.text

The learner's banks (``data/quizzes``) hold hashed and sealed answers: this deters peeking
and is not security (see ``keys.py``). Progress goes to ``~/.course_utils/progress.json``
or wherever ``COURSE_UTILS_PROGRESS`` points (see ``store.py``). On Colab and on shared
logins (``root``, ``jovyan``, ...) the first quiz asks for the learner's name and the
progress file keeps it; ``COURSE_UTILS_LEARNER`` still wins.
"""
from __future__ import annotations

import difflib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from course_utils.paths import quiz_dir
from course_utils.quiz.bank import (
    CONCEPTS, KNOWN_IDS, SCENARIOS, TOPICS, Bank, BankError, Feedback, Question, load_banks, select,
)
from course_utils.quiz.store import ProgressStore, ProgressWarning, login_name, on_colab
from course_utils.quiz.widget import PredictionView, QuestionView, SectionView, name_saved

__all__ = [
    "CONCEPTS", "SCENARIOS", "TOPICS", "Bank", "BankError", "Feedback", "ProgressStore", "ProgressWarning",
    "PredictionView", "Question", "QuestionView", "SectionView",
    "banks", "export", "filled", "predict", "progress", "question", "questions", "set_learner", "show", "show_section",
]


@lru_cache(maxsize=None)
def _banks(folder: Path) -> dict[str, Bank]:
    return load_banks(folder)


def banks() -> dict[str, Bank]:
    """The shipped learner banks by chapter (read once per session)."""
    return _banks(quiz_dir())


def questions(chapter: str | None = None, concepts: Iterable[str] | None = None) -> list[Question]:
    """All questions, or those of ``chapter`` that test any of ``concepts``."""
    chosen = [banks()[chapter]] if chapter else list(banks().values())
    return select([q for bank in chosen for q in bank.questions], concepts)


def question(question_id: str) -> Question:
    """The question ``question_id`` (e.g. ``"ch04.s1"``); answer it with ``.answer(choice)``."""
    all_ids = {q.id: q for q in questions()}
    if question_id not in all_ids:
        near = difflib.get_close_matches(question_id, all_ids, n=3)
        raise KeyError(f"no quiz question {question_id!r}" + (f"; did you mean {', '.join(near)}?" if near else ""))
    return all_ids[question_id]


def show(question_id: str, store: ProgressStore | None = None, **values) -> None:
    """Display one question as a widget (a predict question too; use :func:`predict` to reveal).

    ``values`` fill the question's ``{{...}}`` fields: the numbers of this run that its text names.
    """
    q = filled(question_id, values)
    view = PredictionView(q, store) if q.type == "predict" else QuestionView(q, store)
    view.display()


def predict(question_id: str, store: ProgressStore | None = None, **values) -> PredictionView:
    """Display a predict-then-run question; call ``.reveal(measured=..., text=...)`` after the experiment."""
    q = filled(question_id, values)
    if q.type != "predict":
        raise ValueError(f"{question_id} is a {q.type} question; use quiz.show({question_id!r})")
    view = PredictionView(q, store)
    view.display()
    return view


def filled(question_id: str, values: dict) -> Question:
    """The question with this run's ``values`` in its text (it must be given all it declares)."""
    q = question(question_id)
    return q.with_values(**values) if q.values or values else q


def show_section(chapter: str, concepts: Iterable[str] | None = None, notebook: str | None = None,
                 title: str | None = None, store: ProgressStore | None = None) -> None:
    """Display a chapter's questions on ``concepts`` (and/or in ``notebook``) as one quiz with a score.

    Questions whose numbers come from a notebook's run (``values``) are left out, and a line names
    them: only that notebook has their numbers, so ``quiz.show`` asks them there. A review of a whole
    chapter thus shows every other question.
    """
    bank = banks()[chapter]
    chosen = select(bank.questions, concepts, notebook=notebook)
    if not chosen:
        raise ValueError(f"no {chapter} questions for concepts={concepts!r}, notebook={notebook!r}")
    ready = [q for q in chosen if not q.needs_values]
    waiting = [q.id for q in chosen if q.needs_values]
    if not ready:
        raise ValueError(f"{', '.join(waiting)} take numbers from the notebook; show them one by one with quiz.show")
    if waiting:
        print(f"left out of this quiz, as they take numbers from a notebook's run (quiz.show asks them there): "
              f"{', '.join(waiting)}")
    SectionView(ready, title or f"Quiz: {bank.title}", store).display()


def progress(by: str = "chapter", learner: str | None = None, path: str | Path | None = None):
    """A pandas DataFrame of the learner's progress, by ``"chapter"`` or by ``"question"``."""
    import pandas as pd  # imported here: only this summary needs pandas

    records = ProgressStore(path, learner).records()
    rows = []
    for q in questions():
        rec = records.get(q.id, {})
        rows.append({
            "chapter": q.chapter, "question": q.id, "type": q.type,
            "topics": "; ".join(KNOWN_IDS[c] for c in q.concepts),
            "answered": bool(rec), "attempts": rec.get("attempts", 0), "solved": bool(rec.get("correct")),
            "first_try": bool(rec.get("first_try_correct")), "revealed": bool(rec.get("revealed")),
            "last_at": rec.get("last_at"),
        })
    table = pd.DataFrame(rows)
    if by == "question":
        return table.set_index("question")
    if by != "chapter":
        raise ValueError(f"by must be 'chapter' or 'question', not {by!r}")
    summary = table.groupby("chapter").agg(
        questions=("question", "size"), answered=("answered", "sum"), solved=("solved", "sum"),
        first_try=("first_try", "sum"), attempts=("attempts", "sum"),
    )
    summary.loc["all"] = summary.sum()
    summary["solved %"] = (100 * summary["solved"] / summary["questions"]).round(0).astype(int)
    return summary


def set_learner(name: str) -> str:
    """Say who is answering: ``name`` is saved in the progress file and the answers kept so far move to it."""
    store = ProgressStore()
    saved = store.set_learner(name)
    name_saved(store.path, saved)  # a name prompt already shown stops asking
    print(f"Your quiz answers are recorded as {saved!r} (saved in {store.path}).")
    if store.learner != saved:
        print(f"But $COURSE_UTILS_LEARNER is set to {store.learner!r}, and it wins while it is set.")
    return saved


def export(path: str | Path | None = None) -> Path:
    """Write this learner's progress to hand in: ``progress-<name>.json`` here, or ``path``; on Colab, download it.

    Returns the file written. Refuses while no name was given on Colab or a shared login,
    since the file would not say whose answers these are.
    """
    store = ProgressStore()
    if store.needs_name:
        raise ValueError(
            f"Whose progress is this? This notebook runs as {login_name()!r}, a login many learners share, so "
            f"give your name first: quiz.set_learner('Ada Lovelace') (or the box above the first quiz), "
            f"then run quiz.export() again."
        )
    content = store.hand_in()
    name = content["learner"]
    target = Path(path or ".").expanduser()
    if path is None or target.is_dir():
        target = target / f"progress-{_slug(name)}.json"
    target.write_text(json.dumps(content, indent=1, sort_keys=True, ensure_ascii=False), encoding="utf-8")
    answered = len(content["learners"][name])
    print(f"Wrote the quiz progress of {name} ({answered} question{'s' * (answered != 1)} answered) "
          f"to {target.resolve()}.")
    if on_colab():
        from google.colab import files  # only on Colab: offers the file as a browser download

        files.download(str(target))
        print("Your browser is downloading it: hand in the downloaded file as your course asks.")
    else:
        print("Hand in this file as your course asks (upload it or send it to your instructor).")
    return target


def _slug(name: str) -> str:
    """``Ada Lovelace`` -> ``ada-lovelace``: a name that is safe in a file name (letters of any script kept)."""
    return re.sub(r"\W+", "-", name.lower()).strip("-_")
