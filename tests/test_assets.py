"""The shipped assets: every file listed in the manifest with a matching checksum, data readable."""
from __future__ import annotations

import json

import pytest

from course_utils import assets, tasks
from course_utils.paths import data_dir
from course_utils.shipped import load_corpus, load_instructions, read_jsonl


@pytest.fixture(scope="module")
def manifest():
    return json.loads((data_dir() / assets.MANIFEST).read_text())


def test_manifest_checksums_match_the_shipped_files(manifest):
    assert manifest["files"] == assets.checksums(data_dir())
    assert "models/tiny-base/model.safetensors" in manifest["files"]


def test_manifest_records_the_run(manifest):
    base = manifest["tiny-base"]
    assert manifest["command"].startswith("python -m course_utils.assets")
    assert base["val_perplexity"] < 3 and base["steps"] > 0
    assert set(manifest["timings"]) >= {"data_s", "tiny_base_s", "total_s"}
    assert manifest["tiny-instruct"]["steps"] > 0


def test_shipped_splits_match_the_generator_sizes(manifest):
    for split in ("train", "validation", "test", "test_reworded", "train_flawed"):
        assert len(load_instructions(split)) == manifest["sizes"][f"sft/{split}"]
    assert len(load_corpus("validation")) == manifest["sizes"]["corpus/validation"]
    assert {r["task"] for r in load_instructions("test")} == set(tasks.TASKS)


def test_bad_jsonl_line_is_named(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(ValueError, match=r"rows.jsonl, line 2"):
        read_jsonl(path)


def test_unknown_split_is_named():
    with pytest.raises(ValueError, match="unknown instruction split 'tset'"):
        load_instructions("tset")
