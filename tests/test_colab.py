"""Every notebook reaches Colab the same way: a badge that opens its learner copy, and one install cell
that pins this release, both built from pyproject.toml and ``course_utils.__version__`` alone."""
from __future__ import annotations

import tomllib
from pathlib import Path

import nbformat
import pytest

import course_utils
from course_utils.instructor import colab

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks").rglob("*.ipynb"))
LEARNER_COPIES = sorted((ROOT / "data" / "notebooks").rglob("*.ipynb"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def relative(path: Path) -> str:
    folder = ROOT / ("notebooks" if path.is_relative_to(ROOT / "notebooks") else "data/notebooks")
    return path.relative_to(folder).as_posix()


def test_the_release_is_what_pyproject_says():
    rel = colab.release()
    assert rel.name == PYPROJECT["project"]["name"] == "llm-foundations-workbook"
    assert rel.version == course_utils.__version__
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "course_utils.__version__"}
    assert rel.repository == PYPROJECT["project"]["urls"]["Repository"]


def test_every_notebook_and_its_learner_copy_are_covered():
    assert [relative(p) for p in SOURCES] == [relative(p) for p in LEARNER_COPIES]
    assert len(SOURCES) == 12


@pytest.mark.parametrize("path", SOURCES + LEARNER_COPIES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_badge_under_the_title_and_the_pinned_install_cell_first(path):
    rel = colab.release()
    nb = nbformat.read(path, as_version=4)
    title = nb.cells[0].source.split("\n")
    assert title[0].startswith("# ") and title[2] == colab.badge(rel, relative(path))
    assert sum(colab.BADGE_IMAGE in cell.source for cell in nb.cells) == 1, "one badge per notebook"
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code[0].source == colab.install_cell(rel)
    assert f'WORKBOOK = "{rel.name}=={course_utils.__version__}"' in code[0].source
    assert not any(colab.is_install_cell(cell) for cell in code[1:])


def test_the_badge_opens_the_learner_copy_at_the_release_tag():
    url = colab.release().colab_url("ch04/01_base_vs_instruct.ipynb")
    repo = PYPROJECT["project"]["urls"]["Repository"].removeprefix("https://github.com/")
    assert url == (f"https://colab.research.google.com/github/{repo}/blob/v{course_utils.__version__}"
                   f"/data/notebooks/ch04/01_base_vs_instruct.ipynb")


def test_readme_carries_the_badge_of_the_first_notebook():
    rel = colab.release()
    lines = (ROOT / "README.md").read_text(encoding="utf-8").split("\n")
    assert lines[2] == colab.badge(rel, "00_start_here.ipynb")
    assert sum(colab.BADGE_IMAGE in line for line in lines) == 1


def test_the_writer_has_nothing_left_to_change():
    assert colab.main(["--check"]) == 0


def test_apply_puts_badge_and_cell_into_a_notebook_without_them():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A title\n\nSome text."),
                                         nbformat.v4.new_code_cell("x = 1")])
    rel = colab.Release("some-workbook", "1.2.3", "https://github.com/someone/some-repo")
    assert colab.apply(nb, rel, "ch09/01_a.ipynb") is True
    assert nb.cells[0].source.split("\n")[2] == colab.badge(rel, "ch09/01_a.ipynb")
    assert [cell.source for cell in nb.cells[1:]] == [colab.install_cell(rel), "x = 1"]
    assert colab.apply(nb, rel, "ch09/01_a.ipynb") is False, "a second apply changes nothing"
    compile(colab.install_cell(rel), "install cell", "exec")  # the cell is valid Python
    assert max(map(len, colab.install_cell(rel).splitlines())) <= 100, "no line runs off a notebook's width"


def test_a_repository_that_is_not_on_github_is_refused():
    with pytest.raises(ValueError, match="GitHub address"):
        colab.Release("w", "1.0", "https://gitlab.com/someone/repo").colab_url("a.ipynb")
