import copy

import pytest

from course_utils import pretrain
from course_utils.train import IGNORE


def test_blocks_are_documents_end_to_end(tokenizer):
    texts = ["one document", "another one", "and a third"]
    ids = [t for doc in tokenizer(texts)["input_ids"] for t in doc + [tokenizer.eos_token_id]]
    blocks = pretrain.pack_documents(tokenizer, texts, 4)
    assert blocks.shape == (len(ids) // 4, 4)
    assert blocks.flatten().tolist() == ids[:blocks.numel()]


def test_too_little_text_for_a_block_is_an_error(tokenizer):
    with pytest.raises(ValueError, match="fewer than one block of 512"):
        pretrain.pack_documents(tokenizer, ["short"], 512)


def test_labels_are_the_inputs_except_document_starts(tokenizer):
    (batch,) = pretrain.document_batches(tokenizer, ["one document", "another one"], 4, 8)
    opening = batch["input_ids"] == tokenizer.bos_token_id
    assert opening.any() and (batch["labels"][opening] == IGNORE).all()
    assert (batch["labels"][~opening] == batch["input_ids"][~opening]).all()


def test_document_ends_stay_targets_when_bos_is_eos(tokenizer):
    tok = copy.deepcopy(tokenizer)
    assert pretrain.document_start_token(tok) == tok.bos_token_id
    tok.bos_token = tok.eos_token  # as in GPT-2 or SmolLM2
    assert pretrain.document_start_token(tok) is None
    blocks = pretrain.pack_documents(tok, ["one document", "another one"], 4)
    (batch,) = pretrain.language_model_batches(blocks, 8, pretrain.document_start_token(tok))
    assert (batch["labels"] == tok.eos_token_id).any()


def test_tokens_per_second_times_steps_on_a_copy(small_model, tokenizer):
    import torch

    texts = [f"document number {i} says something about the world." for i in range(200)]
    before = [p.clone() for p in small_model.parameters()]
    speed = pretrain.tokens_per_second(small_model, tokenizer, texts, steps=2, block_size=32, batch_size=2)
    assert speed > 0
    assert all(torch.equal(p, q) for p, q in zip(small_model.parameters(), before)), "the model is left as it was"
    with pytest.raises(ValueError, match="at least two batches"):
        pretrain.tokens_per_second(small_model, tokenizer, texts[:3], steps=2, block_size=32, batch_size=2)


def test_target_pairs_are_every_target_with_the_token_before_it(tokenizer):
    batches = pretrain.document_batches(tokenizer, ["the kettle broke", "a lamp"] * 20, 8, 2)
    pairs = list(pretrain.target_pairs(batches))
    assert len(pairs) == sum(int((b["labels"][:, 1:] != IGNORE).sum()) for b in batches)
    row, labels = batches[0]["input_ids"][0].tolist(), batches[0]["labels"][0].tolist()
    first_row = [(row[i - 1], labels[i]) for i in range(1, len(row)) if labels[i] != IGNORE]
    assert pairs[:len(first_row)] == first_row
    assert all(target != tokenizer.bos_token_id for _, target in pairs), "a document's opening <s> is no target"
