"""The workbook's way onto Colab: one install cell and one "Open in Colab" badge, the same in every notebook.

Both are built from what the repository says once: the distribution's name (``pyproject.toml``),
its version (``course_utils.__version__``) and the repository's address (``[project.urls]
Repository`` in ``pyproject.toml``). The install cell pins that release, so a notebook opened on
Colab gets the library it was written for; the badge opens the learner copy of the notebook
(``data/notebooks/...``, no solutions) at the release's tag ``v<version>``.

``python -m course_utils.instructor.colab`` writes both into every notebook of ``notebooks/``
and the badge into README; ``--check`` writes nothing and lists what differs. After writing,
rebuild the learner copies: ``course-utils student-build --out data/notebooks``.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import course_utils
from course_utils.instructor import find_notebooks, repo_root, source_notebooks_dir

if TYPE_CHECKING:
    from nbformat import NotebookNode

BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
LEARNER_COPIES = "data/notebooks"  # where the repository keeps the learner copies the badges open
INSTALL_FAILED = "failed, so this notebook stops here"  # after "Installing <requirement> "


@dataclass(frozen=True)
class Release:
    """What a learner installs: the distribution, its version, and the repository it comes from."""

    name: str
    version: str
    repository: str  # https://github.com/OWNER/REPO

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"

    def colab_url(self, notebook: str) -> str:
        """Colab's address of a learner notebook (``ch04/01_x.ipynb``) at this release's tag."""
        prefix = "https://github.com/"
        if not self.repository.startswith(prefix):
            raise ValueError(f"[project.urls] Repository must be a GitHub address for Colab, got {self.repository!r}")
        return (f"https://colab.research.google.com/github/{self.repository[len(prefix):].rstrip('/')}"
                f"/blob/v{self.version}/{LEARNER_COPIES}/{notebook}")


def release() -> Release:
    """The release described by the repository's ``pyproject.toml`` and ``course_utils.__version__``."""
    import tomllib  # Python 3.11+: this is an instructor tool, run from a clone of the repository

    path = repo_root() / "pyproject.toml"
    project = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
    repository = project.get("urls", {}).get("Repository")
    if not repository:
        raise ValueError(f"{path}: [project.urls] has no Repository address to build the Colab badges from")
    return Release(project["name"], course_utils.__version__, repository)


def install_cell(rel: Release) -> str:
    """The first code cell of every notebook: on Colab, install the pinned release or stop with a clear message."""
    return f'''# On Colab, install the workbook first (elsewhere this cell does nothing).
import subprocess, sys
WORKBOOK = "{rel.requirement}"
if "google.colab" in sys.modules:
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", WORKBOOK],
                         capture_output=True, text=True)
    if pip.returncode != 0:
        raise RuntimeError(f"Installing {{WORKBOOK}} {INSTALL_FAILED}.\\n"
                           f"{{pip.stderr[-1500:]}}\\n"
                           "Check the runtime's internet connection, then run this cell again.")
    print(f"installed {{WORKBOOK}}")'''


def badge(rel: Release, notebook: str) -> str:
    """The Markdown "Open in Colab" badge of one learner notebook."""
    return f"[![Open in Colab]({BADGE_IMAGE})]({rel.colab_url(notebook)})"


def with_badge(text: str, line: str) -> str:
    """``text`` (Markdown that opens with a ``# title`` line) with ``line`` as the badge just under the title."""
    lines = [old for old in text.split("\n") if BADGE_IMAGE not in old]
    if not lines or not lines[0].startswith("# "):
        raise ValueError("the text must open with a '# title' line to put the Colab badge under")
    rest = lines[1:]
    while rest and not rest[0].strip():
        rest.pop(0)
    return "\n".join([lines[0], "", line, "", *rest])


def apply(nb: NotebookNode, rel: Release, name: str) -> bool:
    """Put the badge and the install cell into ``nb`` (``name`` relative to ``notebooks/``); True if it changed.

    The install cell is the first code cell; a notebook without one gets it inserted there.
    """
    import nbformat

    title = nb.cells[0]
    if title.cell_type != "markdown":
        raise ValueError(f"{name}: the first cell must be the Markdown title for the Colab badge")
    before = nbformat.writes(nb)
    title.source = with_badge(title.source, badge(rel, name))
    first_code = next(i for i, cell in enumerate(nb.cells) if cell.cell_type == "code")
    if not is_install_cell(nb.cells[first_code]):
        nb.cells.insert(first_code, nbformat.v4.new_code_cell())
    nb.cells[first_code].source = install_cell(rel)
    return nbformat.writes(nb) != before


def is_install_cell(cell: NotebookNode) -> bool:
    """A code cell that installs the workbook on Colab (this release's cell, or an older one)."""
    return cell.cell_type == "code" and 'if "google.colab" in sys.modules' in cell.source


def main(argv: list[str] | None = None) -> int:
    import nbformat

    parser = argparse.ArgumentParser(description="Write the Colab badge and install cell into every notebook.")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if anything differs")
    args = parser.parse_args(argv)
    rel, root = release(), source_notebooks_dir()
    differ = []
    for path in find_notebooks([root]):
        nb = nbformat.read(path, as_version=4)
        if apply(nb, rel, path.relative_to(root).as_posix()):
            differ.append(path)
            if not args.check:
                nbformat.write(nb, path)
    readme = repo_root() / "README.md"
    text = readme.read_text(encoding="utf-8")
    new = with_badge(text, badge(rel, "00_start_here.ipynb"))
    if new != text:
        differ.append(readme)
        if not args.check:
            readme.write_text(new, encoding="utf-8")
    verb = "differ from" if args.check else "updated to"
    for path in differ:
        print(f"{path} {verb} {rel.requirement}, {rel.repository}")
    return 1 if args.check and differ else 0


if __name__ == "__main__":
    sys.exit(main())
