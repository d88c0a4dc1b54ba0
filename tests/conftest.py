"""Shared fixtures: the shipped tokenizer and tiny-base, and a very small random model."""
from __future__ import annotations

import pytest
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
