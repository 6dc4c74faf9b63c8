"""Honest evaluation of a classifier from per-sample predictions.

Everything here works on a *predictions frame*: one row per sample with its stable ``id``,
the true label ``y_true``, the predicted label ``y_pred`` and the class probabilities
``p_0 .. p_{k-1}``. Predictions are always joined to labels **by sample id** (never by the
position of a shuffled iterator, the bug of report C), and :func:`evaluate` sorts rows by id
before computing anything, so a row-permuted frame gives identical numbers, bootstrap
intervals included.

Metrics come from scikit-learn where it has them (accuracy, balanced accuracy, log loss,
precision/recall/F1, Cohen's kappa, ROC/PR curves and areas); specificity, one-vs-rest
accuracy and calibration (reliability bins, ECE) are computed here, the vectorised bootstrap
intervals in ``core.metrics.bootstrap``. One-vs-rest AUC is used throughout (``multi_class='ovr'``). Classes absent from
``y_true`` have no defined AUC/AP/sensitivity: their entries are ``None`` and the macro
averages are taken over the classes that are present (sklearn's ``roc_auc_score`` refuses
such data instead).

The result of :func:`evaluate` is JSON-serialisable (floats, ints, lists, ``None`` for
undefined values: ``core.files.jsonable``). Questions about one set of predictions (most
confused classes, top losses) are ``core.metrics.interpretation.Interpretation``'s.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from core.files import jsonable
from core.metrics.bootstrap import BOOTSTRAP_METRICS, _one_hot, bootstrap_ci
from core.validation import DatasetError, ValidationError, check_number, finite_or_none

__all__ = [
    "predictions_frame",
    "prob_columns",
    "predict_dataset",
    "align_predictions",
    "evaluate",
    "calibration_bins",
]

_SUM_TOL = 1e-3      # rows of probabilities further than this from 1 are reported as renormalised
_MAX_CURVE_POINTS = 200


# --------------------------------------------------------------------------------------
# predictions frame
# --------------------------------------------------------------------------------------
def prob_columns(k: int) -> list[str]:
    return [f"p_{i}" for i in range(k)]


def _check_class_names(class_names: Sequence[str]) -> list[str]:
    names = [str(c) for c in class_names]
    if len(names) < 2:
        raise ValidationError(
            f"A classifier needs at least 2 class names. Got {len(names)} ({names!r})."
        )
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValidationError(f"Class names must be unique. Duplicated: {dup!r}.")
    return names


def _normalise_probs(p: np.ndarray, what: str = "y_prob") -> tuple[np.ndarray, int]:
    """Check probabilities and renormalise rows to sum to one. Returns (probs, n_rows_fixed)."""
    if not np.all(np.isfinite(p)):
        bad = int((~np.isfinite(p)).any(axis=1).sum())
        raise ValidationError(f"{what} contains NaN or infinite values in {bad} row(s); probabilities must be finite.")
    if (p < 0).any():
        raise ValidationError(
            f"{what} contains negative values (min {float(p.min()):.4g}); expected probabilities "
            "(softmax outputs) in [0, 1], not logits."
        )
    s = p.sum(axis=1)
    if (s <= 0).any():
        raise ValidationError(
            f"{int((s <= 0).sum())} row(s) of {what} sum to zero; each row must hold class probabilities."
        )
    off = np.abs(s - 1.0) > _SUM_TOL
    if (p > 1.0 + 1e-6).any():
        raise ValidationError(
            f"{what} holds values above 1 (max {float(p.max()):.4g}); expected probabilities in [0, 1], not logits."
        )
    # rows already summing to one (to rounding) are left untouched: dividing them again would
    # perturb tied scores and change AUCs in the last digits
    fix = np.abs(s - 1.0) > 1e-9
    if fix.any():
        p = p.copy()
        p[fix] = p[fix] / s[fix, None]
    return p, int(off.sum())


def predictions_frame(ids, y_true, y_prob, class_names: Sequence[str]) -> pd.DataFrame:
    """Build the predictions frame ``id, y_true, y_pred, p_0..p_{k-1}``.

    ``y_prob`` (N, k) must hold probabilities for the ``k = len(class_names)`` classes; rows
    not summing to one are renormalised and counted in ``df.attrs["renormalised_rows"]``.
    ``y_pred`` is the arg-max of the probabilities.
    """
    names = _check_class_names(class_names)
    k = len(names)
    ids = np.asarray(ids).astype(str).reshape(-1)
    y_true = np.asarray(y_true).reshape(-1)
    p = np.asarray(y_prob, dtype=np.float64)
    if p.ndim != 2:
        raise ValidationError(f"y_prob must be a 2-D array (samples x classes). Got shape {p.shape}.")
    if p.shape[1] != k:
        raise ValidationError(
            f"y_prob has {p.shape[1]} columns but there are {k} class names ({names!r}); "
            "the model's output size must equal the number of classes."
        )
    if not (len(ids) == len(y_true) == len(p)):
        raise ValidationError(
            f"ids, y_true and y_prob must have the same length. Got {len(ids)}, {len(y_true)} and {len(p)}."
        )
    if len(ids) == 0:
        raise ValidationError("No predictions: ids, y_true and y_prob are empty.")
    if len(set(ids.tolist())) != len(ids):
        dup = pd.Series(ids)[pd.Series(ids).duplicated()].unique()[:5]
        raise ValidationError(f"Sample ids must be unique. Duplicated: {', '.join(dup)}.")
    y_true = _check_labels(y_true, k, "y_true")
    p, fixed = _normalise_probs(p)
    df = pd.DataFrame({"id": ids, "y_true": y_true, "y_pred": p.argmax(axis=1).astype(np.int64)})
    for i, col in enumerate(prob_columns(k)):
        df[col] = p[:, i]
    df.attrs["class_names"] = names
    df.attrs["renormalised_rows"] = fixed
    return df


def _check_labels(y, k: int, what: str) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValidationError(f"{what} must hold integer class indices in [0, {k - 1}]; got non-integer values.")
    elif y.dtype.kind not in "iub":
        raise ValidationError(f"{what} must hold integer class indices in [0, {k - 1}]; got dtype {y.dtype}.")
    y = y.astype(np.int64)
    if len(y) and (y.min() < 0 or y.max() >= k):
        raise ValidationError(
            f"{what} holds class indices outside [0, {k - 1}] (min {int(y.min())}, max {int(y.max())}); "
            f"there are {k} classes."
        )
    return y


def _unpack(
    pred_df: pd.DataFrame, class_names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str], int]:
    """Validated (ids, y_true, y_pred, probs, names, n_renormalised_rows), rows sorted by id."""
    names = _check_class_names(class_names)
    k = len(names)
    if not isinstance(pred_df, pd.DataFrame):
        raise ValidationError(f"Expected a predictions DataFrame. Got {type(pred_df).__name__}.")
    cols = prob_columns(k)
    missing = [c for c in ["id", "y_true", *cols] if c not in pred_df.columns]
    if missing:
        present = [c for c in pred_df.columns if str(c).startswith("p_")]
        extra = f" The frame has {len(present)} probability columns for {k} class names." if present else ""
        raise ValidationError(
            f"The predictions frame lacks column(s) {missing!r}; expected id, y_true, y_pred, "
            f"p_0..p_{k - 1}.{extra}"
        )
    more = [c for c in pred_df.columns if str(c).startswith("p_") and c not in cols and str(c)[2:].isdigit()]
    if more:
        raise ValidationError(
            f"The predictions frame has probability columns {more!r} beyond the {k} class names "
            f"({names!r}); class count mismatch."
        )
    if len(pred_df) == 0:
        raise ValidationError("The predictions frame is empty.")
    df = pred_df.assign(_sid=pred_df["id"].astype(str)).sort_values("_sid", kind="stable")
    ids = df["id"].astype(str).to_numpy()
    if len(np.unique(ids)) != len(ids):
        raise ValidationError("Sample ids in the predictions frame must be unique.")
    y_true = _check_labels(df["y_true"].to_numpy(), k, "y_true")
    p, fixed = _normalise_probs(df[cols].to_numpy(dtype=np.float64), "the probability columns")
    if "y_pred" in df.columns:
        y_pred = _check_labels(df["y_pred"].to_numpy(), k, "y_pred")
    else:
        y_pred = p.argmax(axis=1)
    return ids, y_true, y_pred, p, names, fixed


# --------------------------------------------------------------------------------------
# prediction with a model, aligned by id
# --------------------------------------------------------------------------------------
def _to_probabilities(out: np.ndarray) -> np.ndarray:
    """Model outputs -> probabilities (softmax applied when the model returns logits)."""
    out = np.asarray(out, dtype=np.float64)
    if out.ndim == 1:
        out = out[:, None]
    if out.shape[1] == 1:  # a single sigmoid unit: P(class 1)
        p1 = out[:, 0]
        if (p1 < 0).any() or (p1 > 1).any():
            p1 = 1.0 / (1.0 + np.exp(-p1))
        return np.stack([1 - p1, p1], axis=1)
    s = out.sum(axis=1)
    if (out < 0).any() or np.abs(s - 1).max() > 0.05:
        z = out - out.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)
    return out


def predict_dataset(model, ds, prep, *, batch_size: int = 64) -> pd.DataFrame:
    """Predict every sample of ``ds`` and return the predictions frame in dataset order.

    The input pipeline is :func:`core.data.pipeline.make_dataset` with ``training=False`` and
    ``with_ids=True`` (never shuffled); probabilities are joined to labels through the sample
    ids the pipeline yields, and the labels the pipeline carries are checked against the
    dataset's. Without ``core.data.pipeline`` (or for in-memory data when it is unavailable) the
    images are preprocessed with ``prep.apply_np`` in order.
    """
    batch_size = check_number("batch_size", batch_size, low=1, integer=True)
    names = _check_class_names(ds.class_names)
    if len(ds) == 0:
        raise DatasetError(f"Dataset {ds.name!r} is empty; nothing to predict.")
    ids, probs, carried = _predict_batches(model, ds, prep, batch_size)
    if probs.shape[1] != len(names):
        raise ValidationError(
            f"The model outputs {probs.shape[1]} classes but dataset {ds.name!r} has {len(names)} "
            f"({names!r}); use a model trained on this dataset's classes."
        )
    if len(np.unique(ids)) != len(ids) or len(ids) != len(ds):
        raise DatasetError(
            f"The prediction pipeline yielded {len(ids)} samples ({len(np.unique(ids))} distinct ids) "
            f"for a dataset of {len(ds)}; every sample must be predicted exactly once."
        )
    pos = ds.index_of(ids)  # raises naming unknown ids
    y_true = ds.labels[pos]
    if not np.array_equal(carried, y_true):
        raise DatasetError(
            f"{int((carried != y_true).sum())} label(s) yielded by the pipeline differ from the dataset's "
            "labels for the same ids; the pipeline is misaligned."
        )
    order = np.argsort(pos, kind="stable")  # back to dataset order
    return predictions_frame(ids[order], y_true[order], probs[order], names)


def _predict_batches(model, ds, prep, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, probabilities, labels the input carried) of every sample of ``ds``, in the order
    the input pipeline yields them."""
    try:
        from core.data.pipeline import make_dataset  # noqa: WPS433
    except ImportError:
        make_dataset = None

    ids_out: list[np.ndarray] = []
    probs_out: list[np.ndarray] = []
    labels_out: list[np.ndarray] = []
    if make_dataset is not None:
        tfds = make_dataset(ds, prep, batch_size=batch_size, training=False, with_ids=True)
        for batch in tfds:
            x, y, bid = batch
            out = model(x, training=False)
            probs_out.append(_to_probabilities(np.asarray(out)))
            labels_out.append(np.asarray(y).reshape(-1))
            bid = np.asarray(bid).reshape(-1)
            ids_out.append(np.array([b.decode() if isinstance(b, bytes) else str(b) for b in bid]))
    elif ds.in_memory:
        for start in range(0, len(ds), batch_size):
            x = prep.apply_np(ds.images[start:start + batch_size])
            out = model(x, training=False)
            probs_out.append(_to_probabilities(np.asarray(out)))
            ids_out.append(ds.ids[start:start + batch_size])
            labels_out.append(ds.labels[start:start + batch_size])
    else:  # pragma: no cover - only when core.data.pipeline is missing
        raise DatasetError("Predicting a file-backed dataset needs core.data.pipeline.make_dataset, which is not available.")
    return np.concatenate(ids_out), np.concatenate(probs_out), np.concatenate(labels_out).astype(np.int64)


def align_predictions(pred_df: pd.DataFrame, ds) -> pd.DataFrame:
    """Check a predictions frame against a dataset and return it in the dataset's order.

    Every id must belong to ``ds`` and its ``y_true`` must equal the dataset's label for that
    id; otherwise a :class:`DatasetError` says how many rows disagree.
    """
    if not isinstance(pred_df, pd.DataFrame) or "id" not in pred_df.columns or "y_true" not in pred_df.columns:
        raise ValidationError("Expected a predictions frame with columns id, y_true, y_pred, p_0...")
    ids = pred_df["id"].astype(str).to_numpy()
    if len(np.unique(ids)) != len(ids):
        raise DatasetError("The predictions frame has duplicated sample ids.")
    pos = ds.index_of(ids)
    labels = ds.labels[pos]
    yt = pred_df["y_true"].to_numpy().astype(np.int64)
    bad = yt != labels
    if bad.any():
        first = ", ".join(ids[bad][:5])
        raise DatasetError(
            f"{int(bad.sum())} of {len(ids)} prediction rows have a y_true that differs from dataset "
            f"{ds.name!r}'s label for the same id (first: {first}); predictions are not aligned."
        )
    out = pred_df.iloc[np.argsort(pos, kind="stable")].reset_index(drop=True)
    out.attrs.update(pred_df.attrs)
    return out


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
_f = finite_or_none  # float, or None for NaN/inf/None


def _downsample(*arrays: np.ndarray, max_points: int = _MAX_CURVE_POINTS) -> list[np.ndarray]:
    n = len(arrays[0])
    if n <= max_points:
        return list(arrays)
    idx = np.unique(np.round(np.linspace(0, n - 1, max_points)).astype(int))
    return [a[idx] for a in arrays]



def calibration_bins(y_true: np.ndarray, probs: np.ndarray, *, n_bins: int = 10) -> dict[str, Any]:
    """Reliability diagram data for the top-1 confidence, equal-width bins on [0, 1].

    Bin ``i`` holds confidences in ``[i/n, (i+1)/n)`` (the last bin includes 1). Returns
    ``edges``, ``mean_confidence``, ``accuracy`` (None for empty bins), ``count`` and ``ece``
    (expected calibration error: count-weighted mean of |accuracy - confidence|).
    """
    n_bins = check_number("n_bins", n_bins, low=1, integer=True)
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y_true).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    b = np.minimum((conf * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(b, minlength=n_bins)
    sum_conf = np.bincount(b, weights=conf, minlength=n_bins)
    sum_acc = np.bincount(b, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, sum_conf / np.maximum(count, 1), np.nan)
        acc = np.where(count > 0, sum_acc / np.maximum(count, 1), np.nan)
    gap = np.where(count > 0, np.abs(acc - mean_conf), 0.0)
    ece = float((count * gap).sum() / len(conf))
    return {
        "edges": edges.tolist(),
        "mean_confidence": [_f(v) for v in mean_conf],
        "accuracy": [_f(v) for v in acc],
        "count": count.astype(int).tolist(),
        "ece": ece,
    }


# --------------------------------------------------------------------------------------
# evaluate
# --------------------------------------------------------------------------------------
def _evaluation_notices(y_true: np.ndarray, k: int, names: list[str], fixed: int) -> list[str]:
    notices: list[str] = []
    if fixed:
        notices.append(f"{fixed} row(s) of probabilities did not sum to one and were renormalised.")
    present = np.bincount(y_true, minlength=k) > 0
    absent = [names[c] for c in range(k) if not present[c]]
    if absent:
        notices.append(
            f"Classes absent from the true labels: {', '.join(absent)}; their sensitivity, AUC and AP are "
            "undefined (None) and macro averages use the present classes only."
        )
    if present.sum() == 1:
        notices.append("Only one class is present in the true labels; AUC and balanced metrics are of limited meaning.")
    return notices


def _confusion_rates(cm: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Per-class counts and rates from a confusion matrix (rows: true, columns: predicted)."""
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    fp = predicted - tp
    fn = support - tp
    tn = n - tp - fp - fn
    return {
        "support": support,
        "predicted": predicted,
        "sens": np.where(support > 0, tp / np.maximum(support, 1), np.nan),
        "spec": np.where(tn + fp > 0, tn / np.maximum(tn + fp, 1), np.nan),
        "ovr_acc": (tp + tn) / n,
    }


def _ranking_curves(y_true: np.ndarray, p: np.ndarray, names: list[str]) -> dict[str, Any]:
    """Per-class ROC and PR curves and areas, the micro and macro ROC, macro AUC and AP."""
    from sklearn import metrics as skm

    n, k = p.shape
    auc_c = np.full(k, np.nan)
    ap_c = np.full(k, np.nan)
    roc_curves: dict[str, Any] = {}
    pr_curves: dict[str, Any] = {}
    Yt = _one_hot(y_true, k)
    for c in range(k):
        npos = Yt[:, c].sum()
        if 0 < npos < n:
            # areas from the full curves: skm.auc(roc) == roc_auc_score, and the step sum
            # over the PR curve is exactly average_precision_score's formula
            fpr, tpr, _ = skm.roc_curve(Yt[:, c], p[:, c])
            auc_c[c] = skm.auc(fpr, tpr)
            pr, rc, _ = skm.precision_recall_curve(Yt[:, c], p[:, c])
            ap_c[c] = -np.sum(np.diff(rc) * pr[:-1])
            fpr, tpr = _downsample(fpr, tpr)
            roc_curves[names[c]] = {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "auc": float(auc_c[c])}
            pr, rc = _downsample(pr, rc)
            pr_curves[names[c]] = {"precision": pr.tolist(), "recall": rc.tolist(), "ap": float(ap_c[c])}
    if np.isfinite(auc_c).all() and k > 2:
        # every class present: sklearn's own one-vs-rest macro AUC (identical to the mean)
        macro_auc = float(skm.roc_auc_score(y_true, p, multi_class="ovr", average="macro", labels=list(range(k))))
    else:
        macro_auc = float(np.nanmean(auc_c)) if np.isfinite(auc_c).any() else float("nan")
    fpr_m, tpr_m, _ = skm.roc_curve(Yt.ravel(), p.ravel())
    micro_auc = float(skm.auc(fpr_m, tpr_m))  # == roc_auc_score(average="micro")
    fpr_m, tpr_m = _downsample(fpr_m, tpr_m)
    roc_curves["micro"] = {"fpr": fpr_m.tolist(), "tpr": tpr_m.tolist(), "auc": micro_auc}
    curves = [roc_curves[names[c]] for c in range(k) if np.isfinite(auc_c[c])]
    if curves:
        grid = np.linspace(0.0, 1.0, 101)
        mean_tpr = np.mean([np.interp(grid, cv["fpr"], cv["tpr"]) for cv in curves], axis=0)
        mean_tpr[0] = 0.0
        roc_curves["macro"] = {"fpr": grid.tolist(), "tpr": mean_tpr.tolist(), "auc": macro_auc}
    macro_ap = float(np.nanmean(ap_c)) if np.isfinite(ap_c).any() else float("nan")
    return {"auc_c": auc_c, "ap_c": ap_c, "roc": roc_curves, "pr": pr_curves,
            "macro_auc": macro_auc, "micro_auc": micro_auc, "macro_ap": macro_ap}


def _stat(a: np.ndarray, fn) -> float | None:
    a = a[np.isfinite(a)]
    return _f(fn(a)) if len(a) else None


def _label_metrics(y_true: np.ndarray, y_pred: np.ndarray, p: np.ndarray, *, ordinal: bool) -> dict[str, Any]:
    """Confusion matrix, per-class rates and the label-based summary numbers."""
    from sklearn import metrics as skm

    n, k = p.shape
    labels = list(range(k))
    cm = skm.confusion_matrix(y_true, y_pred, labels=labels)
    rates = _confusion_rates(cm, n)
    prec_c, _, f1_c, _ = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    used = sorted(set(y_true.tolist()) | set(y_pred.tolist()))  # sklearn's default label set
    macro = skm.precision_recall_fscore_support(y_true, y_pred, labels=used, average="macro", zero_division=0)
    weighted = skm.precision_recall_fscore_support(y_true, y_pred, labels=used, average="weighted", zero_division=0)
    sens, spec = rates["sens"], rates["spec"]
    summary: dict[str, Any] = {
        "n_samples": int(n),
        "n_classes": int(k),
        "accuracy": _f(skm.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": _f(float(np.nanmean(sens))),  # = sklearn balanced_accuracy_score (present classes)
        "log_loss": _f(skm.log_loss(y_true, p, labels=labels)),
        "macro_precision": _f(macro[0]),
        "macro_recall": _f(macro[1]),
        "macro_f1": _f(macro[2]),
        "weighted_precision": _f(weighted[0]),
        "weighted_recall": _f(weighted[1]),
        "weighted_f1": _f(weighted[2]),
        "mean_sensitivity": _stat(sens, np.mean),
        "min_sensitivity": _stat(sens, np.min),
        "max_sensitivity": _stat(sens, np.max),
        "mean_specificity": _stat(spec, np.mean),
        "min_specificity": _stat(spec, np.min),
        "max_specificity": _stat(spec, np.max),
        "mean_ovr_accuracy": _f(rates["ovr_acc"].mean()),
    }
    if ordinal:
        summary["kappa_quadratic"] = _f(skm.cohen_kappa_score(y_true, y_pred, labels=labels, weights="quadratic"))
    return {"cm": cm, "rates": rates, "prec_c": prec_c, "f1_c": f1_c, "summary": summary}


def _per_class_records(names: list[str], lab: dict[str, Any], curves: dict[str, Any]) -> list[dict[str, Any]]:
    r = lab["rates"]
    return [
        {
            "class": names[c],
            "index": c,
            "precision": _f(lab["prec_c"][c]),
            "recall": _f(r["sens"][c]),
            "sensitivity": _f(r["sens"][c]),
            "specificity": _f(r["spec"][c]),
            "f1": _f(lab["f1_c"][c]),
            "support": int(r["support"][c]),
            "predicted": int(r["predicted"][c]),
            "auc": _f(curves["auc_c"][c]),
            "ap": _f(curves["ap_c"][c]),
            "ovr_accuracy": _f(r["ovr_acc"][c]),
        }
        for c in range(len(names))
    ]


def evaluate(
    pred_df: pd.DataFrame,
    class_names: Sequence[str],
    *,
    ordinal: bool = False,
    n_bootstrap: int = 1000,
    seed: int = 0,
    n_bins: int = 10,
) -> dict[str, Any]:
    """All evaluation numbers for one predictions frame, as a JSON-serialisable dict.

    Keys: ``summary`` (flat scalars, including ``ci_low_<m>``/``ci_high_<m>``), ``ci``
    ({metric: [low, high]}, 95% percentile bootstrap), ``per_class`` (records), ``confusion``
    (labels, counts, row-normalised), ``roc`` (per class, ``micro``, ``macro`` curves),
    ``pr`` (per class curves), ``calibration`` (reliability bins and ECE), ``class_names``,
    ``notices``. Undefined values (e.g. AUC of a class absent from ``y_true``) are ``None``.
    """
    n_bootstrap = check_number("n_bootstrap", n_bootstrap, low=0, integer=True)
    seed = check_number("seed", seed, low=0, integer=True)
    n_bins = check_number("n_bins", n_bins, low=1, high=1000, integer=True)
    ids, y_true, y_pred, p, names, fixed = _unpack(pred_df, class_names)
    notices = _evaluation_notices(y_true, p.shape[1], names, fixed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's UndefinedMetricWarning on absent classes
        lab = _label_metrics(y_true, y_pred, p, ordinal=ordinal)
        curves = _ranking_curves(y_true, p, names)
    calib = calibration_bins(y_true, p, n_bins=n_bins)
    summary = {**lab["summary"], "macro_auc": _f(curves["macro_auc"]), "micro_auc": _f(curves["micro_auc"]),
               "macro_ap": _f(curves["macro_ap"]), "ece": _f(calib["ece"])}
    if ordinal:  # keep the key order of the stored summaries: kappa after the ranking metrics
        summary["kappa_quadratic"] = summary.pop("kappa_quadratic")
    ci: dict[str, list[float | None]] = {}
    if n_bootstrap > 0:
        ci = bootstrap_ci(y_true, y_pred, p, n_bootstrap=n_bootstrap, seed=seed, ordinal=ordinal)
    for m in (*BOOTSTRAP_METRICS, *(("kappa_quadratic",) if ordinal else ())):
        lo, hi = ci.get(m, [None, None])
        summary[f"ci_low_{m}"] = lo
        summary[f"ci_high_{m}"] = hi
    cm = lab["cm"]
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = cm / cm.sum(axis=1, keepdims=True)
    result = {
        "class_names": names,
        "summary": summary,
        "ci": ci,
        "per_class": _per_class_records(names, lab, curves),
        "confusion": {"labels": names, "counts": cm.astype(int).tolist(), "normalized": norm.tolist()},
        "roc": curves["roc"],
        "pr": curves["pr"],
        "calibration": calib,
        "notices": notices,
        "options": {"ordinal": bool(ordinal), "n_bootstrap": n_bootstrap, "seed": seed, "n_bins": n_bins,
                    "multi_class": "ovr", "ci_level": 0.95},
    }
    return jsonable(result)
