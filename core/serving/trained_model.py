"""A saved run, loaded: its Keras model (with safe_mode on), its meta and its preprocessing,
ready to predict like at training time; and re-evaluation on the run's stored test split.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from core.store.artifacts import RunFolder, file_name
from core.validation import ModelError, ValidationError


class TrainedModel:
    """A saved run loaded for prediction: the Keras model, its meta and preprocessing."""

    def __init__(self, model, meta: dict[str, Any], preprocessing, path: Path):
        self.model = model
        self.meta = meta
        self.preprocessing = preprocessing
        self.path = path

    @property
    def class_names(self) -> list[str]:
        return list(self.meta.get("class_names", []))

    def preprocess(self, images_uint8) -> np.ndarray:
        arr = np.asarray(images_uint8)
        if arr.ndim == 2:  # one grayscale image H x W
            arr = arr[None, :, :, None]
        elif arr.ndim == 3:  # one image H x W x C (C in 1, 3, 4) or a batch of grayscale N x H x W
            arr = arr[None] if arr.shape[-1] in (1, 3, 4) else arr[..., None]
        if arr.ndim != 4:
            raise ValidationError(f"Images must be HxW, HxWxC or NxHxWxC arrays. Got shape "
                                  f"{np.asarray(images_uint8).shape} instead.")
        if arr.shape[-1] == 4:
            arr = arr[..., :3]
        return np.asarray(self.preprocessing.apply_np(arr), dtype=np.float32)

    @property
    def temperature(self) -> float | None:
        """The temperature fitted on the validation split after training (``meta["calibration"]``),
        or None for runs without one (older runs, a too small validation split)."""
        from core.metrics.calibration import temperature_of

        return temperature_of(self.meta)

    def predict(self, images_uint8, *, batch_size: int = 64, calibrated: bool = False, tta=False) -> np.ndarray:
        """Class probabilities (N, k) for uint8 images, preprocessed as at training time.

        ``calibrated``: apply the run's temperature (``self.temperature``) when it has one; the
        predicted class is the same either way. Off by default, so the probabilities equal the
        stored ``predictions.csv``; the Predict page (``core.serving.inference``) turns it on.
        ``tta``: test-time augmentation, the probabilities averaged over the image and its views
        (True: ``TTA_VIEWS``; or a sequence of view names); the temperature, if asked, is
        applied to the average.
        """
        views = tta_views(tta)
        if views:
            x = self.preprocess(images_uint8)
            out = np.concatenate([tta_probs(self.model, x[i:i + batch_size], views)
                                  for i in range(0, len(x), batch_size)])
        else:
            out = self._predict_raw(images_uint8, batch_size=batch_size)
        t = self.temperature if calibrated else None
        if t is None:
            return out
        from core.metrics.calibration import apply_temperature

        return apply_temperature(out, t)

    def _predict_raw(self, images_uint8, *, batch_size: int = 64) -> np.ndarray:
        x = self.preprocess(images_uint8)
        if len(x) <= batch_size:
            # A direct call: model.predict builds a tf.data pipeline and a predict function on
            # every call, which dominates the latency of one upload on the Predict page.
            out = self.model(x, training=False)
            out = out.numpy() if hasattr(out, "numpy") else out
        else:
            out = self.model.predict(x, batch_size=batch_size, verbose=0)
        return np.asarray(out, dtype=np.float64)


TTA_VIEWS = ("hflip", "vflip", "rot+10", "rot-10")  # with the image itself: 5 predictions averaged


def tta_views(tta) -> tuple[str, ...]:
    """The views asked for by ``tta`` (False/None: none; True: ``TTA_VIEWS``; or names like
    ``hflip``, ``vflip``, ``rot+15``, ``rot-5``), checked."""
    if tta is None or tta is False:
        return ()
    views = TTA_VIEWS if tta is True else tuple(str(v) for v in ([tta] if isinstance(tta, str) else tta))
    for v in views:
        ok = v in ("hflip", "vflip")
        if v.startswith("rot"):
            try:
                ok = abs(float(v[3:])) <= 90
            except ValueError:
                ok = False
        if not ok:
            raise ValidationError(f"Unknown test-time augmentation view {v!r}: use 'hflip', 'vflip' or 'rot<degrees>' "
                                  f"(e.g. 'rot+10', within 90 degrees). Default: {list(TTA_VIEWS)}.")
    return views


def _view(x: np.ndarray, v: str) -> np.ndarray:
    """One view of a preprocessed batch (N, H, W, C); rotations keep the size, edges repeated."""
    if v == "hflip":
        return x[:, :, ::-1]
    if v == "vflip":
        return x[:, ::-1]
    from scipy.ndimage import rotate

    return rotate(x, float(v[3:]), axes=(2, 1), reshape=False, order=1, mode="nearest")


def tta_probs(model, x: np.ndarray, views: tuple[str, ...]) -> np.ndarray:
    """Mean class probabilities of ``model`` over a preprocessed batch and its ``views``."""
    from core.metrics.classification import _to_probabilities

    outs = []
    for xv in [x, *(_view(x, v) for v in views)]:
        out = model(np.ascontiguousarray(xv, dtype=np.float32), training=False)
        outs.append(_to_probabilities(np.asarray(out)))
    return np.mean(outs, axis=0)


def _tta_frame(tm: TrainedModel, ds, views: tuple[str, ...], batch_size: int):
    """The predictions frame of ``ds`` with test-time augmentation (same pipeline as
    ``core.metrics.classification.predict_dataset``, ids carried through)."""
    from core.data.pipeline import make_dataset
    from core.metrics.classification import predictions_frame

    ids, probs = [], []
    for x, _, bid in make_dataset(ds, tm.preprocessing, batch_size=batch_size, training=False, with_ids=True):
        probs.append(tta_probs(tm.model, np.asarray(x), views))
        ids.extend(b.decode() if isinstance(b, bytes) else str(b) for b in np.asarray(bid).reshape(-1))
    pos = ds.index_of(np.asarray(ids))
    order = np.argsort(pos, kind="stable")
    return predictions_frame(np.asarray(ids)[order], ds.labels[pos][order], np.concatenate(probs)[order],
                             list(ds.class_names))


def _resolve_model_path(path_or_dir: str | os.PathLike) -> Path:
    p = Path(path_or_dir)
    if p.is_dir():
        p = RunFolder(p).path_of("model")
    if not p.exists():
        raise ModelError(f"No model file at {str(p)!r}. Give a run folder containing {file_name('model')} or a .keras file.")
    return p


def load_keras_model(path: str | os.PathLike):
    """keras.saving.load_model with safe_mode on; clear ModelError for anything else."""
    import keras

    p = Path(path)
    if p.suffix != ".keras":
        raise ModelError(f"{p.name!r} is not a Keras model file: expected a .keras file (Keras 3 format).")
    try:
        import zipfile

        if not zipfile.is_zipfile(p):
            raise ModelError(
                f"{p.name!r} is not a Keras model: a .keras file is a zip archive with config.json and weights; "
                "this file is not one (corrupt, truncated or another format)."
            )
        return keras.saving.load_model(p, safe_mode=True, compile=False)
    except ModelError:
        raise
    except Exception as e:  # noqa: BLE001
        msg = str(e)
        if "safe_mode" in msg or "Lambda" in msg or "unsafe" in msg.lower():
            raise ModelError(
                f"{p.name!r} contains code (a Lambda layer or custom Python) that would run on loading; the lab "
                "loads models with safe_mode on and refuses it. Rebuild the model without Lambda layers."
            ) from None
        first = msg.splitlines()[0] if msg else type(e).__name__
        raise ModelError(f"{p.name!r} could not be loaded as a Keras model: {first}") from None


def load_trained(path_or_dir: str | os.PathLike) -> TrainedModel:
    """Load ``model.keras`` (+ ``meta.json`` next to it) with safe_mode on."""
    from core.data.preprocess import Preprocessing

    p = _resolve_model_path(path_or_dir)
    model = load_keras_model(p)
    meta: dict[str, Any] = RunFolder(p.parent).read_json("meta") or {}
    if "preprocessing" in meta:
        prep = Preprocessing.from_dict(meta["preprocessing"])
    else:  # a bare .keras file: infer the plainest preprocessing from the input shape
        shape = model.input_shape
        prep = Preprocessing(input_size=(int(shape[1]), int(shape[2])), channels=int(shape[3]), normalization="rescale")
        meta.setdefault("class_names", [str(i) for i in range(int(model.output_shape[-1]))])
        meta.setdefault("input_shape", [int(shape[1]), int(shape[2]), int(shape[3])])
    return TrainedModel(model, meta, prep, p)


def evaluate_saved(path_or_dir: str | os.PathLike, *, batch_size: int = 64, n_bootstrap: int = 200,
                   calibrated: bool = False, tta=False) -> dict[str, Any]:
    """Re-evaluate a saved run on its stored test split (reloads the dataset from meta).

    ``calibrated``: evaluate the temperature-scaled probabilities (when the run has a
    temperature; ``ev["calibrated"]`` says whether it was applied). ``tta``: test-time
    augmentation as in ``TrainedModel.predict`` (``ev["tta"]`` lists the views)."""
    from core.datasets import load_dataset
    from core.datasets.splits import Split, apply_split
    from core.metrics.classification import evaluate, predict_dataset

    tm = load_trained(path_or_dir)
    rf = RunFolder(tm.path.parent)
    run_dir = rf.path
    if not rf.path_of("split").is_file() or "dataset" not in tm.meta:
        raise ModelError(f"{str(run_dir)!r} has no {file_name('split')}/{file_name('meta')}: evaluation needs a run folder "
                         "written by train().")
    spec = tm.meta["dataset"]
    ds = load_dataset(spec["name"], **dict(spec.get("params") or {}))
    split = Split.from_dict(rf.read_json("split"))
    _, _, test_ds = apply_split(ds, split)
    views = tta_views(tta)
    if views:
        pred = _tta_frame(tm, test_ds, views, batch_size)
    else:
        pred = predict_dataset(tm.model, test_ds, tm.preprocessing, batch_size=batch_size)
    t = tm.temperature if calibrated else None
    if t is not None:
        from core.metrics.calibration import apply_temperature
        from core.metrics.classification import predictions_frame, prob_columns

        probs = apply_temperature(pred[prob_columns(len(test_ds.class_names))].to_numpy(), t)
        pred = predictions_frame(pred["id"], pred["y_true"], probs, list(test_ds.class_names))
    ev = evaluate(pred, list(test_ds.class_names), ordinal=bool(ds.ordinal), n_bootstrap=n_bootstrap, seed=0)
    ev["predictions"] = pred
    ev["calibrated"] = t is not None
    ev["tta"] = list(views)
    return ev


def load_calibration(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """A run's ``calibration.json`` (``core.metrics.calibration.calibration_report``: the test split
    before and after temperature scaling), or None when it has none (older runs, fitting skipped)
    or it cannot be read."""
    try:
        return RunFolder(run_dir).read_json("calibration")
    except (OSError, ValueError):
        return None
