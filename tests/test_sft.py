"""Rows to batches, checked to the token: what is a target, what is not, and how batches are built."""
from __future__ import annotations

import copy
import json

import pytest
import torch

from course_utils import sft
from course_utils.sft import IGNORE, DataError

CHAT = {"messages": [
    {"role": "system", "content": "You answer briefly."},
    {"role": "user", "content": "Where is Korvale?"},
    {"role": "assistant", "content": "In Ostmark."},
    {"role": "user", "content": "And Eastmere?"},
    {"role": "assistant", "content": "In Valdria."},
]}
ALPACA = {"instruction": "Classify the urgency.", "input": "The kettle is on fire.", "output": "high"}


def targets(tokenizer, example: sft.Example) -> str:
    return tokenizer.decode([t for t in example.labels if t != IGNORE])


def test_targets_are_the_responses_and_their_end_of_turn(tokenizer):
    example = sft.tokenize_conversation(tokenizer, CHAT["messages"])
    assert targets(tokenizer, example) == "In Ostmark.</s>In Valdria.</s>"
    assert example.input_ids.count(tokenizer.bos_token_id) == 1 and example.input_ids[0] == tokenizer.bos_token_id


def test_labels_match_the_templates_assistant_mask(tokenizer):
    out = tokenizer.apply_chat_template(CHAT["messages"], return_dict=True, return_assistant_tokens_mask=True)
    example = sft.tokenize_conversation(tokenizer, CHAT["messages"])
    assert example.input_ids == out["input_ids"]
    assert [label != IGNORE for label in example.labels] == [bool(m) for m in out["assistant_masks"]]


def test_every_format_gives_the_same_example(tokenizer):
    rows = [
        ALPACA,
        {"prompt": "Classify the urgency.\n\nThe kettle is on fire.", "completion": "high"},
        {"prompt": [{"role": "user", "content": "Classify the urgency.\n\nThe kettle is on fire."}],
         "completion": [{"role": "assistant", "content": "high"}]},
        {"messages": [{"role": "user", "content": "Classify the urgency.\n\nThe kettle is on fire."},
                      {"role": "assistant", "content": "high"}]},
    ]
    examples, _ = sft.prepare(tokenizer, rows, verbose=False)
    assert all(e == examples[0] for e in examples)
    assert targets(tokenizer, examples[0]) == "high</s>"


def test_text_rows_are_all_targets_but_bos(tokenizer):
    (example,), _ = sft.prepare(tokenizer, [{"text": "The kettle works."}], verbose=False)
    assert example.labels[0] == IGNORE and example.labels[1:] == example.input_ids[1:]
    assert example.input_ids[-1] == tokenizer.eos_token_id


def test_eos_is_a_target_when_pad_is_eos(tokenizer):
    tok = copy.deepcopy(tokenizer)
    tok.pad_token = tok.eos_token
    examples, _ = sft.prepare(tok, [ALPACA, {**ALPACA, "output": "a much longer answer than the other"}], verbose=False)
    batch = sft.collate_padded(examples, tok.pad_token_id)
    short = batch["labels"][0]
    eos_positions = (batch["input_ids"][0] == tok.eos_token_id).nonzero().flatten().tolist()
    answer_end = len(examples[0]) - 1
    assert short[answer_end] == tok.eos_token_id  # the response's EOS is learned...
    assert (short[answer_end + 1:] == IGNORE).all()  # ...the padding after it (also EOS ids) is not
    assert len(eos_positions) > 2


def test_truncation_keeps_the_prompt_start_and_drops_rows_left_without_targets(tokenizer):
    long_prompt = {"prompt": "word " * 300, "completion": "ok"}
    fits_partly = {"prompt": "short question", "completion": "a long answer " * 40}
    examples, report = sft.prepare(tokenizer, [long_prompt, fits_partly, ALPACA], max_length=64, verbose=False)
    assert report.kept == 2 and report.truncated == 2 and sum(report.dropped.values()) == 1
    assert "prompt fills all 64 tokens" in str(report)
    assert len(examples[0]) == 64 and examples[0].n_targets > 0
    assert tokenizer.decode(examples[0].input_ids).startswith("<s><|user|>\nshort question")


def test_bad_rows_are_named_or_counted(tokenizer, tmp_path):
    with pytest.raises(DataError, match=r"row 1: field 'output' must be a string, got int"):
        sft.prepare(tokenizer, [ALPACA, {**ALPACA, "output": 3}], verbose=False)
    with pytest.raises(DataError, match=r"row 0: no known format in fields \['instruction'\]"):
        sft.prepare(tokenizer, [{"instruction": "only this"}], verbose=False)
    with pytest.raises(DataError, match=r"messages\[1\] must be a dict"):
        sft.prepare(tokenizer, [{"messages": [{"role": "user", "content": "hi"}, "hello"]}], verbose=False)
    _, report = sft.prepare(tokenizer, [ALPACA, {**ALPACA, "output": "  "}], verbose=False)
    assert report.kept == 1 and report.dropped["empty response"] == 1
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps(ALPACA) + "\n" + json.dumps({"prompt": "hi", "completion": None}) + "\n")
    with pytest.raises(DataError, match=r"pairs.jsonl, line 2: no known format in fields \['prompt'\] "
                                        r"\(null: \['completion'\]\); give \['completion'\] a value"):
        sft.prepare(tokenizer, path, verbose=False)


def test_rows_from_a_datasets_dataset(tokenizer):
    from datasets import Dataset

    examples, _ = sft.prepare(tokenizer, Dataset.from_list([ALPACA, ALPACA]), verbose=False)
    assert len(examples) == 2 and targets(tokenizer, examples[0]) == "high</s>"


def test_length_grouping_saves_padding(tokenizer):
    rows = [{"prompt": "x " * n, "completion": "y"} for n in range(1, 200, 3)]
    examples, _ = sft.prepare(tokenizer, rows, verbose=False)

    def padding(batches):
        return sum(int((b["attention_mask"] == 0).sum()) for b in batches)

    grouped = sft.padded_batches(examples, 4, tokenizer.pad_token_id, group_by_length=True)
    plain = sft.padded_batches(examples, 4, tokenizer.pad_token_id, group_by_length=False)
    assert padding(grouped) < padding(plain) / 3
    assert sorted(len(e) for e in examples) == sorted(
        int(n) for b in grouped for n in b["attention_mask"].sum(1))


def test_best_fit_packing_fills_rows_without_splitting_examples():
    lengths = [90, 60, 50, 40, 30, 20, 10, 100]
    bins = sft.pack_best_fit(lengths, 100)
    assert sorted(i for b in bins for i in b) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= 100 for b in bins)
    assert len(bins) == 4  # 400 tokens in rows of 100: no row wasted


def test_packed_rows_restart_positions_per_example(tokenizer):
    examples, _ = sft.prepare(tokenizer, [ALPACA, CHAT], verbose=False)
    batch = sft.collate_packed([examples], tokenizer.pad_token_id)
    assert "attention_mask" not in batch
    n = len(examples[0])
    assert batch["position_ids"][0, :n].tolist() == list(range(n))
    assert batch["position_ids"][0, n:n + len(examples[1])].tolist() == list(range(len(examples[1])))


def _per_example_logits(model, examples, pad_id):
    padded = sft.collate_padded(examples, pad_id)
    logits = model(input_ids=padded["input_ids"], attention_mask=padded["attention_mask"], use_cache=False).logits
    return [logits[i, : len(e)] for i, e in enumerate(examples)]


def _packed_logits(model, examples, pad_id, use_cache):
    packed = sft.collate_packed([examples], pad_id)
    logits = model(input_ids=packed["input_ids"], position_ids=packed["position_ids"], use_cache=use_cache).logits[0]
    out, at = [], 0
    for e in examples:
        out.append(logits[at:at + len(e)])
        at += len(e)
    return out


def test_packed_and_padded_batches_give_the_same_logits_and_loss(small_model, tokenizer):
    from course_utils.train import token_loss_sum

    rows = [ALPACA, CHAT, {"prompt": "Who founded Oakwood Ltd?", "completion": "Talia Wilde."}]
    examples, _ = sft.prepare(tokenizer, rows, verbose=False)
    small_model.eval()
    with torch.no_grad():
        for a, b in zip(_per_example_logits(small_model, examples, tokenizer.pad_token_id),
                        _packed_logits(small_model, examples, tokenizer.pad_token_id, use_cache=False)):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
        padded_loss, n1, _ = token_loss_sum(small_model, sft.collate_padded(examples, tokenizer.pad_token_id))
        packed_loss, n2, _ = token_loss_sum(small_model, sft.collate_packed([examples], tokenizer.pad_token_id))
    assert n1 == n2 == sum(e.n_targets for e in examples)
    assert abs(float(padded_loss) - float(packed_loss)) / n1 < 1e-5


def test_a_cache_would_let_packed_examples_see_each_other(small_model, tokenizer):
    """The reason for use_cache=False: with a cache, transformers ignores the position restarts."""
    examples, _ = sft.prepare(tokenizer, [ALPACA, CHAT], verbose=False)
    small_model.eval()
    with torch.no_grad():
        alone = _per_example_logits(small_model, examples, tokenizer.pad_token_id)[1]
        leaked = _packed_logits(small_model, examples, tokenizer.pad_token_id, use_cache=True)[1]
    assert (alone - leaked).abs().max() > 1e-3


def test_trl_rows_hold_the_same_conversation(tokenizer):
    row = {"instruction": "Summarise.", "input": "A ticket.", "output": "A summary."}
    assert sft.to_trl([row]) == [{"prompt": [{"role": "user", "content": "Summarise.\n\nA ticket."}],
                                  "completion": [{"role": "assistant", "content": "A summary."}]}]
    with pytest.raises(sft.DataError, match="row 1"):
        sft.to_trl([row, {"instruction": "no output"}])


def test_a_pair_in_every_format_is_one_conversation():
    shapes = sft.as_formats(ALPACA)
    assert list(shapes) == ["prompt_completion", "alpaca", "messages"]
    assert all(sft.row_format(row, name) == name for name, row in shapes.items())
    assert all(sft.to_messages(row) == sft.to_messages(ALPACA) for row in shapes.values())
    assert shapes["prompt_completion"] == {"prompt": "Classify the urgency.\n\nThe kettle is on fire.",
                                           "completion": "high"}


def test_row_preview_cuts_every_string_and_keeps_the_structure():
    row = {"messages": [{"role": "user", "content": "x" * 100}], "n": 3}
    assert json.loads(sft.row_preview(row, width=10)) == {"messages": [{"role": "user", "content": "x" * 10 + "..."}],
                                                          "n": 3}


def test_token_stats_count_what_training_reads_uncut(tokenizer):
    long_text = {"text": "The kettle works. " * 200}
    stats = sft.token_stats(tokenizer, [ALPACA, long_text])
    (pair, document), _ = sft.prepare(tokenizer, [ALPACA, long_text], max_length=None, verbose=False)
    assert len(document) > 512, "longer than prepare's default cut, and counted whole"
    assert targets(tokenizer, pair) == "high</s>"
    assert stats["examples"] == 2 and stats["tokens"] == len(pair) + len(document)
    assert stats["target tokens"] == pair.n_targets + len(document) - 1, "every token of a document but BOS"
    assert stats["share of tokens that are targets"] == round(stats["target tokens"] / stats["tokens"], 3)
    assert isinstance(stats["tokens"], int), "counts stay whole numbers"
    with pytest.raises(ValueError, match="none of the 1 rows"):
        sft.token_stats(tokenizer, [{"text": " "}])
