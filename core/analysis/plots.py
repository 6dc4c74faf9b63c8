"""Plotly figures of runs: evaluation, calibration, predictions, training curves, comparisons.
Each returns a ``go.Figure`` and never shows or saves it.

Inputs are plain data: the dict from ``core.metrics.classification.evaluate`` (its ``confusion``,
``roc``, ``pr``, ``calibration``, ``per_class`` parts), a run's ``calibration.json``, class
probabilities and training histories (wide: one row per epoch with ``epoch`` and metric
columns; or long: ``epoch``/``step``, ``key``, ``value``). The figures of a dataset (class
distribution, images, EDA) are in ``core.analysis.data_plots``; both share the style here
(``_layout``, ``plot_text``).
"""
from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.validation import ValidationError, check_number

__all__ = [
    "confusion_matrix_figure",
    "roc_figure",
    "pr_figure",
    "calibration_figure",
    "training_curves",
    "epoch_times_figure",
    "run_colors",
    "plot_text",
    "lr_finder_figure",
    "per_class_bars",
    "probability_bars",
    "compare_curves",
    "compare_roc",
    "history_frame",
    "confusion_matrix",
    "roc_curves",
    "pr_curves",
    "calibration",
    "roc_overlay",
    "lr_finder",
]

_TEMPLATE = "plotly_white"


def plot_text(s: Any) -> str:
    """Data text (class names, group values) as plain text in a figure: plotly renders a few
    HTML tags (``<a href>``, ``<b>``, ``<br>``) in tick labels, legends and titles."""
    return html.escape(str(s), quote=False)

_DIAG = dict(color="gray", dash="dot", width=1)


def _layout(fig: go.Figure, title: str | None, **kw) -> go.Figure:
    margin = kw.pop("margin", dict(l=40, r=20, t=50 if title else 20, b=40))
    fig.update_layout(template=_TEMPLATE, title=title, margin=margin, **kw)
    return fig


# --------------------------------------------------------------------------------------
# evaluation figures
# --------------------------------------------------------------------------------------
def confusion_matrix_figure(
    counts,
    class_names: Sequence[str] | None = None,
    *,
    normalized=None,
    color_by: str = "normalized",
    title: str | None = "Confusion matrix",
) -> go.Figure:
    """Heatmap, rows = actual, columns = predicted, each cell annotated with its count (and
    row percentage when ``normalized`` is given). ``counts`` may be ``evaluation["confusion"]``."""
    if isinstance(counts, Mapping):
        class_names = class_names or counts.get("labels")
        normalized = counts.get("normalized") if normalized is None else normalized
        counts = counts["counts"]
    if isinstance(counts, pd.DataFrame):
        class_names = class_names or [str(c) for c in counts.columns]
        counts = counts.to_numpy()
    cm = np.asarray(counts, dtype=float)
    k = cm.shape[0] if cm.ndim == 2 else 0
    if cm.ndim != 2 or cm.shape[1] != k:
        raise ValidationError(f"A confusion matrix must be square. Got shape {cm.shape}.")
    names = [plot_text(c) for c in (class_names or range(k))]
    if len(names) != k:
        raise ValidationError(f"{len(names)} class names for a {k}x{k} confusion matrix.")
    if normalized is not None:
        norm = np.array([[np.nan if v is None else v for v in row] for row in np.asarray(normalized, dtype=object)], float)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            norm = cm / cm.sum(axis=1, keepdims=True)
    pct = [["" if np.isnan(norm[i, j]) else f"{100 * norm[i, j]:.0f}%" for j in range(k)] for i in range(k)]
    text = [[f"{int(cm[i, j])}<br>{pct[i][j]}" for j in range(k)] for i in range(k)]
    z = norm if color_by == "normalized" else cm
    fig = go.Figure(go.Heatmap(
        z=z, x=names, y=names, text=text, texttemplate="%{text}", colorscale="Blues",
        zmin=0, zmax=1 if color_by == "normalized" else None,
        hovertemplate="actual %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
        colorbar=dict(title="row share" if color_by == "normalized" else "count"),
    ))
    fig.update_yaxes(autorange="reversed", title="actual")
    fig.update_xaxes(title="predicted", side="bottom")
    longest = max((len(n) for n in names), default=1)  # room for long, slanted class names
    return _layout(fig, title, height=max(350, 44 * k + 150 + min(160, 6 * longest if longest > 3 else 0)))


def _fmt(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def roc_figure(roc: Mapping[str, Any], *, title: str | None = "ROC curves (one-vs-rest)") -> go.Figure:
    """One line per class plus the micro and macro averages (dashed) and the chance diagonal."""
    fig = go.Figure()
    for name, c in roc.items():
        avg = name in ("micro", "macro")
        fig.add_trace(go.Scatter(
            x=c["fpr"], y=c["tpr"], mode="lines", name=f"{plot_text(name)}{' average' if avg else ''} (AUC {_fmt(c.get('auc'))})",
            line=dict(dash="dash", width=3) if avg else dict(width=1.5),
        ))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=_DIAG, name="chance", showlegend=False))
    fig.update_xaxes(range=[0, 1], title="false positive rate (1 - specificity)")
    fig.update_yaxes(range=[0, 1.02], title="true positive rate (sensitivity)")
    return _layout(fig, title)


def pr_figure(pr: Mapping[str, Any], *, title: str | None = "Precision-recall curves") -> go.Figure:
    fig = go.Figure()
    for name, c in pr.items():
        label = f"{plot_text(name)} (AP {_fmt(c.get('ap'))})"
        fig.add_trace(go.Scatter(x=c["recall"], y=c["precision"], mode="lines", name=label))
    fig.update_xaxes(range=[0, 1], title="recall")
    fig.update_yaxes(range=[0, 1.02], title="precision")
    return _layout(fig, title)


def calibration_figure(calibration: Mapping[str, Any], *, title: str | None = None) -> go.Figure:
    """Reliability diagram: accuracy vs mean top-1 confidence per bin, the ideal diagonal, and
    the number of samples per bin (bars, right axis)."""
    edges = np.asarray(calibration["edges"], float)
    centers = (edges[:-1] + edges[1:]) / 2
    conf = [np.nan if v is None else v for v in calibration["mean_confidence"]]
    acc = [np.nan if v is None else v for v in calibration["accuracy"]]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=centers, y=calibration["count"], width=np.diff(edges) * 0.9, name="samples",
                         marker_color="lightgray", opacity=0.6), secondary_y=True)
    fig.add_trace(go.Scatter(x=conf, y=acc, mode="lines+markers", name="model"), secondary_y=False)
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=_DIAG, name="perfectly calibrated"), secondary_y=False)
    fig.update_xaxes(range=[0, 1], title="confidence (top-1 probability)")
    fig.update_yaxes(range=[0, 1.02], title="accuracy", secondary_y=False)
    fig.update_yaxes(title="samples", secondary_y=True, showgrid=False)
    ece = calibration.get("ece")
    return _layout(fig, title or f"Reliability diagram (ECE {_fmt(ece)})")


def _ci_text(ci) -> str:
    return f" [{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci and ci[0] is not None and ci[1] is not None else ""


def calibration_before_after(report: Mapping[str, Any], *, title: str | None = None) -> go.Figure:
    """Reliability diagrams before and after temperature scaling side by side, from a run's
    ``calibration.json`` (``core.metrics.calibration.calibration_report``): accuracy per confidence bin
    with its bootstrap interval (error bars), the diagonal, and ECE with its interval in the
    panel titles."""
    names = []
    for side in ("before", "after"):
        d = report[side]
        label = "before (model's own)" if side == "before" else f"after (T = {_fmt(report.get('temperature'))})"
        names.append(f"{label}: ECE {_fmt(d.get('ece'))}{_ci_text(d.get('ci_ece'))}")
    fig = make_subplots(rows=1, cols=2, subplot_titles=names, shared_yaxes=True)
    for col, side in enumerate(("before", "after"), start=1):
        bins = report[side]["bins"]
        conf = [np.nan if v is None else v for v in bins["mean_confidence"]]
        acc = [np.nan if v is None else v for v in bins["accuracy"]]
        cis = bins.get("accuracy_ci") or [[None, None]] * len(acc)
        up = [np.nan if a != a or c[1] is None else c[1] - a for a, c in zip(acc, cis, strict=True)]
        down = [np.nan if a != a or c[0] is None else a - c[0] for a, c in zip(acc, cis, strict=True)]
        fig.add_trace(go.Scatter(x=conf, y=acc, mode="lines+markers", name=side, customdata=bins["count"],
                                 error_y=dict(type="data", array=up, arrayminus=down, visible=True),
                                 hovertemplate="confidence %{x:.3f}<br>accuracy %{y:.3f}<br>n=%{customdata}"
                                               "<extra></extra>"), row=1, col=col)
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=_DIAG, name="perfectly calibrated",
                                 showlegend=col == 1), row=1, col=col)
        fig.update_xaxes(range=[0, 1], title="confidence (top-1 probability)", row=1, col=col)
    fig.update_yaxes(range=[0, 1.05], title="accuracy", row=1, col=1)
    return _layout(fig, title or f"Temperature scaling on the test split (n={report.get('n')}, 95% bootstrap "
                                 "intervals)")


def per_class_bars(per_class, *, metrics: Sequence[str] = ("precision", "sensitivity", "specificity", "f1"),
                   title: str | None = "Per-class metrics") -> go.Figure:
    """Grouped bars, one group per class, one bar per metric (records or DataFrame)."""
    df = pd.DataFrame(per_class)
    if "class" not in df.columns:
        df = df.reset_index().rename(columns={"index": "class"})
    missing = [m for m in metrics if m not in df.columns]
    if missing:
        raise ValidationError(f"Per-class data lacks {missing!r}; available: {list(df.columns)}.")
    fig = go.Figure([go.Bar(x=[plot_text(c) for c in df["class"]], y=df[m], name=m) for m in metrics])
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 1.05])
    return _layout(fig, title)


def probability_bars(probs, class_names: Sequence[str], *, top_k: int = 5,
                     title: str | None = "Top predictions") -> go.Figure:
    """Horizontal bars of the ``top_k`` class probabilities, the most likely on top."""
    p = np.asarray(probs, float).reshape(-1)
    if len(p) != len(class_names):
        raise ValidationError(f"{len(p)} probabilities for {len(class_names)} classes.")
    top_k = check_number("top_k", top_k, low=1, integer=True)
    order = np.argsort(-p, kind="stable")[:top_k][::-1]
    fig = go.Figure(go.Bar(
        x=p[order], y=[plot_text(class_names[i]) for i in order], orientation="h",
        text=[f"{100 * v:.1f}%" for v in p[order]], textposition="auto",
    ))
    fig.update_xaxes(range=[0, 1], title="probability")
    return _layout(fig, title, height=max(200, 40 * len(order) + 100))


# --------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------
def history_frame(history) -> pd.DataFrame:
    """A wide history (one row per epoch, column ``epoch`` + metrics) from a list of dicts, a
    wide DataFrame, or a long DataFrame with ``key``, ``value`` and ``epoch`` or ``step``."""
    df = pd.DataFrame(history)
    if df.empty:
        return pd.DataFrame({"epoch": []})
    if {"key", "value"} <= set(df.columns):
        step = "epoch" if "epoch" in df.columns else "step" if "step" in df.columns else None
        if step is None:
            raise ValidationError("A long history needs an 'epoch' or 'step' column next to 'key' and 'value'.")
        df = df.pivot_table(index=step, columns="key", values="value", aggfunc="last").reset_index()
        df = df.rename(columns={step: "epoch"})
        df.columns.name = None
    if "epoch" not in df.columns:
        df = df.reset_index(drop=True)
        df.insert(0, "epoch", np.arange(1, len(df) + 1))
    return df.sort_values("epoch").reset_index(drop=True)


# history keys that are not training curves: timings go to :func:`epoch_times_figure`
_TIME_KEYS = ("epoch", "step", "time", "wall_time", "timestamp", "epoch_time_s", "epoch_time")
_LR_KEYS = ("lr", "learning_rate")
# one colour per run, the same in every figure of a page (see :func:`run_colors`)
RUN_PALETTE = ("#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#8C564B", "#E377C2", "#7F7F7F",
               "#BCBD22", "#17BECF")
_SPLIT_STYLE = {"train": dict(dash="solid", label="train"), "val": dict(dash="dash", label="validation")}


def run_colors(names: Sequence[Any]) -> dict[str, str]:
    """A run -> colour map (in the order given), to pass to every figure of a page so each run
    keeps one colour: the curves, the ROC overlay, the epoch times, the confusion titles."""
    out: dict[str, str] = {}
    for n in names:
        if str(n) not in out:
            out[str(n)] = RUN_PALETTE[len(out) % len(RUN_PALETTE)]
    return out


def _is_time_key(c: str) -> bool:
    return c in _TIME_KEYS or c.endswith("_time_s") or c.endswith("_time")


def _base_metrics(cols: Sequence[str]) -> list[str]:
    """Curve panels in display order: loss, accuracy, the other metrics, learning rate last.
    Timings (epoch_time_s, ...) are not curves and are left out."""
    out: list[str] = []
    for c in cols:
        if not isinstance(c, str) or _is_time_key(c):
            continue
        base = c[4:] if c.startswith("val_") else c
        if base not in out and not _is_time_key(base):
            out.append(base)
    first = [b for b in ("loss", "accuracy") if b in out]
    last = [b for b in out if b in _LR_KEYS]
    return first + [b for b in out if b not in first and b not in last] + last


def _panel_title(b: str) -> str:
    return "learning rate (log scale)" if b in _LR_KEYS else b.replace("_", " ")


def training_curves(history, *, metrics: Sequence[str] | None = None, title: str | None = "Training curves",
                    colors: Mapping[str, str] | None = None) -> go.Figure:
    """One panel per metric (loss, accuracy, ..., learning rate on a log axis): training solid,
    validation dashed. A long frame with a ``run`` column draws every run, one colour per run
    (``colors``: run -> colour, e.g. from :func:`run_colors`). Epoch timings are not drawn
    (see :func:`epoch_times_figure`)."""
    if isinstance(history, pd.DataFrame) and "run" in history.columns:
        runs = {str(r): part.drop(columns="run") for r, part in history.groupby("run", sort=False)}
        return _runs_training_curves(runs, metrics, title, colors)
    return _curves({"": history_frame(history)}, metrics, title, colors=None)


def _runs_training_curves(runs: Mapping[str, Any], metrics, title, colors=None) -> go.Figure:
    return _curves({str(name): history_frame(h) for name, h in runs.items()}, metrics, title, colors=colors)


def _curves(frames: Mapping[str, pd.DataFrame], metrics, title, *, colors) -> go.Figure:
    single = list(frames) == [""]
    bases = _curve_panels(frames, metrics, single)
    colors = dict(colors or {}) if not single else {}
    for name, c in run_colors(list(frames)).items():
        colors.setdefault(name, c)
    n = len(bases)
    ncols = n if n <= 4 else math.ceil(n / 2)
    nrows = math.ceil(n / ncols)
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=[_panel_title(b) for b in bases],
                        horizontal_spacing=min(0.08, 0.5 / max(ncols - 1, 1)), vertical_spacing=0.18)
    shown: set[str] = set()
    max_epoch = 1
    for i, b in enumerate(bases):
        row, col = i // ncols + 1, i % ncols + 1
        lr_values, panel_values, last_epoch = _panel_traces(fig, frames, b, (row, col), colors, shown, single=single)
        max_epoch = max(max_epoch, last_epoch)
        _panel_axes(fig, b, lr_values, panel_values, (row, col))
    if max_epoch <= 20:
        fig.update_xaxes(dtick=1)
    how = "solid: train · dashed: validation"
    full_title = f"{title} ({how})" if title else how
    return _layout(fig, full_title, height=330 * nrows + 40,
                   legend=dict(orientation="h", yanchor="bottom", y=1.12 if nrows == 1 else 1.06, xanchor="right", x=1),
                   margin=dict(l=50, r=20, t=100, b=40))


def _curve_panels(frames: Mapping[str, pd.DataFrame], metrics, single: bool) -> list[str]:
    """The metrics drawn, one panel each: ``metrics`` (or every curve of the histories) that a
    history has, as itself or as ``val_<metric>``."""
    cols: list[str] = []
    for df in frames.values():
        cols += [c for c in df.columns if c not in cols]
    bases = list(metrics) if metrics else _base_metrics(cols)
    bases = [b for b in bases if b in cols or f"val_{b}" in cols]
    if not bases:
        raise ValidationError(f"No metric columns to plot in the histor{'y' if single else 'ies'} (columns: {cols}).")
    return bases


def _trace_style(name: str, split: str, is_lr: bool, colors: Mapping[str, str], single: bool) -> tuple[str, str, str]:
    """(legend label, colour, legend group) of one curve."""
    if single:  # one run: colour by split (train / validation), lr its own colour
        label = "learning rate" if is_lr else _SPLIT_STYLE[split]["label"]
        color = "#2CA02C" if is_lr else RUN_PALETTE[0] if split == "train" else RUN_PALETTE[1]
        return label, color, label
    return name, colors[name], name  # several runs: colour by run, dash by split


def _panel_traces(fig: go.Figure, frames: Mapping[str, pd.DataFrame], b: str, cell: tuple[int, int],
                  colors: Mapping[str, str], shown: set[str], *, single: bool) -> tuple[list[float], list[float], int]:
    """Draw the train and validation curves of metric ``b`` of every run in panel ``cell``;
    returns (learning rates drawn, finite values drawn, last epoch drawn)."""
    is_lr = b in _LR_KEYS
    lr_values: list[float] = []
    panel_values: list[float] = []
    max_epoch = 1
    for name, df in frames.items():
        for split, colname in (("train", b), ("val", f"val_{b}")):
            if colname not in df.columns:
                continue
            part = df[["epoch", colname]].dropna()
            y = part[colname].astype(float)
            if is_lr:
                part, y = part[y > 0], y[y > 0]
                lr_values += list(y)
            if part.empty:
                continue
            panel_values += [float(v) for v in y if np.isfinite(v)]
            max_epoch = max(max_epoch, int(part["epoch"].max()))
            style = _SPLIT_STYLE[split]
            label, color, group = _trace_style(name, split, is_lr, colors, single)
            fig.add_trace(go.Scatter(
                x=part["epoch"], y=y, mode="lines+markers", name=label, legendgroup=group,
                showlegend=group not in shown, line=dict(color=color, dash=style["dash"], width=2),
                marker=dict(color=color, size=5),
                hovertemplate=(f"{name + ' · ' if name else ''}{'' if is_lr else style['label'] + ' '}"
                               f"{_panel_title(b)}<br>epoch %{{x}}: %{{y:.4g}}<extra></extra>"),
            ), row=cell[0], col=cell[1])
            shown.add(group)
    return lr_values, panel_values, max_epoch


def _panel_axes(fig: go.Figure, b: str, lr_values: list[float], panel_values: list[float],
                cell: tuple[int, int]) -> None:
    """A log axis for the learning rate, a readable range for a flat curve, the epoch axis title."""
    row, col = cell
    if b in _LR_KEYS and lr_values:
        lo, hi = math.log10(min(lr_values)), math.log10(max(lr_values))
        fig.update_yaxes(type="log", range=[lo - 0.5, hi + 0.5], exponentformat="power", dtick=1, row=row, col=col)
    elif panel_values and max(panel_values) - min(panel_values) < 1e-9:
        # a flat line: plotly would centre it on an arbitrary -0.5..1 axis; show it around its value
        v = panel_values[0]
        pad = max(abs(v) * 0.5, 0.01)
        fig.update_yaxes(range=[max(v - pad, 0.0) if v >= 0 else v - pad, v + pad], row=row, col=col)
    fig.update_xaxes(title="epoch", row=row, col=col)


def epoch_times_figure(history, *, title: str | None = "Time per epoch (s)",
                       colors: Mapping[str, str] | None = None) -> go.Figure:
    """Seconds per epoch as small bars (the first epoch includes building the graph). A long
    frame with a ``run`` column gives grouped bars, one colour per run."""
    if isinstance(history, pd.DataFrame) and "run" in history.columns:
        frames = {str(r): history_frame(part.drop(columns="run")) for r, part in history.groupby("run", sort=False)}
    else:
        frames = {"": history_frame(history)}
    colors = {**run_colors(list(frames)), **dict(colors or {})}
    fig = go.Figure()
    for name, df in frames.items():
        col = next((c for c in ("epoch_time_s", "epoch_time") if c in df.columns), None)
        if col is None:
            continue
        part = df[["epoch", col]].dropna()
        fig.add_trace(go.Bar(x=part["epoch"], y=part[col], name=name or "epoch time",
                             marker_color=colors.get(name, RUN_PALETTE[0]), showlegend=bool(name),
                             hovertemplate=f"{name + ' · ' if name else ''}epoch %{{x}}: %{{y:.2f}} s<extra></extra>"))
    if not fig.data:
        raise ValidationError("No epoch timings (epoch_time_s) in the history.")
    fig.update_layout(barmode="group")
    fig.update_xaxes(title="epoch", dtick=1 if max(len(t.x) for t in fig.data) <= 20 else None)
    fig.update_yaxes(title="seconds")
    n_bars = sum(len(t.x) for t in fig.data)
    # the run legend hangs below the epoch axis, so the title keeps the top margin to itself
    legend_rows = math.ceil(len(fig.data) / 3) if any(t.showlegend for t in fig.data) else 0
    return _layout(fig, title, height=260 + 24 * legend_rows, width=int(min(1000, max(480, 160 + 36 * n_bars))),
                   legend=dict(orientation="h", yanchor="top", y=-0.3, xanchor="left", x=0),
                   margin=dict(l=40, r=20, t=50 if title else 20, b=80 + 24 * max(legend_rows - 1, 0)))


def lr_finder_figure(lrs=None, losses=None, smoothed=None, suggested: float | None = None, *,
                     result: Any = None, title: str | None = "Learning-rate finder") -> go.Figure:
    """Loss against learning rate (log x): raw, smoothed, and the suggested rate as a marker
    line. Pass arrays, or ``result=`` an object with ``lrs, losses, smoothed, suggested_lr``."""
    if result is not None:
        lrs, losses = result.lrs, result.losses
        smoothed = getattr(result, "smoothed", smoothed)
        suggested = getattr(result, "suggested_lr", suggested)
    if lrs is None or losses is None or len(lrs) != len(losses):
        raise ValidationError("lr_finder_figure needs learning rates and losses of the same length.")
    fig = go.Figure(go.Scatter(x=list(lrs), y=list(losses), mode="lines", name="loss", opacity=0.5))
    if smoothed is not None:
        fig.add_trace(go.Scatter(x=list(lrs), y=list(smoothed), mode="lines", name="smoothed loss"))
    if suggested is not None and np.isfinite(suggested):
        fig.add_vline(x=suggested, line=dict(color="red", dash="dash"),
                      annotation_text=f"suggested {suggested:.2g}", annotation_position="top")
    fig.update_xaxes(type="log", title="learning rate")
    fig.update_yaxes(title="loss")
    return _layout(fig, title)


def compare_curves(runs: Mapping[str, Any], *, metric: str = "val_accuracy", title: str | None = None,
                   colors: Mapping[str, str] | None = None) -> go.Figure:
    """One line per run for ``metric`` over epochs (runs: name -> history), one colour per run."""
    colors = {**run_colors(list(runs)), **dict(colors or {})}
    fig = go.Figure()
    for name, hist in runs.items():
        df = history_frame(hist)
        if metric in df.columns:
            fig.add_trace(go.Scatter(x=df["epoch"], y=df[metric], mode="lines+markers", name=str(name),
                                     line=dict(color=colors[str(name)]), marker=dict(color=colors[str(name)])))
    fig.update_xaxes(title="epoch")
    fig.update_yaxes(title=metric, type="log" if metric in _LR_KEYS else None)
    return _layout(fig, title or f"{metric} by run")


def compare_roc(runs: Mapping[str, Mapping[str, Any]], *, curve: str = "macro", title: str | None = None,
                colors: Mapping[str, str] | None = None) -> go.Figure:
    """One ROC line per run (its ``micro`` or ``macro`` average, or a class name) + chance,
    one colour per run (``colors``: run -> colour)."""
    colors = {**run_colors(list(runs)), **dict(colors or {})}
    fig = go.Figure()
    for name, roc in runs.items():
        c = roc.get(curve) if roc else None
        if c:
            fig.add_trace(go.Scatter(x=c["fpr"], y=c["tpr"], mode="lines", name=f"{name} (AUC {_fmt(c.get('auc'))})",
                                     line=dict(color=colors[str(name)], width=2)))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=_DIAG, name="chance", showlegend=False))
    fig.update_xaxes(range=[0, 1], title="false positive rate")
    fig.update_yaxes(range=[0, 1.02], title="true positive rate")
    return _layout(fig, title or f"ROC ({curve}) by run")


# --------------------------------------------------------------------------------------
# names from docs/ARCHITECTURE.md, taking a whole evaluate() dict (what the pages hold)
# --------------------------------------------------------------------------------------
def _part(ev: Mapping[str, Any], key: str) -> Any:
    return ev[key] if isinstance(ev, Mapping) and key in ev else ev



def confusion_matrix(ev: Mapping[str, Any], *, normalize: bool = False, title: str | None = None) -> go.Figure:
    """Confusion heatmap from an evaluation dict (or its ``confusion`` part); ``normalize``
    colours by row share instead of counts (cells always show count and row %)."""
    return confusion_matrix_figure(
        _part(ev, "confusion"), color_by="normalized" if normalize else "count",
        title=title or ("Confusion matrix (rows normalised)" if normalize else "Confusion matrix (counts)"),
    )


def roc_curves(ev: Mapping[str, Any], *, title: str | None = "ROC curves (one-vs-rest)") -> go.Figure:
    return roc_figure(_part(ev, "roc"), title=title)


def pr_curves(ev: Mapping[str, Any], *, title: str | None = "Precision-recall curves") -> go.Figure:
    return pr_figure(_part(ev, "pr"), title=title)


def calibration(ev: Mapping[str, Any], *, title: str | None = None) -> go.Figure:
    return calibration_figure(_part(ev, "calibration"), title=title)


def roc_overlay(evs: Mapping[str, Mapping[str, Any]], *, curve: str = "macro", title: str | None = None,
                colors: Mapping[str, str] | None = None) -> go.Figure:
    """``compare_roc`` over run -> evaluation dict (or run -> roc dict)."""
    return compare_roc({name: _part(ev, "roc") for name, ev in evs.items()}, curve=curve, title=title, colors=colors)


def lr_finder(res: Any, *, title: str | None = "Learning-rate finder") -> go.Figure:
    """``lr_finder_figure`` from an LRFindResult or its dict (lrs, losses, smoothed, suggested_lr)."""
    if isinstance(res, Mapping):
        return lr_finder_figure(res.get("lrs"), res.get("losses"), res.get("smoothed"), res.get("suggested_lr"),
                                title=title)
    return lr_finder_figure(result=res, title=title)
