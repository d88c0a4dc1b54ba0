"""course_utils.memory's estimate before a run: close to the measured peak, and a refusal that says what to lower."""
from __future__ import annotations

import json

import pytest
import torch
from torch._C._profiler import _EventType
from torch.profiler import ProfilerActivity, profile
from transformers import LlamaConfig, LlamaForCausalLM

from course_utils import memory
from course_utils.memory import MemoryEstimateError, check_fits, estimate_training_memory, training_memory
from course_utils.models import TinyConfig, add_lora, build_model
from course_utils.train import TrainConfig, train

MiB = 2**20


def pretraining_batch(rows: int, length: int, vocab: int, seed: int = 0) -> dict:
    """Random tokens, every position a target: the logits of every position go through the loss."""
    ids = torch.randint(3, vocab, (rows, length), generator=torch.Generator().manual_seed(seed))
    return {"input_ids": ids, "labels": ids.clone()}


def quiet(**overrides) -> TrainConfig:
    return TrainConfig(**{"progress": False, "warmup_steps": 1, **overrides})


def peak_bytes_during(run) -> int:
    """Most bytes live at once among the CPU tensors that ``run()`` allocates.

    With ``profile_memory=True`` the profiler records each allocation and each free of PyTorch's CPU
    allocator, with its address and time; replaying them in order gives the live total at every
    instant. Frees of memory allocated before ``run()`` (the weights) are left out.
    """
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    events, pending = [], list(prof.profiler.kineto_results.experimental_event_tree())
    while pending:
        node = pending.pop()
        if node.tag == _EventType.Allocation:
            events.append(node)
        pending.extend(node.children)
    ours, live, peak = set(), 0, 0
    for event in sorted(events, key=lambda e: e.start_time_ns):
        allocation = event.typed[1]
        if allocation.alloc_size > 0:
            ours.add(allocation.ptr)
        elif allocation.ptr in ours:
            ours.remove(allocation.ptr)
        else:
            continue  # memory allocated before run()
        live += allocation.alloc_size
        peak = max(peak, live)
    return peak


def tiny(tokenizer) -> LlamaForCausalLM:
    """The shipped model's architecture, wider: 4.7 M parameters, so that allocator noise is small."""
    return build_model(tokenizer, TinyConfig(vocab_size=len(tokenizer), hidden_size=256, num_layers=4, num_heads=8,
                                             intermediate_size=1024), seed=0)


def grouped_query(vocab: int) -> LlamaForCausalLM:
    """A Llama with grouped-query attention: 8 query heads share 2 key/value heads."""
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=256, num_hidden_layers=4, num_attention_heads=8,
                                        num_key_value_heads=2, intermediate_size=1024, max_position_embeddings=512))


@pytest.mark.parametrize("which", ["tiny", "grouped-query", "grouped-query with LoRA"])
def test_the_estimate_is_within_30_percent_of_the_measured_peak_of_a_training_run(tokenizer, which):
    model = tiny(tokenizer) if which == "tiny" else grouped_query(len(tokenizer))
    if which.endswith("LoRA"):
        model = add_lora(model, r=8)
    batches = [pretraining_batch(8, 256, len(tokenizer), seed) for seed in range(2)]
    weights = sum(p.numel() * p.element_size() for p in {id(p): p for p in model.parameters()}.values())
    measured = weights + peak_bytes_during(lambda: train(model, batches, quiet(max_steps=2)))
    estimate = estimate_training_memory(model, 8, 256, "no")
    assert estimate.total == pytest.approx(measured, rel=0.30), f"{which}: measured {measured / MiB:.1f} MiB\n{estimate.table()}"


def test_weights_gradients_and_adamw_state_are_what_a_real_step_measures(small_model):
    batch = pretraining_batch(2, 24, small_model.config.vocab_size)
    for model in (small_model, add_lora(small_model, r=2)):
        measured, estimate = training_memory(model, batch), estimate_training_memory(model, 2, 24, "no")
        assert (estimate.weights, estimate.gradients, estimate.optimizer_state) == (
            measured["weights"], measured["gradients"], measured["AdamW state"])


def test_mixed_precision_halves_what_the_matrix_products_keep_but_not_the_weights(tokenizer):
    model = tiny(tokenizer)
    full, mixed = estimate_training_memory(model, 8, 256, "no"), estimate_training_memory(model, 8, 256, "bf16")
    assert mixed.weights == full.weights and mixed.optimizer_state == full.optimizer_state
    assert 0.5 * full.activations < mixed.activations < full.activations  # the residual stream and logits stay float32
    assert estimate_training_memory(model, 8, 256, "fp32") == full
    with pytest.raises(ValueError, match="precision"):
        estimate_training_memory(model, 8, 256, "int8")


def free_memory_for(model, batch_size: int, seq_len: int) -> int:
    """Free bytes that just hold a run of ``batch_size`` rows (weights already on the device)."""
    estimate = estimate_training_memory(model, batch_size, seq_len, "no")
    return int((estimate.total - estimate.weights + memory.SAFETY_BYTES) / (1 - memory.SAFETY_SHARE)) + 1


def test_the_refusal_names_what_to_lower_with_the_memory_each_change_needs(tokenizer):
    model = tiny(tokenizer)
    estimate = estimate_training_memory(model, 32, 512, "no")
    free = free_memory_for(model, 8, 512)
    with pytest.raises(MemoryEstimateError) as refused:
        check_fits(estimate, free, batch_size=32, seq_len=512, precision="no", device="cuda:0",
                   resident_bytes=estimate.weights)
    message = str(refused.value)
    assert "cuda:0" in message and "needs about" in message
    assert "batch_size 32 -> 8 (grad_accum_steps x4 keeps the effective batch)" in message
    assert "max_length 512 -> 128" in message
    assert "precision 'bf16'" in message and "models.add_lora" in message
    options = [line for line in message.splitlines() if line.startswith("  - ")]
    assert len(options) == 4
    eight = estimate_training_memory(model, 8, 512, "no")
    batch_line = next(line for line in options if "batch_size" in line)
    assert batch_line.endswith(f"would need {memory._gib(eight.total - eight.weights)} (fits)")  # beyond the weights there
    # The biggest effect first: a quarter of the rows or of the length fits; bf16 saves less, LoRA least
    # (full fine-tuning's gradients and moments are small beside 32 x 512 tokens of activations).
    assert [line.endswith("(still too much)") for line in options] == [False, False, True, True]
    assert "bf16" in options[2] and "add_lora" in options[3]
    assert isinstance(refused.value, RuntimeError)


def test_a_run_that_fits_passes_the_check(tokenizer):
    model = tiny(tokenizer)
    estimate = estimate_training_memory(model, 8, 512, "no")
    check_fits(estimate, free_memory_for(model, 8, 512), batch_size=8, seq_len=512, precision="no",
               resident_bytes=estimate.weights)


def test_train_refuses_a_run_too_big_for_the_gpu_before_its_first_step(small_model, monkeypatch):
    free = free_memory_for(small_model, 2, 16)  # room for 2 rows of 16 tokens
    monkeypatch.setattr(memory, "device_free_bytes", lambda device: free)  # as a GPU would report it
    before = {name: p.clone() for name, p in small_model.state_dict().items()}
    steps = []

    class Steps:
        def on_step(self, state):
            steps.append(state.step)

    batches = [pretraining_batch(64, 512, small_model.config.vocab_size)]
    with pytest.raises(MemoryEstimateError, match="batch_size 64 -> "):
        train(small_model, batches, quiet(max_steps=3), callbacks=[Steps()])
    assert steps == []
    assert all(torch.equal(p, before[name]) for name, p in small_model.state_dict().items())

    result = train(small_model, [pretraining_batch(2, 16, small_model.config.vocab_size)], quiet(max_steps=1))
    assert result.state.step == 1  # a batch that fits trains


def test_every_finished_run_appends_a_line_to_the_run_log(small_model, tmp_path, monkeypatch):
    log = tmp_path / "runs.jsonl"
    monkeypatch.setenv("COURSE_UTILS_RUN_LOG", str(log))
    batches = [pretraining_batch(2, 16, small_model.config.vocab_size), pretraining_batch(4, 12, small_model.config.vocab_size)]
    first = train(small_model, batches, quiet(max_steps=2)).state
    train(small_model, batches, quiet(max_steps=1))
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == 2
    assert lines[0] | {"seconds": None, "tokens_per_s": None} == {
        "steps": 2, "tokens": first.tokens_seen, "seconds": None, "tokens_per_s": None, "device": "cpu",
        "precision": "fp32", "peak_bytes": None,
        "estimate_bytes": estimate_training_memory(small_model, 4, 16, "no").total,  # the most rows, the longest row
    }
    assert lines[0]["tokens_per_s"] == pytest.approx(first.tokens_seen / first.elapsed_s, rel=0.01)


def test_smoke_mode_cuts_the_run_to_its_steps(small_model, monkeypatch):
    monkeypatch.setenv("COURSE_UTILS_SMOKE", "2")
    result = train(small_model, [pretraining_batch(2, 16, small_model.config.vocab_size)], quiet(max_steps=50))
    assert result.state.step == 2
