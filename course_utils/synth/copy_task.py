"""Copy rows: random token spans shown twice, the drill that teaches a small model to look back.

A model that predicts a name when it recurs in a document needs an *induction head*: attention
that finds the earlier place where the current token stood and copies the token that followed it.
On the workbook's corpus a model of tiny-base's size does not grow one within any affordable run
(measured: 22,000 steps on one CPU thread, and still none). Rows in which a random span of tokens
is followed by the same span again leave nothing to predict but by copying, and grow the head
within a few hundred steps; mixed into pre-training afterwards they keep it alive.

A row is ``<s> span span <s> span' span' ...``: only the second showing of each span is a
target, so the model is never trained to guess random tokens.
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from course_utils.train import IGNORE, Batch


@dataclass(frozen=True)
class CopyDrill:
    """How a pre-training run uses copy rows: a warm-up on them alone, then a few in every text batch."""

    warmup_steps: int = 1500  # optimizer steps on copy rows alone, before any text
    warmup_batch_size: int = 16  # copy rows per warm-up step
    warmup_length: int = 128  # tokens per warm-up row
    warmup_learning_rate: float = 3e-3  # constant after the ramp
    ramp_steps: int = 30  # warm-up steps whose learning rate climbs from 0 to warmup_learning_rate
    rows_per_text_batch: int = 2  # copy rows appended to every pre-training batch afterwards
    span: tuple[int, int] = (2, 16)  # shortest and longest span, in tokens


def copyable_tokens(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Every token id except the special ones: what a copy span is drawn from."""
    special = set(tokenizer.all_special_ids)
    return sorted(i for i in tokenizer.get_vocab().values() if i not in special)


def copy_row(rng: random.Random, tokens: Sequence[int], length: int, span: tuple[int, int],
             start_id: int) -> tuple[list[int], list[int]]:
    """One row of ``length`` ids and its labels: spans of ``span[0]..span[1]`` random tokens, each shown twice."""
    ids: list[int] = []
    labels: list[int] = []
    while len(ids) < length:
        shown = rng.choices(tokens, k=rng.randint(*span))
        ids += [start_id, *shown, *shown]
        labels += [IGNORE] * (1 + len(shown)) + shown
    return ids[:length], labels[:length]


def copy_rows(tokenizer: PreTrainedTokenizerBase, n_rows: int, length: int, span: tuple[int, int] = (2, 16),
              seed: int = 0) -> Batch:
    """``n_rows`` copy rows as one batch (``input_ids`` and ``labels``), reproducible from ``seed``."""
    if tokenizer.bos_token_id is None:
        raise ValueError("copy_rows: the tokenizer has no <s> (BOS) token to open each span")
    rng = random.Random(seed)
    tokens = copyable_tokens(tokenizer)
    rows = [copy_row(rng, tokens, length, span, tokenizer.bos_token_id) for _ in range(n_rows)]
    return {"input_ids": torch.tensor([r[0] for r in rows]), "labels": torch.tensor([r[1] for r in rows])}


def copy_batches(tokenizer: PreTrainedTokenizerBase, n_batches: int, batch_size: int, length: int,
                 span: tuple[int, int] = (2, 16), seed: int = 0) -> list[Batch]:
    """Batches of copy rows only: the warm-up before a model reads real text."""
    return [copy_rows(tokenizer, batch_size, length, span, seed=seed * 1_000_003 + i) for i in range(n_batches)]


def with_copy_rows(batches: Sequence[Batch], tokenizer: PreTrainedTokenizerBase, rows_per_batch: int,
                   span: tuple[int, int] = (2, 16), seed: int = 0) -> list[Batch]:
    """Each language-model batch with ``rows_per_batch`` copy rows of the same length appended."""
    mixed = []
    for i, batch in enumerate(batches):
        extra = copy_rows(tokenizer, rows_per_batch, batch["input_ids"].shape[1], span, seed=seed * 1_000_003 + i)
        mixed.append({key: torch.cat([batch[key], extra[key]]) for key in ("input_ids", "labels")})
    return mixed

