"""The learner copies the package carries: a fresh student build of every notebook, copied out safely."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_utils import cli
from course_utils.instructor import kernel, markers, student
from course_utils.notebooks import copy_notebooks, shipped_notebooks
from course_utils.paths import learner_notebooks_dir

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks").rglob("*.ipynb"))
REBUILD = "course-utils student-build --out data/notebooks"


def test_the_package_carries_a_learner_copy_of_every_notebook():
    assert learner_notebooks_dir() == ROOT / "data" / "notebooks"
    assert shipped_notebooks() == [p.relative_to(ROOT / "notebooks").as_posix() for p in SOURCES]


def test_learner_copies_are_a_fresh_student_build(tmp_path):
    report = student.build(SOURCES, tmp_path)
    assert report.ok
    for name in shipped_notebooks():
        fresh = json.loads((tmp_path / name).read_text(encoding="utf-8"))
        shipped = json.loads((learner_notebooks_dir() / name).read_text(encoding="utf-8"))
        assert shipped == fresh, f"data/notebooks/{name} is out of date with notebooks/{name}: run {REBUILD}"


@pytest.mark.parametrize("name", shipped_notebooks())
def test_learner_copies_hold_no_solution_mark_scheme_or_instructor_cell(name):
    nb = nbformat.read(learner_notebooks_dir() / name, as_version=4)
    text = "\n".join(cell.source for cell in nb.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN MARK SCHEME", "END MARK SCHEME"):
        assert marker not in text
    assert not any(markers.is_instructor_cell(cell) for cell in nb.cells)
    assert all(not cell.get("outputs") for cell in nb.cells)
    if name != "00_start_here.ipynb":
        assert sum(markers.is_stub_cell(cell) for cell in nb.cells) >= 2, "the exercises are left to the learner"


# -- course-utils notebooks DEST ------------------------------------------------------------------------
def test_copy_into_an_empty_folder_then_again_changes_nothing(tmp_path):
    first = copy_notebooks(tmp_path / "mine")
    assert first.copied == shipped_notebooks() and not (first.unchanged or first.kept or first.replaced)
    assert (tmp_path / "mine" / "ch04" / "01_base_vs_instruct.ipynb").read_bytes() == \
        (learner_notebooks_dir() / "ch04" / "01_base_vs_instruct.ipynb").read_bytes()
    second = copy_notebooks(tmp_path / "mine")
    assert second.unchanged == shipped_notebooks() and not second.copied


def test_a_changed_notebook_is_kept_unless_the_learner_agrees_and_then_backed_up(tmp_path):
    dest = tmp_path / "mine"
    copy_notebooks(dest)
    mine = dest / "ch02" / "03_decoding.ipynb"
    mine.write_text('{"my": "work"}', encoding="utf-8")
    asked = []
    kept = copy_notebooks(dest, ask=lambda path: asked.append(path) or False)
    assert kept.kept == ["ch02/03_decoding.ipynb"] and asked == [mine]
    assert mine.read_text(encoding="utf-8") == '{"my": "work"}'
    assert copy_notebooks(dest).kept == ["ch02/03_decoding.ipynb"], "without a way to ask, nothing is replaced"
    replaced = copy_notebooks(dest, ask=lambda path: True)
    assert replaced.replaced == [("ch02/03_decoding.ipynb", dest / "ch02" / "03_decoding.ipynb.bak")]
    assert (dest / "ch02" / "03_decoding.ipynb.bak").read_text(encoding="utf-8") == '{"my": "work"}'
    mine.write_text('{"more": "work"}', encoding="utf-8")
    again = copy_notebooks(dest, overwrite=True)
    assert again.replaced == [("ch02/03_decoding.ipynb", dest / "ch02" / "03_decoding.ipynb.bak2")], \
        "a second backup never overwrites the first"


def test_the_command_reports_each_notebook_and_keeps_changed_ones_without_a_terminal(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    dest = tmp_path / "course"
    assert cli.main(["notebooks", str(dest)]) == 0
    out = capsys.readouterr().out
    assert out.count("  copied     ") == len(shipped_notebooks())
    assert f"{len(shipped_notebooks())} notebooks copied into {dest}. Open them with: jupyter lab {dest}" in out
    (dest / "00_start_here.ipynb").write_text("{}", encoding="utf-8")
    assert cli.main(["notebooks", str(dest)]) == 0
    out = capsys.readouterr().out
    assert "  kept       00_start_here.ipynb: your copy differs" in out
    assert (dest / "00_start_here.ipynb").read_text(encoding="utf-8") == "{}"


def test_a_file_for_a_folder_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "taken").write_text("x")
    assert cli.main(["notebooks", str(tmp_path / "taken")]) == 2
    assert "is a file; give a folder for the notebooks" in capsys.readouterr().err


# -- running a learner copy as a learner who has not done the exercises -------------------------------------
def test_unanswered_exercises_and_their_checks_do_not_fail_a_learner_copy_but_other_errors_do(tmp_path):
    check = {"nbgrader": {"grade": True, "solution": False, "grade_id": "c1", "points": 1, "schema_version": 3}}
    cells = [new_markdown_cell("# A"), new_code_cell("x = 2"),
             new_code_cell(f"def double(v):\n    {markers.CODE_STUB.splitlines()[-1]}\nresult = double(x)"),
             new_code_cell("assert result == 4", metadata=check), new_code_cell("y = x + 1")]
    nb = new_notebook(cells=cells)
    assert kernel.run_notebook(nb, tmp_path, "cpu", timeout=60, leave_exercises=True) is None
    assert kernel.run_notebook(nb, tmp_path, "cpu", timeout=60).cell == 3, "by default the stub is an error"
    nb.cells.append(new_code_cell("1 / 0"))
    error = kernel.run_notebook(nb, tmp_path, "cpu", timeout=60, leave_exercises=True)
    assert error.message == "ZeroDivisionError: division by zero" and error.cell == 6
    nb.cells[3].metadata = {}
    error = kernel.run_notebook(nb, tmp_path, "cpu", timeout=60, leave_exercises=True)
    assert error.cell == 4, "a failing cell that is not an nbgrader check is a real error"
