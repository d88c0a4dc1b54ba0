"""Plots of training runs and evaluations: a live loss curve, run comparisons and bar charts.

``LivePlot`` draws the training loss, the validation loss and the learning rate (on its own
axis, on the right) while a run goes on, in the cell that started it:

    plot = LivePlot(x="step", smooth=0.9)
    result = train(model, batches, config, eval_batches, callbacks=[plot])

``plot.trainer_callback()`` draws the same figure for a ``transformers.Trainer`` or a TRL
``SFTTrainer``. ``compare_runs`` puts several finished runs on one figure, ``bar_chart``
draws the per-task tables of ``course_utils.evaluate`` and ``line_chart`` the measures of a sweep.
``show_mask`` shows which tokens of an SFT batch the loss is computed on. ``score_heatmap``,
``stacked_bars``, ``cost_chart`` and ``funnel_chart`` draw a grid of scores, the parts of a whole, a
cost that grows as a power of the size and the stages of a filter; ``pipeline`` draws the stages that make a chat model.

How the live plot redraws, and why this way. The figure is shown once with a display id and
then replaced in place (``DisplayHandle.update``), at most every ``every_s`` seconds and once
more at the end, so the cell keeps exactly one output and a saved notebook holds the final
figure. What is sent matters, because notebook front ends render updates differently. Checked
in JupyterLab 4.6 with plotly 7.1 in headless Chromium (tests/browser/test_plot_browser.py):

- Plotly's own MIME type (``application/vnd.plotly.v1+json``) is *not* used for the updates:
  JupyterLab's plotly renderer draws the first version and ignores every update (plotly.py
  issue 3053). Twenty updates sent that way left the page showing the first single point,
  although the saved notebook looked right.
- Updates are sent as ``text/html``: a ``<div>`` and a script that calls ``Plotly.newPlot``.
  JupyterLab re-renders HTML on every update and runs its scripts (the output is trusted, as
  this session produced it); the page showed the trace growing, 13, 17, 22, ... 60 points.
  plotly.js itself (about 5 MB) is inlined only in the first display, which defines the
  page-wide ``Plotly``; later updates reuse it, so nothing is fetched from the internet and the
  kernel does not resend 5 MB at every redraw.
- Google Colab shows every output in its own iframe, so an update there cannot count on a
  ``Plotly`` defined by an earlier output. In Colab each update loads plotly.js from plotly's
  CDN (Colab is online and the browser caches it), as plotly's own Colab renderer does, and
  Colab applies ``update_display`` to HTML outputs (colabtools issue 2020).
- The final update adds plotly's MIME type beside the HTML (not in Colab): a saved notebook,
  reopened, then shows the figure wherever a plotly renderer exists (JupyterLab, VS Code),
  although the scripts of saved, untrusted HTML do not run. Switching to that renderer at the
  end does draw the final data (it is a new renderer, not an update of the old one).
- ``FigureWidget`` needs anywidget and fails in Colab and VS Code; an ipywidgets ``Output``
  redraws in JupyterLab, but Colab does not render plotly inside it and a saved notebook holds
  a widget reference instead of the figure. Neither is used.

Headless runs (nbclient) apply the updates too and save the final figure; nbval ignores
updates (it keeps the first display), which matters only to cells marked to check output.
Outside a notebook kernel (a script, pytest) nothing is displayed: the points are still
recorded, and ``plot.figure()`` returns the figure.
"""
from __future__ import annotations

import html
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from course_utils.train import IGNORE

X_AXES = {"step": "step", "tokens_seen": "tokens seen"}
# Axis titles in words for the columns and metrics the library's tables and runs use.
AXIS_NAMES = {
    "loss": "training loss (cross-entropy per token)", "val_loss": "validation loss (cross-entropy per token)",
    "token_accuracy": "share of target tokens predicted right", "score": "score (share of fields right)",
    "format_ok": "share of answers in the required form", "correct": "share of answers with every fact right",
    "rate": "share of answers", "lr": "learning rate",
}
# Colours that read on a white page and on JupyterLab's dark one, and for the common colour blindnesses.
SCORE_SCALE = "Viridis"
PLOTLY_MIME = "application/vnd.plotly.v1+json"


def axis_name(column: str) -> str:
    """A column or metric name as an axis title: ``val_loss`` -> ``validation loss (...)``; others with spaces."""
    return AXIS_NAMES.get(column, column.replace("_", " "))


def ema(values: Sequence[float], smooth: float) -> list[float]:
    """Exponential moving average, corrected for its start at 0 (as TensorBoard's smoothing).

    s_t = smooth * s_(t-1) + (1 - smooth) * x_t, divided by 1 - smooth^t so the first points
    are not pulled towards zero. ``smooth`` = 0 returns the values unchanged.
    """
    if not 0 <= smooth < 1:
        raise ValueError(f"smooth must be in [0, 1), got {smooth}")
    smoothed, running = [], 0.0
    for t, value in enumerate(values, start=1):
        running = smooth * running + (1 - smooth) * value
        smoothed.append(running / (1 - smooth**t))
    return smoothed


def _check_x(x: str) -> None:
    if x not in X_AXES:
        raise ValueError(f"x must be one of {sorted(X_AXES)}, got {x!r}")


def _column(points: Sequence[Mapping[str, Any]], key: str) -> list:
    return [p.get(key) for p in points]


# -- a figure of one run ---------------------------------------------------------------------
def loss_figure(
    history: Sequence[Mapping[str, Any]],
    evals: Sequence[Mapping[str, Any]] = (),
    x: str = "step",
    smooth: float = 0.0,
    title: str = "Training",
    height: int = 420,
    log_y: bool = False,
) -> go.Figure:
    """Train loss (raw, and smoothed when ``smooth`` > 0), validation loss, and the learning rate on the right.

    ``history`` and ``evals`` are lists of records as in ``TrainState.history`` and ``.evals``.
    """
    _check_x(x)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    xs, losses = _column(history, x), _column(history, "loss")
    if smooth > 0:
        fig.add_trace(go.Scatter(x=xs, y=losses, name="train loss", mode="lines",
                                 line={"color": "#1f77b4", "width": 1}, opacity=0.3))
        fig.add_trace(go.Scatter(x=xs, y=ema(losses, smooth), name=f"train loss (EMA {smooth:g})",
                                 mode="lines", line={"color": "#1f77b4", "width": 2}))
    else:
        fig.add_trace(go.Scatter(x=xs, y=losses, name="train loss", mode="lines", line={"color": "#1f77b4"}))
    if evals:
        fig.add_trace(go.Scatter(x=_column(evals, x), y=_column(evals, "val_loss"), name="validation loss",
                                 mode="lines+markers", line={"color": "#d62728"}))
    lrs = _column(history, "lr")
    if any(lr is not None for lr in lrs):
        fig.add_trace(go.Scatter(x=xs, y=lrs, name="learning rate", mode="lines",
                                 line={"color": "#7f7f7f", "dash": "dot", "width": 1}), secondary_y=True)
    fig.update_layout(title=title, height=height, hovermode="x unified", margin={"t": 60, "b": 40},
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0})
    fig.update_xaxes(title_text=X_AXES[x])
    fig.update_yaxes(title_text="loss (cross-entropy per token)", secondary_y=False, type="log" if log_y else "linear")
    fig.update_yaxes(title_text="learning rate", secondary_y=True, showgrid=False, tickformat=".1e")
    return fig


# -- the live plot ---------------------------------------------------------------------------
def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Colab, VS Code, nbclient), where displays can update."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and hasattr(shell, "kernel")


def in_colab() -> bool:
    """True in Google Colab, whose outputs live in separate iframes."""
    return "google.colab" in sys.modules


@dataclass
class LivePlot:
    """A loss plot that redraws itself while a run trains; pass it in ``callbacks`` (one plot per run)."""

    x: str = "step"  # "step" or "tokens_seen"
    smooth: float = 0.0  # EMA weight of the past for the train loss (0: raw only; 0.9: a smooth curve beside it)
    every_s: float = 1.0  # redraw at most this often, in seconds (the end always redraws)
    title: str = "Training"
    height: int = 420  # pixels
    log_y: bool = False  # loss on a log axis
    train: list[dict] = field(default_factory=list, init=False, repr=False)  # every training record received
    evals: list[dict] = field(default_factory=list, init=False, repr=False)  # every evaluation record received

    def __post_init__(self) -> None:
        _check_x(self.x)
        ema([], self.smooth)  # validates smooth
        self._handle = None
        self._last_draw = -math.inf

    # recording -------------------------------------------------------------------------------
    def log(self, record: Mapping[str, Any]) -> None:
        """Add one training record (``step``, ``tokens_seen``, ``loss``, ``lr``) and redraw if it is time."""
        self.train.append(dict(record))
        self.refresh()

    def log_eval(self, record: Mapping[str, Any]) -> None:
        """Add one evaluation record (``step``, ``tokens_seen``, ``val_loss``) and redraw if it is time."""
        self.evals.append(dict(record))
        self.refresh()

    # the callback protocol of course_utils.train ---------------------------------------------------
    def on_step(self, state) -> None:
        _catch_up(self.train, state.history)
        self.refresh()

    def on_evaluate(self, state) -> None:
        _catch_up(self.evals, state.evals)
        self.refresh()

    def on_end(self, state) -> None:
        _catch_up(self.train, state.history)
        _catch_up(self.evals, state.evals)
        self.finish()

    def trainer_callback(self) -> "LivePlotCallback":
        """This plot as a ``transformers.TrainerCallback``, for ``Trainer`` and TRL's ``SFTTrainer``."""
        return LivePlotCallback(self)

    def attach(self, trainer) -> None:
        """Draw this plot from a ``transformers.Trainer``'s logs (TRL's trainers too) in place of the lines it prints."""
        trainer.add_callback(self.trainer_callback())
        for printer in (PrinterCallback, ProgressCallback):
            trainer.remove_callback(printer)

    # drawing ------------------------------------------------------------------------------------
    def figure(self) -> go.Figure:
        """The figure of every point recorded so far."""
        return loss_figure(self.train, self.evals, self.x, self.smooth, self.title, self.height, self.log_y)

    def refresh(self) -> None:
        """Redraw, unless the last redraw was less than ``every_s`` seconds ago."""
        if time.monotonic() - self._last_draw >= self.every_s:
            self._draw(final=False)

    def finish(self) -> None:
        """Draw the final figure; the next run with this plot starts a new output."""
        self._draw(final=True)
        self._handle = None

    def _draw(self, final: bool) -> None:
        self._last_draw = time.monotonic()
        if not in_notebook() or not self.train:
            return
        from IPython.display import display

        bundle = self.bundle(first=self._handle is None, final=final)
        if self._handle is None:
            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)

    def bundle(self, first: bool, final: bool) -> dict[str, Any]:
        """What one display or update sends: HTML that draws the figure, and a line of text.

        plotly.js goes inline into the first display only (from the CDN in each Colab update);
        the final update adds plotly's own MIME type for notebooks reopened later.
        """
        fig = self.figure()
        plotlyjs: bool | str = "cdn" if in_colab() else first
        # Not "responsive": that adds a window listener per drawing, which replaced drawings would leak.
        html = fig.to_html(full_html=False, include_plotlyjs=plotlyjs, default_height=f"{self.height}px",
                           config={"displaylogo": False, "responsive": False})
        bundle: dict[str, Any] = {"text/html": html, "text/plain": self.summary()}
        if final and not in_colab():
            bundle[PLOTLY_MIME] = fig.to_plotly_json()
        return bundle

    def summary(self) -> str:
        """One line on where the run stands: what a terminal or a text-only viewer shows."""
        if not self.train:
            return "LivePlot: no points yet"
        last = self.train[-1]
        text = f"LivePlot: {len(self.train)} points, {X_AXES[self.x]} {last.get(self.x)}, train loss {last['loss']:.4f}"
        if self.evals:
            text += f", validation loss {self.evals[-1]['val_loss']:.4f}"
        return text


def _catch_up(mine: list[dict], theirs: Sequence[Mapping[str, Any]]) -> None:
    """Copy the records of ``theirs`` that ``mine`` lacks; a shorter ``theirs`` means a new run began."""
    if len(theirs) < len(mine):
        mine.clear()
    mine.extend(dict(r) for r in theirs[len(mine):])


class LivePlotCallback(TrainerCallback):
    """A ``LivePlot`` fed by a ``transformers.Trainer`` (TRL's trainers included) through ``on_log``.

    The trainer logs ``loss`` and ``learning_rate`` every ``logging_steps`` steps and
    ``eval_loss`` after each evaluation; ``x="tokens_seen"`` needs the trainer argument
    ``include_num_input_tokens_seen=True``.
    """

    def __init__(self, plot: LivePlot | None = None, **plot_settings: Any):
        self.plot = plot if plot is not None else LivePlot(**plot_settings)

    def on_train_begin(self, args, state, control, **kwargs):
        if self.plot.x == "tokens_seen" and args.include_num_input_tokens_seen in ("no", False):
            raise ValueError("LivePlot(x='tokens_seen') needs the trainer argument include_num_input_tokens_seen=True")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        where = {"step": state.global_step, "tokens_seen": state.num_input_tokens_seen}
        if "loss" in logs:
            self.plot.log({**where, "loss": logs["loss"], "lr": logs.get("learning_rate")})
        if "eval_loss" in logs:
            self.plot.log_eval({**where, "val_loss": logs["eval_loss"]})

    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.plot.finish()


# -- static figures --------------------------------------------------------------------------
def _points(run: Any, metric: str) -> Sequence[Mapping[str, Any]]:
    """The records of a run that hold ``metric``: from a list of records, a TrainState or a TrainResult."""
    state = getattr(run, "state", run)
    if hasattr(state, "history"):
        run = state.evals if metric.startswith("val_") else state.history
    return [r for r in run if r.get(metric) is not None]


def compare_runs(
    runs: Mapping[str, Any],
    metric: str = "loss",
    x: str = "step",
    smooth: float = 0.0,
    title: str | None = None,
    height: int = 420,
) -> go.Figure:
    """One line per run of ``metric`` (``loss``, ``val_loss``, ``token_accuracy``...) against ``x``.

    A run is a list of records (``result.history``, ``result.state.evals``) or a ``TrainResult``
    or ``TrainState``, whose validation records are used for metrics that start with ``val_``.
    """
    _check_x(x)
    fig = go.Figure()
    for name, run in runs.items():
        points = _points(run, metric)
        if not points:
            raise ValueError(f"run {name!r} has no records with {metric!r}; pass its history for train metrics "
                             f"or its evals for validation metrics")
        ys = _column(points, metric)
        fig.add_trace(go.Scatter(x=_column(points, x), y=ema(ys, smooth) if smooth else ys, name=str(name),
                                 mode="lines+markers" if len(points) < 30 else "lines"))
    fig.update_layout(title=title or f"{axis_name(metric)} by run", height=height, hovermode="x unified",
                      xaxis_title=X_AXES[x], yaxis_title=axis_name(metric))
    return fig


def bar_chart(
    table: pd.DataFrame | Mapping[str, pd.DataFrame],
    column: str = "score",
    title: str | None = None,
    height: int = 380,
) -> go.Figure:
    """Bars of ``column`` per task from ``Evaluation.table``; a dict of tables puts models side by side."""
    tables = {"": table} if isinstance(table, pd.DataFrame) else dict(table)
    fig = go.Figure()
    for name, t in tables.items():
        if column not in t.columns:
            raise ValueError(f"table {name or ''!r} has no column {column!r}; its columns are {list(t.columns)}")
        fig.add_trace(go.Bar(x=[str(i) for i in t.index], y=t[column].tolist(), name=name or column,
                             text=[f"{v:.2f}" for v in t[column]], textposition="outside"))
    fig.update_layout(title=title or f"{axis_name(column)} per task", height=height, barmode="group",
                      showlegend=len(tables) > 1, xaxis_title=axis_name(tables[next(iter(tables))].index.name or ""),
                      yaxis_title=axis_name(column))
    if all(t[column].between(0, 1).all() for t in tables.values()):
        fig.update_yaxes(range=[0, 1.1])
    return fig


def show_table(table: pd.DataFrame, text_width: int = 100) -> None:
    """Display ``table`` with its text cells cut at ``text_width`` characters instead of pandas' 50, so
    that answers and instructions can be read whole."""
    from IPython.display import display

    with pd.option_context("display.max_colwidth", text_width):
        display(table)


def token_bars(table: pd.DataFrame, legend: str, title: str, height: int = 380) -> go.Figure:
    """Grouped bars of next-token probabilities (as from ``generate.token_table``): a group per token and
    a bar per column, for instance per decoding rule; ``legend`` names what the columns are."""
    fig = go.Figure([go.Bar(x=table.index.tolist(), y=table[column].tolist(), name=str(column))
                     for column in table.columns])
    fig.update_layout(title=title, height=height, barmode="group", legend_title_text=legend,
                      xaxis_title=table.index.name or "token", yaxis_title="probability")
    return fig


def attention_heatmap(weights: torch.Tensor, tokens: Sequence[str], title: str, height: int = 520) -> go.Figure:
    """One head's attention weights (positions x positions) as a heat map, row 0 at the top: row i is how
    much position i attends to each position j. Each position is labelled with its number and token."""
    labels = [f"{i}:{token}" for i, token in enumerate(tokens)]
    fig = go.Figure(go.Heatmap(z=weights.tolist(), x=labels, y=labels, colorscale="Blues", colorbar={"title": "weight"}))
    fig.update_layout(title=title, height=height, xaxis_title="attends to position", yaxis_title="position")
    fig.update_yaxes(autorange="reversed")
    return fig


def line_chart(table: pd.DataFrame, title: str, x_title: str, log_x: bool = False, height: int = 420) -> go.Figure:
    """One line per column of ``table`` against its index: the measures of a sweep (accuracies against
    the number of training pairs, say). Shares, all between 0 and 1, get an axis from 0 to 1."""
    fig = go.Figure()
    for column in table.columns:
        fig.add_trace(go.Scatter(x=table.index.tolist(), y=table[column].tolist(), mode="lines+markers",
                                 name=str(column)))
    fig.update_layout(title=title, height=height, xaxis={"title": x_title, "type": "log" if log_x else "linear"})
    if ((table >= 0) & (table <= 1)).all().all():
        fig.update_yaxes(range=[0, 1.05], title="share")
    return fig


def mean_sd_chart(runs: pd.DataFrame, x: str, y: str, line: str, title: str, x_title: str, log_x: bool = True,
                  height: int = 420) -> go.Figure:
    """The mean of ``y`` over repeated runs (seeds) at each ``x``, one line per value of ``line``, with an
    error bar of one standard deviation: a sweep whose points would otherwise hide their own noise.
    ``runs`` holds one row per run."""
    stats = runs.groupby([line, x])[y].agg(["mean", "std", "count"]).reset_index()
    fig = go.Figure()
    for name, part in stats.groupby(line, sort=False):
        fig.add_trace(go.Scatter(x=part[x].tolist(), y=part["mean"].tolist(), mode="lines+markers", name=str(name),
                                 error_y={"type": "data", "array": part["std"].fillna(0).tolist(), "visible": True}))
    runs_per_point = int(stats["count"].min())
    fig.update_layout(title=title, height=height, legend_title_text=line,
                      xaxis={"title": x_title, "type": "log" if log_x else "linear"},
                      yaxis_title=f"{axis_name(y)}: mean and sd of {runs_per_point} runs")
    if runs[y].between(0, 1).all():
        fig.update_yaxes(range=[0, 1.05])
    return fig


def score_heatmap(table: pd.DataFrame, title: str, x_title: str, y_title: str, value_title: str = "score",
                  height: int | None = None) -> go.Figure:
    """A table of shares (0 to 1) as a heat map with each number written in its square, first row at the
    top: a grid of scores (tasks by test set, say) read at a glance. Columns of a two-level table are
    labelled on two lines, outer over inner, so that long names fit without being turned on their side."""
    columns = ["<br>".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in table.columns]
    fig = go.Figure(go.Heatmap(
        z=table.to_numpy(dtype=float).tolist(), x=columns, y=[str(i) for i in table.index], zmin=0, zmax=1,
        colorscale=SCORE_SCALE, colorbar={"title": value_title}, texttemplate="%{z:.2f}", xgap=2, ygap=2,
        hovertemplate=f"{y_title}: %{{y}}<br>{x_title}: %{{x}}<br>{value_title}: %{{z:.3f}}<extra></extra>"))
    fig.update_layout(title=title, height=height or 140 + 42 * len(table), xaxis_title=x_title, yaxis_title=y_title)
    fig.update_yaxes(autorange="reversed")
    return fig


def stacked_bars(table: pd.DataFrame, title: str, y_title: str, legend_title: str, height: int = 420) -> go.Figure:
    """One bar per column of ``table``, stacked from its rows: the parts of a whole side by side (the
    memory of two training setups, say), each part labelled with its size."""
    fig = go.Figure([go.Bar(x=[str(c) for c in table.columns], y=table.loc[part].tolist(), name=str(part),
                            text=[f"{v:,.1f}" for v in table.loc[part]], textposition="inside")
                     for part in table.index])
    totals = table.sum()
    fig.add_trace(go.Scatter(x=[str(c) for c in table.columns], y=totals.tolist(), mode="text", showlegend=False,
                             text=[f"total {v:,.1f}" for v in totals], textposition="top center", hoverinfo="skip"))
    fig.update_layout(title=title, height=height, barmode="stack", legend_title_text=legend_title,
                      yaxis_title=y_title, yaxis_range=[0, 1.15 * float(totals.max())])
    return fig


def cost_chart(cost: pd.DataFrame, title: str, x: str = "parameters", y: str = "FLOPs (6ND)",
               hover: Sequence[str] = (), height: int = 460) -> go.Figure:
    """Compute against model size on log-log axes, one labelled point per row of ``cost`` (as from
    ``compute.training_cost``): a power law is a straight line there, so "the square of the size" reads
    as a slope of 2. ``hover`` names columns shown when the pointer rests on a point (the run times)."""
    hover_text = ["<br>".join(f"{column}: {cost.loc[name, column]}" for column in hover) for name in cost.index]
    fig = go.Figure(go.Scatter(x=cost[x].tolist(), y=cost[y].tolist(), mode="markers+text",
                               text=[str(i) for i in cost.index], textposition="middle right",
                               hovertext=hover_text, hoverinfo="text+x+y", marker={"size": 10}))
    fig.update_layout(title=title, height=height, showlegend=False,
                      xaxis={"title": f"{x} (log scale)", "type": "log"},
                      yaxis={"title": f"{y} (log scale)", "type": "log", "exponentformat": "power"})
    return fig


def funnel_chart(table: pd.DataFrame, title: str, height: int = 380) -> go.Figure:
    """The stages of a filter, top to bottom, as a funnel. The columns of ``table`` are parts that add up
    to what a stage keeps (right and wrong pairs, say): they are drawn side by side, so a stage's width
    is its total, and each part is labelled with its count and the share of its first count still kept."""
    fig = go.Figure([go.Funnel(y=[str(i) for i in table.index], x=table[column].tolist(), name=str(column),
                               textinfo="value+percent initial") for column in table.columns])
    fig.update_layout(title=title, height=height, legend_title_text="", yaxis_title="filter stage")
    return fig


PIPELINE = (  # (stage, what it trains on, what comes out, where the workbook shows it)
    ("pre-training", "raw documents, every token a target", "base model", "Chapter 2"),
    ("supervised fine-tuning", "(instruction, response) pairs, loss on the response", "instruction model",
     "notebooks 04/01-06"),
    ("preference learning", "(prompt, chosen, rejected) pairs, DPO or a reward model", "aligned model",
     "notebook 04/07"),
)


def pipeline(current: str | None = None) -> Any:
    """The training pipeline of a chat model as a diagram: pre-training, then SFT, then preference
    learning, each with its data and its result. ``current`` (a stage's name) is drawn highlighted.
    Returns an ``IPython.display.SVG``; its boxes carry their own colours, so it reads in light and
    dark themes alike."""
    from IPython.display import SVG

    names = [stage for stage, *_ in PIPELINE]
    if current is not None and current not in names:
        raise ValueError(f"current must be one of {names}, got {current!r}")
    box_w, box_h, gap, top = 250, 132, 46, 30
    parts = []
    for i, (stage, data, result, where) in enumerate(PIPELINE):
        x = 10 + i * (box_w + gap)
        lit = stage == current
        fill, edge, ink = ("#1f4e79", "#0b2e4f", "#ffffff") if lit else ("#e8eef5", "#4a6fa5", "#13243a")
        parts.append(f'<rect x="{x}" y="{top}" width="{box_w}" height="{box_h}" rx="10" fill="{fill}" '
                     f'stroke="{edge}" stroke-width="2"/>')
        lines = [(stage, 17, "bold"), *((w, 13, "normal") for w in _wrap(data, 34)), (f"→ {result}", 14, "bold"),
                 (where, 12, "normal")]
        for k, (text, size, weight) in enumerate(lines):
            parts.append(f'<text x="{x + box_w / 2}" y="{top + 26 + 21 * k}" font-size="{size}" font-weight="{weight}" '
                         f'text-anchor="middle" fill="{ink}" font-family="sans-serif">{html.escape(text)}</text>')
        if i:
            y = top + box_h / 2
            parts.append(f'<path d="M{x - gap + 6},{y} L{x - 8},{y}" stroke="#4a6fa5" stroke-width="3" '
                         f'marker-end="url(#arrow)"/>')
    width = 20 + len(PIPELINE) * box_w + (len(PIPELINE) - 1) * gap
    arrow = ('<defs><marker id="arrow" markerWidth="10" markerHeight="10" refX="6" refY="3" orient="auto">'
             '<path d="M0,0 L0,6 L7,3 z" fill="#4a6fa5"/></marker></defs>')
    return SVG(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + box_h + 20}" '
               f'viewBox="0 0 {width} {top + box_h + 20}">{arrow}{"".join(parts)}</svg>')


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` characters, broken at spaces."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


# -- which tokens are targets ---------------------------------------------------------------------
MASK_STYLE = {"prompt": "color:#888", "target": "background:#c8f0c8; color:#064",
              "padding": "color:#bbb; text-decoration:line-through"}


def show_mask(batch: Mapping[str, Any], tokenizer: Any) -> Any:
    """Every token of a padded batch (``sft.collate_padded``), one line per row: prompt grey, targets
    green, padding struck out. Targets are the tokens whose label is not -100; padding is where
    ``attention_mask`` is 0. Returns an ``IPython.display.HTML`` to show in a notebook."""
    from IPython.display import HTML

    lines = []
    for ids, labels, attention in zip(batch["input_ids"].tolist(), batch["labels"].tolist(),
                                      batch["attention_mask"].tolist()):
        spans = []
        for token, label, seen in zip(ids, labels, attention):
            kind = "padding" if not seen else ("prompt" if label == IGNORE else "target")
            text = html.escape(tokenizer.decode([token])).replace("\n", "&#8629;")
            style = f"{MASK_STYLE[kind]}; border:1px solid #eee; margin:1px"
            spans.append(f'<span style="{style}" title="{kind}">{text}</span>')
        n_targets = sum(label != IGNORE for label in labels)
        lines.append(f"<p style='font-family:monospace; line-height:1.8'><b>{len(ids) - sum(attention)} padding, "
                     f"{n_targets} targets:</b> " + "".join(spans) + "</p>")
    legend = " ".join(f'<span style="{style}">{kind}</span>' for kind, style in MASK_STYLE.items())
    return HTML(f"<p>{legend}</p>" + "".join(lines))
