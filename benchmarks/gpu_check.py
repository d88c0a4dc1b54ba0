"""The GPU check: every notebook at the ``t4`` size on a real CUDA GPU, with full-size stand-ins, in 8 minutes.

CI has no GPU and no network. It rehearses the ``t4`` and ``gpu`` sizes on a CPU with two-layer
random stand-ins for the hub models (``course-utils check --size t4 --stand-in``), which proves that
every cell runs, but not how fast the runs go on a GPU nor whether the library's memory estimate
matches what the GPU really used. This script is what to run the day a GPU is at hand; it needs no
network. It

1. builds stand-ins of the real shapes (SmolLM2-135M and -360M, random weights) in a temporary
   Hugging Face cache (``course_utils.instructor.standins``), which the notebooks' kernels load by
   hub id with ``HF_HUB_OFFLINE=1``;
2. races course_utils against TRL's ``SFTTrainer`` (packing included) on a SmolLM2-135M-shaped
   model with ``benchmarks/sft_throughput.py`` and prints its table;
3. runs every notebook at ``t4`` against the stand-ins in smoke mode (every training run cut to
   ``--smoke-steps`` steps, ``course_utils.smoke``), each training run appending a line to a run log
   (``$COURSE_UTILS_RUN_LOG``), and prints one line per notebook::

       notebook                  result  cells   wall  runs  tokens/s  peak GiB  estimate GiB  est/peak  on
       ch04/02_sft_end_to_end..  pass    31/31  41.2s     3    51,200      3.10          3.35      1.08  cuda bf16

   ``peak GiB`` is the largest peak of the notebook's training runs, ``estimate GiB`` the library's
   estimate for that same run, made before it started.

Random weights cannot meet the notebooks' claims: those are counted apart, not as failures. The script
exits non-zero when a notebook fails (an error in a cell), the throughput race fails, or the whole
check takes longer than ``--budget`` seconds (default 480). A cell may run for ``--timeout`` seconds
or what is left of the budget when its notebook starts, whichever is less; a notebook not started
before the budget ran out is reported as not run.

Run: ``python benchmarks/gpu_check.py`` on a machine with a CUDA GPU (``--notebooks 00_start_here``
for one notebook). Without a GPU it refuses; ``--allow-cpu --tiny --skip-throughput`` tries the
script itself on a CPU with the small stand-ins.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from course_utils import smoke
from course_utils.instructor import display_name, find_notebooks, notebooks_dir, runcheck

NO_GPU = ("no CUDA GPU: this check needs one; CI rehearses the same notebooks on a CPU with "
          "`course-utils check --size t4 --stand-in`")
SIZE = "t4"
THROUGHPUT_SHARE = 0.25  # of the budget, at most, for the throughput race; the notebooks need the rest
GIB = 2**30
COLUMNS = ("notebook", "result", "cells", "wall", "runs", "tokens/s", "peak GiB", "estimate GiB", "est/peak", "on")
TEXT_COLUMNS = {"notebook", "result", "on"}  # left-aligned; the others are numbers


@dataclass(frozen=True)
class Training:
    """A notebook's training runs added up from its run log."""

    runs: int = 0
    tokens: int = 0
    seconds: float = 0.0
    peak_bytes: int | None = None  # the largest peak of any run (measured on a GPU only)
    estimate_bytes: int | None = None  # the estimate made for that same run
    on: str = ""  # the devices and precisions the runs used, e.g. "cuda bf16"

    @property
    def tokens_per_s(self) -> float | None:
        return self.tokens / self.seconds if self.seconds > 0 else None

    @property
    def estimate_ratio(self) -> float | None:
        """Estimate over measured peak: above 1 the estimate was on the safe side."""
        if not self.peak_bytes or self.estimate_bytes is None:
            return None
        return self.estimate_bytes / self.peak_bytes


def read_run_log(path: Path) -> list[dict]:
    """The records of a run log, one per finished training run; none if no run finished (no file)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summarise(records: list[dict]) -> Training:
    """Runs, tokens and seconds added up, and the largest peak with the estimate of its run (on a CPU,
    where no peak is measured, the largest estimate)."""
    top = max(records, key=lambda r: (r.get("peak_bytes") or 0, r.get("estimate_bytes") or 0), default={})
    on = dict.fromkeys(f"{str(r.get('device', '?')).split(':')[0]} {r.get('precision', '?')}" for r in records)
    return Training(runs=len(records), tokens=sum(r["tokens"] for r in records),
                    seconds=sum(r["seconds"] for r in records), peak_bytes=top.get("peak_bytes"),
                    estimate_bytes=top.get("estimate_bytes"), on=", ".join(on))


@dataclass(frozen=True)
class NotebookResult:
    """One notebook's line of the report."""

    name: str
    error: str | None  # None: every cell ran
    cells: str  # "run/of" code cells
    seconds: float
    training: Training
    claims_not_met: int = 0  # expected with random weights: reported, not failed


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _gib(value: int | None) -> str:
    return _number(None if value is None else value / GIB, ".2f")


def table(results: list[NotebookResult]) -> str:
    """The report: a header, one line per notebook, then the errors of the notebooks that failed."""
    rows = [COLUMNS]
    for r in results:
        t = r.training
        rows.append((r.name, "pass" if r.error is None else "FAIL", r.cells, f"{r.seconds:.1f}s", str(t.runs),
                     _number(t.tokens_per_s, ",.0f"), _gib(t.peak_bytes), _gib(t.estimate_bytes),
                     _number(t.estimate_ratio, ".2f"), t.on))
    widths = [max(map(len, column)) for column in zip(*rows)]
    lines = ["  ".join(cell.ljust(w) if name in TEXT_COLUMNS else cell.rjust(w)
                       for name, cell, w in zip(COLUMNS, row, widths)).rstrip() for row in rows]
    lines += [f"{r.name}: {r.error}" for r in results if r.error is not None]
    return "\n".join(lines)


def throughput_command(tiny: bool) -> list[str]:
    """The throughput race, short enough for the budget: one run per contender, bf16 on the 135M shape."""
    model, steps = ("tiny-base", 4) if tiny else ("smollm2-135m-random", 30)
    return [sys.executable, str(Path(__file__).with_name("sft_throughput.py")), "--model", model,
            "--precision", "bf16", "--steps", str(steps), "--repeats", "1"]


def run_throughput(tiny: bool, timeout_s: float) -> str | None:
    """Run the race as its own process, its output straight to ours; None, or why it failed."""
    command = throughput_command(tiny)
    print(f"\n== throughput: {' '.join(command[1:])} (at most {timeout_s:.0f} s)", flush=True)
    try:
        done = subprocess.run(command, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return f"throughput race stopped after {timeout_s:.0f} s"
    return None if done.returncode == 0 else f"throughput race exited with {done.returncode}"


def run_notebook(path: Path, env: dict[str, str], log: Path, timeout_s: int) -> NotebookResult:
    """Run one notebook at ``t4`` with ``env`` and its own run log; its line of the report."""
    from course_utils.train import RUN_LOG_VAR  # the file each training run appends its JSON line to

    run = runcheck.run_one(path, SIZE, timeout_s, env=env | {RUN_LOG_VAR: str(log)})
    not_met = sum(not claim.held for claim in run.claims)
    return NotebookResult(display_name(path), run.error, f"{run.cells_run}/{run.code_cells}", run.seconds,
                          summarise(read_run_log(log)), not_met)


def skipped(path: Path) -> NotebookResult:
    """The line of a notebook that was not started because the budget was spent."""
    return NotebookResult(display_name(path), "not run: the time budget was spent", "-", 0.0, Training())


def describe_device() -> str | None:
    """The CUDA GPU this process sees, in words, or None without one."""
    import torch

    if not torch.cuda.is_available():
        return None
    properties = torch.cuda.get_device_properties(0)
    return f"{properties.name}, {properties.total_memory / GIB:.0f} GiB, torch {torch.__version__}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", nargs="+", metavar="NAME",
                        help="only these notebooks: paths, or names under notebooks/ with or without .ipynb")
    parser.add_argument("--smoke-steps", type=int, default=20,
                        help="optimizer steps every training run is cut to (enough for a steady tokens/s)")
    parser.add_argument("--budget", type=float, default=480, help="seconds the whole check may take")
    parser.add_argument("--timeout", type=int, default=300, help="seconds one notebook cell may take")
    parser.add_argument("--skip-throughput", action="store_true", help="leave out the throughput race")
    parser.add_argument("--allow-cpu", action="store_true", help="run without a CUDA GPU (to try the script)")
    parser.add_argument("--tiny", action="store_true", help="two-layer stand-ins, as CI's rehearsal uses")
    return parser.parse_args(argv)


def chosen_notebooks(names: list[str] | None) -> list[Path]:
    """Every notebook, or those named: ``00_start_here``, ``ch04/02_sft_end_to_end.ipynb`` or a path."""
    if not names:
        return find_notebooks()
    paths = []
    for name in names:
        under = notebooks_dir() / (name if name.endswith(".ipynb") else f"{name}.ipynb")
        paths.append(under if under.is_file() else Path(name))
    return find_notebooks(paths)


def build_stand_ins(cache: Path, tiny: bool) -> dict[str, str]:
    """Write the stand-ins into the hub cache ``cache``, say how long that took, and return the
    variables under which the kernels load them."""
    from course_utils.instructor import standins  # torch and transformers: imported after the clock started

    started = time.perf_counter()
    standins.build(cache, full_size=not tiny)
    print(f"stand-ins ({'two-layer' if tiny else 'full size'}) of {', '.join(standins.HUB_MODELS)} built "
          f"in {time.perf_counter() - started:.0f} s", flush=True)
    return standins.hub_env(cache)


def run_notebooks(notebooks: list[Path], env: dict[str, str], logs: Path, timeout_s: int,
                  deadline: float) -> list[NotebookResult]:
    """Run the notebooks one by one, no cell past the deadline; those left when it passes are not started."""
    results = []
    for index, path in enumerate(notebooks):
        left = deadline - time.perf_counter()
        if left <= 0:
            results.append(skipped(path))
            continue
        print(f"running {display_name(path)} ...", flush=True)
        results.append(run_notebook(path, env, logs / f"{index:02d}.jsonl", max(1, min(timeout_s, int(left) + 1))))
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()  # the budget counts torch's import too: it is part of the 8 minutes
    deadline = started + args.budget
    device = describe_device()
    if device is None and not args.allow_cpu:
        print(NO_GPU, file=sys.stderr)
        return 2
    notebooks = chosen_notebooks(args.notebooks)
    print(f"GPU check on {device or 'the CPU (--allow-cpu)'}: {len(notebooks)} notebooks at size {SIZE}, "
          f"training runs cut to {args.smoke_steps} steps, budget {args.budget:.0f} s", flush=True)
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as folder:
        cache, logs = Path(folder) / "hub", Path(folder) / "run-logs"
        logs.mkdir()
        stand_ins = build_stand_ins(cache, args.tiny)
        if not args.skip_throughput:
            timeout_s = max(1.0, THROUGHPUT_SHARE * (deadline - time.perf_counter()))
            problems += [why] if (why := run_throughput(args.tiny, timeout_s)) else []
        env = stand_ins | {smoke.ENV_VAR: str(args.smoke_steps)}
        print(f"\n== notebooks at {SIZE} (claims not met are expected with random weights)", flush=True)
        results = run_notebooks(notebooks, env, logs, args.timeout, deadline)
    print(table(results))
    total = time.perf_counter() - started
    failed = sum(r.error is not None for r in results)
    not_met = sum(r.claims_not_met for r in results)
    print(f"{len(results)} notebooks, {failed} failed, {not_met} claims not met (expected); "
          f"{total:.0f} s in all (budget {args.budget:.0f} s)")
    problems += [f"{failed} notebook(s) failed"] if failed else []
    problems += [f"over budget by {total - args.budget:.0f} s"] if total > args.budget else []
    for problem in problems:
        print(f"problem: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
