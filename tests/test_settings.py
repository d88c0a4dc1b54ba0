"""The class's run size: environment first, then a course_utils.yaml file, then the hardware."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from course_utils import settings

GB = 10**9  # GPUs are sold in decimal gigabytes; torch reports bytes


@pytest.fixture(autouse=True)
def no_class_size(monkeypatch, tmp_path):
    """No size set by a class, no GPU, and a fresh process's once-only hardware line."""
    monkeypatch.delenv(settings.ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    settings._hardware_default.cache_clear()
    yield
    settings._hardware_default.cache_clear()


def fake_gpu(monkeypatch, name: str, total_bytes: int) -> None:
    """Make torch report one CUDA GPU of ``total_bytes`` memory."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda index: SimpleNamespace(name=name, total_memory=total_bytes))


def test_default_is_cpu():
    assert settings.size() == "cpu" and settings.pick(cpu=1, t4=2, gpu=3) == 1


def test_file_then_environment(monkeypatch, tmp_path):
    (tmp_path / settings.FILE_NAME).write_text("size: t4\n")
    assert settings.pick(cpu=1, t4=2, gpu=3) == 2
    monkeypatch.setenv(settings.ENV_VAR, "gpu")
    assert settings.pick(cpu=1, t4=2, gpu=3) == 3


def test_bad_values_name_their_source(monkeypatch, tmp_path):
    monkeypatch.setenv(settings.ENV_VAR, "huge")
    with pytest.raises(ValueError, match=r"\$COURSE_UTILS_SIZE: run size must be one of"):
        settings.size()
    monkeypatch.delenv(settings.ENV_VAR)
    (tmp_path / settings.FILE_NAME).write_text("sise: t4\n")
    with pytest.raises(ValueError, match="course_utils.yaml: expected a line 'size: cpu'"):
        settings.size()


def test_file_in_a_parent_folder(monkeypatch, tmp_path):
    """A kernel runs in the notebook's folder; the class's file may sit at the course's root."""
    (tmp_path / settings.FILE_NAME).write_text("size: gpu\n")
    notebook_folder = tmp_path / "notebooks" / "ch04"
    notebook_folder.mkdir(parents=True)
    monkeypatch.chdir(notebook_folder)
    assert settings.size() == "gpu"


@pytest.mark.parametrize("name, total_bytes, expected", [
    ("NVIDIA GeForce RTX 3070", 8 * GB, "cpu"),
    ("Tesla T4", int(14.7 * 2**30), "t4"),  # what a Colab T4 reports
    ("a 16 GB GPU", 16 * GB, "t4"),
    ("NVIDIA A100-SXM4-40GB", int(39.4 * 2**30), "gpu"),  # what an A100 40GB reports
    ("NVIDIA H100 80GB HBM3", 80 * GB, "gpu"),
])
def test_hardware_size_follows_gpu_memory(monkeypatch, name, total_bytes, expected):
    fake_gpu(monkeypatch, name, total_bytes)
    assert settings.hardware_size() == expected


def test_no_gpu_is_cpu_without_a_word(capsys):
    assert settings.hardware_size() == "cpu"
    assert settings.size() == "cpu"
    assert capsys.readouterr().out == ""


def test_a_16_gb_gpu_picks_t4_and_says_how_to_change_it(monkeypatch, capsys):
    fake_gpu(monkeypatch, "Tesla T4", 16 * GB)
    assert settings.pick(cpu=1, t4=2, gpu=3) == 2
    assert capsys.readouterr().out == (
        "course_utils: run size t4, chosen for the GPU found (Tesla T4, 14.9 GiB); to choose another, "
        "set COURSE_UTILS_SIZE=cpu|t4|gpu or put 'size: cpu' in course_utils.yaml\n")


def test_an_80_gb_gpu_picks_gpu(monkeypatch, capsys):
    fake_gpu(monkeypatch, "NVIDIA A100-SXM4-80GB", 80 * GB)
    assert settings.size() == "gpu"
    assert capsys.readouterr().out.startswith(
        "course_utils: run size gpu, chosen for the GPU found (NVIDIA A100-SXM4-80GB, 74.5 GiB);")


def test_a_small_gpu_stays_on_cpu_and_says_why(monkeypatch, capsys):
    fake_gpu(monkeypatch, "NVIDIA GeForce RTX 3070", 8 * GB)
    assert settings.size() == "cpu"
    assert capsys.readouterr().out == (
        "course_utils: run size cpu, as the GPU found (NVIDIA GeForce RTX 3070, 7.5 GiB) "
        "has less than the 14 GiB the t4 runs need; to choose another, set COURSE_UTILS_SIZE=cpu|t4|gpu "
        "or put 'size: t4' in course_utils.yaml\n")


def test_the_class_size_wins_over_the_hardware_silently(monkeypatch, tmp_path, capsys):
    fake_gpu(monkeypatch, "NVIDIA H100 80GB HBM3", 80 * GB)
    (tmp_path / settings.FILE_NAME).write_text("size: cpu\n")
    assert settings.size() == "cpu"
    monkeypatch.setenv(settings.ENV_VAR, "t4")
    assert settings.size() == "t4"
    assert capsys.readouterr().out == "", "a size the class set needs no explanation"


def test_the_choice_is_printed_once_however_often_pick_is_called(monkeypatch, capsys):
    fake_gpu(monkeypatch, "Tesla T4", 16 * GB)
    values = [settings.pick(cpu=300, t4=2000, gpu=5000) for _ in range(20)]
    assert values == [2000] * 20
    assert capsys.readouterr().out.count("course_utils: run size t4") == 1
