"""Loading and building models: the shipped tiny models, local folders and hub ids, one call.

``load_model`` returns a model and its tokenizer on the best device this machine has
(CUDA, then Apple's MPS, then the CPU) in a dtype that device handles well. A hub id is
looked up in the local cache first; without a network it fails within seconds with a
message that says what to do, rather than hanging. A folder that lacks a part, holds a damaged
file, or needs code of its own to load (which is never run) fails with an error that names it.
"""
from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
from safetensors import SafetensorError
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as hf_logging

from course_utils.paths import model_dir
from course_utils.threads import ensure_threads

SHIPPED_MODELS = ("tiny-base", "tiny-instruct")


class ModelNotAvailableError(RuntimeError):
    """A model name that can be neither found locally nor downloaded."""


@dataclass
class TinyConfig:
    """Size of a small Llama-architecture model, as used for ``tiny-base``."""

    vocab_size: int = 2048  # must match the tokenizer: 2,048 tokens keep every name of the world whole
    hidden_size: int = 128  # width of every token's vector
    num_layers: int = 4  # transformer blocks
    num_heads: int = 4  # attention heads per block (head size = hidden / heads)
    intermediate_size: int = 512  # width of each block's MLP
    context_length: int = 512  # longest sequence the model is trained for
    tie_embeddings: bool = True  # the output layer reuses the input embedding matrix


def build_model(tokenizer: PreTrainedTokenizerBase, size: TinyConfig | None = None, seed: int = 0) -> LlamaForCausalLM:
    """A freshly initialised (random) Llama model sized by ``size`` for ``tokenizer``."""
    size = size or TinyConfig(vocab_size=len(tokenizer))
    config = LlamaConfig(
        vocab_size=size.vocab_size,
        hidden_size=size.hidden_size,
        num_hidden_layers=size.num_layers,
        num_attention_heads=size.num_heads,
        num_key_value_heads=size.num_heads,
        intermediate_size=size.intermediate_size,
        max_position_embeddings=size.context_length,
        tie_word_embeddings=size.tie_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def count_parameters(model: torch.nn.Module, trainable_only: bool = False) -> int:
    """Number of distinct parameters (tied weights counted once)."""
    params = {id(p): p for p in model.parameters() if p.requires_grad or not trainable_only}
    return sum(p.numel() for p in params.values())


@contextlib.contextmanager
def eager_attention(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """The model with its attention computed as plain matrix products for a while, then as before.

    The fast fused kernels neither return attention weights nor show their products to PyTorch's
    FLOP counter; the plain ("eager") implementation does both.
    """
    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        yield model
    finally:
        model.set_attn_implementation(previous)


@torch.no_grad()
def attention_weights(model: torch.nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    """The attention weights of the first row of ``input_ids``, as (layers, heads, positions, positions) on the CPU.

    Row i of a head's matrix is how much position i attends to each position j.
    """
    with eager_attention(model):
        attentions = model(input_ids=input_ids, output_attentions=True).attentions  # one (rows, heads, T, T) per layer
    return torch.stack(attentions)[:, 0].float().cpu()


@torch.no_grad()
def weight_change(model: torch.nn.Module, reference: torch.nn.Module) -> float:
    """How far training moved the weights: the norm of (model - reference) over the reference's norm,
    all weights taken as one vector. Both must be the same network."""
    if count_parameters(model) != count_parameters(reference):
        raise ValueError(f"weight_change compares one network with itself: {count_parameters(model):,} parameters "
                         f"against {count_parameters(reference):,}")
    before = torch.cat([p.flatten().float() for p in reference.parameters()])
    after = torch.cat([p.flatten().float() for p in model.parameters()])
    return float((after - before).norm() / before.norm())


def pick_device() -> torch.device:
    """CUDA if present, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(device: torch.device, saved_dtype: torch.dtype | None) -> torch.dtype:
    """Float32 on CPU and MPS; on CUDA the checkpoint's half precision where the GPU supports it.

    Small models keep float32 weights everywhere (mixed precision happens in the training loop);
    a checkpoint saved in bfloat16 (most large hub models) stays bfloat16 on a GPU that has it.
    """
    if device.type != "cuda" or saved_dtype not in (torch.bfloat16, torch.float16):
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32


def resolve(name: str | os.PathLike) -> Path | str:
    """A shipped model's folder, a local folder, or else the name as a hub id."""
    if str(name) in SHIPPED_MODELS:
        folder = model_dir(str(name))
        if not (folder / "config.json").exists():
            raise ModelNotAvailableError(
                f"The shipped model {name!r} is missing from {folder}. Rebuild the assets with "
                "`python -m course_utils.synth.assets` or reinstall the package."
            )
        return folder
    path = Path(name).expanduser()
    if path.exists():
        check_model_folder(path)
        return path
    if _looks_like_a_path(str(name)):
        raise ModelNotAvailableError(f"{path}: no such folder. Give a folder saved with save_pretrained, "
                                     f"a shipped name {list(SHIPPED_MODELS)} or a hub id such as 'org/model'.")
    return str(name)


# What a save_pretrained folder holds besides config.json: its weights and its tokenizer, in any of the
# formats transformers writes or reads.
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "tekken.json")


def check_model_folder(path: Path) -> None:
    """Name what a local model folder lacks before transformers fails on it with a message about
    something else (a folder without tokenizer files reads as "install sentencepiece")."""
    if not path.is_dir():
        raise ModelNotAvailableError(f"{path} is a file; a model is a folder saved with save_pretrained")
    missing = [what for what, names in [("config.json", ("config.json",)), ("weights", WEIGHT_FILES),
                                        ("tokenizer", TOKENIZER_FILES)]
               if not any((path / n).exists() for n in names) and not (what == "tokenizer" and any(path.glob("*.tiktoken")))]
    if missing:
        raise ModelNotAvailableError(
            f"{path} holds no {' and no '.join(missing)}: a model folder is what model.save_pretrained(folder) and "
            f"tokenizer.save_pretrained(folder) write together (weights: one of {list(WEIGHT_FILES)}; "
            f"tokenizer: one of {list(TOKENIZER_FILES)})")


def _looks_like_a_path(name: str) -> bool:
    """A name that can only be a folder, never a hub id ('org/model'): absolute, relative with dots or ~,
    or with more than one slash."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name


def load_model(
    name: str | os.PathLike = "tiny-base",
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> tuple[torch.nn.Module, PreTrainedTokenizerBase]:
    """Load ``(model, tokenizer)`` for a shipped name, a local folder or a hub id.

    The model is on ``device`` (default: the best available) in ``dtype`` (default: see
    ``pick_dtype``) and in eval mode. Loading a hub id needs a network or a cached copy.
    """
    ensure_threads()
    source = resolve(name)
    if isinstance(source, str):
        _check_hub_reachable(source)
    device = torch.device(device) if device is not None else pick_device()
    with _named_failures(source):
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
        if dtype is None:
            saved = getattr(AutoConfig.from_pretrained(source, trust_remote_code=False), "dtype", None)
            dtype = pick_dtype(device, saved if isinstance(saved, torch.dtype) else None)
        with no_progress_bars():
            model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, trust_remote_code=False).to(device)
    prepare_for_chat(tokenizer, str(name))
    model.eval()
    return model, tokenizer


@contextlib.contextmanager
def _named_failures(source: Path | str) -> Iterator[None]:
    """transformers' and safetensors' errors on a model that cannot be used, as one clear error naming it.

    ``trust_remote_code=False`` is passed on every load: a folder or hub repository may ship Python
    code (``auto_map`` in its config) that transformers would otherwise offer to run, asking [y/N]
    on a terminal. course_utils loads only architectures that transformers itself implements.
    """
    try:
        yield
    except ValueError as err:
        if "trust_remote_code" not in str(err):
            raise
        raise ModelNotAvailableError(
            f"{source} needs its own Python code to load (its config names it under 'auto_map'). course_utils never "
            f"runs code that comes with a model: choose a model whose architecture transformers implements.") from None
    except (SafetensorError, OSError) as err:
        if not isinstance(source, Path):
            raise  # a hub id: transformers' own message says what was not found
        raise ModelNotAvailableError(
            f"{source}: its files cannot be read ({type(err).__name__}: {err}). A file cut short by an interrupted "
            f"copy or download reads like this: save or download the model again.") from None


@contextlib.contextmanager
def no_progress_bars() -> Iterator[None]:
    """transformers' own progress bars off for a while: a "Loading weights" bar on every load is noise
    in a notebook that loads a small model many times. Bars that were off stay off."""
    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


# Turns of the form <|role|>, a newline, the content, then EOS: the simplest template that SFT and
# generation agree on, since generation stops at the token that ends every trained answer.
PLAIN_CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}{{ eos_token }}{% endfor %}"
                       "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")


def turns_end_with_eos(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether the tokenizer's chat template closes an answer with EOS, the token generation stops at."""
    if tokenizer.chat_template is None or tokenizer.eos_token is None:
        return False
    answer = "Qx7 answer"
    text = tokenizer.apply_chat_template([{"role": "user", "content": "a question"},
                                          {"role": "assistant", "content": answer}], tokenize=False)
    return text[text.rindex(answer) + len(answer):].lstrip().startswith(tokenizer.eos_token)


def prepare_for_chat(tokenizer: PreTrainedTokenizerBase, name: str = "the model") -> PreTrainedTokenizerBase:
    """Ready any tokenizer for SFT the same way: a pad token, and turns that end with EOS.

    Many hub tokenizers have no pad token (EOS stands in: padding is masked anyway) and no chat
    template, or one whose turns end with a token other than EOS, so that a fine-tuned model
    would not stop. Those get ``PLAIN_CHAT_TEMPLATE``, and one line says so.
    """
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not turns_end_with_eos(tokenizer):
        tokenizer.chat_template = PLAIN_CHAT_TEMPLATE
        print(f"course_utils: {name} has no chat template whose turns end with {tokenizer.eos_token!r}; "
              f"using the plain one (<|role|>, the text, {tokenizer.eos_token!r})")
    return tokenizer


def _check_hub_reachable(repo_id: str, timeout: float = 3.0) -> None:
    """Fail fast, with advice, when a hub id is neither cached nor downloadable."""
    from huggingface_hub import constants, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(repo_id, "config.json"), str):
        return  # a cached copy exists; transformers will use it
    advice = (
        f"Use a shipped model instead (load_model('tiny-base') or load_model('tiny-instruct')), "
        f"a local folder saved with save_pretrained, or connect to the internet and try {repo_id!r} again."
    )
    if constants.HF_HUB_OFFLINE:
        raise ModelNotAvailableError(f"{repo_id!r} is not in the local cache and HF_HUB_OFFLINE is set. {advice}")
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError as err:
        raise ModelNotAvailableError(
            f"Cannot download {repo_id!r}: {host} is unreachable ({err.__class__.__name__}: {err}). {advice}"
        ) from None


def add_lora(model: torch.nn.Module, r: int = 8, alpha: int | None = None, dropout: float = 0.0,
             target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
             ) -> torch.nn.Module:
    """Wrap ``model`` with LoRA adapters of rank ``r``: only the adapters are trained.

    Each targeted weight W gets a low-rank update (alpha / r) * B @ A, with A and B small, so
    far fewer parameters need gradients and optimizer state than in full fine-tuning.
    """
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=r, lora_alpha=alpha or 2 * r, lora_dropout=dropout,
                        target_modules=list(target_modules), task_type="CAUSAL_LM")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # peft reads a deprecated transformers name: a notice for peft
        return get_peft_model(model, config)


def saved_bytes(model: torch.nn.Module) -> int:
    """Bytes on disk of ``model.save_pretrained``: all the weights, or only the adapters of a peft model."""
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())
