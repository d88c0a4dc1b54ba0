"""Question banks: the YAML schema, its validation, and checking an answer.

One YAML file per chapter. The instructor's bank (``instructor/quizzes/ch04.yaml``) states
the answers (``correct:`` for choice questions, ``answer:`` for numeric ones) and plain
explanations; the learner's bank (``data/quizzes/ch04.yaml``) is built from it by
``python -m course_utils.quiz.build`` and holds check values and sealed text instead
(see ``keys.py``). Both are validated here, and every error names the file, the question
and the field, so a typo in a bank is found before a learner meets it.

A question (instructor form)::

    - id: ch04.s1                      # chapter, a dot, then a short name
      concepts: [S1, C01, C02]         # what it tests: C01-C21, S1-S5 or a Ch.2 topic
      type: single                     # single | multiple | numeric | predict
      notebook: ch04/01_base_vs_instruct.ipynb
      section: "Same prompt, two models"
      prompt: |                        # Markdown, may hold $math$
        ...
      options:                         # choice types; text is plain (shown in a radio button)
        a: {text: "...", feedback: "why this option is right or wrong"}
      correct: b                       # a list of keys for `multiple`
      hint: "..."
      explanation: "..."

A question whose numbers come from the run declares them under ``values`` and writes them as
``{{name}}`` fields (see ``template.py``); the notebook passes them to ``quiz.show``::

      values:
        n_test: {about: "held-out tickets the notebook scores", example: 50}

Numeric questions have ``answer`` (a number, or an expression of the values), ``tolerance``
(a number, or a string such as ``"10%"`` for a relative tolerance), an optional ``unit`` and
optional ``feedback: {below, above}`` for answers that miss low or high. Predict questions are
single-choice questions whose options may give the ``range: [low, high]`` of measured values
they stand for (each end a number, or an expression of the values).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml

from course_utils.quiz import keys, template
from course_utils.quiz.store import ProgressStore

CONCEPTS = {
    "C01": "Definition of LLM alignment",
    "C02": "Instruction-following ability",
    "C03": "SFT as labelled-data fine-tuning",
    "C04": "Objective of SFT: maximum likelihood",
    "C05": "SFT as a post-training phase",
    "C06": "Definition and characteristics of SFT datasets",
    "C07": "Size and specialisation of SFT datasets",
    "C08": "SFT data versus pre-training data",
    "C09": "Instruction tuning: many tasks in one SFT run",
    "C10": "Instruction data generation and collection",
    "C11": "Designing a dataset to adapt behaviour",
    "C12": "Generalisation from SFT",
    "C13": "Suitability for well-defined tasks",
    "C14": "Suitability of fine-tuning for human values",
    "C15": "Computational expense of SFT",
    "C16": "Embedding task knowledge in parameters",
    "C17": "Adapting a model to a new task",
    "C18": "Diagnosing and correcting unintended behaviour",
    "C19": "Undesirable content after SFT",
    "C20": "Example of SFT: question answering",
    "C21": "Practical implementation challenges",
}
SCENARIOS = {
    "S1": "Base model versus tuned model on one instruction",
    "S2": "The best instruction-response pair",
    "S3": "Adapting a model to summarise support tickets",
    "S4": "SFT data versus pre-training data",
    "S5": "Training on thousands of contract summaries",
}
TOPICS = {
    "T-next-token": "Next-token prediction",
    "T-tokenisation": "Tokenisation",
    "T-perplexity": "Cross-entropy and perplexity",
    "T-transformer": "The decoder-only Transformer",
    "T-pretraining": "Pre-training a small model",
    "T-pretrain-cost": "The cost of pre-training (about 6·N·D FLOPs)",
    "T-decoding": "Decoding: greedy, temperature, top-k, top-p",
}
KNOWN_IDS = {**CONCEPTS, **SCENARIOS, **TOPICS}
TYPES = ("single", "multiple", "numeric", "predict")
CHOICE_TYPES = ("single", "multiple", "predict")

_QUESTION_ID = re.compile(r"^(ch\d\d)\.[a-z0-9][a-z0-9-]*$")
_OPTION_KEY = re.compile(r"^[a-z]$")
_NOTEBOOK = re.compile(r"^(ch\d\d)/\d\d_[a-z0-9_]+\.ipynb$")


class BankError(ValueError):
    """A question bank that does not follow the schema; the message says where."""


@dataclass(frozen=True)
class Option:
    """One choice of a question, with the check value that says whether it is right."""

    key: str
    text: str
    feedback: str
    check: str
    range: tuple[float | str, float | str] | None = None  # predict questions: the measured values it stands for


@dataclass(frozen=True)
class Feedback:
    """What a learner is told after answering; ``text`` starts with ✓ or ✗ so colour is not needed."""

    question_id: str
    correct: bool
    text: str
    answer: Any  # the answer as understood: a key, a sorted list of keys or a number

    def _repr_markdown_(self) -> str:
        """How a notebook shows ``question.answer(...)``: the feedback, one line each."""
        return self.text.replace("\n", "  \n")


@dataclass(frozen=True)
class Question:
    """A question of a learner bank; it checks answers without holding the key."""

    id: str
    chapter: str
    type: str
    concepts: tuple[str, ...]
    prompt: str
    hint: str
    notebook: str
    section: str
    salt: str
    sealed: dict[str, str]
    options: tuple[Option, ...] = ()
    tolerance: str | float | None = None
    unit: str = ""
    feedback: dict[str, str] = field(default_factory=dict)  # numeric: text for answers below/above
    values: dict[str, dict] = field(default_factory=dict)  # declared: name -> {about, example}
    given: dict[str, Any] | None = None  # the values the notebook passed, once filled

    # -- numbers from the notebook -----------------------------------------------------
    @property
    def needs_values(self) -> bool:
        """Whether this question waits for numbers from the notebook before it can be shown."""
        return bool(self.values) and self.given is None

    def with_values(self, **given: Any) -> "Question":
        """This question with its ``{{...}}`` fields filled from ``given`` (one value per declared name)."""
        missing = [name for name in self.values if name not in given]
        unknown = sorted(set(given) - set(self.values))
        if unknown:
            raise ValueError(f"{self.id} takes no value named {', '.join(map(repr, unknown))}"
                             + (f"; it takes {', '.join(self.values)}" if self.values else "; it takes none"))
        if missing:
            raise ValueError(f"{self.id} needs {self.values_wanted(missing)}")
        for name, value in given.items():
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ValueError(f"{self.id}: value {name!r} must be a number or text, got {value!r}")
        return replace(
            self, given=dict(given), prompt=template.fill(self.prompt, given), hint=template.fill(self.hint, given),
            options=tuple(replace(o, text=template.fill(o.text, given), feedback=template.fill(o.feedback, given),
                                  range=o.range and tuple(_bound(end, given) for end in o.range))
                          for o in self.options),
            feedback={side: template.fill(text, given) for side, text in self.feedback.items()},
        )

    def with_examples(self) -> "Question":
        """This question filled with the examples its bank gives for its values (as at size cpu)."""
        return self.with_values(**examples(self.values)) if self.values else self

    def values_wanted(self, names: Iterable[str] | None = None) -> str:
        """The values ``names`` (all by default) as a notebook passes them, each with what it is."""
        names = list(self.values if names is None else names)
        call = ", ".join(f"{name}=..." for name in names)
        about = "; ".join(f"{name}: {self.values[name]['about']}" for name in names)
        return f"values from the notebook: quiz.show({self.id!r}, {call}) ({about})"

    def _ready(self) -> None:
        """Refuse to mark or explain a question whose text still waits for the notebook's numbers."""
        if self.needs_values:
            raise ValueError(f"{self.id} needs {self.values_wanted()}")

    # -- answering -------------------------------------------------------------------
    def answer(self, choice: Any, store: ProgressStore | None = None) -> Feedback:
        """Check ``choice`` and record the attempt in the learner's progress file."""
        feedback = self.check(choice)
        (store or ProgressStore()).record(self.id, self.chapter, feedback.answer, feedback.correct, self.notebook)
        return feedback

    def check(self, answer: Any) -> Feedback:
        """Mark ``answer`` (an option key, a list of keys, or a number) and explain the mark."""
        self._ready()
        if self.type == "numeric":
            return self._check_number(answer)
        if self.type == "multiple":
            return self._check_keys(answer)
        return self._check_key(answer)

    def option(self, key: str) -> Option:
        """The option called ``key``; a ValueError lists the keys there are."""
        for opt in self.options:
            if opt.key == key:
                return opt
        raise ValueError(f"{self.id}: {key!r} is not an option; choose one of {', '.join(self.option_keys)}")

    @property
    def option_keys(self) -> list[str]:
        return [opt.key for opt in self.options]

    def is_right(self, key: str) -> bool:
        """Whether option ``key`` is one of the right ones (checked against its hash)."""
        return keys.is_correct_option(self.salt, self.id, key, self.option(key).check)

    def _check_key(self, answer: Any) -> Feedback:
        key = _normalise_key(answer)
        opt = self.option(key)
        right = self.is_right(key)
        prefix = "✓ Correct" if right else "✗ Not quite"
        return Feedback(self.id, right, f"{prefix}: ({key}) {opt.feedback}", key)

    def _check_keys(self, answer: Any) -> Feedback:
        chosen = sorted({_normalise_key(k) for k in _as_key_list(answer)})
        lines = []
        for key in chosen:
            mark = "✓" if self.is_right(key) else "✗"
            lines.append(f"{mark} ({key}) {self.option(key).feedback}")
        missing = [k for k in self.option_keys if self.is_right(k) and k not in chosen]
        wrong = [k for k in chosen if not self.is_right(k)]
        right = not missing and not wrong
        if missing:
            lines.append("✗ At least one more option is right: look again at those you left unticked.")
        head = "✓ Correct: you ticked exactly the right options." if right else "✗ Not quite:"
        return Feedback(self.id, right, "\n".join([head, *lines]), chosen)

    def _check_number(self, answer: Any) -> Feedback:
        try:
            value = float(answer)
        except (TypeError, ValueError):
            raise ValueError(f"{self.id}: expected a number, got {answer!r}") from None
        target = self.expected_value()
        allowed = tolerance_width(self.tolerance, target)
        shown = f"{value:g}{' ' + self.unit if self.unit else ''}"
        if abs(value - target) <= allowed:
            within = f" is within the accepted ±{self.tolerance}" if self.tolerance else ""
            return Feedback(self.id, True, f"✓ Correct: {shown}{within}.", value)
        side = "below" if value < target else "above"
        note = self.feedback.get(side, "")
        text = f"✗ Not quite: {shown} is too {'low' if side == 'below' else 'high'}. {note}".rstrip()
        return Feedback(self.id, False, text, value)

    def expected_value(self) -> float:
        """A numeric question's answer, unsealed (and worked out from the values, if it uses them)."""
        self._ready()
        answer = keys.unseal(self.salt, self.id, "value", self.sealed["value"])
        return float(template.evaluate(answer, self.given or {}))

    # -- revealing -------------------------------------------------------------------
    def explanation(self) -> str:
        """The explanation, unsealed: show it once the learner has tried."""
        self._ready()
        text = keys.unseal(self.salt, self.id, "explanation", self.sealed["explanation"])
        return template.fill(text, self.given or {})

    def solution(self) -> str:
        """The answer in words: the right option(s) or the expected value."""
        if self.type == "numeric":
            value = self.expected_value()
            unit = f" {self.unit}" if self.unit else ""
            accepted = f" (answers within ±{self.tolerance} count as right)" if self.tolerance else ""
            return f"The expected value is {value:g}{unit}{accepted}."
        right = [opt for opt in self.options if self.is_right(opt.key)]
        listed = "; ".join(f"({opt.key}) {opt.text}" for opt in right)
        return f"The right answer{'s are' if len(right) > 1 else ' is'}: {listed}"

    def option_for(self, measured: float) -> Option | None:
        """The predict option whose range holds a measured value, if the options have ranges."""
        self._ready()
        for opt in self.options:
            if opt.range is not None and opt.range[0] <= measured <= opt.range[1]:
                return opt
        return None


@dataclass(frozen=True)
class Bank:
    """A chapter's learner bank: its questions in order, found by id."""

    chapter: str
    title: str
    path: Path
    questions: tuple[Question, ...]

    def __getitem__(self, question_id: str) -> Question:
        for q in self.questions:
            if q.id == question_id:
                return q
        raise KeyError(question_id)


def _bound(end: float | str, values: dict[str, Any]) -> float:
    """One end of a predict option's range: a number, or an expression of the question's values."""
    return float(template.evaluate(end, values)) if isinstance(end, str) else float(end)


def tolerance_width(tolerance: str | float | None, target: float) -> float:
    """The allowed distance from ``target``: a number is absolute, ``"10%"`` is relative."""
    if isinstance(tolerance, str) and tolerance.endswith("%"):
        return abs(target) * float(tolerance[:-1]) / 100
    return float(tolerance or 0.0)


def _normalise_key(answer: Any) -> str:
    """``"B"``, ``" b "`` and ``"(b)"`` all mean option b."""
    if not isinstance(answer, str):
        raise ValueError(f"expected an option key such as 'b', got {answer!r}")
    return answer.strip().strip("()").strip().lower()


def _as_key_list(answer: Any) -> list[str]:
    """A multiple-choice answer as keys: a list, a set, or a string such as ``"a, c"``."""
    if isinstance(answer, str):
        return [part for part in re.split(r"[\s,;]+", answer) if part]
    return list(answer)


# -- reading and validating YAML ------------------------------------------------------------
def read_yaml(path: Path) -> dict:
    """A bank file as a mapping, with a BankError naming the file if it is not one."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise BankError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise BankError(f"{path}: expected a mapping with 'chapter', 'title', 'salt' and 'questions'")
    return data


class _Where:
    """Builds error messages that point at a file, a question and a field."""

    def __init__(self, path: Path, question_id: str | None = None):
        self.path, self.question_id = path, question_id

    def error(self, field_name: str, problem: str) -> BankError:
        where = f"{self.path}"
        if self.question_id:
            where += f", question {self.question_id}"
        return BankError(f"{where}, field '{field_name}': {problem}")

    def text(self, mapping: dict, name: str, label: str | None = None) -> str:
        value = mapping.get(name)
        if not isinstance(value, str) or not value.strip():
            raise self.error(label or name, "missing or empty (expected text)")
        return value


def validate_bank(data: dict, path: Path, kind: str) -> None:
    """Raise a BankError unless ``data`` is a bank of ``kind`` ("instructor" or "learner")."""
    where = _Where(path)
    if data.get("kind") != kind:
        raise where.error("kind", f"expected {kind!r}, found {data.get('kind')!r}")
    chapter = where.text(data, "chapter")
    if not re.fullmatch(r"ch\d\d", chapter):
        raise where.error("chapter", f"expected a name such as 'ch04', found {chapter!r}")
    where.text(data, "title")
    where.text(data, "salt")
    questions = data.get("questions")
    if not isinstance(questions, list) or not questions:
        raise where.error("questions", "expected a non-empty list of questions")
    seen: set[str] = set()
    for i, q in enumerate(questions):
        if not isinstance(q, dict):
            raise where.error(f"questions[{i}]", "expected a mapping")
        qid = q.get("id")
        if not isinstance(qid, str) or not _QUESTION_ID.match(qid) or not qid.startswith(chapter + "."):
            raise where.error(f"questions[{i}].id", f"expected '{chapter}.<name>' (lower case), found {qid!r}")
        if qid in seen:
            raise where.error(f"questions[{i}].id", f"{qid} appears twice")
        seen.add(qid)
        _validate_question(q, _Where(path, qid), chapter, kind)


_COMMON_FIELDS = {"id", "concepts", "type", "prompt", "hint", "notebook", "section", "values"}
_FIELDS = {
    ("instructor", "choice"): _COMMON_FIELDS | {"options", "correct", "explanation"},
    ("instructor", "numeric"): _COMMON_FIELDS | {"answer", "tolerance", "unit", "feedback", "explanation"},
    ("learner", "choice"): _COMMON_FIELDS | {"options", "sealed"},
    ("learner", "numeric"): _COMMON_FIELDS | {"tolerance", "unit", "feedback", "sealed"},
}


def _validate_question(q: dict, where: _Where, chapter: str, kind: str) -> None:
    qtype = q.get("type")
    if qtype not in TYPES:
        raise where.error("type", f"expected one of {', '.join(TYPES)}, found {qtype!r}")
    family = "numeric" if qtype == "numeric" else "choice"
    unknown = set(q) - _FIELDS[kind, family]
    if unknown:
        raise where.error(sorted(unknown)[0], f"not a field of a {kind} {qtype} question")
    concepts = q.get("concepts")
    if not isinstance(concepts, list) or not concepts:
        raise where.error("concepts", "expected a non-empty list such as [C03, C04]")
    for concept in concepts:
        if concept not in KNOWN_IDS:
            raise where.error("concepts", f"unknown id {concept!r} (known: C01-C21, S1-S5, {', '.join(TOPICS)})")
    for name in ("prompt", "hint", "section"):
        where.text(q, name)
    notebook = where.text(q, "notebook")
    match = _NOTEBOOK.match(notebook)
    if not match or match.group(1) != chapter:
        raise where.error("notebook", f"expected '{chapter}/NN_name.ipynb', found {notebook!r}")
    if family == "choice":
        _validate_options(q, where, kind)
    else:
        _validate_numeric(q, where, kind)
    if kind == "instructor":
        where.text(q, "explanation")
    else:
        sealed = q.get("sealed")
        needed = {"explanation", "value"} if family == "numeric" else {"explanation"}
        if not isinstance(sealed, dict) or set(sealed) != needed:
            raise where.error("sealed", f"expected a mapping with {sorted(needed)}")
    _validate_values(q, where, kind)


def question_texts(q: dict) -> Iterator[tuple[str, str]]:
    """(field, text) of every text of a bank question that may hold ``{{...}}`` fields."""
    for name in ("prompt", "hint", "explanation"):
        if isinstance(q.get(name), str):
            yield name, q[name]
    for key, opt in (q.get("options") or {}).items():
        yield f"options.{key}.text", opt["text"]
        yield f"options.{key}.feedback", opt["feedback"]
        for end in opt.get("range") or []:
            if isinstance(end, str):
                yield f"options.{key}.range", "{{" + end + "}}"
    for side, text in (q.get("feedback") or {}).items():
        yield f"feedback.{side}", text
    if isinstance(q.get("answer"), str):
        yield "answer", "{{" + q["answer"] + "}}"


def examples(declared: dict) -> dict:
    """The example of each value a question declares: the numbers it shows at size cpu, and in the answer key."""
    return {name: spec.get("example") for name, spec in declared.items() if isinstance(spec, dict)}


def filled_with_examples(q: dict) -> dict:
    """An instructor question as the cpu-size notebook shows it: fields filled with the declared examples."""
    declared = q.get("values")
    if not declared:
        return q
    given = examples(declared)
    out = {k: (template.fill(v, given) if k in ("prompt", "hint", "explanation") else v) for k, v in q.items()}
    if isinstance(q.get("answer"), str):
        out["answer"] = float(template.evaluate(q["answer"], given))
    if "options" in q:
        out["options"] = {key: {**opt, "text": template.fill(opt["text"], given),
                                "feedback": template.fill(opt["feedback"], given),
                                **({"range": [_bound(end, given) for end in opt["range"]]} if "range" in opt else {})}
                          for key, opt in q["options"].items()}
    if "feedback" in q:
        out["feedback"] = {side: template.fill(text, given) for side, text in q["feedback"].items()}
    return out


def _validate_values(q: dict, where: _Where, kind: str) -> None:
    """Every ``{{...}}`` field uses declared values only, every value is used (in an instructor bank,
    whose explanations are not sealed), and the examples fill every field."""
    declared = q.get("values", {})
    if not isinstance(declared, dict) or not all(
            isinstance(v, dict) and set(v) == {"about", "example"} and isinstance(v["about"], str)
            and isinstance(v["example"], (int, float, str)) for v in declared.values()):
        raise where.error("values", "expected a mapping of names to {about: text, example: value}")
    given, used = examples(declared), set()
    for name, text in question_texts(q):
        for expression, _ in template.fields(text):
            try:
                names = template.names_in(expression)
            except template.TemplateError as err:
                raise where.error(name, str(err)) from None
            undeclared = names - set(declared)
            if undeclared:
                raise where.error(name, f"{{{{{expression}}}}} uses {sorted(undeclared)[0]!r}, not declared "
                                        "under 'values'")
            used |= names
        try:
            template.fill(text, given)
        except (template.TemplateError, ArithmeticError, TypeError, ValueError) as err:
            raise where.error(name, f"cannot be filled with the examples: {err}") from None
    unused = sorted(set(declared) - used)
    if unused and kind == "instructor":
        raise where.error(f"values.{unused[0]}", "declared but used in no text of the question")


def _validate_options(q: dict, where: _Where, kind: str) -> None:
    options = q.get("options")
    if not isinstance(options, dict) or len(options) < 2:
        raise where.error("options", "expected a mapping of at least two options (a, b, ...)")
    for key, opt in options.items():
        if not isinstance(key, str) or not _OPTION_KEY.match(key):
            raise where.error(f"options.{key}", "option keys are single lower-case letters")
        if not isinstance(opt, dict):
            raise where.error(f"options.{key}", "expected a mapping with 'text' and 'feedback'")
        allowed = {"text", "feedback", "range"} | ({"check"} if kind == "learner" else set())
        extra = set(opt) - allowed
        if extra:
            raise where.error(f"options.{key}.{sorted(extra)[0]}", "not a field of an option")
        text = where.text(opt, "text", f"options.{key}.text")
        if re.search(r"[<>&$\\]", text):  # ipywidgets 7 renders labels as HTML and math, 8 as text
            raise where.error(f"options.{key}.text", "option text is plain text: no <, >, &, $ or backslash")
        where.text(opt, "feedback", f"options.{key}.feedback")
        if kind == "learner":
            where.text(opt, "check", f"options.{key}.check")
        if "range" in opt:
            low_high = opt["range"]
            if q["type"] != "predict" or not _is_range(low_high, q.get("values")):
                raise where.error(f"options.{key}.range", "only predict options have a range [low, high] "
                                                          "(numbers, or expressions of the question's values)")
    if kind == "instructor":
        _validate_correct(q, where, list(options))


def _is_range(value: Any, declared: dict | None) -> bool:
    """Whether ``value`` is [low, high], its ends numbers or (with declared values) expressions of them."""
    if not isinstance(value, list) or len(value) != 2:
        return False
    if not all(isinstance(v, (int, float)) or (isinstance(v, str) and declared) for v in value):
        return False
    try:
        low, high = (_bound(end, examples(declared or {})) for end in value)
    except (template.TemplateError, ArithmeticError, TypeError, ValueError):
        return False
    return low <= high


def _validate_correct(q: dict, where: _Where, option_keys: list[str]) -> None:
    correct = q.get("correct")
    if q["type"] == "multiple":
        if not isinstance(correct, list) or not correct or any(k not in option_keys for k in correct):
            raise where.error("correct", f"expected a list of option keys from {option_keys}, found {correct!r}")
    elif correct not in option_keys:
        raise where.error("correct", f"expected one option key from {option_keys}, found {correct!r}")


def _validate_numeric(q: dict, where: _Where, kind: str) -> None:
    answer = q.get("answer")
    if kind == "instructor" and not isinstance(answer, (int, float)) and not (isinstance(answer, str) and q.get("values")):
        raise where.error("answer", "expected a number (or an expression of the question's values)")
    tolerance = q.get("tolerance")
    relative = isinstance(tolerance, str) and re.fullmatch(r"\d+(\.\d+)?%", tolerance)
    if not relative and not (isinstance(tolerance, (int, float)) and tolerance >= 0):
        raise where.error("tolerance", f"expected a number >= 0 or a percentage such as '10%', found {tolerance!r}")
    feedback = q.get("feedback", {})
    if not isinstance(feedback, dict) or set(feedback) - {"below", "above"}:
        raise where.error("feedback", "expected a mapping with 'below' and/or 'above'")


# -- from YAML to questions -------------------------------------------------------------------
def learner_bank_data(data: dict) -> dict:
    """The learner form of an instructor bank: check values and sealed text instead of answers."""
    salt = data["salt"]
    questions = []
    for q in data["questions"]:
        out = {k: v for k, v in q.items() if k not in ("correct", "answer", "explanation")}
        sealed = {"explanation": keys.seal(salt, q["id"], "explanation", q["explanation"].strip())}
        if q["type"] == "numeric":
            answer = q["answer"] if isinstance(q["answer"], str) else repr(float(q["answer"]))
            sealed["value"] = keys.seal(salt, q["id"], "value", answer)
        else:
            right = set(q["correct"]) if q["type"] == "multiple" else {q["correct"]}
            out["options"] = {
                key: {**opt, "check": keys.option_check(salt, q["id"], key, key in right)}
                for key, opt in q["options"].items()
            }
        out["sealed"] = sealed
        questions.append(out)
    return {"kind": "learner", "chapter": data["chapter"], "title": data["title"], "salt": salt,
            "questions": questions}


def bank_from_data(data: dict, path: Path) -> Bank:
    """A validated learner bank's mapping as a :class:`Bank` of :class:`Question` objects."""
    validate_bank(data, path, "learner")
    questions = tuple(_question(q, data["chapter"], data["salt"]) for q in data["questions"])
    return Bank(data["chapter"], data["title"], path, questions)


def _question(q: dict, chapter: str, salt: str) -> Question:
    options = tuple(
        Option(key, opt["text"].strip(), opt["feedback"].strip(), opt["check"],
               tuple(opt["range"]) if "range" in opt else None)
        for key, opt in q.get("options", {}).items()
    )
    return Question(
        id=q["id"], chapter=chapter, type=q["type"], concepts=tuple(q["concepts"]),
        prompt=q["prompt"].strip(), hint=q["hint"].strip(), notebook=q["notebook"], section=q["section"],
        salt=salt, sealed=dict(q["sealed"]), options=options, tolerance=q.get("tolerance"),
        unit=q.get("unit", ""), feedback={k: v.strip() for k, v in q.get("feedback", {}).items()},
        values=dict(q.get("values", {})),
    )


def load_bank(path: str | Path) -> Bank:
    """Read, validate and return one learner bank (``data/quizzes/chNN.yaml``)."""
    path = Path(path)
    return bank_from_data(read_yaml(path), path)


def load_banks(folder: str | Path) -> dict[str, Bank]:
    """Every learner bank of ``folder``, by chapter."""
    banks = [load_bank(p) for p in sorted(Path(folder).glob("ch*.yaml"))]
    return {bank.chapter: bank for bank in banks}


def select(questions: Iterable[Question], concepts: Iterable[str] | None = None,
           notebook: str | None = None, section: str | None = None) -> list[Question]:
    """The questions that test any of ``concepts`` and sit in ``notebook`` / ``section``."""
    wanted = set(concepts) if concepts is not None else None
    unknown = (wanted or set()) - set(KNOWN_IDS)
    if unknown:
        raise ValueError(f"unknown concept ids {sorted(unknown)}; known: C01-C21, S1-S5, {', '.join(TOPICS)}")
    return [
        q for q in questions
        if (wanted is None or wanted & set(q.concepts))
        and (notebook is None or q.notebook == notebook)
        and (section is None or q.section == section)
    ]
