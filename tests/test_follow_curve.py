"""evaluate.FollowCurve: follow rates taken during a training run, and the step at which one reached a level."""
from __future__ import annotations

import pandas as pd
import pytest

from course_utils import evaluate
from course_utils.evaluate import FollowCurve
from course_utils.shipped import load_instructions
from course_utils.train import TrainState


def test_rates_are_taken_every_few_steps_and_the_first_step_at_a_level_is_found(small_model, tokenizer, monkeypatch):
    facts = iter([0.0, 0.5, 0.9, 0.8])
    monkeypatch.setattr(evaluate, "follow_rates", lambda model, tok, rows: (
        pd.Series({"one sentence": 1.0, "facts": next(facts)}), None))
    curve = FollowCurve(small_model, tokenizer, rows=[], every=5)
    curve.measure(0)
    for step in range(1, 16):
        curve.on_step(TrainState(step=step))
    assert curve.table.index.tolist() == [0, 5, 10, 15]
    assert curve.table["facts"].tolist() == [0.0, 0.5, 0.9, 0.8]
    assert curve.first_step("one sentence", 0.8) == 0
    assert curve.first_step("facts", 0.8) == 10
    assert curve.first_step("facts", 0.95) is None


def test_the_model_answers_in_eval_mode_and_goes_back_to_training(small_model, tokenizer):
    rows = load_instructions("validation", tasks=["ticket_summary"])[:2]
    small_model.train()
    curve = FollowCurve(small_model, tokenizer, rows, every=1)
    curve.on_step(TrainState(step=1))
    assert small_model.training
    assert list(curve.table.columns) == ["one sentence", "one sentence, right customer and product",
                                         "one sentence, all facts right"]
    assert curve.table.loc[1].between(0, 1).all()
    assert curve.answers[1]["answer"].size == 2


def test_a_curve_needs_at_least_one_step_between_measurements(small_model, tokenizer):
    with pytest.raises(ValueError, match="every"):
        FollowCurve(small_model, tokenizer, [], every=0)
