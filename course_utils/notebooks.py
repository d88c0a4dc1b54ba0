"""The notebooks a learner gets with the package, and ``course-utils notebooks DEST`` that copies them out.

The package carries the student build of every chapter notebook (solutions stubbed, instructor
cells and outputs removed; see ``course_utils.instructor.student``) under ``data/notebooks``.
A learner who only ran ``pip install`` copies them into a folder of their own and opens them
there. Copying again (after an upgrade, say) adds what is missing and never replaces a notebook
the learner has changed without asking: the old copy is kept beside it as ``NAME.ipynb.bak``.
"""
from __future__ import annotations

import filecmp
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from course_utils.paths import learner_notebooks_dir


@dataclass
class CopyReport:
    """What a copy did to each notebook, by its path relative to the destination."""

    dest: Path
    copied: list[str] = field(default_factory=list)  # new in the destination
    unchanged: list[str] = field(default_factory=list)  # already there, byte for byte
    kept: list[str] = field(default_factory=list)  # the learner's changed copy, left as it was
    replaced: list[tuple[str, Path]] = field(default_factory=list)  # changed copy replaced, and its backup


def shipped_notebooks() -> list[str]:
    """The learner notebooks the package carries, as paths relative to their folder (``ch04/01_x.ipynb``)."""
    root = learner_notebooks_dir()
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.ipynb"))
    if not names:
        raise FileNotFoundError(f"{root}: this copy of the package carries no notebooks; reinstall it")
    return names


def copy_notebooks(dest: Path, ask: Callable[[Path], bool] | None = None, overwrite: bool = False) -> CopyReport:
    """Copy every shipped notebook into ``dest``, at the same relative paths.

    A notebook already in ``dest`` that differs from the shipped one (the learner's work) is
    replaced only if ``overwrite`` is set or ``ask(path)`` says yes, and then backed up first.
    """
    dest = Path(dest).expanduser()
    if dest.exists() and not dest.is_dir():
        raise NotADirectoryError(f"{dest} is a file; give a folder for the notebooks")
    report = CopyReport(dest)
    source = learner_notebooks_dir()
    for name in shipped_notebooks():
        target = dest / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / name, target)
            report.copied.append(name)
        elif filecmp.cmp(source / name, target, shallow=False):
            report.unchanged.append(name)
        elif overwrite or (ask is not None and ask(target)):
            backup = _free_backup_name(target)
            target.replace(backup)
            shutil.copyfile(source / name, target)
            report.replaced.append((name, backup))
        else:
            report.kept.append(name)
    return report


def _free_backup_name(path: Path) -> Path:
    """``NAME.ipynb.bak``, or ``NAME.ipynb.bak2``, ... if that is taken: no backup overwrites another."""
    backup, n = path.with_name(path.name + ".bak"), 1
    while backup.exists():
        n += 1
        backup = path.with_name(f"{path.name}.bak{n}")
    return backup
