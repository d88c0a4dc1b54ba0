"""SFT throughput: course_utils against TRL's SFTTrainer on the same examples, in one run.

Every contender trains the same model from the same weights on the same ticket-summary
pairs (one pass over exactly ``steps x batch`` pairs, so every run reads the same tokens),
with the same batch size and number of optimizer steps. Tokens/s counts the real (non-pad)
tokens of those pairs over the time of training alone (tokenisation excluded for everyone):
``trainer.train()``'s wall time for TRL, the loop's own clock (``TrainState.elapsed_s``, first
step to last) for course_utils's ``fine_tune``. Each contender runs ``--repeats`` times, in turn with the others, and keeps
its best time, so that a noisy moment on a shared machine does not decide a ratio.

Contenders:

- course_utils with length-grouped padded batches at its default precision (fp32 on a CPU),
  and at TRL (a)'s precision (bf16 autocast, which TRL turns on by default even on a CPU);
  for comparison, also with packed rows (about two pairs per 512-token row);
- TRL (a): as a learner would configure it on a CPU: ``use_cpu=True`` and its other defaults
  (which include bf16 autocast and gradient checkpointing);
- TRL (b): tuned: no gradient checkpointing, and the fastest of its length-grouped sampling,
  its padding-free batching and its packing (``packing=True``: pairs packed best-fit into rows of
  512 tokens, one pass over them in about as many steps as the others), each in fp32 and in bf16.

Run: ``python benchmarks/sft_throughput.py [--threads 1] [--steps 40] [--batch 16] [--repeats 2]``.
On a GPU add ``--model smollm2-135m-random --precision bf16`` for a SmolLM2-135M-sized
model with random weights (no download).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import time

import datasets
import torch
import transformers
from datasets import Dataset

from course_utils import sft
from course_utils.finetune import fine_tune
from course_utils.models import load_model
from course_utils.presets import SFTPreset
from course_utils.shipped import load_instructions
from course_utils.threads import configure_threads

MAX_LENGTH = 512  # tokens per row for every TRL run; every pair is shorter


def smollm2_sized(tokenizer) -> torch.nn.Module:
    """A model of SmolLM2-135M's shape (30 layers, width 576, 9 heads / 3 KV heads), random weights.

    Its vocabulary has SmolLM2's 49,152 entries, so that the output layer costs what it costs
    there; the ticket pairs use only the first ``len(tokenizer)`` of them.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=max(49_152, len(tokenizer)), hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
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
    return sft.to_trl(rows)


def run_course_utils(model, tokenizer, rows, args, batching: str, precision: str) -> float:
    """Seconds of one pass of ``fine_tune``'s training loop (its tokenisation is not counted)."""
    rows_per_batch = args.batch // 2 if batching == "packed" else args.batch  # a packed row holds about two pairs
    preset = SFTPreset(batch_size=rows_per_batch, learning_rate=1e-3, warmup_steps=1, steps=args.steps)
    result = fine_tune(model, tokenizer, rows, preset, copy=False, epochs=1, batching=batching,
                       train_settings={"precision": precision})
    return result.state.elapsed_s


def trl_settings(args) -> dict:
    """What every TRL run shares: batch, steps, learning rate, no saving or logging to services."""
    return dict(output_dir="/tmp/sft_throughput_trl", report_to=[], per_device_train_batch_size=args.batch,
                max_steps=args.steps, logging_steps=10, save_strategy="no", learning_rate=1e-3,
                use_cpu=not torch.cuda.is_available(), disable_tqdm=True, max_length=MAX_LENGTH)


def default_trl_precision(args) -> str:
    """The precision SFTConfig picks when a learner leaves it alone."""
    from trl import SFTConfig

    config = SFTConfig(**trl_settings(args))
    return "bf16" if config.bf16 else "fp16" if config.fp16 else "fp32"


def packed_rows_per_step(tokens: int, steps: int) -> int:
    """Rows of ``MAX_LENGTH`` tokens per step, so that one pass over ``tokens`` packed takes about ``steps`` steps."""
    return max(1, math.ceil(tokens / MAX_LENGTH / steps))


def run_trl(model, tokenizer, rows, args, tuned: bool, strategy: str = "random", padding_free: bool = False,
            precision: str = "fp32", packed_rows: int | None = None) -> float:
    """Seconds of ``trainer.train()``; ``packed_rows``: pack the pairs (``packing=True``), this many rows a step."""
    from trl import SFTConfig, SFTTrainer

    settings = trl_settings(args)
    if tuned:
        settings |= dict(gradient_checkpointing=False, bf16=precision == "bf16",
                         train_sampling_strategy=strategy, padding_free=padding_free)
        if padding_free:
            settings["max_length"] = None  # TRL asks for this; every pair is shorter than 512 tokens
        if packed_rows:  # packed rows hold several pairs: one epoch reads every pair once, as the others do
            settings |= dict(packing=True, per_device_train_batch_size=packed_rows, max_steps=-1, num_train_epochs=1)
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
    parser.add_argument("--repeats", type=int, default=2, help="runs per contender; the best time counts")
    parser.add_argument("--model", default="tiny-base", help="'tiny-base' or 'smollm2-135m-random'")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="course_utils default precision")
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
    trl_a = default_trl_precision(args)
    print(f"{args.model} on {device}, {threads} thread(s), {args.steps} steps x {args.batch} pairs, "
          f"{tokens:,} real tokens per run, best of {args.repeats}, torch {torch.__version__}; "
          f"TRL (a) runs in {trl_a}")

    ours = f"course_utils padded {args.precision}"
    ours_at_a = f"course_utils padded {trl_a}"
    contenders = {
        ours: lambda m: run_course_utils(m, tokenizer, rows, args, "padded", args.precision),
        ours_at_a: lambda m: run_course_utils(m, tokenizer, rows, args, "padded", trl_a),
        f"course_utils packed {args.precision}": lambda m: run_course_utils(m, tokenizer, rows, args, "packed",
                                                                            args.precision),
        "TRL (a) defaults": lambda m: run_trl(m, tokenizer, rows, args, tuned=False),
    }
    tuned: dict[str, str] = {}  # name -> precision
    for precision in sorted({args.precision, "bf16"}):
        for batching, kwargs in [("group_by_length", dict(strategy="group_by_length")),
                                 ("padding_free", dict(padding_free=True)),
                                 ("packing", dict(packed_rows=packed_rows_per_step(tokens, args.steps)))]:
            name = f"TRL (b) {batching} {precision}"
            tuned[name] = precision
            contenders[name] = lambda m, kw=kwargs, p=precision: run_trl(m, tokenizer, rows, args, True, precision=p, **kw)

    seconds: dict[str, float] = {}
    for repeat in range(args.repeats):
        for name, run in contenders.items():
            took = run(copy.deepcopy(base).train())
            seconds[name] = min(took, seconds.get(name, float("inf")))
            print(f"run {repeat + 1}: {name:34s} {took:7.1f} s  {tokens / took:9,.0f} tokens/s", flush=True)
    speed = {name: tokens / s for name, s in seconds.items()}
    print("best of each:")
    for name, value in speed.items():
        print(f"  {name:34s} {value:9,.0f} tokens/s")

    fastest_b = max(tuned, key=speed.get)
    for precision in dict.fromkeys([args.precision, trl_a]):
        name = f"course_utils padded {precision}"
        same = [b for b, p in tuned.items() if p == precision]
        print(f"{name}:")
        print(f"  / {'TRL (a) defaults, ' + trl_a:32s} = {speed[name] / speed['TRL (a) defaults']:.2f}x  (target >= 1.5)")
        if same:
            b = max(same, key=speed.get)
            print(f"  / {b:32s} = {speed[name] / speed[b]:.2f}x  (fastest tuned TRL in {precision}; target >= 1.15)")
        if fastest_b not in same:
            print(f"  / {fastest_b:32s} = {speed[name] / speed[fastest_b]:.2f}x  (fastest tuned TRL in any precision)")
    packed = f"course_utils packed {args.precision}"
    print(f"packed / padded on this device = {speed[packed] / speed[ours]:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": threads, "model": args.model, "device": str(device), "tokens": tokens,
                       "repeats": args.repeats, "tokens_per_s": speed}, f, indent=1)


if __name__ == "__main__":
    main()
