"""The workbook is written in its own words: no eight consecutive words of the course's concept page.

The course's page lives outside this repository (``../shared/seed/`` beside a checkout), and its
text must not be copied in. So ``tests/data/course_page_8grams.txt`` holds fingerprints instead: a
short hash of every run of eight words on the page, after the same normalisation that is applied
to the workbook's text (lower case, punctuation dropped, -ize spelt -ise). The test hashes every
run of eight words in the quiz banks, the notebooks, the README and the library, and fails on
any fingerprint they share, naming the file, the place and the words.

Refresh the fingerprints after the course page changes::

    python tests/test_own_words.py ../shared/seed/000_eb8bb2263da239d6.txt
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Iterator

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
FINGERPRINTS = ROOT / "tests" / "data" / "course_page_8grams.txt"
COURSE_PAGE = ROOT.parent / "shared" / "seed" / "000_eb8bb2263da239d6.txt"
RUN = 8  # words


def words(text: str) -> list[str]:
    """``text`` as a list of normalised words: case, punctuation and US/UK spelling do not hide a copy."""
    found = re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower().replace("\u2019", "'"))
    return [re.sub(r"iz(e|ed|es|ing|ation|ations)$", r"is\1", word) for word in found]


def fingerprint(run: list[str]) -> str:
    return hashlib.sha256(" ".join(run).encode()).hexdigest()[:16]


def runs(text: str) -> Iterator[tuple[str, list[str]]]:
    """(fingerprint, words) of every run of ``RUN`` consecutive words of ``text``."""
    found = words(text)
    for i in range(len(found) - RUN + 1):
        yield fingerprint(found[i:i + RUN]), found[i:i + RUN]


def course_fingerprints() -> set[str]:
    lines = FINGERPRINTS.read_text().splitlines()
    return {line for line in lines if line and not line.startswith("#")}


def bank_texts(path: Path) -> Iterator[tuple[str, str]]:
    """(place, text) of every string in a quiz bank, the place being the question id and field."""
    def walk(node, place: str) -> Iterator[tuple[str, str]]:
        if isinstance(node, str):
            yield place, node
        elif isinstance(node, dict):
            for key, value in node.items():
                yield from walk(value, f"{place}.{key}" if place else str(key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                name = value.get("id") if isinstance(value, dict) else None
                yield from walk(value, f"{place}[{name or i}]")

    yield from walk(yaml.safe_load(path.read_text(encoding="utf-8")), "")


def notebook_texts(path: Path) -> Iterator[tuple[str, str]]:
    for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"], 1):
        yield f"cell {i}", "".join(cell["source"])


def workbook_texts() -> Iterator[tuple[str, str, str]]:
    """(file, place, text) of everything a learner or instructor reads."""
    for folder in ("instructor/quizzes", "data/quizzes"):
        for path in sorted((ROOT / folder).glob("*.yaml")):
            for place, text in bank_texts(path):
                yield path.relative_to(ROOT).as_posix(), place, text
    for folder in ("notebooks", "data/notebooks", "instructor"):
        for path in sorted((ROOT / folder).rglob("*.ipynb")):
            for place, text in notebook_texts(path):
                yield path.relative_to(ROOT).as_posix(), place, text
    for path in [ROOT / "README.md", *sorted((ROOT / "course_utils").rglob("*.py"))]:
        yield path.relative_to(ROOT).as_posix(), "", path.read_text(encoding="utf-8")


def copied_runs(texts, known: set[str]) -> list[str]:
    return [f"{name} {place}: '{' '.join(run)}'"
            for name, place, text in texts for print_, run in runs(text) if print_ in known]


def test_the_check_finds_a_run_of_eight_words_through_case_punctuation_and_spelling():
    page = "Models are Summarized, in ONE sentence; by the team -- that built them."
    known = {print_ for print_, _ in runs(page)}
    copy = "Here the models are summarised in one sentence by the team that built them, twice."
    page_words = "models are summarised in one sentence by the team that built them".split()
    assert copied_runs([("q.yaml", "x.prompt", copy)], known) == [
        f"q.yaml x.prompt: '{' '.join(page_words[i:i + 8])}'" for i in range(5)]
    assert copied_runs([("q.yaml", "x.prompt", "models are summarised in one sentence by a team")], known) == []


def test_the_fingerprints_cover_the_whole_course_page():
    assert len(course_fingerprints()) > 600


def test_no_eight_words_of_the_course_page_appear_in_the_workbook():
    copies = copied_runs(workbook_texts(), course_fingerprints())
    assert copies == [], "write these in the project's own words:\n" + "\n".join(copies)


@pytest.mark.skipif(not COURSE_PAGE.exists(), reason="the course page is not beside this checkout")
def test_the_fingerprints_are_those_of_the_course_page():
    assert course_fingerprints() == {print_ for print_, _ in runs(COURSE_PAGE.read_text(encoding="utf-8"))}


def write_fingerprints(page: Path) -> None:
    prints = sorted({print_ for print_, _ in runs(page.read_text(encoding="utf-8"))})
    FINGERPRINTS.parent.mkdir(exist_ok=True)
    FINGERPRINTS.write_text(
        f"# Fingerprints of every run of {RUN} words of the course's concept page ({page.name}),\n"
        "# written by `python tests/test_own_words.py PAGE`; the page's text is not kept here.\n"
        + "\n".join(prints) + "\n")
    print(f"wrote {len(prints)} fingerprints to {FINGERPRINTS}")


if __name__ == "__main__":
    write_fingerprints(Path(sys.argv[1]))
