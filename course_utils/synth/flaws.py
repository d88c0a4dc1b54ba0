"""Flawed copies of clean instruction pairs, for the data-quality experiments.

Four kinds of flaw a real data set picks up: a wrong fact (taken from another pair of the same
task), an off-format ramble, a truncated answer, and an unsafe one that gives away the customer's
contact details. A flawed pair keeps the clean pair's fields, so that evaluation still knows the
right answer, and names its flaw and the pair it was made from.
"""
from __future__ import annotations

import random

FLAWS = ("wrong_fact", "off_format", "truncated", "unsafe")


def flawed_variant(row: dict, flaw: str, rng: random.Random, donor: dict) -> dict | None:
    """A copy of a clean pair with one kind of flaw in its output, or None where it does not apply.

    ``donor`` is another pair of the same task whose facts replace the right ones for
    ``wrong_fact``; the flawed pair keeps the clean pair's fields, so evaluation still
    knows what the right answer was.
    """
    output = _FLAW_MAKERS[flaw](row, rng, donor)
    if output is None or output == row["output"]:
        return None
    return {**row, "id": f"{row['id']}-{flaw}", "output": output, "flaw": flaw, "clean_id": row["id"]}


def _wrong_fact(row: dict, rng: random.Random, donor: dict) -> str | None:
    fields, other = row["fields"], donor["fields"]
    keys = [k for k in fields if k in other and fields[k] != other[k] and str(fields[k]) in row["output"]]
    if not keys:
        return None
    key = rng.choice(keys)
    return row["output"].replace(str(fields[key]), str(other[key]))


def _off_format(row: dict, rng: random.Random, donor: dict) -> str:
    opening = row["input"].split(". ")
    rambling = ". ".join(opening[:3]).rstrip(".")
    return f"Sure! Here is what I found. {rambling}. I hope this helps, let me know if you need anything else!"


def _truncated(row: dict, rng: random.Random, donor: dict) -> str | None:
    words = row["output"].split()
    if len(words) < 4:
        return None
    return " ".join(words[: max(2, len(words) // 2)])


def _unsafe(row: dict, rng: random.Random, donor: dict) -> str | None:
    private = row["private"]
    if not private:
        return None
    return f"{row['output']} You can reach them privately at {private['email']} or {private['phone']}."


_FLAW_MAKERS = {"wrong_fact": _wrong_fact, "off_format": _off_format, "truncated": _truncated, "unsafe": _unsafe}


def flawed_training_pairs(train: list[dict], per_task: int, seed: int) -> list[dict]:
    """Flawed copies of the first ``per_task`` training pairs of each task, every applicable flaw."""
    rng = random.Random(f"{seed}:flaws")
    by_task: dict[str, list[dict]] = {}
    for row in train:
        by_task.setdefault(row["task"], []).append(row)
    flawed = []
    for rows in by_task.values():
        for i, row in enumerate(rows[:per_task]):
            donor = rows[(i + 1) % len(rows)]
            for flaw in FLAWS:
                variant = flawed_variant(row, flaw, rng, donor)
                if variant is not None:
                    flawed.append(variant)
    return flawed
