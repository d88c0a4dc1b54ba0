"""The loss course_utils computes equals the loss TRL's SFTTrainer computes on the same batch."""
from __future__ import annotations

import copy

import pytest
import torch
from datasets import Dataset

from course_utils import sft
from course_utils.shipped import load_instructions
from course_utils.train import token_loss_sum


@pytest.mark.slow
def test_completion_only_loss_matches_trl(tiny_base, tmp_path):
    from trl import SFTConfig, SFTTrainer

    model, tokenizer = tiny_base
    model = copy.deepcopy(model)  # SFTTrainer patches the forward of the model it is given
    pairs = load_instructions("validation", tasks=["ticket_summary", "qa", "urgency"])[::40][:6]
    rows = sft.to_trl(pairs)
    args = SFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[], per_device_train_batch_size=len(rows),
                     max_length=512, gradient_checkpointing=False, bf16=False)
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
    trl_batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(rows))])
    model.eval()
    with torch.no_grad():
        trl_loss = float(trainer.compute_loss(model, dict(trl_batch)))
        examples, _ = sft.prepare(tokenizer, rows, verbose=False)
        ours = sft.collate_padded(examples, tokenizer.pad_token_id)
        loss_sum, n_targets, _ = token_loss_sum(model, ours)
    assert torch.equal(ours["labels"][ours["labels"] != -100], trl_batch["labels"][trl_batch["labels"] != -100])
    assert float(loss_sum) / n_targets == pytest.approx(trl_loss, abs=1e-5)
