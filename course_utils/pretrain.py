"""Pre-training batches: raw documents laid end to end and cut into blocks.

Pre-training has no prompts and no answers: every token of the text is a target.
``pack_documents`` lays ``<s> text </s>`` end to end and cuts rows of equal length, and
``language_model_batches`` labels each row with itself, except a document-opening ``<s>``, which
nothing before it could predict. ``target_pairs`` lists every target with the token before it.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator

import torch
from transformers import PreTrainedTokenizerBase

from course_utils.train import IGNORE, Batch, TrainConfig, train


def pack_documents(tokenizer: PreTrainedTokenizerBase, texts: Iterable[str], block_size: int) -> torch.Tensor:
    """Documents laid end to end and cut into rows of ``block_size`` tokens (the tail is dropped)."""
    ids: list[int] = []
    for doc in tokenizer(list(texts), add_special_tokens=True)["input_ids"]:  # one batched call: fast
        ids.extend(doc)
        ids.append(tokenizer.eos_token_id)
    n_blocks = len(ids) // block_size
    if n_blocks == 0:
        raise ValueError(f"pack_documents: {len(ids)} tokens are fewer than one block of {block_size}")
    return torch.tensor(ids[: n_blocks * block_size]).view(n_blocks, block_size)


def document_start_token(tokenizer: PreTrainedTokenizerBase) -> int | None:
    """The token that opens a document and is never a target: BOS, unless BOS is also EOS.

    Where one token does both jobs (GPT-2, SmolLM2), it must stay a target, or the model
    never learns to end a document.
    """
    bos = tokenizer.bos_token_id
    return bos if bos is not None and bos != tokenizer.eos_token_id else None


def language_model_batches(blocks: torch.Tensor, batch_size: int, start_token_id: int | None) -> list[Batch]:
    """Batches whose labels are the inputs themselves, with ``start_token_id`` (see ``document_start_token``) ignored."""
    batches = []
    for start in range(0, len(blocks), batch_size):
        input_ids = blocks[start:start + batch_size]
        labels = input_ids.clone()
        if start_token_id is not None:
            labels[labels == start_token_id] = IGNORE
        batches.append({"input_ids": input_ids, "labels": labels})
    return batches


def document_batches(tokenizer: PreTrainedTokenizerBase, texts: Iterable[str], block_size: int,
                     batch_size: int) -> list[Batch]:
    """The three steps above in one call: documents into labelled batches of ``block_size``-token rows."""
    blocks = pack_documents(tokenizer, texts, block_size)
    return language_model_batches(blocks, batch_size, document_start_token(tokenizer))


def target_pairs(batches: Iterable[Batch]) -> Iterator[tuple[int, int]]:
    """(previous token, target token) for every target of the batches, row by row: the pairs the loss sums over,
    and what a bigram model counts."""
    for batch in batches:
        previous = batch["input_ids"][:, :-1].reshape(-1).tolist()
        targets = batch["labels"][:, 1:].reshape(-1).tolist()
        yield from ((a, t) for a, t in zip(previous, targets) if t != IGNORE)


def tokens_per_second(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, texts: Iterable[str], steps: int,
                      block_size: int = 512, batch_size: int = 8) -> float:
    """Speed of pre-training steps on this machine: up to ``steps`` timed steps on ``texts``, trained on a copy.

    One more step runs first and is not timed: it pays for one-off start-up work.
    """
    batches = document_batches(tokenizer, texts, block_size, batch_size)[:steps + 1]
    if len(batches) < 2:
        raise ValueError(f"tokens_per_second: the texts fill {len(batches)} batch(es); give at least two batches of text")
    run = train(copy.deepcopy(model), batches, TrainConfig(max_steps=len(batches), warmup_steps=1, progress=False))
    timed = run.history[1:]
    return sum(r["tokens"] for r in timed) / sum(r["seconds"] for r in timed)
