"""Smoke mode: every run cut to a few steps, so that a whole notebook runs through in a minute or two.

An instructor checks a class setup before a lesson (``course-utils check --smoke``), and CI rehearses
the ``t4`` and ``gpu`` sizes on a CPU with random stand-ins for the hub models (``--stand-in``).
Neither cares what the runs learn, only that every cell runs: the library cuts training runs, the
rows a fine-tuning run reads, generation and corpus reads here, in one place, so no notebook needs a
knob of its own. Smoke mode is on when ``$COURSE_UTILS_SMOKE`` is set to a number of training steps
(``1`` or more).

Results measured on runs this short are not the course's results, so in smoke mode a claim that does
not hold is reported and recorded (``course_utils.claims``) instead of stopping the notebook.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

ENV_VAR = "COURSE_UTILS_SMOKE"
DEFAULT_STEPS = 2  # what `course-utils check --smoke` sets: a step, and one more that uses the optimizer's state
NEW_TOKENS = 8  # tokens generated per answer: enough to pass every parsing and scoring path
DOCUMENTS = 120  # training documents read: enough for a tokenizer, a bigram table and a few batches of rows
HELD_OUT_DOCUMENTS = 40  # validation documents read: every one is scored, often by several models
ROWS = 64  # instruction rows a fine-tuning run reads: two steps' worth at the largest batch a notebook sets


def steps() -> int | None:
    """The optimizer steps every training run is cut to, or None when smoke mode is off."""
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"${ENV_VAR} must be a number of training steps (1 or more), got {value!r}")
    return int(value)


def on() -> bool:
    """Whether smoke mode is on."""
    return steps() is not None


def kernel_env() -> dict[str, str]:
    """The variable that turns smoke mode on, at the default step count, for a kernel started to check notebooks."""
    return {ENV_VAR: str(DEFAULT_STEPS)}


def first(items: Sequence[T], smoke_count: int) -> Sequence[T]:
    """``items``, or only the first ``smoke_count`` of them in smoke mode."""
    return items[:cap(len(items), smoke_count)]


def cap(value: int, smoke_value: int | None) -> int:
    """``value``, or at most ``smoke_value`` in smoke mode (None: the smoke step count)."""
    limit = steps()
    if limit is None:
        return value
    return min(value, limit if smoke_value is None else smoke_value)
