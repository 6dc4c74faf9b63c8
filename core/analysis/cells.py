"""From a confusion-matrix cell to its test images.

A run stores one row per test image in ``predictions.csv`` (``id, y_true, y_pred, p_0..``). This
module picks the rows of one cell of the confusion matrix (true class x predicted class), sorts them
by the model's confidence in its prediction, pages them and lists each image's top-k probabilities;
it also computes Grad-CAM overlays for a page of images on demand. No Streamlit: the Run page's
Confusion tab (``pages/runs.py``) draws what :func:`cell_page` returns, and the model card reuses
:func:`cam_overlays`.

- :func:`cell_table`: every test row with ``actual``, ``predicted``, ``confidence`` (the probability
  of the predicted class), ``p_true`` and ``top_k`` text; rows sorted by id (``core.metrics.classification``'s
  validation of the predictions frame).
- :func:`cell_counts`: the confusion matrix counted from the predictions (rows: true class).
- :func:`cell_page`: one page of one cell, sorted by confidence (ties by id), with the cell's size.
- :func:`cell_from_selection`: the (true, predicted) class indices of a plotly click on the
  confusion matrix drawn with :func:`add_click_targets`.
- :func:`cam_overlays`: CAM overlays of a few test images for the class each one was predicted.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from core.validation import ValidationError, check_number

if TYPE_CHECKING:  # pandas is imported where used
    import pandas as pd

__all__ = [
    "DEFAULT_PER_PAGE",
    "DEFAULT_TOP_K",
    "CellPage",
    "class_index",
    "cell_table",
    "cell_counts",
    "cell_rows",
    "cell_page",
    "most_confused_cell",
    "top_k_text",
    "add_click_targets",
    "cell_from_selection",
    "display_image",
    "cam_overlays",
]

DEFAULT_PER_PAGE = 24
DEFAULT_TOP_K = 3


@dataclass
class CellPage:
    """One page of one confusion-matrix cell."""

    true_class: str
    pred_class: str
    rows: pd.DataFrame     # id, y_true, y_pred, actual, predicted, confidence, p_true, top_k, p_0..
    total: int             # images in the cell
    page: int              # 1-based, clamped to [1, pages]
    pages: int             # at least 1
    per_page: int
    descending: bool

    @property
    def first(self) -> int:
        """1-based position of the page's first row in the sorted cell (0 when the cell is empty)."""
        return 0 if self.total == 0 else (self.page - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        return min(self.total, self.page * self.per_page)

    @property
    def correct(self) -> bool:
        return self.true_class == self.pred_class


def class_index(class_names: Sequence[str], value: Any) -> int:
    """The index of a class given by name (or by index, an int); a clear error otherwise."""
    names = [str(c) for c in class_names]
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if 0 <= int(value) < len(names):
            return int(value)
        raise ValidationError(f"Class index {value} is outside 0..{len(names) - 1} ({len(names)} classes).")
    if str(value) in names:
        return names.index(str(value))
    shown = ", ".join(repr(n) for n in names[:12]) + (", ..." if len(names) > 12 else "")
    raise ValidationError(f"{value!r} is not one of the run's classes ({shown}).")


def top_k_text(probs: np.ndarray, class_names: Sequence[str], k: int = DEFAULT_TOP_K) -> str:
    """``"8 0.61 · 3 0.20 · 5 0.07"``: the k most probable classes of one row, most probable first
    (ties: the lower class index first)."""
    p = np.asarray(probs, dtype=np.float64)
    order = np.argsort(-p, kind="stable")[: max(1, int(k))]
    return " · ".join(f"{class_names[i]} {p[i]:.2f}" for i in order)


def cell_table(pred: pd.DataFrame, class_names: Sequence[str], *, top_k: int = DEFAULT_TOP_K) -> pd.DataFrame:
    """Every stored test prediction with what the click-through shows, sorted by id.

    Columns: ``id, y_true, y_pred, actual, predicted, confidence`` (probability of the predicted
    class), ``p_true`` (probability of the true class), ``top_k`` (text) and ``p_0..p_{k-1}``.
    The frame is validated as :func:`core.metrics.classification.evaluate` does (unique ids, labels in range,
    probability columns for every class)."""
    import pandas as pd

    from core.metrics.classification import _unpack, prob_columns

    top_k = check_number("top_k", top_k, low=1, integer=True)
    ids, yt, yp, probs, names, _ = _unpack(pred, class_names)
    n = len(ids)
    rows = np.arange(n)
    df = pd.DataFrame({
        "id": ids, "y_true": yt, "y_pred": yp,
        "actual": [names[i] for i in yt], "predicted": [names[i] for i in yp],
        "confidence": probs[rows, yp], "p_true": probs[rows, yt],
        "top_k": [top_k_text(probs[i], names, top_k) for i in range(n)],
    })
    return pd.concat([df, pd.DataFrame(probs, columns=prob_columns(len(names)))], axis=1)


def cell_counts(table_or_pred: pd.DataFrame, class_names: Sequence[str]) -> np.ndarray:
    """k x k counts (rows: true class, columns: predicted class) from a :func:`cell_table` or a
    predictions frame."""
    k = len(class_names)
    df = table_or_pred if "confidence" in table_or_pred.columns else cell_table(table_or_pred, class_names)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (df["y_true"].to_numpy(dtype=np.int64), df["y_pred"].to_numpy(dtype=np.int64)), 1)
    return cm


def most_confused_cell(counts: np.ndarray) -> tuple[int, int]:
    """The off-diagonal cell with the most images (ties: the first in row order); the largest
    diagonal cell when the model made no mistake."""
    cm = np.asarray(counts)
    off = cm.copy()
    np.fill_diagonal(off, -1)
    if off.max() > 0:
        i, j = np.unravel_index(int(np.argmax(off)), off.shape)
        return int(i), int(j)
    d = int(np.argmax(np.diag(cm)))
    return d, d


def cell_rows(table: pd.DataFrame, true_class: int, pred_class: int, *, descending: bool = True) -> pd.DataFrame:
    """The rows of one cell of a :func:`cell_table`, sorted by confidence (highest first when
    ``descending``), ties by id; index reset."""
    sel = table[(table["y_true"] == int(true_class)) & (table["y_pred"] == int(pred_class))]
    # the id tie-break keeps its ascending order in both directions: a stable sort on id, then on confidence
    sel = sel.sort_values("id", kind="stable").sort_values("confidence", ascending=not descending, kind="stable")
    return sel.reset_index(drop=True)


def cell_page(table: pd.DataFrame, class_names: Sequence[str], true_class, pred_class, *, descending: bool = True,
              page: int = 1, per_page: int = DEFAULT_PER_PAGE) -> CellPage:
    """Page ``page`` (1-based; clamped to the cell's pages) of the cell (true_class, pred_class)
    — classes by name or index — of a :func:`cell_table`, sorted by confidence."""
    per_page = check_number("per_page", per_page, low=1, integer=True)
    page = check_number("page", page, low=1, integer=True)
    i, j = class_index(class_names, true_class), class_index(class_names, pred_class)
    rows = cell_rows(table, i, j, descending=descending)
    total = len(rows)
    pages = max(1, -(-total // per_page))
    page = min(page, pages)
    part = rows.iloc[(page - 1) * per_page: page * per_page].reset_index(drop=True)
    return CellPage(true_class=str(class_names[i]), pred_class=str(class_names[j]), rows=part, total=total,
                    page=page, pages=pages, per_page=per_page, descending=bool(descending))


# --------------------------------------------------------------------------------------
# clicking the confusion matrix
# --------------------------------------------------------------------------------------
def add_click_targets(fig, class_names: Sequence[str], counts: np.ndarray | None = None):
    """Add a transparent marker at the centre of every cell of a confusion-matrix heatmap (the
    figure of ``core.analysis.plots.confusion_matrix``), so that a click on a cell selects a point: plotly
    and Streamlit report no selection for heatmap traces (reported on Streamlit's tracker as #8760). Each marker
    carries ``customdata = [true index, predicted index]``. Returns the figure."""
    import plotly.graph_objects as go

    from core.analysis.plots import plot_text

    names = [plot_text(c) for c in class_names]
    k = len(names)
    ii, jj = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    n = [int(np.asarray(counts)[a, b]) for a, b in zip(ii, jj, strict=True)] if counts is not None else None
    size = int(max(10, min(48, 420 / max(k, 1))))
    fig.add_trace(go.Scatter(
        x=[names[b] for b in jj], y=[names[a] for a in ii], mode="markers", showlegend=False, name="cells",
        marker=dict(symbol="square", size=size, color="rgba(0,0,0,0)"),
        selected=dict(marker=dict(color="rgba(0,0,0,0)")), unselected=dict(marker=dict(opacity=0)),
        customdata=np.stack([ii, jj, n if n is not None else np.zeros_like(ii)], axis=1).tolist(),
        hovertemplate=("actual %{y}<br>predicted %{x}" + ("<br>%{customdata[2]} image(s)" if n is not None else "")
                       + "<br>click to show the images<extra></extra>"),
    ))
    return fig


def cell_from_selection(selection: Any, class_names: Sequence[str]) -> tuple[int, int] | None:
    """(true index, predicted index) of the last point a plotly selection event holds (the
    ``selection`` of ``st.plotly_chart(..., on_select=...)`` or its ``points`` list); None when it
    holds no cell."""
    if selection is None:
        return None
    if isinstance(selection, Mapping) and "selection" in selection:
        selection = selection["selection"]
    points = selection.get("points") if isinstance(selection, Mapping) else getattr(selection, "points", selection)
    if not points:
        return None
    from core.analysis.plots import plot_text

    k = len(class_names)
    shown = {plot_text(c): n for n, c in enumerate(class_names)}
    for p in reversed(list(points)):
        if not isinstance(p, Mapping):
            continue
        cd = p.get("customdata")
        if isinstance(cd, (list, tuple)) and len(cd) >= 2:
            try:
                i, j = int(cd[0]), int(cd[1])
            except (TypeError, ValueError):
                i = j = -1
            if 0 <= i < k and 0 <= j < k:
                return i, j
        i, j = shown.get(str(p.get("y"))), shown.get(str(p.get("x")))  # a heatmap point, should plotly report one
        if i is not None and j is not None:
            return i, j
    return None


# --------------------------------------------------------------------------------------
# images and Grad-CAM
# --------------------------------------------------------------------------------------
def display_image(image: np.ndarray, *, min_side: int = 64, max_side: int = 320) -> np.ndarray:
    """A copy for a gallery tile: tiny images (8x8 digits) repeated up to ``min_side`` pixels,
    large photos shrunk to at most ``max_side``."""
    from core.serving.inference import display_copy

    img = np.asarray(image, dtype=np.uint8)
    h, w = img.shape[:2]
    if min(h, w) < min_side:
        f = int(np.ceil(min_side / max(1, min(h, w))))
        return np.repeat(np.repeat(img, f, axis=0), f, axis=1)
    return display_copy(img, max_side)


def cam_overlays(tm, images: Sequence[np.ndarray], class_indices: Sequence[int], *, method: str = "gradcam",
                 alpha: float = 0.45, min_side: int = 64, max_side: int = 320) -> list[np.ndarray]:
    """CAM overlays (uint8 HxWx3, :func:`display_image` size) of test images for the given classes
    (the class each one was predicted), with a run's ``core.serving.trained_model.TrainedModel`` ``tm``: the
    images are preprocessed as at training time and explained in one batch (``core.models.cam.cam``
    on the run's CAM layer)."""
    from core.models import cam as explain

    imgs = [np.asarray(im, dtype=np.uint8) for im in images]
    if len(imgs) != len(class_indices):
        raise ValidationError(f"{len(imgs)} images but {len(class_indices)} class indices.")
    if not imgs:
        return []
    x = np.concatenate([tm.preprocess(im) for im in imgs], axis=0)
    heat = np.asarray(explain.cam(tm.model, x, method=method, class_index=[int(c) for c in class_indices],
                                  layer=(tm.meta or {}).get("cam_layer")))
    return [np.asarray(explain.overlay(display_image(im, min_side=min_side, max_side=max_side), h, alpha=alpha),
                       dtype=np.uint8) for im, h in zip(imgs, heat, strict=True)]
