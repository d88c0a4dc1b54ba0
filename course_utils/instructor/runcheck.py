"""The run check: execute every notebook headless, as a class of a given size would, and report.

Each notebook runs in a fresh kernel (``kernel.py``) with ``$COURSE_UTILS_SIZE`` set to the size
checked, so its parameters cell picks that size's settings (``settings.pick``). A learner copy (``course-utils
notebooks``) runs as a learner who has not done its exercises: their stubs and check cells may fail. The result is a
table of notebook, pass/fail, code cells run, claims held and not met and wall time, with the first
error line of each failure, and under each notebook the claims it stated (``course_utils.claims``):
measured, expected, held or not::

    notebook              result    cells  held  not met     time  error
    00_start_here.ipynb   pass        7/7     0        0    14.2s
    ch04/01_base_vs_i...  pass      27/27     9        0    61.0s
      claim base_vs_tuned.tuned.customer_and_product: measured 0.98, expected at least 0.8: holds
    ch02/03_decoding...   FAIL       7/25     0        0     3.1s  cell 7: ZeroDivisionError: division by zero

Extra variables for the kernels (``env``) turn on smoke mode and point them at stand-in models
(``course-utils check --smoke``, ``--stand-in``).
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from course_utils.claims import Claim, read_claims
from course_utils.instructor import display_name, find_notebooks, kernel, notebooks_dir

CHAPTERS = ("ch02", "ch04")


@dataclass(frozen=True)
class NotebookRun:
    """One notebook's run: whether it passed, how long it took, and the first error if not."""

    notebook: Path
    seconds: float
    error: str | None = None
    claims: tuple[Claim, ...] = ()
    cells_run: int = 0
    code_cells: int = 0

    @property
    def passed(self) -> bool:
        return self.error is None


def chapter_notebooks(chapter: str) -> list[Path]:
    """The notebooks of one chapter (``notebooks/ch04/*.ipynb``); an error if there are none yet."""
    if chapter not in CHAPTERS:
        raise ValueError(f"chapter must be one of {list(CHAPTERS)}, got {chapter!r}")
    folder = notebooks_dir() / chapter
    notebooks = find_notebooks([folder]) if folder.is_dir() else []
    if not notebooks:
        raise FileNotFoundError(f"{folder}: no notebooks of {chapter} yet")
    return notebooks


def run_one(path: Path, size: str, timeout: int = kernel.DEFAULT_TIMEOUT_S,
            env: Mapping[str, str] | None = None) -> NotebookRun:
    """Execute one notebook in its own folder and kernel, with ``env`` added to the kernel's
    environment; any failure becomes a one-line error."""
    import nbformat

    started = time.perf_counter()
    nb = None
    with tempfile.TemporaryDirectory(prefix="course-utils-claims-") as folder:
        log = Path(folder) / "claims.jsonl"
        try:
            nb = nbformat.read(path, as_version=4)
            error = kernel.run_notebook(nb, path.parent, size, timeout, leave_exercises=True, claims_log=log, env=env)
            message = None if error is None else str(error)
        except Exception as err:  # a notebook that cannot be read or a kernel that cannot start
            message = f"{type(err).__name__}: {kernel.first_line(str(err))}"
        stated = tuple(read_claims(log)) if log.exists() else ()
    code_cells = 0 if nb is None else sum(cell.cell_type == "code" for cell in nb.cells)
    ran = 0 if nb is None else kernel.cells_run(nb)
    return NotebookRun(path, time.perf_counter() - started, message, stated, ran, code_cells)


def run_all(notebooks: list[Path], size: str, timeout: int = kernel.DEFAULT_TIMEOUT_S,
            progress: Callable[[str], None] | None = None, env: Mapping[str, str] | None = None) -> list[NotebookRun]:
    """Run the notebooks one after the other (two at once would only compete for the cores)."""
    runs = []
    for path in notebooks:
        if progress:
            progress(f"running {display_name(path)} (size {size}) ...")
        runs.append(run_one(path, size, timeout, env))
    return runs


def table(runs: list[NotebookRun], size: str, claim_lines: bool = True) -> str:
    """The report: one line per notebook (cells run, claims held and not met, seconds, the first error),
    each notebook's claims under it unless ``claim_lines`` is False, then a summary line."""
    names = [display_name(run.notebook) for run in runs]
    width = max([len("notebook"), *map(len, names)])
    lines = [f"{'notebook':<{width}}  result  {'cells':>7}  held  not met  {'time':>7}  error"]
    for name, run in zip(names, runs):
        result = "pass" if run.passed else "FAIL"
        held = sum(claim.held for claim in run.claims)
        cells = f"{run.cells_run}/{run.code_cells}"
        lines.append(f"{name:<{width}}  {result:<6}  {cells:>7}  {held:>4}  {len(run.claims) - held:>7}  "
                     f"{run.seconds:>6.1f}s  {run.error or ''}".rstrip())
        if claim_lines:
            lines.extend(f"  {claim.line()}" for claim in run.claims)
    failed = sum(not run.passed for run in runs)
    stated = [claim for run in runs for claim in run.claims]
    not_met = sum(not claim.held for claim in stated)
    total = sum(run.seconds for run in runs)
    lines.append(f"{len(runs)} notebooks, {failed} failed; {len(stated)} claims, {not_met} not met; "
                 f"size {size}, {total:.0f} s in all")
    return "\n".join(lines)
