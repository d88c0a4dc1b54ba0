"""The library's shape: the data factory stays apart, and no logic is written twice.

The factory (``course_utils.synth``) made the shipped data; learners and the library read that
data through ``course_utils.shipped``. Only the notebook that teaches how instruction data is made,
the ``build-assets`` command that runs the factory, and the factory's own tests may import it.

A passage of six or more lines of logic that appears twice, inside the library or in a notebook
and the library, is a copy that will drift: the test compares lines by their shape (names,
strings and numbers blanked), so a copy with renamed variables counts too.
"""
from __future__ import annotations

import ast
import io
import json
import keyword
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FACTORY = "course_utils.synth"
ALLOWED = {
    "notebooks/ch04/03_instruction_data.ipynb",  # shows how instruction pairs are made
    "course_utils/cli.py",  # `course-utils build-assets` runs the factory
    "tests/test_world.py", "tests/test_copy_task.py", "tests/test_assets.py",  # the factory's own tests
}


def imported_modules(source: str) -> set[str]:
    """Every module an ``import`` or ``from ... import`` statement in ``source`` names, submodules included."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def notebook_source(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    lines = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    return "\n".join(line for cell in lines for line in cell.splitlines() if not line.lstrip().startswith(("%", "!")))


def sources() -> dict[str, str]:
    found = {}
    for folder in ("course_utils", "benchmarks", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if FACTORY.replace(".", "/") not in path.as_posix():
                found[path.relative_to(ROOT).as_posix()] = path.read_text()
    for path in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        found[path.relative_to(ROOT).as_posix()] = notebook_source(path)
    return found


def test_the_scan_sees_an_import_of_the_factory():
    assert imported_modules("from course_utils.synth import tasks") >= {"course_utils.synth"}
    assert imported_modules("from course_utils import synth") >= {"course_utils.synth"}
    assert imported_modules("import course_utils.synth.world as w") >= {"course_utils.synth.world"}
    assert not imported_modules("from course_utils import shipped") & {FACTORY}


def test_only_the_instruction_data_notebook_and_the_build_import_the_factory():
    importers = {name for name, source in sources().items()
                 if any(m == FACTORY or m.startswith(FACTORY + ".") for m in imported_modules(source))}
    assert importers - ALLOWED == set(), "these import the data factory; read the shipped data instead"
    assert "notebooks/ch04/03_instruction_data.ipynb" in importers


# -- passages written twice --------------------------------------------------------------------
PASSAGE = 6  # logical lines
DECLARATIONS = ("import ", "from ", "I : ", "@", "class ")  # imports, fields, decorators: no logic


def line_shapes(source: str) -> list[tuple[int, str]]:
    """(line number, shape) of each logical line of logic: names -> I, strings -> S, numbers -> N."""
    shapes, tokens, start = [], [], None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NEWLINE:
            text = " ".join(tokens)
            if tokens and text != "S" and not text.startswith(DECLARATIONS):
                shapes.append((start, text))
            tokens, start = [], None
        elif token.type not in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT,
                                tokenize.ENCODING, tokenize.ENDMARKER):
            start = start or token.start[0]
            if token.type == tokenize.NAME:
                tokens.append(token.string if keyword.iskeyword(token.string) else "I")
            elif token.type in (tokenize.STRING, getattr(tokenize, "FSTRING_START", tokenize.STRING)):
                tokens.append("S")
            elif token.type == tokenize.NUMBER:
                tokens.append("N")
            elif token.type not in (getattr(tokenize, "FSTRING_MIDDLE", -1), getattr(tokenize, "FSTRING_END", -1)):
                tokens.append(token.string)
    return shapes


def shared_passages(places: dict[str, str]) -> list[tuple[str, int, str, int]]:
    """Pairs of places (name, first line) whose next ``PASSAGE`` lines of logic have the same shapes;
    two notebooks sharing a passage are left out (each notebook stands alone)."""
    seen: dict[tuple[str, ...], list[tuple[str, int, int]]] = {}
    for name, source in places.items():
        shapes = line_shapes(source)
        for i in range(len(shapes) - PASSAGE + 1):
            window = tuple(shape for _, shape in shapes[i:i + PASSAGE])
            if sum(map(len, window)) >= 6 * PASSAGE:  # lines like `return I` make no passage
                seen.setdefault(window, []).append((name, shapes[i][0], shapes[i + PASSAGE - 1][0]))
    pairs = []
    for hits in seen.values():
        for k, (a, a_start, a_end) in enumerate(hits):
            for b, b_start, b_end in hits[k + 1:]:
                same_stretch = a == b and a_start <= b_end and b_start <= a_end
                if not same_stretch and not (a.startswith("notebooks") and b.startswith("notebooks")):
                    pairs.append((a, a_start, b, b_start))
    return pairs


def test_the_passage_check_finds_a_renamed_copy():
    logic = "def f(rows, n):\n" + "".join(f"    total{i} = sum(r['x'] * {i} for r in rows) + n\n" for i in range(6))
    renamed = logic.replace("rows", "items").replace("total", "count").replace("'x'", "'y'")
    assert shared_passages({"course_utils/a.py": logic, "notebooks/b.ipynb": renamed})
    assert not shared_passages({"notebooks/a.ipynb": logic, "notebooks/b.ipynb": renamed})
    other = "def g(rows):\n" + "".join(f"    rows = [r for r in rows if r.get('k{i}')]\n" for i in range(6))
    assert not shared_passages({"course_utils/a.py": logic, "course_utils/b.py": other})


def test_no_passage_of_logic_is_written_twice():
    places = {path.relative_to(ROOT).as_posix(): path.read_text() for path in sorted((ROOT / "course_utils").rglob("*.py"))}
    places |= {name: source for name, source in sources().items() if name.startswith("notebooks/")}
    assert shared_passages(places) == []
