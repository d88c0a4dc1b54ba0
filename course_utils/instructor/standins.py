"""Stand-ins for the hub models the notebooks name: random weights, the real shapes and conventions.

The ``t4`` and ``gpu`` sizes load hub models (``HuggingFaceTB/SmolLM2-135M``, ``-360M``), but CI
has no network and no GPU, so those sizes never run in the repository's own checks. A stand-in
is a model saved under the hub id in a local Hugging Face cache: the same architecture family
(Llama, tied embeddings, grouped-query attention), a tokenizer with the real one's conventions
(its special tokens at the real ids, BOS = EOS, no pad token, its chat template) and vocabulary
size, and random weights. With ``HF_HUB_CACHE`` pointing at the cache and ``HF_HUB_OFFLINE=1``,
``load_model("HuggingFaceTB/SmolLM2-135M")`` loads it as it would the real one, so every code path
of those sizes runs on a CPU. Its answers are random: claims about what a model learns fail.

By default a stand-in has two layers and a small width (a CPU trains it in seconds); with
``full_size=True`` it has the real model's shape and parameter count, for a check on a GPU.
``python -m course_utils.instructor.standins CACHE [--full-size]`` builds the cache.
"""
from __future__ import annotations

import argparse
import ast
import functools
import hashlib
import json
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from course_utils.instructor import find_notebooks
from course_utils.models import no_progress_bars
from course_utils.shipped import load_corpus

RECIPE = "1"  # change it when the way stand-ins are made changes: the caches' commits change with it
CORPUS_DOCS = 4000  # corpus documents the tokenizer learns from: its words repeat, and more add few merges


@dataclass(frozen=True)
class Shape:
    """The shape of a Llama-architecture model (the fields of its config.json that set its size)."""

    hidden_size: int  # width of every token's vector
    intermediate_size: int  # width of each block's MLP
    num_layers: int
    num_heads: int  # query heads per block
    num_kv_heads: int  # key/value heads, each shared by num_heads / num_kv_heads query heads

    def shrunk(self) -> Shape:
        """Two layers, every head of the real model kept but 8 wide: attention is grouped as in the real
        model, and a CPU trains it in seconds."""
        hidden = 8 * self.num_heads
        return replace(self, hidden_size=hidden, intermediate_size=3 * hidden, num_layers=2)


@dataclass(frozen=True)
class StandIn:
    """What a stand-in copies of a hub model: its shape, its tokenizer's family and its config's constants."""

    family: str  # a key of FAMILIES: the tokenizer conventions, one trained tokenizer for all its models
    shape: Shape  # the real model's
    max_positions: int
    rope_theta: float
    initializer_range: float  # spread of the random weights, as the real config gives it


# From each model's config.json on the hub (HuggingFaceTB/SmolLM2-135M and -360M): LlamaForCausalLM,
# tied embeddings, 49,152 tokens, bos_token_id = eos_token_id = 0, no pad_token_id, bfloat16 weights.
HUB_MODELS: dict[str, StandIn] = {
    "HuggingFaceTB/SmolLM2-135M": StandIn("smollm2", Shape(576, 1536, 30, 9, 3), 8192, 100_000.0, 0.041666666666666664),
    "HuggingFaceTB/SmolLM2-360M": StandIn("smollm2", Shape(960, 2560, 32, 15, 5), 8192, 100_000.0, 0.02),
}

# -- the SmolLM2 tokenizer's conventions -------------------------------------------------------------
SMOLLM2_VOCAB_SIZE = 49_152
# Its 17 special tokens, at ids 0 to 16: the first ends every document and serves as BOS and EOS;
# the next two open and close a ChatML turn; the rest mark code data (StarCoder's).
SMOLLM2_SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<repo_name>", "<reponame>", "<file_sep>", "<filename>",
    "<gh_stars>", "<issue_start>", "<issue_comment>", "<issue_closed>", "<jupyter_start>", "<jupyter_text>",
    "<jupyter_code>", "<jupyter_output>", "<jupyter_script>", "<empty_output>",
]
SMOLLM2_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
# ChatML, as SmolLM2's tokenizer_config.json has it: a default system turn when the chat has none, and
# every turn closed by <|im_end|>, which is not EOS (so course_utils.models.prepare_for_chat replaces it).
SMOLLM2_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\\n" + SMOLLM2_SYSTEM + "<|im_end|>\\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def smollm2_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE with SmolLM2's conventions and its 49,152 entries, learned from the shipped corpus.

    As SmolLM2's, it splits digits one by one, adds no BOS when encoding, and has no pad token.
    The corpus holds far fewer distinct words than the vocabulary has entries, so the merges it
    supports come first and the rest are made up (each learned token followed by one more
    character): rare tokens, as the tail of any large vocabulary is.
    """
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                  pre_tokenizers.ByteLevel(add_prefix_space=False)])
    core.decoder = decoders.ByteLevel()
    core.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=SMOLLM2_VOCAB_SIZE, special_tokens=SMOLLM2_SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    core.train_from_iterator((doc["text"] for doc in load_corpus()[:CORPUS_DOCS]), trainer=trainer)
    core = _filled(core, SMOLLM2_VOCAB_SIZE)
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>",
        additional_special_tokens=SMOLLM2_SPECIALS[1:], model_max_length=8192, clean_up_tokenization_spaces=False,
        chat_template=SMOLLM2_CHAT_TEMPLATE,
    )


def _filled(core: Tokenizer, size: int) -> Tokenizer:
    """``core`` with merges appended until its vocabulary has ``size`` entries: each learned token followed
    by one character of the byte alphabet, in the order the tokens were learned."""
    spec = json.loads(core.to_str())
    vocab, merges = spec["model"]["vocab"], spec["model"]["merges"]
    learned = [a + b for a, b in merges]
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    candidates = ((token, char) for token in learned for char in alphabet)
    while len(vocab) < size:
        token, char = next(candidates)
        if token + char not in vocab:
            vocab[token + char] = len(vocab)
            merges.append([token, char])
    return Tokenizer.from_str(json.dumps(spec))


FAMILIES = {"smollm2": smollm2_tokenizer}


@functools.cache
def family_tokenizer(family: str) -> PreTrainedTokenizerFast:
    """The stand-in tokenizer of a family, trained once per process and shared by its models."""
    return FAMILIES[family]()


# -- models ------------------------------------------------------------------------------------------
def model_config(hub_id: str, full_size: bool = False) -> LlamaConfig:
    """The config of ``hub_id``'s stand-in: the real shape with ``full_size``, else two layers and a small width."""
    stand_in = HUB_MODELS[hub_id]
    shape = stand_in.shape if full_size else stand_in.shape.shrunk()
    tokenizer = family_tokenizer(stand_in.family)
    return LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=shape.hidden_size, intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_layers, num_attention_heads=shape.num_heads,
        num_key_value_heads=shape.num_kv_heads, head_dim=shape.hidden_size // shape.num_heads,
        max_position_embeddings=stand_in.max_positions, rope_theta=stand_in.rope_theta,
        initializer_range=stand_in.initializer_range, rms_norm_eps=1e-5, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=None,
        architectures=["LlamaForCausalLM"], dtype="bfloat16",
    )


# -- the hub cache -----------------------------------------------------------------------------------
def commit_of(hub_id: str, full_size: bool) -> str:
    """A commit hash that names what the stand-in is made of: another shape or recipe, another snapshot."""
    what = json.dumps([RECIPE, hub_id, full_size, asdict(HUB_MODELS[hub_id])], sort_keys=True)
    return hashlib.sha1(what.encode()).hexdigest()


def repo_folder(cache: Path, hub_id: str) -> Path:
    """Where the hub cache keeps a model: ``models--ORG--NAME``."""
    return Path(cache) / f"models--{hub_id.replace('/', '--')}"


def is_built(cache: Path, hub_id: str, full_size: bool = False) -> bool:
    """Whether ``cache`` serves this stand-in: its main ref names the stand-in's commit, whose snapshot is whole."""
    repo, commit = repo_folder(cache, hub_id), commit_of(hub_id, full_size)
    ref = repo / "refs" / "main"
    snapshot = repo / "snapshots" / commit
    return (ref.is_file() and ref.read_text().strip() == commit
            and all((snapshot / f).is_file() for f in ("config.json", "model.safetensors", "tokenizer.json")))


def write_stand_in(cache: Path, hub_id: str, full_size: bool = False, seed: int = 0) -> None:
    """Save the stand-in's model and tokenizer as the snapshot of a new commit, then point ``main`` at it.

    The snapshot is written beside its place and moved in whole, so a build cut short leaves no
    half-written snapshot behind ``main``. Weights are saved in bfloat16, as the real ones are.
    """
    repo, commit = repo_folder(cache, hub_id), commit_of(hub_id, full_size)
    snapshot = repo / "snapshots" / commit
    draft = repo / "snapshots" / f".{commit}.partial"
    shutil.rmtree(draft, ignore_errors=True)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(model_config(hub_id, full_size)).to(torch.bfloat16)
    with no_progress_bars():
        model.save_pretrained(draft)
    family_tokenizer(HUB_MODELS[hub_id].family).save_pretrained(draft)
    shutil.rmtree(snapshot, ignore_errors=True)
    draft.rename(snapshot)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)


def build(cache: Path, full_size: bool = False) -> list[str]:
    """Write a stand-in for every hub id of ``HUB_MODELS`` into the hub cache folder ``cache``, offline.

    Stand-ins already there are kept (a second call is fast); returns the ids written by this call.
    Load them with ``HF_HUB_CACHE=cache`` and ``HF_HUB_OFFLINE=1`` in the environment.
    """
    written = [hub_id for hub_id in HUB_MODELS if not is_built(cache, hub_id, full_size)]
    for hub_id in written:
        write_stand_in(Path(cache), hub_id, full_size)
    return written


def hub_env(cache: Path) -> dict[str, str]:
    """The environment variables under which ``load_model`` finds the stand-ins in ``cache`` by hub id, offline."""
    return {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}


# -- which hub ids the notebooks name ----------------------------------------------------------------
def notebook_hub_ids(folder: Path | None = None) -> set[str]:
    """The hub ids ("org/name") that the ``settings.pick(...)`` calls of the notebooks' code cells name.

    ``folder``: the notebooks to read (default: the package's, ``instructor.notebooks_dir()``).
    """
    ids: set[str] = set()
    for notebook in find_notebooks([folder] if folder else None):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        for cell in cells:
            if cell["cell_type"] == "code":
                ids |= _picked_hub_ids("".join(cell["source"]))
    return ids


def _picked_hub_ids(code: str) -> set[str]:
    """The string arguments of ``pick(...)`` calls in ``code`` that have the form of a hub id."""
    python = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(python)
    except SyntaxError:
        return set()  # a cell the learner fills in; it names no model
    return {arg.value for call in ast.walk(tree) if isinstance(call, ast.Call) and _is_pick(call.func)
            for arg in [*call.args, *(k.value for k in call.keywords)]
            if isinstance(arg, ast.Constant) and _looks_like_hub_id(arg.value)}


def _is_pick(func: ast.expr) -> bool:
    return (isinstance(func, ast.Attribute) and func.attr == "pick") or (isinstance(func, ast.Name) and func.id == "pick")


def _looks_like_hub_id(value: object) -> bool:
    """Whether ``value`` reads as a hub id, "org/name": one slash with text on both sides, no spaces
    (a shipped name such as "tiny-base" has no slash)."""
    if not isinstance(value, str) or value.count("/") != 1:
        return False
    org, name = value.split("/")
    return bool(org) and bool(name) and not any(c.isspace() for c in value) and not value.startswith((".", "~"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache", type=Path, help="the Hugging Face hub cache folder to write (HF_HUB_CACHE)")
    parser.add_argument("--full-size", action="store_true", help="the real models' shapes, for a GPU check")
    args = parser.parse_args()
    written = build(args.cache, args.full_size)
    kept = [hub_id for hub_id in HUB_MODELS if hub_id not in written]
    print(f"stand-ins in {args.cache}: written {written or 'none'}, already there {kept or 'none'}")
    print(f"load them with HF_HUB_CACHE={args.cache} HF_HUB_OFFLINE=1")


if __name__ == "__main__":
    main()
