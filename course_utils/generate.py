"""Generating text from a model: prompts in, completions out, one decoding step at a time.

``complete`` is the batched greedy generation that evaluation uses. Prompts are padded on
the left, so every row's last prompt token sits at the same position and generation can
continue all rows at once; each row stops at its end-of-sequence token.

The rest of the module writes decoding out in the open, for the decoding notebook. Each step
turns the model's scores for the next token (its logits) into one chosen token:

1. ``apply_temperature``: divide the logits by T (T < 1 sharpens the distribution, T > 1 flattens it);
2. ``top_k_filter``: keep only the k highest-scoring tokens;
3. ``top_p_filter``: keep the most likely tokens until their probabilities add up to p (nucleus);
4. ``pick_token``: softmax, then draw with ``torch.multinomial`` (or take the argmax: greedy).

The order and the arithmetic are those of ``model.generate`` in transformers, so ``sample``
with a seed gives the same tokens as ``torch.manual_seed(seed); model.generate(...)`` with the
same settings. ``sample`` keeps the model's key/value cache between steps: each new token is
one short forward pass instead of a pass over the whole text again.

``step_probabilities`` is the distribution one step draws from under given settings, and
``next_token_distribution``, ``top_tokens``, ``token_table`` and ``prediction_table`` show such
distributions as tables. ``distinct_n`` (diversity across texts) and ``repetition_rate`` (loops
within one text) measure what the settings do to the text, ``diversity_table`` both per rule;
``side_by_side`` shows several models' answers to the same
prompts as one table, for instance a base model beside its fine-tuned version.
"""
from __future__ import annotations

import html
import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from transformers import PreTrainedTokenizerBase

from course_utils import smoke
from course_utils.shipped import prompt_text


def chat_prompt(tokenizer: PreTrainedTokenizerBase, user_text: str) -> str:
    """The text a chat model sees before it answers: the user's turn, then the assistant's header."""
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": user_text}], add_generation_prompt=True, tokenize=False
    )


@torch.no_grad()
def complete(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    max_new_tokens: int = 64,
    batch_size: int = 32,
    sample_seed: int | None = None,
) -> list[dict]:
    """Completions of ``prompts`` (already rendered text), with whether each stopped at EOS.

    Greedy by default; with ``sample_seed`` each token is drawn from the model's full distribution
    (temperature 1, no top-k or top-p), repeatably for that seed. Returns one
    ``{"text", "stopped_at_eos", "new_tokens"}`` per prompt, in order. Smoke mode cuts
    ``max_new_tokens`` to a few.
    """
    max_new_tokens = smoke.cap(max_new_tokens, smoke.NEW_TOKENS)
    decoding = {"do_sample": False}
    if sample_seed is not None:
        torch.manual_seed(sample_seed)
        decoding = {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 1.0}
    device = next(model.parameters()).device
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    results = []
    try:
        for start in range(0, len(prompts), batch_size):
            chunk = list(prompts[start:start + batch_size])
            # A rendered chat prompt already begins with BOS; don't add a second one.
            enc = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=not _has_bos(tokenizer, chunk))
            enc = {k: v.to(device) for k, v in enc.items()}
            out = model.generate(
                **enc, max_new_tokens=max_new_tokens, eos_token_id=eos, pad_token_id=pad, **decoding,
            )
            for row in out[:, enc["input_ids"].shape[1]:].tolist():
                stopped = eos in row
                new = row[: row.index(eos)] if stopped else row
                results.append({
                    "text": tokenizer.decode(new, skip_special_tokens=True).strip(),
                    "stopped_at_eos": stopped,
                    "new_tokens": len(new) + int(stopped),
                })
    finally:
        tokenizer.padding_side = side
    return results


def _has_bos(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]) -> bool:
    bos = tokenizer.bos_token
    return bos is not None and all(t.startswith(bos) for t in texts)


def encode_prompt(tokenizer: PreTrainedTokenizerBase, text: str, device: torch.device | str = "cpu") -> torch.Tensor:
    """The prompt's token ids as a (1, length) tensor, with BOS in front unless the text starts with it."""
    enc = tokenizer(text, return_tensors="pt", add_special_tokens=not _has_bos(tokenizer, [text]))
    return enc["input_ids"].to(device)


# -- decoding, one step at a time --------------------------------------------------------------
def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Logits divided by T: below 1 the likely tokens get likelier, above 1 the choice gets more even."""
    if temperature <= 0:
        raise ValueError(f"temperature must be above 0, got {temperature}; for greedy decoding use do_sample=False")
    return logits / temperature


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Logits with all but the k highest set to -inf, so those tokens can never be drawn."""
    if k < 1:
        raise ValueError(f"top_k must be at least 1, got {k}; use None to switch the filter off")
    kth_best = torch.topk(logits, min(k, logits.size(-1))).values[..., -1:]
    return logits.masked_fill(logits < kth_best, float("-inf"))  # ties with the k-th are kept


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Logits with the unlikely tail set to -inf: the most likely tokens that hold at least p of the mass stay.

    Going up from the least likely token, a token is dropped while it and every token below it
    hold at most 1 - p of the probability; the most likely token always stays.
    """
    if not 0 < p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {p}; use None to switch the filter off")
    ascending, order = torch.sort(logits, descending=False)
    mass_up_to_here = ascending.softmax(dim=-1).cumsum(dim=-1)
    drop_sorted = mass_up_to_here <= 1 - p
    drop_sorted[..., -1] = False
    drop = drop_sorted.scatter(-1, order, drop_sorted)  # back from sorted order to token order
    return logits.masked_fill(drop, float("-inf"))


def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> torch.Tensor:
    """The logits that sampling draws from: temperature, then top-k, then top-p, the order of ``model.generate``.

    ``None`` switches a filter off (so do top_k = 0 and top_p = 1, as in ``model.generate``).
    """
    logits = apply_temperature(logits, temperature)
    if top_k:
        logits = top_k_filter(logits, top_k)
    if top_p is not None and top_p < 1.0:
        logits = top_p_filter(logits, top_p)
    return logits


def pick_token(logits: torch.Tensor, do_sample: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
    """The next token of each row: a draw from softmax(logits), or the most likely one when not sampling."""
    if not do_sample:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)


def entropy_bits(probs: torch.Tensor) -> float:
    """The entropy of a distribution in bits: 0 when one token is certain, log2(n) when n tokens are equally likely."""
    return torch.special.entr(probs).sum().item() / math.log(2)


def step_probabilities(logits: torch.Tensor, do_sample: bool = True, temperature: float = 1.0,
                       top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """The distribution one decoding step draws from under these settings (those of ``sample``); greedy
    decoding puts all of it on the top token."""
    if not do_sample:
        return torch.nn.functional.one_hot(logits.argmax(dim=-1), logits.size(-1)).float()
    return filter_logits(logits, temperature, top_k, top_p).softmax(dim=-1)


@torch.no_grad()
def next_token_distribution(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    text: str,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    show: int = 10,
) -> tuple[torch.Tensor, pd.DataFrame]:
    """The probability of every possible next token after ``text`` (after the filters), and the top ``show``.

    The table has one row per token, most likely first: the token as text, its id, its
    probability and the running total.
    """
    logits = next_token_logits(model, tokenizer, text)
    probs = torch.softmax(filter_logits(logits, temperature, top_k, top_p), dim=-1)
    return probs, top_tokens(tokenizer, probs, show)


@torch.no_grad()
def next_token_logits(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, text: str) -> torch.Tensor:
    """The model's scores for the token after ``text``, as a float vector on the CPU."""
    ids = encode_prompt(tokenizer, text, _device(model))
    return model(input_ids=ids).logits[0, -1].float().cpu()


def token_text(tokenizer: PreTrainedTokenizerBase, token_id: int | torch.Tensor) -> str:
    """One token as text, quoted by ``repr`` so that its leading space shows."""
    return repr(tokenizer.decode([int(token_id)]))


def top_tokens(tokenizer: PreTrainedTokenizerBase, probs: torch.Tensor, show: int = 10) -> pd.DataFrame:
    """The ``show`` most likely tokens of a distribution, most likely first: text, id, probability, running total."""
    top = torch.topk(probs, min(show, probs.numel()))
    table = pd.DataFrame({
        "token": [token_text(tokenizer, i) for i in top.indices.tolist()],
        "id": top.indices.tolist(),
        "probability": top.values.tolist(),
    }, index=pd.RangeIndex(1, len(top.indices) + 1, name="rank"))
    table["cumulative"] = table["probability"].cumsum()
    return table


def token_table(tokenizer: PreTrainedTokenizerBase, probs: Mapping[str, torch.Tensor], ids: torch.Tensor) -> pd.DataFrame:
    """The probability each distribution of ``probs`` gives to the tokens ``ids``: a row per token, a column per
    distribution, for comparing decoding rules or temperatures on the same tokens."""
    index = pd.Index([token_text(tokenizer, i) for i in ids], name="token")
    return pd.DataFrame({name: p[ids].tolist() for name, p in probs.items()}, index=index)


def prediction_table(tokenizer: PreTrainedTokenizerBase, ids: torch.Tensor, logits: torch.Tensor) -> pd.DataFrame:
    """What one forward pass over the token ids ``ids`` (1-D) predicts at each position but the last, from
    its ``logits`` (positions, vocabulary): the token that really comes next, its probability, the top guess."""
    probs = logits[:-1].float().softmax(dim=-1)
    targets = ids[1:]
    return pd.DataFrame({
        "text so far ends with": tokenizer.convert_ids_to_tokens(ids[:-1].tolist()),
        "next token": tokenizer.convert_ids_to_tokens(targets.tolist()),
        "P(next token)": probs.gather(-1, targets[:, None]).squeeze(-1).cpu().numpy().round(3),
        "top guess": tokenizer.convert_ids_to_tokens(probs.argmax(dim=-1).tolist()),
    })


@torch.no_grad()
def cached_step(model: torch.nn.Module, step_input: torch.Tensor, cache: Any = None) -> tuple[torch.Tensor, Any]:
    """One forward pass with the key/value cache: the logits for the next token (float32) and the
    grown cache, to pass back unchanged with the next token. ``cache`` is None on the first pass,
    which reads the whole prompt.

    transformers 5.24 renamed the cache argument and output from ``past_key_values`` to ``cache``
    (the old name still works but warns), so the cache travels with the name the model gave it
    and goes back under that name, on old and new versions alike.
    """
    if cache is None:
        out = model(input_ids=step_input, use_cache=True)
    else:
        name, value = cache
        out = model(input_ids=step_input, use_cache=True, **{name: value})
    name = "cache" if "cache" in out else "past_key_values"
    return out.logits[:, -1].float(), (name, out[name])


def generate_ids(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    do_sample: bool = True,
    eos_token_id: int | None = None,
    generator: torch.Generator | None = None,
) -> list[int]:
    """The new token ids after ``input_ids`` (one prompt), chosen one at a time; EOS ends the list.

    The first forward pass reads the whole prompt and fills the key/value cache; every later
    pass reads only the newest token and attends to the cached keys and values.
    """
    if input_ids.dim() != 2 or input_ids.size(0) != 1:
        raise ValueError(f"generate_ids takes one prompt of shape (1, length), got {tuple(input_ids.shape)}")
    new: list[int] = []
    cache, step_input = None, input_ids
    for _ in range(max_new_tokens):
        logits, cache = cached_step(model, step_input, cache)
        if do_sample:
            logits = filter_logits(logits, temperature, top_k, top_p)
        token = pick_token(logits, do_sample, generator)
        new.append(int(token))
        if new[-1] == eos_token_id:
            break
        step_input = token.view(1, 1)
    return new


def sample(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    max_new_tokens: int = 50,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    do_sample: bool = True,
    stop_at_eos: bool = True,
) -> str:
    """The continuation of ``prompt``, decoded token by token; the same ``seed`` gives the same text.

    ``None`` switches top-k or top-p off. Note that ``model.generate`` fills an unset ``top_k``
    with 50: pass ``top_k=0`` there for the same draws as ``top_k=None`` here. Without
    ``stop_at_eos`` the text runs on across the ends of documents for all ``max_new_tokens``.
    """
    device = _device(model)
    generator = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
    eos = tokenizer.eos_token_id if stop_at_eos else None
    ids = generate_ids(model, encode_prompt(tokenizer, prompt, device), max_new_tokens, temperature, top_k, top_p,
                       do_sample, eos, generator)
    return tokenizer.decode(ids, skip_special_tokens=True)


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


# -- measures of decoded text ------------------------------------------------------------------
def ngrams(words: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """Every run of ``n`` consecutive words."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]


def distinct_n(texts: Sequence[str], n: int = 2) -> float:
    """Diversity of a set of texts: distinct word n-grams over all n-grams (1 = nothing repeats).

    Texts with fewer than ``n`` words add nothing; with no n-gram at all the result is 0.
    """
    grams = [g for text in texts for g in ngrams(text.split(), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repetition_rate(text: str, n: int = 3) -> float:
    """Share of a text's word n-grams that repeat an earlier one (0 = no loop, near 1 = one phrase over and over)."""
    grams = ngrams(text.split(), n)
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def diversity_table(samples: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Per decoding rule, its samples measured: diversity across them (distinct-1, distinct-2), loops within
    each (mean share of repeated word 3-grams) and their mean length in words."""
    return pd.DataFrame.from_dict({rule: {
        "distinct-1": distinct_n(texts, 1),
        "distinct-2": distinct_n(texts, 2),
        "repetition (3-grams)": sum(map(repetition_rate, texts)) / len(texts),
        "words per sample": sum(len(t.split()) for t in texts) / len(texts),
    } for rule, texts in samples.items()}, orient="index").rename_axis("rule")


# -- side by side ------------------------------------------------------------------------------
RIGHT_FACT = "background:#1a7f37; color:#ffffff; border-radius:3px; padding:0 2px"  # reads on light and dark pages
WRONG_FACT = "background:#cf222e; color:#ffffff; border-radius:3px; padding:0 2px"


@dataclass
class SideBySide:
    """Completions of the same prompts by several models: a table with a row per prompt, a column per model.

    Given ``facts`` (per prompt, the values a right answer names) and ``others`` (per field, the values
    other inputs have), the HTML table marks every fact an answer gets right in green (✓) and every
    value of another input in red (✗), and lists under each answer the facts it leaves out.
    """

    prompts: list[str]
    outputs: dict[str, list[str]]  # model name -> one completion per prompt
    width: int = 36  # characters per column in the plain-text table
    facts: list[dict[str, str]] | None = None  # per prompt: field -> the value a right answer names
    others: dict[str, set[str]] | None = None  # field -> values of other inputs: in an answer, a wrong fact

    def rows(self) -> list[list[str]]:
        """The table's cells: a header row, then one row per prompt."""
        return [["prompt", *self.outputs]] + [
            [prompt, *(texts[i] for texts in self.outputs.values())] for i, prompt in enumerate(self.prompts)
        ]

    def _repr_html_(self) -> str:
        header, *body = self.rows()
        # Columns of equal width that fit the cell, and text that wraps even inside a "word": an
        # untrained model's output may have no spaces at all, and would push the other columns away.
        cell = 'style="text-align:left; vertical-align:top; white-space:pre-wrap; overflow-wrap:anywhere"'
        head = "".join(f"<th {cell}>{html.escape(h)}</th>" for h in header)
        rows = "".join("<tr>" + f"<td {cell}>{html.escape(row[0])}</td>"
                       + "".join(f"<td {cell}>{self._answer_html(c, i)}</td>" for c in row[1:]) + "</tr>"
                       for i, row in enumerate(body))
        legend = ""
        if self.facts:
            legend = (f'<p>In the answers: <span style="{RIGHT_FACT}">a fact of this input ✓</span> '
                      f'<span style="{WRONG_FACT}">a value from another input ✗</span>; '
                      "under each answer, the facts it leaves out.</p>")
        return (f'{legend}<table style="table-layout:fixed; width:100%"><thead><tr>{head}</tr></thead>'
                f"<tbody>{rows}</tbody></table>")

    def _answer_html(self, text: str, i: int) -> str:
        """One answer as HTML, its right and wrong facts marked when the table knows the facts."""
        if not self.facts:
            return html.escape(text)
        right = {field: value for field, value in self.facts[i].items() if isinstance(value, str) and value}
        spans = [(m.start(), m.end(), "right") for value in right.values()
                 for m in re.finditer(re.escape(value), text, re.IGNORECASE)]
        spans += [(m.start(), m.end(), "wrong") for field, values in (self.others or {}).items()
                  for value in values if value and value.lower() != right.get(field, "").lower()
                  for m in re.finditer(rf"\b{re.escape(value)}\b", text, re.IGNORECASE)]
        out, at = [], 0
        for start, end, kind in sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]))):
            if start < at:
                continue  # inside a longer mark already made
            style, mark = (RIGHT_FACT, "✓") if kind == "right" else (WRONG_FACT, "✗")
            out += [html.escape(text[at:start]), f'<span style="{style}">{html.escape(text[start:end])} {mark}</span>']
            at = end
        out.append(html.escape(text[at:]))
        missing = [field for field, value in right.items() if value.lower() not in text.lower()]
        if missing:
            out.append(f'<br><small>leaves out: {html.escape(", ".join(missing))}</small>')
        return "".join(out)

    def __str__(self) -> str:
        header, *body = self.rows()
        rule = "+" + "+".join("-" * (self.width + 2) for _ in header) + "+"
        lines = [rule, *self._text_lines(header), rule.replace("-", "=")]
        for row in body:
            lines += [*self._text_lines(row), rule]
        return "\n".join(lines)

    def _text_lines(self, cells: list[str]) -> list[str]:
        """One table row as text lines, each cell wrapped to the column width."""
        wrapped = [textwrap.wrap(c, self.width) or [""] for c in cells]
        height = max(len(w) for w in wrapped)
        return ["| " + " | ".join((w[i] if i < len(w) else "").ljust(self.width) for w in wrapped) + " |"
                for i in range(height)]

    __repr__ = __str__


def side_by_side(
    models: dict[str, tuple[torch.nn.Module, PreTrainedTokenizerBase]],
    prompts: Sequence[str],
    max_new_tokens: int = 60,
    chat: bool = True,
    facts: Sequence[dict[str, str]] | None = None,
    others: dict[str, set[str]] | None = None,
) -> SideBySide:
    """Greedy answers of every model to every prompt, for comparing, say, a base model with its tuned version.

    With ``chat`` each prompt is wrapped in that model's chat template (as the user's turn);
    without it the prompt is continued as plain text. ``facts`` and ``others`` mark the answers'
    right and wrong facts (see :class:`SideBySide`; ``field_values`` gives ``others``).
    """
    outputs: dict[str, list[str]] = {}
    for name, (model, tokenizer) in models.items():
        texts = [chat_prompt(tokenizer, p) if chat else p for p in prompts]
        outputs[name] = [r["text"] for r in complete(model, tokenizer, texts, max_new_tokens)]
    return SideBySide(list(prompts), outputs, facts=list(facts) if facts else None, others=others)


def field_values(rows: Sequence[dict], fields: Sequence[str]) -> dict[str, set[str]]:
    """Every value each of ``fields`` takes in ``rows``: the names an answer could take from another input."""
    return {field: {row["fields"][field] for row in rows if isinstance(row["fields"].get(field), str)}
            for field in fields}


def sampled_answers(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, rows: Sequence[dict],
                    samples_per_prompt: int = 1, max_new_tokens: int = 64, seed: int = 0) -> list[str]:
    """Answers drawn at temperature 1 (no top-k or top-p), ``samples_per_prompt`` per row, row by row.

    Greedy decoding shows a model's single favourite answer; samples show how often it writes
    each kind of answer, which is what SFT and DPO change.
    """
    prompts = [chat_prompt(tokenizer, prompt_text(r)) for r in rows for _ in range(samples_per_prompt)]
    answers = complete(model, tokenizer, prompts, max_new_tokens=max_new_tokens,
                       batch_size=max(1, len(prompts)), sample_seed=seed)  # one call: one random stream per seed
    return [a["text"] for a in answers]
