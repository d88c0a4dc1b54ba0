"""The class's run size, chosen in one place and read by every notebook's parameters cell.

There are three sizes, one for each kind of machine a class may have:

- ``cpu``: a laptop or a 2-core runner; the shipped ``tiny-base``, runs of a minute or two;
- ``t4``: a Colab T4 GPU; a small hub model and longer runs;
- ``gpu``: a larger GPU (A100, H100); bigger models and runs.

An instructor who sets a size wins: the environment variable ``COURSE_UTILS_SIZE``, else a
file ``course_utils.yaml`` (``size: t4``), looked for in the working folder, then in each folder
above it, then in the home folder. Where neither is set, the size follows the kernel's hardware
(``hardware_size``): a CUDA GPU of at least 14 GiB (a T4) picks ``t4``, one of at least 39 GiB
(an A100 40GB) picks ``gpu``, anything else ``cpu``. A GPU's choice is printed once per process,
with how to change it; a machine without one gets ``cpu`` quietly. A parameters cell then reads::

    STEPS = settings.pick(cpu=300, t4=2000, gpu=5000)
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TypeVar

import yaml

from course_utils import smoke as smoke_mode  # "smoke" is a keyword of pick

SIZES = ("cpu", "t4", "gpu")
ENV_VAR = "COURSE_UTILS_SIZE"
FILE_NAME = "course_utils.yaml"
T4_MIN_GIB = 14.0  # a Colab T4 reports about 14.7 GiB of its 16 GB
GPU_MIN_GIB = 39.0  # an A100 40GB reports about 39.4 GiB
T = TypeVar("T")


def _from_file() -> tuple[str, Path] | None:
    # The working folder and its parents (a kernel runs in the notebook's folder, the file may
    # sit at the course's root), then the home folder.
    here = Path.cwd().resolve()
    for folder in (here, *here.parents, Path.home()):
        path = folder / FILE_NAME
        if path.is_file():
            settings = yaml.safe_load(path.read_text()) or {}
            if not isinstance(settings, dict) or "size" not in settings:
                raise ValueError(f"{path}: expected a line 'size: cpu', 'size: t4' or 'size: gpu'")
            return str(settings["size"]), path
    return None


def _cuda_gpu() -> tuple[str, float] | None:
    """The name and total memory in GiB of the kernel's first CUDA GPU, or None without one."""
    import torch  # here, not at the top: every parameters cell imports this module, often with a size set

    if not torch.cuda.is_available():
        return None
    properties = torch.cuda.get_device_properties(0)
    return properties.name, properties.total_memory / 2**30


def _size_for_memory(gib: float) -> str:
    """The largest size whose runs fit in a GPU of ``gib`` GiB."""
    if gib >= GPU_MIN_GIB:
        return "gpu"
    return "t4" if gib >= T4_MIN_GIB else "cpu"


def hardware_size() -> str:
    """The size this kernel's hardware can take, whatever the class set: 'cpu', 't4' or 'gpu'."""
    gpu = _cuda_gpu()
    return "cpu" if gpu is None else _size_for_memory(gpu[1])


@functools.cache
def _hardware_default() -> str:
    """``hardware_size``, said once per process where a GPU is found (notebooks call ``pick`` many times)."""
    gpu = _cuda_gpu()
    if gpu is None:
        return "cpu"  # laptops and CI: the quiet default, no new line in every notebook's output
    name, gib = gpu
    chosen = _size_for_memory(gib)
    if chosen == "cpu":
        reason = f"as the GPU found ({name}, {gib:.1f} GiB) has less than the {T4_MIN_GIB:.0f} GiB the t4 runs need"
    else:
        reason = f"chosen for the GPU found ({name}, {gib:.1f} GiB)"
    example = "t4" if chosen == "cpu" else "cpu"
    print(f"course_utils: run size {chosen}, {reason}; to choose another, "
          f"set {ENV_VAR}={'|'.join(SIZES)} or put 'size: {example}' in {FILE_NAME}")
    return chosen


def size() -> str:
    """The run size of this class: from $COURSE_UTILS_SIZE, a course_utils.yaml file, or the hardware."""
    if os.environ.get(ENV_VAR):
        value, where = os.environ[ENV_VAR], f"${ENV_VAR}"
    elif (found := _from_file()) is not None:
        value, where = found[0], str(found[1])
    else:
        return _hardware_default()
    if value not in SIZES:
        raise ValueError(f"{where}: run size must be one of {list(SIZES)}, got {value!r}")
    return value


def pick(cpu: T, t4: T, gpu: T, smoke: T | None = None) -> T:
    """The value for this class's run size; in a smoke run (``course_utils.smoke``) ``smoke``, where given.

    A smoke run asks only whether every cell runs, so a count that costs time without reaching new
    code (held-out rows scored, seeds of a sweep, rows per batch) may name a smaller value there."""
    if smoke is not None and smoke_mode.on():
        return smoke
    return {"cpu": cpu, "t4": t4, "gpu": gpu}[size()]
