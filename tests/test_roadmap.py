"""The roadmap in 00_start_here: every notebook with what it shows, what it builds on and its measured time."""
from __future__ import annotations

import json

import nbformat

from course_utils import roadmap
from course_utils.paths import learner_notebooks_dir


def test_every_notebook_is_on_the_roadmap_and_builds_only_on_earlier_ones():
    stops = roadmap.stops()
    names = [s.notebook for s in stops]
    assert names == sorted(p.relative_to(learner_notebooks_dir()).as_posix()
                           for p in learner_notebooks_dir().rglob("*.ipynb"))
    for position, stop in enumerate(stops):
        assert len(stop.shows.split()) >= 6, f"{stop.notebook}: say what it shows"
        assert set(stop.builds_on) <= set(names[:position]), f"{stop.notebook} builds on a later notebook"
        assert stop.builds_on or position == 0


def test_every_notebook_has_a_time_measured_by_a_ci_run():
    measured = roadmap.measured_times()
    assert set(measured["seconds"]) == {s.notebook for s in roadmap.stops()}, \
        "run CI's nbval with $COURSE_UTILS_NOTEBOOK_TIMES and keep it: python -m course_utils.roadmap FILE --note ..."
    assert all(seconds > 0 for seconds in measured["seconds"].values())
    assert "commit" in measured["measured"] and "core" in measured["measured"]


def test_a_ci_measurement_becomes_the_shipped_times_and_the_table_says_minutes(tmp_path):
    run = tmp_path / "notebook-times.json"
    run.write_text(json.dumps({"seconds": {"notebooks/00_start_here.ipynb": 12.4,
                                           "notebooks/ch04/03_instruction_data.ipynb": 981.2}}))
    target = roadmap.write_times(run, "measured here, commit abc, 2 cores", tmp_path / "times.json")
    assert json.loads(target.read_text()) == {"measured": "measured here, commit abc, 2 cores",
                                              "seconds": {"00_start_here.ipynb": 12, "ch04/03_instruction_data.ipynb": 981}}
    assert [roadmap.minutes(s) for s in (12, 981, 150, None)] == ["under 1 min", "16 min", "2 min", "not measured yet"]


def test_start_here_shows_the_roadmap_before_the_parameters():
    nb = nbformat.read(learner_notebooks_dir() / "00_start_here.ipynb", as_version=4)
    sources = [cell.source for cell in nb.cells]
    shown = next(i for i, s in enumerate(sources) if "roadmap.styled()" in s)
    parameters = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    assert shown < parameters
    table = roadmap.table()
    assert list(table.columns) == ["title", "what it shows", "builds on", "time on a laptop CPU"]
    assert table.loc["ch04/02", "builds on"] == "ch04/01"


def test_the_roadmap_shows_every_text_whole_with_how_its_times_were_measured():
    html = roadmap.styled().to_html()
    for stop in roadmap.stops():
        assert stop.title in html and stop.shows in html, f"{stop.notebook}: cut short"
    assert roadmap.measured_times()["measured"] in html
