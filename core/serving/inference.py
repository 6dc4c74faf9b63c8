"""Predicting on new images with a trained run: decode an upload, check it against the run's
training data, predict and explain. Shared by the Predict page and ``python -m core predict``,
so both give the same notices and the same compatibility warnings.

The training data's statistics are read from the run's meta under ONE key,
``TRAIN_STATS_KEY`` (``"train_stats"``), with the fields written by
``core.training.engine.image_stats``: ``channels``, ``min_size`` / ``max_size`` ([h, w]) and
``brightness_percentiles`` ({"1": .., "99": ..} among others, 0-255 grey levels).

Light to import: no TensorFlow until ``predict_and_explain`` runs a model.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.data.images import LoadedImage, load_image
from core.validation import LabError

TRAIN_STATS_KEY = "train_stats"  # the key core.training writes the training images' statistics under


@dataclass
class UploadOutcome:
    """What the Predict page shows for one uploaded file."""

    name: str
    image: np.ndarray | None = None          # uint8 HxWxC, upright, possibly downscaled
    error: str | None = None                 # shown as st.error; the image is skipped
    notices: list[str] = field(default_factory=list)   # conversions done by the decoder
    warnings: list[str] = field(default_factory=list)  # does not look like the training data

    @property
    def ok(self) -> bool:
        return self.error is None and self.image is not None


def decode_upload(name: str, data: bytes, meta: dict | None = None) -> UploadOutcome:
    """Decode an uploaded file in memory (core.data.images.load_image) and check it against a run.

    Never raises for bad input: the message goes into ``error``. Nothing is written to disk.
    """
    out = UploadOutcome(name=name)
    try:
        loaded = load_image(bytes(data))
    except LabError as err:
        out.error = f"{name}: {err}"
        return out
    out.image = np.asarray(loaded.array)
    out.notices = list(loaded.notices)
    if meta:
        out.warnings = image_warnings(loaded, meta)
    return out


def image_warnings(loaded: LoadedImage, meta: dict) -> list[str]:
    """``compatibility_warnings`` of a decoded image (its size as stored in the file)."""
    return compatibility_warnings(np.asarray(loaded.array), meta, original_size=loaded.original_size)


def compatibility_warnings(image: np.ndarray, meta: dict, *, original_size=None) -> list[str]:
    """Plain-language warnings when an image does not look like a run's training data.

    Reads the training statistics saved in meta.json under ``TRAIN_STATS_KEY`` (channels,
    image sizes, brightness). ``original_size`` is (width, height) before any downscaling.
    """
    stats = meta.get(TRAIN_STATS_KEY) or {}
    img = np.asarray(image)
    h, w = img.shape[:2]
    if original_size:
        try:
            w, h = int(original_size[0]), int(original_size[1])
        except (TypeError, ValueError, IndexError):
            pass
    return [*_channel_warnings(img, meta, stats), *_size_warnings(w, h, stats), *_brightness_warnings(img, stats)]


def _channel_warnings(img: np.ndarray, meta: dict, stats: dict) -> list[str]:
    ch = 1 if img.ndim == 2 else img.shape[2]
    prep = meta.get("preprocessing") or {}
    want_ch = stats.get("channels") or prep.get("channels") or (meta.get("input_shape") or [None])[-1]
    is_gray = ch == 1 or (ch == 3 and np.array_equal(img[..., 0], img[..., 1])
                          and np.array_equal(img[..., 1], img[..., 2]))
    if want_ch == 3 and is_gray:
        return ["The image is grayscale but the model was trained on colour images: "
                "its channel was copied to RGB, so the prediction may be unreliable."]
    if want_ch == 1 and ch == 3 and not is_gray:
        return ["The image is in colour but the model was trained on grayscale images: it was converted to gray."]
    return []


def _side(v, pick) -> float | None:
    """A side length from a stat that is an [h, w] pair (or a number)."""
    if isinstance(v, (list, tuple)) and v:
        return pick(float(x) for x in v)
    return float(v) if isinstance(v, (int, float)) else None


def _size_warnings(w: int, h: int, stats: dict) -> list[str]:
    out = []
    lo_side = _side(stats.get("min_size"), min)
    hi_side = _side(stats.get("max_size"), max)
    if lo_side is not None and max(h, w) < 0.25 * lo_side:
        out.append(f"The image is {w}x{h} pixels, far smaller than the training images "
                   f"(shortest side at least {int(lo_side)} px).")
    if hi_side is not None and hi_side > 0 and min(h, w) > 8 * hi_side:
        out.append(f"The image is {w}x{h} pixels, far larger than the training images "
                   f"(longest side at most {int(hi_side)} px); it is resized to the model input.")
    return out


def _brightness_warnings(img: np.ndarray, stats: dict) -> list[str]:
    pct = stats.get("brightness_percentiles") or {}
    b_lo, b_hi = pct.get("1"), pct.get("99")
    if b_lo is None or b_hi is None:
        return []
    bmean = float(img.mean())
    b_lo, b_hi = float(b_lo), float(b_hi)
    margin = 0.1 * max(b_hi - b_lo, 10.0)
    if b_lo - margin <= bmean <= b_hi + margin:
        return []
    return [f"Its mean brightness ({bmean:.0f} of 255) is far outside the training range "
            f"({b_lo:.0f}-{b_hi:.0f}): the image may not be like the training data."]


@dataclass
class Explained:
    probs: np.ndarray        # (k,) class probabilities
    class_index: int         # the class the heatmap explains
    heatmap: np.ndarray      # (H, W) in [0, 1]
    overlay: np.ndarray      # uint8 HxWx3, the image's own size
    calibrated: bool = False           # probs are temperature-scaled (the run's validation fit)
    temperature: float | None = None   # the run's temperature, when it has one
    calibration_note: str | None = None  # one line for the page: what the probabilities are


def calibration_note(temperature: float | None, applied: bool) -> str:
    """What the shown probabilities are, in one line."""
    if applied and temperature is not None:
        return (f"Probabilities are calibrated: temperature scaling (T = {temperature:.2f}) fitted on the run's "
                "validation split; the predicted class is the same as without it.")
    if temperature is not None:
        return "Probabilities are the model's own (uncalibrated); this run has a temperature but it was not applied."
    return ("Probabilities are the model's own (uncalibrated): this run has no temperature scaling (an older run, "
            "or too small a validation split).")


def display_copy(image: np.ndarray, max_side: int = 1024) -> np.ndarray:
    """A copy no larger than ``max_side`` for showing (browsers do not need 4096 px)."""
    img = np.asarray(image, dtype=np.uint8)
    h, w = img.shape[:2]
    if max(h, w) <= max_side:
        return img
    from PIL import Image

    s = max_side / max(h, w)
    pil = Image.fromarray(img[:, :, 0] if img.ndim == 3 and img.shape[2] == 1 else img)
    out = np.asarray(pil.resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS))
    return out[:, :, None] if out.ndim == 2 and img.ndim == 3 else out


def predict_and_explain(tm, image: np.ndarray, *, method: str = "gradcam", class_index: int | None = None,
                        alpha: float = 0.45, display_max_side: int = 1024, calibrated: bool = True,
                        tta=False) -> Explained:
    """Probabilities and a CAM overlay for one decoded image. The model (a
    ``core.serving.trained_model.TrainedModel``) sees the decoded image exactly as the run's preprocessing
    expects; the overlay is drawn on a copy at most ``display_max_side`` pixels wide/high.
    ``calibrated``: temperature-scaled probabilities when the run has a temperature
    (``Explained.calibrated`` and ``calibration_note`` say what was shown); ``tta``: test-time
    augmentation (``TrainedModel.predict``), off by default."""
    from core.models import cam as explain

    img = np.asarray(image, dtype=np.uint8)
    temperature = getattr(tm, "temperature", None)
    applied = bool(calibrated and temperature is not None)
    x = tm.preprocess(img)
    probs = _probabilities(tm, img, x, temperature if applied else None, tta)
    target = int(probs.argmax()) if class_index is None else int(class_index)
    layer = (tm.meta or {}).get("cam_layer")
    heat = np.asarray(explain.cam(tm.model, x, method=method, class_index=target, layer=layer))[0]
    over = explain.overlay(display_copy(img, display_max_side), heat, alpha=float(alpha))
    return Explained(probs=probs, class_index=target, heatmap=heat, overlay=np.asarray(over, dtype=np.uint8),
                     calibrated=applied, temperature=temperature,
                     calibration_note=calibration_note(temperature, applied))


def _forward(model):
    """``model(x, training=False)`` as a compiled function, made once per model and kept on it (a
    backbone's eager call costs several times the compiled one, more than its Grad-CAM now)."""
    fn = getattr(model, "_lab_compiled_forward", None)
    if fn is None:
        import tensorflow as tf

        spec = tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32)
        fn = tf.function(lambda x: model(x, training=False), input_signature=[spec], reduce_retracing=True)
        object.__setattr__(model, "_lab_compiled_forward", fn)  # not a Keras-tracked attribute
    return fn


def _probabilities(tm, img: np.ndarray, x: np.ndarray, temperature: float | None, tta) -> np.ndarray:
    """``tm.predict``'s probabilities of one image (``x``: it preprocessed), temperature-scaled when
    ``temperature`` is given; without test-time augmentation through :func:`_forward`."""
    if tta:
        batch = img[None] if img.ndim == 3 else img
        return np.asarray(tm.predict(batch, calibrated=temperature is not None, tta=tta))[0]
    out = np.asarray(_forward(tm.model)(x), dtype=np.float64)
    if temperature is not None:
        from core.metrics.calibration import apply_temperature

        out = apply_temperature(out, temperature)
    return out[0]
