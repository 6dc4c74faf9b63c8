"""Training engine: a serialisable ``TrainConfig`` -> a complete, evaluated, saved run.

``train(config, out_dir=..., reporter=...)`` seeds everything, loads the dataset, splits it
(or reuses a stored split), fits the preprocessing on the training part (``prepare``), builds
the tf.data pipelines and the model, fits with the callbacks of ``core.training.callbacks`` (progress
to a *reporter*, divergence stop, best epoch on ``config.monitor``), evaluates on the
held-out TEST split with predictions aligned by sample id, and writes the artifacts::

    out_dir/model.keras        written atomically (temp name + os.replace)
    out_dir/meta.json          everything needed to predict like at training time
    out_dir/split.json         the exact split (ids), reusable for comparable runs
    out_dir/history.csv        one row per epoch
    out_dir/predictions.csv    id, y_true, y_pred, p_0..p_{k-1} on the test split
    out_dir/evaluation.json    core.metrics.classification.evaluate() output (uncalibrated probabilities)
    out_dir/calibration.json   test ECE/reliability before and after temperature scaling (core.metrics.calibration);
                               the temperature, fitted on the validation split, is meta["calibration"]

The rest of a run lives in sibling modules, one job each, and is re-exported here:
``core.training.config`` (TrainConfig and its constraints table), ``core.training.reporters`` (the
Reporter protocol, Cancelled, TrainingError), ``core.training.callbacks`` (Keras callbacks; imported
only while training), ``core.training.cached_features`` (frozen backbone: train the head on cached
features), ``core.files`` (atomic writes, OS error messages), ``core.serving.trained_model``
(load a saved run, re-evaluate it).
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.files import (
    OutputError,
    check_writable_dir,
    describe_os_error,
    save_model_atomic,
)
from core.store.artifacts import RunFolder
from core.training.cached_features import cached_feature_data, split_head, use_cached_features
from core.training.config import (
    OPTIMIZER_CLASSES,
    OPTIMIZERS,
    TrainConfig,
    model_family,
)
from core.training.reporters import (
    Cancelled,
    TrainingError,
    _SafeReporter,
)
from core.validation import LabError, ModelError, check_one_of


@dataclass
class TrainResult:
    model_path: Path
    out_dir: Path
    meta: dict[str, Any]
    history: list[dict[str, Any]]
    params: dict[str, int]
    train_time_s: float
    epochs_run: int
    best_epoch: int
    split: Any
    predictions: Any  # DataFrame
    evaluation: dict[str, Any]
    model: Any = None  # the trained keras.Model (in memory)

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self.evaluation.get("summary", {}))


@dataclass
class Prepared:
    """Everything resolved before fitting (shared by train() and lr_find())."""

    config: TrainConfig
    dataset: Any
    split: Any
    train_ds: Any
    val_ds: Any
    test_ds: Any
    prep: Any
    family: str
    input_shape: tuple[int, int, int]
    augment: Any
    stats: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------
# Before fitting: data, split, preprocessing, model
# --------------------------------------------------------------------------------------


def resolve_input(config: TrainConfig, family: str, stats: dict) -> tuple[tuple[int, int], int, str, str | None]:
    """(input_size, channels, normalization, backbone) from the config and the data."""
    from core.models import BACKBONES, MODELS

    name = MODELS.resolve(config.model)
    backbone = name if family == "backbone" else None
    if config.input_size is not None:
        size = (int(config.input_size[0]), int(config.input_size[1]))
    elif family == "backbone":
        cfg = BACKBONES[name]
        d = getattr(cfg, "default_size", None) or getattr(cfg, "min_size", None) or 224
        size = (int(d), int(d)) if isinstance(d, (int, np.integer)) else (int(d[0]), int(d[1]))
    else:
        size = tuple(stats.get("typical_size") or (32, 32))
    if config.channels is not None:
        channels = int(config.channels)
    elif family == "backbone":
        channels = 3
    else:
        channels = 1 if int(stats.get("channels", 3)) == 1 else 3
    norm = config.normalization or ("backbone" if family == "backbone" else "rescale")
    return size, channels, norm, backbone


def split_data(config: TrainConfig, split=None) -> tuple[Any, Any, Any, Any, Any]:
    """(dataset, split, train, val, test): the dataset loaded and split (or the given split
    checked); TrainingError when a part is empty."""
    from core.datasets import load_dataset
    from core.datasets.splits import Split, apply_split, make_split

    ds = load_dataset(config.dataset["name"], **dict(config.dataset.get("params") or {}))
    if split is None:
        sp = config.resolved_split()
        split = make_split(ds, val_ratio=sp["val_ratio"], test_ratio=sp["test_ratio"], seed=int(sp["seed"]),
                           grouped=sp["grouped"])
    elif isinstance(split, dict):
        split = Split.from_dict(split)
    train_ds, val_ds, test_ds = apply_split(ds, split)
    if config.extra_train:  # a flag dataset version: the training part only, after the split
        from core.datasets.flagged import add_extra_train

        train_ds, added = add_extra_train(config.extra_train, train_ds, [val_ds, test_ds])
        ds.spec = {**(ds.spec or config.dataset), "extra_train": added}
        train_ds.spec = dict(ds.spec)
    for nm, part in (("training", train_ds), ("validation", val_ds), ("test", test_ds)):
        if len(part) == 0:
            raise TrainingError(f"The {nm} split is empty ({len(ds)} images in {ds.name!r}); use more data or other "
                                "split ratios.")
    return ds, split, train_ds, val_ds, test_ds


def planned_input(config: TrainConfig, train_ds) -> tuple[str, dict, tuple]:
    """(family, training-image statistics, (input_size, channels, normalization, backbone)):
    the automatic choices of a run, from 200 of its training images."""
    family = model_family(config.model)
    stats = image_stats(_sample_images(train_ds, 200, config.seed))
    return family, stats, resolve_input(config, family, stats)


@dataclass(frozen=True)
class RunPlan:
    """What a run will train on, known before it runs: its input size (``size_from``: "set" by
    the config, "auto_backbone" the backbone's default, "auto_data" the training images'
    typical size), channels and the images of each part."""

    input_size: tuple[int, int]
    channels: int
    size_from: str
    n_train: int
    n_val: int
    n_test: int


def plan_run(config: TrainConfig) -> RunPlan:
    """The input size and image counts ``train(config)`` will use, by the same code
    (``split_data`` and ``planned_input``), without building or training a model."""
    config.validate()
    _, _, train_ds, val_ds, test_ds = split_data(config)
    family, _, (size, channels, _, _) = planned_input(config, train_ds)
    size_from = "set" if config.input_size is not None else "auto_backbone" if family == "backbone" else "auto_data"
    return RunPlan((int(size[0]), int(size[1])), int(channels), size_from, len(train_ds), len(val_ds), len(test_ds))


def prepare(config: TrainConfig, *, split=None) -> Prepared:
    """Load the dataset, split it (or check the given split), fit the preprocessing."""
    from core.data.preprocess import fit_preprocessing

    config.validate()
    ds, split, train_ds, val_ds, test_ds = split_data(config, split)
    family, stats, (size, channels, norm, backbone) = planned_input(config, train_ds)
    prep = fit_preprocessing(train_ds, input_size=size, channels=channels, normalization=norm, backbone=backbone)
    return Prepared(config, ds, split, train_ds, val_ds, test_ds, prep, family, (size[0], size[1], channels),
                    config.augment_spec(), stats)


def build_run_model(p: Prepared) -> tuple[Any, list[str]]:
    """(the Keras model of a prepared run, notices about it) from ``core.models.create_model``."""
    from core.models import create_model, model_notices

    opts = p.config.resolved_model_options()
    try:
        built = create_model(p.config.model, input_shape=p.input_shape, num_classes=p.train_ds.num_classes, **opts)
    except LabError:
        raise
    except TypeError as e:
        raise ModelError(f"Model {p.config.model!r} does not accept these model_options {sorted(opts)}: {e}") from None
    model = getattr(built, "model", built)
    notices = list(getattr(built, "notices", []) or [])
    try:
        notices += [n for n in model_notices(model) if n not in notices]
    except Exception:  # noqa: BLE001
        pass
    return model, notices


def seed_everything(seed: int, *, reproducible: bool = True) -> None:
    """Seed Python, NumPy and TensorFlow. ``reproducible``: TensorFlow's op determinism on (the same seed gives
    the same weights bit for bit); off: turned off again, as a warm worker may have trained a reproducible run
    before (see docs/REPRODUCIBILITY.md for what each costs)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(int(seed))
    try:
        if reproducible:
            tf.config.experimental.enable_op_determinism()
        else:
            from tensorflow.python.framework import config as tf_config  # no public switch-off (TF 2.21)

            tf_config.disable_op_determinism()
    except Exception:  # noqa: BLE001 - older TF
        pass


def make_optimizer(name: str, learning_rate: float, *, weight_decay: float = 0.0, momentum: float = 0.9):
    """The Keras optimiser ``name`` (``train_config.OPTIMIZER_CLASSES``); momentum is for sgd only."""
    import keras

    check_one_of("optimizer", name, OPTIMIZERS)
    kwargs: dict[str, Any] = {"learning_rate": float(learning_rate), "weight_decay": float(weight_decay) or None}
    if name == "sgd":
        kwargs["momentum"] = float(momentum)
    return getattr(keras.optimizers, OPTIMIZER_CLASSES[name])(**kwargs)


def image_stats(images: np.ndarray | list) -> dict[str, Any]:
    """Training-data statistics for out-of-distribution warnings on the Predict page."""
    imgs = list(images)
    if not imgs:
        return {}
    bright = []
    hs, ws, chans = [], [], []
    chan_means = []
    for im in imgs:
        a = np.asarray(im)
        if a.ndim == 2:
            a = a[..., None]
        hs.append(a.shape[0])
        ws.append(a.shape[1])
        chans.append(a.shape[2])
        f = a.astype(np.float32)
        gray = f.mean(axis=2) if f.shape[2] < 3 else (0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2])
        bright.append(float(gray.mean()))
        chan_means.append(f.reshape(-1, f.shape[2]).mean(axis=0))
    bright_a = np.asarray(bright)
    c = int(np.bincount(chans).argmax())
    cm = [float(v) for v in np.mean([m for m in chan_means if len(m) == c], axis=0)]
    return {
        "n_sampled": len(imgs),
        "brightness_mean": float(bright_a.mean()),
        "brightness_std": float(bright_a.std()),
        "brightness_min": float(bright_a.min()),
        "brightness_max": float(bright_a.max()),
        "brightness_percentiles": {str(q): float(np.percentile(bright_a, q)) for q in (1, 5, 25, 50, 75, 95, 99)},
        "channel_means": cm,
        "channels": c,
        "typical_size": [int(np.median(hs)), int(np.median(ws))],
        "min_size": [int(min(hs)), int(min(ws))],
        "max_size": [int(max(hs)), int(max(ws))],
    }


def _sample_images(ds, n: int = 200, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    pos = np.sort(rng.choice(len(ds), size=min(n, len(ds)), replace=False))
    if ds.images is not None:
        return [ds.images[i] for i in pos]
    from core.datasets.io import load_images

    out = load_images(ds, pos)
    return list(out)


# --------------------------------------------------------------------------------------
# train()
# --------------------------------------------------------------------------------------


@dataclass
class FitData:
    """What ``fit`` runs on: the full model on images, or its head on cached features."""

    model: Any
    train: Any
    val: Any             # validation data given to fit()
    val_data: tuple      # (inputs, labels) for the macro-F1 of core.training.callbacks.BestEpoch
    n_batches: int
    cached: bool


def train(config: TrainConfig, *, out_dir: str | os.PathLike, reporter: Any = None, split=None,
          n_bootstrap: int = 200, cache_features: bool | None = None, extra_callbacks=()) -> TrainResult:
    """Train, keep the best epoch, evaluate on the test split, save every artifact.

    ``split``: a ``Split`` (or its dict) to reuse, e.g. for comparable runs of a search.
    ``cache_features``: None = automatic (frozen backbone and no augmentation).
    ``extra_callbacks``: more Keras callbacks, run after the lab's own each batch/epoch.
    Raises ``Cancelled`` when ``reporter.should_cancel()`` turns true, ``TrainingError`` when
    the loss becomes NaN, ``ValidationError`` for a bad configuration, ``OutputError`` when
    ``out_dir`` cannot be written (checked before training; a full disk at the end leaves
    complete files only).
    """
    from core.models import count_params
    from core.training.callbacks import make_callbacks

    rep = _SafeReporter(reporter)
    out = check_writable_dir(out_dir, "run folder")  # fails now, not after the training
    config.validate()
    seed_everything(config.seed, reproducible=config.reproducible)
    p, model, notices = _prepare_and_build(config, split, rep)
    for n in notices:
        rep.on_message("notice", n)
    class_weight = _class_weights(p, rep)
    fit = _fit_data(p, model, rep, cache_features)
    fit.model.compile(
        optimizer=make_optimizer(config.optimizer, config.learning_rate, weight_decay=config.weight_decay,
                                 momentum=config.momentum),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    _build_before_fit(fit.model, fit.train)
    params = count_params(model)
    rep.on_start(_start_info(p, fit, params))
    cbs = make_callbacks(config, reporter=rep, n_batches=fit.n_batches, batch_size=int(config.batch_size),
                         val_data=fit.val_data, n_classes=p.train_ds.num_classes)
    train_time = _fit(fit, cbs, config.epochs, list(extra_callbacks), class_weight, out, rep)
    best = cbs.best
    if best.best_weights is not None:
        fit.model.set_weights(best.best_weights)
    history = cbs.progress.history
    rep.on_message("info", f"trained {len(history)} epoch(s) in {train_time:.1f}s; best epoch {best.best_epoch} "
                           f"({config.monitor}={best.best:.4f}); weights of the best epoch restored")
    pred_df, evaluation = _evaluate_test(model, p, n_bootstrap)
    cal_meta, cal_report = _calibrate(model, p, pred_df, n_bootstrap, rep)
    meta = _run_meta(p, model, notices, params, evaluation, fit=fit, best=best, train_time=train_time,
                     epochs_run=len(history))
    meta["calibration"] = cal_meta
    model_path = _write_artifacts(out, p, model, history, pred_df, evaluation, meta, calibration=cal_report)
    summ = evaluation.get("summary", {})
    rep.on_message("info", f"test accuracy {summ.get('accuracy', float('nan')):.4f}, macro F1 "
                           f"{summ.get('macro_f1', float('nan')):.4f}; saved {model_path}")
    return TrainResult(
        model_path=model_path, out_dir=out, meta=meta, history=history, params=params,
        train_time_s=train_time, epochs_run=len(history), best_epoch=best.best_epoch, split=p.split,
        predictions=pred_df, evaluation=evaluation, model=model,
    )


def _prepare_and_build(config: TrainConfig, split, rep: _SafeReporter) -> tuple[Prepared, Any, list[str]]:
    """``prepare`` and ``build_run_model``, the model built under mixed precision when asked
    (and a GPU is present); the global policy is float32 again afterwards."""
    import keras
    import tensorflow as tf

    policy_set = False
    if config.mixed_precision:
        if tf.config.list_physical_devices("GPU"):
            keras.mixed_precision.set_global_policy("mixed_float16")
            policy_set = True
        else:
            rep.on_message("notice", "mixed_precision ignored: no GPU is present (it only helps on GPUs).")
    try:
        p = prepare(config, split=split)
        model, notices = build_run_model(p)
    finally:
        if policy_set:
            keras.mixed_precision.set_global_policy("float32")
    return p, model, notices


def _class_weights(p: Prepared, rep: _SafeReporter) -> dict[int, float] | None:
    if p.config.class_weight != "balanced":
        return None
    from core.data.pipeline import balanced_class_weights

    cw = {int(k): float(v) for k, v in balanced_class_weights(p.train_ds.labels, p.train_ds.num_classes).items()}
    rep.on_message("info", "balanced class weights: " + ", ".join(f"{p.train_ds.class_names[k]}={v:.2f}"
                                                                  for k, v in cw.items()))
    return cw


def _fit_data(p: Prepared, model, rep: _SafeReporter, cache_features: bool | None) -> FitData:
    """The pipelines fit() runs on; cached features when they give the same result (see
    ``core.training.cached_features``) or when asked."""
    from core.data.pipeline import make_dataset

    config, bs = p.config, int(p.config.batch_size)
    use_cache = use_cached_features(p) if cache_features is None else bool(cache_features)
    parts = split_head(model) if use_cache else None
    if use_cache and parts is None:
        rep.on_message("notice", "cached features not used: the model has no frozen part that can be split from its "
                                 "head.")
        use_cache = False
    val_pipe = make_dataset(p.val_ds, p.prep, batch_size=bs, training=False, seed=config.seed)
    if use_cache:
        feat, fit_model = parts
        train_pipe, val_fit, val_data, n_train_eff = cached_feature_data(feat, p, val_pipe, rep)
    else:
        fit_model, val_fit, val_data = model, val_pipe, (val_pipe, p.val_ds.labels)
        train_pipe = make_dataset(p.train_ds, p.prep, batch_size=bs, training=True, augment=p.augment,
                                  oversample=config.oversample, seed=config.seed)
        card = int(train_pipe.cardinality())
        n_train_eff = card * bs if card > 0 else len(p.train_ds)
    card = int(train_pipe.cardinality())
    n_batches = card if card > 0 else max(1, math.ceil(n_train_eff / bs))
    return FitData(fit_model, train_pipe, val_fit, val_data, n_batches, use_cache)


def _start_info(p: Prepared, fit: FitData, params: dict) -> dict[str, Any]:
    config = p.config
    return {
        "name": config.display_name(),
        "model": config.model,
        "dataset": config.dataset["name"],
        "n_train": len(p.train_ds), "n_val": len(p.val_ds), "n_test": len(p.test_ds),
        "class_names": list(p.train_ds.class_names),
        "input_shape": list(p.input_shape),
        "epochs": config.epochs, "batch_size": int(config.batch_size), "n_batches": fit.n_batches,
        "trainable_params": params["trainable"], "non_trainable_params": params["non_trainable"],
        "cached_features": fit.cached,
        "split": {"strategy": getattr(p.split, "strategy", None), "grouped_by": getattr(p.split, "grouped_by", None)},
    }


def _build_before_fit(model, train) -> None:
    """Create the model's, the compiled metrics' and the optimizer's variables before ``fit``, from the
    training data's element spec (what Keras itself does first under a distribution strategy). Without
    it, ``fit`` builds them inside its first trace of the train step, which TensorFlow then throws away
    and traces again: one trace less is 0.5-1 s less before the first batch of a small CNN. The
    variables and their initial values are the same either way (tests/test_warm_worker.py compares runs)."""
    import tensorflow as tf

    build = getattr(model, "_symbolic_build", None)  # Keras 3's own pre-build (private: skip if it goes)
    spec = getattr(train, "element_spec", None)
    if build is None or spec is None:
        return
    import keras

    build(data_batch=tf.nest.map_structure(lambda s: keras.KerasTensor(s.shape, s.dtype.name), spec))


def _fit(fit: FitData, cbs, epochs: int, extra_callbacks: list, class_weight, out: Path, rep: _SafeReporter) -> float:
    """Run Keras' fit; the seconds it took. A cancelled or failed run keeps its history.csv."""
    t0 = time.monotonic()
    try:
        fit.model.fit(fit.train, validation_data=fit.val, epochs=epochs, callbacks=cbs.callbacks + extra_callbacks,
                      class_weight=class_weight, verbose=0)
    except (Cancelled, TrainingError):
        try:
            _write_history(out, cbs.progress.history)
        except OSError as e:  # keep the cancel/failure as the outcome
            rep.on_message("warning", describe_os_error(e, RunFolder(out).path_of("history")))
        raise
    return time.monotonic() - t0


def _evaluate_test(model, p: Prepared, n_bootstrap: int):
    """(predictions, evaluation) on the TEST split, aligned by sample id."""
    from core.metrics.classification import evaluate, predict_dataset

    pred_df = predict_dataset(model, p.test_ds, p.prep, batch_size=int(p.config.batch_size))
    evaluation = evaluate(pred_df, list(p.test_ds.class_names), ordinal=bool(p.dataset.ordinal),
                          n_bootstrap=n_bootstrap, seed=p.config.seed)
    return pred_df, evaluation


def _calibrate(model, p: Prepared, pred_df, n_bootstrap: int, rep: _SafeReporter) -> tuple[dict, dict | None]:
    """(meta["calibration"], calibration.json or None): a temperature fitted on the VALIDATION
    split and its effect on the test split. Never fails a training: problems become a note."""
    from core.metrics.calibration import calibration_meta, calibration_report
    from core.metrics.classification import predict_dataset, prob_columns

    try:
        val = predict_dataset(model, p.val_ds, p.prep, batch_size=int(p.config.batch_size))
        cal = calibration_meta(val[prob_columns(len(p.val_ds.class_names))].to_numpy(), val["y_true"].to_numpy())
        if cal["temperature"] is None:
            rep.on_message("notice", f"calibration {cal['note']}")
            return cal, None
        k = len(p.test_ds.class_names)
        report = calibration_report(pred_df["y_true"].to_numpy(), pred_df[prob_columns(k)].to_numpy(),
                                    cal["temperature"], n_bootstrap=max(n_bootstrap, 1), seed=p.config.seed)
    except Exception as e:  # noqa: BLE001 - calibration never fails a training
        rep.on_message("warning", f"calibration skipped: {type(e).__name__}: {e}")
        return {"method": "temperature", "fitted_on": "validation", "temperature": None,
                "note": f"not fitted: {type(e).__name__}: {e}"}, None
    rep.on_message("info", f"temperature scaling: T={cal['temperature']:.3f} (validation, n={cal['n']}); test ECE "
                           f"{report['before']['ece']:.4f} -> {report['after']['ece']:.4f}")
    return cal, report


def _run_meta(p: Prepared, model, notices: list[str], params: dict, evaluation: dict, *, fit: FitData, best,
              train_time: float, epochs_run: int) -> dict[str, Any]:
    """meta.json: everything needed to predict like at training time, and what happened."""
    import keras

    from core.models import default_cam_layer

    config = p.config
    try:
        cam_layer = default_cam_layer(model)
    except Exception:  # noqa: BLE001
        cam_layer = None
    return {
        "name": config.display_name(),
        "model": config.model,
        "model_options": config.resolved_model_options(),
        "class_names": list(p.dataset.class_names),
        "class_codes": list(p.dataset.class_codes) if p.dataset.class_codes else None,
        "preprocessing": p.prep.to_dict(),
        "input_shape": list(p.input_shape),
        "cam_layer": cam_layer,
        "dataset": dict(p.dataset.spec or config.dataset),
        "domain": p.dataset.domain,
        "ordinal": bool(p.dataset.ordinal),
        "train_stats": p.stats,
        "augment": p.augment.to_dict() if p.augment is not None else None,
        "params": params,
        "train_time_s": train_time,
        "epochs_run": epochs_run,
        "best_epoch": best.best_epoch,
        "monitor": config.monitor,
        "best_value": best.best,
        "cached_features": fit.cached,
        "n_train": len(p.train_ds), "n_val": len(p.val_ds), "n_test": len(p.test_ds),
        "notices": notices,
        "config": config.to_dict(),
        "test_summary": evaluation.get("summary", {}),
        "keras_version": keras.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _write_artifacts(out: Path, p: Prepared, model, history: list[dict], pred_df, evaluation: dict,
                     meta: dict, *, calibration: dict | None = None) -> Path:
    """Every file of the run, each complete or absent (temporary files are removed); the model last."""
    rf = RunFolder(out)
    writes = [
        ("split", lambda: rf.write_json("split", p.split.to_dict())),
        ("history", lambda: _write_history(out, history)),
        ("predictions", lambda: rf.write_csv("predictions", pred_df)),
        ("evaluation", lambda: rf.write_json("evaluation", evaluation)),
        *([("calibration", lambda: rf.write_json("calibration", calibration))] if calibration is not None else []),
        ("meta", lambda: rf.write_json("meta", meta)),
        ("model", lambda: save_model_atomic(model, rf.path_of("model"))),
    ]
    for kind, write in writes:
        try:
            write()
        except OSError as e:
            raise OutputError(describe_os_error(e, rf.path_of(kind)) + " The training itself had finished; the files "
                              "written before this one are complete.") from e
    return rf.path_of("model")


def _write_history(out: Path, history: list[dict]) -> None:
    import pandas as pd

    RunFolder(out).write_csv("history", pd.DataFrame(history))
