"""Quiz text that takes its numbers from the notebook: ``{{...}}`` fields, filled at show time.

The notebook test runs each notebook's parameters cell at two sizes and fills every question the
notebook shows with what its call passes, so a prompt that says "50 tickets" where the run scores
100 fails here, as does a question that hard-codes a number the parameters set.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

from course_utils import quiz
from course_utils.quiz import template
from course_utils.quiz.bank import BankError, learner_bank_data, question_texts, validate_bank

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))
SIZES = ("cpu", "t4")


# -- the template language ---------------------------------------------------------------------
def test_fields_are_filled_with_their_formats_and_whole_numbers_get_separators():
    text = "{{n}} tickets, {{share:.0%}} leak, $e^{ {{round(loss, 2):.2f}} }$, {{count(k, 'pass', 'passes')}}"
    assert template.fill(text, {"n": 12000, "share": 0.2, "loss": 0.4178, "k": 1}) == \
        "12,000 tickets, 20% leak, $e^{ 0.42 }$, one pass"
    assert template.fill("{{count(k, 'seed', 'seeds')}} of {{x}}", {"k": 3, "x": 0.123456}) == "3 seeds of 0.123"


def test_a_duration_field_says_it_as_the_rest_of_the_workbook_does():
    assert template.fill("{{duration(3.6e14 / (gflops * 1e9))}}", {"gflops": 21.8}) == "4.6 hours"


@pytest.mark.parametrize("expression", ["__import__('os')", "n.real", "[n]", "open('x')", "n if n else 1", "n[0]"])
def test_a_field_can_only_do_arithmetic_on_its_values(expression):
    with pytest.raises(template.TemplateError, match="only numbers"):
        template.evaluate(expression, {"n": 3})


def test_a_field_naming_an_unknown_value_says_which():
    with pytest.raises(template.TemplateError, match="no value named 'm'"):
        template.fill("{{m + 1}}", {"n": 3})


# -- banks that declare values -----------------------------------------------------------------
def bank(question: dict) -> dict:
    """An instructor bank of one question: a numeric one, changed by ``question``."""
    base = {"id": "ch04.q", "concepts": ["C03"], "type": "numeric", "notebook": "ch04/02_sft_end_to_end.ipynb",
            "section": "s", "prompt": "p", "hint": "h", "answer": 1, "tolerance": 0, "explanation": "e"}
    if question.get("type", "numeric") != "numeric":
        del base["answer"], base["tolerance"]
    return {"kind": "instructor", "chapter": "ch04", "title": "t", "salt": "s", "questions": [base | question]}


@pytest.mark.parametrize("change, field, problem", [
    ({"prompt": "{{n}} tickets"}, "prompt", "uses 'n', not declared"),
    ({"values": {"n": {"about": "tickets", "example": 5}}}, "values.n", "declared but used in no text"),
    ({"values": {"n": {"about": "tickets"}}, "prompt": "{{n}}"}, "values", "{about: text, example: value}"),
    ({"values": {"n": {"about": "t", "example": "x"}}, "prompt": "{{n:.2f}}"}, "prompt", "cannot be filled"),
    ({"answer": "n * 2"}, "answer", "expected a number"),
])
def test_the_bank_check_names_the_field_of_a_bad_value(change, field, problem, tmp_path):
    with pytest.raises(BankError, match=re.escape(f"field '{field}'") + ".*" + re.escape(problem)):
        validate_bank(bank(change), tmp_path / "ch04.yaml", "instructor")


def learner_question(question: dict):
    data = bank(question)
    validate_bank(data, Path("ch04.yaml"), "instructor")
    from course_utils.quiz.bank import bank_from_data
    return bank_from_data(learner_bank_data(data), Path("ch04.yaml")).questions[0]


def test_a_numeric_answer_worked_out_from_the_values_is_sealed_and_checked_against_them():
    q = learner_question({"values": {"loss": {"about": "the loss", "example": 2.0}},
                          "prompt": "A loss of {{loss:.2f}}.", "answer": "exp(round(loss, 2))",
                          "tolerance": "1%", "explanation": "$e^{ {{loss}} }$ = {{exp(loss):.2f}}"})
    assert "exp(round" not in json.dumps(q.sealed) and q.needs_values
    with pytest.raises(ValueError, match=r"needs values from the notebook: quiz.show\('ch04.q', loss=...\)"):
        q.check(1.5)
    filled = q.with_values(loss=0.4178)
    assert filled.prompt == "A loss of 0.42."
    assert filled.check(1.52).correct and not filled.check(7.39).correct
    assert filled.explanation() == "$e^{ 0.418 }$ = 1.52"  # three significant figures unless a format is given
    assert "1.52" in filled.solution()


def test_a_predict_range_may_follow_a_value():
    q = learner_question({"type": "predict", "values": {"v": {"about": "vocabulary", "example": 2048}},
                          "options": {"a": {"text": "below {{log(v):.1f}}", "feedback": "f", "range": [0, "log(v)"]},
                                      "b": {"text": "above", "feedback": "f", "range": ["log(v)", 100]}},
                          "correct": "a"})
    small, large = q.with_values(v=2048), q.with_values(v=49152)
    assert small.options[0].text == "below 7.6" and large.options[0].text == "below 10.8"
    assert small.option_for(9.0).key == "b" and large.option_for(9.0).key == "a"


def test_a_question_refuses_values_it_does_not_take_and_asks_for_those_it_lacks():
    q = quiz.question("ch04.s1-run")
    with pytest.raises(ValueError, match="takes no value named 'steps'; it takes model, n_test, pairs"):
        q.with_values(model="m", n_test=5, pairs=10, steps=3)
    with pytest.raises(ValueError, match=r"n_test=\.\.\., pairs=\.\.\.\) \(n_test: held-out tickets"):
        q.with_values(model="m")
    with pytest.raises(ValueError, match="takes no value named 'n'; it takes none"):
        quiz.question("ch04.c03").with_values(n=1)


# -- the notebooks' calls, at two sizes --------------------------------------------------------
def code_cells(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def parameters(path: Path, size: str, monkeypatch) -> dict:
    """The names the notebook's parameters cell defines, run at ``size``."""
    cells = json.loads(path.read_text())["cells"]
    source = next("".join(c["source"]) for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
    monkeypatch.setenv("COURSE_UTILS_SIZE", size)
    monkeypatch.delenv("COURSE_UTILS_SMOKE", raising=False)
    namespace: dict = {}
    exec("from course_utils import presets, settings", namespace)  # what the cells before it import
    exec(compile(source, f"{path.name} parameters", "exec"), namespace)
    return namespace


def quiz_calls(path: Path) -> list[tuple[str, dict[str, ast.expr]]]:
    """(question id, {value name: expression}) of every quiz.show / quiz.predict call of a notebook."""
    calls = []
    for source in code_cells(path):
        for node in ast.walk(ast.parse(source)):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("show", "predict")
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "quiz"):
                calls.append((node.args[0].value, {k.arg: k.value for k in node.keywords if k.arg != "store"}))
    return calls


def rendered(question) -> str:
    parts = [question.prompt, question.hint, *(o.text + " " + o.feedback for o in question.options),
             *question.feedback.values(), question.explanation()]
    return "\n".join(parts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT / "notebooks").as_posix())
def test_every_quiz_call_passes_exactly_the_values_its_question_declares(path):
    for question_id, passed in quiz_calls(path):
        declared = quiz.question(question_id).values
        assert set(passed) == set(declared), f"{question_id}: the notebook passes {sorted(passed)}, the bank declares {sorted(declared)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT / "notebooks").as_posix())
def test_quiz_numbers_follow_the_parameters_at_two_sizes(path, monkeypatch):
    texts = {}
    for size in SIZES:
        names = parameters(path, size, monkeypatch)
        for question_id, passed in quiz_calls(path):
            q = quiz.question(question_id)
            values = {}
            for name, expression in passed.items():
                used = {n.id for n in ast.walk(expression) if isinstance(n, ast.Name)} - {"len", "str", "int", "max", "min"}
                values[name] = (eval(compile(ast.Expression(expression), "call", "eval"), dict(names))  # noqa: S307
                                if used <= set(names) else q.values[name]["example"])  # measured: the bank's example
            shown = q.with_values(**values)
            text = rendered(shown)
            assert "{{" not in text, f"{question_id}: a field was left unfilled"
            for name, value in values.items():
                for expression, spec in _fields_of(q, name):
                    assert template.fill("{{" + expression + (":" + spec if spec else "") + "}}", values) in text
            texts.setdefault(question_id, {})[size] = (text, values)
    for question_id, by_size in texts.items():
        (cpu_text, cpu_values), (t4_text, t4_values) = by_size["cpu"], by_size["t4"]
        if cpu_values != t4_values:
            assert cpu_text != t4_text, f"{question_id}: its values differ between sizes, its text does not"


def _fields_of(question, name: str) -> list[tuple[str, str]]:
    """The fields of a question's shown text that are the value ``name`` alone."""
    texts = [question.prompt, question.hint, *(o.text for o in question.options)]
    return [(e, s) for text in texts for e, s in template.fields(text) if e.strip() == name]


# A number that equals a parameter by chance: the padded length of c21-padding's worked example.
COINCIDENCES = {("ch04.c21-padding", "TRL_STEPS")}


def size_dependent_numbers(path: Path, monkeypatch) -> dict[str, set[str]]:
    """Parameter values of ``path`` (whole numbers of 10 or more) that change between sizes, as written."""
    at = {size: parameters(path, size, monkeypatch) for size in SIZES}
    found: dict[str, set[str]] = {}
    for name, value in at["cpu"].items():
        if name.isupper() and isinstance(value, int) and value >= 10 and at["t4"].get(name) != value:
            found.setdefault(name, set()).update({str(value), f"{value:,}"})
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT / "notebooks").as_posix())
def test_no_question_a_notebook_shows_hard_codes_a_number_its_parameters_set(path, monkeypatch):
    numbers = size_dependent_numbers(path, monkeypatch)
    banks = {data["chapter"]: {q["id"]: q for q in data["questions"]}
             for data in (yaml.safe_load(p.read_text()) for p in sorted((ROOT / "instructor" / "quizzes").glob("ch*.yaml")))}
    found = []
    for question_id, _ in quiz_calls(path):
        q = banks[question_id.split(".")[0]][question_id]
        for field, text in question_texts(q):
            plain = template.FIELD.sub("", text)
            for name, written in numbers.items():
                if (question_id, name) in COINCIDENCES:
                    continue
                hits = [w for w in written if re.search(rf"(?<![\w.,]){re.escape(w)}(?![\w%]|[.,]\d)", plain)]
                found += [f"{question_id} {field}: {hit} (the notebook's {name})" for hit in hits]
    assert found == [], "take these from the notebook's parameters with a {{...}} field:\n" + "\n".join(found)
