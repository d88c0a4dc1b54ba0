"""The live loss plot records every point and redraws in place; static comparison and bar charts."""
from __future__ import annotations

import pandas as pd
import pytest

from course_utils import plot as plot_module
from course_utils import pretrain
from course_utils.models import TinyConfig, build_model
from course_utils.plot import PLOTLY_MIME, LivePlot, bar_chart, compare_runs, ema, loss_figure
from course_utils.train import TrainConfig, train

TEXTS = ["The kettle broke on Monday and the customer asked for a refund.",
         "Oakwood was founded in 2003 by Talia Wilde, in Westford."] * 4
PAIRS = [
    {"prompt": "Classify the urgency: it is not urgent at all.", "completion": "low"},
    {"prompt": "Classify the urgency: they need it fixed today.", "completion": "high"},
    {"prompt": "Who founded Oakwood?", "completion": "Talia Wilde."},
    {"prompt": "Where is Korvale?", "completion": "Ostmark."},
    {"prompt": "Rewrite formally: hey my lamp died", "completion": "Dear support team, my lamp stopped working."},
    {"prompt": "Give the order id: order B846910.", "completion": "B846910"},
]


@pytest.fixture
def batches(tokenizer):
    return pretrain.document_batches(tokenizer, TEXTS, 16, 4)


def quick(**overrides) -> TrainConfig:
    return TrainConfig(**{"progress": False, "warmup_steps": 2, **overrides})


class FakeHandle:
    """Stands in for IPython's DisplayHandle: remembers what was displayed and every update."""

    def __init__(self, sent: list):
        self.sent = sent

    def update(self, bundle, raw):
        self.sent.append(("update", bundle))


@pytest.fixture
def notebook(monkeypatch):
    """Pretend to run in a notebook kernel; returns the list of displays and updates sent."""
    import IPython.display

    sent: list = []

    def fake_display(bundle, raw, display_id):
        sent.append(("display", bundle))
        return FakeHandle(sent)

    monkeypatch.setattr(plot_module, "in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display", fake_display)
    return sent


# -- smoothing ------------------------------------------------------------------------------------
def test_ema_is_bias_corrected():
    assert ema([2.0, 2.0, 2.0], 0.9) == pytest.approx([2.0, 2.0, 2.0])  # a constant stays constant
    assert ema([0.0, 10.0], 0.5) == pytest.approx([0.0, 5 / 0.75])
    assert ema([3.0, 1.0], 0.0) == [3.0, 1.0]
    with pytest.raises(ValueError, match="smooth"):
        ema([1.0], 1.0)


# -- the live plot with the training loop -----------------------------------------------------------
def test_live_plot_records_every_step_and_evaluation(small_model, batches):
    plot = LivePlot(x="step", smooth=0.9)
    result = train(small_model, batches, quick(max_steps=12, eval_every=4), eval_batches=batches[:1], callbacks=[plot])
    assert plot.train == result.history and plot.evals == result.state.evals
    traces = {t.name: t for t in plot.figure().data}
    assert list(traces) == ["train loss", "train loss (EMA 0.9)", "validation loss", "learning rate"]
    assert list(traces["train loss"].x) == list(range(1, 13))
    assert list(traces["train loss"].y) == [h["loss"] for h in result.history]
    assert list(traces["train loss (EMA 0.9)"].y) == pytest.approx(ema([h["loss"] for h in result.history], 0.9))
    assert list(traces["validation loss"].x) == [4, 8, 12]
    assert list(traces["learning rate"].y) == [h["lr"] for h in result.history]
    assert traces["learning rate"].yaxis == "y2"  # its own axis, on the right


def test_live_plot_in_tokens_seen(small_model, batches):
    plot = LivePlot(x="tokens_seen")
    result = train(small_model, batches, quick(max_steps=3), callbacks=[plot])
    assert list(plot.figure().data[0].x) == [h["tokens_seen"] for h in result.history]
    assert plot.figure().layout.xaxis.title.text == "tokens seen"
    with pytest.raises(ValueError, match="tokens_seen"):
        LivePlot(x="tokens")


def test_live_plot_shows_one_output_updated_in_place(small_model, batches, notebook):
    plot = LivePlot(every_s=3600)  # throttled: only the first point and the end are drawn
    train(small_model, batches, quick(max_steps=5), callbacks=[plot])
    assert [kind for kind, _ in notebook] == ["display", "update"]
    (_, first), (_, final) = notebook
    assert "plotly.js" in first["text/html"][:5000] and len(first["text/html"]) > 1_000_000  # plotly.js inlined once
    assert "Plotly.newPlot" in final["text/html"] and len(final["text/html"]) < 100_000  # later: only the figure
    assert len(final[PLOTLY_MIME]["data"][0]["y"]) == 5 and PLOTLY_MIME not in first
    assert final["text/plain"].startswith("LivePlot: 5 points, step 5, train loss")


def test_unthrottled_live_plot_redraws_every_step(small_model, batches, notebook):
    plot = LivePlot(every_s=0)
    train(small_model, batches, quick(max_steps=4), callbacks=[plot])
    assert [kind for kind, _ in notebook] == ["display", "update", "update", "update", "update"]


def test_in_colab_every_update_loads_plotly_from_the_cdn(small_model, batches, notebook, monkeypatch):
    monkeypatch.setattr(plot_module, "in_colab", lambda: True)
    train(small_model, batches, quick(max_steps=3), callbacks=[LivePlot(every_s=0)])
    for _, bundle in notebook:
        assert 'src="https://cdn.plot.ly/' in bundle["text/html"] and PLOTLY_MIME not in bundle


def test_outside_a_notebook_nothing_is_displayed(small_model, batches, capsys):
    plot = LivePlot(every_s=0)
    train(small_model, batches, quick(max_steps=3), callbacks=[plot])
    assert capsys.readouterr().out == "" and len(plot.train) == 3


def test_a_second_run_with_the_same_plot_starts_over(small_model, batches):
    plot = LivePlot()
    train(small_model, batches, quick(max_steps=6), callbacks=[plot])
    train(small_model, batches, quick(max_steps=2), callbacks=[plot])
    assert [p["step"] for p in plot.train] == [1, 2]


# -- static figures -----------------------------------------------------------------------------------
def test_loss_figure_without_evaluations_or_learning_rate():
    fig = loss_figure([{"step": 1, "loss": 3.0}, {"step": 2, "loss": 2.5}])
    assert [t.name for t in fig.data] == ["train loss"]


def test_compare_runs_draws_one_line_per_run(small_model, batches):
    small = train(small_model, batches[:1], quick(max_steps=4, eval_every=2), eval_batches=batches[:1])
    large = train(small_model, batches, quick(max_steps=6, eval_every=2), eval_batches=batches[:1])
    fig = compare_runs({"1 batch": small.history, "all batches": large.history}, metric="loss")
    assert [t.name for t in fig.data] == ["1 batch", "all batches"]
    assert [len(t.y) for t in fig.data] == [4, 6]
    val = compare_runs({"1 batch": small, "all batches": large.state}, metric="val_loss", x="tokens_seen")
    assert list(val.data[1].y) == [e["val_loss"] for e in large.state.evals]
    assert list(val.data[1].x) == [e["tokens_seen"] for e in large.state.evals]
    with pytest.raises(ValueError, match="'1 batch' has no records with 'val_loss'"):
        compare_runs({"1 batch": small.history}, metric="val_loss")


def test_bar_chart_of_one_table_and_of_several_side_by_side():
    base = pd.DataFrame({"n": [2, 2], "score": [0.1, 0.0], "correct": [0.0, 0.0]},
                        index=pd.Index(["qa", "urgency"], name="task"))
    tuned = base.assign(score=[0.8, 1.0], correct=[0.5, 1.0])
    one = bar_chart(base)
    assert len(one.data) == 1 and list(one.data[0].x) == ["qa", "urgency"] and list(one.data[0].y) == [0.1, 0.0]
    both = bar_chart({"base": base, "tuned": tuned}, column="correct")
    assert [t.name for t in both.data] == ["base", "tuned"] and both.layout.barmode == "group"
    assert list(both.data[1].y) == [0.5, 1.0] and both.layout.yaxis.range == (0, 1.1)
    with pytest.raises(ValueError, match="no column 'accuracy'"):
        bar_chart(base, column="accuracy")


# -- the same plot for transformers' Trainer and TRL ---------------------------------------------------
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`gradient_checkpointing` is deprecated:FutureWarning")  # TRL's default
def test_trainer_callback_receives_every_logged_loss_of_trl(tokenizer, tmp_path):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    model = build_model(tokenizer, TinyConfig(vocab_size=len(tokenizer), hidden_size=32, num_layers=2, num_heads=2,
                                              intermediate_size=64))
    plot = LivePlot(x="step")
    args = SFTConfig(output_dir=str(tmp_path), max_steps=6, per_device_train_batch_size=2, logging_steps=1,
                     eval_strategy="steps", eval_steps=3, per_device_eval_batch_size=3, learning_rate=1e-3,
                     use_cpu=True, report_to=[], save_strategy="no", disable_tqdm=True, max_length=64)
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(PAIRS),
                         eval_dataset=Dataset.from_list(PAIRS[:3]), processing_class=tokenizer,
                         callbacks=[plot.trainer_callback()])
    trainer.train()

    logged = [log for log in trainer.state.log_history if "loss" in log]
    assert [p["step"] for p in plot.train] == [log["step"] for log in logged] == [1, 2, 3, 4, 5, 6]
    assert [p["loss"] for p in plot.train] == [log["loss"] for log in logged]
    assert [p["lr"] for p in plot.train] == [log["learning_rate"] for log in logged]
    evals = [log for log in trainer.state.log_history if "eval_loss" in log]
    assert [(p["step"], p["val_loss"]) for p in plot.evals] == [(e["step"], e["eval_loss"]) for e in evals]
    assert [p["step"] for p in plot.evals] == [3, 6]
    assert len(plot.figure().data[0].y) == 6


def test_trainer_callback_in_tokens_needs_the_token_count(tmp_path):
    from transformers import TrainerControl, TrainerState, TrainingArguments

    callback = LivePlot(x="tokens_seen").trainer_callback()
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    with pytest.raises(ValueError, match="include_num_input_tokens_seen=True"):
        callback.on_train_begin(args, TrainerState(), TrainerControl())



def test_attach_puts_the_plot_in_place_of_the_printed_logs(small_model, tmp_path):
    from transformers import Trainer, TrainingArguments
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from course_utils.plot import LivePlotCallback

    trainer = Trainer(model=small_model, args=TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True))
    plot = LivePlot()
    plot.attach(trainer)
    callbacks = trainer.callback_handler.callbacks
    assert [c.plot for c in callbacks if isinstance(c, LivePlotCallback)] == [plot]
    assert not any(isinstance(c, (PrinterCallback, ProgressCallback)) for c in callbacks)


def test_show_table_prints_text_cells_up_to_the_width_asked(capsys):
    answer = "Yara Berg reports that her Tidegate M4 soundbar makes a rattling noise and asks for a repair."
    table = pd.DataFrame({"answer": [answer]})
    plot_module.show_table(table, text_width=120)
    assert answer in capsys.readouterr().out
    plot_module.show_table(table, text_width=40)
    shown = capsys.readouterr().out
    assert answer not in shown and answer[:30] in shown


def test_line_chart_draws_a_line_per_column_against_the_index():
    sweep = pd.DataFrame({"score": [0.2, 0.8], "correct": [0.0, 0.6]}, index=pd.Index([25, 400], name="pairs"))
    fig = plot_module.line_chart(sweep, title="sweep", x_title="training pairs", log_x=True)
    assert [t.name for t in fig.data] == ["score", "correct"] and list(fig.data[1].y) == [0.0, 0.6]
    assert list(fig.data[0].x) == [25, 400] and fig.layout.xaxis.type == "log"
    assert fig.layout.yaxis.range == (0, 1.05), "shares get the axis from 0 to 1"
    assert plot_module.line_chart(sweep * 10, title="sweep", x_title="pairs").layout.yaxis.range is None


def test_show_mask_marks_every_prompt_target_and_padding_token(tokenizer):
    from course_utils import sft

    rows = [{"prompt": "Where?", "completion": "Ostmark."},
            {"prompt": "Where is Korvale, the town by the lake?", "completion": "In Ostmark, as it always was."}]
    examples, _ = sft.prepare(tokenizer, rows, verbose=False)
    batch = sft.collate_padded(examples, tokenizer.pad_token_id)
    page = plot_module.show_mask(batch, tokenizer).data
    n_padding, n_targets = int((batch["attention_mask"] == 0).sum()), int((batch["labels"] != -100).sum())
    assert page.count('title="padding"') == n_padding > 0
    assert page.count('title="target"') == n_targets
    assert page.count('title="prompt"') == batch["input_ids"].numel() - n_padding - n_targets


def test_token_bars_draw_a_group_per_token_and_a_bar_per_column():
    table = pd.DataFrame({"T = 1": [0.5, 0.3], "T = 2": [0.4, 0.35]}, index=pd.Index(["' a'", "' b'"], name="token"))
    fig = plot_module.token_bars(table, "temperature", "Two temperatures")
    assert [trace.name for trace in fig.data] == ["T = 1", "T = 2"] and list(fig.data[1].y) == [0.4, 0.35]
    assert list(fig.data[0].x) == ["' a'", "' b'"]
    assert fig.layout.barmode == "group" and fig.layout.legend.title.text == "temperature"


def test_attention_heatmap_labels_each_position_and_puts_row_zero_on_top():
    import torch

    fig = plot_module.attention_heatmap(torch.tensor([[1.0, 0.0], [0.25, 0.75]]), ["<s>", "Hi"], "Layer 1, head 1")
    heat = fig.data[0]
    assert list(heat.x) == list(heat.y) == ["0:<s>", "1:Hi"]
    assert [list(row) for row in heat.z] == [[1.0, 0.0], [0.25, 0.75]]
    assert fig.layout.yaxis.autorange == "reversed"


def test_mean_sd_chart_draws_each_arm_as_the_mean_of_its_seeds_with_their_spread():
    runs = pd.DataFrame({"arm": ["a"] * 4 + ["b"] * 4, "pairs": [10, 10, 100, 100] * 2,
                         "score": [0.2, 0.4, 0.8, 0.8, 0.1, 0.1, 0.5, 0.9]})
    fig = plot_module.mean_sd_chart(runs, x="pairs", y="score", line="arm", title="sweep", x_title="training pairs")
    assert [t.name for t in fig.data] == ["a", "b"]
    assert list(fig.data[0].x) == [10, 100] and list(fig.data[0].y) == pytest.approx([0.3, 0.8])
    assert list(fig.data[1].error_y.array) == pytest.approx([0.0, runs["score"].iloc[6:].std()])
    assert fig.layout.xaxis.type == "log" and tuple(fig.layout.yaxis.range) == (0, 1.05)
    assert "2 runs" in fig.layout.yaxis.title.text


# -- figures in place of wide tables -------------------------------------------------------------
def test_axes_say_in_words_what_a_column_holds():
    fig = compare_runs({"a": [{"step": 1, "val_loss": 2.0}], "b": [{"step": 1, "val_loss": 1.5}]}, metric="val_loss")
    assert fig.layout.yaxis.title.text == "validation loss (cross-entropy per token)"
    table = pd.DataFrame({"format_ok": [0.5, 1.0]}, index=pd.Index(["x", "y"], name="task"))
    assert bar_chart(table, column="format_ok").layout.yaxis.title.text == "share of answers in the required form"
    assert plot_module.axis_name("tokens_seen") == "tokens seen"


def test_a_score_grid_becomes_a_heat_map_with_its_numbers_written_in():
    grid = pd.DataFrame({("base", "test"): [0.1, 0.25], ("tuned", "test"): [0.9, 0.75]}, index=["urgency", "mean"])
    fig = plot_module.score_heatmap(grid, "Scores", "model · test set", "task type")
    (heat,) = fig.data
    assert list(heat.x) == ["base<br>test", "tuned<br>test"] and list(heat.y) == ["urgency", "mean"]
    assert [list(row) for row in heat.z] == [[0.1, 0.9], [0.25, 0.75]] and heat.texttemplate == "%{z:.2f}"
    assert (heat.zmin, heat.zmax) == (0, 1) and fig.layout.yaxis.autorange == "reversed"


def test_parts_of_a_whole_stack_into_one_bar_per_setup_with_its_total():
    memory = pd.DataFrame({"full": [10.0, 10.0, 20.0, 80.0], "LoRA": [10.0, 0.5, 1.0, 78.0]},
                          index=["weights", "gradients", "AdamW state", "activations"])
    fig = plot_module.stacked_bars(memory, "Memory", "megabytes", "part")
    bars = [t for t in fig.data if t.type == "bar"]
    assert [b.name for b in bars] == list(memory.index) and fig.layout.barmode == "stack"
    (totals,) = [t for t in fig.data if t.type == "scatter"]
    assert list(totals.text) == ["total 120.0", "total 89.5"]


def test_the_cost_chart_is_log_log_with_a_labelled_point_per_run():
    cost = pd.DataFrame({"parameters": [1e6, 1e9], "FLOPs (6ND)": [1.2e14, 1.2e20], "time here": ["4 hours", "500 years"]},
                        index=["small", "large"])
    fig = plot_module.cost_chart(cost, "Cost", hover=["time here"])
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert list(fig.data[0].text) == ["small", "large"] and "time here: 500 years" in fig.data[0].hovertext[1]


def test_the_pipeline_diagram_names_every_stage_and_lights_the_current_one():
    svg = plot_module.pipeline("supervised fine-tuning").data
    for stage, _, result, _ in plot_module.PIPELINE:
        assert stage in svg and result in svg
    assert svg.count('fill="#1f4e79"') == 1  # one highlighted box
    assert 'fill="#1f4e79"' not in plot_module.pipeline().data
    with pytest.raises(ValueError, match="current must be one of"):
        plot_module.pipeline("RLHF")


def test_a_filter_becomes_a_funnel_with_a_trace_per_part():
    stages = pd.DataFrame({"right": [60, 58, 57], "not right": [340, 242, 63]},
                          index=["generated", "in the form", "faithful"])
    fig = plot_module.funnel_chart(stages, "Filter")
    assert [t.name for t in fig.data] == ["right", "not right"]
    assert list(fig.data[0].y) == ["generated", "in the form", "faithful"] and list(fig.data[1].x) == [340, 242, 63]
    assert fig.data[0].textinfo == "value+percent initial"
