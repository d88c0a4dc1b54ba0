"""Time to skill: seconds of SFT from tiny-base until held-out ticket summaries get their facts right.

Two targets, each the first evaluation that reaches it:

- 90% field accuracy: the share of the four facts (customer, product, problem, request) that the
  summaries of the held-out tickets get right (target: within 45 s of training);
- customer and product right on 80% of the held-out tickets (target: within 90 s).

The clock counts training only: every ``--eval-every`` steps the run pauses, greedy-decodes
the held-out test tickets, scores them and resumes. A run ends when both targets are met or its
schedule (warm-up, then a cosine over ``--max-steps``) is over. Each seed shuffles the training
pairs differently; the benchmark prints every seed and the medians.

Run: ``python benchmarks/time_to_skill.py --threads 1`` (three seeds).
"""
from __future__ import annotations

import argparse
import statistics
import time

from course_utils.evaluate import follow_rates
from course_utils.finetune import fine_tune
from course_utils.models import load_model
from course_utils.presets import TICKET_SFT
from course_utils.shipped import load_instructions
from course_utils.threads import configure_threads

FIELD_TARGET, FIELD_LIMIT_S = 0.9, 45.0
NAMES_TARGET, NAMES_LIMIT_S = 0.8, 90.0


class Watch:
    """Evaluates every N steps, keeps the curve, and stops training once both targets are met."""

    def __init__(self, model, tokenizer, rows, every: int):
        self.model, self.tokenizer, self.rows, self.every = model, tokenizer, rows, every
        self.eval_seconds = 0.0
        self.curve: list[dict] = []

    def on_step(self, state) -> None:
        if state.step % self.every:
            return
        started = time.perf_counter()
        self.model.eval()
        _, answers = follow_rates(self.model, self.tokenizer, self.rows, max_new_tokens=48)
        self.model.train()
        self.eval_seconds += time.perf_counter() - started
        point = {"step": state.step, "seconds": state.elapsed_s - self.eval_seconds,
                 "fields": float(answers["score"].mean()),
                 "names": float(answers["names customer and product"].mean())}
        self.curve.append(point)
        print(f"  step {point['step']:4d}  {point['seconds']:6.1f} s of training  field accuracy {point['fields']:.3f}  "
              f"customer and product {point['names']:.3f}", flush=True)
        if point["fields"] >= FIELD_TARGET and point["names"] >= NAMES_TARGET:
            state.stopped_early = True

    def seconds_to(self, key: str, target: float) -> float:
        """Training seconds at the first evaluation that reached ``target`` (infinite if none did)."""
        return next((p["seconds"] for p in self.curve if p[key] >= target), float("inf"))


def when(seconds: float) -> str:
    return f"after {seconds:.1f} s" if seconds != float("inf") else "not reached"


def run_seed(seed: int, args: argparse.Namespace, rows: list[dict], held_out: list[dict]) -> Watch:
    model, tokenizer = load_model(args.model, device="cpu")
    watch = Watch(model, tokenizer, held_out, args.eval_every)
    fine_tune(model, tokenizer, rows, TICKET_SFT, args.max_steps, copy=False, learning_rate=args.lr,
              batch_size=args.batch, callbacks=[watch], seed=seed)
    return watch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-base", help="the base model: a shipped name or a local folder")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="batch-order seeds")
    parser.add_argument("--eval-every", type=int, default=25, help="steps between evaluations")
    parser.add_argument("--max-steps", type=int, default=TICKET_SFT.steps,
                        help="length of the learning-rate schedule; give up after it")
    parser.add_argument("--batch", type=int, default=TICKET_SFT.batch_size, help="pairs per optimizer step")
    parser.add_argument("--lr", type=float, default=TICKET_SFT.learning_rate, help="peak learning rate")
    args = parser.parse_args()

    threads = configure_threads(args.threads)
    rows = load_instructions("train", tasks=["ticket_summary"])
    held_out = load_instructions("test", tasks=["ticket_summary"])
    print(f"SFT of {args.model} on {len(rows)} ticket summaries, {threads} thread(s), batch {args.batch}, "
          f"peak lr {args.lr}, schedule {args.max_steps} steps; {len(held_out)} held-out tickets")
    fields_s, names_s = [], []
    for seed in args.seeds:
        print(f"seed {seed}:", flush=True)
        watch = run_seed(seed, args, rows, held_out)
        fields_s.append(watch.seconds_to("fields", FIELD_TARGET))
        names_s.append(watch.seconds_to("names", NAMES_TARGET))
        print(f"seed {seed}: {FIELD_TARGET:.0%} field accuracy {when(fields_s[-1])}, customer and product "
              f"right on {NAMES_TARGET:.0%} {when(names_s[-1])} (seconds of training)", flush=True)
    field_median, names_median = statistics.median(fields_s), statistics.median(names_s)
    print(f"median over {len(args.seeds)} seeds: {FIELD_TARGET:.0%} field accuracy {when(field_median)} "
          f"(target < {FIELD_LIMIT_S:.0f} s: {'met' if field_median < FIELD_LIMIT_S else 'NOT met'}); customer and "
          f"product on {NAMES_TARGET:.0%} {when(names_median)} "
          f"(target < {NAMES_LIMIT_S:.0f} s: {'met' if names_median < NAMES_LIMIT_S else 'NOT met'})")


if __name__ == "__main__":
    main()
