"""On a shared login (as on Colab or a JupyterHub), the first quiz asks for the learner's name in a real
JupyterLab, and the answers are recorded under the name typed."""
from __future__ import annotations

import json

import pytest

from jlab import open_notebook, outputs, run_all_cells, write_notebook

pytestmark = pytest.mark.browser


def test_the_first_quiz_asks_for_the_name_and_records_answers_under_it(lab, page, artifacts, tmp_path):
    progress = tmp_path / "progress.json"
    write_notebook(
        lab.root_dir / "name_prompt.ipynb",
        # this kernel runs as `jovyan`, a login many learners share, with no name set
        f'import os\nos.environ.pop("COURSE_UTILS_LEARNER", None)\nos.environ["LOGNAME"] = "jovyan"\n'
        f'os.environ["COURSE_UTILS_PROGRESS"] = {str(progress)!r}',
        'from course_utils import quiz\nquiz.show("ch04.s1", model="tiny-base", pairs=2400)',
    )
    open_notebook(page, lab, "name_prompt.ipynb", workspace="name-prompt")
    run_all_cells(page)

    out = outputs(page)
    out.get_by_text("Who is answering?").wait_for()
    out.get_by_placeholder("e.g. Ada Lovelace").fill("Ada Lovelace")
    out.get_by_role("button", name="Save my name").click()
    out.get_by_text("✓ Saved: your answers are recorded as").wait_for()
    out.locator(".widget-radio-box label", has_text="(b)").click()
    out.get_by_role("button", name="Check").click()
    out.locator(".cu-feedback").get_by_text("✓ Correct").wait_for()

    path = artifacts / "name_prompt.png"
    out.last.screenshot(path=path)
    print(f"\nscreenshot: {path}")
    data = json.loads(progress.read_text())
    assert data["learner"] == "Ada Lovelace" and list(data["learners"]) == ["Ada Lovelace"]
    assert data["learners"]["Ada Lovelace"]["ch04.s1"]["correct"] is True
