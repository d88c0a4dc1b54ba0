"""Runs from a YAML recipe, alone and as two processes: the same global batch gives the same losses.

A recipe is checked before anything loads: every key known, every value of its type and range, the
data sources found and the output folder writable; each error names the file and the key."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from course_utils.recipe import Recipe, RecipeError, run


def write_recipe(tmp_path, name: str, **overrides) -> str:
    recipe = {
        "model": "tiny-base",
        "output_dir": str(tmp_path / name),
        "data": {"train": "sft/train", "tasks": ["ticket_summary"], "limit": 32},
        "batch_size": 8,
        "train": {"max_steps": 3, "learning_rate": 1e-3, "warmup_steps": 1, "progress": False},
        **overrides,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


def run_cli(args: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "COURSE_UTILS_THREADS": "1"}
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def losses(tmp_path, name: str) -> list[float]:
    return [h["loss"] for h in json.loads((tmp_path / name / "history.json").read_text())["history"]]


def recipe_file(tmp_path, data: dict | None = None, train: dict | None = None, **top) -> str:
    """A small good recipe with some settings changed (``data`` and ``train`` are merged into its own)."""
    recipe = {"output_dir": str(tmp_path / "out"), "batch_size": 4,
              "data": {"train": "sft/train", "tasks": ["ticket_summary"], "limit": 8, **(data or {})},
              "train": {"max_steps": 2, "progress": False, **(train or {})}, **top}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


def test_recipe_errors_name_the_setting(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"output_dir": "x", "learning_rate": 1}))
    with pytest.raises(RecipeError, match=r"bad.yaml: unknown key 'learning_rate' \(did you mean 'train.learning_rate'\?\)"):
        Recipe.from_yaml(path)
    path.write_text(yaml.safe_dump({"output_dir": "x", "train": {"lr": 1}}))
    with pytest.raises(RecipeError, match=r"unknown key 'train.lr'; known keys of train: max_steps, "):
        Recipe.from_yaml(path)


@pytest.mark.parametrize(("data", "key", "suggestion"), [
    ({"limt": 100}, "data.limt", "data.limit"),
    ({"validaton": "sft/validation"}, "data.validaton", "data.validation"),
])
def test_a_typo_inside_data_is_refused_with_the_closest_key(tmp_path, data, key, suggestion):
    path = recipe_file(tmp_path, data=data)
    with pytest.raises(RecipeError, match=rf"^{path}: unknown key '{key}' \(did you mean '{suggestion}'\?\)"):
        Recipe.from_yaml(path)


def test_yaml_1e_minus_3_is_the_number_it_means(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(f"output_dir: {tmp_path / 'out'}\ntrain:\n  learning_rate: 1e-3\n  betas: [0.9, 1e-1]\n")
    assert yaml.safe_load(path.read_text())["train"]["learning_rate"] == "1e-3"  # what PyYAML makes of it
    recipe = Recipe.from_yaml(path)
    assert recipe.train == {"learning_rate": 0.001, "betas": (0.9, 0.1)}


@pytest.mark.parametrize(("settings", "key", "value"), [
    ({"train": {"max_steps": "ten"}}, "train.max_steps", "'ten'"),
    ({"train": {"max_steps": 2.5}}, "train.max_steps", "2.5"),
    ({"train": {"resume": "no"}}, "train.resume", "'no'"),
    ({"train": {"learning_rate": "fast"}}, "train.learning_rate", "'fast'"),
    ({"train": {"betas": 0.9}}, "train.betas", "0.9"),
    ({"train": {"betas": [0.9, 0.95, 0.99]}}, "train.betas", r"\[0.9, 0.95, 0.99\]"),
    ({"train": {"precision": 16}}, "train.precision", "16"),
    ({"data": {"tasks": "qa"}}, "data.tasks", "'qa'"),
    ({"data": {"limit": True}}, "data.limit", "True"),
    ({"batch_size": None}, "batch_size", "None"),
    ({"model": ["tiny-base"]}, "model", r"\['tiny-base'\]"),
])
def test_a_value_of_the_wrong_type_names_the_key_and_the_value(tmp_path, settings, key, value):
    path = recipe_file(tmp_path, **settings)
    with pytest.raises(RecipeError, match=rf"^{path}: {key} must be .*, got {value}"):
        Recipe.from_yaml(path)


@pytest.mark.parametrize(("settings", "key"), [
    ({"train": {"max_steps": -5}}, "train.max_steps"),
    ({"train": {"max_steps": 0}}, "train.max_steps"),
    ({"batch_size": 0}, "batch_size"),
    ({"train": {"grad_accum_steps": 0}}, "train.grad_accum_steps"),
    ({"max_length": 4}, "max_length"),
    ({"train": {"learning_rate": 0}}, "train.learning_rate"),
    ({"train": {"learning_rate": ".nan"}}, "train.learning_rate"),
    ({"train": {"warmup_steps": -1}}, "train.warmup_steps"),
    ({"train": {"min_lr_ratio": 1.5}}, "train.min_lr_ratio"),
    ({"train": {"eval_every": -1}}, "train.eval_every"),
    ({"train": {"save_every": -1}}, "train.save_every"),
    ({"train": {"betas": [0.9, 1.0]}}, "train.betas"),
    ({"train": {"precision": "fp8"}}, "train.precision"),
    ({"data": {"limit": 0}}, "data.limit"),
    ({"lora_rank": -1}, "lora_rank"),
    ({"batching": "stacked"}, "batching"),
])
def test_a_value_out_of_range_names_the_key(tmp_path, settings, key):
    path = recipe_file(tmp_path, **settings)
    with pytest.raises(RecipeError, match=rf"^{path}: {key} must be "):
        Recipe.from_yaml(path)


def test_a_missing_file_or_split_and_an_unknown_task_are_named(tmp_path):
    path = recipe_file(tmp_path, data={"train": str(tmp_path / "mine.jsonl")})
    with pytest.raises(RecipeError, match=rf"^{path}: data.train '.*mine.jsonl' is neither a shipped split"):
        Recipe.from_yaml(path)
    path = recipe_file(tmp_path, data={"validation": "sft/valdation"})
    with pytest.raises(RecipeError, match=r"data.validation 'sft/valdation' is neither .*did you mean 'sft/validation'"):
        Recipe.from_yaml(path)
    path = recipe_file(tmp_path, data={"tasks": ["ticket_sumary"]})
    with pytest.raises(RecipeError, match=r"data.tasks: 'ticket_sumary' is no task .*did you mean 'ticket_summary'"):
        Recipe.from_yaml(path)


def test_required_keys_and_the_file_itself(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({"data": {"validation": "sft/validation"}}))
    with pytest.raises(RecipeError, match=rf"^{path}: output_dir is required"):
        Recipe.from_yaml(path)
    path.write_text(yaml.safe_dump({"output_dir": str(tmp_path), "data": {"validation": "sft/validation"}}))
    with pytest.raises(RecipeError, match=rf"^{path}: data.train is required"):
        Recipe.from_yaml(path)
    path.write_text(yaml.safe_dump({"output_dir": str(tmp_path), "data": "sft/train"}))
    with pytest.raises(RecipeError, match=rf"^{path}: data must be a mapping"):
        Recipe.from_yaml(path)
    path.write_text("output_dir: [unclosed\n")
    with pytest.raises(RecipeError, match=rf"^{path}: not valid YAML .*line 2"):
        Recipe.from_yaml(path)
    with pytest.raises(RecipeError, match=r"^.*nowhere.yaml: cannot read it"):
        Recipe.from_yaml(tmp_path / "nowhere.yaml")


def test_an_output_folder_that_cannot_be_made_is_refused_before_the_run(tmp_path):
    (tmp_path / "a_file").write_text("")
    path = recipe_file(tmp_path, output_dir=str(tmp_path / "a_file" / "run"))
    with pytest.raises(RecipeError, match=rf"^{path}: output_dir '.*a_file/run' cannot be written"):
        Recipe.from_yaml(path)
    path = recipe_file(tmp_path, train={"output_dir": str(tmp_path / "a_file" / "checkpoints")})
    with pytest.raises(RecipeError, match=rf"^{path}: train.output_dir '.*' cannot be written"):
        Recipe.from_yaml(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
def test_an_unwritable_output_folder_is_refused_before_the_run(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    path = recipe_file(tmp_path, output_dir=str(locked))
    with pytest.raises(RecipeError, match=rf"^{path}: output_dir '.*locked' cannot be written"):
        Recipe.from_yaml(path)


def test_the_output_folder_is_made_and_left_empty(tmp_path):
    Recipe.from_yaml(recipe_file(tmp_path, output_dir=str(tmp_path / "new" / "run")))
    assert list((tmp_path / "new" / "run").iterdir()) == []


def forbid_loading(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded although the recipe cannot run")

    monkeypatch.setattr("course_utils.recipe.load_model", refuse)


def test_a_task_filter_that_keeps_nothing_is_refused_before_the_model_loads(tmp_path, monkeypatch):
    forbid_loading(monkeypatch)
    rows = tmp_path / "mine.jsonl"
    rows.write_text("".join(json.dumps({"task": "haiku", "instruction": "Write.", "output": "Done."}) + "\n"
                            for _ in range(3)))
    path = recipe_file(tmp_path, data={"train": str(rows), "tasks": ["haikus"]})
    with pytest.raises(RecipeError, match=rf"^{path}: data.tasks: 'haikus' is in none of the 3 rows of "
                                          rf"data.train '.*mine.jsonl' \(its tasks: haiku\)"):
        run(Recipe.from_yaml(path))


def test_a_max_length_that_drops_every_row_says_so(tmp_path):
    path = recipe_file(tmp_path, max_length=32)
    with pytest.raises(RecipeError, match=rf"^{path}: data.train 'sft/train': fine_tune: none of the 8 training rows "
                                          r"is left to train on: 0 examples kept \(8 truncated\); dropped: 8 prompt "
                                          r"fills all 32 tokens \(max_length is 32\)"):
        run(Recipe.from_yaml(path))
    assert not (tmp_path / "out" / "history.json").exists()


@pytest.mark.slow
def test_cli_run_writes_a_loadable_model_and_history(tmp_path):
    from course_utils.models import load_model

    run_cli([sys.executable, "-m", "course_utils.cli", "train", write_recipe(tmp_path, "one")])
    assert len(losses(tmp_path, "one")) == 3
    model, tokenizer = load_model(tmp_path / "one" / "model", device="cpu")
    assert tokenizer.chat_template is not None


@pytest.mark.slow
def test_two_processes_give_the_same_losses_as_one(tmp_path):
    """DDP on CPU (gloo): each process takes half of every batch; the update is the same."""
    run_cli([sys.executable, "-m", "course_utils.cli", "train", write_recipe(tmp_path, "single")])
    run_cli([sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2",
             "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
             "-m", "course_utils.cli", "train", write_recipe(tmp_path, "ddp")])
    assert losses(tmp_path, "ddp") == pytest.approx(losses(tmp_path, "single"), abs=1e-5)


@pytest.mark.slow
def test_the_recipe_of_the_module_docstring_runs(tmp_path):
    import course_utils.recipe

    text = course_utils.recipe.__doc__.split("writes a recipe::")[1].split("\n\n")[1]
    settings = yaml.safe_load(text)
    settings["output_dir"] = str(tmp_path / "tickets")
    settings["data"].update(limit=16, eval_limit=8)
    settings["train"].update(max_steps=2, progress=False)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(settings))
    result = run(Recipe.from_yaml(path))
    assert result.state.step == 2 and len(result.state.evals) == 1
    assert json.loads((tmp_path / "tickets" / "history.json").read_text())["recipe"]["train"]["learning_rate"] == 0.001


def test_every_range_belongs_to_a_key():
    from course_utils.recipe import ALLOWED, key_paths

    assert set(ALLOWED) <= set(key_paths(Recipe))
