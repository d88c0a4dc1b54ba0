"""Where the memory of a training run goes, counted and measured on a real batch.

Training keeps four things in memory: the weights (every parameter, trained or frozen), one
gradient per trainable parameter, AdamW's two moments per trainable parameter, and the
activations that the forward pass saves for the backward pass. The first two are counted from
the parameters; the optimizer state is measured after one AdamW step, and the activations with a
hook that sees every tensor the forward pass saves (``torch.autograd.graph.saved_tensors_hooks``).
"""
from __future__ import annotations

import copy
from collections.abc import Iterable

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
