"""How different is an external image set from a run's training images? The shift report.

Three views, then a verdict in plain words:

- image statistics (size, brightness, colour) of a sample of each side;
- a distance in the model's own feature space: a logistic regression telling the run's training
  images from the external ones apart on the model's penultimate-layer features, its
  cross-validated AUC (0.5: indistinguishable, 1: told apart every time) with a bootstrap interval;
- calibration: the expected calibration error on the run's own test split against the external set.
"""
from __future__ import annotations

from typing import Any

import numpy as np

#: images per side for the statistics and the feature classifier (a random sample when more)
SAMPLE = 400
FOLDS = 5
AUC_RESAMPLES = 300
#: feature AUC bands and what they mean
BANDS = ((0.6, "looks like the training images"), (0.75, "slightly different from the training images"),
         (0.9, "clearly different from the training images"), (1.01, "very different from the training images"))


def sample_positions(n: int, k: int = SAMPLE, seed: int = 0) -> np.ndarray:
    if n <= k:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


def image_stats(ds, positions) -> dict[str, Any]:
    """Width, height, brightness and mean colour of the images at ``positions`` (file datasets: a
    reduced decode; sizes from the header)."""
    from PIL import Image

    w, h, bright, rgb, sat = [], [], [], [], []
    for p in positions:
        try:
            if ds.in_memory:
                a = np.asarray(ds.images[p])
                hh, ww = a.shape[:2]
                im = Image.fromarray(a[..., 0] if a.ndim == 3 and a.shape[-1] == 1 else a)
            else:
                im = Image.open(str(ds.paths[p]))
                ww, hh = im.size
                im.draft("RGB", (64, 64))
            c = np.asarray(im.convert("RGB"), dtype=np.float64).reshape(-1, 3)
            hsv = np.asarray(im.convert("RGB").convert("HSV"), dtype=np.float64)[..., 1]
        except (OSError, ValueError):
            continue
        w.append(ww), h.append(hh), bright.append(c.mean()), rgb.append(c.mean(0)), sat.append(hsv.mean())
    if not w:
        return {"n": 0}
    rgb_m = np.mean(rgb, axis=0)
    return {"n": len(w), "width_median": float(np.median(w)), "height_median": float(np.median(h)),
            "width_range": [int(min(w)), int(max(w))], "height_range": [int(min(h)), int(max(h))],
            "brightness_mean": float(np.mean(bright)), "brightness_sd": float(np.std(bright)),
            "red_mean": float(rgb_m[0]), "green_mean": float(rgb_m[1]), "blue_mean": float(rgb_m[2]),
            "saturation_mean": float(np.mean(sat))}


def feature_model(model):
    """A model giving the input of the last Dense layer (the penultimate layer's features)."""
    import keras

    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    if not dense:
        raise ValueError("the model has no Dense layer to take the features before")
    return keras.Model(model.inputs, dense[-1].input)


def features(feat_model, ds, prep, batch_size: int = 64) -> np.ndarray:
    """Penultimate-layer features of every image of ``ds`` (flattened), in dataset order."""
    from core.data.pipeline import make_dataset

    pipe = make_dataset(ds, prep, batch_size=batch_size, training=False, with_ids=True)
    ids, out = [], []
    for batch in pipe:
        x, i = batch[0], batch[-1]
        f = np.asarray(feat_model(x, training=False), dtype=np.float64)
        out.append(f.reshape(len(f), -1))
        ids.append(np.asarray(i).astype(str))
    ids = np.concatenate(ids)
    order = np.argsort(ds.index_of(ids), kind="stable")
    return np.concatenate(out)[order]


def feature_auc(train_f: np.ndarray, ext_f: np.ndarray, *, seed: int = 0) -> dict[str, Any]:
    """Cross-validated AUC of a logistic regression telling training from external features apart,
    with a percentile bootstrap interval over the out-of-fold scores."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate([train_f, ext_f])
    y = np.r_[np.zeros(len(train_f)), np.ones(len(ext_f))].astype(int)
    folds = min(FOLDS, len(train_f), len(ext_f))
    if folds < 2:
        return {"auc": None, "interval": [None, None], "n_train": len(train_f), "n_external": len(ext_f),
                "note": "too few images on one side for a cross-validated classifier"}
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    score = cross_val_predict(clf, x, y, cv=cv, method="predict_proba")[:, 1]
    auc = float(roc_auc_score(y, score))
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(AUC_RESAMPLES):
        i = rng.integers(0, len(y), len(y))
        if 0 < y[i].sum() < len(i):
            draws.append(roc_auc_score(y[i], score[i]))
    lo, hi = (np.percentile(draws, [2.5, 97.5]).tolist() if draws else [None, None])
    return {"auc": auc, "interval": [lo, hi], "n_train": len(train_f), "n_external": len(ext_f), "folds": folds}


def _band(auc: float | None) -> str:
    if auc is None:
        return "could not be compared with the training images"
    return next(text for top, text in BANDS if auc < top)


def band_phrase(auc: float | None) -> str:
    """The band of ``auc`` with its verb: "looks like ..." / "is slightly different from ..."."""
    band = _band(auc)
    return band if band.startswith(("looks", "could")) else "is " + band


def images_sentence(train: dict[str, Any], ext: dict[str, Any]) -> str | None:
    """How the images themselves differ (size, brightness, colour), or None when alike."""
    if not train.get("n") or not ext.get("n"):
        return None
    bits = []
    tw, th, ew, eh = train["width_median"], train["height_median"], ext["width_median"], ext["height_median"]
    ratio = (ew * eh) / max(tw * th, 1)
    if ratio > 1.5 or ratio < 1 / 1.5:
        bits.append(f"{'larger' if ratio > 1 else 'smaller'} ({ew:.0f}x{eh:.0f} against {tw:.0f}x{th:.0f} pixels; "
                    "both are resized to the model's input)")
    db = ext["brightness_mean"] - train["brightness_mean"]
    if abs(db) > max(10.0, 0.5 * train.get("brightness_sd") or 0):
        bits.append(f"{'brighter' if db > 0 else 'darker'} (mean {ext['brightness_mean']:.0f} against "
                    f"{train['brightness_mean']:.0f})")
    ds = ext["saturation_mean"] - train["saturation_mean"]
    if abs(ds) > 15:
        bits.append(f"{'more' if ds > 0 else 'less'} saturated in colour")
    return ("The external images are " + ", ".join(bits) + ".") if bits else None


def verdict(fa: dict[str, Any], ece_internal: float | None, ece_external: float | None,
            bacc_internal: float | None, bacc_external: float | None, images: str | None = None) -> str:
    """The shift report's last sentence(s), in plain words."""
    auc, (lo, hi) = fa.get("auc"), fa.get("interval") or [None, None]
    parts = [images] if images else []
    if auc is not None:
        iv = f" (interval {lo:.2f}-{hi:.2f})" if lo is not None else ""
        parts.append(f"In the model's own features this set {band_phrase(auc)}: a classifier tells them apart with "
                     f"AUC {auc:.2f}{iv}.")
    else:
        parts.append(f"This set {band_phrase(None)}.")
    if ece_internal is not None and ece_external is not None:
        worse = ece_external - ece_internal
        how = "much worse calibrated" if worse > 0.1 else "worse calibrated" if worse > 0.03 else "about as well calibrated"
        parts.append(f"The model's confidence is {how} here (ECE {ece_external:.3f} against {ece_internal:.3f} on its "
                     "own test split).")
    if bacc_internal is not None and bacc_external is not None:
        drop = bacc_internal - bacc_external
        how = ("drops a lot" if drop > 0.1 else "drops" if drop > 0.03 else "holds up" if drop > -0.03 else "is higher")
        parts.append(f"Balanced accuracy {how} ({bacc_external:.2f} against {bacc_internal:.2f}).")
    risky = (auc is not None and auc >= 0.75) or (bacc_internal is not None and bacc_external is not None
                                                   and bacc_internal - bacc_external > 0.1)
    miscalibrated = ece_internal is not None and ece_external is not None and ece_external - ece_internal > 0.1
    if risky:
        parts.append("Do not rely on the run's own test figures for images like these; validate or retrain on such "
                     "data.")
    elif miscalibrated:
        parts.append("The run's own accuracy figures are a fair guide for images like these, but its probabilities "
                     "are not: recalibrate on such data before reading its confidence.")
    else:
        parts.append("The run's own test figures are a fair guide for images like these.")
    return " ".join(parts)


def shift_report(*, train_stats: dict, ext_stats: dict, fa: dict, ece_internal: float | None,
                 ece_external: float | None, bacc_internal: float | None, bacc_external: float | None) -> dict:
    """The ``shift`` record of an external evaluation (``core.store.external``)."""
    return {"image_stats": {"training": train_stats, "external": ext_stats},
            "feature_auc": fa.get("auc"), "feature_auc_interval": fa.get("interval"), "feature_classifier": fa,
            "calibration": {"ece_internal": ece_internal, "ece_external": ece_external},
            "balanced_accuracy": {"internal": bacc_internal, "external": bacc_external},
            "verdict": verdict(fa, ece_internal, ece_external, bacc_internal, bacc_external,
                               images_sentence(train_stats, ext_stats))}
