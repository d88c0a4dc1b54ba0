"""Turning rows of data into training batches for supervised fine-tuning.

SFT trains on (prompt, response) pairs with one objective: the mean negative log-likelihood of
the response tokens given the prompt. Everything here serves that objective:

1. ``to_messages``: a row in any common format (``FORMATS``: prompt/completion, chat ``messages``,
   instruction/input/output, ShareGPT ``conversations``, plain ``text``) becomes a conversation;
2. ``tokenize_conversation``: the conversation is rendered by the tokenizer's chat template and
   every token gets a label: its own id where it is part of an assistant's response (the
   response's end-of-turn token included, so the model learns to stop), -100 elsewhere. What a
   message says is always text: a special-token string in the data (``</s>``, ``<|user|>``) is
   tokenised as the characters it is made of, never as a control token, so data cannot end a
   turn or open one;
3. ``prepare``: every row of a list, a ``datasets.Dataset``, or a file of JSON Lines or of one JSON
   array, with other column names mapped onto a format (``columns``), truncation that keeps the
   prompt's start, and a report of the rows dropped and why. A row that cannot be used raises a
   ``DataError`` naming its place (``row i``, ``FILE, line N``, ``FILE, item i``) and its field,
   or, with ``on_error="skip"``, is counted and skipped;
4. ``padded_batches`` or ``packed_batches``: examples into batches.

``as_formats`` writes one pair in each format and ``token_stats`` measures a data set in the
tokens ``prepare`` makes of it. Pre-training reads raw documents instead (``course_utils.pretrain``).
"""
from __future__ import annotations

import codecs
import gzip
import json
import random
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import torch
from transformers import PreTrainedTokenizerBase

from course_utils.shipped import prompt_text
from course_utils.train import IGNORE, Batch

Messages = list[dict[str, str]]


class DataError(ValueError):
    """A row that cannot be used, named by where it came from and which field is wrong."""


# -- 1. rows to conversations -----------------------------------------------------------------
FORMATS = {
    "messages": "a chat: {'messages': [{'role': 'user', 'content': ...}, {'role': 'assistant', ...}]}",
    "prompt_completion": "{'prompt': ..., 'completion': ...} (strings, or lists of chat messages)",
    "alpaca": "{'instruction': ..., 'input': ... (optional), 'output': ...}",
    "sharegpt": "{'conversations': [{'from': 'human', 'value': ...}, {'from': 'gpt', 'value': ...}]}",
    "text": "{'text': ...}: plain text for pre-training, every token a target",
}
FORMAT_FIELDS = {  # the fields that tell each format, in the order they are tried
    "messages": {"messages"}, "prompt_completion": {"prompt", "completion"}, "alpaca": {"instruction", "output"},
    "sharegpt": {"conversations"}, "text": {"text"},
}
# Every field some format reads: what ``prepare(..., columns=...)`` may map a data set's own names onto.
FIELDS = ("messages", "prompt", "completion", "instruction", "input", "output", "conversations", "text")
SHAREGPT_ROLES = {"human": "user", "gpt": "assistant", "system": "system", "user": "user", "assistant": "assistant"}
ROLE = re.compile(r"\w[\w-]*")  # a role is a name: the template writes it between its own markers

# Names public instruction sets give the two sides of a pair, and a chat: an unknown row's error
# suggests mapping them onto a format with ``prepare(..., columns=...)``.
PROMPT_NAMES = ("question", "query", "problem", "prompt", "input")
RESPONSE_NAMES = ("answer", "response", "solution", "output", "completion")
CHAT_NAMES = ("conversation", "dialog", "dialogue", "chat", "turns")


def _suggested_columns(row: dict, present: Sequence[str]) -> dict[str, str]:
    """A ``columns`` mapping that would put the row in one of ``FORMATS``, guessed from its field names."""
    chat = next((key for key in CHAT_NAMES if key in present), None)
    if chat:
        turns = row[chat]
        sharegpt = isinstance(turns, list) and bool(turns) and isinstance(turns[0], dict) and "from" in turns[0]
        return {chat: "conversations" if sharegpt else "messages"}
    prompt = next((key for key in PROMPT_NAMES if key in present), None)
    response = next((key for key in RESPONSE_NAMES if key in present), None)
    if "instruction" in present and response:
        return {response: "output"} | ({"context": "input"} if "context" in present else {})
    if prompt and response:
        return {key: name for key, name in ((prompt, "prompt"), (response, "completion")) if key != name}
    return {}


def _unknown_format(row: dict, where: str) -> DataError:
    present = sorted(key for key, value in row.items() if value is not None)
    nulls = sorted(key for key, value in row.items() if value is None)
    mapping = _suggested_columns(row, present)
    unfilled = next((sorted(keys - set(present)) for keys in FORMAT_FIELDS.values() if keys <= row.keys()), None)
    if mapping:
        hint = f"map them with prepare(..., columns={mapping})"
    elif unfilled:
        hint = f"give {unfilled} a value, or skip the row with prepare(..., on_error='skip')"
    else:
        hint = ("name your columns for a format with "
                "prepare(..., columns={'your_prompt': 'prompt', 'your_response': 'completion'})")
    null = f" (null: {nulls})" if nulls else ""
    return DataError(f"{where}: no known format in fields {present}{null}; {hint}; the formats: "
                     + "; ".join(FORMATS.values()))


def row_format(row: Any, where: str) -> str:
    """Which of ``FORMATS`` a row is in, told by its fields. A field holding None counts as absent:
    ``datasets`` fills the columns a row lacks with None."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a dict of fields, got {type(row).__name__}")
    present = {key for key, value in row.items() if value is not None}
    for name, keys in FORMAT_FIELDS.items():
        if keys <= present:
            return name
    raise _unknown_format(row, where)


def _checked_text(value: Any, where: str, name: str) -> str:
    """``value`` if it is text the tokenizer can read: a lone surrogate (half of an emoji, from a
    broken conversion) is not, and would fail deep inside the tokenizer."""
    if not isinstance(value, str):
        raise DataError(f"{where}: {name} must be a string, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise DataError(f"{where}: {name} holds a lone surrogate ({value[err.start]!r}), which is not text; "
                        "remove it, or write the data out again as UTF-8") from None
    return value


def _text_field(row: dict, key: str, where: str, required: bool = True) -> str:
    value = row.get(key)
    if value is None and not required:
        return ""
    return _checked_text(value, where, f"field {key!r}")


def _check_messages(messages: Any, where: str, key: str) -> Messages:
    if not isinstance(messages, list) or not messages:
        raise DataError(f"{where}: field {key!r} must be a non-empty list of messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise DataError(f"{where}: {key}[{i}] must be a dict with string 'role' and 'content'")
        if not ROLE.fullmatch(m["role"]):
            raise DataError(f"{where}: {key}[{i}]['role'] must be a name such as 'user' or 'assistant', "
                            f"got {m['role']!r}")
        _checked_text(m["content"], where, f"{key}[{i}]['content']")
    return messages


def _sharegpt_messages(turns: Any, where: str) -> Messages:
    """ShareGPT's turns (``{"from": "human" | "gpt" | "system", "value": ...}``) as chat messages."""
    if not isinstance(turns, list) or not turns:
        raise DataError(f"{where}: field 'conversations' must be a non-empty list of turns")
    messages = []
    for i, turn in enumerate(turns):
        speaker = turn.get("from") if isinstance(turn, dict) else None
        if not isinstance(speaker, str) or speaker not in SHAREGPT_ROLES:
            chat = isinstance(turn, dict) and "role" in turn
            hint = "; these turns are chat messages: map them with prepare(..., columns={'conversations': 'messages'})"
            raise DataError(f"{where}: conversations[{i}] must be a dict with 'from' (one of "
                            f"{list(SHAREGPT_ROLES)}) and a string 'value'{hint if chat else ''}")
        content = _checked_text(turn.get("value"), where, f"conversations[{i}]['value']")
        messages.append({"role": SHAREGPT_ROLES[speaker], "content": content})
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
    if kind == "sharegpt":
        return _sharegpt_messages(row["conversations"], where)
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


def _special_strings(tokenizer: PreTrainedTokenizerBase) -> list[str]:
    """The strings the tokenizer reads as control tokens, longest first."""
    return sorted((t.content for t in tokenizer.added_tokens_decoder.values() if t.special), key=len, reverse=True)


def _text_ids(tokenizer: PreTrainedTokenizerBase, text: str, add_special_tokens: bool) -> list[int]:
    """Token ids of ``text`` in which a special-token string is text, never a control token."""
    return list(tokenizer(text, add_special_tokens=add_special_tokens, split_special_tokens=True)["input_ids"])


STAND_IN = re.compile("\ue000(\\d+)\ue001")  # message i's content, while the template renders (private-use marks)


def _render_contents_as_text(
    tokenizer: PreTrainedTokenizerBase, messages: Messages, generation_prompt: bool, where: str = "row",
) -> list[int]:
    """Token ids of the rendered chat in which special-token strings inside messages are text.

    The template renders the chat with a stand-in for each message's content; its text is cut at
    the special tokens the template writes itself, and each piece between them, contents put
    back, is tokenised with ``split_special_tokens``. A byte-level BPE (tiny-base's, GPT-2's, Llama
    3's) cuts its input at special tokens anyway, so a chat without special-token strings gets the
    template's own ids; a SentencePiece tokenizer may start each piece with a space of its own.
    """
    def put_back(text: str) -> str:
        return STAND_IN.sub(lambda mark: messages[int(mark[1])]["content"], text)

    def rendered(chat: Messages) -> str:
        return tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=generation_prompt)

    layout = rendered([{**m, "content": f"\ue000{i}\ue001"} for i, m in enumerate(messages)])
    if put_back(layout) != rendered(messages):
        raise DataError(f"{where}: the chat template changes the text of messages, so the special-token strings "
                        "in this row cannot be kept as text; remove them from the row")
    pieces = re.split("(" + "|".join(map(re.escape, _special_strings(tokenizer))) + ")", layout)
    ids = []
    for i, piece in enumerate(pieces):  # text, special token, text, ...
        if i % 2:
            ids.append(tokenizer.convert_tokens_to_ids(piece))
        elif piece:
            ids += _text_ids(tokenizer, put_back(piece), add_special_tokens=False)
    return ids


def _render(tokenizer: PreTrainedTokenizerBase, messages: Messages, generation_prompt: bool) -> list[int]:
    ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=generation_prompt)
    return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)


def tokenize_conversation(tokenizer: PreTrainedTokenizerBase, messages: Messages, where: str = "row") -> Example:
    """Token ids of the rendered chat, with every assistant response (and its end-of-turn) as target.

    The chat template is applied to growing prefixes of the conversation: the tokens between
    "everything before this answer, plus the assistant header" and "everything up to and
    including this answer" are the answer's. The template adds BOS itself; nothing else does.
    A special-token string inside a message is tokenised as text, so the only control tokens are
    the template's own.
    """
    if tokenizer.chat_template is None:
        raise DataError(f"{where}: the tokenizer has no chat template; set tokenizer.chat_template first")
    if messages[0]["role"] == "assistant":
        raise DataError(f"{where}: the conversation starts with the assistant; start it with a user or system message")
    # A chat without special-token strings (the shipped data, for one) keeps the template's own
    # tokenisation, the one TRL and generation use; only the others need their contents kept as text.
    if any(s in m["content"] for m in messages for s in _special_strings(tokenizer)):
        render = partial(_render_contents_as_text, tokenizer, where=where)
    else:
        render = partial(_render, tokenizer)
    full = render(messages, False)
    labels = [IGNORE] * len(full)
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = render(messages[:i], True)
        upto = full if i == len(messages) - 1 else render(messages[: i + 1], False)
        if upto[: len(before)] != before or full[: len(upto)] != upto:
            raise DataError(f"{where}: the chat template renders prefixes differently; cannot locate the answer")
        labels[len(before):len(upto)] = upto[len(before):]
    return Example(full, labels)


def tokenize_text(tokenizer: PreTrainedTokenizerBase, text: str) -> Example:
    """``<s> text </s>`` with every token after BOS as target, for pre-training rows; a special-token
    string inside the text is tokenised as text."""
    ids = _text_ids(tokenizer, text, add_special_tokens=True) + [tokenizer.eos_token_id]
    labels = [IGNORE if t == tokenizer.bos_token_id else t for t in ids]
    return Example(ids, labels)


# -- 3. many rows, with truncation and a report -----------------------------------------------
@dataclass
class PrepReport:
    """What ``prepare`` did: rows kept, rows truncated, rows dropped by reason (rows skipped for an
    error among them), and where the first skipped rows were."""

    PLACES_SHOWN: ClassVar[int] = 5

    kept: int = 0
    truncated: int = 0
    dropped: Counter = field(default_factory=Counter)
    skipped: int = 0  # rows skipped for an error (on_error="skip"), also counted in dropped
    skipped_at: list[str] = field(default_factory=list)  # the places of the first PLACES_SHOWN of them

    def skip(self, where: str, reason: str) -> None:
        """Count a row skipped for ``reason``, and keep its place if it is among the first."""
        self.dropped[reason] += 1
        self.skipped += 1
        if len(self.skipped_at) < self.PLACES_SHOWN:
            self.skipped_at.append(where)

    def __str__(self) -> str:
        why = ", ".join(f"{n} {reason}" for reason, n in self.dropped.items()) or "none"
        more = ", ..." if self.skipped > len(self.skipped_at) else ""
        at = f"; {self.skipped} skipped at {'; '.join(self.skipped_at)}{more}" if self.skipped else ""
        return f"{self.kept} examples kept ({self.truncated} truncated); dropped: {why}{at}"


JSON_FILES = "a data file holds one JSON object a line (JSON Lines) or one JSON array of objects"


def _parsed(data: bytes, path: Path, first_line: int) -> Any:
    """The JSON value of ``data``, the file's lines from ``first_line`` on; an error names its line."""
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        line = first_line + data.count(b"\n", 0, err.start)
        problem = f"not UTF-8 text (byte {data[err.start]:#04x}); save the file as UTF-8"
    except json.JSONDecodeError as err:
        line, problem = first_line + err.lineno - 1, f"not valid JSON ({err.msg}); {JSON_FILES}"
    raise DataError(f"{path}, line {line}: {problem}")


def _file_rows(path: Path) -> Iterator[tuple[Any, str]]:
    """The rows of a file of JSON Lines or of one JSON array (gzipped or not), each with its place.

    A line that cannot be read comes as the ``DataError`` naming it, in place of its row, so that
    it can be skipped like any bad row; a JSON array that cannot be read stops everything.
    """
    with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
        data = f.read().removeprefix(codecs.BOM_UTF8)
    if data.lstrip()[:1] == b"[":
        yield from ((row, f"{path}, item {i}") for i, row in enumerate(_parsed(data, path, 1)))
        return
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.strip():
            try:
                row = _parsed(line, path, number)
            except DataError as err:
                row = err
            yield row, f"{path}, line {number}"


def read_rows(path: str | Path) -> list[dict]:
    """The rows of a file of JSON Lines or of one JSON array, as ``prepare`` reads them; the first
    line that cannot be read raises its ``DataError``."""
    rows = []
    for row, _ in _file_rows(Path(path)):
        if isinstance(row, DataError):
            raise row
        rows.append(row)
    return rows


def _rows_with_places(rows: Any) -> Iterator[tuple[Any, str]]:
    """Rows, each with its place: 'row i' (from 0) in a list or data set, 'FILE, line N' (every line
    counted from 1, blank ones too) in a JSON Lines file, 'FILE, item i' (from 0) in a JSON array."""
    if isinstance(rows, (str, Path)):
        yield from _file_rows(Path(rows))
        return
    if isinstance(rows, Mapping):
        splits = list(rows)
        if splits and all(hasattr(split, "column_names") for split in rows.values()):
            raise DataError(f"rows: a {type(rows).__name__} of splits {splits}: pass one split, "
                            f"e.g. data[{splits[0]!r}]")
        raise DataError("rows: a dict of fields is one row, not a list of rows: pass [row]")
    yield from ((row, f"row {i}") for i, row in enumerate(rows))


def _checked_columns(columns: Mapping[str, str] | None) -> dict[str, str]:
    """``columns`` if each maps a data set's own field name onto a field of ``FORMATS``."""
    columns = dict(columns or {})
    for name in columns.values():
        if name not in FIELDS:
            raise ValueError(f"columns: {name!r} is no field of any format; map to one of {list(FIELDS)}")
    return columns


def _renamed(row: Any, columns: dict[str, str]) -> Any:
    """The row with its fields renamed by ``columns``; a renamed field holding a value replaces a field
    of the same name."""
    if not columns or not isinstance(row, dict):
        return row
    kept = {key: value for key, value in row.items() if key not in columns}
    return kept | {columns[key]: value for key, value in row.items() if key in columns and value is not None}


def _example(tokenizer: PreTrainedTokenizerBase, row: Any, where: str) -> Example | str:
    """The row's training example, or the reason it has none (nothing to learn)."""
    if isinstance(row, DataError):  # a file line that could not be read
        raise row
    if row_format(row, where) == "text":
        text = _text_field(row, "text", where)
        return tokenize_text(tokenizer, text) if text.strip() else "empty text"
    messages = to_messages(row, where)
    if not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
        return "empty response"
    return tokenize_conversation(tokenizer, messages, where)


def prepare(
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[dict] | str | Path | Any,
    max_length: int | None = 512,
    verbose: bool = True,
    columns: Mapping[str, str] | None = None,
    on_error: str = "raise",
) -> tuple[list[Example], PrepReport]:
    """Tokenise rows into examples: a list of dicts, a ``datasets.Dataset`` (one split of a
    ``DatasetDict``), or a file of JSON Lines or of one JSON array (``.gz`` too).

    A row's format is told by its fields (``FORMATS``; a field holding None counts as absent), and
    ``columns`` maps a data set's own field names onto them, e.g. ``{"question": "prompt",
    "answer": "completion"}``. Special-token strings in the data stay text. A row that cannot be
    used (a field missing or of the wrong type, text that is not valid Unicode, a line that is not
    UTF-8 or not JSON) raises a ``DataError`` naming its place and field: ``row i`` and ``FILE,
    item i`` count from 0 as Python indexes do, ``FILE, line N`` counts every line from 1, blank
    ones too, as an editor does. With ``on_error="skip"`` such a row is counted in the report's
    ``dropped`` by reason instead, and the first places are kept in ``skipped_at``. A row whose
    response is empty, or which has no target token left after cutting it to ``max_length`` (the
    prompt's start is kept; None cuts nothing), is dropped and counted.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    columns = _checked_columns(columns)
    examples, report = [], PrepReport()
    for row, where in _rows_with_places(rows):
        try:
            example = _example(tokenizer, _renamed(row, columns), where)
        except DataError as err:
            if on_error == "raise":
                raise
            report.skip(where, str(err).removeprefix(f"{where}: "))
            continue
        if isinstance(example, str):
            report.dropped[example] += 1
            continue
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
