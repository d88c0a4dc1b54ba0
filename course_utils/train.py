"""One training loop for pre-training and supervised fine-tuning, on ``accelerate``.

The loop is meant to be read. Each optimizer step takes ``grad_accum_steps`` micro-batches,
sums the cross-entropy of every target token (labels other than -100) and divides by the
number of target tokens in the whole step, so that accumulating k batches of b rows gives
the same update as one batch of k*b rows. The learning rate warms up linearly, then follows
a cosine down to ``min_lr_ratio`` of its peak. ``accelerate`` supplies mixed precision and
multi-process (DDP) training without a second code path.
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from torch.nn import functional as F
from tqdm.auto import tqdm

from course_utils import checkpoints, smoke
from course_utils.threads import ensure_threads

IGNORE = -100  # the label of a position that is no target: cross-entropy skips it
RUN_LOG_VAR = "COURSE_UTILS_RUN_LOG"  # names a file that gets one JSON line per finished run (throughput, memory)
Batch = dict[str, torch.Tensor]  # input_ids, labels and optionally attention_mask or position_ids
BatchSource = Sequence[Batch] | Callable[[int], Sequence[Batch]]


@dataclass
class TrainConfig:
    """Settings of a run; every field has a default that suits a tiny model on a laptop CPU."""

    max_steps: int = 200  # optimizer steps to run
    max_minutes: float | None = None  # also stop after this much wall time
    grad_accum_steps: int = 1  # micro-batches per optimizer step
    learning_rate: float = 1e-3  # peak learning rate after warm-up
    weight_decay: float = 0.0  # AdamW's decoupled weight decay
    betas: tuple[float, float] = (0.9, 0.95)  # AdamW's decay rates of the gradient's moments
    warmup_steps: int = 10  # steps of linear warm-up from 0 to the peak
    min_lr_ratio: float = 0.1  # the cosine ends at this fraction of the peak
    max_grad_norm: float | None = 1.0  # clip the gradient's global norm (None: no clipping)
    precision: str = "auto"  # "auto", "fp32", "bf16" or "fp16"
    eval_every: int = 0  # evaluate every N steps (0: only at the end, if eval batches are given)
    patience: int | None = None  # stop after this many evaluations without a better val loss
    output_dir: str | None = None  # where checkpoints go (None: no checkpoints)
    save_every: int = 0  # write a checkpoint every N steps (0: only at the end)
    resume: bool = True  # continue from output_dir's checkpoint when one exists
    seed: int = 0  # seeds the batch order and dropout
    progress: bool = True  # show a tqdm progress bar


@dataclass
class TrainState:
    """What a run has done so far: passed to callbacks and returned at the end."""

    step: int = 0
    tokens_seen: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)
    best_val_loss: float = math.inf
    evals_without_improvement: int = 0
    interrupted: bool = False
    stopped_early: bool = False
    elapsed_s: float = 0.0

    @property
    def last(self) -> dict[str, float]:
        return self.history[-1] if self.history else {}

    def summary(self) -> str:
        """What the run did, in one line: steps, tokens and time, then the losses at its start and its end."""
        text = f"{self.step} steps, {self.tokens_seen:,} tokens in {self.elapsed_s:.0f} s"
        if self.history:
            text += f"; training loss {self.history[0]['loss']:.3f} at the first step, {self.last['loss']:.3f} at the last"
        if self.evals:
            text += f"; validation loss {self.evals[-1]['val_loss']:.3f}"
        return text


@dataclass
class TrainResult:
    model: torch.nn.Module
    state: TrainState

    @property
    def history(self) -> list[dict[str, float]]:
        return self.state.history


# -- pieces of the loop ------------------------------------------------------------------
def resolve_precision(precision: str, device: torch.device) -> str:
    """accelerate's mixed-precision name: bf16 where the GPU has it, fp16 on older GPUs, none on CPU."""
    choices = {"auto", "fp32", "bf16", "fp16"}
    if precision not in choices:
        raise ValueError(f"TrainConfig.precision must be one of {sorted(choices)}, got {precision!r}")
    if precision == "auto":
        if device.type != "cuda":
            return "no"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision == "fp16" and device.type == "cpu":
        # accelerate would quietly train in fp32: fp16 autocast and its grad scaler are GPU features.
        raise ValueError("TrainConfig.precision='fp16' needs a GPU; on a CPU choose 'fp32' or 'bf16'")
    return "no" if precision == "fp32" else precision


def lr_at(step: int, config: TrainConfig) -> float:
    """Linear warm-up to the peak, then cosine decay to ``min_lr_ratio`` of it."""
    peak = config.learning_rate
    if step < config.warmup_steps:
        return peak * (step + 1) / config.warmup_steps
    span = max(1, config.max_steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    floor = config.min_lr_ratio * peak
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def token_loss_sum(model: torch.nn.Module, batch: Batch) -> tuple[torch.Tensor, int, int]:
    """Summed next-token cross-entropy over target tokens, their count, and how many were argmax-right.

    Position t predicts token t+1, so the labels drop their first position. Only positions that
    predict a target in some row go through the output layer (``logits_to_keep``): in SFT most
    positions are prompt, and their logits would be computed only to be ignored.
    """
    inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "position_ids")}
    if "attention_mask" in inputs and _right_padded(inputs["attention_mask"]):
        # Under the causal mask no real token can see the padding after it, so the mask changes
        # nothing that is scored; without it, attention takes its faster plain-causal path.
        del inputs["attention_mask"]
    targets = batch["labels"][:, 1:]
    keep = (targets != IGNORE).any(dim=0).nonzero().squeeze(1)
    logits = model(**inputs, use_cache=False, logits_to_keep=keep).logits.float()
    targets = targets[:, keep]
    mask = targets != IGNORE
    loss_sum = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=IGNORE, reduction="sum")
    correct = int(((logits.argmax(-1) == targets) & mask).sum())
    return loss_sum, int(mask.sum()), correct


def _right_padded(attention_mask: torch.Tensor) -> bool:
    """Every row is real tokens first, then padding only."""
    return bool((attention_mask[:, 1:] <= attention_mask[:, :-1]).all())


def to_device(batch: Batch, device: torch.device | str) -> Batch:
    """The batch with every tensor on ``device``, where the model's weights are."""
    return {k: v.to(device) for k, v in batch.items()}


def count_tokens(batch: Batch) -> int:
    """Tokens the model reads in a batch (padding excluded)."""
    if "attention_mask" in batch:
        return int(batch["attention_mask"].sum())
    return batch["input_ids"].numel()


@torch.no_grad()
def evaluate_loss(model: torch.nn.Module, batches: Sequence[Batch], device: torch.device | None = None) -> float:
    """Mean cross-entropy per target token over ``batches`` (the exponent of perplexity)."""
    was_training = model.training
    model.eval()
    device = device or next(model.parameters()).device
    total, count = 0.0, 0
    for batch in batches:
        loss_sum, n, _ = token_loss_sum(model, to_device(batch, device))
        total, count = total + float(loss_sum), count + n
    model.train(was_training)
    if count == 0:
        raise ValueError("evaluate_loss: the batches hold no target tokens (every label is -100)")
    return total / count


def _batches_of_epoch(source: BatchSource, epoch: int, seed: int) -> list[Batch]:
    """The micro-batches of one pass, shuffled by (seed, epoch) so a resumed run sees the same order."""
    batches = list(source(epoch) if callable(source) else source)
    if not callable(source):
        random.Random(seed * 100_003 + epoch).shuffle(batches)
    if not batches:
        raise ValueError("train: the batch source is empty")
    return batches


def _micro_batches(source: BatchSource, seed: int, start: int):
    """Every micro-batch from index ``start`` on, pass after pass."""
    epoch, index = 0, 0
    while True:
        batches = _batches_of_epoch(source, epoch, seed)
        for batch in batches:
            if index >= start:
                yield batch
            index += 1
        epoch += 1


# -- checkpoints and interrupts ---------------------------------------------------------------
def ensure_writable(folder: Path) -> None:
    """Make ``folder`` and write and remove a file in it (an ``OSError`` if that fails): a run that could
    not save its results there should fail before its first step, not after its last."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".write-test-{os.getpid()}"
    probe.write_bytes(b"")
    probe.unlink()


def _checkpoint_path(config: TrainConfig) -> Path | None:
    """Where this run's checkpoint goes, after checking, before any step, that it can be written there."""
    if not config.output_dir:
        if config.save_every:
            raise ValueError(f"TrainConfig.save_every={config.save_every} writes checkpoints into output_dir, "
                             f"which is not set: set output_dir too (or save_every=0)")
        return None
    folder = Path(config.output_dir)
    try:
        ensure_writable(folder)
    except OSError as err:
        raise ValueError(f"TrainConfig.output_dir={config.output_dir!r} cannot be written "
                         f"({err.strerror or err}): choose a folder you can write to") from None
    if config.resume:
        checkpoints.refuse_pickled(folder)
    return folder / checkpoints.CHECKPOINT


def _save(accelerator: Accelerator, path: Path, model, optimizer, state: TrainState, run: dict) -> None:
    if accelerator.is_main_process:
        checkpoints.save(path, accelerator.unwrap_model(model), optimizer, asdict(state), run)
    accelerator.wait_for_everyone()


@contextlib.contextmanager
def _interrupt_after() -> Iterator[None]:
    """Hold back Ctrl-C (SIGINT) until the block ends: an update and its count must happen together,
    or a checkpoint would record one step fewer than the weights took. Outside the main thread,
    where Python delivers no signals, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if pressed and callable(previous):
            previous(signal.SIGINT, None)  # Python's default handler raises KeyboardInterrupt here
        elif pressed and previous == signal.SIG_DFL:
            raise KeyboardInterrupt


# -- the loop ------------------------------------------------------------------------------
def train(
    model: torch.nn.Module,
    train_batches: BatchSource,
    config: TrainConfig | None = None,
    eval_batches: Sequence[Batch] | None = None,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Train ``model`` on micro-batches of ``input_ids``/``labels`` (and a mask or position ids).

    ``train_batches`` is a list (reshuffled every pass) or a function from the pass number to
    a list. Each callback may have any of ``on_step``, ``on_evaluate`` and ``on_end``, called
    with the ``TrainState`` after every step, every evaluation and the run (``plot.LivePlot`` has
    all three). Press stop (KeyboardInterrupt) at any time: the model and history so far are kept.
    In smoke mode (``course_utils.smoke``) the run stops after a few steps. On a GPU, a run whose
    estimated memory exceeds the free memory is refused before its first step (``memory.check_fits``).
    """
    config = config or TrainConfig()
    config = replace(config, max_steps=smoke.cap(config.max_steps, None))  # a few steps in smoke mode
    ensure_threads()
    torch.manual_seed(config.seed)
    device = next(model.parameters()).device
    precision = resolve_precision(config.precision, device)
    accelerator = _accelerator(precision, device)
    run_log = os.environ.get(RUN_LOG_VAR)
    estimate_bytes = _check_memory(model, train_batches, config, precision, accelerator.num_processes, bool(run_log))
    if run_log and device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)  # the run's own peak, for the run log
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=config.learning_rate,
        weight_decay=config.weight_decay, betas=tuple(config.betas),
        # One kernel for all parameters on a GPU, as TRL does. A CPU keeps the per-parameter kernel
        # that built the shipped models, so that they rebuild bit for bit.
        fused=device.type == "cuda",
    )
    checkpoint = _checkpoint_path(config)
    state, run = TrainState(), {}
    if checkpoint:
        settings = {key: getattr(config, key) for key in checkpoints.RUN_SETTINGS}
        run = checkpoints.fingerprint(model, _batches_of_epoch(train_batches, 0, config.seed), settings)
        if config.resume and checkpoint.exists():
            state = TrainState(**checkpoints.load(checkpoint, model, optimizer, run))
            state.interrupted = False  # this run goes on; it ends with its own final evaluation
    model, optimizer = accelerator.prepare(model, optimizer)
    model.train()

    micro = _micro_batches(train_batches, config.seed, start=state.step * config.grad_accum_steps)
    bar = tqdm(total=config.max_steps, initial=state.step, desc="training",
               disable=not (config.progress and accelerator.is_main_process))
    started = time.perf_counter() - state.elapsed_s
    ended_as_planned = False  # at max_steps, early stopping or the time budget: not by an error or an interrupt
    try:
        while state.step < config.max_steps and not state.stopped_early:
            if config.max_minutes is not None and time.perf_counter() - started > 60 * config.max_minutes:
                break
            step_started = time.perf_counter()
            record = _accumulate_gradients(model, optimizer, accelerator, micro, state.step, config)
            with _interrupt_after():  # the update and its count, together
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                _count_step(state, record, step_started, started)
            bar.update(1)
            bar.set_postfix(loss=f"{record['loss']:.3f}", lr=f"{record['lr']:.1e}")
            _call(callbacks, "on_step", state)
            if eval_batches and config.eval_every and state.step % config.eval_every == 0:
                _evaluate(model, eval_batches, accelerator, state, config, callbacks)
            if checkpoint and config.save_every and state.step % config.save_every == 0:
                _save(accelerator, checkpoint, model, optimizer, state, run)
        ended_as_planned = True
    except KeyboardInterrupt:
        state.interrupted = True
        print(f"Interrupted at step {state.step}: the model and its history so far are kept.")
    finally:
        _close_bar(bar, planned=ended_as_planned)
    if eval_batches and not state.interrupted and (not state.evals or state.evals[-1]["step"] != state.step):
        _evaluate(model, eval_batches, accelerator, state, config, callbacks)
    if checkpoint:
        _save(accelerator, checkpoint, model, optimizer, state, run)
    model = accelerator.unwrap_model(model)
    model.eval()
    _call(callbacks, "on_end", state)
    if run_log and accelerator.is_main_process:
        _log_run(Path(run_log), state, device, precision, estimate_bytes)
    return TrainResult(model, state)


def _largest_batch(batches: Sequence[Batch], world: int) -> tuple[int, int]:
    """The most rows (per process) and the longest length among ``batches``: the step that needs most memory."""
    rows = max(math.ceil(b["input_ids"].shape[0] / world) for b in batches)
    return rows, max(b["input_ids"].shape[1] for b in batches)


def _check_memory(model, train_batches: BatchSource, config: TrainConfig, precision: str, world: int,
                  estimate_wanted: bool) -> int | None:
    """The estimated bytes of a step on the first pass's biggest micro-batch, and on a GPU the refusal
    (``memory.MemoryEstimateError``) of a run that would not fit its free memory, before any step.
    None where there is no GPU to check and no estimate ``wanted``, or no Hugging Face config to read."""
    from course_utils import memory  # memory imports this module

    device = next(model.parameters()).device
    free = memory.device_free_bytes(device)
    if (free is None and not estimate_wanted) or getattr(model, "config", None) is None:
        return None
    rows, length = _largest_batch(_batches_of_epoch(train_batches, 0, config.seed), world)
    estimate = memory.estimate_training_memory(model, rows, length, precision)
    if free is not None:
        memory.check_fits(estimate, free, batch_size=rows, seq_len=length, precision=precision,
                          device=str(device), resident_bytes=estimate.weights)  # the weights are there already
    return estimate.total


def _log_run(path: Path, state: TrainState, device: torch.device, precision: str, estimate_bytes: int | None) -> None:
    """Append the run's throughput and memory, estimated and (on a GPU) measured, to the run log as one JSON line."""
    record = {
        "steps": state.step, "tokens": state.tokens_seen, "seconds": round(state.elapsed_s, 3),
        "tokens_per_s": state.tokens_seen / state.elapsed_s if state.elapsed_s else None,
        "device": device.type, "precision": "fp32" if precision == "no" else precision,
        "peak_bytes": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None,
        "estimate_bytes": estimate_bytes,
    }
    with path.open("a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")


def _close_bar(bar: tqdm, planned: bool) -> None:
    """Close the progress bar; a run that stopped as planned before ``max_steps`` (early stopping, the
    time budget) gets a full bar, which a notebook draws green, where tqdm would draw a failure."""
    if planned and bar.total and bar.n < bar.total:
        bar.total = bar.n
        if hasattr(bar, "container"):  # a notebook bar: its widget keeps the old length (as tqdm's reset does)
            bar.container.children[1].max = bar.n
    bar.close()


def _accelerator(mixed_precision: str, device: torch.device) -> Accelerator:
    """An ``Accelerator`` for this run, even when an earlier run in the process chose another precision.

    accelerate keeps one process-wide state and refuses a second precision, so a notebook that
    trains in fp32 and then in bf16 (or after a TRL trainer) would fail. Outside a multi-process
    launch, the state is cleared first, as transformers' Trainer does (``_reset_state``).
    """
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        AcceleratorState._reset_state(reset_partial_state=True)
    return Accelerator(mixed_precision=mixed_precision, cpu=device.type == "cpu")


def _shard(batch: Batch, rank: int, world: int) -> Batch:
    """This process's rows of a micro-batch: rows rank, rank + world, ... (all rows on one process)."""
    if world == 1:
        return batch
    rows = batch["input_ids"].shape[0]
    if rows < world:
        raise ValueError(f"a micro-batch of {rows} rows cannot be shared by {world} processes; use bigger batches")
    return {k: v[rank::world] for k, v in batch.items()}


def _accumulate_gradients(model, optimizer, accelerator: Accelerator, micro, step: int, config: TrainConfig) -> dict[str, float]:
    """The gradient of one update from ``grad_accum_steps`` micro-batches, normalised by their target
    tokens, clipped, and ready for ``optimizer.step()``; returns the step's record.

    Every process reads the same micro-batches and counts all their targets, then works on its
    own share of rows. DDP averages gradients over processes, hence the factor ``world``: the
    update equals that of one process reading every row.
    """
    world, rank = accelerator.num_processes, accelerator.process_index
    batches = [next(micro) for _ in range(config.grad_accum_steps)]
    n_targets = sum(int((b["labels"][:, 1:] != IGNORE).sum()) for b in batches)
    if n_targets == 0:
        raise ValueError(f"step {step + 1}: its batches hold no target tokens (every label is -100)")
    lr = lr_at(step, config)
    for group in optimizer.param_groups:
        group["lr"] = lr
    totals = torch.zeros(3, dtype=torch.float64, device=accelerator.device)  # loss sum, correct, tokens
    for j, batch in enumerate(batches):
        local = {k: v.to(accelerator.device) for k, v in _shard(batch, rank, world).items()}
        sync = j == len(batches) - 1  # gradients are exchanged once, after the last micro-batch
        with (contextlib.nullcontext() if sync else accelerator.no_sync(model)), accelerator.autocast():
            loss_sum, _, correct = token_loss_sum(model, local)
            accelerator.backward(loss_sum * world / n_targets)
        totals += torch.tensor([float(loss_sum.detach()), correct, count_tokens(local)],
                               dtype=torch.float64, device=accelerator.device)
    grad_norm = _grad_norm(model, accelerator, config.max_grad_norm)
    loss_total, correct_total, tokens = accelerator.reduce(totals, reduction="sum").tolist()
    return {"loss": loss_total / n_targets, "lr": lr, "grad_norm": grad_norm,
            "token_accuracy": correct_total / n_targets, "tokens": tokens}


def _count_step(state: TrainState, record: dict[str, float], step_started: float, run_started: float) -> None:
    """Add a finished update to the run's state and history, with its time and throughput."""
    now = time.perf_counter()
    state.step += 1
    state.tokens_seen += int(record["tokens"])
    state.elapsed_s = now - run_started
    record.update(seconds=now - step_started, tokens_per_s=record["tokens"] / (now - step_started),
                  step=state.step, tokens_seen=state.tokens_seen, elapsed_s=state.elapsed_s)
    state.history.append(record)


def _grad_norm(model, accelerator: Accelerator, max_norm: float | None) -> float:
    """Global gradient norm before clipping (clipped to ``max_norm`` when one is set)."""
    params = [p for p in model.parameters() if p.grad is not None]
    limit = max_norm if max_norm is not None else float("inf")
    return float(accelerator.clip_grad_norm_(params, limit))


def _evaluate(model, eval_batches, accelerator: Accelerator, state: TrainState, config: TrainConfig, callbacks) -> None:
    with accelerator.autocast():
        val_loss = evaluate_loss(model, eval_batches, accelerator.device)
    state.evals.append({"step": state.step, "tokens_seen": state.tokens_seen, "val_loss": val_loss,
                        "val_perplexity": math.exp(val_loss)})
    note_validation_loss(state, val_loss, config.patience)
    _call(callbacks, "on_evaluate", state)


def note_validation_loss(state: TrainState, val_loss: float, patience: int | None) -> None:
    """The early-stopping rule: stop after ``patience`` evaluations in a row without a new lowest loss."""
    if val_loss < state.best_val_loss:
        state.best_val_loss, state.evals_without_improvement = val_loss, 0
    else:
        state.evals_without_improvement += 1
        if patience is not None and state.evals_without_improvement >= patience:
            state.stopped_early = True


def early_stop_step(evals: Sequence[dict[str, float]], patience: int) -> int | None:
    """The step at which a run with ``patience`` would have stopped, replaying its evaluations by the
    loop's own rule (None: it would have run to the end)."""
    state = TrainState()
    for record in evals:
        note_validation_loss(state, record["val_loss"], patience)
        if state.stopped_early:
            return int(record["step"])
    return None


class KeepBest:
    """A callback that keeps a copy of ``model``'s weights at the evaluation with the lowest validation loss.

    Early stopping ends a run after the best point; these are the weights to go back to.
    """

    def __init__(self, model: torch.nn.Module):
        self.model, self.weights, self.step = model, None, None

    def on_evaluate(self, state: TrainState) -> None:
        if state.evals[-1]["val_loss"] <= state.best_val_loss:
            self.weights, self.step = copy.deepcopy(self.model.state_dict()), state.step


def _call(callbacks: Sequence[Any], hook: str, state: TrainState) -> None:
    for callback in callbacks:
        method = getattr(callback, hook, None)
        if method is not None:
            method(state)
