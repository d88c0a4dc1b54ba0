"""Turning rows of data into training batches for supervised fine-tuning.

SFT trains on (prompt, response) pairs with one objective: the mean negative log-likelihood of
the response tokens given the prompt. Everything here serves that objective:

1. ``to_messages``: a row in any common format (prompt/completion, chat ``messages``,
   instruction/input/output, plain ``text``) becomes a conversation;
2. ``tokenize_conversation``: the conversation is rendered by the tokenizer's chat template and
   every token gets a label: its own id where it is part of an assistant's response (the
   response's end-of-turn token included, so the model learns to stop), -100 elsewhere;
3. ``prepare``: every row, with truncation that keeps the prompt's start, and a report of the
   rows dropped and why;
4. ``padded_batches`` or ``packed_batches``: examples into batches.

``as_formats`` writes one pair in each format and ``token_stats`` measures a data set in the
tokens ``prepare`` makes of it. Pre-training reads raw documents instead (``course_utils.pretrain``).
"""
from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from transformers import PreTrainedTokenizerBase

from course_utils.shipped import prompt_text, read_jsonl
from course_utils.train import IGNORE, Batch

Messages = list[dict[str, str]]


class DataError(ValueError):
    """A row that cannot be used, named by where it came from and which field is wrong."""


# -- 1. rows to conversations -----------------------------------------------------------------
FORMATS = {
    "messages": "a chat: {'messages': [{'role': 'user', 'content': ...}, {'role': 'assistant', ...}]}",
    "prompt_completion": "{'prompt': ..., 'completion': ...} (strings, or lists of chat messages)",
    "alpaca": "{'instruction': ..., 'input': ... (optional), 'output': ...}",
    "text": "{'text': ...}: plain text for pre-training, every token a target",
}


def row_format(row: Any, where: str) -> str:
    """Which of ``FORMATS`` a row is in, told by its fields."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a dict of fields, got {type(row).__name__}")
    for name, keys in [("messages", {"messages"}), ("prompt_completion", {"prompt", "completion"}),
                       ("alpaca", {"instruction", "output"}), ("text", {"text"})]:
        if keys <= row.keys():
            return name
    known = "; ".join(FORMATS.values())
    raise DataError(f"{where}: no known format in fields {sorted(row)}; expected one of: {known}")


def _text_field(row: dict, key: str, where: str, required: bool = True) -> str:
    value = row.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise DataError(f"{where}: field {key!r} must be a string, got {type(value).__name__}")
    return value


def _check_messages(messages: Any, where: str, key: str) -> Messages:
    if not isinstance(messages, list) or not messages:
        raise DataError(f"{where}: field {key!r} must be a non-empty list of messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise DataError(f"{where}: {key}[{i}] must be a dict with string 'role' and 'content'")
    return messages


def to_messages(row: dict, where: str = "row") -> Messages:
    """The conversation a row stands for (not used for ``text`` rows)."""
    kind = row_format(row, where)
    if kind == "messages":
        return _check_messages(row["messages"], where, "messages")
    if kind == "prompt_completion":
        prompt, completion = row["prompt"], row["completion"]
        if isinstance(prompt, list) or isinstance(completion, list):
            return _check_messages(prompt, where, "prompt") + _check_messages(completion, where, "completion")
        return [{"role": "user", "content": _text_field(row, "prompt", where)},
                {"role": "assistant", "content": _text_field(row, "completion", where)}]
    if kind == "alpaca":
        instruction = _text_field(row, "instruction", where)
        extra = _text_field(row, "input", where, required=False)
        user = f"{instruction}\n\n{extra}" if extra else instruction
        return [{"role": "user", "content": user}, {"role": "assistant", "content": _text_field(row, "output", where)}]
    raise DataError(f"{where}: a 'text' row has no conversation; use tokenize_text")


def to_trl(rows: Sequence[dict]) -> list[dict]:
    """Rows in TRL's conversational prompt/completion format: what ``SFTTrainer`` reads for the same
    pairs (the last turn is the completion)."""
    conversations = [to_messages(row, f"row {i}") for i, row in enumerate(rows)]
    return [{"prompt": turns[:-1], "completion": turns[-1:]} for turns in conversations]


def as_formats(row: dict) -> dict[str, dict]:
    """One instruction pair (instruction, input, output) written in each conversation format of
    ``FORMATS``, simplest first: data sets store the same pair in any of these shapes."""
    user = prompt_text(row)
    return {
        "prompt_completion": {"prompt": user, "completion": row["output"]},
        "alpaca": {"instruction": row["instruction"], "input": row.get("input", ""), "output": row["output"]},
        "messages": {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": row["output"]}]},
    }


def row_preview(row: Any, width: int = 60) -> str:
    """A row as one line of JSON with every string cut to ``width`` characters: its format at a glance."""
    def cut(value: Any) -> Any:
        if isinstance(value, str):
            return value if len(value) <= width else value[:width] + "..."
        if isinstance(value, dict):
            return {key: cut(v) for key, v in value.items()}
        return [cut(v) for v in value] if isinstance(value, list) else value
    return json.dumps(cut(row))


# -- 2. conversations to tokens and labels ------------------------------------------------------
@dataclass
class Example:
    """One tokenised training example: labels equal input_ids on targets and -100 elsewhere."""

    input_ids: list[int]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def n_targets(self) -> int:
        return sum(label != IGNORE for label in self.labels)


def _render(tokenizer: PreTrainedTokenizerBase, messages: Messages, generation_prompt: bool) -> list[int]:
    ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=generation_prompt)
    return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)


def tokenize_conversation(tokenizer: PreTrainedTokenizerBase, messages: Messages, where: str = "row") -> Example:
    """Token ids of the rendered chat, with every assistant response (and its end-of-turn) as target.

    The chat template is applied to growing prefixes of the conversation: the tokens between
    "everything before this answer, plus the assistant header" and "everything up to and
    including this answer" are the answer's. The template adds BOS itself; nothing else does.
    """
    if tokenizer.chat_template is None:
        raise DataError(f"{where}: the tokenizer has no chat template; set tokenizer.chat_template first")
    full = _render(tokenizer, messages, generation_prompt=False)
    labels = [IGNORE] * len(full)
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = _render(tokenizer, messages[:i], generation_prompt=True)
        upto = full if i == len(messages) - 1 else _render(tokenizer, messages[: i + 1], generation_prompt=False)
        if upto[: len(before)] != before or full[: len(upto)] != upto:
            raise DataError(f"{where}: the chat template renders prefixes differently; cannot locate the answer")
        labels[len(before):len(upto)] = upto[len(before):]
    return Example(full, labels)


def tokenize_text(tokenizer: PreTrainedTokenizerBase, text: str) -> Example:
    """``<s> text </s>`` with every token after BOS as target, for pre-training rows."""
    ids = tokenizer(text, add_special_tokens=True)["input_ids"] + [tokenizer.eos_token_id]
    labels = [IGNORE if t == tokenizer.bos_token_id else t for t in ids]
    return Example(ids, labels)


# -- 3. many rows, with truncation and a report -----------------------------------------------
@dataclass
class PrepReport:
    """What ``prepare`` did: rows kept, rows truncated, rows dropped by reason."""

    kept: int = 0
    truncated: int = 0
    dropped: Counter = field(default_factory=Counter)

    def __str__(self) -> str:
        why = ", ".join(f"{n} {reason}" for reason, n in self.dropped.items()) or "none"
        return f"{self.kept} examples kept ({self.truncated} truncated); dropped: {why}"


def _rows_with_places(rows: Any) -> Iterable[tuple[dict, str]]:
    """Rows with a name for each: 'FILE, line N' for JSONL files, 'row i' otherwise."""
    if isinstance(rows, (str, Path)):
        path = Path(rows)
        yield from ((row, f"{path.name}, row {i}") for i, row in enumerate(read_jsonl(path), start=1))
        return
    yield from ((row, f"row {i}") for i, row in enumerate(rows))


def prepare(
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[dict] | str | Path | Any,
    max_length: int | None = 512,
    verbose: bool = True,
) -> tuple[list[Example], PrepReport]:
    """Tokenise rows (a list, a JSONL path or a ``datasets.Dataset``) into examples.

    A row whose fields are missing or of the wrong type raises a ``DataError`` naming the row
    and the field. A row whose response is empty, or which has no target token left after
    cutting it to ``max_length`` (the prompt's start is kept; None cuts nothing), is dropped and counted.
    """
    examples, report = [], PrepReport()
    for row, where in _rows_with_places(rows):
        if row_format(row, where) == "text":
            text = _text_field(row, "text", where)
            if not text.strip():
                report.dropped["empty text"] += 1
                continue
            example = tokenize_text(tokenizer, text)
        else:
            messages = to_messages(row, where)
            if not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
                report.dropped["empty response"] += 1
                continue
            example = tokenize_conversation(tokenizer, messages, where)
        if max_length is not None and len(example) > max_length:
            example = Example(example.input_ids[:max_length], example.labels[:max_length])
            report.truncated += 1
            if example.n_targets == 0:
                report.dropped[f"prompt fills all {max_length} tokens"] += 1
                continue
        examples.append(example)
        report.kept += 1
    if verbose:
        print(f"prepare: {report}")
    return examples, report


def token_stats(tokenizer: PreTrainedTokenizerBase, rows: Sequence[dict]) -> pd.Series:
    """The size of a data set in the tokens training reads: its examples, their tokens, how many of
    those are targets, and the targets' share (ratios rounded for reading), one row per measure.

    Every row is prepared as for training, uncut, so pre-training documents (``text`` rows, every
    token but BOS a target) and instruction pairs (only the response is a target) are measured alike.
    The counts stay whole numbers, also in a table of several sets.
    """
    examples, _ = prepare(tokenizer, rows, max_length=None, verbose=False)
    if not examples:
        raise ValueError(f"token_stats: none of the {len(rows)} rows gives an example to measure")
    tokens, targets = sum(len(e) for e in examples), sum(e.n_targets for e in examples)
    measures = {"examples": len(examples), "tokens": tokens, "tokens per example": round(tokens / len(examples), 1),
                "target tokens": targets, "share of tokens that are targets": round(targets / tokens, 3)}
    return pd.Series(measures, dtype=object)


# -- 4. examples to batches ---------------------------------------------------------------------
def collate_padded(examples: Sequence[Example], pad_token_id: int) -> Batch:
    """Right-pad to the longest example; padding is masked out of attention and loss."""
    width = max(len(e) for e in examples)
    input_ids = torch.full((len(examples), width), pad_token_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        input_ids[i, : len(e)] = torch.tensor(e.input_ids)
        labels[i, : len(e)] = torch.tensor(e.labels)
        attention_mask[i, : len(e)] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}


def padded_batches(
    examples: Sequence[Example], batch_size: int, pad_token_id: int, seed: int = 0, group_by_length: bool = True,
) -> list[Batch]:
    """Shuffled batches; with length grouping, rows of similar length share a batch to save padding.

    Grouping sorts within windows of 50 batches, then shuffles the batches, so each pass
    still mixes lengths and tasks.
    """
    order = list(range(len(examples)))
    rng = random.Random(seed)
    rng.shuffle(order)
    if group_by_length:
        window = batch_size * 50
        order = [i for s in range(0, len(order), window)
                 for i in sorted(order[s:s + window], key=lambda i: len(examples[i]), reverse=True)]
    batches = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return [collate_padded([examples[i] for i in b], pad_token_id) for b in batches]


def pack_best_fit(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Indices grouped into bins of at most ``capacity`` tokens: longest first, each into the fullest bin it fits."""
    bins: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True):
        if lengths[i] > capacity:
            raise ValueError(f"example {i} has {lengths[i]} tokens, more than a packed row of {capacity}")
        fits = [b for b in range(len(bins)) if room[b] >= lengths[i]]
        if fits:
            b = min(fits, key=lambda b: room[b])
            bins[b].append(i)
            room[b] -= lengths[i]
        else:
            bins.append([i])
            room.append(capacity - lengths[i])
    return bins


def collate_packed(examples: Sequence[Sequence[Example]], pad_token_id: int) -> Batch:
    """Rows of several examples each, with ``position_ids`` restarting at 0 per example and no attention mask.

    Without an attention mask, transformers reads the restarts in ``position_ids`` and lets each
    token attend only within its own example, as if the examples were in separate rows. That
    holds only with ``use_cache=False``: with a cache, the restarts are ignored.
    """
    width = max(sum(len(e) for e in row) for row in examples)
    input_ids = torch.full((len(examples), width), pad_token_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    position_ids = torch.zeros((len(examples), width), dtype=torch.long)
    for r, row in enumerate(examples):
        at = 0
        for e in row:
            n = len(e)
            input_ids[r, at:at + n] = torch.tensor(e.input_ids)
            labels[r, at:at + n] = torch.tensor(e.labels)
            position_ids[r, at:at + n] = torch.arange(n)
            at += n
        position_ids[r, at:] = torch.arange(width - at)  # the padding tail is one more "example"
    return {"input_ids": input_ids, "labels": labels, "position_ids": position_ids}


def packed_batches(
    examples: Sequence[Example], row_length: int, rows_per_batch: int, pad_token_id: int, seed: int = 0,
) -> list[Batch]:
    """Examples packed best-fit into rows of ``row_length`` tokens, ``rows_per_batch`` rows a batch."""
    bins = pack_best_fit([len(e) for e in examples], row_length)
    random.Random(seed).shuffle(bins)
    return [
        collate_packed([[examples[i] for i in b] for b in bins[s:s + rows_per_batch]], pad_token_id)
        for s in range(0, len(bins), rows_per_batch)
    ]
