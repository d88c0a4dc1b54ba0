"""Tuned settings for the workbook's SFT runs, found by measurement on a 2-core CPU.

The notebooks, the ``tiny-instruct`` build and the benchmarks read their SFT settings here,
so one change reaches all of them.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SFTPreset:
    """Batch, learning-rate and length settings of an SFT run of tiny-base."""

    batch_size: int  # pairs per optimizer step
    learning_rate: float  # peak learning rate
    warmup_steps: int  # steps of linear warm-up
    steps: int  # optimizer steps of a run: the length of its cosine schedule
    raw_text_share: float = 0.0  # share of raw corpus documents mixed into the pairs
    max_length: int = 512  # longest example in tokens
    eval_batch_size: int = 16  # validation pairs per batch when a run measures its validation loss
    betas: tuple[float, float] = (0.9, 0.95)  # AdamW's moment decay rates

    def warmup_for(self, steps: int) -> int:
        """Warm-up steps of a run of ``steps``: the preset's, but never more than a third of the run."""
        return min(self.warmup_steps, steps // 3)


# SFT of tiny-base on one task (ticket summaries); see benchmarks/time_to_skill.py.
TICKET_SFT = SFTPreset(batch_size=8, learning_rate=3e-3, warmup_steps=10, steps=600)

# SFT of tiny-base on all six training tasks: the tiny-instruct build and multi-task notebooks.
INSTRUCT_SFT = SFTPreset(batch_size=16, learning_rate=1e-3, warmup_steps=20, steps=3000, raw_text_share=0.2)
