"""Named claims: a result shown beside its expected range, recorded for the run check, and stopping a run it fails."""
from __future__ import annotations

import json

import pytest

from course_utils import claims


def test_a_claim_that_holds_is_shown_and_returns_nothing_for_a_notebook_to_display(capsys):
    assert claims.expect("base_vs_tuned.tuned.format", 0.98, at_least=0.8, text="one-sentence summaries") is None
    assert capsys.readouterr().out == (
        "claim base_vs_tuned.tuned.format: measured 0.98, expected at least 0.8: holds (one-sentence summaries)\n")


def test_a_claim_not_met_stops_the_run_and_names_value_and_range():
    with pytest.raises(claims.ClaimNotMet, match=r"claim alignment.perplexity_ratio: measured 57, expected 1 to 2: NOT MET"):
        claims.expect("alignment.perplexity_ratio", 57, at_least=1, at_most=2)
    with pytest.raises(AssertionError):  # a claim fails a test run as an assert would
        claims.expect("preference.repeats", 0.5, at_most=0.1)


def test_bounds_are_inclusive_and_ranges_read_as_words():
    claims.expect("edge.low", 0.8, at_least=0.8)  # no ClaimNotMet: the bounds themselves hold
    claims.expect("edge.high", 0.2, at_most=0.2)
    assert claims.Claim("x", 1.0, at_least=0.1, at_most=0.3).expected == "0.1 to 0.3"
    assert claims.Claim("x", 1.0, at_most=0.25).expected == "at most 0.25"


def test_claims_are_written_to_the_log_the_check_names(tmp_path, monkeypatch):
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv(claims.ENV_VAR, str(log))
    claims.expect("a.first", 1.0, at_least=0.5)
    with pytest.raises(claims.ClaimNotMet):
        claims.expect("a.second", 0.1, at_least=0.5)
    assert [(c.name, c.held) for c in claims.read_claims(log)] == [("a.first", True), ("a.second", False)]


def test_without_a_log_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.delenv(claims.ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    claims.expect("a.quiet", 1.0, at_least=0.5)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, value, bounds, error, message", [
    ("S1 Format", 1.0, {"at_least": 0.5}, ValueError, "lower-case words joined by dots"),
    ("base_vs_tuned.format", "high", {"at_least": 0.5}, TypeError, "must be a number, got str"),
    ("base_vs_tuned.format", float("nan"), {"at_least": 0.5}, ValueError, "not a finite number"),
    ("base_vs_tuned.format", 1.0, {}, ValueError, "give at_least, at_most or both"),
    ("base_vs_tuned.format", 1.0, {"at_least": 0.9, "at_most": 0.1}, ValueError, "at_least 0.9 is above at_most 0.1"),
])
def test_a_malformed_claim_is_named(name, value, bounds, error, message):
    with pytest.raises(error, match=message):
        claims.expect(name, value, **bounds)


def test_a_damaged_log_line_is_named(tmp_path):
    log = tmp_path / "claims.jsonl"
    log.write_text(json.dumps({"name": "a.b", "value": 1.0, "at_least": 0.5}) + "\n{broken\n")
    with pytest.raises(ValueError, match=r"claims.jsonl, line 2: not a claim"):
        claims.read_claims(log)
