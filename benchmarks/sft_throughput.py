"""SFT throughput: course_utils against TRL's SFTTrainer on the same examples, in one run.

Every contender trains the same model from the same weights on the same ticket-summary
pairs (one pass over exactly ``steps x batch`` pairs, so every run reads the same tokens),
with the same batch size and number of optimizer steps. Tokens/s counts the real (non-pad)
tokens of those pairs over the wall time of the training call alone (tokenisation excluded
for everyone). Contenders:

- course_utils with length-grouped padded batches (its CPU default), and for comparison with
  packed rows (about two pairs per 512-token row, so fewer, fuller steps);
- TRL (a): as a learner would configure it on a CPU: ``use_cpu=True`` and its other defaults
  (which include bf16 autocast and gradient checkpointing);
- TRL (b): tuned: no gradient checkpointing, fp32, and the faster of its length-grouped
  sampling and its padding-free batching.

Run: ``python benchmarks/sft_throughput.py [--threads 1] [--steps 40] [--batch 16]``.
On a GPU add ``--model smollm2-135m-random --precision bf16`` for a SmolLM2-135M-sized
model with random weights (no download).
"""
from __future__ import annotations

import argparse
import copy
import json
import time

import datasets
import torch
import transformers
from datasets import Dataset

from course_utils import sft
from course_utils.models import load_model
from course_utils.shipped import load_instructions
from course_utils.tasks import prompt_text
from course_utils.threads import configure_threads
from course_utils.train import TrainConfig, train


def smollm2_sized(tokenizer) -> torch.nn.Module:
    """A model of SmolLM2-135M's shape (30 layers, width 576, 9 heads / 3 KV heads), random weights."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=2048,
                         tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    return LlamaForCausalLM(config)


def pairs(n: int) -> list[dict]:
    """The first ``n`` ticket-summary training pairs as conversational prompt/completion rows."""
    rows = load_instructions("train", tasks=["ticket_summary"])[:n]
    if len(rows) < n:
        raise SystemExit(f"only {len(rows)} ticket-summary pairs shipped; ask for fewer steps or a smaller batch")
    return [{"prompt": [{"role": "user", "content": prompt_text(r)}],
             "completion": [{"role": "assistant", "content": r["output"]}]} for r in rows]


def run_course_utils(model, tokenizer, rows, args, batching: str) -> float:
    examples, _ = sft.prepare(tokenizer, rows, verbose=False)
    if batching == "packed":
        batches = sft.packed_batches(examples, 512, args.batch // 2, tokenizer.pad_token_id)
    else:
        batches = sft.padded_batches(examples, args.batch, tokenizer.pad_token_id)
    config = TrainConfig(max_steps=len(batches), learning_rate=1e-3, warmup_steps=1, progress=False,
                         precision=args.precision)
    started = time.perf_counter()
    train(model, batches, config)
    return time.perf_counter() - started


def run_trl(model, tokenizer, rows, args, tuned: bool, strategy: str = "random", padding_free: bool = False) -> float:
    from trl import SFTConfig, SFTTrainer

    on_cpu = args.precision == "fp32" and not torch.cuda.is_available()
    settings = dict(output_dir="/tmp/sft_throughput_trl", report_to=[], per_device_train_batch_size=args.batch,
                    max_steps=args.steps, logging_steps=10, save_strategy="no", learning_rate=1e-3,
                    use_cpu=on_cpu, disable_tqdm=True, max_length=512)
    if tuned:
        settings |= dict(gradient_checkpointing=False, bf16=args.precision == "bf16",
                         train_sampling_strategy=strategy, padding_free=padding_free)
        if padding_free:
            settings["max_length"] = None  # TRL asks for this; every pair is shorter than 512 tokens
    trainer = SFTTrainer(model=model, args=SFTConfig(**settings), train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer)
    started = time.perf_counter()
    trainer.train()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (pinned for every contender)")
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps per contender")
    parser.add_argument("--batch", type=int, default=16, help="pairs per optimizer step")
    parser.add_argument("--model", default="tiny-base", help="'tiny-base' or 'smollm2-135m-random'")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="course_utils precision")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    threads = configure_threads(args.threads)
    base, tokenizer = load_model("tiny-base")
    if args.model == "smollm2-135m-random":
        base = smollm2_sized(tokenizer).to(base.device)
    rows = pairs(args.steps * args.batch)
    examples, _ = sft.prepare(tokenizer, rows, verbose=False)
    tokens = sum(len(e) for e in examples)
    device = next(base.parameters()).device
    print(f"{args.model} on {device}, {threads} thread(s), {args.steps} steps x {args.batch} pairs, "
          f"{tokens:,} real tokens per run, torch {torch.__version__}")

    contenders = {
        "course_utils padded": lambda m: run_course_utils(m, tokenizer, rows, args, "padded"),
        "course_utils packed": lambda m: run_course_utils(m, tokenizer, rows, args, "packed"),
        "TRL (a) defaults": lambda m: run_trl(m, tokenizer, rows, args, tuned=False),
        "TRL (b) group_by_length": lambda m: run_trl(m, tokenizer, rows, args, True, "group_by_length"),
        "TRL (b) padding_free": lambda m: run_trl(m, tokenizer, rows, args, True, padding_free=True),
    }
    speed = {}
    for name, run in contenders.items():
        seconds = run(copy.deepcopy(base).train())
        speed[name] = tokens / seconds
        print(f"{name:26s} {seconds:7.1f} s  {speed[name]:9,.0f} tokens/s", flush=True)

    ours = speed["course_utils padded"]  # same pairs, batch and steps as TRL
    trl_a = speed["TRL (a) defaults"]
    trl_b = max(speed["TRL (b) group_by_length"], speed["TRL (b) padding_free"])
    print(f"course_utils padded / TRL (a) defaults = {ours / trl_a:.2f}x (target >= 1.5)")
    print(f"course_utils padded / TRL (b) tuned    = {ours / trl_b:.2f}x (target >= 1.15)")
    print(f"packed / padded on this device = {speed['course_utils packed'] / speed['course_utils padded']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": threads, "model": args.model, "device": str(device), "tokens": tokens,
                       "tokens_per_s": speed}, f, indent=1)


if __name__ == "__main__":
    main()
