"""fine_tune: the one call every SFT run uses, checked against the four steps it stands for."""
from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch

from course_utils import sft
from course_utils.finetune import fine_tune
from course_utils.presets import TICKET_SFT
from course_utils.shipped import load_instructions
from course_utils.train import TrainConfig, train

PRESET = replace(TICKET_SFT, batch_size=4, max_length=256)


@pytest.fixture(scope="module")
def rows():
    return load_instructions("train", tasks=["ticket_summary"])[:24]


def weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_same_weights_as_the_four_steps_spelled_out(small_model, tokenizer, rows):
    by_hand = copy.deepcopy(small_model)
    examples, _ = sft.prepare(tokenizer, rows, max_length=PRESET.max_length, verbose=False)
    batches = sft.padded_batches(examples, PRESET.batch_size, tokenizer.pad_token_id, seed=3)
    config = TrainConfig(max_steps=6, learning_rate=PRESET.learning_rate, warmup_steps=PRESET.warmup_for(6),
                         seed=3, progress=False)
    train(by_hand, batches, config)

    result = fine_tune(small_model, tokenizer, rows, PRESET, 6, copy=True, seed=3)
    assert same(weights(result.model), weights(by_hand))


def test_copy_is_an_explicit_choice(small_model, tokenizer, rows):
    before = weights(small_model)
    copied = fine_tune(small_model, tokenizer, rows, PRESET, 3, copy=True)
    assert copied.model is not small_model and same(weights(small_model), before)
    assert not same(weights(copied.model), before)

    in_place = fine_tune(small_model, tokenizer, rows, PRESET, 3, copy=False)
    assert in_place.model is small_model and not same(weights(small_model), before)
    with pytest.raises(TypeError):
        fine_tune(small_model, tokenizer, rows, PRESET, 3)  # neither copy=True nor copy=False


def test_evaluation_rows_give_the_validation_curve(small_model, tokenizer, rows):
    result = fine_tune(small_model, tokenizer, rows[:16], PRESET, 4, copy=True, eval_rows=rows[16:], eval_every=2)
    assert [e["step"] for e in result.state.evals] == [2, 4]
    assert all(e["val_loss"] > 0 for e in result.state.evals)


def test_the_preset_sets_warm_up_batch_and_betas(small_model, tokenizer, rows, capsys):
    result = fine_tune(small_model, tokenizer, rows, PRESET, 6, copy=True, name="run")
    assert result.history[0]["lr"] == pytest.approx(PRESET.learning_rate / PRESET.warmup_for(6))
    assert PRESET.warmup_for(6) == 2 and PRESET.warmup_for(600) == PRESET.warmup_steps
    assert "run: 24 rows, 6 steps" in capsys.readouterr().out

    other = fine_tune(small_model, tokenizer, rows, replace(PRESET, betas=(0.5, 0.5)), 6, copy=True)
    assert not same(weights(other.model), weights(result.model)), "the preset's betas reach the optimizer"


def test_bad_input_is_named(small_model, tokenizer, rows):
    with pytest.raises(sft.DataError, match="row 1"):
        fine_tune(small_model, tokenizer, [rows[0], {"instruction": "x"}], PRESET, 2, copy=True)
    with pytest.raises(ValueError, match="give steps or epochs, not both"):
        fine_tune(small_model, tokenizer, rows, PRESET, 2, copy=True, epochs=1)
    with pytest.raises(ValueError, match="steps must be at least 1"):
        fine_tune(small_model, tokenizer, rows, PRESET, 0, copy=True)
    with pytest.raises(ValueError, match="batching must be 'padded' or 'packed', got 'pairs'"):
        fine_tune(small_model, tokenizer, rows, PRESET, 2, copy=True, batching="pairs")


@pytest.mark.parametrize("batching, group", [("packed", True), ("padded", False)])
def test_other_batchings_are_the_library_batches(small_model, tokenizer, rows, batching, group):
    by_hand = copy.deepcopy(small_model)
    examples, _ = sft.prepare(tokenizer, rows, max_length=PRESET.max_length, verbose=False)
    if batching == "packed":
        batches = sft.packed_batches(examples, PRESET.max_length, PRESET.batch_size, tokenizer.pad_token_id, 1)
    else:
        batches = sft.padded_batches(examples, PRESET.batch_size, tokenizer.pad_token_id, seed=1, group_by_length=False)
    train(by_hand, batches, TrainConfig(max_steps=3, learning_rate=PRESET.learning_rate,
                                        warmup_steps=PRESET.warmup_for(3), seed=1, progress=False))
    result = fine_tune(small_model, tokenizer, rows, PRESET, 3, copy=True, seed=1, batching=batching,
                       group_by_length=group)
    assert same(weights(result.model), weights(by_hand))


def test_train_settings_reach_the_loop(small_model, tokenizer, rows):
    result = fine_tune(small_model, tokenizer, rows, PRESET, 2, copy=True, train_settings={"grad_accum_steps": 2})
    assert result.history[0]["tokens"] > fine_tune(small_model, tokenizer, rows, PRESET, 2, copy=True).history[0]["tokens"]


def test_epochs_count_passes_over_the_batches(small_model, tokenizer, rows):
    one_pass = len(rows) // PRESET.batch_size  # 24 rows in batches of 4
    assert fine_tune(small_model, tokenizer, rows, PRESET, copy=True, epochs=1).state.step == one_pass
    assert fine_tune(small_model, tokenizer, rows, PRESET, copy=True, epochs=0.5).state.step == one_pass // 2
