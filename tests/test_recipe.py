"""Runs from a YAML recipe, alone and as two processes: the same global batch gives the same losses."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from course_utils.recipe import Recipe


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


def test_recipe_errors_name_the_setting(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"output_dir": "x", "learning_rate": 1}))
    with pytest.raises(ValueError, match=r"bad.yaml: unknown setting\(s\) \['learning_rate'\]"):
        Recipe.from_yaml(path)
    path.write_text(yaml.safe_dump({"output_dir": "x", "train": {"lr": 1}}))
    with pytest.raises(ValueError, match=r"unknown train setting\(s\) \['lr'\]"):
        Recipe.from_yaml(path)


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
