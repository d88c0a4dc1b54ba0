"""Loading models: shipped names, local save_pretrained folders, and hub ids that cannot be reached."""
from __future__ import annotations

import copy
import json
import time

import pytest
import torch
from huggingface_hub import constants

from course_utils.models import (
    PLAIN_CHAT_TEMPLATE,
    ModelNotAvailableError,
    count_parameters,
    load_model,
    pick_dtype,
    turns_end_with_eos,
)


def test_tiny_base_loads_and_continues_a_document(tiny_base):
    model, tokenizer = tiny_base
    assert model.config.model_type == "llama" and not model.training
    assert 0.5e6 < count_parameters(model) < 3e6
    ids = tokenizer("Ticket 51234 was opened by", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=20, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    continuation = tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert len(continuation.split()) >= 5


def test_local_folder_saved_with_save_pretrained(tmp_path, small_model, tokenizer):
    small_model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    model, tok = load_model(tmp_path, device="cpu")
    assert tok.get_vocab() == tokenizer.get_vocab()
    for name, tensor in small_model.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name


@pytest.mark.parametrize("template", [None, "{% for m in messages %}{{ m['content'] }}<|end|>{% endfor %}"])
def test_a_tokenizer_whose_turns_do_not_end_with_eos_gets_the_plain_template(tmp_path, small_model, tokenizer,
                                                                              template, capsys):
    hub_like = copy.deepcopy(tokenizer)
    hub_like.chat_template = template  # none at all, or turns that end with another token
    small_model.save_pretrained(tmp_path)
    hub_like.save_pretrained(tmp_path)
    _, loaded = load_model(tmp_path, device="cpu")
    assert loaded.chat_template == PLAIN_CHAT_TEMPLATE and turns_end_with_eos(loaded)
    assert "using the plain one" in capsys.readouterr().out


def test_a_template_whose_turns_end_with_eos_is_kept(tiny_base, tokenizer, capsys):
    _, loaded = load_model("tiny-base", device="cpu")
    assert loaded.chat_template == tokenizer.chat_template and turns_end_with_eos(loaded)
    assert "plain" not in capsys.readouterr().out


def test_folder_without_config_is_named(tmp_path):
    with pytest.raises(ModelNotAvailableError, match="no config.json"):
        load_model(tmp_path)


def test_a_missing_folder_is_named_not_taken_for_a_hub_id(tmp_path):
    with pytest.raises(ModelNotAvailableError, match="no/such/folder: no such folder"):
        load_model(tmp_path / "no" / "such" / "folder")


@pytest.fixture
def saved_folder(tmp_path, small_model, tokenizer):
    small_model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    return tmp_path


def test_a_folder_with_only_a_config_names_what_it_lacks(saved_folder):
    for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        (saved_folder / name).unlink(missing_ok=True)
    with pytest.raises(ModelNotAvailableError, match="holds no weights and no tokenizer") as err:
        load_model(saved_folder)
    assert "sentencepiece" not in str(err.value)


@pytest.mark.parametrize("damage", ["cut short", "overwritten"])
def test_damaged_weights_name_the_folder(saved_folder, damage):
    weights = saved_folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if damage == "cut short" else b"\x00" * 100)
    with pytest.raises(ModelNotAvailableError, match=rf"{saved_folder}: its files cannot be read.*save or download"):
        load_model(saved_folder, device="cpu")


def test_code_shipped_with_a_model_is_never_run_nor_offered(saved_folder, monkeypatch):
    """A folder whose config points at its own module: transformers would ask [y/N] and, on y, run it."""
    marker = saved_folder / "code-ran"
    (saved_folder / "own_model.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    config = json.loads((saved_folder / "config.json").read_text())
    config.update(model_type="own", auto_map={"AutoConfig": "own_model.OwnConfig",
                                              "AutoModelForCausalLM": "own_model.OwnModel"})
    (saved_folder / "config.json").write_text(json.dumps(config))
    asked = []
    monkeypatch.setattr("builtins.input", lambda prompt="": asked.append(prompt) or "y")
    with pytest.raises(ModelNotAvailableError, match="needs its own Python code.*never runs code"):
        load_model(saved_folder, device="cpu")
    assert asked == [] and not marker.exists()


def test_offline_hub_id_fails_fast_with_advice(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    started = time.perf_counter()
    with pytest.raises(ModelNotAvailableError, match="tiny-base") as err:
        load_model("some-org/some-model-that-is-not-cached")
    assert time.perf_counter() - started < 5
    assert "HF_HUB_OFFLINE" in str(err.value)


def test_unreachable_hub_fails_fast_with_advice(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "https://127.0.0.1:9")  # nothing listens there
    started = time.perf_counter()
    with pytest.raises(ModelNotAvailableError, match="unreachable.*tiny-base"):
        load_model("some-org/some-model-that-is-not-cached")
    assert time.perf_counter() - started < 5


def test_dtype_choice():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert pick_dtype(cpu, torch.bfloat16) == torch.float32
    assert pick_dtype(cpu, None) == torch.float32
    if torch.cuda.is_available():
        expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        assert pick_dtype(cuda, torch.bfloat16) == expected
    assert pick_dtype(cuda, torch.float32) == torch.float32


def test_tiny_instruct_follows_instructions_where_tiny_base_does_not(tiny_base):
    from course_utils.evaluate import evaluate_model
    from course_utils.shipped import load_instructions

    rows = load_instructions("test", tasks=["ticket_summary", "urgency"])[::20]
    instruct, tokenizer = load_model("tiny-instruct", device="cpu")
    # Following means a correct answer: the base model often stops after one garbled line, which
    # has the one-sentence form of a summary without any of its facts.
    tuned = evaluate_model(instruct, tokenizer, rows).answers["correct"].mean()
    base = evaluate_model(*tiny_base, rows).answers["correct"].mean()
    assert tuned >= 0.8 and base <= 0.05


def test_saved_bytes_of_a_lora_model_are_its_adapters(small_model):
    import warnings

    from course_utils.models import add_lora, saved_bytes

    full = saved_bytes(small_model)
    assert full >= 4 * count_parameters(small_model), "every float32 weight is on disk"
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # add_lora keeps peft's deprecation notices to itself
        lora = add_lora(copy.deepcopy(small_model), r=2)
    assert 4 * count_parameters(lora, trainable_only=True) <= saved_bytes(lora) < full / 3


def test_weight_change_is_the_relative_norm_of_the_difference(small_model, tokenizer):
    from course_utils.models import build_model, weight_change

    moved = copy.deepcopy(small_model)
    assert weight_change(moved, small_model) == 0.0
    with torch.no_grad():
        for p in moved.parameters():
            p.mul_(1.1)
    assert weight_change(moved, small_model) == pytest.approx(0.1, rel=1e-4)
    with pytest.raises(ValueError, match="one network with itself"):
        weight_change(build_model(tokenizer), small_model)


def test_attention_weights_are_causal_and_the_attention_implementation_comes_back(small_model, tokenizer):
    from course_utils.models import attention_weights, eager_attention

    small_model.set_attn_implementation("sdpa")
    ids = tokenizer("The kettle broke again today.", return_tensors="pt")["input_ids"]
    weights = attention_weights(small_model, ids)
    n = ids.shape[1]
    assert weights.shape == (2, 2, n, n) and torch.allclose(weights.sum(dim=-1), torch.ones(2, 2, n))
    assert (torch.triu(weights, diagonal=1) == 0).all(), "no position attends to a later one"
    assert small_model.config._attn_implementation == "sdpa"
    with pytest.raises(KeyError):
        with eager_attention(small_model):
            assert small_model.config._attn_implementation == "eager"
            raise KeyError("an error inside the block")
    assert small_model.config._attn_implementation == "sdpa"
