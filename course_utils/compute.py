"""What training costs: floating-point operations (FLOPs) counted, and the 6ND rule turned into time.

A training step costs about 6 FLOPs per parameter and token: 2 for the multiply and the add of
each weight in the forward pass, 4 in the backward pass (gradients for the activations and for
the weights). ``count_flops`` checks this with PyTorch's own counter; ``training_cost`` applies
C = 6ND to runs of any size and converts the FLOPs into time at given speeds.
"""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from course_utils.models import count_parameters, eager_attention

WEIGHT_PRODUCTS = ("aten.mm", "aten.addmm")  # products of the activations with a weight matrix
UNITS = (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600), ("minutes", 60))


def count_flops(model: torch.nn.Module, rows: torch.Tensor, backward: bool = False) -> dict[str, float]:
    """FLOPs of one pass over ``rows`` (token ids), forward only or forward and backward, in two parts:
    the products with the weights (what 6ND counts) and the rest, mostly attention between positions.

    Attention runs as plain matrix products meanwhile, so that the counter sees them; the
    gradients of the backward pass are cleared afterwards.
    """
    with eager_attention(model), FlopCounterMode(display=False) as counter:
        loss = model(input_ids=rows, labels=rows).loss
        if backward:
            loss.backward()
    model.zero_grad(set_to_none=True)
    by_op = {str(op): n for op, n in counter.get_flop_counts()["Global"].items()}
    weights = sum(by_op.get(op, 0) for op in WEIGHT_PRODUCTS)
    return {"weight products": weights, "attention products": counter.get_total_flops() - weights}


def matmul_parameters(model: torch.nn.Module) -> int:
    """The parameters that take part in a matrix product, 2 FLOPs per token each going forward: all but the
    normalisation weights, which only scale, and an untied input embedding, which is only looked up."""
    norm_weights = sum(p.numel() for name, p in model.named_parameters() if "norm" in name)
    tied = model.get_input_embeddings().weight is model.get_output_embeddings().weight
    lookup_only = 0 if tied else model.get_input_embeddings().weight.numel()
    return count_parameters(model) - norm_weights - lookup_only


def flops_per_parameter_token(model: torch.nn.Module, rows: torch.Tensor) -> pd.DataFrame:
    """FLOPs of the forward pass, the backward pass and a whole training step over ``rows``, divided by
    parameters x tokens: the 2, 4 and 6 of the rule, for the weight products and for the rest."""
    forward, step = count_flops(model, rows), count_flops(model, rows, backward=True)
    per = count_parameters(model) * rows.numel()
    return pd.DataFrame({f"{part} / (N x tokens)": {
        "forward": forward[part] / per,
        "backward": (step[part] - forward[part]) / per,
        "training step": step[part] / per,
    } for part in forward})


def duration(seconds: float) -> str:
    """A length of time in the largest unit that fits (years, days, hours, minutes), else in seconds."""
    for unit, length in UNITS:
        if seconds >= length:
            return f"{seconds / length:,.1f} {unit}"
    return f"{seconds:.2g} s"


def training_cost(runs: Mapping[str, tuple[float, float]], speeds: Mapping[str, float]) -> pd.DataFrame:
    """The compute C = 6ND of runs of N parameters on D tokens (name -> (N, D)), and how long each takes
    at every speed of ``speeds`` (column name -> FLOPs per second): one row per run."""
    rows = {}
    for name, (n, d) in runs.items():
        flops = 6 * n * d
        rows[name] = {"parameters": n, "tokens": d, "FLOPs (6ND)": flops,
                      **{column: duration(flops / per_second) for column, per_second in speeds.items()}}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")
