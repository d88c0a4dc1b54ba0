"""Where the workbook's shipped files live, wherever the package is installed."""
from __future__ import annotations

from pathlib import Path

import course_utils.data as _data


def data_dir() -> Path:
    """The folder of shipped assets (models, corpora, quiz banks).

    In the repository it is the top-level ``data/`` folder; an installed package
    carries the same files as ``course_utils/data``, so notebooks work from any
    working directory.
    """
    return Path(_data.__file__).resolve().parent


def model_dir(name: str) -> Path:
    """The folder of a shipped model such as ``"tiny-base"``."""
    return data_dir() / "models" / name


def quiz_dir() -> Path:
    """The folder of the learner's (hashed) quiz banks."""
    return data_dir() / "quizzes"


def learner_notebooks_dir() -> Path:
    """The learner copies of the notebooks (no solutions) that the package carries."""
    return data_dir() / "notebooks"
