"""course_utils.memory: the four parts of a training step's memory, on a tiny model and batch."""
from __future__ import annotations

import pytest
import torch

from course_utils import sft
from course_utils.memory import saved_activation_bytes, training_memory
from course_utils.models import add_lora, count_parameters


def rows_of(n: int, length: int = 24) -> dict:
    """A batch of ``n`` identical rows of ``length`` tokens, the second half targets."""
    example = sft.Example(list(range(5, 5 + length)), [-100] * (length // 2) + list(range(5 + length // 2, 5 + length)))
    return sft.collate_padded([example] * n, pad_token_id=0)


def test_full_fine_tuning_keeps_a_gradient_and_two_moments_per_weight(small_model):
    before = {name: p.clone() for name, p in small_model.state_dict().items()}
    memory = training_memory(small_model, rows_of(2))
    weights = 4 * count_parameters(small_model)  # float32, tied weights once
    assert memory["weights"] == memory["gradients"] == weights
    assert memory["AdamW state"] == 2 * weights
    assert memory["activations"] > 0
    assert all(torch.equal(p, before[name]) for name, p in small_model.state_dict().items()), "the model is left as it was"


def test_lora_keeps_gradients_and_moments_for_its_adapters_only(small_model):
    model = add_lora(small_model, r=2)
    memory = training_memory(model, rows_of(2))
    adapters = 4 * count_parameters(model, trainable_only=True)
    assert memory["gradients"] == adapters < memory["weights"] / 5
    assert memory["AdamW state"] == 2 * adapters


def test_activations_grow_with_the_rows_of_the_batch(small_model):
    one, four = saved_activation_bytes(small_model, rows_of(1)), saved_activation_bytes(small_model, rows_of(4))
    assert four == pytest.approx(4 * one, rel=0.1)
