"""The loss course_utils computes equals the loss TRL's SFTTrainer computes on the same batch."""
from __future__ import annotations

import copy
import warnings

import pytest
import torch

from course_utils import sft
from course_utils.shipped import load_instructions
from course_utils.train import token_loss_sum
from course_utils.trl_runs import anywhere_settings, first_batch_loss, sft_trainer


@pytest.mark.slow
def test_completion_only_loss_matches_trl(tiny_base):
    model, tokenizer = tiny_base
    pairs = load_instructions("validation", tasks=["ticket_summary", "qa", "urgency"])[::40][:6]
    # SFTTrainer patches the forward of the model it is given: it gets a copy
    trainer = sft_trainer(copy.deepcopy(model), tokenizer, pairs, per_device_train_batch_size=len(pairs),
                          max_length=512)
    trl_loss, trl_batch = first_batch_loss(trainer)
    assert len(trl_batch["input_ids"]) == len(pairs)
    examples, _ = sft.prepare(tokenizer, pairs, verbose=False)
    ours = sft.collate_padded(examples, tokenizer.pad_token_id)
    with torch.no_grad():
        loss_sum, n_targets, _ = token_loss_sum(model, ours)
    assert torch.equal(ours["labels"][ours["labels"] != -100], trl_batch["labels"][trl_batch["labels"] != -100])
    assert float(loss_sum) / n_targets == pytest.approx(trl_loss, abs=1e-5)


def test_anywhere_settings_run_on_the_cpu_without_trackers_or_checkpoints():
    settings = anywhere_settings()
    if not torch.cuda.is_available():
        assert settings["use_cpu"] and not settings["bf16"]
    assert settings["report_to"] == [] and settings["save_strategy"] == "no"
    assert settings.get("activation_checkpointing", settings.get("gradient_checkpointing")) is False
    assert settings["output_dir"] != anywhere_settings()["output_dir"], "each run writes to a folder of its own"


def test_anywhere_settings_make_a_config_without_deprecated_names():
    from trl import SFTConfig

    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        args = SFTConfig(**anywhere_settings())
    assert args.gradient_checkpointing is False
