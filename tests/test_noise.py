"""No library noise in what a learner sees: warnings and stderr streams fail a notebook's run."""
from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import nbformat
import torch

from course_utils import trl_runs
from course_utils.generate import cached_step, generate_ids
from course_utils.instructor.kernel import learner_noise
from course_utils.models import load_model, no_progress_bars

ROOT = Path(__file__).resolve().parents[1]


def test_learner_noise_names_stderr_and_warnings_and_passes_clean_output():
    assert learner_noise([{"output_type": "stream", "name": "stdout", "text": "loss 1.2\n"},
                          {"output_type": "display_data", "data": {"text/plain": "a table"}}]) is None
    assert learner_noise([{"output_type": "stream", "name": "stderr", "text": "Loading weights: 100%\n"}]) \
        == "stderr: 'Loading weights: 100%'"
    found = learner_noise([{"output_type": "execute_result", "data": {"text/plain": "x.py:3: FutureWarning: old"}}])
    assert found is not None and "FutureWarning: old" in found
    chart = {"output_type": "display_data", "data": {"text/html": "<script>/* MaxListenersExceededWarning */</script>",
                                                      "text/plain": "a chart"}}
    assert learner_noise([chart]) is None, "a chart's embedded script is not a warning"


def test_nbval_fails_the_cell_that_warns_and_the_claim_not_met_and_passes_the_others(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("print('fine')"),
        nbformat.v4.new_code_cell("import warnings\nwarnings.warn('old name', FutureWarning)"),
        nbformat.v4.new_code_cell("from course_utils import claims\nclaims.expect('s1.format', 0.2, at_least=0.8)"),
    ])
    nbformat.write(nb, tmp_path / "noisy.ipynb")
    shutil.copy(ROOT / "conftest.py", tmp_path)  # the repository's rules, in a folder of their own
    run = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q", "noisy.ipynb"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert "2 failed, 1 passed" in run.stdout, run.stdout[-2000:]
    assert "FutureWarning: old name" in run.stdout
    assert "ClaimNotMet" in run.stdout and "claim s1.format: measured 0.2, expected at least 0.8: NOT MET" in run.stdout


def test_loading_a_model_draws_no_progress_bar_and_leaves_bars_as_they_were(capfd):
    from transformers.utils import logging as hf_logging

    load_model("tiny-base", device="cpu")
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with no_progress_bars():
            pass
        assert not hf_logging.is_progress_bar_enabled(), "bars that were off stay off"
    finally:
        hf_logging.enable_progress_bar()


def test_cached_steps_give_the_tokens_of_a_full_forward_pass_without_warnings(small_model):
    ids = torch.tensor([[5, 9, 17, 4]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with torch.no_grad():
            logits, cache = cached_step(small_model, ids[:, :3])
            step_logits, cache = cached_step(small_model, ids[:, 3:], cache)
            full = small_model(input_ids=ids).logits[:, -2:].float()
    assert torch.allclose(logits, full[:, 0], atol=1e-5) and torch.allclose(step_logits, full[:, 1], atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        greedy = generate_ids(small_model, ids, 6, do_sample=False)
    assert greedy == small_model.generate(ids, max_new_tokens=6, do_sample=False)[0, 4:].tolist()[:len(greedy)]


def test_trl_runs_hides_only_the_checkpointing_rename_warning(tiny_base):
    model, _ = tiny_base
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # every warning shows, but for the filters the module adds on import
        importlib.reload(trl_runs)
        _ = model.is_gradient_checkpointing  # what TRL's DPO trainer reads
        warnings.warn("another deprecation", FutureWarning)
    assert [str(w.message) for w in caught] == ["another deprecation"]
