"""Checkpoints: they cannot run code, belong to one run, and resume it exactly from any instant."""
from __future__ import annotations

import json
import os
import signal

import pytest
import torch
from safetensors import safe_open
from torch.optim.optimizer import register_optimizer_step_post_hook

from course_utils import checkpoints, sft
from course_utils.checkpoints import CheckpointError
from course_utils.train import TrainConfig, train


PAIRS = [
    {"prompt": "Summarise: the kettle broke.", "completion": "The kettle broke."},
    {"prompt": "Who founded Oakwood?", "completion": "Talia Wilde founded Oakwood in 2003, in Westford."},
    {"prompt": "Where is Korvale?", "completion": "Ostmark."},
    {"prompt": "Give the order id.", "completion": "A123456"},
    {"prompt": "Rewrite formally: hey my lamp died", "completion": "Dear support team, my lamp stopped working."},
    {"prompt": "Term?", "completion": "Term: 24 months; liability cap: 50,000 crowns; governing law: Valdria."},
]


@pytest.fixture
def batches(tokenizer):
    examples = sft.prepare(tokenizer, PAIRS, verbose=False)[0]
    return sft.padded_batches(examples, 2, tokenizer.pad_token_id)


def quiet(**overrides) -> TrainConfig:
    return TrainConfig(**{"progress": False, "warmup_steps": 1, **overrides})


def fresh(model: torch.nn.Module, weights: dict[str, torch.Tensor]) -> torch.nn.Module:
    """A new process's model: the same network, loaded with the same starting weights."""
    twin = type(model)(model.config)
    twin.load_state_dict(weights)
    return twin


def start_of(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_a_pickled_checkpoint_is_never_opened(small_model, batches, tmp_path, hostile_checkpoint):
    marker = tmp_path / "code-ran"
    hostile_checkpoint(tmp_path, marker)
    with pytest.raises(CheckpointError, match="checkpoint.pt is a pickled checkpoint"):
        train(small_model, batches, quiet(max_steps=2, output_dir=str(tmp_path)))
    assert not marker.exists()
    torch.load(tmp_path / "checkpoint.pt", weights_only=False)  # the premise: unpickling it does run code
    assert marker.exists()


def test_the_checkpoint_is_tensors_and_json(small_model, batches, tmp_path):
    train(small_model, batches, quiet(max_steps=2, output_dir=str(tmp_path)))
    path = tmp_path / checkpoints.CHECKPOINT
    with safe_open(str(path), framework="pt") as f:
        keys, metadata = set(f.keys()), f.metadata()
    assert "model.lm_head.weight" not in keys or "model.model.embed_tokens.weight" not in keys, "tied weights stored once"
    assert json.loads(metadata["state"])["step"] == 2
    assert json.loads(metadata["run"])["settings"]["max_steps"] == 2
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".write-test-*"))


def test_a_checkpoint_of_another_run_is_refused(small_model, batches, tmp_path, stop_after):
    start = start_of(small_model)
    train(small_model, batches, quiet(max_steps=4, output_dir=str(tmp_path), save_every=2), callbacks=[stop_after(2)])
    with pytest.raises(CheckpointError, match="training data"):
        train(fresh(small_model, start), batches[1:], quiet(max_steps=4, output_dir=str(tmp_path)))
    with pytest.raises(CheckpointError, match=r"learning_rate \(0.001 in the checkpoint, 0.0003 now\)"):
        train(fresh(small_model, start), batches, quiet(max_steps=4, learning_rate=3e-4, output_dir=str(tmp_path)))
    other = fresh(small_model, start)
    other.name_or_path = "tiny-instruct"
    with pytest.raises(CheckpointError, match="the model"):
        train(other, batches, quiet(max_steps=4, output_dir=str(tmp_path)))
    afresh = train(fresh(small_model, start), batches[1:], quiet(max_steps=4, output_dir=str(tmp_path), resume=False))
    assert afresh.state.step == 4 and len(afresh.history) == 4


def test_resuming_after_an_interrupt_ends_like_a_whole_run(small_model, batches, tmp_path, stop_after):
    start = start_of(small_model)
    whole = train(fresh(small_model, start), batches, quiet(max_steps=6), eval_batches=batches[:1])
    first = train(small_model, batches, quiet(max_steps=6, output_dir=str(tmp_path)), eval_batches=batches[:1],
                  callbacks=[stop_after(3)])
    assert first.state.interrupted and not first.state.evals, "an interrupted run skips its final evaluation"
    resumed = train(fresh(small_model, start), batches, quiet(max_steps=6, output_dir=str(tmp_path)),
                    eval_batches=batches[:1])
    assert not resumed.state.interrupted
    assert [e["step"] for e in resumed.state.evals] == [6]
    assert resumed.state.evals[-1]["val_loss"] == pytest.approx(whole.state.evals[-1]["val_loss"], abs=1e-6)
    saved = json.loads(safe_open(str(tmp_path / checkpoints.CHECKPOINT), framework="pt").metadata()["state"])
    assert saved["interrupted"] is False and saved["step"] == 6


@pytest.fixture
def ctrl_c_raises():
    """Python's own SIGINT handler for the test: a process started in the background by a
    non-interactive shell inherits SIGINT ignored, and then Ctrl-C rightly does nothing."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_during_the_update_is_counted_with_it(small_model, batches, tmp_path, ctrl_c_raises):
    """SIGINT arriving inside optimizer.step(): the update and its count still go together."""
    start = start_of(small_model)
    reference = train(fresh(small_model, start), batches, quiet(max_steps=40))
    updates = []

    def press_ctrl_c_at_13(optimizer, args, kwargs):
        updates.append(1)
        if len(updates) == 13:
            os.kill(os.getpid(), signal.SIGINT)

    handle = register_optimizer_step_post_hook(press_ctrl_c_at_13)
    try:
        first = train(small_model, batches, quiet(max_steps=40, output_dir=str(tmp_path)))
    finally:
        handle.remove()
    assert first.state.interrupted and first.state.step == len(updates) == 13
    resumed = train(fresh(small_model, start), batches, quiet(max_steps=40, output_dir=str(tmp_path)))
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in reference.history]
    for (name, a), b in zip(resumed.model.state_dict().items(), reference.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_an_unwritable_output_dir_fails_before_the_first_step(small_model, batches, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    steps = []

    class Count:
        def on_step(self, state):
            steps.append(state.step)

    with pytest.raises(ValueError, match=r"output_dir=.*a-file/run.* cannot be written"):
        train(small_model, batches, quiet(max_steps=3, output_dir=str(blocker / "run")), callbacks=[Count()])
    assert steps == []


def test_save_every_without_an_output_dir_is_refused(small_model, batches):
    with pytest.raises(ValueError, match="save_every=2 writes checkpoints into output_dir, which is not set"):
        train(small_model, batches, quiet(max_steps=3, save_every=2))


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_checkpoint_is_named(small_model, batches, tmp_path, damage):
    start = start_of(small_model)
    train(small_model, batches, quiet(max_steps=2, output_dir=str(tmp_path)))
    path = tmp_path / checkpoints.CHECKPOINT
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"\x00" * 64)
    with pytest.raises(CheckpointError, match=rf"{path}.* cannot be read as a checkpoint.*Move it away"):
        train(fresh(small_model, start), batches, quiet(max_steps=2, output_dir=str(tmp_path)))
