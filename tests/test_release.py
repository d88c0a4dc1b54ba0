"""The release as a learner receives it: the wheel from pip, and the notebooks' install cell on Colab.

Each test builds the wheel and sdist from this checkout, checks their metadata, and installs the
wheel into a fresh virtual environment outside the repository, the way a learner would:

* **pip only**: ``pip install torch==2.13.0``, then the wheel; from an empty folder,
  ``course-utils notebooks DEST`` and ``course-utils check`` on two of the copied notebooks.
* **Colab rehearsal**: an environment like a Colab image (its ipywidgets 7.7.1, plotly 5.24, ipykernel
  6.17 and a preinstalled transformers 4.x), a stand-in ``google.colab`` imported at kernel start
  (``tests/colab_standin``), and the install cell finding the wheel in a local folder instead of the
  package index (``PIP_FIND_LINKS``). A second run offers no wheel: the install must fail at the first
  code cell with its message, and nothing after it may run.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import nbformat
import pytest

import course_utils
from course_utils.instructor import colab, markers

ROOT = Path(__file__).resolve().parents[1]
STANDIN = Path(__file__).resolve().parent / "colab_standin"
COLAB_IMAGE = ["ipywidgets==7.7.1", "plotly==5.24.1", "ipykernel==6.17.1", "transformers==4.57.6",
               "nbclient", "nbformat"]
pytestmark = pytest.mark.slow


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 900) -> str:
    """Run a command; on failure, fail the test with what it printed."""
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def fresh_venv(path: Path, *requirements: str) -> Path:
    """A new virtual environment with PyTorch 2.13.0 first (the CPU build on this machine's disk)."""
    venv.create(path, with_pip=True)
    python = path / "bin" / "python"
    run([str(python), "-m", "pip", "install", "--quiet", "torch==2.13.0"], cwd=path)
    run([str(python), "-m", "pip", "install", "--quiet", *requirements], cwd=path)
    return python


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The wheel and sdist of this checkout, built as a release would be, with their metadata checked."""
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], cwd=out)
    twine = run([sys.executable, "-m", "twine", "check", "--strict", *map(str, out.iterdir())], cwd=out)
    assert twine.count("PASSED") == 2
    return out


def wheel(dist: Path) -> Path:
    (found,) = dist.glob(f"llm_foundations_workbook-{course_utils.__version__}-py3-none-any.whl")
    return found


def test_pip_only_learner_copies_the_notebooks_and_runs_two_of_them(dist, tmp_path):
    python = fresh_venv(tmp_path / "venv", f"{wheel(dist)}[instructor]")
    bin_dir = python.parent
    home = tmp_path / "learner"
    home.mkdir()
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "HF_HUB_OFFLINE": "1",
           "COURSE_UTILS_THREADS": "1", "PYTHONPATH": ""}
    where = run([str(python), "-c", "import course_utils; print(course_utils.__file__)"], cwd=home, env=env)
    assert where.startswith(str(tmp_path / "venv")), "the venv's own copy is imported, not the checkout"

    copied = run([str(bin_dir / "course-utils"), "notebooks", "course"], cwd=home, env=env)
    assert "12 notebooks copied into course" in copied
    notebooks = sorted((home / "course").rglob("*.ipynb"))
    assert len(notebooks) == 12
    for path in notebooks:
        text = path.read_text(encoding="utf-8")
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN MARK SCHEME", "END MARK SCHEME"):
            assert marker not in text, f"{path.name} holds {marker!r}"
        assert not any(markers.is_instructor_cell(cell) for cell in nbformat.read(path, as_version=4).cells)

    checked = run([str(bin_dir / "course-utils"), "check", "--size", "cpu", "course/00_start_here.ipynb",
                   "course/ch04/01_base_vs_instruct.ipynb"], cwd=home, env=env)
    print(checked)
    assert "2 notebooks, 0 failed;" in checked and " 0 not met; size cpu" in checked

    refused = subprocess.run([str(bin_dir / "course-utils"), "student-build"], cwd=home, env=env,
                             capture_output=True, text=True)
    assert refused.returncode == 2 and "run from a clone of the workbook's repository" in refused.stderr


# -- Colab rehearsal -------------------------------------------------------------------------------
DRIVER = r'''
import json, sys
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

nb = nbformat.read(sys.argv[1], as_version=4)
nb.cells += [nbformat.v4.new_code_cell(source) for source in json.loads(sys.argv[2])]
client = NotebookClient(nb, timeout=900, resources={"metadata": {"path": sys.argv[3]}})
result = {"error": None}
try:
    client.execute()
except CellExecutionError as err:
    result["error"] = str(err)
result["outputs"] = [[o.get("text", "") + o.get("evalue", "") + str(o.get("data", {}).get("text/plain", ""))
                      for o in cell.get("outputs", [])] for cell in nb.cells if cell.cell_type == "code"]
result["ran"] = [cell.get("execution_count") is not None for cell in nb.cells if cell.cell_type == "code"]
print(json.dumps(result))
'''


@pytest.fixture(scope="module")
def colab_python(tmp_path_factory) -> Path:
    """A virtual environment like a Colab image, without the workbook."""
    return fresh_venv(tmp_path_factory.mktemp("colab") / "venv", *COLAB_IMAGE)


def rehearse(python: Path, notebook: Path, extra_cells: list[str], tmp_path: Path, **pip_env: str) -> dict:
    """Run a notebook (and extra cells) in a Colab-like kernel; what each code cell showed, and the error."""
    ipython_dir = tmp_path / "ipython"
    (ipython_dir / "profile_default" / "startup").mkdir(parents=True)
    (ipython_dir / "profile_default" / "startup" / "00-colab.py").write_text((STANDIN / "startup.py").read_text())
    trace = tmp_path / "trace"
    trace.mkdir()
    workdir = tmp_path / "content"  # Colab's working folder
    workdir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(STANDIN), "IPYTHONDIR": str(ipython_dir), "COLAB_STANDIN_TRACE": str(trace),
           "HOME": str(tmp_path / "root"), "HF_HUB_OFFLINE": "1", "COURSE_UTILS_THREADS": "1", **pip_env}
    for name in ("COURSE_UTILS_PROGRESS", "COURSE_UTILS_LEARNER", "COURSE_UTILS_SIZE"):
        env.pop(name, None)
    out = run([str(python), "-c", DRIVER, str(notebook), json.dumps(extra_cells), str(workdir)], cwd=workdir, env=env)
    return {**json.loads(out.splitlines()[-1]), "trace": trace, "home": Path(env["HOME"])}


def test_colab_install_cell_fails_clearly_and_stops_the_notebook(colab_python, tmp_path):
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    result = rehearse(colab_python, ROOT / "data" / "notebooks" / "00_start_here.ipynb", [], tmp_path,
                      PIP_NO_INDEX="1", PIP_FIND_LINKS=str(empty))
    assert "RuntimeError" in result["error"]
    assert f"Installing {colab.release().requirement} {colab.INSTALL_FAILED}." in result["error"]
    assert "No matching distribution found for llm-foundations-workbook" in result["error"], "pip's own reason"
    assert result["ran"][0] and not any(result["ran"][1:]), "nothing runs after a failed install"


QUIZ_CELLS = [
    # the learner answers a question, gives a name in the prompt above it, answers again, exports
    'from course_utils import quiz\n'
    'view = quiz.QuestionView(quiz.question("ch02.next-token").with_examples())\n'
    'view.display()\n'
    'first = view.answer("b")\n'
    'view.name_prompt.name.value = "Ada Lovelace"\n'
    'view.name_prompt.save_button.click()\n'
    'second = view.answer("a")\n'
    'print("ANSWERS", first.correct, second.correct)',
    'hand_in = quiz.export()',
    'import ipywidgets, plotly, transformers\n'
    'print("VERSIONS", ipywidgets.__version__, plotly.__version__, transformers.__version__)',
]


def test_colab_rehearsal_installs_the_release_runs_start_here_and_keeps_the_learners_name(dist, colab_python, tmp_path):
    pip_env = {"PIP_FIND_LINKS": f"{os.environ.get('PIP_FIND_LINKS', '')} {dist}".strip()}
    result = rehearse(colab_python, ROOT / "data" / "notebooks" / "00_start_here.ipynb", QUIZ_CELLS, tmp_path, **pip_env)
    assert result["error"] is None
    assert all(result["ran"])
    assert result["outputs"][0] == [f"installed {colab.release().requirement}\n"]
    assert (result["trace"] / "custom_widget_manager").exists(), "Colab's widget manager was enabled"
    versions = next(line for out in result["outputs"] for line in out if line.startswith("VERSIONS")).split()
    assert versions[1:3] == ["7.7.1", "5.24.1"] and int(versions[3].split(".")[0]) >= 5, \
        "Colab's widgets and plots are kept; its transformers 4 is upgraded to what the workbook needs"
    assert any("ANSWERS False True" in line for out in result["outputs"] for line in out)

    progress = json.loads((result["home"] / ".course_utils" / "progress.json").read_text(encoding="utf-8"))
    assert progress["learner"] == "Ada Lovelace" and list(progress["learners"]) == ["Ada Lovelace"]
    record = progress["learners"]["Ada Lovelace"]["ch02.next-token"]
    assert (record["attempts"], record["first_try_correct"], record["correct"]) == (2, False, True)
    downloaded = json.loads((result["trace"] / "downloads" / "progress-ada-lovelace.json").read_text(encoding="utf-8"))
    assert downloaded["learner"] == "Ada Lovelace" and "ch02.next-token" in downloaded["learners"]["Ada Lovelace"]
