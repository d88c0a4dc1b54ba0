"""Where the memory of a training run goes: measured on a real batch, or estimated before the run.

Training keeps four things in memory: the weights (every parameter, trained or frozen), one
gradient per trainable parameter, AdamW's two moments per trainable parameter, and the
activations that the forward pass saves for the backward pass. The first two are counted from
the parameters; the optimizer state is measured after one AdamW step, and the activations with a
hook that sees every tensor the forward pass saves (``torch.autograd.graph.saved_tensors_hooks``).

The same four parts can be counted before a run, from the model's configuration alone
(``estimate_training_memory``), so that a run too big for the GPU is refused with advice
(``check_fits``) instead of failing deep inside CUDA.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import torch

from course_utils.train import Batch, to_device, token_loss_sum


def _bytes(tensors: Iterable[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def saved_activation_bytes(model: torch.nn.Module, batch: Batch) -> int:
    """Bytes of the tensors the forward pass keeps for the backward pass (weights excluded, shared storage once)."""
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    kept = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            kept[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        token_loss_sum(model, to_device(batch, next(model.parameters()).device))
    return sum(kept.values())


def adam_state_bytes(model: torch.nn.Module, batch: Batch) -> int:
    """Bytes of AdamW's state after one step on ``batch``; the step changes the model, so pass a copy."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    loss_sum, n_targets, _ = token_loss_sum(model, to_device(batch, next(model.parameters()).device))
    (loss_sum / n_targets).backward()
    optimizer.step()
    return _bytes(t for state in optimizer.state.values() for t in state.values() if t.dim() > 0)  # not the step count


def training_memory(model: torch.nn.Module, batch: Batch) -> dict[str, int]:
    """Bytes of the four parts of a training step on ``batch``, measured on a copy so that ``model`` stays as it was."""
    params = list({id(p): p for p in model.parameters()}.values())  # tied weights once
    copied = copy.deepcopy(model).train()
    return {
        "weights": _bytes(params),
        "gradients": _bytes(p for p in params if p.requires_grad),
        "AdamW state": adam_state_bytes(copied, batch),
        "activations": saved_activation_bytes(copied, batch),
    }


# -- the estimate before a run ---------------------------------------------------------------
MiB, GiB = 2**20, 2**30
HALF = ("bf16", "fp16")  # mixed precision: the matrix products run in 16 bits, the weights stay as they are
PRECISIONS = ("no", "fp32", *HALF)  # as resolve_precision returns them ("no": accelerate's name for fp32)
LOSS_COPIES = 3  # float32 tensors of logits size around the loss: log-probabilities kept, their gradient, the logits' gradient
LORA_RANK = 8  # the rank models.add_lora uses, for the advice to train adapters only
# Free memory kept in reserve: the caching allocator cannot use every free byte (fragmentation),
# and CUDA kernels, cuBLAS workspaces and the loss's temporaries take some that the estimate does not count.
SAFETY_SHARE = 0.10  # of the free memory
SAFETY_BYTES = 256 * MiB


class MemoryEstimateError(RuntimeError):
    """A training run that would not fit in the device's free memory, refused before its first step."""


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs to know of a model: its configuration's sizes and its parameters' bytes."""

    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int  # fewer than heads with grouped-query attention
    head_dim: int
    vocab: int
    weight_bytes: int  # every parameter once (tied weights once), trained or frozen
    weight_size: int  # bytes per weight: 4 for float32, 2 for bfloat16; also the residual stream's
    trainable: int  # parameters that get a gradient and AdamW moments
    trainable_size: int  # bytes per trainable parameter (its gradient and moments have its dtype)
    matrix_weights: int  # weights of the linear layers, which autocast copies to 16 bits
    adapter_weights_per_rank: int  # parameters of LoRA adapters of rank 1 on every linear layer of the blocks
    eager_attention: bool  # the plain attention that keeps each head's length x length probabilities

    @property
    def full_fine_tuning(self) -> bool:
        """Every weight trains (no LoRA, nothing frozen)."""
        return self.trainable * self.trainable_size == self.weight_bytes


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a training step needs, by part, before anything runs (``estimate_training_memory``)."""

    weights: int
    gradients: int
    optimizer_state: int
    activations: int  # saved for the backward pass, the logits for the loss, autocast's 16-bit weight copies
    model: ModelShape = field(repr=False)

    @property
    def total(self) -> int:
        # A sum, not the exact peak: backward frees activations as it fills gradients, but with
        # gradient accumulation a whole step's gradients wait while the next micro-batch runs.
        return self.weights + self.gradients + self.optimizer_state + self.activations

    def parts(self) -> dict[str, int]:
        """Bytes by part and in all, by name."""
        return {"weights": self.weights, "gradients": self.gradients, "optimizer state": self.optimizer_state,
                "activations": self.activations, "total": self.total}

    def table(self) -> str:
        """The parts in MiB, one a line, for people."""
        return "\n".join(f"{name:<16}{size / MiB:>10,.1f} MiB" for name, size in self.parts().items())


def model_shape(model: torch.nn.Module) -> ModelShape:
    """The sizes of a Hugging Face causal language model (or a peft model around one) that the estimate reads."""
    config = getattr(model, "config", None)
    if config is None:
        raise ValueError(f"estimate_training_memory: {type(model).__name__} has no Hugging Face config to read its sizes from")
    config = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads = config.num_attention_heads
    params = list({id(p): p for p in model.parameters()}.values())  # tied weights once
    trained = [p for p in params if p.requires_grad]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return ModelShape(
        layers=config.num_hidden_layers, hidden=config.hidden_size, intermediate=config.intermediate_size,
        heads=heads, kv_heads=getattr(config, "num_key_value_heads", None) or heads,
        head_dim=getattr(config, "head_dim", None) or config.hidden_size // heads, vocab=config.vocab_size,
        weight_bytes=_bytes(params), weight_size=params[0].element_size(),
        trainable=sum(p.numel() for p in trained), trainable_size=trained[0].element_size() if trained else 4,
        matrix_weights=sum(p.numel() for p in {id(m.weight): m.weight for m in linears}.values()),
        adapter_weights_per_rank=sum(m.in_features + m.out_features for m in linears if m is not output),
        eager_attention=getattr(config, "_attn_implementation", None) == "eager",
    )


def estimate_training_memory(model: torch.nn.Module, batch_size: int, seq_len: int, precision: str) -> MemoryEstimate:
    """The memory of a training step with AdamW on batches of ``batch_size`` rows of ``seq_len`` tokens,
    from the model's configuration and parameters alone: no forward pass runs.

    ``precision`` is what ``train.resolve_precision`` returns: "no" (or "fp32"), "bf16" or "fp16".
    """
    if precision not in PRECISIONS:
        raise ValueError(f"estimate_training_memory: precision must be one of {PRECISIONS}, got {precision!r}")
    return _estimate(model_shape(model), batch_size, seq_len, precision)


def _estimate(shape: ModelShape, batch_size: int, seq_len: int, precision: str) -> MemoryEstimate:
    trained = shape.trainable * shape.trainable_size
    return MemoryEstimate(
        weights=shape.weight_bytes,
        gradients=trained,
        optimizer_state=2 * trained,  # AdamW's two moments, each of its parameter's dtype
        activations=_activation_bytes(shape, batch_size, seq_len, precision),
        model=shape,
    )


def _activation_bytes(shape: ModelShape, batch_size: int, seq_len: int, precision: str) -> int:
    """What the forward pass keeps for the backward pass, counted per token from a Llama-style block:
    two RMS norms, attention (sdpa) and a gated MLP, then the final norm, the output layer and the loss.

    The residual stream keeps the weights' dtype, also under autocast; the matrix products run in
    ``compute`` bytes. Under mixed precision each linear layer keeps its own 16-bit copy of its input
    (autocast casts once per layer) and of its weight.
    """
    stream = shape.weight_size
    compute = 2 if precision in HALF else stream
    mixed = compute < stream
    h, i = shape.hidden, shape.intermediate
    # An RMS norm keeps its input in float32 (it computes in float32) and, when its weight trains, its normalised input.
    norm = 4 + (stream if shape.full_fine_tuning else 0)
    # The inputs of q/k/v and of gate/up: one shared tensor each, or five 16-bit casts under mixed precision.
    projection_inputs = 5 * h * compute if mixed else 2 * h * compute
    if shape.eager_attention:  # keys and values repeated for every head, and each head's probabilities, in float32 and cast
        attention = 4 * shape.heads * shape.head_dim * compute + shape.heads * seq_len * (4 + (compute if compute < 4 else 0))
    else:  # scaled_dot_product_attention keeps q, its output, k, v and a log-sum-exp per head
        attention = (2 * shape.heads + 2 * shape.kv_heads) * shape.head_dim * compute + 4 * shape.heads
    mlp = 4 * i * compute  # gate, silu(gate), up, and their product for down_proj
    per_token_layer = 2 * norm * h + projection_inputs + attention + mlp
    head = norm * h + h * compute + LOSS_COPIES * shape.vocab * 4  # final norm, output layer input, float32 logits
    weight_copies = 2 * shape.matrix_weights if mixed else 0
    return batch_size * seq_len * (shape.layers * per_token_layer + head) + weight_copies


def device_free_bytes(device: torch.device | str) -> int | None:
    """Memory a run can still take on a CUDA device, or None on other devices: what the driver reports
    free, plus what PyTorch's caching allocator holds from earlier runs without using it."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    cached_unused = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    return torch.cuda.mem_get_info(device)[0] + cached_unused


def usable_bytes(free_bytes: int) -> int:
    """The part of ``free_bytes`` a run may plan to use: the rest is the safety margin."""
    return int(free_bytes * (1 - SAFETY_SHARE)) - SAFETY_BYTES


def check_fits(estimate: MemoryEstimate, free_bytes: int, *, batch_size: int, seq_len: int, precision: str,
               device: str = "cuda", resident_bytes: int = 0) -> None:
    """Raise ``MemoryEstimateError`` if the run estimated for these settings will not fit in ``free_bytes``.

    ``resident_bytes`` is what of the estimate is on the device already (the weights, once the model
    is there). The message says what to lower, the change with the biggest effect first, with the
    memory each change would need.
    """
    usable = usable_bytes(free_bytes)
    needed = estimate.total - resident_bytes
    if needed <= usable:
        return
    options = sorted(_alternatives(estimate.model, batch_size, seq_len, precision, usable + resident_bytes))
    lines = [
        f"This training run needs about {_gib(needed)} more on {device}, but only {_gib(free_bytes)} is free "
        f"({_gib(max(usable, 0))} after a safety margin of {SAFETY_SHARE:.0%} + {SAFETY_BYTES // MiB} MiB).",
        "Estimated for batch_size {} x max_length {} at precision {}: {}.".format(
            batch_size, seq_len, "fp32" if precision == "no" else precision,
            ", ".join(f"{name} {_gib(size)}" for name, size in estimate.parts().items())),
        "Lower, the biggest effect first:",
        *(f"  - {text} would need {_gib(total - resident_bytes)}"
          + (" (fits)" if total - resident_bytes <= usable else " (still too much)") for total, text in options),
    ]
    if not any(total - resident_bytes <= usable for total, _ in options):
        lines.append("No single change is enough: combine them, or take a smaller model or a GPU with more memory.")
    raise MemoryEstimateError("\n".join(lines))


def _alternatives(shape: ModelShape, batch_size: int, seq_len: int, precision: str, budget: int) -> list[tuple[int, str]]:
    """(estimated total, what to change) for each setting worth lowering: the largest batch size and
    length that fit ``budget`` (halving, down to 1 row and 16 tokens), 16-bit precision and LoRA."""
    options = []
    if batch_size > 1:
        rows = _largest_fitting(batch_size, 1, lambda b: _estimate(shape, b, seq_len, precision).total, budget)
        accumulate = math.ceil(batch_size / rows)
        options.append((_estimate(shape, rows, seq_len, precision).total,
                        f"batch_size {batch_size} -> {rows} (grad_accum_steps x{accumulate} keeps the effective batch)"))
    if seq_len > 16:
        length = _largest_fitting(seq_len, 16, lambda s: _estimate(shape, batch_size, s, precision).total, budget)
        options.append((_estimate(shape, batch_size, length, precision).total, f"max_length {seq_len} -> {length}"))
    if precision not in HALF:
        options.append((_estimate(shape, batch_size, seq_len, "bf16").total,
                        "precision 'bf16' (mixed precision; 'fp16' on GPUs without bf16)"))
    if shape.full_fine_tuning:
        adapters = LORA_RANK * shape.adapter_weights_per_rank
        lora = replace(shape, weight_bytes=shape.weight_bytes + 4 * adapters, trainable=adapters, trainable_size=4)
        options.append((_estimate(lora, batch_size, seq_len, precision).total,
                        f"LoRA (models.add_lora(model, r={LORA_RANK}): only its adapters get gradients and AdamW state)"))
    return options


def _largest_fitting(value: int, smallest: int, total_at, budget: int) -> int:
    """``value`` halved until ``total_at`` of it fits ``budget``, but not below ``smallest``."""
    while value > smallest:
        value = max(smallest, value // 2)
        if total_at(value) <= budget:
            break
    return value


def _gib(size: int) -> str:
    return f"{size / GiB:.1f} GiB" if abs(size) >= GiB else f"{size / MiB:.0f} MiB"
