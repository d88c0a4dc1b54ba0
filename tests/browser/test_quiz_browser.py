"""A quiz question in a real JupyterLab: a wrong answer, a right one, feedback read from the page."""
from __future__ import annotations

import json

import pytest

from jlab import open_notebook, outputs, run_all_cells, write_notebook

pytestmark = pytest.mark.browser

QUESTION = "ch04.s1"
WRONG, RIGHT = "a", "b"  # see instructor/quizzes/ch04.yaml


def test_quiz_widget_marks_a_wrong_then_a_right_answer(lab, page, artifacts, lab_progress):
    write_notebook(lab.root_dir / "quiz_check.ipynb",
                   f'from course_utils import quiz\nquiz.show("{QUESTION}", model="tiny-base", pairs=2400)')
    open_notebook(page, lab, "quiz_check.ipynb", workspace="quiz-check")
    run_all_cells(page)

    out = outputs(page)
    out.locator(".widget-radio-box").wait_for()
    feedback = out.locator(".cu-feedback")

    out.locator(".widget-radio-box label", has_text=f"({WRONG})").click()
    out.get_by_role("button", name="Check").click()
    feedback.get_by_text("✗ Not quite").wait_for()
    wrong_text = feedback.inner_text()

    out.locator(".widget-radio-box label", has_text=f"({RIGHT})").click()
    out.get_by_role("button", name="Check").click()
    feedback.get_by_text("✓ Correct").wait_for()
    right_text = feedback.inner_text()

    path = artifacts / "quiz.png"
    out.locator(".cu-quiz").screenshot(path=path)
    print(f"\nscreenshot: {path}\nwrong answer: {wrong_text}\nright answer: {right_text}")

    assert wrong_text.startswith(f"✗ Not quite: ({WRONG})")
    assert right_text.startswith(f"✓ Correct: ({RIGHT})")
    assert out.get_by_text("Why:").is_visible()  # the explanation follows a right answer
    record = json.loads(lab_progress.read_text())["learners"]["browser-test"][QUESTION]
    assert (record["attempts"], record["first_try_correct"], record["correct"]) == (2, False, True)
    assert record["notebook"].endswith("quiz_check.ipynb")  # the notebook it was answered in


def test_quiz_widget_works_from_the_keyboard(lab, page):
    write_notebook(lab.root_dir / "quiz_keys.ipynb", 'from course_utils import quiz\nquiz.show("ch02.top-k-one")')
    open_notebook(page, lab, "quiz_keys.ipynb", workspace="quiz-keys")
    run_all_cells(page)

    out = outputs(page)
    radios = out.locator(".widget-radio-box input[type=radio]")
    radios.first.focus()
    # ipywidgets' radios are separate tab stops (arrow keys belong to JupyterLab's cell navigation)
    page.keyboard.press("Tab")  # to (b)
    page.keyboard.press("Space")
    assert [r.is_checked() for r in radios.all()] == [False, True, False, False]
    for _ in range(10):  # Tab on to the Check button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Check":
            break
    page.keyboard.press("Enter")
    out.locator(".cu-feedback").get_by_text("✓ Correct: (b)").wait_for()
