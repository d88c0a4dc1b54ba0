"""Shared fixtures: the shipped tokenizer and tiny-base, a very small random model, a callback that
presses stop, and a hostile pickled checkpoint."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from course_utils.models import TinyConfig, build_model, load_model
from course_utils.paths import model_dir


@pytest.fixture(scope="session")
def tokenizer():
    return AutoTokenizer.from_pretrained(model_dir("tiny-base"))


@pytest.fixture(scope="session")
def tiny_base():
    """(model, tokenizer) of the shipped base model, on the CPU."""
    return load_model("tiny-base", device="cpu")


@pytest.fixture
def small_model(tokenizer):
    """A two-layer random model: fast enough for exact, step-by-step checks."""
    size = TinyConfig(vocab_size=len(tokenizer), hidden_size=32, num_layers=2, num_heads=2,
                      intermediate_size=64, context_length=512)
    return build_model(tokenizer, size, seed=0)


class StopAfter:
    """Raises KeyboardInterrupt after N steps, as pressing stop in a notebook does."""

    def __init__(self, n: int):
        self.n = n

    def on_step(self, state):
        if state.step == self.n:
            raise KeyboardInterrupt


@pytest.fixture
def stop_after() -> type[StopAfter]:
    """``stop_after(n)``: a training callback that interrupts the run after step n."""
    return StopAfter


class _CreatesFileWhenUnpickled:
    """Unpickling this calls ``open(path, "w")``: the pickle names only ``builtins.open``."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


@pytest.fixture
def hostile_checkpoint():
    """``hostile_checkpoint(folder, marker)`` writes ``folder/checkpoint.pt``, whose unpickling creates
    ``marker``: what a crafted file left in a shared run folder can do."""
    def write(folder: Path, marker: Path) -> None:
        torch.save({"model": _CreatesFileWhenUnpickled(str(marker))}, folder / "checkpoint.pt")
    return write
