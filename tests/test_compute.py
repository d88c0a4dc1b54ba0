"""PyTorch's FLOP counter agrees with the 6ND rule, and 6ND turns into time."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from course_utils.compute import count_flops, duration, flops_per_parameter_token, matmul_parameters, training_cost
from course_utils.models import TinyConfig, build_model, count_parameters


@pytest.fixture
def rows(tokenizer):
    return torch.randint(0, len(tokenizer), (2, 16), generator=torch.Generator().manual_seed(0))


def test_each_parameter_in_a_product_costs_two_flops_per_token_forward(small_model, rows):
    forward = count_flops(small_model, rows)
    assert forward["weight products"] == 2 * rows.numel() * matmul_parameters(small_model)
    assert forward["attention products"] > 0, "the plain attention implementation shows its products to the counter"
    assert small_model.config._attn_implementation == "sdpa", "the model's own attention is back afterwards"


def test_a_training_step_costs_about_six_flops_per_parameter_and_token(small_model, rows):
    table = flops_per_parameter_token(small_model, rows)
    weights = table["weight products / (N x tokens)"]
    assert list(table.index) == ["forward", "backward", "training step"]
    assert weights["backward"] == pytest.approx(2 * weights["forward"])
    assert weights["training step"] == pytest.approx(weights["forward"] + weights["backward"])
    assert 5.8 < weights["training step"] < 6.0, "the norm weights make up the small shortfall"
    assert all(p.grad is None for p in small_model.parameters()), "the backward pass leaves no gradients behind"


def test_matmul_parameters_leave_out_the_norms_and_an_untied_input_embedding(tokenizer):
    size = TinyConfig(vocab_size=len(tokenizer), hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64)
    norms = (2 * 2 + 1) * 32  # two per block and the final one
    tied = build_model(tokenizer, size)
    assert matmul_parameters(tied) == count_parameters(tied) - norms
    untied = build_model(tokenizer, dataclasses.replace(size, tie_embeddings=False))
    assert matmul_parameters(untied) == count_parameters(untied) - norms - len(tokenizer) * 32


@pytest.mark.parametrize("seconds, text", [(0.25, "0.25 s"), (5, "5 s"), (90, "1.5 minutes"), (7200, "2.0 hours"),
                                           (3 * 86400, "3.0 days"), (2 * 365.25 * 86400, "2.0 years")])
def test_duration_in_the_largest_unit_that_fits(seconds, text):
    assert duration(seconds) == text


def test_training_cost_is_six_n_d_and_its_time_at_each_speed():
    cost = training_cost({"small": (1e6, 2e7), "big": (1e7, 2e8)}, {"at 1 GFLOP/s": 1e9})
    assert cost.index.name == "model" and list(cost.columns) == ["parameters", "tokens", "FLOPs (6ND)", "at 1 GFLOP/s"]
    assert cost.loc["small", "FLOPs (6ND)"] == pytest.approx(1.2e14)
    assert cost.loc["big", "FLOPs (6ND)"] / cost.loc["small", "FLOPs (6ND)"] == pytest.approx(100)
    assert cost.loc["small", "at 1 GFLOP/s"] == "1.4 days"
