"""Training runs described in a YAML file, for work outside notebooks.

An instructor preparing a checkpoint, or anyone training on several GPUs, writes a recipe::

    model: tiny-base            # shipped name, local folder or hub id
    data:
      train: sft/train          # a shipped split (corpus/..., sft/...) or a file (JSON Lines or a JSON array)
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
      learning_rate: 1e-3

and runs ``course-utils train recipe.yaml`` (or ``accelerate launch -m course_utils.cli train
recipe.yaml`` for several processes). The run is the notebooks' own ``fine_tune``, with the model
loaded and its tokenizer readied for chat by the same ``load_model``; it writes a
``save_pretrained`` folder (``OUTPUT/model``) and its loss history (``OUTPUT/history.json``).

A mistake in a recipe should cost seconds, not a run. ``Recipe.from_yaml`` checks the whole file
before any model or data loads, and a ``RecipeError`` names the file and the key:

- every key at every level is a field of ``Recipe``, ``DataSpec`` (under ``data:``) or ``TrainConfig``
  (under ``train:``), so a typo such as ``limt`` is refused, with the closest known key;
- every value has its field's type (YAML reads ``1e-3`` as a string: it is taken as the number it
  means) and lies in its range (``ALLOWED``: at least one step, a positive learning rate...);
- the data sources are shipped splits or files, and the tasks are task types of the shipped data;
- the output folders can be written (they are made if missing), so that a run cannot end with
  nothing saved.

``run`` then reads the rows and refuses a task that no row has, and, once the tokenizer is loaded,
a data source of which no row is left to train on (each cut to nothing by ``max_length``, say).
Its checkpoint goes to ``output_dir`` (or ``train.output_dir``): the same recipe run again resumes
where it stopped, and a changed recipe is refused there until the run is started afresh
(``train: {resume: false}``, or another ``output_dir``); see ``course_utils.checkpoints``.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from difflib import get_close_matches
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

import yaml

from course_utils import sft
from course_utils.finetune import FineTuneResult, fine_tune
from course_utils.models import add_lora, load_model
from course_utils.paths import data_dir
from course_utils.presets import SFTPreset
from course_utils.shipped import TASKS, read_jsonl
from course_utils.train import TrainConfig, ensure_writable


class RecipeError(ValueError):
    """A recipe that cannot run; the message starts with the recipe's file and names the key."""


@dataclass
class DataSpec:
    """The ``data:`` section: where the rows come from and which of them to use."""

    train: str  # a shipped split ('sft/train', 'corpus/validation') or a file (JSON Lines or a JSON array)
    validation: str | None = None  # rows for the validation loss (None: no evaluation)
    tasks: list[str] | None = None  # keep only rows of these task types
    limit: int | None = None  # the first N training rows (after the task filter)
    eval_limit: int = 200  # the first N validation rows


@dataclass
class Recipe:
    """Everything a run needs besides the code; the YAML file's keys are these fields."""

    output_dir: str  # where the model and history go
    model: str = "tiny-base"  # shipped name, local folder or hub id
    data: DataSpec = field(default_factory=lambda: DataSpec("sft/train"))
    max_length: int = 512  # longest example in tokens; longer ones are cut from the end
    batching: str = "padded"  # "padded" (length-grouped) or "packed"
    batch_size: int = 16  # rows per micro-batch
    lora_rank: int = 0  # > 0: train LoRA adapters of this rank instead of all weights
    # TrainConfig fields; only those given here override fine_tune's choices
    train: dict = field(default_factory=dict, metadata={"settings_of": TrainConfig})
    file: str = field(default="recipe", init=False)  # the YAML file it was read from (not a key)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "Recipe":
        """Read a recipe and check it whole (keys, types, ranges, data sources, output folders)."""
        recipe = cls(**_checked(cls, _read_yaml(path), str(path)))
        recipe.file = str(path)
        _check_sources(recipe)
        _check_writable(recipe, "output_dir", recipe.output_dir)
        if recipe.train.get("output_dir"):
            _check_writable(recipe, "train.output_dir", recipe.train["output_dir"])
        return recipe


# -- what each setting may be, besides its type --------------------------------------------------
Rule = tuple[Callable[[Any], bool], str]  # a test of the value, and what it asks for in words


def at_least(low: float) -> Rule:
    """Values from ``low`` up."""
    return (lambda value: value >= low), f"at least {low}"


def above(low: float) -> Rule:
    """Values greater than ``low``."""
    return (lambda value: value > low), f"above {low}"


def one_of(*choices: str) -> Rule:
    """Only these values."""
    return (lambda value: value in choices), "one of " + ", ".join(map(repr, choices))


ALLOWED: dict[str, Rule] = {
    "max_length": at_least(16),  # a chat of two words takes 11 tokens with its template
    "batching": one_of("padded", "packed"),
    "batch_size": at_least(1),
    "lora_rank": at_least(0),
    "data.limit": at_least(1),
    "data.eval_limit": at_least(1),
    "train.max_steps": at_least(1),
    "train.max_minutes": above(0),
    "train.grad_accum_steps": at_least(1),
    "train.learning_rate": above(0),
    "train.weight_decay": at_least(0),
    "train.betas": ((lambda betas: all(0 <= b < 1 for b in betas)), "two numbers from 0 up to, not including, 1"),
    "train.warmup_steps": at_least(0),
    "train.min_lr_ratio": ((lambda ratio: 0 <= ratio <= 1), "from 0 to 1"),
    "train.max_grad_norm": above(0),
    "train.precision": one_of("auto", "fp32", "bf16", "fp16"),
    "train.eval_every": at_least(0),
    "train.patience": at_least(1),
    "train.save_every": at_least(0),
    "train.seed": at_least(0),
}


# -- checking the file ---------------------------------------------------------------------------
def _read_yaml(path: str | Path) -> Any:
    """What the YAML file holds; a file that cannot be read, or is no YAML, is named with the line."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise RecipeError(f"{path}: cannot read it ({err.strerror})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RecipeError(f"{path}: not valid YAML{where}: {getattr(err, 'problem', err)}") from None


def _checked(cls: type, raw: Any, file: str, prefix: str = "") -> dict[str, Any]:
    """The settings in ``raw`` for the dataclass ``cls``, each checked against its field.

    Every key must be a field, every required field present, every value of the field's type
    and allowed by ``ALLOWED``. A field that is itself a dataclass (``data``), or that holds the
    settings of one (``train``, by its ``settings_of``), is checked the same way, one level down.
    """
    known = {f.name: f for f in fields(cls) if f.init}
    if not isinstance(raw, dict):
        raise RecipeError(f"{file}: {prefix.rstrip('.') or 'a recipe'} must be a mapping of keys "
                          f"({', '.join(known)}), got {raw!r}")
    for key in raw:
        if key not in known:
            raise RecipeError(_unknown_key(cls, str(key), file, prefix))
    for name, f in known.items():
        if name not in raw and f.default is MISSING and f.default_factory is MISSING:
            raise RecipeError(f"{file}: {prefix}{name} is required")
    hints = get_type_hints(cls)
    settings = {}
    for key, value in raw.items():
        inner = _inner_settings(known[key], hints[key])
        if inner is not None:
            checked = _checked(inner, value, file, f"{prefix}{key}.")
            settings[key] = checked if "settings_of" in known[key].metadata else inner(**checked)
        else:
            settings[key] = _checked_value(hints[key], value, f"{prefix}{key}", file)
    return settings


def _inner_settings(f: Any, hint: Any) -> type | None:
    """The dataclass whose settings the field ``f`` holds, if it holds a section rather than a value."""
    return f.metadata.get("settings_of") or (hint if is_dataclass(hint) else None)


def key_paths(cls: type) -> list[str]:
    """The keys of the dataclass ``cls``, and those of the sections it holds as 'section.key'."""
    hints, paths = get_type_hints(cls), []
    for f in fields(cls):
        if f.init:
            inner = _inner_settings(f, hints[f.name])
            paths += [f.name] + ([f"{f.name}.{g.name}" for g in fields(inner)] if inner else [])
    return paths


def _did_you_mean(word: str, choices: Iterable[str], prefix: str = "") -> str:
    """The hint ``(did you mean 'X'?)`` naming the closest of ``choices``; empty when none is close."""
    close = get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{prefix}{close[0]}'?)" if close else ""


def _unknown_key(cls: type, key: str, file: str, prefix: str) -> str:
    """The error for an unknown key, with the closest known key, at this level or one below, as a suggestion."""
    hint = _did_you_mean(key, key_paths(cls), prefix)
    here = ", ".join(f.name for f in fields(cls) if f.init)
    return f"{file}: unknown key '{prefix}{key}'{hint}; known keys of {prefix.rstrip('.') or 'a recipe'}: {here}"


def _checked_value(hint: Any, value: Any, key: str, file: str) -> Any:
    """``value`` as its field's type, refused (naming ``key``) when it is of another type or out of range."""
    converted = _as_type(hint, value)
    if converted is _WRONG:
        raise RecipeError(f"{file}: {key} must be {_describe(hint)}, got {value!r}")
    test, wanted = ALLOWED.get(key, (None, ""))
    if converted is not None and test is not None and not test(converted):
        raise RecipeError(f"{file}: {key} must be {wanted}, got {value!r}")
    return converted


_WRONG = object()  # what _as_type returns for a value that is not of the type


def _as_type(hint: Any, value: Any) -> Any:
    """``value`` as the type ``hint`` asks for, or ``_WRONG``.

    YAML 1.1, which PyYAML reads, takes ``1e-3`` (no dot) for a string: for a number field, a
    string that Python reads as a number is that number. A bool is no int here, though Python's is.
    """
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, UnionType):  # X | None
        if value is None:
            return None if type(None) in args else _WRONG
        (hint,) = [a for a in args if a is not type(None)]
        return _as_type(hint, value)
    if origin in (tuple, list):
        if not isinstance(value, list) or (origin is tuple and len(value) != len(args)):
            return _WRONG
        item_types = args if origin is tuple else args * len(value)
        items = [_as_type(t, item) for t, item in zip(item_types, value)]
        return _WRONG if any(item is _WRONG for item in items) else origin(items)
    if hint is float:
        return _as_number(value)
    if isinstance(hint, type) and (not isinstance(value, hint) or (hint is int and isinstance(value, bool))):
        return _WRONG
    return value


def _as_number(value: Any) -> float | object:
    """A finite float from an int, a float or a string such as '1e-3'; ``_WRONG`` from anything else."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return _WRONG
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return _WRONG
    return float(value)


def _describe(hint: Any) -> str:
    """A type in words, for error messages."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, UnionType):
        return " or ".join(_describe(a) for a in args if a is not type(None)) + " or null"
    if origin is tuple:
        return f"a list of {len(args)} {_describe(args[0]).removeprefix('a ')}s"
    if origin is list:
        return f"a list of {_describe(args[0]).removeprefix('a ')}s"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}.get(hint, str(hint))


def shipped_splits() -> dict[str, Path]:
    """The data splits the package ships, by the names a recipe uses ('sft/train', 'corpus/validation')."""
    splits = {f"sft/{p.stem}": p for p in (data_dir() / "sft").glob("*.jsonl")}
    return splits | {f"corpus/{p.name.split('.')[0]}": p for p in (data_dir() / "corpus").glob("*.jsonl.gz")}


def _check_sources(recipe: Recipe) -> None:
    """Each data source is a shipped split or a file; on shipped instruction data, each task is one it has."""
    shipped = shipped_splits()
    for key in ("train", "validation"):
        source = getattr(recipe.data, key)
        if source is not None and source not in shipped and not Path(source).is_file():
            raise RecipeError(f"{recipe.file}: data.{key} {source!r} is neither a shipped split nor a file"
                              f"{_did_you_mean(source, shipped)}; "
                              f"the shipped splits: {', '.join(sorted(shipped))}")
    if recipe.data.train.startswith("sft/"):
        for task in recipe.data.tasks or []:
            if task not in TASKS:
                raise RecipeError(f"{recipe.file}: data.tasks: {task!r} is no task of the shipped data"
                                  f"{_did_you_mean(task, TASKS)}; "
                                  f"its tasks: {', '.join(TASKS)}")


def _check_writable(recipe: Recipe, key: str, folder: str) -> None:
    """Make ``folder`` and write (and remove) a file in it, so that a run cannot end with nothing saved."""
    try:
        ensure_writable(Path(folder))
    except OSError as err:
        raise RecipeError(f"{recipe.file}: {key} {folder!r} cannot be written ({err.strerror}); "
                          f"choose a folder you can write to") from None


# -- the run -------------------------------------------------------------------------------------
def read_rows(source: str) -> list[dict]:
    """Rows of a shipped split ('sft/train', 'corpus/validation') or of a file of JSON Lines or of one JSON array."""
    shipped = shipped_splits()
    return read_jsonl(shipped[source]) if source in shipped else sft.read_rows(source)


def _rows(recipe: Recipe, key: str, limit: int | None) -> list[dict]:
    """The rows of ``data.KEY``, refusing a task type that none of the source's rows has."""
    source, tasks = getattr(recipe.data, key), recipe.data.tasks
    rows = read_rows(source)
    present = {row.get("task") for row in rows}
    for task in tasks or []:
        if task not in present:
            found = ", ".join(sorted(str(t) for t in present if t is not None)) or "none"
            raise RecipeError(f"{recipe.file}: data.tasks: {task!r} is in none of the {len(rows)} rows of "
                              f"data.{key} {source!r} (its tasks: {found})")
    if tasks:
        rows = [row for row in rows if row.get("task") in tasks]
    return rows[:limit] if limit else rows


def preset_of(recipe: Recipe) -> SFTPreset:
    """The recipe's settings as a preset; ``train`` settings the recipe leaves out take ``TrainConfig``'s defaults."""
    config = TrainConfig(**recipe.train)
    return SFTPreset(batch_size=recipe.batch_size, learning_rate=config.learning_rate,
                     warmup_steps=config.warmup_steps, steps=config.max_steps, max_length=recipe.max_length,
                     betas=tuple(config.betas))


def run(recipe: Recipe) -> FineTuneResult:
    """Read the data, load the model, fine-tune, and write the model folder and the history.

    ``result.state.interrupted`` says whether the run was stopped (Ctrl-C): what it had is saved.
    """
    from accelerate import PartialState

    config = TrainConfig(**recipe.train)
    train_rows = _rows(recipe, "train", recipe.data.limit)
    eval_rows = _rows(recipe, "validation", recipe.data.eval_limit) if recipe.data.validation else None
    model, tokenizer = load_model(recipe.model, device=PartialState().device)
    if recipe.lora_rank:
        model = add_lora(model, r=recipe.lora_rank)
    try:
        result = fine_tune(model, tokenizer, train_rows, preset_of(recipe), copy=False, eval_rows=eval_rows,
                           batching=recipe.batching, seed=config.seed, progress=config.progress,
                           train_settings={"output_dir": recipe.output_dir, **recipe.train})
    except sft.DataError as err:
        sources = f"data.train {recipe.data.train!r}" + (f", data.validation {recipe.data.validation!r}"
                                                          if recipe.data.validation else "")
        raise RecipeError(f"{recipe.file}: {sources}: {err}") from None
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
