"""A model's scorecard: every figure in range, the same figures the report prints."""
from __future__ import annotations

from course_utils import cli
from course_utils.scorecard import held_out_prompts, score_model
from course_utils.shipped import load_corpus
from course_utils.shipped import TASKS


def test_held_out_prompts_take_the_first_of_each_task():
    prompts = held_out_prompts(2)
    assert len(prompts) == 2 * len(TASKS) and {r["task"] for r in prompts} == set(TASKS)
    assert all(r["split"] == "test" for r in prompts)
    assert len(held_out_prompts()) == 100 * len(TASKS)


def test_scorecard_figures_are_rates_and_match_the_evaluation(tiny_base):
    model, tokenizer = tiny_base
    documents = [row["text"] for row in load_corpus("validation")[:30]]
    card, evaluation = score_model(model, tokenizer, held_out_prompts(1), documents)
    assert card.prompts_per_task == 1 and set(card.correct) == set(TASKS) == set(card.format_ok)
    assert card.perplexity > 1
    for rate in (card.copying, card.first_mentions, card.instruction_following, *card.correct.values()):
        assert 0 <= rate <= 1
    assert card.instruction_following == round(evaluation.overall, 3)
    assert card.to_dict()["correct"] == card.correct


def test_report_prints_the_scorecard(capsys):
    cli.main(["report", "--model", "tiny-base", "--per-task", "1"])
    out = capsys.readouterr().out
    assert "perplexity on the corpus validation split" in out
    assert "names and numbers predicted when they recur in a document" in out
    assert "8 held-out instruction prompts" in out and "overall instruction-following rate" in out
