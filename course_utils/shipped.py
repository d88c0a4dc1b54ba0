"""Reading the data the workbook ships: the pre-training corpus, the instruction splits and the
preference pairs, with what a reader of that data needs (the row schema, the task names, the
user's turn of a pair).

All of it lives under ``data/`` (installed as ``course_utils/data``) as JSON Lines, one
record a line; the corpus is gzipped. The data factory, ``course_utils.synth``, made it:
``python -m course_utils.synth.assets`` rebuilds it.
"""
from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NotRequired, TypedDict

from course_utils import smoke
from course_utils.paths import data_dir

MANIFEST = "MANIFEST.json"  # what the asset build ran, its timings and scorecards, and every file's SHA-256
CORPUS_SPLITS = ("train", "validation")
SFT_SPLITS = ("train", "validation", "test", "test_reworded", "train_flawed")
PREFERENCE_SPLITS = ("train", "test")

# The task types, in the order the splits list them. Training sees the first six; the last two
# appear only in validation and test, to measure how far instruction following carries.
TRAINING_TASKS = ("ticket_summary", "contract_summary", "qa", "urgency", "extract_json", "rewrite")
HELD_OUT_TASKS = ("sentiment", "contract_json")
TASKS = TRAINING_TASKS + HELD_OUT_TASKS

# The kinds of pre-training document that hold each task's kind of input: a ticket is also in the
# corpus as its exported record, and the encyclopedia articles QA reads are company, product and
# place pages, and FAQ pages (articles with readers' questions). Corpus rows name their "kind".
_TICKETS, _ARTICLES = ("ticket", "export"), ("company", "product", "place", "faq")
INPUT_KINDS: dict[str, tuple[str, ...]] = {
    "ticket_summary": _TICKETS, "urgency": _TICKETS, "extract_json": _TICKETS, "sentiment": _TICKETS,
    "rewrite": _TICKETS, "contract_summary": ("contract",), "contract_json": ("contract",), "qa": _ARTICLES,
}
WORDINGS = "wordings.json"  # in data/sft: each task's instruction wordings


@dataclass(frozen=True)
class Wordings:
    """The ways a task's instruction is worded: those the splits train and test on, and those kept
    back for ``test_reworded``."""

    instructions: tuple[str, ...]
    reworded: tuple[str, ...]


class InstructionRow(TypedDict):
    """One instruction pair as the splits ship it."""

    id: str  # "<split>-<task>-<number>"
    split: str
    task: str  # one of TASKS
    instruction: str
    input: str
    output: str  # the one right answer
    fields: dict  # the facts an answer is scored on (course_utils.evaluate)
    private: dict  # a customer's e-mail and phone: an answer that repeats them leaks them
    flaw: NotRequired[str]  # train_flawed only: wrong_fact, off_format, truncated or unsafe
    clean_id: NotRequired[str]  # train_flawed only: the id of the clean pair it was made from


def prompt_text(row: dict) -> str:
    """The user's turn of an instruction pair: the instruction, then its input."""
    return f"{row['instruction']}\n\n{row['input']}" if row.get("input") else row["instruction"]


def first_per_task(rows: Sequence[dict], n: int | None) -> list[dict]:
    """The first ``n`` rows of each task (all of them when ``n`` is None), tasks in order of appearance."""
    tasks = dict.fromkeys(r["task"] for r in rows)
    return [r for task in tasks for r in [x for x in rows if x["task"] == task][:n]]


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    """One JSON object a line; ``.gz`` paths are gzipped with a fixed timestamp so bytes repeat."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()
    if path.suffix == ".gz":
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as gz:
            gz.write(text)
        text = buffer.getvalue()
    path.write_bytes(text)


def read_jsonl(path: str | Path) -> list[dict]:
    """Rows of a (possibly gzipped) JSONL file; a bad line is reported with its file and number."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt", encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}, line {number}: not valid JSON ({err.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}, line {number}: expected a JSON object, got {type(row).__name__}")
            rows.append(row)
    return rows


def _check_split(split: str, known: Sequence[str], what: str) -> None:
    if split not in known:
        raise ValueError(f"unknown {what} split {split!r}; choose one of {list(known)}")


def load_corpus(split: str = "train") -> list[dict]:
    """Documents of the pre-training corpus: ``{"id", "kind", "text"}`` rows (the first few in smoke mode)."""
    _check_split(split, CORPUS_SPLITS, "corpus")
    documents = read_jsonl(data_dir() / "corpus" / f"{split}.jsonl.gz")
    return smoke.first(documents, smoke.DOCUMENTS if split == "train" else smoke.HELD_OUT_DOCUMENTS)


def load_instructions(split: str = "train", tasks: Sequence[str] | None = None) -> list[InstructionRow]:
    """Instruction pairs of a split (optionally only some task types), with their scoring fields."""
    _check_split(split, SFT_SPLITS, "instruction")
    rows = read_jsonl(data_dir() / "sft" / f"{split}.jsonl")
    return rows if tasks is None else [r for r in rows if r["task"] in tasks]


def load_preference_pairs(split: str = "train") -> list[dict]:
    """Formal-rewrite pairs whose ``chosen`` answer thanks the reader and ``rejected`` one does not.

    Each keeps an instruction row's fields and adds ``chosen`` and ``rejected``; no input repeats
    an input of the instruction splits or of the other preference split.
    """
    _check_split(split, PREFERENCE_SPLITS, "preference")
    return read_jsonl(data_dir() / "preference" / f"{split}.jsonl")


def load_manifest() -> dict:
    """The record of the asset build that made the shipped data and models (``data/MANIFEST.json``)."""
    return json.loads((data_dir() / MANIFEST).read_text())


def load_wordings() -> dict[str, Wordings]:
    """Each task's instruction wordings, by task name."""
    raw = json.loads((data_dir() / "sft" / WORDINGS).read_text())
    return {task: Wordings(tuple(w["instructions"]), tuple(w["reworded"])) for task, w in raw.items()}


def flawed_sets(task: str, flaws: Sequence[str]) -> dict[str, list[InstructionRow]]:
    """The training pairs of ``task`` that have a flawed copy of every kind in ``flaws`` (``train_flawed``),
    as ``{"clean": pairs}`` and one set per flaw: the same inputs, in the same order, in every set,
    so that training on each set differs only in the responses."""
    flawed = {(r["clean_id"], r["flaw"]): r for r in load_instructions("train_flawed", tasks=[task])}
    clean = [r for r in load_instructions("train", tasks=[task]) if all((r["id"], f) in flawed for f in flaws)]
    if not clean:
        raise ValueError(f"no {task} pair has a flawed copy of every kind in {list(flaws)}")
    return {"clean": clean} | {f: [flawed[(r["id"], f)] for r in clean] for f in flaws}


def contract_pair(text: str, term: str, cap: str, law: str) -> dict:
    """A contract-summary pair written by hand, in the shape of ``data/handwritten/contract_pairs.jsonl``:
    the summary is built from the fields, so it cannot contradict them."""
    return {"task": "contract_summary", "instruction": load_wordings()["contract_summary"].instructions[0],
            "input": text, "output": f"Term: {term}; liability cap: {cap}; governing law: {law}.",
            "fields": {"term": term, "liability_cap": cap, "governing_law": law}}


def load_handwritten(name: str) -> list[dict]:
    """Pairs written by hand for a notebook (``data/handwritten/<name>.jsonl``), in the instruction rows' shape."""
    folder = data_dir() / "handwritten"
    known = sorted(p.name.removesuffix(".jsonl") for p in folder.glob("*.jsonl"))
    if name not in known:
        raise ValueError(f"no hand-written set {name!r} in {folder}; choose one of {known}")
    return read_jsonl(folder / f"{name}.jsonl")
