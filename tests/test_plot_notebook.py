"""A live plot run headless (nbclient, as nbval and CI run notebooks) leaves one final figure in its cell."""
from __future__ import annotations

import json

import pytest

from course_utils.plot import PLOTLY_MIME

SETUP = """\
from transformers import AutoTokenizer
from course_utils import pretrain
from course_utils.models import TinyConfig, build_model
from course_utils.paths import model_dir
from course_utils.plot import LivePlot
from course_utils.train import TrainConfig, train

tokenizer = AutoTokenizer.from_pretrained(model_dir("tiny-base"))
model = build_model(tokenizer, TinyConfig(vocab_size=len(tokenizer), hidden_size=32, num_layers=2, num_heads=2,
                                          intermediate_size=64))
texts = ["The kettle broke on Monday and the customer asked for a refund.",
         "Oakwood was founded in 2003 by Talia Wilde, in Westford."] * 8
batches = pretrain.document_batches(tokenizer, texts, 16, 4)
"""

TRAINING = """\
plot = LivePlot(x="step", smooth=0.9, every_s=0.5)
result = train(model, batches, TrainConfig(max_steps=300, eval_every=50, warmup_steps=5),
               eval_batches=batches[:2], callbacks=[plot])
"""


def is_plot(output: dict) -> bool:
    data = output.get("data", {})
    return PLOTLY_MIME in data or "plotly" in data.get("text/html", "")


@pytest.mark.slow
def test_headless_run_leaves_exactly_one_plot_with_every_point(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell(TRAINING)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    plots = [o for o in nb.cells[1].outputs if is_plot(o)]
    assert len(plots) == 1, [o.get("data", {}).keys() for o in nb.cells[1].outputs]
    figure = plots[0]["data"][PLOTLY_MIME]
    traces = {t["name"]: t for t in figure["data"]}
    assert traces["train loss"]["x"] == list(range(1, 301)) and len(traces["train loss"]["y"]) == 300
    assert len(traces["validation loss"]["y"]) == 6
    assert plots[0]["data"]["text/plain"].startswith("LivePlot: 300 points, step 300")
    assert len(json.dumps(plots[0])) < 300_000  # the saved figure does not carry plotly.js (5 MB)
