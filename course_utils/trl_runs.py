"""Runs with TRL, the library most people use for SFT and DPO with ``transformers``, on the workbook's rows.

``course_utils.train`` is short so that it can be read; TRL's trainers wrap the ``transformers``
``Trainer`` and are what most runs use in practice. ``sft_trainer`` gives TRL's ``SFTTrainer`` the
same rows the library trains on (in TRL's prompt/completion format, ``sft.to_trl``), and
``first_batch_loss`` asks it for the loss of one batch, to set beside ``train.token_loss_sum``.
``dpo_trainer`` does the same for TRL's ``DPOTrainer`` and the preference pairs of ``preference``.
"""
from __future__ import annotations

import copy
import tempfile
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase, TrainingArguments

from course_utils import sft, smoke
from course_utils.train import Batch, to_device

# TRL's DPO trainer reads model.is_gradient_checkpointing, which transformers 5.24 renamed
# (is_activation_checkpointing) and now warns about on every step: a version mismatch between the
# two libraries that the learner can do nothing about, so that one warning is not shown.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)


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


def smoke_capped(settings: dict[str, Any]) -> dict[str, Any]:
    """Trainer arguments with the run cut to smoke mode's steps when it is on (``max_steps`` overrides
    ``num_train_epochs`` in every transformers trainer)."""
    steps = smoke.steps()
    if steps is None:
        return settings
    planned = settings.get("max_steps", -1)
    return settings | {"max_steps": steps if planned is None or planned < 1 else min(planned, steps)}


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
    args = SFTConfig(**smoke_capped(anywhere_settings() | settings))
    return SFTTrainer(model=model, args=args, train_dataset=datasets.Dataset.from_list(sft.to_trl(rows)),
                      processing_class=tokenizer)


def dpo_trainer(policy: torch.nn.Module, reference: torch.nn.Module, tokenizer: PreTrainedTokenizerBase,
                pairs: Sequence[dict], heldout_pairs: Sequence[dict] = (), **settings: Any) -> Any:
    """TRL's ``DPOTrainer`` for ``policy`` against the frozen ``reference`` on preference pairs (TRL's
    conversational format, ``preference.to_trl``), with ``heldout_pairs`` as its evaluation set;
    ``settings`` are ``DPOConfig`` fields, over ``anywhere_settings()``.

    The trainer changes the forward pass of the models it is given, so it gets copies of both, and
    the two models passed in stay as they were.
    """
    import datasets
    from trl import DPOConfig, DPOTrainer

    from course_utils.preference import to_trl

    datasets.disable_progress_bars()  # TRL tokenises its data sets with datasets.map; keep the output short
    heldout = datasets.Dataset.from_list(to_trl(heldout_pairs)) if heldout_pairs else None
    return DPOTrainer(model=copy.deepcopy(policy), ref_model=copy.deepcopy(reference),
                      args=DPOConfig(**smoke_capped(anywhere_settings() | settings)),
                      train_dataset=datasets.Dataset.from_list(to_trl(pairs)), eval_dataset=heldout,
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
