"""The shipped assets: every file listed in the manifest with a matching checksum, data readable."""
from __future__ import annotations

import pytest

from course_utils import preference
from course_utils.evaluate import score_row
from course_utils.paths import data_dir
from course_utils.shipped import (
    TASKS, first_per_task, load_corpus, load_handwritten, load_instructions, load_manifest, load_preference_pairs,
    load_wordings, prompt_text, read_jsonl,
)
from course_utils.synth import assets
from course_utils.synth import tasks as task_types


@pytest.fixture(scope="module")
def manifest():
    return load_manifest()


def test_manifest_checksums_match_the_shipped_files(manifest):
    assert manifest["files"] == assets.checksums(data_dir())
    assert "models/tiny-base/model.safetensors" in manifest["files"]


def test_manifest_records_the_run(manifest):
    base = manifest["tiny-base"]
    assert manifest["command"].startswith("python -m course_utils.synth.assets")
    assert base["val_perplexity"] < 3 and base["steps"] > 0
    assert set(manifest["timings"]) >= {"data_s", "tiny_base_s", "total_s"}
    assert manifest["tiny-instruct"]["steps"] > 0


def test_shipped_splits_match_the_generator_sizes(manifest):
    for split in ("train", "validation", "test", "test_reworded", "train_flawed"):
        assert len(load_instructions(split)) == manifest["sizes"][f"sft/{split}"]
    assert len(load_corpus("validation")) == manifest["sizes"]["corpus/validation"]
    assert [task for task in task_types.TASKS] == list(TASKS), "the factory makes the tasks the data names"
    assert list(dict.fromkeys(r["task"] for r in load_instructions("test"))) == list(TASKS)
    for split in ("train", "test"):
        assert len(load_preference_pairs(split)) == manifest["sizes"][f"preference/{split}"]


def test_preference_pairs_are_new_prompts_with_a_preferred_closing():
    train, test = load_preference_pairs("train"), load_preference_pairs("test")
    instruction_inputs = {r["input"] for split in ("train", "validation", "test", "test_reworded")
                          for r in load_instructions(split)}
    inputs = [p["input"] for p in train + test]
    assert len(set(inputs)) == len(inputs) and not set(inputs) & instruction_inputs
    for pair in train[:50] + test:
        assert pair["task"] == "rewrite" and pair["chosen"].startswith(pair["rejected"])
        assert preference.thanks_the_reader(pair["chosen"]) and not preference.thanks_the_reader(pair["rejected"])
        assert prompt_text(pair).startswith(pair["instruction"])


def test_bad_jsonl_line_is_named(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(ValueError, match=r"rows.jsonl, line 2"):
        read_jsonl(path)


def test_unknown_split_is_named():
    with pytest.raises(ValueError, match="unknown instruction split 'tset'"):
        load_instructions("tset")
    with pytest.raises(ValueError, match="unknown preference split 'validation'"):
        load_preference_pairs("validation")


def test_first_per_task_keeps_each_tasks_first_rows_in_order():
    rows = [{"task": t, "n": i} for i, t in enumerate("aabbbab")]
    assert [r["n"] for r in first_per_task(rows, 2)] == [0, 1, 2, 3]
    assert first_per_task(rows, None) == [rows[i] for i in (0, 1, 5, 2, 3, 4, 6)]


def test_wordings_are_those_of_the_splits():
    wordings = load_wordings()
    assert list(wordings) == list(TASKS)
    for task, words in wordings.items():
        assert {r["instruction"] for r in load_instructions("test", tasks=[task])} <= set(words.instructions)
        assert not set(words.instructions) & set(words.reworded)
    assert {r["instruction"] for r in load_instructions("test_reworded", tasks=["qa"])} <= set(wordings["qa"].reworded)


def test_hand_written_pairs_agree_with_their_fields():
    pairs = load_handwritten("contract_pairs")
    assert len(pairs) == 12
    assert all(score_row(p, p["output"])["correct"] for p in pairs)
    with pytest.raises(ValueError, match="no hand-written set 'contracts'.*contract_pairs"):
        load_handwritten("contracts")
