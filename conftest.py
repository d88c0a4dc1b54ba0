"""Two rules for the notebooks that nbval runs: their wall times against the workbook's budget, and
no warning or stderr stream in any cell's output.

nbval reports every cell as a test, so pytest's own ``--durations`` lists cells; a learner and an
instructor care about whole notebooks, which the summary adds up. With ``$COURSE_UTILS_NOTEBOOK_TIMES``
set, the sums also go to that JSON file: the measurement behind the roadmap's times
(``python -m course_utils.roadmap FILE --note ...``).
"""
from __future__ import annotations

import json
import os
import platform
from collections import defaultdict
from pathlib import Path

import pytest

from course_utils.instructor.kernel import learner_noise

BUDGET_S = 240  # each notebook runs top to bottom in at most 4 minutes on two CPU cores

_seconds: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _seconds[path] += report.duration  # setup (kernel start), call and teardown


def pytest_terminal_summary(terminalreporter) -> None:
    if not _seconds:
        return
    terminalreporter.section("notebook wall times")
    for path, seconds in sorted(_seconds.items()):
        flag = "" if seconds <= BUDGET_S else f"  OVER the {BUDGET_S} s budget"
        terminalreporter.write_line(f"{seconds:7.1f} s  {path}{flag}")
    terminalreporter.write_line(f"{sum(_seconds.values()):7.1f} s  all notebooks")
    target = os.environ.get("COURSE_UTILS_NOTEBOOK_TIMES")
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text(json.dumps({
            "seconds": dict(sorted(_seconds.items())), "cpus": os.cpu_count(), "machine": platform.machine(),
            "threads": os.environ.get("COURSE_UTILS_THREADS", "default")}, indent=1) + "\n")
        terminalreporter.write_line(f"notebook times written to {target}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """Fail a notebook cell run by nbval whose output holds a warning or a stderr stream: every
    notebook output is meant for the learner, and library noise is fixed at its cause or silenced,
    by name, in the library."""
    result = yield
    noise = learner_noise(getattr(item, "test_outputs", None) or [])
    if noise:
        raise AssertionError(f"{item.nodeid}: the cell's output holds {noise}")
    return result
