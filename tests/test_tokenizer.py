"""The shipped tokenizer: loads with AutoTokenizer, round-trips text, renders the chat template."""
from __future__ import annotations

from course_utils.tokenizer import train_tokenizer

TEXTS = [
    "Ticket 48213 was opened by Mira Holm on 3 March.",
    "Ünïcödé, emoji 🙂 and tabs\tsurvive byte-level BPE.",
    "Term: 24 months; liability cap: 250,000 crowns; governing law: Valdria.",
]


def test_round_trip(tokenizer):
    for text in TEXTS:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == text


def test_special_tokens(tokenizer):
    assert len(tokenizer) == 2048
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == ("<s>", "</s>", "<pad>")
    assert len({tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id}) == 3
    ids = tokenizer("Hello")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.bos_token_id) == 1


def test_chat_template_renders_turns_and_generation_prompt(tokenizer):
    messages = [{"role": "user", "content": "Summarise this."}, {"role": "assistant", "content": "Done."}]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    assert text == "<s><|user|>\nSummarise this.</s><|assistant|>\nDone.</s>"
    prompt = tokenizer.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    assert prompt == "<s><|user|>\nSummarise this.</s><|assistant|>\n"


def test_chat_template_marks_assistant_tokens(tokenizer):
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there."}]
    out = tokenizer.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True)
    marked = [t for t, m in zip(out["input_ids"], out["assistant_masks"]) if m]
    assert tokenizer.decode(marked) == "Hello there.</s>"


def test_training_is_deterministic():
    texts = ["the kettle stops working", "the router keeps losing its connection"] * 50
    a = train_tokenizer(texts, vocab_size=300)
    b = train_tokenizer(texts, vocab_size=300)
    assert a.get_vocab() == b.get_vocab()


def test_bpe_model_lists_the_merges_as_pairs_in_the_order_learned():
    from course_utils.tokenizer import bpe_model

    model = bpe_model(train_tokenizer(["aaab aaab aaab"] * 20, vocab_size=270))
    assert model["type"] == "BPE" and all(isinstance(m, tuple) and len(m) == 2 for m in model["merges"])
    assert model["merges"][0] == ("a", "a"), "the most frequent pair is merged first"


def test_pre_tokenize_keeps_the_leading_space_of_each_word(tokenizer):
    from course_utils.tokenizer import pre_tokenize

    assert pre_tokenize(tokenizer, "The kettle broke.") == ["The", "Ġkettle", "Ġbroke", "."]


def test_compare_tokenizers_counts_tokens_in_all_and_per_word(tokenizer):
    from course_utils.tokenizer import compare_tokenizers

    texts = ["The kettle broke.", "Ticket 40213 was opened."]
    tokens = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
    table = compare_tokenizers({"shipped": tokenizer}, texts)
    assert table.loc["shipped"].to_dict() == {"vocabulary": len(tokenizer), "tokens": tokens, "tokens per word": tokens / 7}


def test_frequent_words_are_runs_of_letters_most_frequent_first():
    from course_utils.tokenizer import frequent_words

    assert frequent_words(["the lamp the", "lamp, the 3 lamps"], 2) == ["the", "lamp"]
