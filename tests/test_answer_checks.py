"""What an answer is whatever was asked, the facts it names in any form, and candidate answers weighed by a model."""
from __future__ import annotations

import pytest

from course_utils import evaluate, sft
from course_utils.evaluate import (answer_kind, answer_nll, answers_per_instruction, candidate_table, chat_row_prompt,
                                   facts_named, few_shot_prompt, first_line_summaries, follow_rates, likeliest,
                                   prompt_tokens, wrong_value)
from course_utils.models import load_model
from course_utils.shipped import load_instructions
from course_utils.train import evaluate_loss

TICKET = {"customer": "Yara Berg", "product": "Tidegate M4", "problem": "makes a rattling noise", "request": "repair"}


@pytest.mark.parametrize("answer, kind", [
    ("High", "label"),
    (" negative ", "label"),
    ("negative.", "one sentence"),  # with a full stop it is no bare label
    ('{"customer": "Yara Berg", "product": "Tidegate M4"}', "JSON"),
    ('["Yara Berg", "Tidegate M4"]', "other"),  # valid JSON, but not an object
    ("Term: 24 months; liability cap: 50,000 crowns; governing law: Valdria.", "contract summary"),
    ("Yara Berg asks for a repair of her Tidegate M4.", "one sentence"),
    ("Yara Berg has a Tidegate M4. It rattles.", "other"),
])
def test_the_kind_of_an_answer(answer, kind):
    assert answer_kind(answer) == kind


def test_facts_are_named_in_any_form_and_numbers_as_prose_writes_them():
    contract = {"provider": "Vinterworks & Sons", "term_months": 48, "liability_cap": 50000}
    summary = "Term: 48 months; liability cap: 50,000 crowns; governing law: Norland."
    assert facts_named(summary, contract) == pytest.approx(2 / 3)  # the summary leaves out the provider
    assert facts_named('{"provider": "Vinterworks & Sons", "liability_cap": 50000}', contract) == pytest.approx(1 / 3)
    assert facts_named("a term of 148 months", {"term_months": 48}) == 0.0  # whole numbers only


def test_follow_rates_go_from_the_form_to_every_fact(monkeypatch, tokenizer):
    rows = [{"task": "ticket_summary", "instruction": "Summarise.", "input": "...", "output": "...", "fields": TICKET}] * 4
    answers = ["Yara Berg reports that her Tidegate M4 makes a rattling noise and asks for a repair.",  # all right
               "Yara Berg reports that her Tidegate M4 overheats.",  # one sentence, customer and product
               "Dear customer, thank you.",  # one sentence, a fragment
               "Yara Berg has a Tidegate M4. It makes a rattling noise and she wants a repair."]  # two sentences
    monkeypatch.setattr(evaluate, "complete", lambda model, tok, prompts, *args: [
        {"text": a, "stopped_at_eos": True, "new_tokens": 1} for a in answers])
    rates, scored = follow_rates(None, tokenizer, rows)
    assert rates.to_dict() == {"one sentence": 0.75, "one sentence, right customer and product": 0.5,
                               "one sentence, all facts right": 0.25}
    assert scored["names customer and product"].tolist() == [True, True, False, True]


def answering(monkeypatch, answers: list[str]) -> list[str]:
    """Make ``evaluate_model`` receive ``answers``, in order; returns the prompts it sent, once it has run."""
    sent = []
    def complete(model, tok, prompts, *args):
        sent.extend(prompts)
        return [{"text": a, "stopped_at_eos": True, "new_tokens": 1} for a in answers[:len(prompts)]]
    monkeypatch.setattr(evaluate, "complete", complete)
    return sent


def test_answers_per_instruction_send_every_row_under_each_instruction(monkeypatch, tokenizer):
    rows = load_instructions("test", tasks=["ticket_summary"])[:2]
    sent = answering(monkeypatch, ["Yara Berg asks for a repair.", "She wants a refund.", "high", '{"a": 1}'])
    asked = {"summary": "Summarise this ticket.", "urgency": "How urgent is this ticket?"}
    answers = answers_per_instruction(None, tokenizer, rows, asked)
    assert answers["instruction"].tolist() == ["summary", "summary", "urgency", "urgency"]
    assert answers["id"].tolist() == [rows[0]["id"], rows[1]["id"]] * 2
    assert "Summarise this ticket." in sent[1] and "How urgent is this ticket?" in sent[2] and rows[1]["input"] in sent[3]
    assert answers["kind"].tolist() == ["one sentence", "one sentence", "label", "JSON"]


def test_first_line_summaries_count_the_first_line_only(monkeypatch, tokenizer):
    rows = [{"task": "ticket_summary", "input": "...", "output": "...", "fields": TICKET}] * 3
    answering(monkeypatch, ["Yara Berg reports a fault with her Tidegate M4.\nTicket: the next one",
                            "Her Tidegate M4",  # names the product, but no sentence
                            "Summary: a fault.\nThe Tidegate M4 rattles."])  # the product only after the first line
    bare = few_shot_prompt([])
    measured = first_line_summaries(None, tokenizer, rows, bare)
    assert measured["prompt tokens"] == prompt_tokens(tokenizer, rows, bare)
    assert measured["names the right product"] == pytest.approx(2 / 3) and measured["one sentence"] == pytest.approx(2 / 3)
    assert measured["one-sentence summary naming the product"] == pytest.approx(1 / 3)
    assert measured["first answer"] == "Yara Berg reports a fault with her Tidegate M4."


def test_a_chat_prompt_is_counted_with_one_bos_and_worked_examples_cost_tokens(tokenizer):
    row = load_instructions("test", tasks=["ticket_summary"])[0]
    rendered = chat_row_prompt(tokenizer, row)
    assert row["instruction"] in rendered and row["input"] in rendered and rendered.count(tokenizer.bos_token) == 1
    template = tokenizer.apply_chat_template([{"role": "user", "content": f"{row['instruction']}\n\n{row['input']}"}],
                                             add_generation_prompt=True, tokenize=True, return_dict=True)
    assert prompt_tokens(tokenizer, [row]) == len(template["input_ids"])
    shots = load_instructions("train", tasks=["ticket_summary"])[:2]
    one, two = (prompt_tokens(tokenizer, [row], few_shot_prompt(shots[:k])) for k in (1, 2))
    assert prompt_tokens(tokenizer, [row], few_shot_prompt([])) < one < two


@pytest.fixture(scope="module")
def tiny_instruct():
    return load_model("tiny-instruct", device="cpu")


def test_answer_nll_is_the_sft_loss_of_the_answer(tiny_instruct):
    model, tokenizer = tiny_instruct
    row = load_instructions("test", tasks=["ticket_summary"])[0]
    examples, _ = sft.prepare(tokenizer, [row], verbose=False)
    sft_loss = evaluate_loss(model, [sft.collate_padded(examples, tokenizer.pad_token_id)])
    nll = answer_nll(model, tokenizer, row, row["output"])
    answer_tokens = len(tokenizer(row["output"], add_special_tokens=False)["input_ids"])
    assert nll.per_token == pytest.approx(sft_loss) and nll.tokens == answer_tokens + 1  # and the end-of-turn token
    assert nll.total == pytest.approx(nll.per_token * nll.tokens)


def test_the_trained_label_is_the_likeliest(tiny_instruct):
    model, tokenizer = tiny_instruct
    rows = load_instructions("test", tasks=["urgency"])[:10]
    right = sum(likeliest(model, tokenizer, r, ["high", "medium", "low"]) == r["output"] for r in rows)
    assert right >= 8
    wrong = "high" if rows[0]["output"] != "high" else "low"
    assert answer_nll(model, tokenizer, rows[0], rows[0]["output"]).total < answer_nll(model, tokenizer, rows[0], wrong).total


def test_candidate_table_weighs_each_candidate_by_scorer_and_loss(tiny_instruct):
    model, tokenizer = tiny_instruct
    rows = load_instructions("test", tasks=["urgency"])[:2]
    candidates = [{"right": r["output"], "wrong": "high" if r["output"] != "high" else "low"} for r in rows]
    table = candidate_table(model, tokenizer, rows, candidates)
    assert table[["row", "candidate"]].values.tolist() == [[0, "right"], [0, "wrong"], [1, "right"], [1, "wrong"]]
    assert table["scorer says correct"].tolist() == [True, False, True, False]
    loss = table.pivot(index="row", columns="candidate", values="SFT loss per token")
    assert (loss["right"] < loss["wrong"]).all()
    assert loss.loc[0, "right"] == pytest.approx(answer_nll(model, tokenizer, rows[0], rows[0]["output"]).per_token)


def test_a_wrong_value_comes_from_the_next_row_that_differs_going_round():
    rows = [{"fields": {"product": p}} for p in ("Tidegate M4", "Tidegate M4", "Arcworks D3")]
    assert wrong_value(rows, 0, "product") == "Arcworks D3"
    assert wrong_value(rows, 2, "product") == "Tidegate M4"
    with pytest.raises(ValueError, match="no other value"):
        wrong_value(rows[:2], 0, "product")
