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


