"""The synthetic world: deterministic for a seed, splits that never overlap, a corpus without instructions."""
from __future__ import annotations

import json
import re

import pytest

from course_utils.evaluate import brief_values, faithful, score_row
from course_utils.shipped import HELD_OUT_TASKS, TRAINING_TASKS
from course_utils.synth import corpus, flaws, tasks
from course_utils.synth.long_contracts import long_contract_pairs
from course_utils.synth.world import World

SMALL = tasks.SplitPlan(train=60, train_ticket=70, train_contract=80, train_qa=90, validation=15, test=15, test_reworded=8)


@pytest.fixture(scope="module")
def splits():
    return tasks.instruction_splits(World(3), SMALL)


def test_same_seed_same_world_and_data():
    a, b = World(7), World(7)
    assert a.companies == b.companies and a.products == b.products
    assert corpus.pretraining_corpus(a, 50, "train") == corpus.pretraining_corpus(b, 50, "train")
    assert tasks.instruction_splits(a, SMALL) == tasks.instruction_splits(b, SMALL)


def test_other_seed_other_data():
    assert corpus.pretraining_corpus(World(1), 20, "train") != corpus.pretraining_corpus(World(2), 20, "train")


def test_splits_never_share_an_input(splits):
    seen: dict[str, str] = {}
    for split, rows in splits.items():
        for row in rows:
            assert row["input"] not in seen, f"{row['id']} repeats an input of split {seen.get(row['input'])}"
            seen[row["input"]] = split


def test_split_sizes_and_held_out_tasks(splits):
    train_tasks = {r["task"] for r in splits["train"]}
    assert len(TRAINING_TASKS) >= 6 and len(HELD_OUT_TASKS) >= 2
    assert train_tasks == set(TRAINING_TASKS)
    assert not train_tasks & set(HELD_OUT_TASKS)
    assert set(HELD_OUT_TASKS) <= {r["task"] for r in splits["test"]}
    assert sum(r["task"] == "contract_summary" for r in splits["train"]) == SMALL.train_contract
    assert sum(r["task"] == "qa" for r in splits["train"]) == SMALL.train_qa
    assert sum(r["task"] == "urgency" for r in splits["train"]) == SMALL.train


def test_reworded_instructions_are_never_trained_on(splits):
    trained = {r["instruction"] for r in splits["train"]}
    assert all(r["instruction"] not in trained for r in splits["test_reworded"])


def test_every_pair_keeps_the_facts_of_its_output(splits):
    for row in splits["train"]:
        if row["task"] in ("extract_json", "contract_json"):
            assert json.loads(row["output"]) == row["fields"]
        else:
            for value in row["fields"].values():
                assert str(value) in row["output"], (row["id"], value)


def test_pretraining_corpus_holds_raw_documents_only():
    docs = corpus.pretraining_corpus(World(0), 400, "train")
    kinds = {d["kind"] for d in docs}
    assert kinds == {"ticket", "export", "contract", "company", "faq", "place", "product", "story", "dialogue",
                     "minutes", "call_log", "parcels"}
    every_instruction = [w for t in tasks.TASKS.values() for w in (*t.instructions, *t.reworded)]
    for doc in docs:
        assert not any(w in doc["text"] for w in every_instruction), doc["id"]
        assert "Summarise" not in doc["text"] and "<|user|>" not in doc["text"]


def test_restated_facts_never_take_the_form_of_a_task_answer():
    """Desk notes, key terms and exports restate facts, so a base model learns to copy them; they never
    use the shape of an instruction's answer, which SFT is there to teach."""
    docs = corpus.pretraining_corpus(World(0), 600, "train")
    restating = [d["text"] for d in docs if "Desk note" in d["text"] or "Key terms." in d["text"]
                 or "Exported record" in d["text"]]
    assert len(restating) > 100
    for text in restating:
        assert " reports that their " not in text and "Term: " not in text and "liability cap: " not in text
        assert '{"customer"' not in text  # the JSON task's object opens with "customer"


def test_indefinite_articles_agree_with_the_next_word(splits):
    """ "an Arcworks D3", never "a Arcworks D3": product and company names often open with a vowel."""
    texts = [d["text"] for d in corpus.pretraining_corpus(World(0), 600, "train")]
    texts += [row[key] for rows in splits.values() for row in rows for key in ("input", "output")]
    wrong = [m.group(0) for text in texts for m in re.finditer(r"\ba [AEIOaeio]\w*", text)]
    assert wrong == []


def test_flawed_variants_keep_the_clean_facts(splits):
    flawed = flaws.flawed_training_pairs(splits["train"], per_task=10, seed=0)
    assert {r["flaw"] for r in flawed} == set(flaws.FLAWS)
    clean = {r["id"]: r for r in splits["train"]}
    for row in flawed:
        source = clean[row["clean_id"]]
        assert row["output"] != source["output"] and row["fields"] == source["fields"]
        if row["flaw"] == "unsafe":
            assert source["private"]["email"] in row["output"]


def test_preference_pairs_are_reproducible_and_skip_excluded_inputs():
    world = World(0)
    first = tasks.preference_pairs(world, 20, stream=1)
    assert first == tasks.preference_pairs(world, 20, stream=1) != tasks.preference_pairs(world, 20, stream=2)
    again = tasks.preference_pairs(world, 20, stream=1, exclude=[p["input"] for p in first[:5]])
    assert not {p["input"] for p in first[:5]} & {p["input"] for p in again}
    assert len({p["input"] for p in again}) == 20


def long_pairs(n: int = 40) -> list[dict]:
    """Long contracts of notebook ch04/03: every value a summary needs sits among others of its kind."""
    return long_contract_pairs(World(seed=0).stream("test: long contracts"), n)


def test_the_same_stream_gives_the_same_contracts_and_another_gives_others():
    assert long_pairs(5) == long_pairs(5)
    assert long_pairs(5) != long_contract_pairs(World(seed=0).stream("test: other contracts"), 5)


def test_each_summary_states_its_own_fields_in_the_paragraph_form_and_from_its_contract():
    for row in long_pairs():
        assert score_row(row, row["output"])["correct"]
        assert brief_values(row["output"]) == tuple(row["fields"].values())
        assert faithful(row["output"], row["input"])
        assert "\n" not in row["output"]


def test_each_contract_holds_a_wrong_value_of_every_kind_beside_the_right_one():
    for row in long_pairs():
        text, fields = row["input"], row["fields"]
        months = set(re.findall(r"(\d+) months", text))
        sums = set(re.findall(r"([\d,]+ crowns)", text))
        assert len(months) == 2 and fields["term"].split()[0] in months, "the term and a warranty of other length"
        assert len(sums) == 2 and fields["liability_cap"] in sums, "the cap and insurance cover of another sum"
        assert re.search(r"courts of (?!" + re.escape(fields["governing_law"]) + r"\b)", text), "courts elsewhere"
        assert "days' written notice" in text


def test_contracts_are_several_times_longer_than_their_summaries(tokenizer):
    for row in long_pairs(10):
        assert len(tokenizer(row["input"])["input_ids"]) > 4 * len(tokenizer(row["output"])["input_ids"]) > 120
