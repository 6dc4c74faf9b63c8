"""Plotly figure builders. Each returns a ``go.Figure`` and never shows or saves it.

Inputs are plain data: DataFrames from ``core.datasets.eda``, the dict from
``core.evaluation.evaluate`` (its ``confusion``, ``roc``, ``pr``, ``calibration``,
``per_class`` parts), training histories (wide: one row per epoch with ``epoch`` and metric
columns; or long: ``epoch``/``step``, ``key``, ``value``) and arrays of images.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .validation import ValidationError, check_number

__all__ = [
    "class_distribution_bar",
    "class_distribution_pie",
    "confusion_matrix_figure",
    "roc_figure",
    "pr_figure",
    "calibration_figure",
    "training_curves",
    "lr_finder_figure",
    "image_grid",
    "per_class_bars",
    "probability_bars",
    "histogram",
    "box_plot",
    "brightness_figure",
    "compare_curves",
    "compare_roc",
    "history_frame",
    "class_distribution",
    "confusion_matrix",
    "roc_curves",
    "pr_curves",
    "calibration",
    "roc_overlay",
    "lr_finder",
]

_TEMPLATE = "plotly_white"
_DIAG = dict(color="gray", dash="dot", width=1)


def _layout(fig: go.Figure, title: str | None, **kw) -> go.Figure:
    fig.update_layout(template=_TEMPLATE, title=title, margin=dict(l=40, r=20, t=50 if title else 20, b=40), **kw)
    return fig


# --------------------------------------------------------------------------------------
# class distribution
# --------------------------------------------------------------------------------------
def _distribution_frame(dist) -> pd.DataFrame:
    """Accept eda.class_distribution's DataFrame, a {class: count} mapping or a Series."""
    if isinstance(dist, pd.DataFrame):
        if not {"class", "count"} <= set(dist.columns):
            raise ValidationError(f"A class distribution needs columns 'class' and 'count'. Got {list(dist.columns)}.")
        df = dist[["class", "count"]].copy()
    elif isinstance(dist, pd.Series):
        df = pd.DataFrame({"class": dist.index.astype(str), "count": dist.to_numpy()})
    elif isinstance(dist, Mapping):
        df = pd.DataFrame({"class": [str(k) for k in dist], "count": list(dist.values())})
    else:
        raise ValidationError(f"Expected a DataFrame (class, count), a Series or a dict. Got {type(dist).__name__}.")
    total = max(float(df["count"].sum()), 1.0)
    df["percent"] = 100.0 * df["count"] / total
    return df


def class_distribution_bar(dist, *, title: str | None = "Images per class", sort: bool = False) -> go.Figure:
    df = _distribution_frame(dist)
    if sort:
        df = df.sort_values("count", ascending=False)
    fig = go.Figure(go.Bar(
        x=df["class"], y=df["count"],
        text=[f"{c:,} ({p:.1f}%)" for c, p in zip(df["count"], df["percent"])], textposition="outside",
        hovertemplate="%{x}: %{y:,} images<extra></extra>",
    ))
    return _layout(fig, title, xaxis_title="class", yaxis_title="images")


def class_distribution_pie(dist, *, title: str | None = "Class share") -> go.Figure:
    df = _distribution_frame(dist)
    fig = go.Figure(go.Pie(labels=df["class"], values=df["count"], textinfo="label+percent", sort=False))
    return _layout(fig, title)


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
    names = [str(c) for c in (class_names or range(k))]
    if len(names) != k:
        raise ValidationError(f"{len(names)} class names for a {k}x{k} confusion matrix.")
    if normalized is not None:
        norm = np.array([[np.nan if v is None else v for v in row] for row in np.asarray(normalized, dtype=object)], float)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            norm = cm / cm.sum(axis=1, keepdims=True)
    text = [[f"{int(cm[i, j])}<br>{'' if np.isnan(norm[i, j]) else f'{100 * norm[i, j]:.0f}%'}" for j in range(k)] for i in range(k)]
    z = norm if color_by == "normalized" else cm
    fig = go.Figure(go.Heatmap(
        z=z, x=names, y=names, text=text, texttemplate="%{text}", colorscale="Blues",
        zmin=0, zmax=1 if color_by == "normalized" else None,
        hovertemplate="actual %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
        colorbar=dict(title="row share" if color_by == "normalized" else "count"),
    ))
    fig.update_yaxes(autorange="reversed", title="actual")
    fig.update_xaxes(title="predicted", side="bottom")
    return _layout(fig, title, height=max(350, 40 * k + 150))


def _fmt(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def roc_figure(roc: Mapping[str, Any], *, title: str | None = "ROC curves (one-vs-rest)") -> go.Figure:
    """One line per class plus the micro and macro averages (dashed) and the chance diagonal."""
    fig = go.Figure()
    for name, c in roc.items():
        avg = name in ("micro", "macro")
        fig.add_trace(go.Scatter(
            x=c["fpr"], y=c["tpr"], mode="lines", name=f"{name}{' average' if avg else ''} (AUC {_fmt(c.get('auc'))})",
            line=dict(dash="dash", width=3) if avg else dict(width=1.5),
        ))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=_DIAG, name="chance", showlegend=False))
    fig.update_xaxes(range=[0, 1], title="false positive rate (1 - specificity)")
    fig.update_yaxes(range=[0, 1.02], title="true positive rate (sensitivity)")
    return _layout(fig, title)


def pr_figure(pr: Mapping[str, Any], *, title: str | None = "Precision-recall curves") -> go.Figure:
    fig = go.Figure()
    for name, c in pr.items():
        fig.add_trace(go.Scatter(x=c["recall"], y=c["precision"], mode="lines", name=f"{name} (AP {_fmt(c.get('ap'))})"))
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


def per_class_bars(per_class, *, metrics: Sequence[str] = ("precision", "sensitivity", "specificity", "f1"),
                   title: str | None = "Per-class metrics") -> go.Figure:
    """Grouped bars, one group per class, one bar per metric (records or DataFrame)."""
    df = pd.DataFrame(per_class)
    if "class" not in df.columns:
        df = df.reset_index().rename(columns={"index": "class"})
    missing = [m for m in metrics if m not in df.columns]
    if missing:
        raise ValidationError(f"Per-class data lacks {missing!r}; available: {list(df.columns)}.")
    fig = go.Figure([go.Bar(x=df["class"], y=df[m], name=m) for m in metrics])
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
        x=p[order], y=[str(class_names[i]) for i in order], orientation="h",
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


def _base_metrics(cols: Sequence[str]) -> list[str]:
    out: list[str] = []
    for c in cols:
        if c in ("epoch", "step", "time", "wall_time", "timestamp") or not isinstance(c, str):
            continue
        base = c[4:] if c.startswith("val_") else c
        if base not in out:
            out.append(base)
    return out


def training_curves(history, *, metrics: Sequence[str] | None = None, title: str | None = "Training curves") -> go.Figure:
    """One panel per metric (loss, accuracy, ...): training solid, validation dashed. A long
    frame with a ``run`` column draws every run (store histories of several runs)."""
    if isinstance(history, pd.DataFrame) and "run" in history.columns:
        runs = {str(r): part.drop(columns="run") for r, part in history.groupby("run", sort=False)}
        return _runs_training_curves(runs, metrics, title)
    df = history_frame(history)
    bases = list(metrics) if metrics else _base_metrics(list(df.columns))
    bases = [b for b in bases if b in df.columns or f"val_{b}" in df.columns]
    if not bases:
        raise ValidationError(f"No metric columns to plot in the history (columns: {list(df.columns)}).")
    fig = make_subplots(rows=1, cols=len(bases), subplot_titles=bases)
    for i, b in enumerate(bases, start=1):
        for col, dash, label in ((b, None, "train"), (f"val_{b}", "dash", "validation")):
            if col in df.columns:
                fig.add_trace(go.Scatter(x=df["epoch"], y=df[col], mode="lines+markers", name=f"{label} {b}",
                                         line=dict(dash=dash)), row=1, col=i)
        fig.update_xaxes(title="epoch", row=1, col=i)
    return _layout(fig, title)


def _runs_training_curves(runs: Mapping[str, Any], metrics, title) -> go.Figure:
    frames = {name: history_frame(h) for name, h in runs.items()}
    cols: list[str] = []
    for df in frames.values():
        cols += [c for c in df.columns if c not in cols]
    bases = list(metrics) if metrics else _base_metrics(cols)
    bases = [b for b in bases if b in cols or f"val_{b}" in cols]
    if not bases:
        raise ValidationError(f"No metric columns to plot in the histories (columns: {cols}).")
    fig = make_subplots(rows=1, cols=len(bases), subplot_titles=bases)
    for i, b in enumerate(bases, start=1):
        for name, df in frames.items():
            for col, dash, label in ((b, None, "train"), (f"val_{b}", "dash", "val")):
                if col in df.columns:
                    fig.add_trace(go.Scatter(x=df["epoch"], y=df[col], mode="lines+markers", name=f"{name} {label} {b}",
                                             line=dict(dash=dash)), row=1, col=i)
        fig.update_xaxes(title="epoch", row=1, col=i)
    return _layout(fig, title)


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


def compare_curves(runs: Mapping[str, Any], *, metric: str = "val_accuracy", title: str | None = None) -> go.Figure:
    """One line per run for ``metric`` over epochs (runs: name -> history)."""
    fig = go.Figure()
    for name, hist in runs.items():
        df = history_frame(hist)
        if metric in df.columns:
            fig.add_trace(go.Scatter(x=df["epoch"], y=df[metric], mode="lines+markers", name=str(name)))
    fig.update_xaxes(title="epoch")
    fig.update_yaxes(title=metric)
    return _layout(fig, title or f"{metric} by run")


def compare_roc(runs: Mapping[str, Mapping[str, Any]], *, curve: str = "macro", title: str | None = None) -> go.Figure:
    """One ROC line per run (its ``micro`` or ``macro`` average, or a class name) + chance."""
    fig = go.Figure()
    for name, roc in runs.items():
        c = roc.get(curve) if roc else None
        if c:
            fig.add_trace(go.Scatter(x=c["fpr"], y=c["tpr"], mode="lines", name=f"{name} (AUC {_fmt(c.get('auc'))})"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=_DIAG, name="chance", showlegend=False))
    fig.update_xaxes(range=[0, 1], title="false positive rate")
    fig.update_yaxes(range=[0, 1.02], title="true positive rate")
    return _layout(fig, title or f"ROC ({curve}) by run")


# --------------------------------------------------------------------------------------
# images and EDA helpers
# --------------------------------------------------------------------------------------
def _rgb(img) -> np.ndarray:
    a = np.asarray(img)
    if a.dtype.kind == "f":
        a = np.clip(a * (255.0 if a.max() <= 1.0 else 1.0), 0, 255)
    a = a.astype(np.uint8)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] not in (1, 3, 4):
        raise ValidationError(f"Images must be H x W, H x W x 1, 3 or 4. Got shape {a.shape}.")
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    return a[..., :3]


def image_grid(images: Sequence[np.ndarray], titles: Sequence[str] | None = None, *, cols: int = 4,
               title: str | None = None, cell_px: int = 160) -> go.Figure:
    """A grid of images (any sizes, gray or RGB), one subplot each, optional titles."""
    images = list(images)
    if not images:
        raise ValidationError("image_grid needs at least one image.")
    cols = check_number("cols", cols, low=1, integer=True)
    if titles is not None and len(titles) != len(images):
        raise ValidationError(f"{len(titles)} titles for {len(images)} images.")
    cols = min(cols, len(images))
    rows = math.ceil(len(images) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[str(t) for t in titles] if titles else None,
                        horizontal_spacing=0.02, vertical_spacing=0.08 if titles else 0.02)
    for i, img in enumerate(images):
        fig.add_trace(go.Image(z=_rgb(img), hoverinfo="skip"), row=i // cols + 1, col=i % cols + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, height=rows * cell_px + (60 if title else 20), showlegend=False)


def histogram(values, *, by=None, nbins: int = 30, title: str | None = None, x_title: str | None = None,
              barmode: str = "overlay") -> go.Figure:
    """Histogram of a column (e.g. age), one trace per group when ``by`` is given."""
    v = pd.Series(values).reset_index(drop=True)
    fig = go.Figure()
    if by is None:
        fig.add_trace(go.Histogram(x=v.dropna(), nbinsx=nbins, name=str(v.name or "values")))
    else:
        g = pd.Series(by).reset_index(drop=True)
        for key in pd.unique(g.dropna()):
            fig.add_trace(go.Histogram(x=v[g == key].dropna(), nbinsx=nbins, name=str(key), opacity=0.6))
    fig.update_layout(barmode=barmode)
    fig.update_xaxes(title=x_title or (str(v.name) if v.name is not None else None))
    fig.update_yaxes(title="count")
    return _layout(fig, title)


def box_plot(values, *, by=None, title: str | None = None, y_title: str | None = None) -> go.Figure:
    """Box plot of a column (e.g. age), one box per group when ``by`` is given."""
    v = pd.Series(values).reset_index(drop=True)
    fig = go.Figure()
    if by is None:
        fig.add_trace(go.Box(y=v.dropna(), name=str(v.name or "values"), boxmean=True))
    else:
        g = pd.Series(by).reset_index(drop=True)
        for key in pd.unique(g.dropna()):
            fig.add_trace(go.Box(y=v[g == key].dropna(), name=str(key), boxmean=True))
    fig.update_yaxes(title=y_title or (str(v.name) if v.name is not None else None))
    return _layout(fig, title, showlegend=False)


def brightness_figure(hist: pd.DataFrame, *, title: str | None = "Grey-level histogram") -> go.Figure:
    """Lines of ``eda.brightness_histogram`` (class, bin_left, bin_right, fraction), one per class."""
    need = {"class", "bin_left", "bin_right", "fraction"}
    if not need <= set(hist.columns):
        raise ValidationError(f"Expected columns {sorted(need)}. Got {list(hist.columns)}.")
    fig = go.Figure()
    for key, part in hist.groupby("class", sort=False):
        x = (part["bin_left"] + part["bin_right"]) / 2
        fig.add_trace(go.Scatter(x=x, y=part["fraction"], mode="lines", name=str(key)))
    fig.update_xaxes(title="grey level", range=[0, 256])
    fig.update_yaxes(title="fraction of pixels")
    return _layout(fig, title)


# --------------------------------------------------------------------------------------
# names from docs/ARCHITECTURE.md, taking a whole evaluate() dict (what the pages hold)
# --------------------------------------------------------------------------------------
def _part(ev: Mapping[str, Any], key: str) -> Any:
    return ev[key] if isinstance(ev, Mapping) and key in ev else ev


class_distribution = class_distribution_bar


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


def roc_overlay(evs: Mapping[str, Mapping[str, Any]], *, curve: str = "macro", title: str | None = None) -> go.Figure:
    """``compare_roc`` over run -> evaluation dict (or run -> roc dict)."""
    return compare_roc({name: _part(ev, "roc") for name, ev in evs.items()}, curve=curve, title=title)


def lr_finder(res: Any, *, title: str | None = "Learning-rate finder") -> go.Figure:
    """``lr_finder_figure`` from an LRFindResult or its dict (lrs, losses, smoothed, suggested_lr)."""
    if isinstance(res, Mapping):
        return lr_finder_figure(res.get("lrs"), res.get("losses"), res.get("smoothed"), res.get("suggested_lr"),
                                title=title)
    return lr_finder_figure(result=res, title=title)
