"""Reading the data the workbook ships: the pre-training corpus and the instruction splits.

All of it lives under ``data/`` (installed as ``course_utils/data``) as JSON Lines, one
record a line; the corpus is gzipped. ``python -m course_utils.assets`` rebuilds it.
"""
from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from course_utils.paths import data_dir

CORPUS_SPLITS = ("train", "validation")
SFT_SPLITS = ("train", "validation", "test", "test_reworded", "train_flawed")


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
    """Documents of the pre-training corpus: ``{"id", "kind", "text"}`` rows."""
    _check_split(split, CORPUS_SPLITS, "corpus")
    return read_jsonl(data_dir() / "corpus" / f"{split}.jsonl.gz")


def load_instructions(split: str = "train", tasks: Sequence[str] | None = None) -> list[dict]:
    """Instruction pairs of a split (optionally only some task types), with their scoring fields."""
    _check_split(split, SFT_SPLITS, "instruction")
    rows = read_jsonl(data_dir() / "sft" / f"{split}.jsonl")
    return rows if tasks is None else [r for r in rows if r["task"] in tasks]
