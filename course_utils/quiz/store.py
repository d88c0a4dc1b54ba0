"""The learner's progress: one local JSON file, safe against crashes and against two notebooks.

Default place ``~/.course_utils/progress.json``; the environment variable
``COURSE_UTILS_PROGRESS`` or the ``path`` argument moves it. Three rules keep it sound:

* every change is a read-modify-write under a lock (``fcntl.flock`` on POSIX, an exclusive
  lock file elsewhere), so two notebooks answering at once lose nothing;
* the new content goes to a temporary file that replaces the old one (``os.replace``), so a
  crash mid-write never leaves half a file;
* a file that cannot be read as progress is moved aside (``progress.json.corrupt-<time>``)
  with a warning, and a fresh record starts: a quiz never crashes over its bookkeeping.

Layout: ``{"version": 1, "learners": {learner: {question id: record}}}``.
"""
from __future__ import annotations

import getpass
import json
import os
import tempfile
import time
import warnings
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

try:
    import fcntl
except ImportError:  # Windows: fall back to an exclusive lock file
    fcntl = None

VERSION = 1
LOCK_TIMEOUT_S = 10.0  # the portable lock gives up (and breaks a stale lock file) after this


class ProgressWarning(UserWarning):
    """The progress file had to be set aside; answers are still recorded in a fresh one."""


def default_path() -> Path:
    """``$COURSE_UTILS_PROGRESS`` if set, else ``~/.course_utils/progress.json``."""
    return Path(os.environ.get("COURSE_UTILS_PROGRESS") or "~/.course_utils/progress.json").expanduser()


def learner_id() -> str:
    """``$COURSE_UTILS_LEARNER`` if set, else the login name: whose answers these are."""
    name = os.environ.get("COURSE_UTILS_LEARNER")
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return "learner"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ProgressStore:
    """Reads and updates one progress file on behalf of one learner."""

    def __init__(self, path: str | Path | None = None, learner: str | None = None):
        self.path = Path(path).expanduser() if path is not None else default_path()
        self.learner = learner or learner_id()

    # -- reading -------------------------------------------------------------------------
    def load(self) -> dict:
        """The whole file (every learner), read under the lock."""
        with self._locked():
            return self._read()

    def records(self, learner: str | None = None) -> dict[str, dict]:
        """This learner's (or ``learner``'s) records by question id."""
        return self.load()["learners"].get(learner or self.learner, {})

    # -- writing -------------------------------------------------------------------------
    def record(self, question_id: str, chapter: str, answer: Any, correct: bool, notebook: str) -> dict:
        """Count one attempt at a question and return the question's updated record."""
        def change(rec: dict) -> None:
            rec["attempts"] += 1
            if rec["attempts"] == 1:
                rec["first_try_correct"] = correct
            rec["correct"] = rec["correct"] or correct  # solved on some attempt
            rec["last_answer"] = answer
            rec["last_correct"] = correct
        return self._update(question_id, chapter, notebook, change)

    def mark_revealed(self, question_id: str, chapter: str, notebook: str) -> dict:
        """Note that the learner asked to see the answer."""
        return self._update(question_id, chapter, notebook, lambda rec: rec.update(revealed=True))

    def _update(self, question_id: str, chapter: str, notebook: str, change: Callable[[dict], None]) -> dict:
        with self._locked():
            data = self._read()
            mine = data["learners"].setdefault(self.learner, {})
            rec = mine.setdefault(question_id, {
                "chapter": chapter, "attempts": 0, "first_try_correct": None, "correct": False,
                "last_answer": None, "last_correct": None, "revealed": False,
                "first_at": _now(), "last_at": None, "learner": self.learner, "notebook": notebook,
            })
            change(rec)
            rec["last_at"] = _now()
            rec["notebook"] = notebook
            self._write(data)
            return dict(rec)

    # -- the file itself -----------------------------------------------------------------------
    def _read(self) -> dict:
        """The file's content, or a fresh one; an unreadable file is moved aside with a warning."""
        if not self.path.exists():
            return {"version": VERSION, "learners": {}}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not _is_progress(data):
                raise ValueError("it does not have the layout of a progress file")
            return data
        except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError
            aside = self._set_aside()
            warnings.warn(
                f"The quiz progress file {self.path} could not be read ({err}). It was moved to "
                f"{aside} and a fresh record was started; your new answers are saved.",
                ProgressWarning, stacklevel=4,
            )
            return {"version": VERSION, "learners": {}}

    def _set_aside(self) -> Path:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while aside.exists():
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
            n += 1
        os.replace(self.path, aside)
        return aside

    def _write(self, data: dict) -> None:
        """Write to a temporary file in the same folder, then swap it in atomically."""
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, sort_keys=True, ensure_ascii=False)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the progress file's lock (a sibling ``.lock`` file) for one read-modify-write."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        if fcntl is not None:
            with open(lock_path, "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        else:
            with _lock_file(lock_path):
                yield


@contextmanager
def _lock_file(lock_path: Path) -> Iterator[None]:
    """A portable lock: whoever creates the lock file exclusively holds it."""
    deadline = time.monotonic() + LOCK_TIMEOUT_S
    while True:
        try:
            fd = os.open(lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            if time.monotonic() > deadline:  # its holder died: break the stale lock
                lock_path.unlink(missing_ok=True)
                deadline = time.monotonic() + LOCK_TIMEOUT_S
            time.sleep(0.01)
    try:
        yield
    finally:
        os.close(fd)
        lock_path.unlink(missing_ok=True)


def _is_progress(data: Any) -> bool:
    return (
        isinstance(data, dict) and data.get("version") == VERSION and isinstance(data.get("learners"), dict)
        and all(isinstance(recs, dict) for recs in data["learners"].values())
    )
