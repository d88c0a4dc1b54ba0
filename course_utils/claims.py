"""Named claims: a notebook's headline results, each checked against the range the course expects.

A notebook states every result it is built to show through ``expect``, for example::

    claims.expect("base_vs_tuned.tuned.customer_and_product", rate, at_least=0.8,
                  text="held-out tickets whose summary names the right customer and product")

The learner sees the value measured on their machine beside the expected range, so a result that
differs from the book's is visible at once, and says by how much. A claim that does not hold stops
the run with ``ClaimNotMet``, which names the claim, the value and the range. When
``$COURSE_UTILS_CLAIMS`` names a file (``course-utils check`` sets it), every claim is also written
there, one JSON object a line, so that the check can print all claims of all notebooks. In smoke
mode (``course_utils.smoke``: runs cut to a few steps) a claim that does not hold is shown and recorded
but does not stop the run: the check asks only whether every cell runs.
Small sanity checks (a shape, a count) stay plain ``assert`` statements: a claim is a result.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from course_utils import smoke

ENV_VAR = "COURSE_UTILS_CLAIMS"
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")  # "base_vs_tuned.tuned.format": lower case, dots between parts


class ClaimNotMet(AssertionError):
    """A headline result outside the range the course expects of it."""


@dataclass(frozen=True)
class Claim:
    """One measured result and the range it is expected in (either bound may be open)."""

    name: str
    value: float
    at_least: float | None = None
    at_most: float | None = None
    text: str = ""  # what was measured, in words

    @property
    def held(self) -> bool:
        return (self.at_least is None or self.value >= self.at_least) and \
               (self.at_most is None or self.value <= self.at_most)

    @property
    def expected(self) -> str:
        """The range in words: "at least 0.8", "at most 0.2" or "0.1 to 0.3"."""
        if self.at_least is not None and self.at_most is not None:
            return f"{self.at_least:g} to {self.at_most:g}"
        return f"at least {self.at_least:g}" if self.at_least is not None else f"at most {self.at_most:g}"

    def line(self) -> str:
        """One line for the learner: the claim, the measured value, the expected range, the verdict."""
        verdict = "holds" if self.held else "NOT MET"
        if not self.held and smoke.on():
            verdict += " (a smoke run: not checked)"
        about = f" ({self.text})" if self.text else ""
        return f"claim {self.name}: measured {self.value:.4g}, expected {self.expected}: {verdict}{about}"


def expect(name: str, value: float, *, at_least: float | None = None, at_most: float | None = None,
           text: str = "") -> None:
    """Check a headline result against its range, show both, record it, and stop the run if it fails
    (in smoke mode it goes on).

    Nothing is returned, so a claim on the last line of a cell shows only its printed line."""
    claim = _claim(name, value, at_least, at_most, text)
    log = os.environ.get(ENV_VAR)
    if log:
        with open(log, "a", encoding="utf-8") as f:  # one short line per write: appends do not interleave
            f.write(json.dumps(asdict(claim)) + "\n")
    print(claim.line())
    if not claim.held and not smoke.on():
        raise ClaimNotMet(claim.line())


def _claim(name: str, value: float, at_least: float | None, at_most: float | None, text: str) -> Claim:
    """A checked ``Claim``: a well-formed name, a finite number (or, in smoke mode, any number: NaN holds
    no range), at least one bound, bounds in order."""
    if not NAME.match(name):
        raise ValueError(f"claim name {name!r}: use lower-case words joined by dots, like 'base_vs_tuned.tuned.format'")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"claim {name}: the measured value must be a number, got {type(value).__name__}") from None
    if not math.isfinite(number) and not smoke.on():  # in a smoke run 0/0 is common: there, a claim not met
        raise ValueError(f"claim {name}: the measured value is {number}, not a finite number")
    if at_least is None and at_most is None:
        raise ValueError(f"claim {name}: give at_least, at_most or both")
    if at_least is not None and at_most is not None and at_least > at_most:
        raise ValueError(f"claim {name}: at_least {at_least} is above at_most {at_most}")
    return Claim(name, number, at_least, at_most, text)


def read_claims(path: str | Path) -> list[Claim]:
    """The claims a run wrote to ``path``, in order; a damaged line is named by its number."""
    claims = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            claims.append(Claim(**json.loads(line)))
        except (json.JSONDecodeError, TypeError) as err:
            raise ValueError(f"{path}, line {number}: not a claim ({err})") from None
    return claims
