"""Runs with TRL, the library most people use for SFT and DPO with ``transformers``, on the workbook's rows.

``course_utils.train`` is short so that it can be read; TRL's trainers wrap the ``transformers``
``Trainer`` and are what most runs use in practice. ``sft_trainer`` gives TRL's ``SFTTrainer`` the
same rows the library trains on (in TRL's prompt/completion format, ``sft.to_trl``), and
``first_batch_loss`` asks it for the loss of one batch, to set beside ``train.token_loss_sum``.
"""
from __future__ import annotations

import tempfile
from collections.abc import Sequence
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase, TrainingArguments

from course_utils import sft
from course_utils.train import Batch, to_device


def anywhere_settings() -> dict[str, Any]:
    """Trainer arguments (``SFTConfig``, ``DPOConfig``) that run on this machine, GPU or CPU.

    A CPU run needs ``use_cpu=True`` and no bf16; bf16 is used only on a GPU that has it (as
    ``train.resolve_precision`` does); activation (gradient) checkpointing is off, where TRL turns
    it on by default; ``report_to=[]`` keeps the trainer from looking for experiment trackers; no
    checkpoints are saved and no progress bar is drawn.
    """
    on_gpu = torch.cuda.is_available()
    # transformers 5.24 renamed gradient_checkpointing (a deprecated alias now) to activation_checkpointing
    checkpointing = ("activation_checkpointing" if "activation_checkpointing" in TrainingArguments.__dataclass_fields__
                     else "gradient_checkpointing")
    return {"output_dir": tempfile.mkdtemp(), "use_cpu": not on_gpu, "bf16": on_gpu and torch.cuda.is_bf16_supported(),
            checkpointing: False, "report_to": [], "save_strategy": "no", "disable_tqdm": True}


def sft_trainer(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, rows: Sequence[dict],
                **settings: Any) -> Any:
    """TRL's ``SFTTrainer`` for ``model`` on instruction rows; ``settings`` are ``SFTConfig`` fields,
    over ``anywhere_settings()``.

    SFTTrainer patches the forward of the model it gets (a memory-saving loss head), so a copy of
    the model made afterwards would still run the original's weights: give it a copy of its own.
    """
    import datasets
    from trl import SFTConfig, SFTTrainer

    datasets.disable_progress_bars()  # TRL tokenises its data set with datasets.map; keep the output short
    args = SFTConfig(**(anywhere_settings() | settings))
    return SFTTrainer(model=model, args=args, train_dataset=datasets.Dataset.from_list(sft.to_trl(rows)),
                      processing_class=tokenizer)


def first_batch_loss(trainer: Any) -> tuple[float, Batch]:
    """The loss a TRL trainer computes on the first batch of its training set (its first
    ``per_device_train_batch_size`` rows, in order), and that batch: TRL's own collator and
    ``compute_loss``, in evaluation mode and without gradients."""
    model = trainer.model
    size = min(trainer.args.per_device_train_batch_size, len(trainer.train_dataset))
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(size)])
    batch = to_device(dict(batch), next(model.parameters()).device)
    model.eval()
    with torch.no_grad():
        return float(trainer.compute_loss(model, batch)), batch
