"""Generating text from a model: prompts in, completions out.

``complete`` is the batched greedy generation that evaluation uses. Prompts are padded on
the left, so every row's last prompt token sits at the same position and generation can
continue all rows at once; each row stops at its end-of-sequence token.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedTokenizerBase


def chat_prompt(tokenizer: PreTrainedTokenizerBase, user_text: str) -> str:
    """The text a chat model sees before it answers: the user's turn, then the assistant's header."""
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": user_text}], add_generation_prompt=True, tokenize=False
    )


@torch.no_grad()
def complete(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    max_new_tokens: int = 64,
    batch_size: int = 32,
) -> list[dict]:
    """Greedy completions of ``prompts`` (already rendered text), with whether each stopped at EOS.

    Returns one ``{"text", "stopped_at_eos", "new_tokens"}`` per prompt, in order.
    """
    device = next(model.parameters()).device
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    results = []
    try:
        for start in range(0, len(prompts), batch_size):
            chunk = list(prompts[start:start + batch_size])
            # A rendered chat prompt already begins with BOS; don't add a second one.
            enc = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=not _has_bos(tokenizer, chunk))
            enc = {k: v.to(device) for k, v in enc.items()}
            out = model.generate(
                **enc, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eos, pad_token_id=pad,
            )
            for row in out[:, enc["input_ids"].shape[1]:].tolist():
                stopped = eos in row
                new = row[: row.index(eos)] if stopped else row
                results.append({
                    "text": tokenizer.decode(new, skip_special_tokens=True).strip(),
                    "stopped_at_eos": stopped,
                    "new_tokens": len(new) + int(stopped),
                })
    finally:
        tokenizer.padding_side = side
    return results


def _has_bos(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]) -> bool:
    bos = tokenizer.bos_token
    return bos is not None and all(t.startswith(bos) for t in texts)
