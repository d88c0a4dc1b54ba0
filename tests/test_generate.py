"""Decoding written out step by step gives exactly the tokens of ``model.generate``."""
from __future__ import annotations

import math

import pytest
import torch
from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from course_utils.generate import (
    SideBySide,
    apply_temperature,
    chat_prompt,
    complete,
    distinct_n,
    encode_prompt,
    field_values,
    filter_logits,
    generate_ids,
    next_token_distribution,
    repetition_rate,
    sample,
    side_by_side,
    top_k_filter,
    top_p_filter,
)

INF = float("inf")


# -- the filters on hand-written logits ------------------------------------------------------------
def test_temperature_divides_the_logits_and_sharpens_below_one():
    logits = torch.tensor([2.0, 1.0, 0.0])
    assert torch.equal(apply_temperature(logits, 0.5), torch.tensor([4.0, 2.0, 0.0]))
    top_prob = lambda t: float(apply_temperature(logits, t).softmax(-1)[0])  # noqa: E731
    assert top_prob(0.5) > top_prob(1.0) > top_prob(2.0)


def test_temperature_zero_points_to_greedy_decoding():
    with pytest.raises(ValueError, match="do_sample=False"):
        apply_temperature(torch.zeros(3), 0.0)


def test_top_k_keeps_the_k_best_tokens():
    logits = torch.tensor([1.0, 3.0, 2.0, 0.0])
    assert torch.equal(top_k_filter(logits, 2), torch.tensor([-INF, 3.0, 2.0, -INF]))
    assert torch.equal(top_k_filter(logits, 10), logits)  # k above the vocabulary keeps everything


def test_top_p_keeps_the_most_likely_tokens_that_reach_p():
    probs = torch.tensor([0.05, 0.5, 0.15, 0.3])
    logits = probs.log()
    kept = lambda p: (top_p_filter(logits, p) > -INF).tolist()  # noqa: E731
    assert kept(0.75) == [False, True, False, True]  # 0.5 + 0.3 = 0.8 >= 0.75
    assert kept(0.9) == [False, True, True, True]  # 0.5 + 0.3 + 0.15 = 0.95 >= 0.9
    assert kept(0.1) == [False, True, False, False]  # the most likely token always stays
    assert kept(1.0) == [True, True, True, True]


@pytest.mark.parametrize("temperature, top_k, top_p", [(0.7, None, None), (1.0, 20, None), (1.0, None, 0.9),
                                                       (0.7, 20, 0.9), (1.5, 5, 0.5)])
def test_filter_logits_equals_the_warpers_of_transformers(temperature, top_k, top_p):
    logits = torch.randn(3, 1024, generator=torch.Generator().manual_seed(0))
    expected = TemperatureLogitsWarper(temperature)(None, logits)
    if top_k:
        expected = TopKLogitsWarper(top_k)(None, expected)
    if top_p:
        expected = TopPLogitsWarper(top_p)(None, expected)
    assert torch.equal(filter_logits(logits, temperature, top_k, top_p), expected)


# -- token for token against model.generate --------------------------------------------------------
SETTINGS = [
    {"temperature": 0.7},
    {"top_k": 20},
    {"top_p": 0.9},
    {"temperature": 0.7, "top_k": 20},
    {"temperature": 0.7, "top_p": 0.9},
    {"top_k": 20, "top_p": 0.9},
    {"temperature": 0.7, "top_k": 20, "top_p": 0.9},
    {"temperature": 1.5, "top_k": 50, "top_p": 0.95},
]


def reference(model, tokenizer, ids: torch.Tensor, max_new_tokens: int, do_sample: bool, **settings) -> list[int]:
    """New tokens from ``model.generate``; unset filters are switched off explicitly (generate's top_k is 50)."""
    out = model.generate(
        ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens, do_sample=do_sample,
        temperature=settings.get("temperature", 1.0), top_k=settings.get("top_k") or 0,
        top_p=settings.get("top_p") or 1.0, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    return out[0, ids.shape[1]:].tolist()


PROMPTS = ["The Brightwell kettle", "Ticket 11018 was opened by"]


@pytest.mark.parametrize("prompt", PROMPTS)
def test_greedy_matches_generate(tiny_base, prompt):
    model, tokenizer = tiny_base
    ids = encode_prompt(tokenizer, prompt)
    ours = generate_ids(model, ids, 40, do_sample=False, eos_token_id=tokenizer.eos_token_id)
    assert ours == reference(model, tokenizer, ids, 40, do_sample=False)


def test_greedy_of_a_chat_prompt_matches_complete(tiny_base):
    model, tokenizer = tiny_base
    prompt = chat_prompt(tokenizer, "Classify the urgency of this ticket as high, medium or low.\n\nIt is urgent.")
    expected = complete(model, tokenizer, [prompt], 30)[0]["text"]
    assert sample(model, tokenizer, prompt, 30, do_sample=False).strip() == expected


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_seeded_sampling_matches_generate(tiny_base, settings):
    model, tokenizer = tiny_base
    for prompt in PROMPTS:
        ids = encode_prompt(tokenizer, prompt)
        for seed in range(3):
            torch.manual_seed(seed)
            expected = reference(model, tokenizer, ids, 40, do_sample=True, **settings)
            ours = generate_ids(model, ids, 40, eos_token_id=tokenizer.eos_token_id,
                                generator=torch.Generator().manual_seed(seed), **settings)
            assert ours == expected, f"prompt {prompt!r}, seed {seed}"


def test_sample_is_repeatable_and_leaves_the_global_random_state_alone(tiny_base):
    model, tokenizer = tiny_base
    state = torch.get_rng_state()
    first = sample(model, tokenizer, "The Brightwell kettle", 30, temperature=1.2, seed=7)
    assert sample(model, tokenizer, "The Brightwell kettle", 30, temperature=1.2, seed=7) == first
    assert torch.equal(torch.get_rng_state(), state)
    others = {sample(model, tokenizer, "The Brightwell kettle", 30, temperature=1.2, seed=s) for s in range(5)}
    assert len(others) > 1  # different seeds, different draws


def test_generation_stops_at_the_end_of_sequence_token(tiny_base):
    model, tokenizer = tiny_base
    ids = encode_prompt(tokenizer, "The Brightwell kettle")
    free = generate_ids(model, ids, 12, do_sample=False)
    stop = free[5]  # pretend the sixth greedy token were EOS: generation must end at its first occurrence
    assert generate_ids(model, ids, 12, do_sample=False, eos_token_id=stop) == free[: free.index(stop) + 1]


def test_next_token_distribution(tiny_base):
    model, tokenizer = tiny_base
    probs, table = next_token_distribution(model, tokenizer, "The Brightwell kettle", show=5)
    assert probs.shape == (len(tokenizer),) and float(probs.sum()) == pytest.approx(1.0, abs=1e-5)
    assert list(table.columns) == ["token", "id", "probability", "cumulative"] and list(table.index) == [1, 2, 3, 4, 5]
    assert table["id"].iloc[0] == int(probs.argmax())
    assert table["probability"].is_monotonic_decreasing
    assert table["token"].iloc[0] == repr(tokenizer.decode([int(probs.argmax())]))

    filtered, _ = next_token_distribution(model, tokenizer, "The Brightwell kettle", top_k=3)
    assert int((filtered > 0).sum()) == 3 and float(filtered.sum()) == pytest.approx(1.0, abs=1e-5)


# -- measures ----------------------------------------------------------------------------------------
def test_distinct_n_counts_distinct_ngrams_over_all_texts():
    assert distinct_n(["a b c", "a b d"], 1) == pytest.approx(4 / 6)
    assert distinct_n(["a b c", "a b d"], 2) == pytest.approx(3 / 4)  # (a b) twice, (b c), (b d)
    assert distinct_n(["same words", "same words"], 2) == 0.5
    assert distinct_n(["one"], 2) == 0.0


def test_repetition_rate_is_the_share_of_repeated_ngrams():
    assert repetition_rate("the cat sat on the mat", 2) == 0.0
    assert repetition_rate("I am sure I am sure I am sure", 3) == pytest.approx(4 / 7)  # 7 trigrams, 3 distinct
    assert repetition_rate("too short", 3) == 0.0
    assert math.isclose(repetition_rate("go " * 50, 1), 49 / 50)


# -- side by side ------------------------------------------------------------------------------------
def test_side_by_side_escapes_html_and_lines_up_the_text_table(tiny_base):
    model, tokenizer = tiny_base
    prompts = ["Is 3 < 4 & <b>bold</b>?", "Rewrite this message in a formal tone.\n\nhey my lamp died"]
    table = side_by_side({"base": (model, tokenizer), "same <model>": (model, tokenizer)}, prompts, max_new_tokens=12)
    assert table.outputs["base"] == table.outputs["same <model>"]  # greedy: same model, same answers
    chats = [chat_prompt(tokenizer, p) for p in prompts]
    assert table.outputs["base"] == [r["text"] for r in complete(model, tokenizer, chats, 12)]

    html = table._repr_html_()
    assert "<b>bold</b>" not in html and "3 &lt; 4 &amp; &lt;b&gt;bold&lt;/b&gt;?" in html
    assert "<th" in html and "same &lt;model&gt;" in html
    assert html.count("<tr>") == 1 + len(prompts)

    text = str(table)
    lines = text.splitlines()
    assert len({len(line) for line in lines}) == 1  # every line of the table has the same width
    assert "| prompt" in lines[1] and "same <model>" in lines[1]
    assert "hey my lamp died" in text and repr(table) == text


def test_side_by_side_columns_share_the_width_even_for_text_without_spaces():
    table = SideBySide(["a prompt"], {"untrained": ["x" * 3000], "trained": ["a short answer"]})
    html = table._repr_html_()
    assert 'table-layout:fixed; width:100%' in html  # equal columns that fit the output area
    assert html.count("overflow-wrap:anywhere") == 3 + 3  # every header and body cell (prompt and two models) may wrap


def test_side_by_side_without_chat_continues_plain_text(tiny_base):
    model, tokenizer = tiny_base
    table = side_by_side({"base": (model, tokenizer)}, ["The Brightwell kettle"], max_new_tokens=10, chat=False)
    assert table.outputs["base"] == [sample(model, tokenizer, "The Brightwell kettle", 10, do_sample=False).strip()]


# -- next-token distributions as tables ----------------------------------------------------------------
def test_next_token_logits_and_the_tables_of_top_tokens(tiny_base):
    from course_utils.generate import next_token_logits, token_table, token_text, top_tokens

    model, tokenizer = tiny_base
    logits = next_token_logits(model, tokenizer, "The Brightwell kettle")
    with torch.no_grad():
        expected = model(input_ids=encode_prompt(tokenizer, "The Brightwell kettle")).logits[0, -1]
    assert logits.dtype == torch.float32 and torch.equal(logits, expected)
    assert token_text(tokenizer, tokenizer(" the", add_special_tokens=False)["input_ids"][0]) == "' the'"

    probs = logits.softmax(dim=-1)
    top = top_tokens(tokenizer, probs, 3)
    assert top["id"].tolist() == torch.topk(probs, 3).indices.tolist()
    assert top["cumulative"].iloc[-1] == pytest.approx(float(torch.topk(probs, 3).values.sum()))
    table = token_table(tokenizer, {"T = 1": probs, "T = 2": (logits / 2).softmax(dim=-1)}, torch.tensor(top["id"].tolist()))
    assert table.index.name == "token" and table.index.tolist() == top["token"].tolist()
    assert table["T = 1"].tolist() == pytest.approx(top["probability"].tolist())
    assert table["T = 2"].iloc[0] < table["T = 1"].iloc[0], "a higher temperature takes share from the top token"


def test_prediction_table_scores_every_position_on_the_token_after_it(tiny_base):
    from course_utils.generate import prediction_table

    model, tokenizer = tiny_base
    ids = encode_prompt(tokenizer, "Ticket 11018 was opened by Lena Voss.")[0]
    with torch.no_grad():
        logits = model(input_ids=ids[None]).logits[0]
    table = prediction_table(tokenizer, ids, logits)
    assert len(table) == len(ids) - 1
    assert table["next token"].tolist() == tokenizer.convert_ids_to_tokens(ids[1:].tolist())
    assert table["P(next token)"].iloc[3] == pytest.approx(float(logits[3].softmax(dim=-1)[ids[4]]), abs=5e-4)
    assert table["top guess"].iloc[3] == tokenizer.convert_ids_to_tokens(int(logits[3].argmax()))


def test_step_probabilities_are_what_one_step_draws_from():
    from course_utils.generate import step_probabilities

    logits = torch.tensor([2.0, 1.0, 0.5, -1.0])
    assert step_probabilities(logits, do_sample=False).tolist() == [1.0, 0.0, 0.0, 0.0]
    assert torch.allclose(step_probabilities(logits), logits.softmax(dim=-1))
    top2 = step_probabilities(logits, top_k=2)
    assert (top2[2:] == 0).all() and float(top2.sum()) == pytest.approx(1.0)
    assert torch.equal(step_probabilities(logits, temperature=0.5, top_p=0.9),
                       filter_logits(logits, 0.5, None, 0.9).softmax(dim=-1))


def test_entropy_in_bits():
    from course_utils.generate import entropy_bits

    assert entropy_bits(torch.tensor([1.0, 0.0, 0.0])) == 0.0
    assert entropy_bits(torch.full((8,), 1 / 8)) == pytest.approx(3.0)


def test_diversity_table_measures_the_samples_of_each_rule():
    from course_utils.generate import diversity_table

    table = diversity_table({"same": ["a b c", "a b c"], "loop": ["a b c a b c a b c"]})
    assert table.index.tolist() == ["same", "loop"] and table.index.name == "rule"
    assert table.loc["same", "distinct-2"] == distinct_n(["a b c", "a b c"], 2) == 0.5
    assert table.loc["loop", "repetition (3-grams)"] == repetition_rate("a b c a b c a b c") > 0
    assert table.loc["same", "words per sample"] == 3


def test_sample_without_stop_at_eos_runs_on_past_the_end_of_a_document(tiny_base):
    model, tokenizer = tiny_base
    run_on = generate_ids(model, encode_prompt(tokenizer, "The Brightwell kettle"), 60, do_sample=False)
    assert tokenizer.eos_token_id in run_on[:-1], "greedy decoding ends a document within the 60 tokens"
    text = sample(model, tokenizer, "The Brightwell kettle", 60, do_sample=False, stop_at_eos=False)
    assert text == tokenizer.decode(run_on, skip_special_tokens=True)
    assert len(sample(model, tokenizer, "The Brightwell kettle", 60, do_sample=False)) < len(text)


def test_side_by_side_marks_right_facts_wrong_names_and_what_an_answer_leaves_out():
    facts = [{"customer": "Arvid Petrov", "product": "Arcworks D3", "request": "return label"}]
    others = {"customer": {"Arvid Petrov", "Hugo Lund"}, "product": {"Arcworks D3", "Lumo B2"}}
    table = SideBySide(["p"], {"a": ["Hugo Lund reports that his Arcworks D3 broke."]}, facts=facts, others=others)
    html = table._repr_html_()
    assert '#cf222e; color:#ffffff; border-radius:3px; padding:0 2px">Hugo Lund ✗</span>' in html
    assert '#1a7f37; color:#ffffff; border-radius:3px; padding:0 2px">Arcworks D3 ✓</span>' in html
    assert "leaves out: customer, request" in html
    assert "✓" not in SideBySide(["p"], {"a": ["Arcworks D3"]})._repr_html_()  # no facts, no marks
    assert field_values([{"fields": {"customer": "A", "n": 3}}, {"fields": {"customer": "B"}}], ["customer"]) == \
        {"customer": {"A", "B"}}
