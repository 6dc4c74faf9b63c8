"""Label audit: which labels of a dataset are probably wrong, which images are
outliers, which are (near-)duplicates.

1. **Out-of-sample probabilities** by K-fold cross-validation over the *whole* dataset
   (``k`` folds, default 3; stratified, and grouped by the dataset's groups, e.g. HAM10000's
   ``lesion_id``, when it has them, so that photos of one lesion never sit on both sides).
   Each fold trains the run's configured model (``TrainConfig``: model, optimiser, learning
   rate, batch size, augmentation) from scratch for ``epochs`` epochs (default 5: small; 2 left
   a small_cnn on 500 digits near chance) on the other folds, with preprocessing fitted on
   them, and predicts its held-out fold.
2. **Label issues** from those probabilities with cleanlab: ``find_label_issues`` (confident
   learning, ranked by self-confidence) flags them and ``get_label_quality_scores`` scores
   every image (0 = the label is surely wrong, 1 = surely right); ``rank`` orders all images
   by that score, lowest first. The suggested label is the class of highest probability.
3. **Outliers**: cleanlab ``OutOfDistribution`` scored on the probabilities (cheap; low
   scores = atypical predictions for their label).
4. **Near-duplicates**: every image down-scaled to 8 x 8 grey and hashed (average hash: one
   bit per pixel, above or below the image's mean); images with the same hash form a
   duplicate group. Exact and near-exact copies (re-encodes, small resizes) are found; crops,
   rotations and different photos of one lesion are not.

``flip_labels`` (a demo and test option, recorded in the run): before the audit, this many
labels chosen at random (``flip_seed``) are changed to another class, so that one can check
that the audit finds them (``summary["flipped_recall_top2x"]``). Never set in normal use.

The job (``kind="audit"``, ``core.jobs.worker.run_audit``) writes ``audit.csv`` (one row per image) and
``audit.json`` (the summary) to the run folder, registered as artifacts ``audit_table`` and
``audit`` (runs audited before the run folder named its files by kind registered them as
``audit`` and ``audit_summary``; ``load_audit`` reads both).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.store.artifacts import RunFolder
from core.validation import ValidationError, check_number

if TYPE_CHECKING:  # pandas is imported when an audit runs (python -m core starts faster)
    import pandas as pd

HASH_SIZE = 8


@dataclass
class AuditOptions:
    k: int = 3
    epochs: int = 5
    flip_labels: int = 0   # demo/test only: flip this many labels before auditing
    flip_seed: int = 0

    def validate(self) -> AuditOptions:
        check_number("k", self.k, low=2, high=20, integer=True)
        check_number("epochs", self.epochs, low=1, high=200, integer=True)
        check_number("flip_labels", self.flip_labels, low=0, high=1_000_000, integer=True)
        check_number("flip_seed", self.flip_seed, low=0, high=2**31 - 1, integer=True)
        return self

    @classmethod
    def from_params(cls, params: dict[str, str]) -> AuditOptions:
        """From a run's stored params (``audit.k`` etc., JSON values)."""
        vals = {f: json.loads(params[f"audit.{f}"]) for f in ("k", "epochs", "flip_labels", "flip_seed")
                if f"audit.{f}" in params}
        return cls(**{k: int(v) for k, v in vals.items()}).validate()


def submit_audit(jobs, config: Any, options: AuditOptions | dict | None = None, *, name: str | None = None,
                 actor=None) -> int:
    """Queue a label audit of ``config``'s dataset with its model (a ``JobManager``), owned by ``actor``
    (a ``core.auth.policy.Actor``; None: the local user) when their role may start one."""
    opts = options if isinstance(options, AuditOptions) else AuditOptions(**dict(options or {}))
    opts.validate()
    return jobs.submit(config, name=name, kind="audit", actor=actor, _extra_params={"audit": asdict(opts)})


# ---------------------------------------------------------------------------------- data
def flip_labels(labels: np.ndarray, n: int, num_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(new labels, positions flipped): ``n`` positions chosen at random, each moved to another class."""
    labels = np.asarray(labels, dtype=np.int64)
    if n > len(labels):
        raise ValidationError(f"flip_labels must be at most the {len(labels)} images of the dataset. Got {n}.")
    rng = np.random.default_rng(seed)
    pos = np.sort(rng.choice(len(labels), size=n, replace=False))
    out = labels.copy()
    out[pos] = (labels[pos] + rng.integers(1, num_classes, size=n)) % num_classes
    return out, pos


def make_folds(labels: np.ndarray, k: int, *, groups=None, seed: int = 0) -> np.ndarray:
    """The fold (0..k-1) of every image: stratified by label, grouped when ``groups`` is given."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    labels = np.asarray(labels)
    counts = np.bincount(labels)
    if groups is None and counts[counts > 0].min() < k:
        raise ValidationError(f"A {k}-fold audit needs at least {k} images of every class; the smallest class has "
                              f"{int(counts[counts > 0].min())}. Use a smaller k or more images.")
    fold = np.full(len(labels), -1, dtype=np.int64)
    if groups is not None:
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        parts = splitter.split(np.zeros(len(labels)), labels, groups=np.asarray(groups).astype(str))
    else:
        parts = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels)
    for i, (_, held_out) in enumerate(parts):
        fold[held_out] = i
    return fold


def image_hashes(ds, *, chunk: int = 512) -> np.ndarray:
    """Average hash of every image (8 x 8 grey, one bit per pixel above the mean) as hex strings."""
    from core.datasets.io import load_images

    out: list[str] = []
    for start in range(0, len(ds), chunk):
        imgs = load_images(ds, np.arange(start, min(start + chunk, len(ds))), size=HASH_SIZE).astype(np.float32)
        grey = imgs.mean(axis=-1).reshape(len(imgs), -1)
        bits = grey > grey.mean(axis=1, keepdims=True)
        out += [np.packbits(b).tobytes().hex() for b in bits]
    return np.asarray(out)


def duplicate_groups(hashes: np.ndarray) -> np.ndarray:
    """Group number (1, 2, ...) of every image whose hash another image shares; 0 for unique ones."""
    import pandas as pd

    s = pd.Series(hashes)
    counts = s.map(s.value_counts())
    dup = s[counts > 1]
    codes = {h: i + 1 for i, h in enumerate(pd.unique(dup))}
    return s.map(lambda h: codes.get(h, 0)).to_numpy(dtype=np.int64)


# ---------------------------------------------------------------------------------- training
def _fold_model(config, train_ds):
    """(model compiled for ``config``, its preprocessing) fitted on ``train_ds``."""
    from core.data.preprocess import fit_preprocessing
    from core.training.config import model_family
    from core.training.engine import Prepared, _sample_images, build_run_model, image_stats, make_optimizer, resolve_input

    family = model_family(config.model)
    stats = image_stats(_sample_images(train_ds, 200, config.seed))
    size, channels, norm, backbone = resolve_input(config, family, stats)
    prep = fit_preprocessing(train_ds, input_size=size, channels=channels, normalization=norm, backbone=backbone)
    p = Prepared(config, train_ds, None, train_ds, None, None, prep, family, (size[0], size[1], channels),
                 config.augment_spec(), stats)
    model, _ = build_run_model(p)
    model.compile(optimizer=make_optimizer(config.optimizer, config.learning_rate, weight_decay=config.weight_decay,
                                           momentum=config.momentum),
                  loss="sparse_categorical_crossentropy")
    return model, prep


def _watch(progress, fold: int, k: int, epochs: int):
    """A Keras callback: progress after each epoch, a cancel check after each batch."""
    import keras

    cancel = getattr(progress, "should_cancel", lambda: False)

    class _Watch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if progress is not None and cancel():
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            if progress is not None:
                progress(fold + 1, epoch + 1, (fold + (epoch + 1) / epochs) / k)

    return _Watch()


def out_of_sample_probs(config, ds, folds: np.ndarray, epochs: int, *, progress=None) -> np.ndarray:
    """(N, classes) probabilities, each image's from the model of the fold that did not train on it.

    ``progress(fold, epoch, fraction)`` is called after every epoch; it may raise ``Cancelled``
    and is also asked ``progress.should_cancel()`` after each batch when it has that method."""
    import keras

    from core.data.pipeline import make_dataset
    from core.training.engine import seed_everything
    from core.training.reporters import Cancelled

    k = int(folds.max()) + 1
    probs = np.zeros((len(ds), ds.num_classes), dtype=np.float64)
    for f in range(k):
        seed_everything(config.seed + f)
        train_ds, held = ds.subset(np.flatnonzero(folds != f), by="position"), np.flatnonzero(folds == f)
        model, prep = _fold_model(config, train_ds)
        pipe = make_dataset(train_ds, prep, batch_size=int(config.batch_size), training=True,
                            augment=config.augment_spec(), seed=config.seed + f, cache=False)
        model.fit(pipe, epochs=epochs, verbose=0, callbacks=[_watch(progress, f, k, epochs)])
        if progress is not None and getattr(progress, "should_cancel", lambda: False)():
            raise Cancelled(f"label audit cancelled in fold {f + 1} of {k}")
        test = make_dataset(ds.subset(held, by="position"), prep, batch_size=int(config.batch_size), training=False,
                            cache=False)
        probs[held] = np.asarray(model.predict(test, verbose=0), dtype=np.float64)
        keras.backend.clear_session()
    probs = np.clip(probs, 1e-12, None)
    return probs / probs.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------------- ranking
def rank_label_issues(labels: np.ndarray, probs: np.ndarray) -> pd.DataFrame:
    """Per image: given and suggested label, label quality, cleanlab's issue flag, rank (1 = worst)
    and outlier score (cleanlab ``OutOfDistribution`` on the probabilities)."""
    import pandas as pd
    from cleanlab.filter import find_label_issues
    from cleanlab.outlier import OutOfDistribution
    from cleanlab.rank import get_label_quality_scores

    labels = np.asarray(labels, dtype=np.int64)
    quality = get_label_quality_scores(labels, probs, method="self_confidence")
    issues = find_label_issues(labels, probs, filter_by="prune_by_noise_rate", n_jobs=1)
    try:
        outlier = OutOfDistribution().fit_score(pred_probs=probs, labels=labels, verbose=False)
    except (ValueError, AssertionError):  # e.g. a class with no image: skip, say so in the summary
        outlier = np.full(len(labels), np.nan)
    order = np.lexsort((np.arange(len(labels)), quality))  # lowest quality first; ties by position
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(1, len(labels) + 1)
    return pd.DataFrame({"given_label": labels, "suggested_label": probs.argmax(axis=1),
                         "label_quality": quality, "is_label_issue": issues, "rank": rank,
                         "outlier_score": outlier})


def audit_dataset(config, opts: AuditOptions, *, progress=None, ds=None) -> tuple[pd.DataFrame, dict]:
    """(the per-image table, the summary) of a label audit of ``config``'s dataset."""
    from core.datasets import load_dataset

    t0 = time.time()
    opts.validate()
    if ds is None:
        ds = load_dataset(config.dataset["name"], **dict(config.dataset.get("params") or {}))
    labels, flipped = ds.labels, np.zeros(0, dtype=np.int64)
    if opts.flip_labels:  # on a copy: a loaded dataset may be shared (cached)
        labels, flipped = flip_labels(ds.labels, opts.flip_labels, ds.num_classes, opts.flip_seed)
        ds = ds.subset(np.arange(len(ds)), by="position")
        ds.labels = labels
    folds = make_folds(labels, opts.k, groups=ds.groups, seed=config.seed)
    probs = out_of_sample_probs(config, ds, folds, opts.epochs, progress=progress)
    table = rank_label_issues(labels, probs)
    names = list(ds.class_names)
    table.insert(0, "id", ds.ids)
    table.insert(2, "given_class", [names[i] for i in table["given_label"]])
    table.insert(4, "suggested_class", [names[i] for i in table["suggested_label"]])
    table["fold"] = folds
    table["duplicate_group"] = duplicate_groups(image_hashes(ds))
    table["flipped"] = np.isin(np.arange(len(ds)), flipped)
    table = table.sort_values("rank").reset_index(drop=True)
    return table, _summary(ds, table, opts, time.time() - t0)


def _summary(ds, table: pd.DataFrame, opts: AuditOptions, seconds: float) -> dict:
    n_issues = int(table["is_label_issue"].sum())
    dup = table[table["duplicate_group"] > 0]
    conflicting = dup.groupby("duplicate_group")["given_label"].nunique()
    s = {"dataset": ds.name, "n_images": int(len(table)), "n_classes": ds.num_classes, **asdict(opts),
         "grouped_by": ds.group_name if ds.groups is not None else None,
         "oos_accuracy": float((table["given_label"] == table["suggested_label"]).mean()),
         "n_label_issues": n_issues, "n_duplicate_groups": int(dup["duplicate_group"].nunique()),
         "n_duplicate_images": int(len(dup)),
         "n_duplicate_groups_with_conflicting_labels": int((conflicting > 1).sum()),
         "outliers": "cleanlab OutOfDistribution on the out-of-sample probabilities"
                     if table["outlier_score"].notna().all() else "skipped: OutOfDistribution could not be fitted",
         "duplicates": f"identical {HASH_SIZE}x{HASH_SIZE} grey average hash", "seconds": round(seconds, 1)}
    if opts.flip_labels:
        top = table.head(2 * opts.flip_labels)
        s["flipped_recall_top2x"] = float(top["flipped"].sum() / opts.flip_labels)
        s["flipped_recall_flagged"] = float(table.loc[table["flipped"], "is_label_issue"].mean())
    return s


# ---------------------------------------------------------------------------------- the run's files
def save_audit(out_dir: str | Path, table: pd.DataFrame, summary: dict) -> RunFolder:
    """Write an audit's per-image table and its summary into the run folder ``out_dir``."""
    folder = RunFolder(out_dir).mkdir()
    folder.write_csv("audit_table", table)
    folder.write_json("audit", summary)
    return folder


def _audit_folder(detail) -> RunFolder | None:
    """The folder holding an audit run's files: that of any audit file it registered."""
    for a in getattr(detail, "artifacts", None) or []:
        if a.kind in ("audit", "audit_table", "audit_summary") and a.path:
            return RunFolder(Path(a.path).parent)
    return None


def load_audit(detail) -> tuple[pd.DataFrame, dict] | None:
    """(table, summary) of a finished audit run, or None when its files are missing."""
    folder = _audit_folder(detail)
    if folder is None or not folder.has("audit_table") or not folder.has("audit"):
        return None
    table = folder.read_csv("audit_table", dtype={"id": str, "given_class": str, "suggested_class": str})
    return table, folder.read_json("audit")
