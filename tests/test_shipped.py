"""Reading the shipped data: what each task's input is, the flawed sets, and pairs written by hand."""
from __future__ import annotations

import pytest

from course_utils.evaluate import score_row
from course_utils.shipped import INPUT_KINDS, TASKS, contract_pair, flawed_sets, load_corpus, load_handwritten


def test_every_task_names_corpus_kinds_that_hold_its_input():
    corpus_kinds = {doc["kind"] for doc in load_corpus("validation")}
    assert set(INPUT_KINDS) == set(TASKS)
    assert {kind for kinds in INPUT_KINDS.values() for kind in kinds} < corpus_kinds, "some kinds no task uses"


def test_flawed_sets_hold_the_same_inputs_in_the_same_order():
    sets = flawed_sets("contract_summary", ["wrong_fact", "truncated"])
    clean = sets["clean"]
    assert list(sets) == ["clean", "wrong_fact", "truncated"] and clean
    for flaw in ("wrong_fact", "truncated"):
        assert [r["clean_id"] for r in sets[flaw]] == [r["id"] for r in clean]
        assert all(r["flaw"] == flaw and r["input"] == c["input"] and r["output"] != c["output"]
                   for r, c in zip(sets[flaw], clean))
    with pytest.raises(ValueError, match="no contract_summary pair has a flawed copy"):
        flawed_sets("contract_summary", ["unsafe"])


def test_a_hand_written_contract_pair_has_the_shipped_shape_and_agrees_with_its_fields():
    pair = contract_pair("Clause 1: This rental runs for 6 months. Clause 2: The cap is 45,000 crowns. Clause 3: "
                         "The laws of Norland apply.", "6 months", "45,000 crowns", "Norland")
    shipped = load_handwritten("contract_pairs")[0]
    assert set(pair) <= set(shipped) and pair["instruction"] == shipped["instruction"]
    assert pair["output"] == "Term: 6 months; liability cap: 45,000 crowns; governing law: Norland."
    assert score_row(pair, pair["output"])["correct"]
