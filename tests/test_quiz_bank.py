"""The question banks: schema, coverage, marking, answers out of plain sight, Markdown, widgets."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from course_utils import quiz
from course_utils.paths import quiz_dir
from course_utils.quiz import build as quiz_build
from course_utils.quiz.bank import (
    CONCEPTS, SCENARIOS, TOPICS, BankError, filled_with_examples, load_bank, read_yaml, tolerance_width, validate_bank,
)
from course_utils.quiz.render import markdown_html, question_markdown
from course_utils.quiz.store import ProgressStore
from course_utils.quiz.widget import PredictionView, QuestionView, SectionView

NOTEBOOKS = {
    "ch02/01_next_token_prediction.ipynb", "ch02/02_pretraining.ipynb", "ch02/03_decoding.ipynb",
    "ch04/01_base_vs_instruct.ipynb", "ch04/02_sft_end_to_end.ipynb", "ch04/03_instruction_data.ipynb",
    "ch04/04_generalisation.ipynb", "ch04/05_cost_and_settings.ipynb", "ch04/06_regressions_and_bad_data.ipynb",
    "ch04/07_beyond_sft.ipynb",
}
INSTRUCTOR_FILES = sorted(quiz_build.instructor_dir().glob("ch*.yaml"))
INSTRUCTOR = {q["id"]: filled_with_examples(q) for path in INSTRUCTOR_FILES for q in read_yaml(path)["questions"]}
QUESTIONS = [q.with_examples() for q in quiz.questions()]  # numbers from a notebook: the bank's examples
CHOICE = [q for q in QUESTIONS if q.type != "numeric"]
NUMERIC = [q for q in QUESTIONS if q.type == "numeric"]


@pytest.fixture(autouse=True)
def progress_file(tmp_path, monkeypatch) -> Path:
    """Every test writes progress to its own file, never to the learner's home."""
    path = tmp_path / "progress.json"
    monkeypatch.setenv("COURSE_UTILS_PROGRESS", str(path))
    return path


def right_keys(question_id: str) -> set[str]:
    correct = INSTRUCTOR[question_id]["correct"]
    return set(correct) if isinstance(correct, list) else {correct}


# -- schema and coverage ----------------------------------------------------------------------
def test_instructor_and_learner_banks_follow_the_schema():
    assert [p.name for p in INSTRUCTOR_FILES] == ["ch02.yaml", "ch04.yaml"]
    for path in INSTRUCTOR_FILES:
        validate_bank(read_yaml(path), path, "instructor")
        validate_bank(read_yaml(quiz_dir() / path.name), quiz_dir() / path.name, "learner")
    assert {q.id for q in QUESTIONS} == set(INSTRUCTOR)


def test_every_concept_and_scenario_has_a_question_and_predict_questions_pair_s1_s3_s5():
    tested = {c for q in QUESTIONS for c in q.concepts}
    assert set(CONCEPTS) | set(SCENARIOS) <= tested
    predicted = {c for q in QUESTIONS if q.type == "predict" for c in q.concepts}
    assert {"S1", "S3", "S5"} <= predicted


def test_bank_size_types_and_chapter_two_topics():
    assert len(QUESTIONS) >= 45
    assert {q.type for q in QUESTIONS} == {"single", "multiple", "numeric", "predict"}
    chapter_two = [q for q in QUESTIONS if q.chapter == "ch02"]
    assert len(chapter_two) >= 8
    assert {"T-next-token", "T-tokenisation", "T-perplexity", "T-pretrain-cost", "T-decoding"} <= {
        c for q in chapter_two for c in q.concepts}
    assert set(TOPICS) >= {c for q in chapter_two for c in q.concepts}


def test_every_question_points_at_a_planned_notebook_section():
    for q in QUESTIONS:
        assert q.notebook in NOTEBOOKS, q.id
        assert q.section.strip(), q.id


# -- marking -------------------------------------------------------------------------------------
@pytest.mark.parametrize("q", [q for q in CHOICE if q.type != "multiple"], ids=lambda q: q.id)
def test_single_and_predict_mark_only_the_right_option(q):
    assert len(right_keys(q.id)) == 1
    for opt in q.options:
        fb = q.check(opt.key)
        assert fb.correct == (opt.key in right_keys(q.id)), opt.key
        assert opt.feedback in fb.text
        assert fb.text.startswith("✓ Correct" if fb.correct else "✗ Not quite")


@pytest.mark.parametrize("q", [q for q in CHOICE if q.type == "multiple"], ids=lambda q: q.id)
def test_multiple_marks_only_the_exact_set(q):
    right = right_keys(q.id)
    assert q.check(sorted(right)).correct
    assert not q.check(sorted(right)[1:] or [q.option_keys[-1]]).correct  # one right option missing
    for opt in q.options:
        fb = q.check([opt.key])
        assert fb.correct == (right == {opt.key})
        assert f"{'✓' if opt.key in right else '✗'} ({opt.key}) {opt.feedback}" in fb.text


@pytest.mark.parametrize("q", NUMERIC, ids=lambda q: q.id)
def test_numeric_answers_are_right_within_the_tolerance_only(q):
    target = float(INSTRUCTOR[q.id]["answer"])
    width = tolerance_width(q.tolerance, target)
    assert q.check(target).correct
    assert q.check(target + 0.9 * width).correct and q.check(target - 0.9 * width).correct
    step = 1.1 * width + 0.5
    low, high = q.check(target - step), q.check(target + step)
    assert not low.correct and "too low" in low.text and q.feedback.get("below", "") in low.text
    assert not high.correct and "too high" in high.text and q.feedback.get("above", "") in high.text


def test_relative_tolerance():
    q = quiz.question("ch02.pretrain-flops").with_examples()  # 3.6 with a tolerance of 5%
    assert q.tolerance == "5%"
    assert q.check(3.6 * 1.04).correct and not q.check(3.6 * 1.06).correct
    assert tolerance_width("10%", -20.0) == pytest.approx(2.0)
    assert tolerance_width(0.5, 100.0) == 0.5


def test_answers_are_normalised_and_unknown_keys_explained():
    q = quiz.question("ch04.s1").with_examples()
    assert q.check("(B)").correct and q.check(" b ").correct
    with pytest.raises(ValueError, match="'z' is not an option; choose one of a, b, c, d"):
        q.check("z")
    assert quiz.question("ch02.top-p").check("c, a b").answer == ["a", "b", "c"]


def test_answer_records_progress(progress_file):
    fb = quiz.question("ch04.s1").with_examples().answer("a")
    assert not fb.correct
    record = ProgressStore(progress_file).records()["ch04.s1"]
    assert record["attempts"] == 1 and record["last_answer"] == "a"


def test_unknown_question_suggests_close_ids():
    with pytest.raises(KeyError, match="did you mean ch04.s1"):
        quiz.question("ch04.s1x")


# -- answers out of plain sight --------------------------------------------------------------------
def test_learner_banks_hold_no_answer_in_plain_text():
    for path in INSTRUCTOR_FILES:
        shipped = quiz_dir() / path.name
        text = shipped.read_text(encoding="utf-8")
        for raw in read_yaml(shipped)["questions"]:
            assert not {"correct", "answer", "explanation"} & set(raw), raw["id"]
            source = INSTRUCTOR[raw["id"]]
            assert source["explanation"].strip()[:60] not in text, raw["id"]
        assert not re.search(r"^\s*(correct|answer):", text, re.M)


def test_feedback_does_not_announce_the_right_option():
    giveaway = re.compile(r"^(correct|right|yes|exactly|indeed|wrong|incorrect|no\b|not quite)", re.I)
    for q in CHOICE:
        for opt in q.options:
            assert not giveaway.match(opt.feedback), f"{q.id} ({opt.key})"


def test_shipped_banks_are_up_to_date_and_the_build_is_deterministic(tmp_path):
    assert quiz_build.build(quiz_build.instructor_dir(), quiz_dir(), check=True) == []
    assert quiz_build.build(quiz_build.instructor_dir(), tmp_path) == [tmp_path / "ch02.yaml", tmp_path / "ch04.yaml"]
    for path in tmp_path.glob("*.yaml"):
        assert path.read_bytes() == (quiz_dir() / path.name).read_bytes()


def test_build_check_fails_on_a_stale_bank(tmp_path, capsys):
    assert quiz_build.main(["--target", str(tmp_path)]) == 0
    stale = tmp_path / "ch04.yaml"
    stale.write_text(stale.read_text(encoding="utf-8").replace("Ch.4 Alignment", "Ch.4 Old title"), encoding="utf-8")
    assert quiz_build.main(["--check", "--target", str(tmp_path)]) == 1
    assert "out of date" in capsys.readouterr().out
    assert stale.read_text(encoding="utf-8").count("Ch.4 Old title") == 1  # --check writes nothing


# -- error messages for a broken bank -----------------------------------------------------------------
@pytest.mark.parametrize("change, where", [
    (lambda q: q["options"]["b"].pop("feedback"), "question ch04.s1, field 'options.b.feedback'"),
    (lambda q: q.update(concepts=["C99"]), "question ch04.s1, field 'concepts': unknown id 'C99'"),
    (lambda q: q.update(correct="e"), "question ch04.s1, field 'correct'"),
    (lambda q: q.update(notebook="ch02/01_next_token_prediction.ipynb"), "question ch04.s1, field 'notebook'"),
    (lambda q: q.update(answer="b"), "question ch04.s1, field 'answer': not a field"),
    (lambda q: q["options"]["a"].update(text="costs $6ND$"), "question ch04.s1, field 'options.a.text': option text is plain"),
])
def test_bank_errors_name_the_file_question_and_field(change, where):
    path = quiz_build.instructor_dir() / "ch04.yaml"
    data = read_yaml(path)
    change(data["questions"][0])
    with pytest.raises(BankError, match=re.escape(f"{path}, {where}")):
        validate_bank(data, path, "instructor")


def test_invalid_yaml_names_the_file(tmp_path):
    bad = tmp_path / "ch09.yaml"
    bad.write_text("questions: [unclosed", encoding="utf-8")
    with pytest.raises(BankError, match="ch09.yaml: not valid YAML"):
        load_bank(bad)


# -- Markdown without the answer ------------------------------------------------------------------------
@pytest.mark.parametrize("q", QUESTIONS, ids=lambda q: q.id)
def test_markdown_shows_the_question_but_no_answer(q):
    md = question_markdown(q)
    assert q.prompt in md
    for opt in q.options:
        assert f"**({opt.key})** {opt.text}" in md
        assert opt.feedback not in md and opt.check not in md
    assert q.explanation() not in md and q.solution() not in md
    for sealed in q.sealed.values():
        assert sealed not in md
    if q.type == "numeric":
        answer = f"{INSTRUCTOR[q.id]['answer']:g}"
        assert not re.search(rf"(?<![\d.,]){re.escape(answer)}(?![\d,])", md)


def test_markdown_html_handles_the_banks_subset():
    html = markdown_html("A *b* **c** `d<e>` $a_1 * b_2$\n\n- x\n- y\n\n| p | q |\n|---|---|\n| 1 | 2 |\n\n> said")
    assert "<p>A <i>b</i> <b>c</b> <code>d&lt;e&gt;</code> $a_1 * b_2$</p>" in html
    assert "<ul><li>x</li><li>y</li></ul>" in html
    assert "<th>p</th>" in html and "<td>2</td>" in html
    assert "<blockquote>said</blockquote>" in html


# -- widgets, driven from Python ---------------------------------------------------------------------------
def test_question_view_gives_feedback_in_words_and_allows_retry_hint_and_reveal(progress_file):
    store = ProgressStore(progress_file)
    view = QuestionView(quiz.question("ch04.s1").with_examples(), store)
    assert view.reveal_button.disabled  # only after a first attempt
    view.check_button.click()
    assert "Choose an option first" in view.feedback.value
    assert not view.answer("a").correct
    assert "✗ Not quite" in view.feedback.value and not view.reveal_button.disabled
    view.hint_button.click()
    assert "Hint:" in view.extra.value
    assert view.answer("b").correct and "✓ Correct" in view.feedback.value
    view.reveal_button.click()
    assert "The right answer is: (b)" in view.extra.value
    record = store.records()["ch04.s1"]
    assert (record["attempts"], record["first_try_correct"], record["correct"], record["revealed"]) == (2, False, True, True)


def test_multiple_and_numeric_views_use_checkboxes_and_a_number_field(progress_file):
    multiple = QuestionView(quiz.question("ch02.top-p"), ProgressStore(progress_file))
    assert multiple.answer("a, b, c").correct
    assert [box.value for box in multiple.checkboxes.values()] == [True, True, True, False, False]
    numeric = QuestionView(quiz.question("ch02.uniform-perplexity").with_examples(), ProgressStore(progress_file))
    assert numeric.answer(2048).correct and numeric.controls.value == 2048.0


def test_prediction_shows_the_measurement_beside_the_prediction(progress_file):
    p = PredictionView(quiz.question("ch04.s5-run").with_examples(), ProgressStore(progress_file))
    p.answer("d")
    assert "Prediction recorded: (d)" in p.feedback.value and "✓" not in p.feedback.value  # verdict waits
    p.reveal(measured=0.97, text="97% of the fields of 100 contracts are right")
    assert p.verdict.correct
    assert "Your prediction" in p.result.value and "0.97: 97% of the fields" in p.result.value
    assert "(that is option (d))" in p.result.value and "✓ Correct" in p.feedback.value
    assert p.controls.disabled


def test_prediction_compares_with_the_measurement_and_survives_run_all(progress_file):
    p = PredictionView(quiz.question("ch04.s1-run").with_examples(), ProgressStore(progress_file))
    p.answer("a")  # the expected outcome, but this run measured something else
    p.reveal(measured=0.25)
    assert not p.verdict.correct
    assert "differs from the usual outcome" in p.feedback.value
    untouched = PredictionView(quiz.question("ch04.s1-run").with_examples(), ProgressStore(progress_file))
    untouched.reveal(measured=0.02)  # no prediction, as in a notebook run top to bottom
    assert not untouched.verdict.correct
    assert "no prediction was committed" in untouched.result.value


def test_section_view_keeps_a_score(progress_file):
    section = SectionView(quiz.questions("ch04", concepts=["C21"]), "Quiz", ProgressStore(progress_file))
    assert section.score_text() == f"Score: 0 of {len(section.views)} solved (0 on the first try)"
    first = section.views[0]
    first.answer(sorted(right_keys(first.question.id)))
    assert "Score: 1 of" in section.score.value and "(1 on the first try)" in section.score.value


def test_show_displays_the_widget_with_a_markdown_fallback(monkeypatch):
    shown = []
    monkeypatch.setattr("course_utils.quiz.widget.display", lambda bundle, raw: shown.append(bundle))
    quiz.show("ch04.s1", model="tiny-base", pairs=2400)
    quiz.show_section("ch02", concepts=["T-tokenisation"])
    p = quiz.predict("ch04.s3", model="tiny-base", n_test=50, pairs=1200)
    assert isinstance(p, PredictionView) and "reveal" in repr(p)
    for bundle in shown:
        assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"]
        assert bundle["text/markdown"].startswith(("**Quiz", "### Quiz"))
    assert "ch02.rare-name" in shown[1]["text/markdown"] and "ch02.token-facts" in shown[1]["text/markdown"]
    with pytest.raises(ValueError, match="use quiz.show"):
        quiz.predict("ch04.s1", model="tiny-base", pairs=2400)
    with pytest.raises(ValueError, match=r"ch02.causal-mask take numbers from the notebook; show them one by one"):
        quiz.show_section("ch02", concepts=["T-transformer"])  # its only question takes a run's numbers
    with pytest.raises(ValueError, match=r"ch04.s1 needs values from the notebook: quiz.show\('ch04.s1', model=..."):
        quiz.show("ch04.s1")


def test_a_review_of_a_whole_chapter_leaves_out_the_questions_that_take_a_runs_numbers(monkeypatch, capsys):
    shown = []
    monkeypatch.setattr("course_utils.quiz.widget.display", lambda bundle, raw: shown.append(bundle))
    quiz.show_section("ch02")
    waiting = [q.id for q in quiz.questions("ch02") if q.needs_values]
    assert waiting and capsys.readouterr().out == (
        "left out of this quiz, as they take numbers from a notebook's run (quiz.show asks them there): "
        f"{', '.join(waiting)}\n")
    (bundle,) = shown
    text = bundle["text/markdown"]
    assert all(q.id in text for q in quiz.questions("ch02") if not q.needs_values)
    assert not any(question_id in text for question_id in waiting)


@pytest.mark.slow
def test_a_notebook_saved_by_a_headless_run_shows_the_question_as_markdown(progress_file):
    """What GitHub and nbviewer show: the Markdown form, never the answer (starts a kernel: ~3 s)."""
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell('from course_utils import quiz\nquiz.show("ch04.s1", model="tiny-base", pairs=2400)'))
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    (output,) = nb.cells[0].outputs
    q = quiz.question("ch04.s1").with_examples()
    assert output["data"]["text/markdown"] == question_markdown(q)
    nb.metadata.pop("widgets", None)  # a notebook saved without widget state, as JupyterLab does by default
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert "<strong>(b)</strong>" in html and "widget-view+json" not in html
    assert q.option("b").feedback not in html and q.explanation()[:60] not in html
