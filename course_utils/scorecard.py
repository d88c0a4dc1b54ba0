"""A model's scorecard: the figures that say what it has learned, measured the same way everywhere.

Three measures, from pre-training to instruction tuning:

- perplexity on the raw validation documents: how well it models the corpus;
- copying: the share of names and numbers it predicts when they recur in a document
  (``evaluate.copying``), the skill that every summary and extraction rests on;
- per task type, on held-out instruction prompts: the share of answers in the right format and
  the share with every fact right (``correct``); their mean over all prompts is the
  instruction-following rate.

``course-utils report`` prints a scorecard; the asset build records one for each shipped model
in ``data/MANIFEST.json``, and a test recomputes them, so a rebuild that loses a skill fails.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from transformers import PreTrainedTokenizerBase

from course_utils.evaluate import Evaluation, copying, evaluate_model, perplexity
from course_utils.shipped import first_per_task, load_corpus, load_instructions


@dataclass
class Scorecard:
    """The figures of one model (rates between 0 and 1, rounded to 3 places)."""

    perplexity: float  # on the raw validation documents
    copying: float  # share of recurring names and numbers predicted
    first_mentions: float  # the same share for first mentions, which copying cannot help
    instruction_following: float  # share of all test prompts answered correctly
    correct: dict[str, float]  # per task type: every fact right, format kept
    format_ok: dict[str, float]  # per task type: the requested format
    prompts_per_task: int

    def to_dict(self) -> dict:
        return asdict(self)


def held_out_prompts(per_task: int | None = None, rows: Sequence[dict] | None = None) -> list[dict]:
    """The first ``per_task`` prompts of each task type (all of them by default) of the test split,
    or of ``rows``."""
    return first_per_task(load_instructions("test") if rows is None else rows, per_task)


def score_model(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[dict],
                documents: Sequence[str] | None = None) -> tuple[Scorecard, Evaluation]:
    """The scorecard of ``model`` on ``prompts`` and the raw ``documents`` (default: the validation
    corpus), and the scored answers behind it."""
    documents = documents if documents is not None else [row["text"] for row in load_corpus("validation")]
    copy_rates = copying(model, tokenizer, documents)
    evaluation = evaluate_model(model, tokenizer, prompts)
    table = evaluation.table
    card = Scorecard(
        perplexity=round(perplexity(model, tokenizer, documents), 3),
        copying=round(copy_rates["repeat"], 3),
        first_mentions=round(copy_rates["first"], 3),
        instruction_following=round(evaluation.overall, 3),
        correct=table["correct"].round(3).to_dict(),
        format_ok=table["format_ok"].round(3).to_dict(),
        prompts_per_task=int(table["n"].max()),
    )
    return card, evaluation
