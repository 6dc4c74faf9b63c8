"""Slices: how well does a run do on each subgroup of its test split?

Subgroups come from the dataset's per-sample metadata, joined to the stored predictions **by sample
id**: HAM10000 sex, age bands, localization and dx_type; fundus eye (left/right) and an exposure flag
when the metadata has one; any other categorical column of a dataset. For every dataset the images
give two more: brightness bins (quartiles of the mean pixel value) and original-size bins (when the
sizes vary).

Per slice: n, accuracy, balanced accuracy and per-class sensitivity, each with a percentile bootstrap
interval (the resampling of :func:`core.metrics.classification.bootstrap_ci`, within the slice). A slice whose
interval lies entirely below the whole test set's interval is flagged. Slices too small to say
anything (n < ``min_n``) are kept and marked "too small to say", never hidden; a class with fewer than
``min_class`` images in a slice gets no sensitivity interval and makes that slice's balanced accuracy
"too small to say" too.

:func:`slice_metrics` works on plain arrays ``(ids, y_true, y_pred, proba, metadata)``;
:func:`run_slices` reads a stored run and its dataset. ``python -m core slices RUN [--by COL]`` prints
the table (core.cli.analysis).
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from core.analysis.paired import DEFAULT_MAX_FILES, _f, load_run_predictions, metric_draws, percentile_interval, resample_weights
from core.files import jsonable
from core.metrics.bootstrap import INTERVAL_RESAMPLES
from core.validation import LabError, ValidationError, check_number

if TYPE_CHECKING:  # pandas and core.metrics.classification are imported where used: `python -m core --help` stays quick
    import pandas as pd

__all__ = ["slice_metrics", "slice_keys", "image_properties", "run_slices", "slices_frame", "sensitivity_frame",
           "slices_figure",
           "flagged_sentences"]

#: metadata columns sliced first (in this order) when present; any other categorical column follows
KNOWN_COLUMNS = ("sex", "age", "localization", "dx_type", "eye", "exposure")
#: columns never sliced: ids, groups, labels, bookkeeping
NOT_SLICED = {"id", "index", "image", "image_id", "lesion_id", "patient_id", "dx", "level", "label", "class",
              "class_folder", "official_split", "path", "file", "original_pixels"}
IMAGE_COLUMNS = ("brightness", "original_size")
AGE_BANDS = [(0, 30, "age 0-29"), (30, 50, "age 30-49"), (50, 70, "age 50-69"), (70, 200, "age 70+")]
TOO_SMALL = "too small to say"
BELOW = "below the whole test set"
MAX_CATEGORIES = 30


# --------------------------------------------------------------------------------------
# which columns, which bins
# --------------------------------------------------------------------------------------
def _quantile_bins(v: pd.Series, what: str, fmt: str = "{:.0f}") -> pd.Series:
    """Quartile bins of a numeric column, labelled by their ranges ("brightness 12-85")."""
    import pandas as pd

    ok = v.dropna()
    q = np.unique(np.quantile(ok, [0, 0.25, 0.5, 0.75, 1.0])) if len(ok) else np.array([])
    if len(q) < 2:
        return pd.Series(np.where(v.isna(), "unknown", f"{what} {fmt.format(ok.iloc[0])}" if len(ok) else "unknown"),
                         index=v.index)
    codes = np.clip(np.searchsorted(q, v.to_numpy(dtype=float), side="right") - 1, 0, len(q) - 2)
    labels = [f"{what} {fmt.format(q[i])}-{fmt.format(q[i + 1])}" for i in range(len(q) - 1)]
    out = pd.Series([labels[c] for c in codes], index=v.index, dtype=object)
    out[v.isna()] = "unknown"
    return out


def _age_bands(v: pd.Series) -> pd.Series:
    import pandas as pd

    age = pd.to_numeric(v, errors="coerce")
    out = pd.Series("age unknown", index=v.index, dtype=object)
    for lo, hi, name in AGE_BANDS:
        out[(age >= lo) & (age < hi)] = name
    return out


def _categorical(v: pd.Series) -> pd.Series:
    s = v.astype(object).where(v.notna(), "unknown").astype(str).str.strip()
    return s.where(s != "", "unknown")


def _key_for(col: str, v: pd.Series, sizes_px: pd.Series | None) -> tuple[pd.Series | None, str | None]:
    """(slice labels, None) or (None, why the column is not sliced)."""
    import pandas as pd

    if col == "age":
        return _age_bands(v), None
    if col == "brightness":
        if v.notna().sum() == 0:
            return None, "brightness was not computed"
        return _quantile_bins(pd.to_numeric(v, errors="coerce"), "brightness"), None
    if col == "original_size" and v.dropna().nunique() > 4 and sizes_px is not None:
        return _quantile_bins(pd.to_numeric(sizes_px, errors="coerce") / 1e3, "kilopixels", "{:.0f}"), None
    nun = v.dropna().nunique()
    if nun < 2:
        return None, f"one value only ({v.dropna().iloc[0] if nun else 'all missing'})"
    if pd.api.types.is_bool_dtype(v) or not pd.api.types.is_numeric_dtype(v):
        if nun > MAX_CATEGORIES:
            return None, f"{nun} distinct values (more than {MAX_CATEGORIES})"
        return _categorical(v), None
    if nun <= 12:
        return _categorical(v), None
    return _quantile_bins(pd.to_numeric(v, errors="coerce"), col, "{:.3g}"), None


def _candidates(columns) -> list[str]:
    """The columns that can be sliced, in display order."""
    cols = [c for c in columns if str(c).lower() not in NOT_SLICED and not str(c).endswith("_imputed")]
    return ([c for c in KNOWN_COLUMNS if c in cols] + [c for c in cols if c not in KNOWN_COLUMNS
                                                       and c not in IMAGE_COLUMNS]
            + [c for c in IMAGE_COLUMNS if c in cols])


def _check_by(by: str | Sequence[str], order: list[str]) -> list[str]:
    wanted = [by] if isinstance(by, str) else list(by)
    bad = [w for w in wanted if w not in order]
    if bad:
        raise ValidationError(f"Cannot slice by {', '.join(map(repr, bad))}: the columns that can be sliced are "
                              f"{', '.join(order) or '(none)'}.")
    return wanted


def slice_keys(metadata: pd.DataFrame, by: str | Sequence[str] | None = None) -> tuple[dict[str, pd.Series], dict]:
    """({column: slice label per row}, {column: why it is not sliced}) for a metadata frame.

    Known columns first (sex, age -> age bands, localization, dx_type, eye, exposure), then any other
    categorical column, then brightness and original size. ``by`` restricts to these columns (an unknown
    name raises a ValidationError listing the accepted ones).
    """
    order = _candidates(metadata.columns)
    if by is not None:
        order = _check_by(by, order)
    keys, skipped = {}, {}
    sizes_px = metadata.get("original_pixels")
    for c in order:
        v = metadata[c]
        if c != "age" and c not in IMAGE_COLUMNS and v.dropna().nunique() >= max(len(v) * 0.9, 50):
            skipped[c] = "an identifier (one value per image)"
            continue
        key, why = _key_for(c, v, sizes_px)
        if key is None:
            skipped[c] = why
        else:
            keys[c] = key
    return keys, skipped


# --------------------------------------------------------------------------------------
# per-slice numbers
# --------------------------------------------------------------------------------------
def _group_stats(yt, yp, k: int, n_bootstrap: int, seed: int, level: float, min_class: int) -> dict[str, Any]:
    n = len(yt)
    support = np.bincount(yt, minlength=k)
    tp = np.bincount(yt[yt == yp], minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        sens = np.where(support > 0, tp / np.maximum(support, 1), np.nan)
    draws: dict[str, list[np.ndarray]] = {"accuracy": [], "balanced_accuracy": [], "sensitivity": []}
    if n_bootstrap > 0 and n > 0:
        for w in resample_weights(n, n_bootstrap, seed):
            d = metric_draws(yt, yp, None, w, k=k, auc=False)
            for m in draws:
                draws[m].append(d[m])
    ci = {m: percentile_interval(np.concatenate(v), level) if v else [None, None]
          for m, v in draws.items() if m != "sensitivity"}
    sens_ci = (np.concatenate(draws["sensitivity"]) if draws["sensitivity"] else None)
    small = [c for c in range(k) if 0 < support[c] < min_class]
    per_class = [{"support": int(support[c]), "sensitivity": _f(sens[c]),
                  "ci": (percentile_interval(sens_ci[:, c], level) if sens_ci is not None and support[c] >= min_class
                         else [None, None]),
                  "too_small": bool(0 < support[c] < min_class)} for c in range(k)]
    return {"n": int(n), "accuracy": _f((yt == yp).mean()) if n else None, "accuracy_ci": ci["accuracy"],
            "balanced_accuracy": _f(np.nanmean(sens)) if (support > 0).any() else None,
            "balanced_accuracy_ci": ci["balanced_accuracy"], "per_class": per_class, "small_classes": small}


def _status(s: dict, overall: dict, min_n: int) -> tuple[str, list[str]]:
    if s["n"] < min_n:
        return TOO_SMALL, []
    below = []
    for m in ("accuracy", "balanced_accuracy"):
        if m == "balanced_accuracy" and s["small_classes"]:
            continue  # too few images of some class: balanced accuracy says nothing here
        hi, lo_all = s[f"{m}_ci"][1], overall[f"{m}_ci"][0]
        if hi is not None and lo_all is not None and hi < lo_all:
            below.append(m)
    return (BELOW if below else "ok"), below


def slice_metrics(ids, y_true, y_pred, proba, metadata: pd.DataFrame, class_names: Sequence[str], *,
                  by: str | Sequence[str] | None = None, n_bootstrap: int = 1000, seed: int = 0,
                  level: float = 0.95, min_n: int = 30, min_class: int = 5) -> dict[str, Any]:
    """Metrics per slice of the test split (JSON-serialisable dict; :func:`slices_frame` flattens it).

    ``ids``/``y_true``/``y_pred``/``proba`` are the test predictions (``proba`` may be None);
    ``metadata`` has an ``id`` column and one row per sample (extra rows are ignored, missing ids
    count as "unknown"). Returns ``overall`` (the whole test set), ``slices`` (one record per slice
    with n, accuracy, balanced accuracy, per-class sensitivity, intervals, ``status``: "ok",
    "below the whole test set" or "too small to say"), ``skipped`` columns with the reason, ``notices``.
    """
    n_bootstrap = check_number("n_bootstrap", n_bootstrap, low=0, high=100_000, integer=True)
    min_n = check_number("min_n", min_n, low=1, integer=True)
    min_class = check_number("min_class", min_class, low=1, integer=True)
    names = [str(c) for c in class_names]
    k = len(names)
    frame = _predictions(ids, y_true, y_pred, proba, names)
    ids, yt, yp = frame["id"].to_numpy(), frame["y_true"].to_numpy(), frame["y_pred"].to_numpy()
    meta, notices = _aligned_metadata(metadata, ids)
    keys, skipped = slice_keys(meta, by)
    overall = _group_stats(yt, yp, k, n_bootstrap, seed, level, min_class)
    slices = []
    for col, key in keys.items():
        labels = key.to_numpy()
        for value in _ordered_values(labels):
            m = labels == value
            s = _group_stats(yt[m], yp[m], k, n_bootstrap, seed, level, min_class)
            s["status"], s["below_in"] = _status(s, overall, min_n)
            slices.append({"column": col, "slice": str(value), **s})
    return jsonable({"class_names": names, "n": int(len(ids)), "overall": overall, "slices": slices,
                     "columns": list(keys), "skipped": skipped, "notices": notices,
                     "options": {"n_bootstrap": n_bootstrap, "seed": seed, "level": level, "min_n": min_n,
                                 "min_class": min_class}})


def _predictions(ids, y_true, y_pred, proba, names: list[str]) -> pd.DataFrame:
    import pandas as pd

    from core.metrics.classification import _unpack

    ids = np.asarray(ids).astype(str).reshape(-1)
    if proba is not None:
        df = pd.DataFrame({"id": ids, "y_true": np.asarray(y_true).reshape(-1)})
        if y_pred is not None:
            df["y_pred"] = np.asarray(y_pred).reshape(-1)
        p = np.asarray(proba, dtype=np.float64)
        for i in range(p.shape[1] if p.ndim == 2 else 0):
            df[f"p_{i}"] = p[:, i]
        sid, yt, yp, _, _, _ = _unpack(df, names)
        return pd.DataFrame({"id": sid, "y_true": yt, "y_pred": yp})
    yt, yp = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    if not (len(ids) == len(yt) == len(yp)) or len(ids) == 0:
        raise ValidationError(f"ids, y_true and y_pred must be non-empty and of the same length; got {len(ids)}, "
                              f"{len(yt)} and {len(yp)}.")
    k = len(names)
    for what, y in (("y_true", yt), ("y_pred", yp)):
        if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= k:
            raise ValidationError(f"{what} must hold integer class indices in [0, {k - 1}].")
    return pd.DataFrame({"id": ids, "y_true": yt.astype(np.int64), "y_pred": yp.astype(np.int64)})


def _aligned_metadata(metadata: pd.DataFrame, ids: np.ndarray) -> tuple[pd.DataFrame, list[str]]:
    import pandas as pd

    if not isinstance(metadata, pd.DataFrame) or "id" not in metadata.columns:
        raise ValidationError("The metadata must be a DataFrame with an 'id' column (one row per sample).")
    meta = metadata.assign(id=metadata["id"].astype(str)).drop_duplicates("id").set_index("id").reindex(ids)
    missing = int(meta.isna().all(axis=1).sum()) if len(meta.columns) else 0
    notes = [f"{missing} of {len(ids)} test images have no metadata row; they count as 'unknown'."] if missing else []
    return meta.reset_index(), notes


def _ordered_values(labels: np.ndarray) -> list:
    import pandas as pd

    vals = pd.unique(labels)
    known = sorted((v for v in vals if not str(v).endswith("unknown")), key=_natural)
    return known + [v for v in vals if str(v).endswith("unknown")]


def _natural(v) -> tuple:
    s = str(v)
    head = s.split("-")[0].split()[-1] if s.split() else s
    try:
        return (0, float(head.lstrip("<")), s)
    except ValueError:
        return (1, 0.0, s)


# --------------------------------------------------------------------------------------
# image properties: brightness and original size
# --------------------------------------------------------------------------------------
def image_properties(ds, ids, *, max_files: int = DEFAULT_MAX_FILES) -> tuple[pd.DataFrame, list[str]]:
    """(frame ``id, brightness, original_size, original_pixels``, notices) for the given ids of ``ds``.

    In-memory datasets: mean pixel value of ``ds.images``. File datasets: only these files are opened
    (size from the header; brightness from a reduced decode), at most ``max_files`` of them; the rest
    get no value ("unknown") and a notice says so.
    """
    import pandas as pd

    ids = np.asarray(ids).astype(str)
    pos = ds.index_of(ids)
    if ds.in_memory:
        imgs = ds.images[pos]
        bright = imgs.reshape(len(imgs), -1).mean(axis=1).astype(np.float64)
        h, w = imgs.shape[1:3]
        return pd.DataFrame({"id": ids, "brightness": bright, "original_size": f"{w}x{h}",
                             "original_pixels": int(w * h)}), []
    return _file_properties(ids, ds.paths[pos], max_files)


def _file_properties(ids: np.ndarray, paths: np.ndarray, max_files: int) -> tuple[pd.DataFrame, list[str]]:
    import pandas as pd
    from PIL import Image

    n = len(ids)
    bright = np.full(n, np.nan)
    size = np.array([None] * n, dtype=object)
    pixels = np.full(n, np.nan)
    failed = 0
    t0 = time.perf_counter()
    for i in range(min(n, max_files)):
        try:
            with Image.open(paths[i]) as im:
                w, h = im.size
                im.draft("L", (64, 64))  # JPEG: decode at a reduced scale, enough for a mean
                bright[i] = float(np.asarray(im.convert("L"), dtype=np.float64).mean())
            size[i], pixels[i] = f"{w}x{h}", w * h
        except (OSError, ValueError):
            failed += 1
    notes = []
    if n > max_files:
        notes.append(f"Brightness and size were read for the first {max_files} of {n} test images only (a cap to "
                     f"keep this quick); the other {n - max_files} count as 'unknown'.")
    if failed:
        notes.append(f"{failed} image file(s) could not be read; they count as 'unknown' for brightness and size.")
    df = pd.DataFrame({"id": ids, "brightness": bright, "original_size": size, "original_pixels": pixels})
    df.attrs["seconds"] = time.perf_counter() - t0
    return df, notes


# --------------------------------------------------------------------------------------
# a stored run
# --------------------------------------------------------------------------------------
def run_slices(run, folder=None, *, store=None, by: str | None = None, n_bootstrap: int = INTERVAL_RESAMPLES, seed: int = 0,
               max_files: int = DEFAULT_MAX_FILES, min_n: int = 30, min_class: int = 5) -> dict[str, Any]:
    """:func:`slice_metrics` of a stored run: its predictions, its dataset's metadata (reloaded from
    the run's config) and its test images' brightness and size."""
    from core.datasets import load_dataset
    from core.metrics.classification import _unpack

    rp = load_run_predictions(run, folder, store=store)
    ids, yt, yp, probs, names, _ = _unpack(rp.pred, rp.class_names)
    spec = rp.config.get("dataset") or rp.meta.get("dataset") or {}
    if not spec.get("name"):
        raise LabError(f"{rp.label} does not record its dataset, so its test images' metadata cannot be found.")
    try:
        ds = load_dataset(spec["name"], **dict(spec.get("params") or {}))
    except LabError as e:
        raise LabError(f"The dataset of {rp.label} ({spec['name']}) cannot be loaded for slicing: {e}") from None
    meta = ds.metadata.assign(id=ds.metadata["id"].astype(str))
    notices = []
    if by is not None:  # a wrong name fails now, before any image is read
        _check_by(by, _candidates([*meta.columns, *IMAGE_COLUMNS]))
    if by is None or by in IMAGE_COLUMNS:
        props, notices = image_properties(ds, ids, max_files=max_files)
        meta = meta.drop(columns=[c for c in props.columns if c != "id" and c in meta.columns]).merge(
            props, on="id", how="left")
    res = slice_metrics(ids, yt, yp, probs, meta, names, by=by, n_bootstrap=n_bootstrap, seed=seed,
                        min_n=min_n, min_class=min_class)
    res["notices"] = [*notices, *res["notices"]]
    res["run"] = {"id": rp.run_id, "name": rp.name, "label": rp.label, "dataset": spec.get("name")}
    return res


def slices_frame(result: dict[str, Any], *, per_class: bool = True) -> pd.DataFrame:
    """One row per slice (and a first row for the whole test set): n, metrics, interval ends, status."""
    import pandas as pd

    names = result["class_names"]
    rows = [_row("whole test set", "all", {**result["overall"], "status": "", "below_in": []}, names, per_class)]
    rows += [_row(s["column"], s["slice"], s, names, per_class) for s in result["slices"]]
    return pd.DataFrame(rows)


def sensitivity_frame(result: dict[str, Any]) -> pd.DataFrame:
    """Long table of per-class sensitivity: one row per (slice, class) with support and interval;
    classes with too few images in a slice say so instead of an interval."""
    import pandas as pd

    rows = []
    for s in [{"column": "whole test set", "slice": "all", **result["overall"]}, *result["slices"]]:
        for name, pc in zip(result["class_names"], s["per_class"], strict=True):
            if pc["support"] == 0:
                continue
            rows.append({"by": s["column"], "slice": s["slice"], "class": name, "support": pc["support"],
                         "sensitivity": pc["sensitivity"], "low": pc["ci"][0], "high": pc["ci"][1],
                         "note": TOO_SMALL if pc["too_small"] else ""})
    return pd.DataFrame(rows, columns=["by", "slice", "class", "support", "sensitivity", "low", "high", "note"])


def _row(col: str, value: str, s: dict, names: list[str], per_class: bool) -> dict[str, Any]:
    bal_small = bool(s.get("small_classes"))
    row = {"by": col, "slice": value, "n": s["n"], "accuracy": s["accuracy"], "accuracy low": s["accuracy_ci"][0],
           "accuracy high": s["accuracy_ci"][1], "balanced accuracy": s["balanced_accuracy"],
           "balanced low": s["balanced_accuracy_ci"][0], "balanced high": s["balanced_accuracy_ci"][1],
           "balanced note": TOO_SMALL if bal_small and col != "whole test set" else "", "status": s["status"]}
    if per_class:
        for c, name in enumerate(names):
            pc = s["per_class"][c]
            row[f"sensitivity {name}"] = None if pc["too_small"] else pc["sensitivity"]
    return row


STATUS_COLORS = {"ok": "#1F77B4", BELOW: "#D62728", TOO_SMALL: "#9E9E9E"}


def slices_figure(result: dict[str, Any], metric: str = "accuracy", *, columns: Sequence[str] | None = None):
    """Plotly figure: one point per slice with its interval bar, the whole test set's value and interval
    as a line and a band; slices below it in red, slices too small to say in grey."""
    import plotly.graph_objects as go

    from core.analysis.plots import plot_text

    if metric not in ("accuracy", "balanced_accuracy"):
        raise ValidationError(f"metric must be accuracy or balanced_accuracy. Got {metric!r}.")
    rows = [s for s in result["slices"] if columns is None or s["column"] in columns]
    o = result["overall"]
    fig = go.Figure()
    lo_all, hi_all = o[f"{metric}_ci"]
    if lo_all is not None and hi_all is not None:
        fig.add_vrect(x0=lo_all, x1=hi_all, fillcolor="#1F77B4", opacity=0.12, line_width=0)
    if o[metric] is not None:
        fig.add_vline(x=o[metric], line=dict(color="#1F77B4", dash="dash", width=1))
    for status, color in STATUS_COLORS.items():
        sel = [s for s in rows if s["status"] == status]
        if not sel:
            continue
        val = [s[metric] for s in sel]
        ci = [s[f"{metric}_ci"] for s in sel]
        fig.add_trace(go.Scatter(
            x=val, y=[plot_text(f"{s['column']}: {s['slice']}") for s in sel], mode="markers", name=status,
            marker=dict(color=color, size=9), customdata=[s["n"] for s in sel],
            error_x=dict(type="data", symmetric=False, color=color,
                         array=[(c[1] - v) if c[1] is not None and v is not None else 0
                                for v, c in zip(val, ci, strict=True)],
                         arrayminus=[(v - c[0]) if c[0] is not None and v is not None else 0
                                     for v, c in zip(val, ci, strict=True)]),
            hovertemplate="%{y}<br>" + metric.replace("_", " ") + " %{x:.3f}<br>n=%{customdata}<extra></extra>"))
    order = [plot_text(f"{s['column']}: {s['slice']}") for s in rows]
    fig.update_yaxes(categoryorder="array", categoryarray=order[::-1])
    fig.update_layout(template="plotly_white", height=max(260, 28 * len(rows) + 120),
                      xaxis_title=f"{metric.replace('_', ' ')} ({round(100 * result['options']['level'])} % interval; "
                                  "band: whole test set)", margin=dict(l=10, r=10, t=30, b=40),
                      legend=dict(orientation="h", y=1.02, yanchor="bottom"))
    return fig


def flagged_sentences(res: dict[str, Any]) -> list[str]:
    """One sentence per slice below the whole test set, and a count of the too-small ones."""
    o = res["overall"]
    out = []
    for s in res["slices"]:
        for m in s.get("below_in", []):
            word = m.replace("_", " ")
            lo, hi = s[f"{m}_ci"]
            out.append(f"{s['column']} = {s['slice']} (n={s['n']}): {word} {s[m]:.3f} (CI {lo:.3f}-{hi:.3f}) is below "
                       f"the whole test set's {o[m]:.3f} (CI {o[f'{m}_ci'][0]:.3f}-{o[f'{m}_ci'][1]:.3f}).")
    small = sum(s["status"] == TOO_SMALL for s in res["slices"])
    if small:
        out.append(f"{small} slice(s) have fewer than {res['options']['min_n']} images: too small to say.")
    return out
