"""Running a notebook's cells headless in a fresh kernel, as a learner's machine would.

Both the run check and the student build's check use it. Each notebook gets its own kernel
(nothing left over from another notebook can make it pass), started in the notebook's folder,
with the class's run size in ``$COURSE_UTILS_SIZE`` and quiz progress written to a throw-away
file, so a check never touches the instructor's own ``~/.course_utils/progress.json``.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, Iterator

from course_utils import claims, settings
from course_utils.instructor import markers

if TYPE_CHECKING:
    from nbclient import NotebookClient
    from nbformat import NotebookNode

DEFAULT_TIMEOUT_S = 600  # per cell: a CPU-sized training cell takes a few minutes at most


@dataclass(frozen=True)
class CellError:
    """Where a run stopped and why, in one line: ``cell 5: ZeroDivisionError: division by zero``."""

    cell: int  # 1-based position among all cells, as an instructor counts them in the notebook
    ename: str
    message: str

    def __str__(self) -> str:
        return f"cell {self.cell}: {self.message}"


def kernel_env(size: str, progress_dir: Path, claims_log: Path | None = None,
               extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The kernel's environment: ours, plus the run size, a private quiz progress file, if given the
    file the notebook's claims are written to (``course_utils.claims``), and any ``extra`` variables
    (smoke mode, a cache of stand-in models)."""
    if size not in settings.SIZES:
        raise ValueError(f"run size must be one of {list(settings.SIZES)}, got {size!r}")
    env = dict(os.environ)
    env[settings.ENV_VAR] = size
    env["COURSE_UTILS_PROGRESS"] = str(progress_dir / "progress.json")
    env.pop(claims.ENV_VAR, None)
    if claims_log is not None:
        env[claims.ENV_VAR] = str(claims_log)
    return env | dict(extra or {})


@contextmanager
def fresh_kernel(nb: NotebookNode, folder: Path, size: str, timeout: int = DEFAULT_TIMEOUT_S,
                 claims_log: Path | None = None,
                 env: Mapping[str, str] | None = None) -> Iterator[Callable[[int], CellError | None]]:
    """Start a kernel for ``nb`` and yield ``run(index)``, which executes one cell in it.

    ``run`` returns None when the cell ran (an error in a cell tagged ``raises-exception`` counts
    as ran, as in nbclient) or a :class:`CellError`. The kernel is shut down on leaving.
    """
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=timeout, resources={"metadata": {"path": str(folder)}})
    with tempfile.TemporaryDirectory(prefix="course-utils-check-") as progress_dir:
        with client.setup_kernel(env=kernel_env(size, Path(progress_dir), claims_log, env)):
            yield lambda index: _run_cell(client, nb, index, timeout)


def _run_cell(client: NotebookClient, nb: NotebookNode, index: int, timeout: int) -> CellError | None:
    """Execute cell ``index`` and turn nbclient's exceptions into a one-line :class:`CellError`."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    try:
        client.execute_cell(nb.cells[index], index)
    except CellExecutionError as err:
        return _error(index, err.ename, err.evalue)
    except CellTimeoutError:
        return CellError(index + 1, "Timeout", f"no result after {timeout} s (raise it with --timeout)")
    except DeadKernelError:
        return CellError(index + 1, "DeadKernel", "the kernel died (out of memory?)")
    return None


def cells_run(nb: NotebookNode) -> int:
    """How many of ``nb``'s code cells were executed (nbclient numbers each one it runs)."""
    return sum(cell.cell_type == "code" and cell.get("execution_count") is not None for cell in nb.cells)


def error_in_outputs(nb: NotebookNode, index: int) -> CellError | None:
    """The error cell ``index`` shows in its outputs, if any (for cells allowed to raise)."""
    for output in nb.cells[index].get("outputs", []):
        if output.get("output_type") == "error":
            return _error(index, output.get("ename", "Error"), output.get("evalue", ""))
    return None


def _error(index: int, ename: str, evalue: str) -> CellError:
    """``NameError: name 'x' is not defined`` at cell ``index + 1``."""
    message = f"{ename}: {first_line(evalue)}" if first_line(evalue) else ename
    return CellError(index + 1, ename, message)


def run_notebook(nb: NotebookNode, folder: Path, size: str, timeout: int = DEFAULT_TIMEOUT_S,
                 stop_before: int | None = None, leave_exercises: bool = False,
                 claims_log: Path | None = None, env: Mapping[str, str] | None = None) -> CellError | None:
    """Execute ``nb``'s code cells in order (up to ``stop_before``); the first error, or None.

    With ``leave_exercises`` a learner copy runs as a learner who has not done the exercises yet:
    an exercise stub that raises its ``NotImplementedError``, and the nbgrader check cells after
    it, do not count as errors. The notebook's claims go to ``claims_log`` when it is given, and
    ``env`` adds variables to the kernel's environment.
    """
    end = len(nb.cells) if stop_before is None else stop_before
    exercise_open = False  # an exercise stub was run and left unanswered
    with fresh_kernel(nb, folder, size, timeout, claims_log, env) as run:
        for index in range(end):
            cell = nb.cells[index]
            if cell.cell_type != "code" or (error := run(index)) is None:
                continue
            if not leave_exercises:
                return error
            if markers.is_stub_cell(cell) and error.ename == markers.STUB_ERROR:
                exercise_open = True
            elif not (exercise_open and markers.is_check_cell(cell)):
                return error
    return None


def learner_noise(outputs: Sequence[Mapping[str, Any]]) -> str | None:
    """The first of a cell's outputs that the learner did not ask for, in words: a stderr stream or
    a library's warning (a printed text holding "Warning"); None when the cell is clean. HTML and
    scripts are not read: a chart carries plotly.js, whose code names warnings of its own."""
    for out in outputs:
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            return f"stderr: {first_line(str(out.get('text', '')))!r}"
        texts = [str(out.get("text", "")), str(out.get("data", {}).get("text/plain", ""))]
        warned = next((t for t in texts if "Warning" in t), None)
        if warned is not None:
            return f"a warning: {warned[max(0, warned.index('Warning') - 80):][:200]!r}"
    return None


def first_line(text: str) -> str:
    """The first non-empty line of an error message: what fits in a table."""
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")
