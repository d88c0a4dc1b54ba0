"""Copy rows: every target is a token shown earlier in its row, and nothing else is a target."""
from __future__ import annotations

import random

import pytest
import torch

from course_utils.pretrain import language_model_batches
from course_utils.synth import copy_task
from course_utils.train import IGNORE


def spans_of(row_ids: list[int], bos: int) -> list[list[int]]:
    """A row cut at each <s>: every piece is one span shown twice (the last one possibly cut short)."""
    pieces, current = [], None
    for token in row_ids:
        if token == bos:
            current = []
            pieces.append(current)
        else:
            current.append(token)
    return pieces


def test_a_row_is_spans_shown_twice_and_only_the_second_showing_is_a_target(tokenizer):
    ids, labels = copy_task.copy_row(random.Random(3), copy_task.copyable_tokens(tokenizer), 200, (2, 5),
                                     tokenizer.bos_token_id)
    assert len(ids) == len(labels) == 200 and ids[0] == tokenizer.bos_token_id
    position = 0
    for piece in spans_of(ids, tokenizer.bos_token_id)[:-1]:  # the last piece may be cut by the row's end
        half = len(piece) // 2
        assert 2 <= half <= 5 and piece[:half] == piece[half:]
        assert labels[position:position + 1 + half] == [IGNORE] * (1 + half)
        assert labels[position + 1 + half:position + 1 + 2 * half] == piece[half:]
        position += 1 + len(piece)


def test_spans_never_hold_special_tokens(tokenizer):
    batch = copy_task.copy_rows(tokenizer, 4, 256)
    special = set(tokenizer.all_special_ids) - {tokenizer.bos_token_id}
    assert not special & set(batch["input_ids"].flatten().tolist())


def test_rows_are_reproducible_from_the_seed(tokenizer):
    a, b = copy_task.copy_rows(tokenizer, 2, 64, seed=7), copy_task.copy_rows(tokenizer, 2, 64, seed=7)
    assert torch.equal(a["input_ids"], b["input_ids"])
    assert not torch.equal(a["input_ids"], copy_task.copy_rows(tokenizer, 2, 64, seed=8)["input_ids"])


def test_copy_batches_differ_from_batch_to_batch(tokenizer):
    batches = copy_task.copy_batches(tokenizer, 3, 2, 32)
    assert [b["input_ids"].shape for b in batches] == [torch.Size([2, 32])] * 3
    assert not torch.equal(batches[0]["input_ids"], batches[1]["input_ids"])


def test_with_copy_rows_appends_rows_of_the_same_length(tokenizer):
    blocks = torch.randint(10, 100, (4, 48))
    text = language_model_batches(blocks, 2, tokenizer.bos_token_id)
    mixed = copy_task.with_copy_rows(text, tokenizer, rows_per_batch=1)
    assert [b["input_ids"].shape for b in mixed] == [torch.Size([3, 48])] * 2
    assert torch.equal(mixed[0]["input_ids"][:2], blocks[:2])
    assert torch.equal(mixed[1]["labels"][:2], text[1]["labels"])


def test_a_tokenizer_without_bos_is_refused(tokenizer):
    no_bos = tokenizer.__class__.from_pretrained(tokenizer.name_or_path, bos_token=None)
    with pytest.raises(ValueError, match="no <s>"):
        copy_task.copy_rows(no_bos, 1, 16)
