"""The live loss plot in a real JupyterLab: it grows while the model trains and ends as one full figure."""
from __future__ import annotations

import time

import pytest

from jlab import OUTPUT, open_notebook, wait_idle, write_notebook

pytestmark = pytest.mark.browser

STEPS = 60

SETUP = """\
import time
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

class Slow:
    \"\"\"Each step waits a little, so that the page can be watched while the plot grows.\"\"\"
    def on_step(self, state):
        time.sleep(0.1)
"""

TRAINING = f"""\
plot = LivePlot(x="step", smooth=0.9)
result = train(model, batches, TrainConfig(max_steps={STEPS}, eval_every=20, warmup_steps=5),
               eval_batches=batches[:2], callbacks=[Slow(), plot])
"""

# What the page shows: every plot in an output area, with its renderer and the points of each trace.
READ_PLOTS = f"""() => [...document.querySelectorAll('{OUTPUT} .js-plotly-plot')].map(p => ({{
    renderer: p.closest('.jp-OutputArea-output').className,
    traces: (p.data || []).map(t => ({{name: t.name, x: Array.from(t.x || []), n: (t.y || []).length}})),
}}))"""

TRAINING_DONE = """() => {
    const notebook = '.jp-NotebookPanel:not(.lm-mod-hidden)';
    const prompts = [...document.querySelectorAll(`${notebook} .jp-CodeCell .jp-InputPrompt`)];
    return prompts.length === 2 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
}"""


def test_live_plot_redraws_during_training_and_ends_with_every_point(lab, page, artifacts):
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    write_notebook(lab.root_dir / "live_plot.ipynb", SETUP, TRAINING)
    open_notebook(page, lab, "live_plot.ipynb", workspace="live-plot")

    # Start the cells without awaiting the command (its promise resolves only when they have all run).
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    seen: list[list[dict]] = []  # every distinct state of the plots while the cells run
    deadline = time.monotonic() + 240
    while not page.evaluate(TRAINING_DONE) and time.monotonic() < deadline:
        plots = page.evaluate(READ_PLOTS)
        if not seen or plots != seen[-1]:
            seen.append(plots)
        time.sleep(0.1)
    wait_idle(page)
    page.wait_for_timeout(500)  # let the final update render
    final = page.evaluate(READ_PLOTS)

    growth = [plots[0]["traces"][0]["n"] for plots in seen if plots and plots[0]["traces"]]
    renderers = sorted({plots[0]["renderer"] for plots in seen if plots})
    print(f"\npoints shown while training: {growth}\nrenderers seen: {renderers}")
    path = artifacts / "live_plot.png"
    page.locator(OUTPUT, has=page.locator(".js-plotly-plot")).screenshot(path=path)
    print(f"screenshot: {path}")

    assert all(len(plots) <= 1 for plots in seen), "more than one plot appeared while training"
    assert len({n for n in growth if 0 < n < STEPS}) >= 2, f"the plot did not redraw while training: {growth}"
    assert len(final) == 1, f"expected exactly one plot, found {len(final)}"
    traces = {t["name"]: t for t in final[0]["traces"]}
    assert traces["train loss"]["x"] == list(range(1, STEPS + 1)) and traces["train loss"]["n"] == STEPS
    assert traces["validation loss"]["n"] == STEPS // 20
    assert not [e for e in errors if "Plotly" in e], errors
