"""The class's run size, chosen in one place and read by every notebook's parameters cell.

An instructor picks a size for the machines the class has:

- ``cpu``: a laptop or a 2-core runner; the shipped ``tiny-base``, runs of a minute or two;
- ``t4``: a Colab T4 GPU; a small hub model and longer runs;
- ``gpu``: a larger GPU (A100, H100); bigger models and runs.

The size comes from the environment variable ``COURSE_UTILS_SIZE``, else from a file
``course_utils.yaml`` (``size: t4``) in the working directory or the home folder, else
``cpu``. The file is looked for in the working folder, then in each folder above it, then in
the home folder. A parameters cell then reads::

    STEPS = settings.pick(cpu=300, t4=2000, gpu=5000)
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

import yaml

SIZES = ("cpu", "t4", "gpu")
ENV_VAR = "COURSE_UTILS_SIZE"
FILE_NAME = "course_utils.yaml"
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


def size() -> str:
    """The run size of this class: from $COURSE_UTILS_SIZE, a course_utils.yaml file, or 'cpu'."""
    if os.environ.get(ENV_VAR):
        value, where = os.environ[ENV_VAR], f"${ENV_VAR}"
    elif (found := _from_file()) is not None:
        value, where = found[0], str(found[1])
    else:
        return "cpu"
    if value not in SIZES:
        raise ValueError(f"{where}: run size must be one of {list(SIZES)}, got {value!r}")
    return value


def pick(cpu: T, t4: T, gpu: T) -> T:
    """The value for this class's run size."""
    return {"cpu": cpu, "t4": t4, "gpu": gpu}[size()]
