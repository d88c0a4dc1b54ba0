"""`course-utils train`: a recipe error is one line on stderr and exit status 2, before anything
loads; an interrupted run keeps what it has and exits 130, as a shell expects after Ctrl-C."""
from __future__ import annotations

import json

import pytest
import yaml

from course_utils import cli


def recipe_file(tmp_path, **changes) -> str:
    recipe = {"output_dir": str(tmp_path / "out"), "batch_size": 4,
              "data": {"train": "sft/train", "tasks": ["ticket_summary"], "limit": 8},
              "train": {"max_steps": 3, "progress": False}}
    for key, value in changes.items():
        part, _, name = key.rpartition(".")
        (recipe[part] if part else recipe)[name] = value
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


@pytest.mark.parametrize(("change", "words"), [
    ({"data.limt": 100}, "unknown key 'data.limt' (did you mean 'data.limit'?)"),
    ({"data.validaton": "sft/validation"}, "unknown key 'data.validaton' (did you mean 'data.validation'?)"),
    ({"train.learning_rate": "quick"}, "train.learning_rate must be a number, got 'quick'"),
    ({"train.max_steps": -5}, "train.max_steps must be at least 1, got -5"),
    ({"batch_size": 0}, "batch_size must be at least 1, got 0"),
    ({"train.grad_accum_steps": 0}, "train.grad_accum_steps must be at least 1, got 0"),
    ({"data.train": "nowhere.jsonl"}, "data.train 'nowhere.jsonl' is neither a shipped split"),
    ({"data.tasks": ["sumary"]}, "data.tasks: 'sumary' is no task"),
])
def test_a_recipe_error_is_one_line_and_exit_2_before_anything_loads(tmp_path, monkeypatch, capsys, change, words):
    def refuse(*args, **kwargs):
        raise AssertionError("loaded although the recipe cannot run")

    monkeypatch.setattr("course_utils.recipe.load_model", refuse)
    monkeypatch.setattr("course_utils.recipe.read_rows", refuse)
    path = recipe_file(tmp_path, **change)
    assert cli.main(["train", path]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"course-utils train: error: {path}: ") and err.count("\n") == 1
    assert words in err


def test_an_interrupted_run_saves_what_it_has_and_exits_130(tmp_path, monkeypatch):
    import course_utils.recipe

    class PressStop:
        def on_step(self, state):
            if state.step == 2:
                raise KeyboardInterrupt

    def fine_tune_stopped(*args, **kwargs):
        return fine_tune(*args, **kwargs, callbacks=[PressStop()])

    fine_tune = course_utils.recipe.fine_tune
    monkeypatch.setattr(course_utils.recipe, "fine_tune", fine_tune_stopped)
    assert cli.main(["train", recipe_file(tmp_path)]) == 130
    history = json.loads((tmp_path / "out" / "history.json").read_text())
    assert history["interrupted"] and len(history["history"]) == 2
    assert (tmp_path / "out" / "model" / "config.json").exists()


def test_a_bad_row_of_the_data_is_one_line_and_exit_2(tmp_path, capsys):
    rows = tmp_path / "mine.jsonl"
    rows.write_text(json.dumps({"instruction": "Say hi.", "output": 5}) + "\n")
    assert cli.main(["train", recipe_file(tmp_path, **{"data.train": str(rows), "data.tasks": None})]) == 2
    err = capsys.readouterr().err
    assert err.startswith("course-utils train: error: ") and err.count("\n") == 1 and "output" in err


def test_a_changed_recipe_is_refused_at_the_old_checkpoint_and_the_same_one_resumes(tmp_path, capsys):
    """The run's checkpoint sits in output_dir: run again, it goes on; changed model and data, it is refused."""
    path = recipe_file(tmp_path)
    assert cli.main(["train", path]) == 0
    assert (tmp_path / "out" / "checkpoint.safetensors").exists()
    assert cli.main(["train", path]) == 0, "the same recipe again: the finished run is resumed, no step added"
    history = json.loads((tmp_path / "out" / "history.json").read_text())
    assert len(history["history"]) == 3 and not history["interrupted"]
    capsys.readouterr()
    changed = recipe_file(tmp_path, model="tiny-instruct", **{"data.tasks": ["contract_summary"]})
    assert cli.main(["train", changed]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "checkpoint.safetensors belongs to another run" in err
    assert "tiny-instruct" in err and "the training data" in err and "resume=False" in err
    assert json.loads((tmp_path / "out" / "history.json").read_text())["recipe"]["model"] == "tiny-base"


def test_a_pickled_checkpoint_in_the_output_folder_runs_nothing(tmp_path, capsys, hostile_checkpoint):
    marker = tmp_path / "code-ran"
    (tmp_path / "out").mkdir()
    hostile_checkpoint(tmp_path / "out", marker)
    assert cli.main(["train", recipe_file(tmp_path)]) == 2
    assert "checkpoint.pt is a pickled checkpoint" in capsys.readouterr().err
    assert not marker.exists()


def test_a_json_array_file_trains_and_a_line_that_is_not_utf8_is_named(tmp_path, capsys):
    pairs = [{"instruction": f"Say {word}.", "output": word} for word in ("hello", "goodbye", "thanks", "sorry")]
    array = tmp_path / "mine.json"
    array.write_text(json.dumps(pairs))
    assert cli.main(["train", recipe_file(tmp_path, **{"data.train": str(array), "data.tasks": None})]) == 0
    lines = tmp_path / "mine.jsonl"
    lines.write_bytes(b"\n".join(json.dumps(p).encode() for p in pairs[:2]) + b'\n{"instruction": "caf\xe9"}\n')
    assert cli.main(["train", recipe_file(tmp_path, **{"data.train": str(lines), "data.tasks": None})]) == 2
    assert f"{lines}, line 3: not UTF-8 text" in capsys.readouterr().err
