"""The progress file: what is recorded, corrupt files, two writers at once, and the summary."""
from __future__ import annotations

import json
import multiprocessing
import os
import time

import pytest

from course_utils import quiz
from course_utils.quiz import store as store_module
from course_utils.quiz.store import ProgressStore, ProgressWarning, default_path


def test_a_record_holds_attempts_first_try_solved_answer_times_learner_and_notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_UTILS_LEARNER", "ada")
    store = ProgressStore(tmp_path / "progress.json")
    store.record("ch04.s1", "ch04", "a", False, "ch04/01_base_vs_instruct.ipynb")
    rec = store.record("ch04.s1", "ch04", "b", True, "ch04/01_base_vs_instruct.ipynb")
    assert rec["attempts"] == 2 and rec["first_try_correct"] is False and rec["correct"] is True
    assert rec["last_answer"] == "b" and rec["last_correct"] is True
    assert rec["learner"] == "ada" and rec["notebook"] == "ch04/01_base_vs_instruct.ipynb"
    assert rec["first_at"] <= rec["last_at"]
    rec = store.record("ch04.s1", "ch04", "c", False, "ch04/01_base_vs_instruct.ipynb")
    assert rec["correct"] is True and rec["last_correct"] is False  # solved stays solved
    saved = json.loads((tmp_path / "progress.json").read_text())
    assert saved["learners"]["ada"]["ch04.s1"]["attempts"] == 3


def test_path_and_learner_come_from_the_environment_unless_given(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_UTILS_PROGRESS", str(tmp_path / "env.json"))
    monkeypatch.setenv("COURSE_UTILS_LEARNER", "grace")
    assert default_path() == tmp_path / "env.json"
    assert ProgressStore().path == tmp_path / "env.json" and ProgressStore().learner == "grace"
    given = ProgressStore(tmp_path / "arg.json", learner="alan")
    assert given.path == tmp_path / "arg.json" and given.learner == "alan"
    monkeypatch.delenv("COURSE_UTILS_PROGRESS")
    assert default_path() == default_path().home() / ".course_utils" / "progress.json"


def test_writes_are_atomic_and_leave_no_temporary_files(tmp_path):
    store = ProgressStore(tmp_path / "progress.json", learner="ada")
    for i in range(3):
        store.record(f"ch02.q{i}", "ch02", "a", True, "nb.ipynb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["progress.json", "progress.json.lock"]


@pytest.mark.parametrize("content", ["{not json", '["a list, not progress"]', "\udcff"])
def test_a_corrupt_file_is_set_aside_with_a_warning_and_the_answer_still_recorded(tmp_path, content):
    path = tmp_path / "progress.json"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    with pytest.warns(ProgressWarning, match="could not be read.*moved to"):
        ProgressStore(path, learner="ada").record("ch04.s1", "ch04", "b", True, "nb.ipynb")
    (aside,) = tmp_path.glob("progress.json.corrupt-*")
    assert aside.read_bytes() == content.encode("utf-8", "surrogateescape")
    assert ProgressStore(path, learner="ada").records()["ch04.s1"]["attempts"] == 1


def _answer_fifty_times(path: str, use_flock: bool) -> None:
    """One 'notebook': answers the same 50 questions as the other process does."""
    if not use_flock:
        store_module.fcntl = None  # exercise the portable lock-file fallback
    store = ProgressStore(path, learner="ada")
    for i in range(50):
        store.record(f"ch04.q{i}", "ch04", "a", i % 2 == 0, "nb.ipynb")


@pytest.mark.parametrize("use_flock", [True, False], ids=["flock", "lock-file"])
def test_two_processes_answering_at_once_lose_nothing(tmp_path, use_flock):
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    path = str(tmp_path / "progress.json")
    workers = [context.Process(target=_answer_fifty_times, args=(path, use_flock)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    records = ProgressStore(path, learner="ada").records()
    assert len(records) == 50
    assert {rec["attempts"] for rec in records.values()} == {2}  # a lost update would leave a 1


def test_a_stale_lock_file_is_broken_after_the_timeout(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "fcntl", None)
    monkeypatch.setattr(store_module, "LOCK_TIMEOUT_S", 0.2)
    (tmp_path / "progress.json.lock").write_text("")  # left behind by a crashed process
    start = time.monotonic()
    ProgressStore(tmp_path / "progress.json", learner="ada").record("ch04.s1", "ch04", "b", True, "nb.ipynb")
    assert time.monotonic() - start < 5
    assert not (tmp_path / "progress.json.lock").exists()


def test_progress_summarises_by_chapter_and_by_question(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    monkeypatch.setenv("COURSE_UTILS_PROGRESS", str(path))
    monkeypatch.setenv("COURSE_UTILS_LEARNER", "ada")
    quiz.question("ch04.s1").with_examples().answer("a")
    quiz.question("ch04.s1").with_examples().answer("b")
    quiz.question("ch02.top-k-one").answer("b")
    ProgressStore(path, learner="someone else").record("ch04.s2", "ch04", "a", True, "nb.ipynb")

    table = quiz.progress()
    n02, n04 = len(quiz.questions("ch02")), len(quiz.questions("ch04"))
    assert table.loc["ch02", ["questions", "answered", "solved", "first_try", "attempts"]].tolist() == [n02, 1, 1, 1, 1]
    assert table.loc["ch04", ["questions", "answered", "solved", "first_try", "attempts"]].tolist() == [n04, 1, 1, 0, 2]
    assert table.loc["all", "questions"] == n02 + n04 and table.loc["all", "solved %"] == round(200 / (n02 + n04))
    by_question = quiz.progress(by="question")
    assert by_question.loc["ch04.s1", "attempts"] == 2 and not by_question.loc["ch04.s2", "answered"]
    assert quiz.progress(learner="someone else").loc["ch04", "solved"] == 1
    with pytest.raises(ValueError, match="by must be"):
        quiz.progress(by="concept")


def test_an_unwritable_progress_file_does_not_break_the_widget(tmp_path):
    blocked = tmp_path / "a file, not a folder"
    blocked.write_text("")
    view = quiz.QuestionView(quiz.question("ch04.s1").with_examples(), ProgressStore(blocked / "progress.json"))
    assert view.answer("b").correct
    assert "✓ Correct" in view.feedback.value and "not saved" in view.feedback.value
    assert os.path.isfile(blocked)
