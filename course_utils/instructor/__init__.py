"""Instructor tools: the student build, answer keys, a gradebook and a run check of the notebooks.

Each tool is one module with one job, and ``course-utils`` exposes it as a subcommand:

=====================  ===============  =====================================================
command                module           what it gives the instructor
=====================  ===============  =====================================================
``student-build``      ``student``      notebooks without solutions or instructor cells
                       ``leaks``        proof that no solution text or quiz key is left
``answer-key``         ``answer_key``   every quiz question with its answer, per chapter
``gradebook``          ``gradebook``    the learners' progress files as one CSV
``check``              ``runcheck``     every notebook executed headless, pass/fail and time
=====================  ===============  =====================================================

The notebook tools need ``nbformat`` and ``nbclient`` (installed with ``pip install -e ".[test]"``).
This module holds what they share: where the notebooks are and how to list them.
"""
from __future__ import annotations

from pathlib import Path

import course_utils
from course_utils.paths import learner_notebooks_dir

NOTEBOOK_SUFFIX = ".ipynb"


def repo_root() -> Path:
    """The repository this package was installed from (editable), which holds ``notebooks/``."""
    return Path(course_utils.__file__).resolve().parents[1]


def source_notebooks_dir() -> Path:
    """The repository's ``notebooks/``, with the solutions: the input of the student build.

    Only a clone of the repository has it; an installed package carries the learner copies alone.
    """
    folder = repo_root() / "notebooks"
    if not folder.is_dir():
        raise FileNotFoundError(
            "the source notebooks (with solutions) are not part of an installed package; the student "
            "build and answer keys run from a clone of the workbook's repository")
    return folder


def notebooks_dir() -> Path:
    """The default input of the notebook tools: the repository's ``notebooks/`` in a clone,
    else the learner copies that the installed package carries (``course_utils/data/notebooks``)."""
    try:
        return source_notebooks_dir()
    except FileNotFoundError:
        return learner_notebooks_dir()


def find_notebooks(paths: list[Path] | None = None) -> list[Path]:
    """The notebooks named by ``paths`` (files, or folders searched recursively), sorted.

    With no paths, every notebook of ``notebooks/``. Jupyter's ``.ipynb_checkpoints`` copies are
    skipped: they are autosaves, not course material.
    """
    found: list[Path] = []
    for path in paths or [notebooks_dir()]:
        path = Path(path)
        if path.is_dir():
            found += [p for p in path.rglob(f"*{NOTEBOOK_SUFFIX}") if ".ipynb_checkpoints" not in p.parts]
        elif path.suffix == NOTEBOOK_SUFFIX and path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: not a notebook (.ipynb) or a folder of notebooks")
    return sorted(dict.fromkeys(p.resolve() for p in found))


def display_name(notebook: Path) -> str:
    """A notebook's name as the instructor knows it: relative to ``notebooks/`` (or to the learner
    copies' folder) when inside it."""
    notebook = notebook.resolve()
    for folder in (repo_root() / "notebooks", learner_notebooks_dir()):
        if notebook.is_relative_to(folder.resolve()):
            return notebook.relative_to(folder.resolve()).as_posix()
    return notebook.name
