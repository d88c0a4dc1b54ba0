"""The workbook's roadmap: what each notebook shows, what it builds on, and how long it runs.

What a notebook shows and builds on sits in its own metadata (``course_utils.roadmap``), so the
roadmap cannot drift from the notebooks. How long each one runs is measured, not guessed: CI's
nbval run writes every notebook's wall time when ``$COURSE_UTILS_NOTEBOOK_TIMES`` names a file
(see the repository's ``conftest.py``), and ``python -m course_utils.roadmap TIMES.json`` copies
that measurement into ``data/notebook_times.json``, which ships with the package.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from course_utils.paths import data_dir, learner_notebooks_dir

TIMES_FILE = "notebook_times.json"


@dataclass(frozen=True)
class Stop:
    """One notebook on the roadmap."""

    notebook: str  # "ch04/01_base_vs_instruct.ipynb"
    title: str
    shows: str
    builds_on: tuple[str, ...]
    seconds: float | None  # measured by CI on a laptop-class CPU; None before the first measurement


def times_path() -> Path:
    return data_dir() / TIMES_FILE


def measured_times() -> dict:
    """The shipped measurement: ``{"measured": what and where, "seconds": {notebook: seconds}}``."""
    path = times_path()
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"measured": "", "seconds": {}}


def stops(folder: Path | None = None) -> list[Stop]:
    """Every notebook of ``folder`` (the learner copies by default) in course order.

    A notebook is read as plain JSON, not with ``nbformat``: the roadmap shows in ``00_start_here``
    of a learner's install, and ``nbformat`` comes only with the instructor and test extras."""
    folder = folder or learner_notebooks_dir()
    seconds = measured_times()["seconds"]
    found = []
    for path in sorted(folder.rglob("*.ipynb")):
        name = path.relative_to(folder).as_posix()
        nb = json.loads(path.read_text(encoding="utf-8"))
        meta = nb.get("metadata", {}).get("course_utils", {}).get("roadmap", {})
        first = "".join(nb["cells"][0]["source"]).splitlines()[0] if nb["cells"] else name
        found.append(Stop(name, first.lstrip("#").strip(), meta.get("shows", ""), tuple(meta.get("builds_on", ())),
                          seconds.get(name)))
    return found


def short_name(notebook: str) -> str:
    """``ch04/01_base_vs_instruct.ipynb`` -> ``ch04/01``, the way the notebooks refer to each other."""
    return notebook.split("_", 1)[0] if "/" in notebook else notebook.removesuffix(".ipynb")


def minutes(seconds: float | None) -> str:
    """A run time as a learner plans it: whole minutes, and never "0"."""
    if seconds is None:
        return "not measured yet"
    return "under 1 min" if seconds < 60 else f"{round(seconds / 60):.0f} min"


def table(folder: Path | None = None):
    """The roadmap as a pandas DataFrame, one row per notebook."""
    import pandas as pd  # imported here: only the displayed table needs pandas

    rows = [{"notebook": short_name(s.notebook), "title": s.title, "what it shows": s.shows,
             "builds on": ", ".join(short_name(b) for b in s.builds_on) or "-",
             "time on a laptop CPU": minutes(s.seconds)} for s in stops(folder)]
    return pd.DataFrame(rows).set_index("notebook")


def styled(folder: Path | None = None):
    """The roadmap as a learner reads it: every text whole and left-aligned (pandas cuts text at 50
    characters and right-aligns it), with how the times were measured as its caption."""
    return (table(folder).style
            .set_caption(f"Times: {measured_times()['measured'] or 'not measured yet'}")
            .set_properties(**{"text-align": "left", "vertical-align": "top"})
            .set_table_styles([{"selector": "th", "props": [("text-align", "left"), ("vertical-align", "top")]},
                               {"selector": "caption", "props": [("caption-side", "bottom"), ("text-align", "left")]}]))


def write_times(measurement: Path, note: str, target: Path | None = None) -> Path:
    """Keep the notebook times of one CI run (the file ``conftest.py`` writes) as the shipped ones."""
    run = json.loads(measurement.read_text(encoding="utf-8"))
    seconds = {name.split("notebooks/", 1)[-1]: round(value) for name, value in sorted(run["seconds"].items())}
    target = target or times_path()
    target.write_text(json.dumps({"measured": note, "seconds": seconds}, indent=1) + "\n", encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.roadmap", description=write_times.__doc__)
    parser.add_argument("measurement", type=Path, help="the JSON file a CI run wrote ($COURSE_UTILS_NOTEBOOK_TIMES)")
    parser.add_argument("--note", required=True, help="where and how it was measured, shown under the roadmap")
    args = parser.parse_args(argv)
    print(f"wrote {write_times(args.measurement, args.note)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
