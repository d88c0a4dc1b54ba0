"""Numbers a notebook hands to its quiz: ``{{name}}`` fields in a question's text, filled at show time.

A question whose text depends on the run (how many tickets were scored, the speed this machine
reached) declares those values and writes them as fields::

    values:
      n_test: {about: "held-out tickets the notebook scores", example: 50}
    prompt: "The notebook scores {{n_test}} held-out tickets ..."

and the notebook passes them: ``quiz.show("ch04.s3", n_test=N_TEST)``. A field may be a small
arithmetic expression with a format, ``{{3.6e14 / (gflops * 1e9) / 3600:.1f}}``, and a numeric
question's ``answer`` may be one too (``exp(loss)``). Expressions are parsed, never ``eval``-ed:
numbers, strings, the declared names, + - * / // % **, and the functions in ``FUNCTIONS``.
"""
from __future__ import annotations

import ast
import math
import operator
import re
from typing import Any, Callable

FIELD = re.compile(r"\{\{\s*(?P<expr>[^{}:]+?)\s*(?::(?P<format>[^{}:]*))?\}\}")


def count(n: float, singular: str, plural: str) -> str:
    """``count(1, "pass", "passes")`` -> ``"one pass"``; ``count(3, ...)`` -> ``"3 passes"``."""
    if n == 1:
        return f"one {singular}"
    return f"{n:,} {plural}" if isinstance(n, int) else f"{n:g} {plural}"


def duration(seconds: float) -> str:
    """A length of time in the largest unit that fits, as ``compute.duration`` writes it everywhere."""
    from course_utils.compute import duration as in_units  # imported when a field asks: it loads torch

    return in_units(seconds)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "exp": math.exp, "log": math.log, "sqrt": math.sqrt, "round": round, "min": min, "max": max,
    "abs": abs, "count": count, "duration": duration,
}
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


class TemplateError(ValueError):
    """A field that cannot be read or filled; the message names the expression."""


def names_in(expression: str) -> set[str]:
    """The value names an expression uses (function names left out)."""
    tree = _parse(expression)
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id not in FUNCTIONS}


def fields(text: str) -> list[tuple[str, str]]:
    """(expression, format) of every field of ``text``."""
    return [(m["expr"], m["format"] or "") for m in FIELD.finditer(text)]


def evaluate(expression: str, values: dict[str, Any]) -> Any:
    """The value of ``expression`` with ``values`` for its names."""
    return _value(_parse(expression).body, values, expression)


def fill(text: str, values: dict[str, Any]) -> str:
    """``text`` with every field replaced by its value, formatted."""
    def replace(match: re.Match) -> str:
        value = evaluate(match["expr"], values)
        spec = match["format"]
        try:
            return format(value, spec) if spec else default_format(value)
        except (TypeError, ValueError) as err:
            raise TemplateError(f"field {{{{{match['expr']}:{spec}}}}}: {err}") from None

    return FIELD.sub(replace, text)


def default_format(value: Any) -> str:
    """Whole numbers with thousands separators, other numbers to three significant figures."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.3g}"


def _parse(expression: str) -> ast.Expression:
    try:
        return ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise TemplateError(f"{expression!r} is not an expression") from None


def _value(node: ast.AST, values: dict[str, Any], expression: str) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in values:
            return values[node.id]
        raise TemplateError(f"{expression!r}: no value named {node.id!r}")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_value(node.left, values, expression), _value(node.right, values, expression))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_value(node.operand, values, expression))
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS
            and not node.keywords):
        return FUNCTIONS[node.func.id](*(_value(arg, values, expression) for arg in node.args))
    raise TemplateError(f"{expression!r}: only numbers, declared names, arithmetic and "
                        f"{', '.join(FUNCTIONS)} may appear in a field")
