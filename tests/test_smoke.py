"""Smoke mode: every run cut to a few steps, claims reported without stopping, and the check that uses it."""
from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from course_utils import claims, cli, presets, smoke, trl_runs
from course_utils.finetune import fine_tune
from course_utils.generate import chat_prompt, complete
from course_utils.shipped import load_corpus, load_instructions, prompt_text


@pytest.fixture
def smoke_on(monkeypatch):
    monkeypatch.setenv(smoke.ENV_VAR, "2")


def write_notebook(path, cells):
    nbformat.write(new_notebook(cells=cells), path)
    return path


def test_smoke_mode_is_off_unless_the_variable_names_a_step_count(monkeypatch):
    monkeypatch.delenv(smoke.ENV_VAR, raising=False)
    assert not smoke.on() and smoke.cap(500, None) == 500
    monkeypatch.setenv(smoke.ENV_VAR, "3")
    assert smoke.on() and smoke.cap(500, None) == 3 and smoke.cap(500, 8) == 8 and smoke.cap(2, 8) == 2
    monkeypatch.setenv(smoke.ENV_VAR, "yes")
    with pytest.raises(ValueError, match=r"COURSE_UTILS_SMOKE must be a number of training steps .* got 'yes'"):
        smoke.on()


def test_a_smoke_run_trains_a_few_steps_on_a_few_rows_and_generates_a_few_tokens(smoke_on, small_model, tokenizer):
    rows = load_instructions("train", tasks=["ticket_summary"])[:300]
    result = fine_tune(small_model, tokenizer, rows, presets.TICKET_SFT, steps=300, copy=True, eval_rows=rows,
                       eval_every=1)
    assert result.state.step == 2 and len(result.history) == 2
    assert result.prepared.kept + sum(result.prepared.dropped.values()) == smoke.ROWS < len(rows)
    answers = complete(small_model, tokenizer, [chat_prompt(tokenizer, prompt_text(rows[0]))], max_new_tokens=64)
    assert answers[0]["new_tokens"] <= smoke.NEW_TOKENS


def test_a_smoke_run_reads_a_few_corpus_documents(smoke_on, monkeypatch):
    assert len(load_corpus("train")) == smoke.DOCUMENTS and len(load_corpus("validation")) == smoke.HELD_OUT_DOCUMENTS
    monkeypatch.delenv(smoke.ENV_VAR)
    assert len(load_corpus("validation")) > smoke.DOCUMENTS


def test_trl_runs_are_cut_to_the_smoke_steps(smoke_on):
    assert trl_runs.smoke_capped({"num_train_epochs": 3})["max_steps"] == 2
    assert trl_runs.smoke_capped({"max_steps": 1})["max_steps"] == 1
    assert trl_runs.smoke_capped({"max_steps": 100})["max_steps"] == 2


def test_in_smoke_mode_a_claim_not_met_is_shown_and_recorded_but_does_not_stop(smoke_on, tmp_path, monkeypatch, capsys):
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv(claims.ENV_VAR, str(log))
    claims.expect("demo.rate", 0.1, at_least=0.8)
    assert capsys.readouterr().out == (
        "claim demo.rate: measured 0.1, expected at least 0.8: NOT MET (a smoke run: not checked)\n")
    assert [c.held for c in claims.read_claims(log)] == [False]


def test_in_smoke_mode_a_ratio_of_nothing_to_nothing_is_a_claim_not_met(smoke_on, monkeypatch, capsys):
    claims.expect("demo.ratio", float("nan"), at_most=0.1)  # a random model's 0 / 0
    assert "measured nan, expected at most 0.1: NOT MET" in capsys.readouterr().out
    monkeypatch.delenv(smoke.ENV_VAR)
    with pytest.raises(ValueError, match="not a finite number"):
        claims.expect("demo.ratio", float("nan"), at_most=0.1)


def test_check_smoke_reports_cells_and_claims_and_fails_only_on_errors(tmp_path, capsys):
    book = write_notebook(tmp_path / "claims.ipynb", [
        new_code_cell("from course_utils import claims, smoke\nassert smoke.on()"),
        new_code_cell("claims.expect('demo.rate', 0.9, at_least=0.8)"),
        new_code_cell("claims.expect('demo.loss', 2.5, at_most=2.0)"),
    ])
    assert cli.main(["check", "--size", "cpu", "--smoke", str(book)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[:5] == ["claims.ipynb", "pass", "3/3", "1", "1"]
    assert out[2].startswith("1 notebooks, 0 failed; 2 claims, 1 not met; size cpu")
    assert "claims not met are expected" in out[3]

    broken = write_notebook(tmp_path / "broken.ipynb", [new_code_cell("x = 1"), new_code_cell("1 / 0"),
                                                        new_code_cell("y = 2")])
    assert cli.main(["check", "--size", "cpu", "--smoke", str(broken)]) == 1
    row = capsys.readouterr().out.splitlines()[1]
    assert row.split()[:3] == ["broken.ipynb", "FAIL", "2/3"]
    assert row.endswith("cell 2: ZeroDivisionError: division by zero")


def test_a_parameter_may_name_a_smaller_value_for_smoke_runs(monkeypatch):
    from course_utils import settings

    monkeypatch.setenv(settings.ENV_VAR, "t4")
    monkeypatch.delenv(smoke.ENV_VAR, raising=False)
    assert settings.pick(cpu=50, t4=100, gpu=200, smoke=5) == 100
    monkeypatch.setenv(smoke.ENV_VAR, "2")
    assert settings.pick(cpu=50, t4=100, gpu=200, smoke=5) == 5
    assert settings.pick(cpu=50, t4=100, gpu=200) == 100  # no smoke value: the size's


def test_check_stand_in_loads_hub_ids_offline_from_stand_ins(tmp_path, capsys):
    book = write_notebook(tmp_path / "hub.ipynb", [
        new_code_cell("import os\nfrom course_utils import smoke\nassert smoke.on() and os.environ['HF_HUB_OFFLINE'] == '1'"),
        new_code_cell("from course_utils.models import load_model\n"
                      "model, tokenizer = load_model('HuggingFaceTB/SmolLM2-360M')\n"
                      "assert len(tokenizer) == 49_152 and model.config.num_key_value_heads == 5"),
    ])
    assert cli.main(["check", "--size", "gpu", "--stand-in", str(book)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[:3] == ["hub.ipynb", "pass", "2/2"]
    assert "hub models replaced by random stand-ins" in out[3]
