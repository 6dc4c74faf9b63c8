"""Plotly figures for the pages, drawn from data core already computed (evaluation dicts
from core.evaluation.evaluate, metric histories from the store, LR-finder results).

No metric maths here: every number comes from core. When ``core.plots`` provides a builder
with the same name and arguments, ``get()`` returns it instead.
"""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

_LAYOUT = dict(margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.2))


def training_curves(hist: pd.DataFrame, *, title: str = "Training curves") -> go.Figure:
    """Loss and accuracy per epoch from a store history (columns key, step, value[, run])."""
    df = hist[hist["key"].isin(["loss", "val_loss", "accuracy", "val_accuracy", "val_macro_f1", "lr"])].copy()
    if df.empty:
        df = hist.copy()
    df["panel"] = df["key"].map(lambda k: "loss" if "loss" in k else ("learning rate" if k == "lr" else "score"))
    df["series"] = df["key"] if "run" not in df.columns else df["run"].astype(str) + " " + df["key"]
    df["split"] = df["key"].map(lambda k: "validation" if k.startswith("val_") else "train")
    fig = px.line(df, x="step", y="value", color="series", facet_col="panel", markers=True, title=title,
                  labels={"step": "epoch"})
    fig.update_yaxes(matches=None, showticklabels=True)
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.update_layout(**_LAYOUT)
    return fig


def confusion_matrix(ev: dict, *, normalize: bool = False, title: str | None = None) -> go.Figure:
    conf = ev["confusion"]
    z = conf["normalized"] if normalize else conf["counts"]
    labels = conf["labels"]
    fig = px.imshow(z, x=labels, y=labels, text_auto=".2f" if normalize else True, color_continuous_scale="Blues",
                    labels=dict(x="predicted", y="actual", color="fraction" if normalize else "count"),
                    title=title or ("Confusion matrix (rows normalised)" if normalize else "Confusion matrix (counts)"),
                    aspect="auto")
    fig.update_layout(margin=dict(l=10, r=10, t=50, b=10))
    return fig


def roc_curves(ev: dict, *, title: str = "ROC (one-vs-rest)") -> go.Figure:
    fig = go.Figure()
    for name, c in ev["roc"].items():
        dash = "dash" if name in ("micro", "macro") else None
        width = 3 if name in ("micro", "macro") else 1.5
        fig.add_trace(go.Scatter(x=c["fpr"], y=c["tpr"], mode="lines", line=dict(dash=dash, width=width),
                                 name=f"{name} (AUC {c['auc']:.3f})" if c.get("auc") is not None else name))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="grey", dash="dot"), name="chance"))
    fig.update_layout(title=title, xaxis_title="false positive rate", yaxis_title="true positive rate", **_LAYOUT)
    return fig


def roc_overlay(evs: dict[str, dict], *, curve: str = "macro") -> go.Figure:
    fig = go.Figure()
    for run, ev in evs.items():
        for name in ([curve, "micro"] if curve == "macro" else [curve]):
            c = ev["roc"].get(name)
            if c:
                fig.add_trace(go.Scatter(x=c["fpr"], y=c["tpr"], mode="lines", line=dict(dash=None if name == curve else "dot"),
                                         name=f"{run} {name} (AUC {c['auc']:.3f})"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="grey", dash="dot"), name="chance"))
    fig.update_layout(title="ROC: macro (solid) and micro (dotted) averages", xaxis_title="false positive rate",
                      yaxis_title="true positive rate", **_LAYOUT)
    return fig


def pr_curves(ev: dict, *, title: str = "Precision-recall (one-vs-rest)") -> go.Figure:
    fig = go.Figure()
    for name, c in ev["pr"].items():
        fig.add_trace(go.Scatter(x=c["recall"], y=c["precision"], mode="lines",
                                 name=f"{name} (AP {c['ap']:.3f})" if c.get("ap") is not None else name))
    fig.update_layout(title=title, xaxis_title="recall", yaxis_title="precision", **_LAYOUT)
    return fig


def calibration(ev: dict, *, title: str = "Calibration (reliability)") -> go.Figure:
    cal = ev["calibration"]
    bins = pd.DataFrame({"confidence": cal["mean_confidence"], "accuracy": cal["accuracy"], "count": cal["count"]})
    bins = bins[bins["count"] > 0]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=bins["confidence"], y=bins["accuracy"], mode="lines+markers", name="model",
                             text=bins["count"].map(lambda n: f"{n} samples"), marker=dict(size=8)))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="grey", dash="dot"), name="perfect"))
    ece = cal.get("ece")
    fig.update_layout(title=title + (f" — ECE {ece:.3f}" if isinstance(ece, (int, float)) else ""),
                      xaxis_title="confidence", yaxis_title="accuracy", **_LAYOUT)
    return fig


def lr_finder(res: dict) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=res["lrs"], y=res["losses"], mode="lines", name="loss", opacity=0.4))
    fig.add_trace(go.Scatter(x=res["lrs"], y=res["smoothed"], mode="lines", name="smoothed"))
    if res.get("suggested_lr"):
        fig.add_vline(x=res["suggested_lr"], line_dash="dash", annotation_text=f"suggested {res['suggested_lr']:.1e}")
    fig.update_xaxes(type="log", title="learning rate")
    fig.update_layout(title="LR finder", yaxis_title="loss", **_LAYOUT)
    return fig
