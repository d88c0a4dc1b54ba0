"""One way to fine-tune: instruction rows in, a trained model out, on a preset's settings.

Notebook ``ch04/02`` spells out the four steps of an SFT run once: tokenise the rows
(``sft.prepare``), batch them (``sft.padded_batches``), configure the loop (``TrainConfig``) and
train (``train``). Every other run of the workbook, in the notebooks, the asset build, the recipe
runner and the benchmarks, is the one call below, so that a change of rule (the warm-up, the
evaluation batch, the optimizer) reaches all of them.
"""
from __future__ import annotations

import copy as copying
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from course_utils import sft, smoke
from course_utils.presets import SFTPreset
from course_utils.train import TrainConfig, TrainResult, train


@dataclass
class FineTuneResult(TrainResult):
    """A training result that also says what ``sft.prepare`` kept of the rows."""

    prepared: sft.PrepReport = field(default_factory=sft.PrepReport)


def fine_tune(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[dict],
    preset: SFTPreset,
    steps: int | None = None,
    *,
    copy: bool,
    epochs: float | None = None,
    learning_rate: float | None = None,
    batch_size: int | None = None,
    eval_rows: Sequence[dict] | None = None,
    eval_every: int = 0,
    callbacks: Sequence[Any] = (),
    batching: str = "padded",
    group_by_length: bool = True,
    seed: int = 0,
    name: str | None = None,
    progress: bool = False,
    train_settings: Mapping[str, Any] | None = None,
) -> FineTuneResult:
    """SFT of ``model`` on ``rows`` for ``steps`` optimizer steps, or for ``epochs`` passes over the rows
    (neither: the preset's run length).

    ``copy`` is a choice the caller must state: True trains a deep copy and leaves ``model`` as it
    was, False trains ``model`` itself. ``learning_rate`` and ``batch_size`` override the preset's;
    ``eval_rows`` give the validation loss every ``eval_every`` steps and at the end.
    ``batching`` is "padded" (batches of similar length unless ``group_by_length`` is False) or
    "packed" (examples laid into rows of ``preset.max_length``). ``train_settings`` sets any other
    ``TrainConfig`` field (precision, gradient accumulation, checkpoints). With a ``name``, one
    line says what the run did. The trained model is ``result.model``, and ``result.prepared``
    counts the rows kept, cut and dropped. In smoke mode (``course_utils.smoke``) the run reads only
    the first few rows, as it takes only a few steps.
    """
    if steps is not None and epochs is not None:
        raise ValueError("fine_tune: give steps or epochs, not both")
    if (steps if steps is not None else 1) < 1 or (epochs if epochs is not None else 1) <= 0:
        raise ValueError(f"fine_tune: steps must be at least 1 and epochs above 0, got {steps} and {epochs}")
    if batching not in ("padded", "packed"):
        raise ValueError(f"fine_tune: batching must be 'padded' or 'packed', got {batching!r}")
    rows = smoke.first(rows, smoke.ROWS)
    if eval_rows:
        eval_rows = smoke.first(eval_rows, smoke.ROWS)
    target = copying.deepcopy(model) if copy else model
    examples, prepared = sft.prepare(tokenizer, rows, max_length=preset.max_length, verbose=False)
    if not examples:
        raise sft.DataError(f"fine_tune: none of the {len(rows)} training rows is left to train on: {prepared} "
                            f"(max_length is {preset.max_length})")
    batch_size = batch_size or preset.batch_size
    if batching == "packed":
        batches = sft.packed_batches(examples, preset.max_length, batch_size, tokenizer.pad_token_id, seed)
    else:
        batches = sft.padded_batches(examples, batch_size, tokenizer.pad_token_id, seed=seed,
                                     group_by_length=group_by_length)
    if epochs is not None:
        steps = max(1, round(epochs * len(batches)))
    steps = preset.steps if steps is None else steps
    eval_batches = None
    if eval_rows:
        eval_examples, eval_prepared = sft.prepare(tokenizer, eval_rows, max_length=preset.max_length, verbose=False)
        if not eval_examples:
            raise sft.DataError(f"fine_tune: none of the {len(eval_rows)} validation rows is left to evaluate on: "
                                f"{eval_prepared} (max_length is {preset.max_length})")
        eval_batches = sft.padded_batches(eval_examples, preset.eval_batch_size, tokenizer.pad_token_id)
    config = TrainConfig(max_steps=steps, learning_rate=learning_rate or preset.learning_rate,
                         warmup_steps=preset.warmup_for(steps), betas=preset.betas, eval_every=eval_every,
                         seed=seed, progress=progress)
    config = replace(config, **(train_settings or {}))
    result = train(target, batches, config, eval_batches=eval_batches, callbacks=callbacks)
    if name:
        state = result.state
        print(f"{name}: {len(rows)} rows, {state.step} steps, {state.tokens_seen:,} tokens in "
              f"{state.elapsed_s:.1f} s, final training loss {result.history[-1]['loss']:.3f}")
    return FineTuneResult(result.model, result.state, prepared)
