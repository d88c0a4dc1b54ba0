"""Stand-in hub models: a cache that loads by hub id offline, with SmolLM2's tokenizer conventions, through
SFT data preparation, LoRA and DPO.

Loads go through ``huggingface_hub.constants``, whose ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` are read
from the environment once, when the library is imported; every reader (``try_to_load_from_cache``,
transformers' ``cached_file``, ``is_offline_mode``) looks them up on that module at call time. So the
tests set those two attributes (and the environment variables, for anything started from here):
setting only the environment after the import would change nothing.
"""
from __future__ import annotations

import copy
import json
import math
from dataclasses import replace

import pytest
import torch
from huggingface_hub import constants, try_to_load_from_cache
from transformers import AutoTokenizer, LlamaForCausalLM

from course_utils import generate, preference, sft
from course_utils.finetune import fine_tune
from course_utils.instructor import standins
from course_utils.models import add_lora, count_parameters, load_model, turns_end_with_eos
from course_utils.presets import TICKET_SFT
from course_utils.shipped import load_instructions, load_preference_pairs

SMALL = "HuggingFaceTB/SmolLM2-135M"
LARGE = "HuggingFaceTB/SmolLM2-360M"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A hub cache holding every stand-in, built once, and made the hub's cache (offline) for the module."""
    folder = tmp_path_factory.mktemp("hub")
    assert standins.build(folder) == list(standins.HUB_MODELS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(constants, "HF_HUB_CACHE", str(folder))
        patch.setattr(constants, "HF_HUB_OFFLINE", True)
        patch.setenv("HF_HUB_CACHE", str(folder))
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield folder


@pytest.fixture(scope="module")
def small(cache):
    """The SmolLM2-135M stand-in as the notebooks get it: ``load_model`` by hub id."""
    return load_model(SMALL, device="cpu")


def fresh(cache, hub_id: str = SMALL):
    """A new copy of a stand-in, for a test that trains it."""
    return load_model(hub_id, device="cpu")


# -- which models need a stand-in ---------------------------------------------------------------------
def test_every_hub_id_the_notebooks_name_has_a_stand_in():
    named = standins.notebook_hub_ids()
    assert {SMALL, LARGE} <= named
    assert named <= set(standins.HUB_MODELS)


def test_hub_ids_are_read_from_pick_calls_in_code_cells(tmp_path):
    code = ('%pip install course-utils\n'
            'NAME = settings.pick(cpu="tiny-base", t4="org/model-a",\n'
            '                     gpu="org/model-b")  # a second line\n'
            'PATH = "data/sft"  # a slash, but not in a pick call\n')
    cells = [{"cell_type": "code", "source": [code]},
             {"cell_type": "markdown", "source": ['settings.pick(t4="org/in-prose")']},
             {"cell_type": "code", "source": ["def answer(:\n    pick(t4='org/broken')"]}]
    (tmp_path / "nb.ipynb").write_text(json.dumps({"cells": cells}))
    assert standins.notebook_hub_ids(tmp_path) == {"org/model-a", "org/model-b"}


# -- the cache --------------------------------------------------------------------------------------
def test_the_cache_has_the_hub_layout(cache):
    for hub_id in standins.HUB_MODELS:
        commit = standins.commit_of(hub_id, full_size=False)
        repo = standins.repo_folder(cache, hub_id)
        assert (repo / "refs" / "main").read_text() == commit
        found = try_to_load_from_cache(hub_id, "config.json", cache_dir=cache)
        assert found == str(repo / "snapshots" / commit / "config.json")


def test_a_build_prints_nothing_and_a_second_build_reuses_the_first(tmp_path, capfd):
    standins.family_tokenizer.cache_clear()  # the whole build, tokenizer training included
    assert standins.build(tmp_path) == list(standins.HUB_MODELS)
    weights = standins.repo_folder(tmp_path, SMALL) / "snapshots" / standins.commit_of(SMALL, False) / "model.safetensors"
    written_at = weights.stat().st_mtime_ns
    assert standins.build(tmp_path) == []
    assert weights.stat().st_mtime_ns == written_at
    assert capfd.readouterr() == ("", "")


def test_another_shape_is_another_commit_and_main_follows_it(tmp_path):
    standins.build(tmp_path)
    (standins.repo_folder(tmp_path, SMALL) / "refs" / "main").write_text("0" * 40)  # as a full-size build would
    assert standins.build(tmp_path) == [SMALL]
    assert standins.commit_of(SMALL, full_size=True) != standins.commit_of(SMALL, full_size=False)


# -- loading by hub id, and SmolLM2's conventions ---------------------------------------------------------
def test_loads_by_hub_id_offline_as_a_smollm2_shaped_llama(small):
    model, tokenizer = small
    assert isinstance(model, LlamaForCausalLM)
    assert (model.config.num_attention_heads, model.config.num_key_value_heads, model.config.num_hidden_layers) == (9, 3, 2)
    assert model.lm_head.weight is model.model.embed_tokens.weight  # tied, as in SmolLM2
    assert model.config.vocab_size == len(tokenizer) == 49_152
    assert tokenizer.bos_token == tokenizer.eos_token == "<|endoftext|>"
    assert tokenizer.convert_ids_to_tokens([0, 1, 2]) == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    assert tokenizer.pad_token == tokenizer.eos_token  # set by prepare_for_chat: the stand-in has none
    assert tokenizer("Hi there")["input_ids"][0] != tokenizer.bos_token_id  # no BOS added, as in SmolLM2


def test_the_larger_stand_in_has_its_own_heads(cache):
    model, tokenizer = load_model(LARGE, device="cpu")
    assert (model.config.num_attention_heads, model.config.num_key_value_heads) == (15, 5)
    assert len(tokenizer) == 49_152


def test_the_saved_tokenizer_has_smollm2s_chatml_and_no_pad(cache):
    raw = AutoTokenizer.from_pretrained(SMALL)
    assert raw.pad_token is None
    text = raw.apply_chat_template([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
                                   tokenize=False)
    assert text == ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
                    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n")
    assert not turns_end_with_eos(raw)  # a turn ends with <|im_end|>, not EOS: why load_model swaps the template


# -- SFT data preparation: every answer ends where generation stops ----------------------------------------
def answer_spans(labels: list[int]) -> list[list[int]]:
    """The runs of target tokens of an example: one per assistant turn."""
    spans, current = [], []
    for label in [*labels, sft.IGNORE]:
        if label != sft.IGNORE:
            current.append(label)
        elif current:
            spans.append(current)
            current = []
    return spans


def test_every_assistant_turn_ends_in_the_token_generation_stops_at(small):
    _, tokenizer = small
    rows = [*load_instructions("train")[:3],
            {"messages": [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."},
                          {"role": "user", "content": "Another?"}, {"role": "assistant", "content": "Green."}]}]
    examples, report = sft.prepare(tokenizer, rows, max_length=None, verbose=False)
    assert report.kept == 4
    spans = [answer_spans(e.labels) for e in examples]
    assert [len(s) for s in spans] == [1, 1, 1, 2]
    assert all(span[-1] == tokenizer.eos_token_id == 0 for s in spans for span in s)


def test_generation_runs_on_the_stand_in(small):
    model, tokenizer = small
    out = generate.complete(model, tokenizer, [generate.chat_prompt(tokenizer, "Summarise the ticket.")], max_new_tokens=3)
    assert out[0]["new_tokens"] <= 3


# -- LoRA and DPO on the SmolLM2-shaped stand-in -------------------------------------------------------------
def test_lora_fine_tuning_moves_only_the_adapters(cache):
    model, tokenizer = fresh(cache)
    model = add_lora(model)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    rows = load_instructions("train", tasks=["ticket_summary"])[:4]
    result = fine_tune(model, tokenizer, rows, replace(TICKET_SFT, max_length=256), 2, copy=False, batch_size=2)
    assert result.state.step == 2
    moved = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert moved and all("lora_" in name for name in moved)
    assert any("lora_B" in name for name in moved)  # B starts at zero: the update has begun


def test_a_dpo_step_starts_at_log_2_and_has_a_gradient(cache):
    policy, tokenizer = fresh(cache)
    reference = copy.deepcopy(policy).eval()
    batch = preference.pair_batch(tokenizer, load_preference_pairs()[:2])
    out = preference.batch_dpo_loss(policy, reference, batch)
    assert out.loss.item() == pytest.approx(math.log(2), abs=1e-4)  # the policy is the reference
    out.loss.backward()
    grads = [p.grad for p in policy.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_trl_dpo_trainer_runs_a_step(cache):
    from course_utils.trl_runs import dpo_trainer

    policy, tokenizer = fresh(cache)
    trainer = dpo_trainer(policy, copy.deepcopy(policy).eval(), tokenizer, load_preference_pairs()[:2], max_steps=1,
                          per_device_train_batch_size=2, max_length=256)
    output = trainer.train()
    assert trainer.state.global_step == 1 and math.isfinite(output.training_loss)


# -- full size, without allocating it --------------------------------------------------------------------------
@pytest.mark.parametrize(("hub_id", "parameters", "shape"), [
    (SMALL, 134_515_008, (576, 1536, 30, 9, 3)),  # what the real configs' shapes give, tied embeddings counted once
    (LARGE, 361_821_120, (960, 2560, 32, 15, 5)),
])
def test_full_size_has_the_real_shape_and_parameter_count(hub_id, parameters, shape):
    config = standins.model_config(hub_id, full_size=True)
    assert (config.hidden_size, config.intermediate_size, config.num_hidden_layers, config.num_attention_heads,
            config.num_key_value_heads) == shape
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    model.tie_weights()  # transformers 5.0 ties the output layer to the embedding only when a model is loaded
    assert count_parameters(model) == parameters
    assert (config.bos_token_id, config.eos_token_id, config.pad_token_id) == (0, 0, None)
