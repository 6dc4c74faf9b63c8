"""Plotly figures of a dataset (EDA): class distribution, image grids, histograms and box plots
of a metadata column, per-channel means and grey-level histograms. Each returns a ``go.Figure``
and never shows or saves it.

Inputs are plain data: DataFrames from ``core.datasets.eda`` (``class_distribution``,
``image_stats``, ``brightness_histogram``), columns of a dataset's metadata and arrays of
images. The figures of runs (evaluation, training curves) are in ``core.analysis.plots``, whose
style (template, margins, plain-text labels) these share.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.analysis.plots import _layout, plot_text
from core.validation import ValidationError, check_number

__all__ = [
    "class_distribution_bar",
    "class_distribution_pie",
    "class_distribution",
    "image_grid",
    "histogram",
    "box_plot",
    "brightness_figure",
    "channel_means_figure",
]


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
    df["class"] = [plot_text(c) for c in df["class"]]
    total = max(float(df["count"].sum()), 1.0)
    df["percent"] = 100.0 * df["count"] / total
    return df


def class_distribution_bar(dist, *, title: str | None = "Images per class", sort: bool = False) -> go.Figure:
    df = _distribution_frame(dist)
    if sort:
        df = df.sort_values("count", ascending=False)
    fig = go.Figure(go.Bar(
        x=df["class"], y=df["count"],
        text=[f"{c:,}<br>{p:.1f}%" for c, p in zip(df["count"], df["percent"])], textposition="outside",
        cliponaxis=False, hovertemplate="%{x}: %{y:,} images<extra></extra>",
    ))
    top = float(df["count"].max()) if len(df) else 1.0
    fig.update_yaxes(range=[0, top * 1.2 or 1])  # room for the labels above the bars
    return _layout(fig, title, xaxis_title="class", yaxis_title="images", uniformtext=dict(minsize=10, mode="show"))


def class_distribution_pie(dist, *, title: str | None = "Class share") -> go.Figure:
    """Share of each class: percentages (1 decimal) inside the slices, class names in the
    legend (outside labels of long names were clipped by the figure's edge); slices too small
    for their label show it on hover (the bar chart has every number)."""
    df = _distribution_frame(dist)
    fig = go.Figure(go.Pie(
        labels=df["class"], values=df["count"], sort=False, textinfo="percent", texttemplate="%{percent:.1%}",
        textposition="inside", insidetextorientation="horizontal",
        hovertemplate="%{label}: %{value:,} images (%{percent:.1%})<extra></extra>",
    ))
    return _layout(fig, title, uniformtext=dict(minsize=10, mode="hide"),
                   legend=dict(orientation="v", yanchor="middle", y=0.5, x=1.02, font=dict(size=12)),
                   margin=dict(l=20, r=20, t=50 if title else 20, b=20))


class_distribution = class_distribution_bar  # the name docs/ARCHITECTURE.md uses


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
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[plot_text(t) for t in titles] if titles else None,
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
            fig.add_trace(go.Histogram(x=v[g == key].dropna(), nbinsx=nbins, name=plot_text(key), opacity=0.6))
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
            fig.add_trace(go.Box(y=v[g == key].dropna(), name=plot_text(key), boxmean=True))
    fig.update_yaxes(title=y_title or (str(v.name) if v.name is not None else None))
    return _layout(fig, title, showlegend=False)


CHANNEL_COLORS = {"r_mean": "#D62728", "g_mean": "#2CA02C", "b_mean": "#1F77B4"}


def channel_means_figure(stats: pd.DataFrame, *, title: str | None = "Per-channel means (0-255)") -> go.Figure:
    """One box per colour channel of ``eda.image_stats`` (r_mean red, g_mean green, b_mean blue)."""
    cols = [c for c in CHANNEL_COLORS if c in stats.columns]
    if not cols:
        raise ValidationError(f"Expected columns {list(CHANNEL_COLORS)}. Got {list(stats.columns)}.")
    names = {"r_mean": "red (r_mean)", "g_mean": "green (g_mean)", "b_mean": "blue (b_mean)"}
    fig = go.Figure([go.Box(y=stats[c].dropna(), name=names[c], marker_color=CHANNEL_COLORS[c],
                            line=dict(color=CHANNEL_COLORS[c]), boxmean=True) for c in cols])
    fig.update_yaxes(title="mean value per image", range=[0, 256])
    return _layout(fig, title, showlegend=False)


def brightness_figure(hist: pd.DataFrame, *, title: str | None = "Grey-level histogram") -> go.Figure:
    """Lines of ``eda.brightness_histogram`` (class, bin_left, bin_right, fraction), one per class."""
    need = {"class", "bin_left", "bin_right", "fraction"}
    if not need <= set(hist.columns):
        raise ValidationError(f"Expected columns {sorted(need)}. Got {list(hist.columns)}.")
    fig = go.Figure()
    for key, part in hist.groupby("class", sort=False):
        x = (part["bin_left"] + part["bin_right"]) / 2
        fig.add_trace(go.Scatter(x=x, y=part["fraction"], mode="lines", name=plot_text(key)))
    fig.update_xaxes(title="grey level", range=[0, 256])
    fig.update_yaxes(title="fraction of pixels")
    return _layout(fig, title)
