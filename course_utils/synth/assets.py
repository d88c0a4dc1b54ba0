"""Rebuild everything the workbook ships under ``data/`` from seeds: ``python -m course_utils.synth.assets``.

Steps: the synthetic world's pre-training corpus, instruction splits and preference pairs, the tokenizer,
``tiny-base`` pre-trained on the corpus, and ``tiny-instruct``: tiny-base fine-tuned on the
training tasks, with raw corpus documents mixed in so that it keeps what pre-training taught, by
the library's own SFT loop. The build records in ``data/MANIFEST.json`` what it ran, how long each
step took, each model's scorecard on the whole test split (``course_utils.scorecard``) and a
SHA-256 checksum of every file it wrote. Training runs on one CPU thread, so the same seed gives
the same weights on the same software.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
import transformers

from course_utils.synth import corpus, flaws, tasks
from course_utils.synth.copy_task import CopyDrill, copy_batches, with_copy_rows
from course_utils.finetune import fine_tune
from course_utils.models import TinyConfig, build_model, count_parameters, load_model
from course_utils.paths import data_dir
from course_utils.presets import INSTRUCT_SFT
from course_utils.scorecard import Scorecard, held_out_prompts, score_model
from course_utils.pretrain import document_batches
from course_utils.shipped import MANIFEST, WORDINGS, read_jsonl, write_jsonl
from course_utils.threads import configure_threads
from course_utils.tokenizer import train_tokenizer
from course_utils.train import TrainConfig, train
from course_utils.synth.world import World

CORPUS_SIZES = {"train": 20_000, "validation": 500}
BLOCK_SIZE = 512
PRETRAIN = TrainConfig(max_steps=1200, learning_rate=2e-3, warmup_steps=30, min_lr_ratio=0.1, eval_every=150)
PRETRAIN_BATCH = 6  # corpus rows per step; the copy drill adds its own
COPY_DRILL = CopyDrill()
FLAWED_PER_TASK = 300
PREFERENCE_SIZES = {"train": 3200, "test": 64}  # the DPO notebook reads at most 3,200 (its GPU setting)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def checksums(root: Path) -> dict[str, str]:
    """SHA-256 of every shipped file under ``root`` except the manifest, Python files, the quiz banks and
    learner notebooks (built from ``instructor/`` and ``notebooks/`` by their own commands), the notebook
    times (a CI measurement, kept by ``python -m course_utils.roadmap``), and the hand-written pairs
    (written by people, not by this build)."""
    return {
        str(p.relative_to(root)): sha256(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in (MANIFEST, "notebook_times.json") and p.suffix != ".py"
        and "__pycache__" not in p.parts
        and not {"quizzes", "notebooks", "handwritten"} & set(p.relative_to(root).parts)
    }


def build_data(out: Path, seed: int) -> dict:
    """Write the corpus, the instruction splits with their wordings, and the preference pairs; return their sizes."""
    world = World(seed)
    sizes = {}
    for split, n in CORPUS_SIZES.items():
        rows = corpus.pretraining_corpus(world, n, split)
        write_jsonl(out / "corpus" / f"{split}.jsonl.gz", rows)
        sizes[f"corpus/{split}"] = len(rows)
    splits = tasks.instruction_splits(world)
    for split, rows in splits.items():
        write_jsonl(out / "sft" / f"{split}.jsonl", rows)
        sizes[f"sft/{split}"] = len(rows)
    wordings = {name: {"instructions": t.instructions, "reworded": t.reworded} for name, t in tasks.TASKS.items()}
    (out / "sft" / WORDINGS).write_text(json.dumps(wordings, indent=2) + "\n")
    flawed = flaws.flawed_training_pairs(splits["train"], FLAWED_PER_TASK, seed)
    write_jsonl(out / "sft" / "train_flawed.jsonl", flawed)
    sizes["sft/train_flawed"] = len(flawed)
    seen = [row["input"] for rows in splits.values() for row in rows]
    for stream, (split, n) in enumerate(PREFERENCE_SIZES.items()):  # random stream 0 for train, 1 for test
        pairs = tasks.preference_pairs(world, n, stream, exclude=seen)
        write_jsonl(out / "preference" / f"{split}.jsonl", pairs)
        sizes[f"preference/{split}"] = len(pairs)
        seen += [p["input"] for p in pairs]
    return sizes


def build_tiny_base(out: Path, seed: int, config: TrainConfig) -> dict:
    """Train the tokenizer on the corpus, pre-train tiny-base, save both; return the run's numbers.

    Pre-training opens with the copy drill (``course_utils.synth.copy_task``): copy rows alone until the
    model has learned to look back and copy, then the corpus with a few copy rows in every batch.
    """
    train_texts = [row["text"] for row in read_jsonl(out / "corpus" / "train.jsonl.gz")]
    val_texts = [row["text"] for row in read_jsonl(out / "corpus" / "validation.jsonl.gz")]
    tokenizer = train_tokenizer(train_texts, vocab_size=TinyConfig.vocab_size, context_length=BLOCK_SIZE)
    model = build_model(tokenizer, TinyConfig(vocab_size=len(tokenizer), context_length=BLOCK_SIZE), seed=seed)
    drill = COPY_DRILL
    warmup = train(model, copy_batches(tokenizer, drill.warmup_steps, drill.warmup_batch_size, drill.warmup_length,
                                       drill.span, seed=seed),
                   TrainConfig(max_steps=drill.warmup_steps, learning_rate=drill.warmup_learning_rate,
                               warmup_steps=drill.ramp_steps, min_lr_ratio=1.0, seed=seed, progress=config.progress))
    text_batches = document_batches(tokenizer, train_texts, BLOCK_SIZE, PRETRAIN_BATCH)
    train_batches = with_copy_rows(text_batches, tokenizer, drill.rows_per_text_batch, drill.span, seed=seed + 1)
    val_batches = document_batches(tokenizer, val_texts, BLOCK_SIZE, PRETRAIN_BATCH)
    result = train(warmup.model, train_batches, config, eval_batches=val_batches)
    folder = out / "models" / "tiny-base"
    result.model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    final = result.state.evals[-1]
    return {
        "parameters": count_parameters(result.model),
        "copy_drill": asdict(drill),
        "copy_warmup_tokens": warmup.state.tokens_seen,
        "copy_warmup_seconds": round(warmup.state.elapsed_s, 1),
        "copy_warmup_final_loss": round(warmup.history[-1]["loss"], 4),
        "train_config": asdict(config),
        "batch_size": PRETRAIN_BATCH + drill.rows_per_text_batch,  # rows per step, copy rows included
        "text_rows_per_step": PRETRAIN_BATCH,
        "block_size": BLOCK_SIZE,
        "steps": result.state.step,
        "tokens_seen": result.state.tokens_seen,  # after the warm-up: text and copy rows
        "train_seconds": round(result.state.elapsed_s, 1),
        "tokens_per_s": round(result.state.tokens_seen / result.state.elapsed_s),
        "val_loss": round(final["val_loss"], 4),
        "val_perplexity": round(math.exp(final["val_loss"]), 4),
        "val_curve": [{k: round(v, 4) for k, v in e.items()} for e in result.state.evals],
    }


def raw_text_rows(out: Path, share: float, n_pairs: int) -> list[dict]:
    """Corpus documents as ``{"text"}`` rows, as many as make up ``share`` of an SFT mix with ``n_pairs`` pairs."""
    n_docs = round(n_pairs * share / (1 - share))
    return [{"text": row["text"]} for row in read_jsonl(out / "corpus" / "train.jsonl.gz")[:n_docs]]


def build_tiny_instruct(out: Path, seed: int, steps: int) -> dict:
    """Fine-tune the freshly built tiny-base on every training task, with raw documents mixed in; save it
    beside tiny-base."""
    model, tokenizer = load_model(out / "models" / "tiny-base", device="cpu")
    pairs = read_jsonl(out / "sft" / "train.jsonl")
    rows = pairs + raw_text_rows(out, INSTRUCT_SFT.raw_text_share, len(pairs))
    result = fine_tune(model, tokenizer, rows, INSTRUCT_SFT, steps, copy=False, seed=seed, progress=True)
    folder = out / "models" / "tiny-instruct"
    result.model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return {
        "pairs": len(pairs),
        "raw_documents": len(rows) - len(pairs),
        "examples": result.prepared.kept,
        "steps": result.state.step,
        "batch_size": INSTRUCT_SFT.batch_size,
        "learning_rate": INSTRUCT_SFT.learning_rate,
        "train_seconds": round(result.state.elapsed_s, 1),
        "final_loss": round(result.history[-1]["loss"], 4),
    }


def scorecard(out: Path, name: str) -> Scorecard:
    """The scorecard of a model just built under ``out``, on the whole test split."""
    model, tokenizer = load_model(out / "models" / name, device="cpu")
    test = read_jsonl(out / "sft" / "test.jsonl")
    documents = [row["text"] for row in read_jsonl(out / "corpus" / "validation.jsonl.gz")]
    card, _ = score_model(model, tokenizer, held_out_prompts(rows=test), documents)
    return card


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=data_dir(), help="folder to write (default: the package's data/)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the world and of training")
    parser.add_argument("--steps", type=int, default=PRETRAIN.max_steps, help="pre-training steps of tiny-base")
    parser.add_argument("--sft-steps", type=int, default=INSTRUCT_SFT.steps, help="fine-tuning steps of tiny-instruct")
    args = parser.parse_args(argv)

    configure_threads(1)  # one thread: reproducible weights, and the other core stays free
    timings, started, cpu_started = {}, time.perf_counter(), time.process_time()
    sizes = build_data(args.out, args.seed)
    timings["data_s"] = round(time.perf_counter() - started, 1)
    config = TrainConfig(**{**asdict(PRETRAIN), "max_steps": args.steps, "seed": args.seed})
    tiny_base = build_tiny_base(args.out, args.seed, config)
    timings["tiny_base_s"] = round(time.perf_counter() - started, 1)
    tiny_instruct = build_tiny_instruct(args.out, args.seed, args.sft_steps)
    timings["tiny_instruct_s"] = round(time.perf_counter() - started, 1)
    tiny_base["scorecard"] = scorecard(args.out, "tiny-base").to_dict()
    tiny_instruct["scorecard"] = scorecard(args.out, "tiny-instruct").to_dict()
    timings["total_s"] = round(time.perf_counter() - started, 1)
    timings["cpu_s"] = round(time.process_time() - cpu_started, 1)  # wall time grows when other jobs share the cores
    manifest = {
        "command": "python -m course_utils.synth.assets " + " ".join(argv if argv is not None else sys.argv[1:]),
        "seed": args.seed,
        "software": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__},
        "threads": torch.get_num_threads(),
        "timings": timings,
        "sizes": sizes,
        "tiny-base": tiny_base,
        "tiny-instruct": tiny_instruct,
        "files": checksums(args.out),
    }
    (args.out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps({k: manifest[k] for k in ("timings", "sizes")}, indent=2))
    print(f"tiny-base: {tiny_base['parameters']:,} parameters, scorecard {tiny_base['scorecard']}")
    print(f"tiny-instruct: scorecard {tiny_instruct['scorecard']}")


if __name__ == "__main__":
    main()
