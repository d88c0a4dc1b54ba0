"""The GPU check's own logic, on a CPU: its run-log arithmetic, its table, and its refusal without a GPU.

The check itself needs a CUDA GPU (``python benchmarks/gpu_check.py``); these tests pin what it
prints from what the training loop logged.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
gpu_check = sys.modules["gpu_check"] = importlib.util.module_from_spec(_spec)  # dataclasses look their module up
_spec.loader.exec_module(gpu_check)

GIB = 2**30


def record(tokens: int, seconds: float, peak: int | None, estimate: int | None, device: str = "cuda:0") -> dict:
    """One line of the run log, as course_utils.train writes it."""
    return {"steps": 20, "tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds,
            "device": device, "precision": "bf16", "peak_bytes": peak, "estimate_bytes": estimate}


def test_run_log_is_read_line_by_line_and_a_missing_log_means_no_runs(tmp_path):
    log = tmp_path / "runs.jsonl"
    assert gpu_check.read_run_log(log) == []
    first, second = record(1000, 2.0, GIB, GIB), record(3000, 1.0, 2 * GIB, 3 * GIB)
    log.write_text(json.dumps(first) + "\n\n" + json.dumps(second) + "\n")
    assert gpu_check.read_run_log(log) == [first, second]


def test_summary_adds_tokens_and_seconds_and_pairs_the_largest_peak_with_its_own_estimate():
    runs = [record(1000, 2.0, GIB, GIB), record(3000, 2.0, 2 * GIB, 3 * GIB), record(500, 1.0, GIB // 2, 4 * GIB)]
    training = gpu_check.summarise(runs)
    assert (training.runs, training.tokens, training.seconds) == (3, 4500, 5.0)
    assert training.tokens_per_s == 900.0  # all tokens over all seconds, not a mean of the runs' rates
    assert (training.peak_bytes, training.estimate_bytes) == (2 * GIB, 3 * GIB)
    assert training.estimate_ratio == 1.5
    assert training.on == "cuda bf16"


def test_on_a_cpu_no_peak_is_measured_so_the_largest_estimate_is_shown_and_no_ratio():
    runs = [record(800, 4.0, None, GIB, device="cpu"), record(200, 1.0, None, 2 * GIB, device="cpu")]
    training = gpu_check.summarise(runs)
    assert (training.peak_bytes, training.estimate_bytes, training.estimate_ratio) == (None, 2 * GIB, None)
    assert (training.tokens_per_s, training.on) == (200.0, "cpu bf16")


def test_a_notebook_that_trains_nothing_shows_dashes_not_zeros():
    empty = gpu_check.summarise([])
    assert (empty.runs, empty.tokens_per_s, empty.peak_bytes, empty.estimate_bytes, empty.on) == (0, None, None, None, "")
    empty = gpu_check.summarise([])
    assert (empty.runs, empty.tokens_per_s, empty.peak_bytes, empty.on) == (0, None, None, "")


def test_table_has_one_aligned_line_per_notebook_and_lists_the_errors_below():
    ok = gpu_check.NotebookResult("ch04/02_sft_end_to_end.ipynb", None, "31/31", 41.25,
                                  gpu_check.summarise([record(51_200, 1.0, 3 * GIB, int(3.3 * GIB))]))
    broken = gpu_check.NotebookResult("00_start_here.ipynb", "cell 4: ValueError: bad size", "3/7", 2.0,
                                      gpu_check.Training())
    lines = gpu_check.table([ok, broken]).splitlines()
    assert lines[0].split() == ["notebook", "result", "cells", "wall", "runs", "tokens/s", "peak", "GiB",
                                "estimate", "GiB", "est/peak", "on"]
    assert lines[1].split() == ["ch04/02_sft_end_to_end.ipynb", "pass", "31/31", "41.2s", "1", "51,200",
                                "3.00", "3.30", "1.10", "cuda", "bf16"]
    assert lines[2].split() == ["00_start_here.ipynb", "FAIL", "3/7", "2.0s", "0", "-", "-", "-", "-"]
    assert lines[3] == "00_start_here.ipynb: cell 4: ValueError: bad size"
    assert lines[0].index("est/peak") + len("est/peak") == lines[1].index("1.10") + len("1.10")  # right-aligned


def test_throughput_race_is_the_benchmark_with_trl_on_the_135m_shape_kept_short():
    command = gpu_check.throughput_command(tiny=False)
    assert Path(command[1]) == ROOT / "benchmarks" / "sft_throughput.py"
    options = dict(zip(command[2::2], command[3::2]))
    assert options == {"--model": "smollm2-135m-random", "--precision": "bf16", "--steps": "30", "--repeats": "1"}
    assert dict(zip(*[iter(gpu_check.throughput_command(tiny=True)[2:])] * 2))["--model"] == "tiny-base"


def test_notebooks_are_named_as_under_notebooks_with_or_without_the_suffix():
    short = gpu_check.chosen_notebooks(["00_start_here", "ch04/02_sft_end_to_end.ipynb"])
    assert [p.name for p in short] == ["00_start_here.ipynb", "02_sft_end_to_end.ipynb"]
    with pytest.raises(FileNotFoundError):
        gpu_check.chosen_notebooks(["no_such_notebook"])


def test_without_a_gpu_it_refuses_before_building_anything(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(gpu_check.tempfile, "TemporaryDirectory", None)  # would raise if it got that far
    assert gpu_check.main(["--skip-throughput"]) == 2
    assert capsys.readouterr().err.strip() == gpu_check.NO_GPU
