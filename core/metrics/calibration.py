"""Temperature scaling: one number T > 0, fitted on the validation split after training,
that softens (T > 1) or sharpens (T < 1) the model's probabilities without changing which
class wins.

The models of the lab end in a softmax, so their logits are known up to a constant per row:
``z = log p``. ``apply_temperature(p, T) = softmax(log p / T)`` is therefore exactly what
dividing the logits by T would give. ``fit_temperature`` minimises the validation negative
log-likelihood over ``log T`` (bounded, scipy's ``minimize_scalar``). A temperature is stored
only when the validation split can support it: at least ``MIN_VAL_SAMPLES`` images, two
classes, ``MIN_VAL_ERRORS`` misclassified images (with 2 errors the fit sharpens without
limit: T ~ 0.2 doubled the test log loss of a digits run), and a ``CV_FOLDS``-fold check that
a T fitted on part of the split lowers the NLL of the rest.

A run stores T in ``meta.json`` under ``"calibration"`` (see ``calibration_meta``) and writes
``calibration.json`` next to ``evaluation.json``: ECE, accuracy and log loss on the TEST split
before and after, with bootstrap intervals, and the reliability bins of both
(``calibration_report``; ``core.serving.trained_model.load_calibration`` reads it back).
``evaluation.json`` and ``predictions.csv`` stay uncalibrated.

Light to import: numpy only (scipy when fitting).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from core.files import jsonable
from core.metrics.classification import _f, calibration_bins
from core.validation import ValidationError

__all__ = ["CV_FOLDS", "MIN_VAL_ERRORS", "MIN_VAL_SAMPLES", "T_BOUNDS", "apply_temperature", "calibration_meta",
           "calibration_report", "cross_validated_nll", "fit_temperature", "nll", "temperature_of"]

MIN_VAL_SAMPLES = 20          # fewer validation images: no temperature is fitted (noted in meta)
MIN_VAL_ERRORS = 5            # fewer misclassified validation images: the fit is all noise (e.g. T -> 0.2)
CV_FOLDS = 5                  # the fitted T must lower the held-out NLL in a k-fold check within validation
T_BOUNDS = (0.05, 20.0)       # the search range of T
_TINY = float(np.finfo(np.float32).tiny)  # softmax outputs are float32: a 0 is below this


def _as_probs(probs, what: str = "probs") -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2 or len(p) == 0:
        raise ValidationError(f"{what} must be a non-empty (samples x classes) array with at least 2 classes. "
                              f"Got shape {p.shape}.")
    if not np.all(np.isfinite(p)) or (p < 0).any():
        raise ValidationError(f"{what} must hold finite, non-negative probabilities (softmax outputs).")
    return p


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _logits(probs: np.ndarray) -> np.ndarray:
    """log p, the logits up to a per-row constant."""
    return np.log(np.clip(probs, _TINY, None))


def apply_temperature(probs, temperature: float) -> np.ndarray:
    """``softmax(log(probs) / T)``: the probabilities of a softmax model whose logits are divided by T."""
    t = float(temperature)
    if not (math.isfinite(t) and t > 0):
        raise ValidationError(f"The temperature must be a positive finite number. Got {temperature!r}.")
    p = _as_probs(probs)
    return np.exp(_log_softmax(_logits(p) / t))


def nll(probs, y) -> float:
    """Mean negative log-likelihood of the labels ``y`` under ``probs``."""
    p = _as_probs(probs)
    y = np.asarray(y, dtype=np.int64).reshape(-1)
    return float(-np.log(np.clip(p[np.arange(len(y)), y], _TINY, None)).mean())


def fit_temperature(logits_or_probs, y, *, from_probs: bool = True) -> float:
    """The T > 0 minimising the NLL of ``softmax(z / T)`` on (``logits_or_probs``, ``y``).

    ``from_probs`` (default): the input is softmax probabilities and ``z = log p``; otherwise
    it is raw logits. The search is over ``log T`` within ``T_BOUNDS``.
    """
    from scipy.optimize import minimize_scalar

    z = _logits(_as_probs(logits_or_probs)) if from_probs else np.asarray(logits_or_probs, dtype=np.float64)
    y = np.asarray(y).reshape(-1)
    if z.ndim != 2 or len(z) != len(y) or len(y) == 0:
        raise ValidationError(f"fit_temperature needs one label per row: {z.shape} scores, {len(y)} labels.")
    if y.min() < 0 or y.max() >= z.shape[1]:
        raise ValidationError(f"Labels must be class indices in [0, {z.shape[1] - 1}].")
    y = y.astype(np.int64)
    rows = np.arange(len(y))

    def loss(log_t: float) -> float:
        return float(-_log_softmax(z / math.exp(log_t))[rows, y].mean())

    lo, hi = math.log(T_BOUNDS[0]), math.log(T_BOUNDS[1])
    res = minimize_scalar(loss, bounds=(lo, hi), method="bounded", options={"xatol": 1e-5})
    best = float(res.x)
    if loss(0.0) <= loss(best):  # never worse than leaving the model alone
        best = 0.0
    return float(math.exp(best))


def cross_validated_nll(probs, y, *, k: int = 5, seed: int = 0) -> tuple[float, float]:
    """(held-out NLL with T fitted on the other folds, NLL at T = 1) over a ``k``-fold split of
    (``probs``, ``y``): whether fitting a temperature on such data generalises at all."""
    p = _as_probs(probs)
    y = np.asarray(y, dtype=np.int64).reshape(-1)
    folds = np.random.default_rng(seed).permutation(len(y)) % k
    fitted = np.zeros(len(y))
    for f in range(k):
        held = folds == f
        t = fit_temperature(p[~held], y[~held])
        fitted[held] = -_log_softmax(_logits(p[held]) / t)[np.arange(int(held.sum())), y[held]]
    return float(fitted.mean()), nll(p, y)


def temperature_of(meta: dict | None) -> float | None:
    """The fitted temperature stored in a run's meta, or None (old run, or fitting skipped)."""
    cal = (meta or {}).get("calibration") or {}
    t = cal.get("temperature")
    try:
        t = float(t)
    except (TypeError, ValueError):
        return None
    return t if math.isfinite(t) and t > 0 else None


def calibration_meta(val_probs, y_val, *, n_bins: int = 10) -> dict[str, Any]:
    """The ``meta["calibration"]`` entry: T fitted on the validation predictions, or why not.

    Never raises: a split that is too small, has one class only or fewer than
    ``MIN_VAL_ERRORS`` misclassified images gives ``temperature: None`` and a ``note``; so does
    a temperature that does not lower the held-out NLL in a ``CV_FOLDS``-fold check within the
    validation split (``temperature_fitted`` keeps the value that was not applied).
    """
    y = np.asarray(y_val, dtype=np.int64).reshape(-1)
    base: dict[str, Any] = {"method": "temperature", "fitted_on": "validation", "n": int(len(y)), "temperature": None}
    if len(y) < MIN_VAL_SAMPLES:
        return {**base, "note": f"not fitted: the validation split has {len(y)} images (at least {MIN_VAL_SAMPLES} "
                                "needed); probabilities are the model's own."}
    if len(np.unique(y)) < 2:
        return {**base, "note": "not fitted: the validation split holds one class only; probabilities are the "
                                "model's own."}
    try:
        p = _as_probs(val_probs, "validation probabilities")
        errors = int((p.argmax(axis=1) != y).sum())
        if errors < MIN_VAL_ERRORS:
            return {**base, "val_errors": errors, "note": f"not fitted: only {errors} of {len(y)} validation images "
                    f"are misclassified (at least {MIN_VAL_ERRORS} needed to estimate a temperature); "
                    "probabilities are the model's own."}
        t = fit_temperature(p, y)
        cv_fitted, cv_plain = cross_validated_nll(p, y, k=CV_FOLDS)
        after = apply_temperature(p, t)
    except Exception as e:  # noqa: BLE001 - calibration never fails a training
        return {**base, "note": f"not fitted: {type(e).__name__}: {e}"}
    base.update(val_errors=errors, cv_nll_fitted=cv_fitted, cv_nll_uncalibrated=cv_plain)
    if cv_fitted >= cv_plain:
        return {**base, "temperature_fitted": t, "note": f"not applied: T = {t:.3f} fitted on part of the validation "
                f"split did not lower the NLL of the rest ({CV_FOLDS}-fold: {cv_fitted:.4f} vs {cv_plain:.4f} "
                "without); probabilities are the model's own."}
    return {**base, "temperature": t,
            "ece_val_before": calibration_bins(y, p, n_bins=n_bins)["ece"],
            "ece_val_after": calibration_bins(y, after, n_bins=n_bins)["ece"],
            "nll_val_before": nll(p, y), "nll_val_after": nll(after, y)}


# --------------------------------------------------------------------------------------
# before/after on the test split, with bootstrap intervals
# --------------------------------------------------------------------------------------
def _resample_weights(rng, n: int, b: int) -> np.ndarray:
    """(b, n) counts: how many times each sample is drawn in each of b resamples."""
    idx = rng.integers(0, n, size=(b, n))
    return np.bincount((np.arange(b)[:, None] * n + idx).ravel(), minlength=b * n).reshape(b, n).astype(np.float64)


def _per_sample(y: np.ndarray, p: np.ndarray, n_bins: int) -> dict[str, np.ndarray]:
    conf = p.max(axis=1)
    b = np.minimum((conf * n_bins).astype(np.int64), n_bins - 1)  # the bins of evaluation.calibration_bins
    onehot = np.zeros((len(y), n_bins))
    onehot[np.arange(len(y)), b] = 1.0
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    loss = -np.log(np.clip(p[np.arange(len(y)), y], _TINY, None))
    return {"bin": onehot, "conf": conf, "correct": correct, "loss": loss}


def _boot_stats(w: np.ndarray, s: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """ECE, log loss, accuracy and per-bin accuracy for each resample (rows of ``w``)."""
    count = w @ s["bin"]
    sum_conf = w @ (s["bin"] * s["conf"][:, None])
    sum_acc = w @ (s["bin"] * s["correct"][:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        bin_acc = np.where(count > 0, sum_acc / np.where(count > 0, count, 1), np.nan)
    # count * |acc - conf| summed over bins = sum |sum_acc - sum_conf|
    return {"ece": np.abs(sum_acc - sum_conf).sum(axis=1) / n, "log_loss": (w @ s["loss"]) / n,
            "accuracy": (w @ s["correct"]) / n, "bin_accuracy": bin_acc}


def _interval(v: np.ndarray, level: float) -> list[float | None]:
    v = v[np.isfinite(v)]
    if not len(v):
        return [None, None]
    q = 100 * (1 - level) / 2
    return [_f(np.percentile(v, q)), _f(np.percentile(v, 100 - q))]


def _bootstrap(y, before, after, *, n_bins: int, n_bootstrap: int, seed: int, level: float) -> dict[str, Any]:
    """Paired percentile intervals (the same resamples for before and after)."""
    n = len(y)
    sb, sa = _per_sample(y, before, n_bins), _per_sample(y, after, n_bins)
    rng = np.random.default_rng(seed)
    parts: dict[str, list] = {"before": [], "after": []}
    done, block = 0, max(1, min(n_bootstrap, 2_000_000 // max(n, 1)))
    while done < n_bootstrap:
        w = _resample_weights(rng, n, min(block, n_bootstrap - done))
        parts["before"].append(_boot_stats(w, sb, n))
        parts["after"].append(_boot_stats(w, sa, n))
        done += len(w)
    out: dict[str, Any] = {}
    for side in ("before", "after"):
        st = {k: np.concatenate([d[k] for d in parts[side]]) for k in parts[side][0]}
        out[side] = {m: _interval(st[m], level) for m in ("ece", "log_loss", "accuracy")}
        out[side]["bin_accuracy"] = [_interval(st["bin_accuracy"][:, j], level) for j in range(n_bins)]
        out[side]["_ece"] = st["ece"]
    out["ece_change"] = _interval(out["after"].pop("_ece") - out["before"].pop("_ece"), level)
    return out


def _side(y, p, boot: dict[str, Any], n_bins: int) -> dict[str, Any]:
    bins = calibration_bins(y, p, n_bins=n_bins)
    bins["accuracy_ci"] = boot["bin_accuracy"]
    return {"ece": bins["ece"], "ci_ece": boot["ece"], "accuracy": _f((p.argmax(axis=1) == y).mean()),
            "ci_accuracy": boot["accuracy"], "log_loss": nll(p, y), "ci_log_loss": boot["log_loss"],
            "mean_confidence": _f(p.max(axis=1).mean()), "bins": bins}


def calibration_report(y_true, probs, temperature: float, *, n_bins: int = 10, n_bootstrap: int = 200,
                       seed: int = 0, level: float = 0.95) -> dict[str, Any]:
    """``calibration.json``: the test split before and after temperature scaling.

    ``before``/``after`` each hold ``ece``, ``accuracy``, ``log_loss`` with ``ci_*`` percentile
    bootstrap intervals, ``mean_confidence`` and ``bins`` (``evaluation.calibration_bins``
    plus ``accuracy_ci`` per bin); ``ece_change`` is the paired interval of after - before.
    Raises if the temperature changed any predicted class (it must not).
    """
    y = np.asarray(y_true, dtype=np.int64).reshape(-1)
    before = _as_probs(probs)
    after = apply_temperature(before, temperature)
    changed = int((before.argmax(axis=1) != after.argmax(axis=1)).sum())
    if changed:
        raise AssertionError(f"temperature scaling changed {changed} predicted class(es); it must not")
    boot = _bootstrap(y, before, after, n_bins=n_bins, n_bootstrap=max(1, int(n_bootstrap)), seed=seed, level=level)
    return jsonable({
        "method": "temperature", "temperature": float(temperature), "split": "test", "n": int(len(y)),
        "before": _side(y, before, boot["before"], n_bins), "after": _side(y, after, boot["after"], n_bins),
        "ci_ece_change": boot["ece_change"],
        "options": {"n_bins": n_bins, "n_bootstrap": int(n_bootstrap), "seed": seed, "ci_level": level},
    })
