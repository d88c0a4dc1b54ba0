"""How many CPU threads torch should use, chosen so a notebook never oversubscribes the machine.

On a small machine whose other cores are busy, torch's intra-op threads wait for each other
and a step can run several times slower with 2 threads than with 1. So the library counts the
cores that are free right now and uses that many (at least one), and says what it chose.
"""
from __future__ import annotations

import os

import torch

ENV_VAR = "COURSE_UTILS_THREADS"
_chosen: int | None = None


def available_cores() -> int:
    """Cores this process may run on (respects CPU affinity and container limits)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no sched_getaffinity
        return os.cpu_count() or 1


def busy_cores() -> int:
    """Cores kept busy by other programs, from the one-minute load average (0 where unknown)."""
    try:
        return round(os.getloadavg()[0])
    except (AttributeError, OSError):
        return 0


def recommended_threads(cores: int | None = None, busy: int | None = None) -> int:
    """Free cores, at least 1 and at most 8 (tiny models gain nothing from more)."""
    cores = available_cores() if cores is None else cores
    busy = busy_cores() if busy is None else busy
    return max(1, min(cores - busy, 8))


def configure_threads(n: int | None = None, verbose: bool = True) -> int:
    """Set torch's thread count: ``n``, else $COURSE_UTILS_THREADS, else the free cores.

    Called once by ``load_model`` and the training loop; call it yourself to change the choice.
    """
    global _chosen
    if n is None and os.environ.get(ENV_VAR):
        value = os.environ[ENV_VAR]
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{ENV_VAR} must be a positive whole number of threads, got {value!r}")
        n = int(value)
    reason = "as asked" if n is not None else f"{available_cores()} cores, about {busy_cores()} busy"
    n = recommended_threads() if n is None else n
    torch.set_num_threads(n)
    if verbose and n != _chosen:
        print(f"course_utils: torch uses {n} CPU thread{'s' if n > 1 else ''} ({reason}; set {ENV_VAR} to change)")
    _chosen = n
    return n


def ensure_threads() -> int:
    """Configure threads the first time only, so a learner's own choice is kept afterwards."""
    return _chosen if _chosen is not None else configure_threads()
