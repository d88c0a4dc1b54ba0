"""A non-editable install finds its shipped model from any directory, offline."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

SCRIPT = """
from course_utils.models import load_model
from course_utils.paths import data_dir
model, tok = load_model("tiny-base")
ids = tok("The Brightwell kettle", return_tensors="pt")
out = model.generate(**ids, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
print("DATA", data_dir())
print("TEXT", tok.decode(out[0], skip_special_tokens=True))
"""


@pytest.mark.slow
def test_installed_package_loads_tiny_base_offline_from_elsewhere(tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(REPO)],
        check=True, capture_output=True, timeout=300,
    )
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1", "COURSE_UTILS_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", SCRIPT], cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    data_line = next(line for line in run.stdout.splitlines() if line.startswith("DATA"))
    assert data_line.split(maxsplit=1)[1].startswith(str(target))
    assert "The Brightwell kettle" in run.stdout
