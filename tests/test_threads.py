"""Thread choice: the free cores, never fewer than one, and the learner's override wins."""
from __future__ import annotations

import pytest
import torch

from course_utils import threads


def test_free_cores_are_used():
    assert threads.recommended_threads(cores=2, busy=0) == 2
    assert threads.recommended_threads(cores=2, busy=1) == 1
    assert threads.recommended_threads(cores=2, busy=5) == 1
    assert threads.recommended_threads(cores=64, busy=0) == 8


def test_environment_override(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setenv(threads.ENV_VAR, "1")
    assert threads.configure_threads(verbose=False) == 1 and torch.get_num_threads() == 1
    monkeypatch.setenv(threads.ENV_VAR, "two")
    with pytest.raises(ValueError, match=threads.ENV_VAR):
        threads.configure_threads(verbose=False)
    torch.set_num_threads(before)
