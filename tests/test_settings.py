"""The class's run size: environment first, then a course_utils.yaml file, then 'cpu'."""
from __future__ import annotations

import pytest

from course_utils import settings


def test_default_is_cpu(monkeypatch, tmp_path):
    monkeypatch.delenv(settings.ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert settings.size() == "cpu" and settings.pick(cpu=1, t4=2, gpu=3) == 1


def test_file_then_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(settings.ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / settings.FILE_NAME).write_text("size: t4\n")
    assert settings.pick(cpu=1, t4=2, gpu=3) == 2
    monkeypatch.setenv(settings.ENV_VAR, "gpu")
    assert settings.pick(cpu=1, t4=2, gpu=3) == 3


def test_bad_values_name_their_source(monkeypatch, tmp_path):
    monkeypatch.setenv(settings.ENV_VAR, "huge")
    with pytest.raises(ValueError, match=r"\$COURSE_UTILS_SIZE: run size must be one of"):
        settings.size()
    monkeypatch.delenv(settings.ENV_VAR)
    monkeypatch.chdir(tmp_path)
    (tmp_path / settings.FILE_NAME).write_text("sise: t4\n")
    with pytest.raises(ValueError, match="course_utils.yaml: expected a line 'size: cpu'"):
        settings.size()


def test_file_in_a_parent_folder(monkeypatch, tmp_path):
    """A kernel runs in the notebook's folder; the class's file may sit at the course's root."""
    monkeypatch.delenv(settings.ENV_VAR, raising=False)
    (tmp_path / settings.FILE_NAME).write_text("size: gpu\n")
    notebook_folder = tmp_path / "notebooks" / "ch04"
    notebook_folder.mkdir(parents=True)
    monkeypatch.chdir(notebook_folder)
    assert settings.size() == "gpu"
