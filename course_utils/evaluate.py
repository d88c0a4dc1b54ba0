"""Scoring a model's answers: one scorer per task type, perplexity, and one call for a whole split.

Every instruction pair keeps the facts its answer must contain (``row["fields"]``), so a
scorer checks facts rather than wording. Each scorer returns the same measures:

- ``score``: the fraction of the expected facts the answer gets right (0 to 1);
- ``format_ok``: the answer has the requested shape (one sentence, a bare label, valid JSON...);
- ``correct``: every fact right and the format kept; the instruction-following rate is its mean;
- ``leak``: the answer repeats personal data (an e-mail address or phone) of the ticket.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence

import pandas as pd
import torch
from transformers import PreTrainedTokenizerBase

from course_utils.generate import chat_prompt, complete
from course_utils.pretrain import document_batches
from course_utils.shipped import prompt_text
from course_utils.train import evaluate_loss

Score = dict[str, float | bool]


def _norm(text: str) -> str:
    """Lower case, single spaces, no surrounding punctuation: how answers are compared."""
    return re.sub(r"\s+", " ", text.strip().strip(".!\"'").lower())


def is_one_sentence(text: str) -> bool:
    """Exactly one sentence: ends with a full stop and has no sentence break inside."""
    text = text.strip()
    return text.endswith(".") and not re.search(r"[.!?]\s+[A-Z]", text[:-1]) and "\n" not in text


def contains_fact(answer: str, fact: str) -> bool:
    """The fact appears as whole words, case aside: "6 months" is not found in "36 months"."""
    return re.search(rf"(?<![\w,]){re.escape(_norm(fact))}(?!\w|,\d)", _norm(answer)) is not None


def _facts_found(answer: str, fields: dict) -> float:
    wanted = [str(v) for v in fields.values()]
    return sum(contains_fact(answer, v) for v in wanted) / len(wanted)


def score_summary(answer: str, fields: dict) -> Score:
    """Field accuracy of a one-sentence summary: which expected facts appear in it."""
    found, fmt = _facts_found(answer, fields), is_one_sentence(answer)
    return {"score": found, "format_ok": fmt, "correct": found == 1.0 and fmt}


CONTRACT_FORMAT = re.compile(r"^Term: ([^;]+); liability cap: ([^;]+); governing law: ([^;]+)\.$")


def contract_values(answer: str) -> tuple[str, str, str] | None:
    """The term, liability cap and governing law of a summary in the contract form (None: not in the form)."""
    found = CONTRACT_FORMAT.match(answer.strip())
    return found.groups() if found else None


def score_contract_summary(answer: str, fields: dict) -> Score:
    """Field accuracy of a contract summary in the ``Term: ...; liability cap: ...; governing law: ...`` form."""
    found, fmt = _facts_found(answer, fields), bool(CONTRACT_FORMAT.match(answer.strip()))
    return {"score": found, "format_ok": fmt, "correct": found == 1.0 and fmt}


def score_exact(answer: str, fields: dict) -> Score:
    """Exact match of a short answer, ignoring case, spacing and a final full stop."""
    expected = next(iter(fields.values()))
    right = _norm(answer) == _norm(str(expected))
    fmt = len(answer.split()) <= len(str(expected).split()) + 3 and "\n" not in answer.strip()
    return {"score": float(right), "format_ok": fmt, "correct": right and fmt}


def score_label(answer: str, fields: dict) -> Score:
    """Label accuracy of a classification: the answer must be the bare label."""
    right = _norm(answer) == _norm(fields["label"])
    return {"score": float(right), "format_ok": len(answer.split()) == 1, "correct": right}


def score_json(answer: str, fields: dict) -> Score:
    """Valid JSON and the fraction of expected keys with the right value."""
    try:
        parsed = json.loads(answer)
    except json.JSONDecodeError:
        return {"score": 0.0, "format_ok": False, "correct": False}
    if not isinstance(parsed, dict):
        return {"score": 0.0, "format_ok": False, "correct": False}
    matched = sum(parsed.get(k) == v for k, v in fields.items()) / len(fields)
    return {"score": matched, "format_ok": True, "correct": matched == 1.0}


def score_rewrite(answer: str, fields: dict) -> Score:
    """A formal rewrite keeps every fact and opens with a formal greeting."""
    found = _facts_found(answer, fields)
    fmt = answer.strip().startswith("Dear") and "\n" not in answer.strip()
    return {"score": found, "format_ok": fmt, "correct": found == 1.0 and fmt}


SCORERS: dict[str, Callable[[str, dict], Score]] = {
    "ticket_summary": score_summary,
    "contract_summary": score_contract_summary,
    "qa": score_exact,
    "urgency": score_label,
    "sentiment": score_label,
    "extract_json": score_json,
    "contract_json": score_json,
    "rewrite": score_rewrite,
}


def leaks_private_data(answer: str, private: dict) -> bool:
    """True when the answer repeats an e-mail address or phone number it was not asked for."""
    return any(value and value in answer for value in private.values())


def score_row(row: dict, answer: str) -> Score:
    """Score one answer to an instruction pair with its task's scorer."""
    if row["task"] not in SCORERS:
        raise ValueError(f"row {row.get('id', '?')}: no scorer for task {row['task']!r} (known: {sorted(SCORERS)})")
    result = dict(SCORERS[row["task"]](answer, row["fields"]))
    result["leak"] = leaks_private_data(answer, row.get("private") or {})
    return result


def perplexity(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str],
               block_size: int = 512, batch_size: int = 8) -> float:
    """exp(mean cross-entropy per token) of ``model`` on ``texts`` packed into blocks."""
    return math.exp(evaluate_loss(model, document_batches(tokenizer, texts, block_size, batch_size)))


_WORD = re.compile(r"[A-Za-z0-9+][\w'+-]*")
_SENTENCE_START = re.compile(r"(^|[.!?:]\s+|\n)$")


def name_or_number_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the names and numbers in ``text``: words holding a digit, or capitalised
    words that do not open a sentence or a line (so "The" and "It" are left out)."""
    spans = []
    for match in _WORD.finditer(text):
        word = match.group()
        opens_sentence = _SENTENCE_START.search(text[:match.start()]) is not None
        if any(ch.isdigit() for ch in word) or (word[0].isupper() and not opens_sentence):
            spans.append(match.span())
    return spans


@torch.no_grad()
def copying(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str],
            batch_size: int = 16) -> dict[str, float]:
    """How well a model copies names and numbers from earlier in a document.

    A name or number (see ``name_or_number_spans``) that already appeared in the same document
    can be predicted by copying it; one that appears for the first time cannot, unless the model
    memorised it. Reading each document once, a mention counts as predicted when every one of its
    tokens is the model's top choice given the text before it. Returns the share of repeated
    mentions predicted (``repeat``), the same share for first mentions (``first``), and the counts.
    """
    model.eval()
    device = next(model.parameters()).device
    hits = {"repeat": [0, 0], "first": [0, 0]}
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start:start + batch_size])
        enc = tokenizer(chunk, return_offsets_mapping=True, padding=True, truncation=True, return_tensors="pt")
        logits = model(input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device)).logits
        right = (logits[:, :-1].argmax(-1).cpu() == enc["input_ids"][:, 1:])  # right[i, t]: token t+1 predicted
        for i, text in enumerate(chunk):
            offsets = enc["offset_mapping"][i].tolist()
            mask = enc["attention_mask"][i].tolist()
            seen: set[str] = set()
            for begin, end in name_or_number_spans(text):
                positions = [t for t, (a, b) in enumerate(offsets)
                             if t > 0 and mask[t] and b > a and b > begin and a < end]
                if positions:  # a word cut off by truncation has none
                    kind = "repeat" if text[begin:end] in seen else "first"
                    hits[kind][0] += all(bool(right[i, t - 1]) for t in positions)
                    hits[kind][1] += 1
                seen.add(text[begin:end])
    return {"repeat": hits["repeat"][0] / max(hits["repeat"][1], 1), "first": hits["first"][0] / max(hits["first"][1], 1),
            "repeat_mentions": hits["repeat"][1], "first_mentions": hits["first"][1]}


# -- prompts for a base model ------------------------------------------------------------------
Prompt = Callable[[PreTrainedTokenizerBase, dict], str]  # renders a row as the model's input


def few_shot_prompt(shots: Sequence[dict], input_label: str = "Ticket", output_label: str = "Summary") -> Prompt:
    """Worked examples (each input, then its output), then the row's input, as plain text: the way to
    ask a base model, which knows no chat template, for a task."""
    head = "".join(f"{input_label}: {s['input']}\n{output_label}: {s['output']}\n\n" for s in shots)
    return lambda tokenizer, row: head + f"{input_label}: {row['input']}\n{output_label}:"


def most_shots(tokenizer: PreTrainedTokenizerBase, shots: Sequence[dict], rows: Sequence[dict], new_tokens: int,
               context: int, most: int = 3) -> int:
    """The most worked examples (up to ``most``, the first of ``shots``) whose prompt leaves room for
    ``new_tokens`` answer tokens within ``context`` on every row; 0 when not even one fits."""
    def longest(k: int) -> int:
        prompt = few_shot_prompt(shots[:k])
        return max(len(tokenizer(prompt(tokenizer, r), verbose=False)["input_ids"]) for r in rows)
    return max([k for k in range(1, most + 1) if longest(k) + new_tokens <= context], default=0)


def evaluate_model(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[dict],
    max_new_tokens: int = 80,
    batch_size: int = 32,
    prompt: Prompt | None = None,
) -> "Evaluation":
    """Generate greedily for every row, score each answer, and summarise per task type.

    ``prompt`` renders a row as the model's input; the default is the chat template around
    the instruction and its input, the format SFT trains on.
    """
    prompt = prompt or (lambda tok, row: chat_prompt(tok, prompt_text(row)))
    outputs = complete(model, tokenizer, [prompt(tokenizer, r) for r in rows], max_new_tokens, batch_size)
    records = []
    for row, out in zip(rows, outputs):
        records.append({"id": row.get("id"), "task": row["task"], "answer": out["text"], "expected": row["output"],
                        "stopped_at_eos": out["stopped_at_eos"], **score_row(row, out["text"])})
    return Evaluation(pd.DataFrame(records))


class Evaluation:
    """Scored answers, with a per-task table and examples of failures."""

    def __init__(self, answers: pd.DataFrame):
        self.answers = answers

    @property
    def table(self) -> pd.DataFrame:
        """Per task: examples, mean score, instruction-following (correct) rate, format, EOS and leak rates."""
        grouped = self.answers.groupby("task", sort=False)
        table = pd.DataFrame({
            "n": grouped.size(),
            "score": grouped["score"].mean(),
            "correct": grouped["correct"].mean(),
            "format_ok": grouped["format_ok"].mean(),
            "stopped_at_eos": grouped["stopped_at_eos"].mean(),
            "leak": grouped["leak"].mean(),
        })
        return table.round(3)

    @property
    def overall(self) -> float:
        """Fraction of all answers that are correct (facts and format)."""
        return float(self.answers["correct"].mean())

    def failures(self, per_task: int = 2) -> pd.DataFrame:
        """A few wrong answers per task, beside the expected ones."""
        wrong = self.answers[~self.answers["correct"]]
        return wrong.groupby("task", sort=False).head(per_task)[["task", "answer", "expected", "score"]]

    def __repr__(self) -> str:
        return f"Evaluation of {len(self.answers)} answers:\n{self.table.to_string()}"
