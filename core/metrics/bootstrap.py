"""Percentile bootstrap intervals of a classifier's headline metrics, vectorised.

:func:`bootstrap_ci` resamples the samples with replacement. Each block of resamples is a
matrix of per-sample draw counts ``w[r, i]`` (times sample ``i`` is drawn in resample ``r``),
so the confusion counts of every resample are one matrix product and the one-vs-rest AUCs one
sort per class (:func:`_weighted_auc`, ties counted 1/2 as sklearn does). Seeded, so a run's
intervals are reproducible; ``core.metrics.classification.evaluate`` puts them in its summary.

Plain NumPy: importing this module imports neither scikit-learn nor TensorFlow.
"""
from __future__ import annotations

import warnings

import numpy as np

from core.validation import finite_or_none

#: bootstrap resamples of every interval the lab computes when it is shown (the slices of a run on its
#: Run page, on its model card and from ``python -m core slices``): one setting, so the same interval
#: reads the same wherever it is shown
INTERVAL_RESAMPLES = 1000
#: metrics that get a bootstrap confidence interval (plus ``kappa_quadratic`` when ordinal)
BOOTSTRAP_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "macro_auc")

_BLOCK_CELLS = 4_000_000  # draws per block of resamples (resamples x samples): bounds the memory used


def _one_hot(y: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(y), k), dtype=np.float64)
    out[np.arange(len(y)), y] = 1.0
    return out


def _weighted_auc(scores: np.ndarray, pos: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """One-vs-rest ROC AUC for each row of ``weights`` (bootstrap counts), ties counted 1/2.

    ``scores``/``pos`` (n,), ``weights`` (B, n). Equal to sklearn's ``roc_auc_score`` on the
    resampled data; NaN where a resample lacks positives or negatives.
    """
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    is_pos = pos[order]
    w = weights[:, order]
    n = len(s)
    # tie groups of equal scores: first and last sorted position of each sample's group
    new_group = np.r_[True, s[1:] != s[:-1]]
    gid = np.cumsum(new_group) - 1
    starts = np.flatnonzero(new_group)
    ends = np.r_[starts[1:] - 1, n - 1]
    negw = w * ~is_pos
    cn = np.cumsum(negw, axis=1)           # negative weight at or below each position
    pcols = np.flatnonzero(is_pos)
    g = gid[pcols]
    # negatives strictly below the group + half of the negatives tied with it
    strict = cn[:, starts[g]] - negw[:, starts[g]]
    value = 0.5 * (strict + cn[:, ends[g]])
    num = (w[:, pcols] * value).sum(axis=1, dtype=np.float64)
    den = w[:, pcols].sum(axis=1, dtype=np.float64) * cn[:, -1].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _kappa_from_confusion(cm: np.ndarray) -> np.ndarray:
    """Quadratic weighted kappa for a stack of confusion matrices (..., k, k)."""
    k = cm.shape[-1]
    i, j = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    wts = ((i - j) ** 2).astype(np.float64)
    n = cm.sum(axis=(-2, -1))
    expected = cm.sum(axis=-1)[..., :, None] * cm.sum(axis=-2)[..., None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = expected / n[..., None, None]
        obs = (wts * cm).sum(axis=(-2, -1))
        exp = (wts * expected).sum(axis=(-2, -1))
        return 1.0 - obs / exp


def _draw_counts(rng: np.random.Generator, b: int, n: int) -> np.ndarray:
    """``w[r, i]``: how many times sample ``i`` is drawn in resample ``r`` of a block of ``b``."""
    idx = rng.integers(0, n, size=(b, n))
    return np.bincount((np.arange(b)[:, None] * n + idx).ravel(), minlength=b * n).reshape(b, n).astype(np.float32)


class _Resampler:
    """The per-sample indicator matrices of one set of predictions, and the metrics of a block of
    resamples computed from them (``metrics(w)``: metric -> one value per resample)."""

    def __init__(self, y_true: np.ndarray, y_pred: np.ndarray, probs: np.ndarray, ordinal: bool) -> None:
        n, k = probs.shape
        self.n, self.k, self.probs, self.ordinal = n, k, probs, ordinal
        self.Yt = _one_hot(y_true, k)
        self.Yp = _one_hot(y_pred, k)
        self.correct = (y_true == y_pred).astype(np.float64)
        self.present_auc = [c for c in range(k) if 0 < self.Yt[:, c].sum() < n]
        self.pos_masks = {c: self.Yt[:, c].astype(bool) for c in self.present_auc}
        self.cell = _one_hot(y_true * k + y_pred, k * k) if ordinal else None

    def metrics(self, w: np.ndarray) -> dict[str, np.ndarray]:
        out = self._label_metrics(w)
        out["macro_auc"] = self._macro_auc(w)
        if self.ordinal:
            cm = (w @ self.cell).reshape(len(w), self.k, self.k)
            out["kappa_quadratic"] = _kappa_from_confusion(cm)
        return out

    def _label_metrics(self, w: np.ndarray) -> dict[str, np.ndarray]:
        support = w @ self.Yt                    # (b, k)
        predicted = w @ self.Yp
        tp = w @ (self.Yt * self.correct[:, None])
        with np.errstate(invalid="ignore", divide="ignore"):
            recall = np.where(support > 0, tp / np.where(support > 0, support, 1), np.nan)
            denom = support + predicted     # 2tp + fp + fn
            f1 = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), np.nan)
            return {"accuracy": (w @ self.correct) / self.n,
                    "balanced_accuracy": np.nanmean(recall, axis=1),
                    "macro_f1": np.nanmean(f1, axis=1)}

    def _macro_auc(self, w: np.ndarray) -> np.ndarray:
        if not self.present_auc:
            return np.full(len(w), np.nan)
        aucs = np.stack([_weighted_auc(self.probs[:, c], self.pos_masks[c], w) for c in self.present_auc], axis=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(aucs, axis=1)


def _percentile_intervals(draws: dict[str, list[np.ndarray]], level: float) -> dict[str, list[float | None]]:
    """[low, high] percentile interval of each metric's finite draws ([None, None] when none is)."""
    lo_q, hi_q = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    out: dict[str, list[float | None]] = {}
    for m, parts in draws.items():
        v = np.concatenate(parts)
        v = v[np.isfinite(v)]
        out[m] = [finite_or_none(np.percentile(v, lo_q)), finite_or_none(np.percentile(v, hi_q))] if len(v) \
            else [None, None]
    return out


def bootstrap_ci(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    probs: np.ndarray,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    ordinal: bool = False,
    level: float = 0.95,
) -> dict[str, list[float | None]]:
    """Percentile bootstrap intervals for accuracy, balanced accuracy, macro F1, macro AUC
    (and quadratic kappa when ``ordinal``), resampling samples with replacement.

    Vectorised: each block of resamples is a matrix of per-sample counts, so the confusion
    counts are one matrix product and the AUCs one sort per class. Seeded, so reproducible.
    """
    n = probs.shape[0]
    B = int(n_bootstrap)
    rng = np.random.default_rng(seed)
    resampler = _Resampler(y_true, y_pred, probs, ordinal)
    draws: dict[str, list[np.ndarray]] = {m: [] for m in (*BOOTSTRAP_METRICS, *(("kappa_quadratic",) if ordinal else ()))}
    block = max(1, min(B, _BLOCK_CELLS // max(n, 1)))
    done = 0
    while done < B:
        b = min(block, B - done)
        for m, v in resampler.metrics(_draw_counts(rng, b, n)).items():
            draws[m].append(v)
        done += b
    return _percentile_intervals(draws, level)
