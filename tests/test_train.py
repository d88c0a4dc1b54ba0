"""The training loop: token-normalised accumulation, exact resume, interrupts, schedule and precision."""
from __future__ import annotations

import math

import pytest
import torch

from course_utils import sft
from course_utils.train import TrainConfig, early_stop_step, lr_at, resolve_precision, train

PAIRS = [
    {"prompt": "Summarise: the kettle broke.", "completion": "The kettle broke."},
    {"prompt": "Classify the urgency of this ticket, which is long and rambling and says little.", "completion": "low"},
    {"prompt": "Who founded Oakwood?", "completion": "Talia Wilde founded Oakwood in 2003, in Westford."},
    {"prompt": "Rewrite formally: hey my lamp died", "completion": "Dear support team, my lamp stopped working."},
    {"prompt": "Where is Korvale?", "completion": "Ostmark."},
    {"prompt": "What does Fenvik make? Answer in a few words please.", "completion": "Kitchen appliances."},
    {"prompt": "Term?", "completion": "Term: 24 months; liability cap: 50,000 crowns; governing law: Valdria."},
    {"prompt": "Give the order id.", "completion": "A123456"},
]


@pytest.fixture
def examples(tokenizer):
    return sft.prepare(tokenizer, PAIRS, verbose=False)[0]


def quiet(**overrides) -> TrainConfig:
    return TrainConfig(**{"progress": False, "warmup_steps": 1, **overrides})


def test_accumulating_2_batches_of_4_equals_one_batch_of_8(small_model, tokenizer, examples):
    """Loss is normalised by all target tokens of the step, so rows of unequal length weigh the same."""
    twin = {k: v.clone() for k, v in small_model.state_dict().items()}
    pad = tokenizer.pad_token_id
    halves = [sft.collate_padded(examples[:4], pad), sft.collate_padded(examples[4:], pad)]
    whole = [sft.collate_padded(examples, pad)]
    accumulated = train(small_model, lambda epoch: halves, quiet(max_steps=1, grad_accum_steps=2))
    other = type(small_model)(small_model.config)
    other.load_state_dict(twin)
    single = train(other, lambda epoch: whole, quiet(max_steps=1, grad_accum_steps=1))
    assert accumulated.history[0]["loss"] == pytest.approx(single.history[0]["loss"], abs=1e-6)
    for (name, a), b in zip(accumulated.model.state_dict().items(), single.model.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0, msg=name)


def test_resumed_run_reproduces_the_uninterrupted_run(small_model, tokenizer, examples, tmp_path, stop_after):
    batches = sft.padded_batches(examples, 2, tokenizer.pad_token_id)
    start = {k: v.clone() for k, v in small_model.state_dict().items()}
    whole = train(small_model, batches, quiet(max_steps=6, seed=3))

    model = type(small_model)(small_model.config)
    model.load_state_dict(start)
    first = train(model, batches, quiet(max_steps=6, seed=3, output_dir=str(tmp_path), save_every=3,
                                        max_minutes=None), callbacks=[stop_after(3)])
    assert first.state.interrupted and first.state.step == 3
    model = type(small_model)(small_model.config)  # a fresh process would start from scratch weights
    resumed = train(model, batches, quiet(max_steps=6, seed=3, output_dir=str(tmp_path)))
    assert [h["loss"] for h in resumed.history] == pytest.approx([h["loss"] for h in whole.history], abs=1e-6)
    assert resumed.state.step == 6


def test_interrupt_keeps_model_and_history(small_model, tokenizer, examples, stop_after):
    batches = sft.padded_batches(examples, 4, tokenizer.pad_token_id)
    result = train(small_model, batches, quiet(max_steps=50), callbacks=[stop_after(2)])
    assert result.state.interrupted and len(result.history) == 2 and result.model is not None


def test_metrics_of_every_step(small_model, tokenizer, examples):
    batches = sft.padded_batches(examples, 4, tokenizer.pad_token_id)
    result = train(small_model, batches, quiet(max_steps=3), eval_batches=batches[:1])
    for record in result.history:
        assert {"loss", "lr", "grad_norm", "token_accuracy", "tokens_per_s", "tokens_seen", "step"} <= record.keys()
        assert 0 <= record["token_accuracy"] <= 1 and record["tokens_per_s"] > 0
    one_pass = sum(int(b["attention_mask"].sum()) for b in batches)  # 2 batches: steps 1 and 2
    assert result.history[1]["tokens_seen"] == one_pass
    assert result.history[2]["tokens_seen"] == one_pass + result.history[2]["tokens"]
    assert result.state.evals[-1]["step"] == 3
    assert result.state.evals[-1]["val_perplexity"] == pytest.approx(math.exp(result.state.evals[-1]["val_loss"]))


def test_loss_goes_down_on_a_repeated_batch(small_model, tokenizer, examples):
    batch = [sft.collate_padded(examples, tokenizer.pad_token_id)]
    result = train(small_model, batch, quiet(max_steps=40, learning_rate=1e-2))
    assert result.history[-1]["loss"] < 0.5 * result.history[0]["loss"]


def test_early_stopping_after_patience(small_model, tokenizer, examples):
    batches = sft.padded_batches(examples, 4, tokenizer.pad_token_id)
    result = train(small_model, batches, quiet(max_steps=100, learning_rate=0.5, eval_every=1, patience=2),
                   eval_batches=batches)
    assert result.state.stopped_early and result.state.step < 100
    assert early_stop_step(result.state.evals, patience=2) == result.state.step, "replaying gives the same step"


def test_early_stop_step_replays_the_rule():
    evals = [{"step": s, "val_loss": v} for s, v in [(1, 3.0), (2, 2.0), (3, 2.5), (4, 1.5), (5, 1.6), (6, 1.7)]]
    assert early_stop_step(evals, patience=2) == 6
    assert early_stop_step(evals, patience=1) == 3
    assert early_stop_step(evals, patience=3) is None


def test_callbacks_see_steps_evaluations_and_the_end(small_model, tokenizer, examples):
    calls = []

    class Recorder:
        def on_step(self, state):
            calls.append(("step", state.step))

        def on_evaluate(self, state):
            calls.append(("eval", state.evals[-1]["step"]))

        def on_end(self, state):
            calls.append(("end", state.step))

    batches = sft.padded_batches(examples, 4, tokenizer.pad_token_id)
    train(small_model, batches, quiet(max_steps=4, eval_every=2), eval_batches=batches, callbacks=[Recorder()])
    assert calls == [("step", 1), ("step", 2), ("eval", 2), ("step", 3), ("step", 4), ("eval", 4), ("end", 4)]


def test_schedule_warms_up_then_decays_to_the_floor():
    config = TrainConfig(max_steps=100, warmup_steps=10, learning_rate=1e-3, min_lr_ratio=0.1)
    assert lr_at(0, config) == pytest.approx(1e-4)
    assert lr_at(9, config) == pytest.approx(1e-3)
    assert lr_at(55, config) == pytest.approx(0.55e-3)
    assert lr_at(100, config) == pytest.approx(1e-4)


def test_precision_choice():
    assert resolve_precision("auto", torch.device("cpu")) == "no"
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"
    assert resolve_precision("fp32", torch.device("cuda")) == "no"
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("half", torch.device("cpu"))
    with pytest.raises(ValueError, match="'fp16' needs a GPU"):
        resolve_precision("fp16", torch.device("cpu"))


def test_runs_of_different_precision_follow_each_other(small_model, tokenizer, examples):
    """accelerate's process-wide state would refuse the second precision; a notebook may well ask for it."""
    batches = sft.padded_batches(examples, 4, tokenizer.pad_token_id)
    fp32 = train(small_model, batches, quiet(max_steps=1, precision="fp32"))
    bf16 = train(fp32.model, batches, quiet(max_steps=1, precision="bf16"))
    assert bf16.state.step == 1 and math.isfinite(bf16.history[0]["loss"])
    assert bf16.history[0]["loss"] != fp32.history[0]["loss"]  # the second run trained on updated weights


def test_a_step_without_targets_is_named(small_model, tokenizer):
    batch = sft.collate_padded([sft.Example([1, 2, 3], [-100, -100, -100])], tokenizer.pad_token_id)
    with pytest.raises(ValueError, match="step 1: its batches hold no target tokens"):
        train(small_model, [batch], quiet(max_steps=1))


def test_lora_trains_only_the_adapters(small_model, tokenizer, examples):
    from course_utils.models import add_lora, count_parameters

    model = add_lora(small_model, r=4)
    frozen = {n: p.clone() for n, p in model.named_parameters() if not p.requires_grad}
    assert count_parameters(model, trainable_only=True) < count_parameters(model) / 5
    train(model, sft.padded_batches(examples, 4, tokenizer.pad_token_id), quiet(max_steps=2))
    for name, p in model.named_parameters():
        if name in frozen:
            assert torch.equal(p, frozen[name]), name


def test_to_device_moves_every_tensor_of_a_batch():
    from course_utils.train import to_device

    batch = {"input_ids": torch.ones(2, 3, dtype=torch.long), "labels": torch.zeros(2, 3, dtype=torch.long)}
    moved = to_device(batch, "meta")
    assert set(moved) == set(batch) and all(t.device.type == "meta" for t in moved.values())
    assert all(t.device.type == "cpu" for t in batch.values()), "the batch itself is left where it was"


def test_keep_best_keeps_the_weights_of_the_lowest_validation_loss(small_model):
    from course_utils.train import KeepBest, TrainState, note_validation_loss

    keep, state = KeepBest(small_model), TrainState()
    name, weight = next(iter(small_model.state_dict().items()))
    for step, val_loss in ((1, 2.0), (2, 1.5), (3, 1.7)):
        with torch.no_grad():
            weight.fill_(step)  # the weights of this evaluation
        state.step = step
        state.evals.append({"step": step, "val_loss": val_loss})
        note_validation_loss(state, val_loss, patience=None)
        keep.on_evaluate(state)
    assert keep.step == 2 and (keep.weights[name] == 2).all() and (weight == 3).all()


def test_state_summary_is_one_line_of_steps_tokens_time_and_losses():
    from course_utils.train import TrainState

    state = TrainState(step=2, tokens_seen=1500, elapsed_s=3.2, history=[{"loss": 7.5}, {"loss": 6.25}],
                       evals=[{"val_loss": 6.5}])
    assert state.summary() == ("2 steps, 1,500 tokens in 3 s; training loss 7.500 at the first step, 6.250 at the last; "
                               "validation loss 6.500")
    assert TrainState().summary() == "0 steps, 0 tokens in 0 s"


@pytest.mark.parametrize("planned, style", [(True, "success"), (False, "danger")])
def test_a_run_that_stops_as_planned_before_max_steps_ends_with_a_full_green_bar(planned, style):
    from tqdm.notebook import tqdm as notebook_tqdm

    from course_utils.train import _close_bar

    bar = notebook_tqdm(total=10, desc="training")
    bar.update(4)
    _close_bar(bar, planned=planned)
    widget = bar.container.children[1]
    assert widget.bar_style == style
    assert (widget.max, widget.value) == ((4, 4) if planned else (10, 4))
