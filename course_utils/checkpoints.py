"""Checkpoints of a training run: written so that loading one can never run code, and refused when
they belong to another run.

A checkpoint is one ``checkpoint.safetensors`` file in the run's ``output_dir``. Its tensors are the
model's weights, the optimizer's moments and the random-number state; everything else (the run's
progress, the optimizer's settings, the run's fingerprint) is JSON in the file's metadata. Loading a
pickle (``torch.load``) can run any code the file's author chose; loading safetensors and JSON
reads numbers and text only. A ``checkpoint.pt`` from an older release is therefore never opened.

The fingerprint names the run: the model (its name, its architecture, which weights train), the
data (the bytes of the first pass's batches) and the settings that shape the updates. Resuming from
a checkpoint of another run would quietly mix two runs, so a checkpoint whose fingerprint differs is
refused, and the message says what differs and how to start fresh.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

CHECKPOINT = "checkpoint.safetensors"
PICKLED_CHECKPOINT = "checkpoint.pt"  # what course_utils 0.2 and earlier wrote; never opened

# TrainConfig fields that change the updates of a run: resuming under other values would not
# continue the same run. (max_minutes, output_dir, save_every, eval_every, patience and progress do not.)
RUN_SETTINGS = ("max_steps", "grad_accum_steps", "learning_rate", "weight_decay", "betas", "warmup_steps",
                "min_lr_ratio", "max_grad_norm", "precision", "seed")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: unreadable, of another run, or in the old pickle format."""


def fingerprint(model: torch.nn.Module, batches: Sequence[dict[str, torch.Tensor]], settings: dict[str, Any]) -> dict:
    """What identifies a run: its model, its data and its settings, each as short text or a digest."""
    architecture = hashlib.sha256()
    for name, param in model.named_parameters():
        architecture.update(f"{name}:{tuple(param.shape)}:{param.requires_grad};".encode())
    data = hashlib.sha256()
    for batch in batches:
        for key in sorted(batch):
            data.update(key.encode())
            data.update(batch[key].detach().cpu().contiguous().numpy().tobytes())
    return {
        "model": str(getattr(model, "name_or_path", "") or type(model).__name__),
        "architecture": architecture.hexdigest()[:16],
        "data": data.hexdigest()[:16],
        "settings": {key: list(value) if isinstance(value, tuple) else value for key, value in settings.items()},
    }


def differences(saved: dict, current: dict) -> list[str]:
    """How two fingerprints differ, one phrase each (empty when they are the same run)."""
    found = []
    if saved.get("model") != current["model"]:
        found.append(f"the model ({saved.get('model')!r} in the checkpoint, {current['model']!r} now)")
    elif saved.get("architecture") != current["architecture"]:
        found.append("the model's layers or which of them train (e.g. LoRA added or removed)")
    if saved.get("data") != current["data"]:
        found.append("the training data (its rows, their order or their batching)")
    for key, value in current["settings"].items():
        before = saved.get("settings", {}).get(key)
        if before != value:
            found.append(f"{key} ({before!r} in the checkpoint, {value!r} now)")
    return found


def save(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict, run: dict) -> None:
    """Write a checkpoint atomically: the new file replaces the old one only once it is whole."""
    tensors, aliases = _without_shared(model.state_dict())
    tensors = {f"model.{name}": tensor for name, tensor in tensors.items()}
    saved = optimizer.state_dict()
    moments: dict[str, dict[str, Any]] = {}
    for index, values in saved["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{key}"] = value
            else:
                moments.setdefault(str(index), {})[key] = value
    tensors["rng.torch"] = torch.get_rng_state()
    metadata = {"state": state, "run": run, "aliases": aliases,
                "optimizer": {"param_groups": saved["param_groups"], "other_state": moments}}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp),
              metadata={key: json.dumps(value) for key, value in metadata.items()})
    os.replace(tmp, path)


def load(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, run: dict) -> dict:
    """Restore model, optimizer and random state from ``path`` and return the run's saved progress.

    Refuses, with a ``CheckpointError``, a file that cannot be read or that another run wrote.
    """
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = {key: json.loads(value) for key, value in (f.metadata() or {}).items()}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
        state, saved_run = metadata["state"], metadata["run"]
    except (SafetensorError, OSError, ValueError, KeyError) as err:
        raise CheckpointError(
            f"{path} cannot be read as a checkpoint ({type(err).__name__}: {err}); a crash while it was written "
            f"or a copy cut short leaves such a file. Move it away to start the run afresh.") from None
    if mismatch := differences(saved_run, run):
        raise CheckpointError(
            f"{path} belongs to another run: it differs in {'; '.join(mismatch)}. To start this run afresh, "
            f"give it another output_dir, delete the checkpoint, or set resume=False (in a recipe: resume: false under "
            f"train:), which overwrites it.")
    weights = {key.removeprefix("model."): value for key, value in tensors.items() if key.startswith("model.")}
    weights |= {alias: weights[original] for alias, original in metadata["aliases"].items()}
    model.load_state_dict(weights)
    optimizer.load_state_dict(_optimizer_state(tensors, metadata["optimizer"]))
    torch.set_rng_state(tensors["rng.torch"])
    return state


def refuse_pickled(folder: Path) -> None:
    """Stop at a pickled checkpoint of an older release rather than open it (opening it could run code)."""
    old = folder / PICKLED_CHECKPOINT
    if old.exists():
        raise CheckpointError(
            f"{old} is a pickled checkpoint (the format of course_utils 0.2 and earlier). It is not opened: unpickling a "
            f"file can run any code its author put in it. Delete it (or move it away) to start the run afresh.")


def _without_shared(weights: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The weights with each shared tensor once (tied embeddings are one matrix under two names), and
    the other names of the shared ones; safetensors stores a tensor once."""
    kept: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    first_name: dict[tuple, str] = {}
    for name, tensor in weights.items():
        key = (tensor.data_ptr(), tuple(tensor.shape), tuple(tensor.stride()), tensor.device)
        if key in first_name:
            aliases[name] = first_name[key]
        else:
            first_name[key] = name
            kept[name] = tensor
    return kept, aliases


def _optimizer_state(tensors: dict[str, torch.Tensor], saved: dict) -> dict:
    """The optimizer's ``state_dict`` rebuilt from the file's tensors and JSON."""
    state: dict[int, dict[str, Any]] = {int(i): dict(values) for i, values in saved["other_state"].items()}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    groups = [{**group, "betas": tuple(group["betas"])} if "betas" in group else group for group in saved["param_groups"]]
    return {"state": state, "param_groups": groups}
