"""Time to skill: wall time of SFT from tiny-base until 90% field accuracy on held-out ticket summaries.

The clock counts training only: every ``--eval-every`` steps the run pauses, greedy-decodes
the held-out test tickets, scores the facts of each summary (customer, product, problem,
request), and resumes. The first evaluation at or above the target ends the run.

The learning rate warms up, then follows a cosine over ``--max-steps``, as a learner's planned
run would. The schedule's length matters: accuracy jumps as the learning rate comes down, so a
600-step schedule gets there in fewer steps than a longer one stopped early.

Run: ``python benchmarks/time_to_skill.py [--threads 2]`` (target: under 120 s on 2 CPU cores).
"""
from __future__ import annotations

import argparse
import time

from course_utils import sft
from course_utils.evaluate import evaluate_model
from course_utils.models import load_model
from course_utils.shipped import load_instructions
from course_utils.threads import configure_threads
from course_utils.train import TrainConfig, train
from course_utils.presets import TICKET_SFT


class StopAtTarget:
    """Evaluates every N steps, keeps the curve, and stops training once the target is met."""

    def __init__(self, model, tokenizer, rows, every: int, target: float):
        self.model, self.tokenizer, self.rows = model, tokenizer, rows
        self.every, self.target = every, target
        self.eval_seconds = 0.0
        self.curve: list[tuple[int, float, float]] = []  # (step, training seconds, field accuracy)

    def on_step(self, state) -> None:
        if state.step % self.every:
            return
        started = time.perf_counter()
        self.model.eval()
        accuracy = float(evaluate_model(self.model, self.tokenizer, self.rows, max_new_tokens=48).answers["score"].mean())
        self.model.train()
        self.eval_seconds += time.perf_counter() - started
        seconds = state.elapsed_s - self.eval_seconds
        self.curve.append((state.step, seconds, accuracy))
        print(f"step {state.step:4d}  {seconds:6.1f} s of training  field accuracy {accuracy:.3f}", flush=True)
        if accuracy >= self.target:
            state.stopped_early = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--eval-every", type=int, default=100, help="steps between evaluations")
    parser.add_argument("--target", type=float, default=0.9, help="field accuracy to reach")
    parser.add_argument("--max-steps", type=int, default=600, help="length of the learning-rate schedule; give up after it")
    parser.add_argument("--batch", type=int, default=TICKET_SFT.batch_size, help="pairs per optimizer step")
    parser.add_argument("--lr", type=float, default=TICKET_SFT.learning_rate, help="peak learning rate")
    args = parser.parse_args()

    threads = configure_threads(args.threads)
    model, tokenizer = load_model("tiny-base")
    examples, _ = sft.prepare(tokenizer, load_instructions("train", tasks=["ticket_summary"]), verbose=False)
    held_out = load_instructions("test", tasks=["ticket_summary"])
    batches = sft.padded_batches(examples, args.batch, tokenizer.pad_token_id)
    config = TrainConfig(max_steps=args.max_steps, learning_rate=args.lr,
                         warmup_steps=TICKET_SFT.warmup_steps, progress=False)
    watcher = StopAtTarget(model, tokenizer, held_out, args.eval_every, args.target)
    print(f"SFT of tiny-base on {len(examples)} ticket summaries, {threads} thread(s), batch {args.batch}, "
          f"peak lr {args.lr}, schedule {args.max_steps} steps; {len(held_out)} held-out tickets")
    train(model, batches, config, callbacks=[watcher])
    reached = [(step, s) for step, s, acc in watcher.curve if acc >= args.target]
    if reached:
        step, seconds = reached[0]
        print(f"reached {args.target:.0%} field accuracy after {seconds:.1f} s of training ({step} steps); target < 120 s")
    else:
        print(f"did not reach {args.target:.0%} within {args.max_steps} steps; best {max(a for *_, a in watcher.curve):.3f}")


if __name__ == "__main__":
    main()
