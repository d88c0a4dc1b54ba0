"""Training runs described in a YAML file, for work outside notebooks.

An instructor preparing a checkpoint, or anyone training on several GPUs, writes a recipe::

    model: tiny-base            # shipped name, local folder or hub id
    data:
      train: sft/train          # a shipped split (corpus/..., sft/...) or a JSONL file
      validation: sft/validation
      tasks: [ticket_summary]   # optional: keep only these task types
      limit: 2000               # optional: first N rows
    max_length: 512
    batching: padded            # or packed
    batch_size: 16
    lora_rank: 0                # > 0 trains LoRA adapters instead of every weight
    output_dir: runs/tickets
    train:                      # any TrainConfig field
      max_steps: 300
      learning_rate: 1.0e-3

and runs ``course-utils train recipe.yaml`` (or ``accelerate launch -m course_utils.cli train
recipe.yaml`` for several processes). The run is the notebooks' own ``fine_tune``, with the model
loaded and its tokenizer readied for chat by the same ``load_model``; it writes a
``save_pretrained`` folder (``OUTPUT/model``) and its loss history (``OUTPUT/history.json``).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from course_utils.finetune import FineTuneResult, fine_tune
from course_utils.models import add_lora, load_model
from course_utils.paths import data_dir
from course_utils.presets import SFTPreset
from course_utils.shipped import read_jsonl
from course_utils.train import TrainConfig


@dataclass
class Recipe:
    """Everything a run needs besides the code; the YAML file's keys are these fields."""

    output_dir: str  # where the model and history go
    model: str = "tiny-base"  # shipped name, local folder or hub id
    data: dict = field(default_factory=lambda: {"train": "sft/train"})  # train, validation, tasks, limit
    max_length: int = 512  # longest example in tokens; longer ones are cut from the end
    batching: str = "padded"  # "padded" (length-grouped) or "packed"
    batch_size: int = 16  # rows per micro-batch
    lora_rank: int = 0  # > 0: train LoRA adapters of this rank instead of all weights
    train: dict = field(default_factory=dict)  # TrainConfig fields

    @classmethod
    def from_yaml(cls, path: str | Path) -> "Recipe":
        raw = yaml.safe_load(Path(path).read_text())
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: a recipe is a YAML mapping of settings")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"{path}: unknown setting(s) {unknown}; known: {sorted(known)}")
        if "output_dir" not in raw:
            raise ValueError(f"{path}: 'output_dir' is required")
        recipe = cls(**raw)
        bad = sorted(set(recipe.train) - {f.name for f in fields(TrainConfig)})
        if bad:
            raise ValueError(f"{path}: unknown train setting(s) {bad}; see course_utils.train.TrainConfig")
        if recipe.batching not in ("padded", "packed"):
            raise ValueError(f"{path}: batching must be 'padded' or 'packed', got {recipe.batching!r}")
        return recipe


def read_rows(source: str, tasks: list[str] | None = None, limit: int | None = None) -> list[dict]:
    """Rows of a shipped split ('sft/train', 'corpus/validation') or of a JSONL file."""
    shipped = {f"sft/{p.stem}": p for p in (data_dir() / "sft").glob("*.jsonl")}
    shipped |= {f"corpus/{p.name.split('.')[0]}": p for p in (data_dir() / "corpus").glob("*.jsonl.gz")}
    path = shipped.get(source, Path(source))
    if not path.exists():
        raise FileNotFoundError(f"data source {source!r} is neither a shipped split {sorted(shipped)} nor a file")
    rows = read_jsonl(path)
    if tasks:
        rows = [r for r in rows if r.get("task") in tasks]
    return rows[:limit] if limit else rows


def preset_of(recipe: Recipe) -> SFTPreset:
    """The recipe's settings as a preset; ``train`` settings the recipe leaves out take ``TrainConfig``'s defaults."""
    config = TrainConfig(**recipe.train)
    return SFTPreset(batch_size=recipe.batch_size, learning_rate=config.learning_rate,
                     warmup_steps=config.warmup_steps, steps=config.max_steps, max_length=recipe.max_length,
                     betas=tuple(config.betas))


def run(recipe: Recipe) -> FineTuneResult:
    """Load the model and data, fine-tune, and write the model folder and the history."""
    from accelerate import PartialState

    config = TrainConfig(**recipe.train)
    model, tokenizer = load_model(recipe.model, device=PartialState().device)
    if recipe.lora_rank:
        model = add_lora(model, r=recipe.lora_rank)
    data = recipe.data
    train_rows = read_rows(data["train"], data.get("tasks"), data.get("limit"))
    eval_rows = None
    if data.get("validation"):
        eval_rows = read_rows(data["validation"], data.get("tasks"), data.get("eval_limit", 200))
    result = fine_tune(model, tokenizer, train_rows, preset_of(recipe), copy=False, eval_rows=eval_rows,
                       batching=recipe.batching, seed=config.seed, progress=config.progress,
                       train_settings=recipe.train)
    if PartialState().is_main_process:
        out = Path(recipe.output_dir)
        model_to_save = result.model.merge_and_unload() if recipe.lora_rank else result.model
        model_to_save.save_pretrained(out / "model")
        tokenizer.save_pretrained(out / "model")
        history = {"recipe": asdict(recipe), "history": result.history, "evals": result.state.evals,
                   "interrupted": result.state.interrupted}
        (out / "history.json").write_text(json.dumps(history, indent=1))
        print(f"saved {out / 'model'} and {out / 'history.json'} after {result.state.step} steps")
    return result

