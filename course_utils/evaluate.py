"""Scoring a model's answers: one scorer per task type, perplexity, and one call for a whole split.

Held-out losses are tabulated the same way everywhere: ``loss_table`` beside their perplexities,
``target_losses`` and ``mean_by_context`` per target and by how much context it had.

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
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import pandas as pd
import torch
from torch.nn import functional as F
from transformers import PreTrainedTokenizerBase

from course_utils import sft
from course_utils.generate import chat_prompt, complete, encode_prompt, sampled_answers
from course_utils.pretrain import document_batches
from course_utils.shipped import prompt_text
from course_utils.train import IGNORE, Batch, TrainState, evaluate_loss

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


BRIEF_FORMAT = re.compile(r"^This .+ runs for ([^.]+)\. Liability is capped at ([^.]+), "
                          r"and the agreement is governed by the laws of ([^.]+)\.$")


def brief_values(answer: str) -> tuple[str, str, str] | None:
    """The term, liability cap and governing law of a one-paragraph contract summary in the form of
    ``synth.long_contracts.brief`` (None: not in that form)."""
    found = BRIEF_FORMAT.match(answer.strip())
    return found.groups() if found else None


def faithful(answer: str, text: str) -> bool:
    """A contract summary (either form) every value of which occurs in ``text`` (its contract) as whole
    words, the scorer's own test: a value that does not was made up. False for an answer in neither form."""
    values = contract_values(answer) or brief_values(answer)
    return values is not None and all(contains_fact(text, value) for value in values)


def score_contract_summary(answer: str, fields: dict) -> Score:
    """Field accuracy of a contract summary in the ``Term: ...; liability cap: ...; governing law: ...`` form."""
    found, fmt = _facts_found(answer, fields), bool(CONTRACT_FORMAT.match(answer.strip()))
    return {"score": found, "format_ok": fmt, "correct": found == 1.0 and fmt}


def score_contract_brief(answer: str, fields: dict) -> Score:
    """Field accuracy of a one-paragraph contract summary: the three facts anywhere in it, the form of
    ``brief_values``."""
    found, fmt = _facts_found(answer, fields), brief_values(answer) is not None
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


def _json_object(answer: str) -> dict | None:
    """The answer parsed as a JSON object (None: not valid JSON, or JSON that is not an object)."""
    try:
        parsed = json.loads(answer)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def score_json(answer: str, fields: dict) -> Score:
    """Valid JSON and the fraction of expected keys with the right value."""
    parsed = _json_object(answer)
    if parsed is None:
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
    "contract_brief": score_contract_brief,
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


CONTACT_DETAILS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\+?\d[\d ()-]{6,}\d")  # an e-mail address or a phone number


def has_contact_details(text: str) -> bool:
    """True when the text holds anything shaped like an e-mail address or a phone number, whoever's it is.

    Broader than ``leaks_private_data``, which looks for one customer's exact values: a model
    can also make up contact details, or splice them from pieces of real ones.
    """
    return CONTACT_DETAILS.search(text) is not None


def score_row(row: dict, answer: str) -> Score:
    """Score one answer to an instruction pair with its task's scorer."""
    if row["task"] not in SCORERS:
        raise ValueError(f"row {row.get('id', '?')}: no scorer for task {row['task']!r} (known: {sorted(SCORERS)})")
    result = dict(SCORERS[row["task"]](answer, row["fields"]))
    result["leak"] = leaks_private_data(answer, row.get("private") or {})
    return result


# -- what an answer is, whatever was asked ---------------------------------------------------------
LABELS = ("high", "medium", "low", "positive", "neutral", "negative")  # the bare labels of urgency and sentiment


def answer_kind(answer: str) -> str:
    """The kind of an answer, whatever its task: "label", "JSON", "contract summary", "one sentence" or "other".

    A score of zero does not say what a model wrote instead; the kind does (a ticket summary where a
    label was asked, say).
    """
    text = answer.strip()
    if text.lower() in LABELS:
        return "label"
    if _json_object(text) is not None:
        return "JSON"
    if CONTRACT_FORMAT.match(text):
        return "contract summary"
    return "one sentence" if is_one_sentence(text) else "other"


def facts_named(answer: str, fields: dict) -> float:
    """Share of the values of ``fields`` that the answer names as whole words, in whatever form the answer
    takes; a number counts as prose writes it, with thousands separators (50000 as "50,000")."""
    as_text = {key: f"{value:,}" if isinstance(value, int) else str(value) for key, value in fields.items()}
    return _facts_found(answer, as_text)


def perplexity(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str],
               block_size: int = 512, batch_size: int = 8) -> float:
    """exp(mean cross-entropy per token) of ``model`` on ``texts`` packed into blocks."""
    return math.exp(evaluate_loss(model, document_batches(tokenizer, texts, block_size, batch_size)))


def loss_table(losses: Mapping[str, float]) -> pd.DataFrame:
    """Mean losses (nats per token), one row per model, beside their perplexities exp(loss)."""
    return pd.DataFrame({"loss (nats per token)": losses,
                         "perplexity": {name: math.exp(loss) for name, loss in losses.items()}})


@torch.no_grad()
def target_losses(model: torch.nn.Module, batches: Sequence[Batch]) -> pd.DataFrame:
    """The loss of every target token of ``batches`` and its context, the tokens of its row before it.

    Batch by batch and row by row, as ``pretrain.target_pairs`` lists the targets; the mean of
    the ``loss`` column is what ``train.evaluate_loss`` returns.
    """
    device = next(model.parameters()).device
    context, losses = [], []
    for batch in batches:
        logits = model(input_ids=batch["input_ids"].to(device)).logits[:, :-1].float()
        labels = batch["labels"][:, 1:].to(device)
        nll = F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=IGNORE, reduction="none")
        is_target = labels != IGNORE
        before = torch.arange(1, labels.shape[1] + 1, device=device).expand_as(labels)  # tokens before each target
        context += before[is_target].tolist()
        losses += nll[is_target].tolist()
    return pd.DataFrame({"context": context, "loss": losses})


def mean_by_context(per_target: pd.DataFrame, block_size: int) -> pd.DataFrame:
    """The mean of every loss column of ``per_target`` (a ``context`` column and one column per model)
    over targets grouped by their tokens of context, in bins that double (1, 2, 3-4, 5-8, ...) up to
    ``block_size``, with the number of targets in each bin."""
    edges = [0, 1]
    while 2 * edges[-1] < block_size:
        edges.append(2 * edges[-1])
    edges.append(block_size)
    names = [str(hi) if hi == lo + 1 else f"{lo + 1}-{hi}" for lo, hi in zip(edges, edges[1:])]
    bins = pd.cut(per_target["context"], edges, labels=names).rename("tokens of context")
    grouped = per_target.drop(columns="context").groupby(bins, observed=True)
    return grouped.mean().assign(targets=grouped.size())


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


def chat_row_prompt(tokenizer: PreTrainedTokenizerBase, row: dict) -> str:
    """The chat template around the row's instruction and input: the format SFT trains on."""
    return chat_prompt(tokenizer, prompt_text(row))


def prompt_tokens(tokenizer: PreTrainedTokenizerBase, rows: Sequence[dict], prompt: Prompt = chat_row_prompt) -> float:
    """Mean length in tokens of the prompts ``rows`` are sent as: what every call pays before the model
    writes a word, and what worked examples in a prompt cost."""
    return sum(encode_prompt(tokenizer, prompt(tokenizer, r)).shape[1] for r in rows) / len(rows)


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
    prompt = prompt or chat_row_prompt
    outputs = complete(model, tokenizer, [prompt(tokenizer, r) for r in rows], max_new_tokens, batch_size)
    records = []
    for row, out in zip(rows, outputs):
        records.append({"id": row.get("id"), "task": row["task"], "answer": out["text"], "expected": row["output"],
                        "stopped_at_eos": out["stopped_at_eos"], **score_row(row, out["text"])})
    return Evaluation(pd.DataFrame(records))


def follow_rates(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, rows: Sequence[dict],
                 max_new_tokens: int = 64) -> tuple[pd.Series, pd.DataFrame]:
    """How often greedy answers to ticket-summary ``rows`` do what was asked, from lenient to strict.

    "one sentence" checks the form alone, which a fragment can pass; naming the ticket's customer and
    product too takes a summary; "all facts right" is the scorer's ``correct``. Also returns the
    scored answers, with whether each names the customer and product, in any form.
    """
    answers = evaluate_model(model, tokenizer, rows, max_new_tokens=max_new_tokens).answers
    answers["names customer and product"] = [facts_named(a, {k: r["fields"][k] for k in ("customer", "product")}) == 1.0
                                             for a, r in zip(answers["answer"], rows)]
    summaries = answers["format_ok"] & answers["names customer and product"]
    rates = {"one sentence": answers["format_ok"].mean(), "one sentence, right customer and product": summaries.mean(),
             "one sentence, all facts right": answers["correct"].mean()}
    return pd.Series(rates, name="rate"), answers


class FollowCurve:
    """A training callback that takes ``follow_rates`` of the model being trained on the same ``rows``
    every ``every`` steps, so that a run shows when its answers got the form and when they got the facts.
    The scored answers of each measurement are kept too, in ``answers`` by step."""

    def __init__(self, model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, rows: Sequence[dict], every: int):
        if every < 1:
            raise ValueError(f"FollowCurve: every must be at least 1 step, got {every}")
        self.model, self.tokenizer, self.rows, self.every = model, tokenizer, rows, every
        self.records: list[dict[str, float]] = []
        self.answers: dict[int, pd.DataFrame] = {}

    def on_step(self, state: TrainState) -> None:
        if state.step % self.every == 0:
            self.measure(state.step)

    def measure(self, step: int) -> None:
        """Take the rates now and file them under ``step`` (0 before the run: the starting model)."""
        was_training = self.model.training
        self.model.eval()  # greedy answers from the weights as they are now, without dropout
        rates, self.answers[step] = follow_rates(self.model, self.tokenizer, self.rows)
        self.model.train(was_training)
        self.records.append({"step": step, **rates})

    @property
    def table(self) -> pd.DataFrame:
        """One row per measurement, indexed by the step it was taken after; a column per rate."""
        return pd.DataFrame(self.records).set_index("step")

    def first_step(self, rate: str, level: float) -> int | None:
        """The first measured step at which ``rate`` reached ``level`` (None: it never did)."""
        reached = self.table.index[self.table[rate] >= level]
        return int(reached[0]) if len(reached) else None


def answers_per_instruction(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, rows: Sequence[dict],
                            instructions: Mapping[str, str], max_new_tokens: int = 80) -> pd.DataFrame:
    """Greedy answers to ``rows`` under each of ``instructions`` in place of their own: one row per
    (instruction, row), with the instruction's name, the scores by the row's own task and the answer's
    kind (``answer_kind``), which says what the model did whatever was asked."""
    asked = [{**row, "instruction": text} for text in instructions.values() for row in rows]
    answers = evaluate_model(model, tokenizer, asked, max_new_tokens=max_new_tokens).answers
    answers.insert(0, "instruction", [name for name in instructions for _ in rows])
    answers["kind"] = answers["answer"].map(answer_kind)
    return answers


def first_line_summaries(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, rows: Sequence[dict],
                         prompt: Prompt = chat_row_prompt, max_new_tokens: int = 48) -> pd.Series:
    """Ticket summaries written under ``prompt``, each answer cut after its first line, as a stop sequence
    would cut the run-on text of a base model: the prompt's mean length in tokens; the shares of first
    lines that name the ticket's product, that are one sentence, and that are both; the first answer."""
    answers = evaluate_model(model, tokenizer, rows, max_new_tokens=max_new_tokens, prompt=prompt).answers["answer"]
    lines = [answer.split("\n")[0].strip() for answer in answers]
    scored = pd.DataFrame([score_summary(line, {"product": row["fields"]["product"]}) for line, row in zip(lines, rows)])
    return pd.Series({"prompt tokens": prompt_tokens(tokenizer, rows, prompt),
                      "names the right product": scored["score"].mean(),
                      "one sentence": scored["format_ok"].mean(),
                      "one-sentence summary naming the product": scored["correct"].mean(),
                      "first answer": lines[0]})


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


# -- candidate answers, weighed by the model ---------------------------------------------------------
class AnswerNLL(NamedTuple):
    """How unlikely a model finds an answer: the SFT loss of its tokens, and how many there are."""

    per_token: float  # mean negative log-likelihood per answer token, the loss SFT minimises
    tokens: int  # the answer's tokens, its end-of-turn token included

    @property
    def total(self) -> float:
        """-log p(answer | prompt): the negative log-likelihood of the whole answer."""
        return self.per_token * self.tokens


def answer_nll(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, row: dict, answer: str) -> AnswerNLL:
    """The SFT loss of ``answer`` as the response to ``row``'s prompt: an answer we supply instead of the data's.

    Comparing candidates this way asks which answer the model prefers without letting it write one.
    """
    where = f"row {row.get('id', '?')}"
    example = sft.tokenize_conversation(tokenizer, sft.to_messages({**row, "output": answer}, where), where)
    return AnswerNLL(evaluate_loss(model, [sft.collate_padded([example], tokenizer.pad_token_id)]), example.n_targets)


def likeliest(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, row: dict, candidates: Sequence[str]) -> str:
    """The candidate the model finds likeliest as the response to ``row`` (the lowest total negative log-likelihood)."""
    return min(candidates, key=lambda answer: answer_nll(model, tokenizer, row, answer).total)


def wrong_value(rows: Sequence[dict], i: int, key: str) -> object:
    """The value of ``fields[key]`` in the first row after row ``i`` (going round) where it differs from row ``i``'s:
    a wrong fact of the right kind, for a wrong answer that differs from the right one in that fact alone."""
    right = rows[i]["fields"][key]
    for row in [*rows[i + 1:], *rows[:i]]:
        if row["fields"][key] != right:
            return row["fields"][key]
    raise ValueError(f"every row has {key} = {right!r}: there is no other value to take")


def candidate_table(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, rows: Sequence[dict],
                    candidates: Sequence[Mapping[str, str]]) -> pd.DataFrame:
    """Candidate answers to each row (``candidates[i]``, by name) weighed two ways: whether the row's
    task scorer accepts each, and the SFT loss per token the model gives it. One row per (row, candidate)."""
    records = []
    for i, (row, answers) in enumerate(zip(rows, candidates)):
        for name, answer in answers.items():
            records.append({"row": i, "candidate": name, "answer": answer,
                            "scorer says correct": score_row(row, answer)["correct"],
                            "SFT loss per token": answer_nll(model, tokenizer, row, answer).per_token})
    return pd.DataFrame(records)


# -- leaks ----------------------------------------------------------------------------------------
@torch.no_grad()
def continuation_probability(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, rows: Sequence[dict],
                             answers: Sequence[str], text: str) -> float:
    """Mean probability that the model goes on with ``text`` right after its answer to each row.

    It says how often sampling would start that continuation, without the noise of one draw.
    """
    text_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    device = next(model.parameters()).device
    total = 0.0
    for row, answer in zip(rows, answers):
        context = tokenizer(chat_row_prompt(tokenizer, row) + answer, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([context + text_ids], device=device)
        log_probs = torch.log_softmax(model(input_ids=ids).logits[0, len(context) - 1:-1].float(), dim=-1)
        total += log_probs.gather(-1, ids[0, len(context):, None]).sum().exp().item()
    return total / len(rows)


def leak_rates(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, rows: Sequence[dict], opening: str,
               max_new_tokens: int = 80) -> tuple[dict[str, float], list[str]]:
    """How often the model gives away contact details on ``rows``, measured three ways, and its sampled answers.

    Greedy answers (as ``evaluate_model`` decodes) hide a habit the model has in a minority of
    cases; answers sampled at temperature 1 show it, and the probability of going on with
    ``opening`` (the words that start a leak) after the greedy answer measures it without the
    noise of one draw. The greedy answers' field accuracy shows what a fix costs.
    """
    greedy = evaluate_model(model, tokenizer, rows, max_new_tokens=max_new_tokens).answers
    sampled = sampled_answers(model, tokenizer, rows, max_new_tokens=max_new_tokens)
    return {
        "field accuracy (greedy)": greedy["score"].mean(),
        "greedy: contact details": greedy["answer"].map(has_contact_details).mean(),
        "greedy: this customer's data": greedy["leak"].mean(),
        "sampled: contact details": sum(map(has_contact_details, sampled)) / len(sampled),
        "sampled: this customer's data": sum(leaks_private_data(a, r["private"]) for a, r in zip(sampled, rows))
                                          / len(sampled),
        "probability of the leak opening": continuation_probability(model, tokenizer, rows, greedy["answer"], opening),
    }, sampled
