"""The data factory (``course_utils.synth``) stays apart: what the course runs never imports it.

The factory made the shipped data; learners and the library read that data through
``course_utils.shipped``. Only the notebook that teaches how instruction data is made, the
``build-assets`` command that runs the factory, and the factory's own tests may import it.
"""
from __future__ import annotations

import ast
import json
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
