"""The workbook's tokenizer: byte-level BPE trained on the project's own corpus.

Byte-level BPE starts from the 256 byte values, so any text can be encoded, and then
learns merges of frequent neighbours until the vocabulary is full. The result is saved as
a ``transformers`` fast tokenizer with BOS/EOS/PAD tokens and a chat template, so
``AutoTokenizer.from_pretrained`` loads it like any hub tokenizer.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

BOS, EOS, PAD = "<s>", "</s>", "<pad>"
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]

# Each turn is "<|role|>\n" + content + EOS. The assistant's content and its EOS sit inside
# {% generation %} so that transformers can return the mask of assistant tokens.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + eos_token }}{% endgeneration %}"
    "{% else %}"
    "{{ message['content'] + eos_token }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2048, context_length: int = 512) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE of ``vocab_size`` tokens on ``texts`` and wrap it for transformers."""
    specials = [BOS, EOS, PAD, *ROLE_TOKENS]
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    # Like most hub models, encoding with special tokens puts BOS in front (and no EOS).
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, core.token_to_id(BOS))],
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=ROLE_TOKENS,
        model_max_length=context_length,
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def bpe_model(tokenizer: PreTrainedTokenizerBase) -> dict:
    """The model part of a fast tokenizer's ``tokenizer.json``: its ``type``, ``vocab`` and learned ``merges``.

    The merges come as (left, right) pairs in the order they were learned, whether the file stores
    them as pairs (newer files) or as "left right" strings (older ones).
    """
    model = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    model["merges"] = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model.get("merges", [])]
    return model


def frequent_words(texts: Iterable[str], n: int) -> list[str]:
    """The ``n`` most frequent words (runs of letters) of ``texts``, most frequent first: the words that a
    BPE trained on these texts is the most likely to keep whole."""
    counts = Counter(word for text in texts for word in re.findall(r"[A-Za-z]+", text))
    return [word for word, _ in counts.most_common(n)]


def pre_tokenize(tokenizer: PreTrainedTokenizerBase, text: str) -> list[str]:
    """The words a fast tokenizer cuts ``text`` into before any merge (its pre-tokenisation), each with
    its leading space, written as the tokenizer stores them (a byte-level BPE writes a space as "Ġ")."""
    return [word for word, _ in tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str(text)]


def compare_tokenizers(tokenizers: Mapping[str, PreTrainedTokenizerBase], texts: Sequence[str]) -> pd.DataFrame:
    """How many tokens each tokenizer needs for ``texts`` (without special tokens), in all and per
    whitespace-separated word, beside its vocabulary size: one row per tokenizer."""
    words = sum(len(t.split()) for t in texts)
    rows = {}
    for name, tok in tokenizers.items():
        tokens = sum(len(ids) for ids in tok(list(texts), add_special_tokens=False)["input_ids"])
        rows[name] = {"vocabulary": len(tok), "tokens": tokens, "tokens per word": tokens / words}
    return pd.DataFrame.from_dict(rows, orient="index")
