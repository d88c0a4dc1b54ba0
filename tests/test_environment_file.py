"""environment.yml installs what pyproject.toml asks for, with PyTorch's CPU index as the stated default."""
from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"


def pip_lines() -> list[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    return next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))


def test_torch_range_is_pyprojects_and_the_cpu_index_comes_first():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    torch = next(dep for dep in deps if dep.startswith("torch"))
    assert pip_lines() == [CPU_INDEX, torch, "-e .[test,lab]"]


def test_the_file_explains_how_to_choose_cpu_or_cuda():
    text = (ROOT / "environment.yml").read_text(encoding="utf-8")
    assert "CPU or CUDA" in text and "delete that line" in text
