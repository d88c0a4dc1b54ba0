"""The learner's progress: one local JSON file, safe against crashes and against two notebooks.

Default place ``~/.course_utils/progress.json``; the environment variable
``COURSE_UTILS_PROGRESS`` or the ``path`` argument moves it. Three rules keep it sound:

* every change is a read-modify-write under a lock (``fcntl.flock`` on POSIX, an exclusive
  lock file elsewhere), so two notebooks answering at once lose nothing;
* the new content goes to a temporary file that replaces the old one (``os.replace``), so a
  crash mid-write never leaves half a file;
* a file that cannot be read as progress is moved aside (``progress.json.corrupt-<time>``)
  with a warning, and a fresh record starts: a quiz never crashes over its bookkeeping.

Layout: ``{"version": 1, "learner": name, "learners": {learner: {question id: record}}}``.

Whose answers these are, first that applies: the ``learner`` given to :class:`ProgressStore`,
``$COURSE_UTILS_LEARNER``, the name saved in the file's top-level ``"learner"`` (by
:meth:`ProgressStore.set_learner`, which the quiz widget calls when the learner types their
name), else the login name. A login name tells nobody apart where everyone has the same one:
on Colab (every kernel runs as ``root``) and under :data:`SHARED_LOGINS`. There the store
:attr:`~ProgressStore.needs_name`: answers are still recorded, under the login name, and move
to the learner's name once it is given, so nothing answered before is lost. The name is kept
in the file, so later quizzes and later kernels on the same machine use it too.
"""
from __future__ import annotations

import getpass
import json
import os
import sys
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


LEARNER_ENV = "COURSE_UTILS_LEARNER"  # a name set here wins over any other
# Logins that many people share, so they cannot tell learners apart: Colab and docker images run
# as root, the Jupyter docker stacks (JupyterHub) as jovyan, cloud and lab images as ubuntu, user,
# colab, admin or student; "learner" is what this module uses where there is no login name at all.
SHARED_LOGINS = frozenset({"root", "jovyan", "user", "ubuntu", "colab", "admin", "student", "learner"})


def login_name() -> str:
    """The login name, or ``"learner"`` in containers that have none."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "learner"


def on_colab() -> bool:
    """Whether this kernel runs on Google Colab, where every learner's login is ``root``."""
    return "google.colab" in sys.modules


def is_shared_login(name: str) -> bool:
    """Whether ``name`` is one of :data:`SHARED_LOGINS` (in any case), so it names nobody in particular."""
    return name.strip().lower() in SHARED_LOGINS


def clean_name(name: str) -> str:
    """``name`` with its spaces tidied; a ValueError says why it cannot tell this learner apart."""
    tidy = " ".join(name.split())
    if not tidy:
        raise ValueError("The name is empty: type your name, for example Ada Lovelace.")
    if not any(ch.isalnum() for ch in tidy):
        raise ValueError(f"{tidy!r} has no letter or digit in it: type your name, for example Ada Lovelace.")
    if is_shared_login(tidy):
        raise ValueError(f"{tidy!r} is a login name that many learners share, so it cannot tell you apart: "
                         f"type your own name, for example Ada Lovelace.")
    return tidy


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ProgressStore:
    """Reads and updates one progress file on behalf of one learner."""

    def __init__(self, path: str | Path | None = None, learner: str | None = None):
        self.path = Path(path).expanduser() if path is not None else default_path()
        self.given = learner  # a caller's choice (tests, the gradebook's readers) wins over everything

    # -- whose answers -------------------------------------------------------------------
    @property
    def learner(self) -> str:
        """The name answers are recorded under now (see the module docstring for the order)."""
        return self._learner_in(self.load())

    @property
    def needs_name(self) -> bool:
        """True where nobody said who answers and the login cannot tell: on Colab or a shared login."""
        return self._named_in(self.load()) is None and (on_colab() or is_shared_login(login_name()))

    def _named_in(self, data: dict) -> str | None:
        return self.given or os.environ.get(LEARNER_ENV) or data.get("learner")

    def _learner_in(self, data: dict) -> str:
        return self._named_in(data) or login_name()

    def set_learner(self, name: str) -> str:
        """Save ``name`` in the file as this machine's learner and move the answers kept so far to it.

        Answers recorded under the previous name (the login name, or a name given before and now
        corrected) become this name's, so an answer given before the name was asked for still counts.
        ``$COURSE_UTILS_LEARNER`` still wins while it is set. Returns the name as saved.
        """
        name = clean_name(name)
        with self._locked():
            data = self._read()
            previous = data.get("learner") or login_name()
            data["learner"] = name
            if previous != name:
                moved = data["learners"].pop(previous, {})
                mine = data["learners"].setdefault(name, {})
                for question_id, rec in moved.items():
                    mine[question_id] = _merged(mine[question_id], rec) if question_id in mine else rec
                    mine[question_id]["learner"] = name
            self._write(data)
        return name

    # -- reading -------------------------------------------------------------------------
    def load(self) -> dict:
        """The whole file (every learner), read under the lock."""
        with self._locked():
            return self._read()

    def records(self, learner: str | None = None) -> dict[str, dict]:
        """This learner's (or ``learner``'s) records by question id."""
        data = self.load()
        return data["learners"].get(learner or self._learner_in(data), {})

    def hand_in(self) -> dict:
        """This learner's records alone, under their name: the content of a progress file to hand in."""
        data = self.load()
        name = self._learner_in(data)
        return {"version": VERSION, "learner": name, "learners": {name: data["learners"].get(name, {})}}

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
            learner = self._learner_in(data)  # read with the file: a name given meanwhile counts at once
            mine = data["learners"].setdefault(learner, {})
            rec = mine.setdefault(question_id, {
                "chapter": chapter, "attempts": 0, "first_try_correct": None, "correct": False,
                "last_answer": None, "last_correct": None, "revealed": False,
                "first_at": _now(), "last_at": None, "learner": learner, "notebook": notebook,
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


def _merged(kept: dict, moved: dict) -> dict:
    """Two records of one question as one: attempts add up; the first try is the earlier, the last answer the later."""
    first = min(kept, moved, key=lambda rec: rec.get("first_at") or "")
    last = max(kept, moved, key=lambda rec: rec.get("last_at") or "")
    return {
        **last, "attempts": kept["attempts"] + moved["attempts"],
        "first_try_correct": first["first_try_correct"], "first_at": first["first_at"],
        "correct": kept["correct"] or moved["correct"], "revealed": kept["revealed"] or moved["revealed"],
    }


def _is_progress(data: Any) -> bool:
    return (
        isinstance(data, dict) and data.get("version") == VERSION and isinstance(data.get("learners"), dict)
        and all(isinstance(recs, dict) for recs in data["learners"].values())
        and isinstance(data.get("learner", ""), str)
    )
