"""Whose answers these are: the name asked on Colab and shared logins, kept, and handed in with quiz.export()."""
from __future__ import annotations

import getpass
import json
import re
import sys
import types
from pathlib import Path

import pytest

from course_utils import quiz
from course_utils.instructor import gradebook
from course_utils.quiz.store import ProgressStore
from course_utils.quiz.widget import PredictionView, QuestionView, SectionView


@pytest.fixture(autouse=True)
def progress_file(tmp_path, monkeypatch) -> Path:
    """A private progress file, no name from the environment, not on Colab."""
    path = tmp_path / "progress.json"
    monkeypatch.setenv("COURSE_UTILS_PROGRESS", str(path))
    monkeypatch.delenv("COURSE_UTILS_LEARNER", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    return path


def log_in_as(monkeypatch, login: str) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: login)


def on_colab(monkeypatch) -> list[str]:
    """A stand-in ``google.colab``; returns the paths its ``files.download`` was given."""
    downloads: list[str] = []
    colab = types.ModuleType("google.colab")
    colab.files = types.SimpleNamespace(download=downloads.append)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    return downloads


def saved(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# -- who is asked -----------------------------------------------------------------------------------
@pytest.mark.parametrize("login, colab, why", [
    ("root", False, "This notebook runs as <code>root</code>, a login that many learners share"),
    ("jovyan", False, "This notebook runs as <code>jovyan</code>, a login that many learners share"),
    ("Student", False, "This notebook runs as <code>Student</code>, a login that many learners share"),
    ("ada", True, "On Colab every notebook runs as <code>ada</code>"),
])
def test_the_name_is_asked_on_colab_and_on_a_shared_login(monkeypatch, login, colab, why):
    log_in_as(monkeypatch, login)
    if colab:
        on_colab(monkeypatch)
    prompt = QuestionView(quiz.question("ch04.s1").with_examples()).name_prompt
    assert prompt is not None and why in prompt.message.value
    assert "Until then your answers are kept under <code>" in prompt.message.value
    assert (prompt.name.value, prompt.save_button.description) == ("", "Save my name")


def test_the_name_is_not_asked_for_a_personal_login_a_name_in_the_environment_or_one_given(monkeypatch, progress_file):
    log_in_as(monkeypatch, "ada")
    assert QuestionView(quiz.question("ch04.s1").with_examples()).name_prompt is None
    log_in_as(monkeypatch, "root")
    assert QuestionView(quiz.question("ch04.s1").with_examples(), ProgressStore(progress_file, learner="grace")).name_prompt is None
    monkeypatch.setenv("COURSE_UTILS_LEARNER", "grace")
    assert QuestionView(quiz.question("ch04.s1").with_examples()).name_prompt is None


# -- the widget flow ------------------------------------------------------------------------------------
def test_answers_before_the_name_are_kept_under_the_login_and_move_to_the_name_typed(monkeypatch, progress_file):
    log_in_as(monkeypatch, "root")
    view = QuestionView(quiz.question("ch04.s1").with_examples())
    assert not view.answer("a").correct
    assert "Kept under the login name <code>root</code> until you give your name above" in view.feedback.value
    assert list(saved(progress_file)["learners"]) == ["root"]
    later = PredictionView(quiz.question("ch04.s3").with_examples())
    assert later.name_prompt is view.name_prompt  # asked once: every quiz shows the same prompt

    prompt = view.name_prompt
    prompt.name.value = "   "
    prompt.save_button.click()
    assert "✗ The name is empty" in prompt.feedback.value and "learner" not in saved(progress_file)

    prompt.name.value = "  Ada   Lovelace "
    prompt.save_button.click()
    assert "✓ Saved: your answers are recorded as <b>Ada Lovelace</b>" in prompt.feedback.value
    assert "<code>quiz.export()</code>" in prompt.feedback.value
    assert prompt.name.disabled and prompt.save_button.disabled
    data = saved(progress_file)
    assert data["learner"] == "Ada Lovelace" and list(data["learners"]) == ["Ada Lovelace"]
    assert data["learners"]["Ada Lovelace"]["ch04.s1"]["learner"] == "Ada Lovelace"

    assert view.answer("b").correct and "Kept under" not in view.feedback.value
    record = ProgressStore().records()["ch04.s1"]
    assert (record["attempts"], record["first_try_correct"], record["correct"]) == (2, False, True)
    assert QuestionView(quiz.question("ch04.s2")).name_prompt is None  # not asked again
    assert ProgressStore().learner == "Ada Lovelace" and not ProgressStore().needs_name  # a new kernel


def test_the_prompt_is_shown_once_above_a_quiz_or_a_section(monkeypatch):
    log_in_as(monkeypatch, "jovyan")
    shown = []
    monkeypatch.setattr("course_utils.quiz.widget.show_bundle", lambda widget, markdown: shown.append(widget))
    view = QuestionView(quiz.question("ch04.s1").with_examples())
    view.display()
    section = SectionView(quiz.questions("ch04", concepts=["C21"]), "Quiz")
    section.display()
    assert shown[0].children == (view.name_prompt.box, view.box)
    assert shown[1].children == (view.name_prompt.box, section.box)
    assert view.name_prompt.box not in section.box.children


# -- set_learner ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, why", [
    ("", "The name is empty"),
    (" \t ", "The name is empty"),
    ("?!", "'?!' has no letter or digit in it"),
    (" Root ", "'Root' is a login name that many learners share"),
])
def test_set_learner_rejects_a_name_that_tells_nobody_apart(progress_file, name, why):
    with pytest.raises(ValueError, match=f"^{re.escape(why)}.*type your"):
        quiz.set_learner(name)
    assert not progress_file.exists() or "learner" not in saved(progress_file)


def test_set_learner_saves_the_name_and_stops_the_prompt_asking(monkeypatch, progress_file, capsys):
    log_in_as(monkeypatch, "root")
    prompt = QuestionView(quiz.question("ch04.s1").with_examples()).name_prompt
    assert quiz.set_learner(" Grace  Hopper") == "Grace Hopper"
    assert f"recorded as 'Grace Hopper' (saved in {progress_file})" in capsys.readouterr().out
    assert prompt.save_button.disabled and "Grace Hopper" in prompt.feedback.value
    monkeypatch.setenv("COURSE_UTILS_LEARNER", "grace")
    quiz.set_learner("Grace Hopper")
    assert "$COURSE_UTILS_LEARNER is set to 'grace', and it wins" in capsys.readouterr().out
    assert ProgressStore().learner == "grace"


def test_a_corrected_name_takes_the_answers_along(monkeypatch, progress_file):
    log_in_as(monkeypatch, "root")
    quiz.set_learner("Ada Lovelase")
    quiz.question("ch04.s1").with_examples().answer("b")
    quiz.set_learner("Ada Lovelace")
    data = saved(progress_file)
    assert list(data["learners"]) == ["Ada Lovelace"] and data["learners"]["Ada Lovelace"]["ch04.s1"]["attempts"] == 1


def test_answers_moved_onto_a_name_that_has_the_same_question_are_merged(monkeypatch, progress_file):
    log_in_as(monkeypatch, "root")
    record = {"chapter": "ch04", "notebook": "nb.ipynb", "revealed": False, "last_correct": False}
    progress_file.write_text(json.dumps({"version": 1, "learners": {
        "Ada": {"ch04.s1": {**record, "attempts": 1, "first_try_correct": True, "correct": True, "learner": "Ada",
                            "last_answer": "b", "first_at": "2025-01-01T09:00:00+00:00",
                            "last_at": "2025-01-01T09:00:00+00:00"}},
        "root": {"ch04.s1": {**record, "attempts": 2, "first_try_correct": False, "correct": False, "learner": "root",
                             "last_answer": "c", "revealed": True, "first_at": "2025-01-02T09:00:00+00:00",
                             "last_at": "2025-01-02T09:05:00+00:00"}},
    }}))
    quiz.set_learner("Ada")
    rec = saved(progress_file)["learners"]["Ada"]["ch04.s1"]
    assert (rec["attempts"], rec["first_try_correct"], rec["correct"], rec["revealed"]) == (3, True, True, True)
    assert (rec["first_at"], rec["last_at"]) == ("2025-01-01T09:00:00+00:00", "2025-01-02T09:05:00+00:00")
    assert (rec["last_answer"], rec["learner"]) == ("c", "Ada")
    assert list(saved(progress_file)["learners"]) == ["Ada"]


# -- export ------------------------------------------------------------------------------------------------------
def test_export_refuses_without_a_name_on_a_shared_login_then_writes_a_learner_named_file(monkeypatch, tmp_path,
                                                                                         capsys):
    log_in_as(monkeypatch, "root")
    quiz.question("ch04.s1").with_examples().answer("b")
    with pytest.raises(ValueError, match=r"runs as 'root'.*give your name first: quiz.set_learner\('Ada Lovelace'\)"):
        quiz.export()
    quiz.set_learner("Ada Lovelace")
    monkeypatch.chdir(tmp_path)
    path = quiz.export()
    assert path == Path("progress-ada-lovelace.json")
    out = capsys.readouterr().out
    assert f"Wrote the quiz progress of Ada Lovelace (1 question answered) to {tmp_path / path}." in out
    assert "Hand in this file" in out
    data = saved(path)
    assert data["learner"] == "Ada Lovelace" and list(data["learners"]) == ["Ada Lovelace"]
    assert data["learners"]["Ada Lovelace"]["ch04.s1"]["correct"] is True
    (tmp_path / "hand-in").mkdir()
    assert quiz.export(tmp_path / "hand-in") == tmp_path / "hand-in" / "progress-ada-lovelace.json"
    assert quiz.export(tmp_path / "mine.json") == tmp_path / "mine.json"
    book = gradebook.collect(tmp_path / "hand-in")
    assert [(row.learner, row.file, row.question) for row in book.rows] == [
        ("Ada Lovelace", "progress-ada-lovelace.json", "ch04.s1")]


def test_export_on_a_personal_login_needs_no_name(monkeypatch, tmp_path):
    log_in_as(monkeypatch, "ada")
    quiz.question("ch04.s1").with_examples().answer("a")
    assert saved(quiz.export(tmp_path))["learners"]["ada"]["ch04.s1"]["attempts"] == 1
    assert (tmp_path / "progress-ada.json").is_file()


def test_export_on_colab_offers_the_file_as_a_download(monkeypatch, tmp_path, capsys):
    downloads = on_colab(monkeypatch)
    log_in_as(monkeypatch, "root")
    quiz.set_learner("Grace Hopper")
    path = quiz.export(tmp_path)
    assert downloads == [str(tmp_path / "progress-grace-hopper.json")] and path.is_file()
    assert "Your browser is downloading it" in capsys.readouterr().out
