"""Image preprocessing that travels with a model: resize, channel conversion, normalisation.

A :class:`Preprocessing` value is saved with every trained model (``to_dict``/``from_dict``)
so that an uploaded image is predicted with exactly the numbers the model was trained on.
The same TensorFlow code path (:meth:`Preprocessing.apply_tf`) is used by the tf.data
training pipeline and, through :meth:`Preprocessing.apply_np`, at prediction time.

Two stages, usable separately (the pipeline caches the output of the first one):

1. :meth:`Preprocessing.resize_tf` - channel conversion (grayscale <-> RGB, alpha dropped)
   and ``tf.image.resize`` (bilinear, ``antialias=True``: anti-aliasing filter when
   downscaling, plain bilinear interpolation when upscaling). Output is float32 in the
   input's value range; for uint8 input it is rounded and clipped to [0, 255], i.e. exactly
   the values of a resized uint8 image, so it can be cached as uint8 without changing any
   number.
2. :meth:`Preprocessing.normalize_tf` - float32 [0, 255] -> model input:

   ``"rescale"``        x / 255  -> [0, 1]
   ``"minmax"``         (x - min_value) / (max_value - min_value), min/max of the TRAINING
                        images (report A), computed by :func:`fit_preprocessing`
   ``"per_image_mean"`` (x - mean(x)) / 255, the mean taken over all pixels and channels
                        of each image (report D "per-image mean normalisation"); dividing by
                        255 (not by the image's std) keeps exposure/contrast differences
                        between images visible to the model and the range in [-1, 1]
   ``"backbone"``       the backbone's own ``keras.applications.<module>.preprocess_input``,
                        module and mode read from its ``core.models.BACKBONES`` entry:
                        caffe (BGR, ImageNet mean subtracted), tf (-1..1), torch (/255,
                        ImageNet mean/std) or none (the model rescales itself)
   ``"none"``           float32 values unchanged (0..255)

TensorFlow is imported inside the functions that need it.
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from core.models.backbones import BACKBONES  # plain data: importing it does not import TensorFlow
from core.validation import ValidationError, check_number, check_one_of

NORMALIZATIONS = ("rescale", "minmax", "per_image_mean", "backbone", "none")


def backbone_preprocess_mode(backbone: str) -> str:
    """'caffe', 'tf', 'torch' or 'none' for a backbone name (informative: the numbers come from
    the backbone's own ``keras.applications.<module>.preprocess_input``, see ``BACKBONES``)."""
    check_one_of("backbone", backbone, list(BACKBONES))
    return BACKBONES[backbone].preprocess


@functools.cache
def _backbone_fn(backbone: str):
    return BACKBONES[backbone].preprocess_fn()


@dataclass(frozen=True)
class Preprocessing:
    """How raw uint8 images become model input. See the module docstring for the modes."""

    input_size: tuple[int, int]             # (height, width)
    channels: int = 3                       # 1 or 3
    normalization: str = "rescale"
    backbone: str | None = None             # required for normalization="backbone"
    min_value: float | None = None          # "minmax" only: training-set min / max
    max_value: float | None = None

    def __post_init__(self) -> None:
        size = self.input_size
        if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
            size = (int(size), int(size))
        if not isinstance(size, (tuple, list)) or len(size) != 2:
            raise ValidationError(
                f"The 'input_size' parameter must be a pair (height, width) of ints. Got {self.input_size!r} instead."
            )
        size = tuple(check_number(f"input_size[{i}]", v, low=1, high=8192, integer=True) for i, v in enumerate(size))
        object.__setattr__(self, "input_size", size)
        check_one_of("channels", self.channels, [1, 3])
        check_one_of("normalization", self.normalization, list(NORMALIZATIONS))
        if self.normalization == "backbone":
            if self.backbone is None:
                raise ValidationError(
                    "The 'backbone' parameter is required when normalization='backbone'; "
                    f"accepted: {sorted(BACKBONES)}."
                )
            check_one_of("backbone", self.backbone, list(BACKBONES))
            if self.channels != 3:
                raise ValidationError(
                    f"Backbone preprocessing ({self.backbone!r}) needs channels=3 (ImageNet backbones take RGB). "
                    f"Got channels={self.channels} instead."
                )
        elif self.backbone is not None:
            check_one_of("backbone", self.backbone, list(BACKBONES))
        if self.normalization == "minmax":
            if self.min_value is None or self.max_value is None:
                raise ValidationError(
                    "normalization='minmax' needs min_value and max_value (the training set's pixel range); "
                    "use fit_preprocessing(train_ds, ..., normalization='minmax') to compute them."
                )
            check_number("min_value", self.min_value)
            check_number("max_value", self.max_value)
            if not self.max_value > self.min_value:
                raise ValidationError(
                    f"The 'max_value' parameter must be greater than 'min_value'. Got min_value={self.min_value!r}, "
                    f"max_value={self.max_value!r} (a constant training set cannot be min-max scaled)."
                )
            object.__setattr__(self, "min_value", float(self.min_value))
            object.__setattr__(self, "max_value", float(self.max_value))

    # ---------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessing:
        if not isinstance(d, dict):
            raise ValidationError(f"Preprocessing.from_dict needs a dict. Got {type(d).__name__} instead.")
        known = {"input_size", "channels", "normalization", "backbone", "min_value", "max_value"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValidationError(f"Unknown preprocessing key(s) {unknown}. Accepted keys: {sorted(known)}.")
        if "input_size" not in d:
            raise ValidationError("The preprocessing dict has no 'input_size' (a [height, width] pair).")
        kw = dict(d)
        kw["input_size"] = tuple(kw["input_size"]) if isinstance(kw["input_size"], (list, tuple)) else kw["input_size"]
        return cls(**kw)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.input_size[0], self.input_size[1], self.channels)

    # ---------------------------------------------------------------- TensorFlow path
    def resize_tf(self, images):
        """Channel conversion + resize. (N,H,W,C) or (H,W,C) -> same rank, float32.

        uint8 input gives float32 holding integers in [0, 255] (rounded, clipped); float input
        stays unrounded.
        """
        import tensorflow as tf

        x = tf.convert_to_tensor(images)
        was_uint8 = x.dtype == tf.uint8
        if x.shape.rank not in (3, 4):
            raise ValidationError(
                f"Images must have shape (height, width, channels) or (batch, height, width, channels). "
                f"Got shape {tuple(x.shape)} instead."
            )
        x = tf.cast(x, tf.float32)
        c = x.shape[-1]
        if c is None:
            raise ValidationError("The images' channel count must be known (1, 3 or 4).")
        if c == 4:  # RGBA: drop alpha
            x = x[..., :3]
            c = 3
        if c == 2:  # grey + alpha
            x = x[..., :1]
            c = 1
        if c not in (1, 3):
            raise ValidationError(f"Images must have 1, 3 or 4 channels. Got {c} channels instead.")
        if c == 1 and self.channels == 3:
            x = tf.repeat(x, 3, axis=-1)
        elif c == 3 and self.channels == 1:
            x = tf.image.rgb_to_grayscale(x)
        h, w = self.input_size
        static_hw = x.shape[-3:-1]
        if static_hw[0] != h or static_hw[1] != w:  # unknown (None) dims also resize
            # antialias only acts when downscaling; upscaling is plain bilinear
            x = tf.image.resize(x, (h, w), method="bilinear", antialias=True)
        if was_uint8:
            x = tf.clip_by_value(tf.round(x), 0.0, 255.0)
        return x

    def normalize_tf(self, x):
        """float32 pixel values in [0, 255] -> model input (see module docstring)."""
        import tensorflow as tf

        x = tf.cast(x, tf.float32)
        mode = self.normalization
        if mode == "rescale":
            return x / 255.0
        if mode == "minmax":
            return (x - self.min_value) / (self.max_value - self.min_value)
        if mode == "per_image_mean":
            mean = tf.reduce_mean(x, axis=[-3, -2, -1], keepdims=True)
            return (x - mean) / 255.0
        if mode == "backbone":
            if backbone_preprocess_mode(self.backbone) == "none":
                return x
            return tf.cast(_backbone_fn(self.backbone)(x), tf.float32)
        return x  # "none"

    def apply_tf(self, images):
        """uint8 or float [0,255] tensor -> float32 model input (resize + channels + normalise)."""
        return self.normalize_tf(self.resize_tf(images))

    # ---------------------------------------------------------------- NumPy path
    def apply_np(self, array) -> np.ndarray:
        """Prediction-time entry point: HxW, HxWxC or NxHxWxC array -> float32 model input.

        A 2-D array is taken as one grayscale image; a single image gets a batch axis
        (the result is always N x h x w x channels). Same numbers as :meth:`apply_tf`.
        """
        a = np.asarray(array)
        if a.dtype == object or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
            raise ValidationError(f"Images must be a numeric array (uint8 0-255 or float). Got dtype {a.dtype} instead.")
        if a.ndim == 2:
            a = a[None, :, :, None]
        elif a.ndim == 3:
            a = a[None]
        elif a.ndim != 4:
            raise ValidationError(
                f"Images must have shape (H, W), (H, W, C) or (N, H, W, C). Got shape {a.shape} instead."
            )
        if a.shape[0] == 0:
            raise ValidationError("No images given (the batch is empty).")
        if a.dtype != np.uint8 and np.issubdtype(a.dtype, np.integer):
            if a.min() < 0 or a.max() > 255:
                raise ValidationError(
                    f"Integer images must hold values in [0, 255]. Got values in [{a.min()}, {a.max()}] instead."
                )
            a = a.astype(np.uint8)
        elif np.issubdtype(a.dtype, np.floating):
            a = a.astype(np.float32)
        return np.asarray(self.apply_tf(a).numpy(), dtype=np.float32)

    def describe(self) -> str:
        h, w = self.input_size
        extra = f", backbone {self.backbone}" if self.normalization == "backbone" else ""
        if self.normalization == "minmax":
            extra = f", min {self.min_value:g}, max {self.max_value:g}"
        return f"{h}x{w}x{self.channels}, {self.normalization}{extra}"


def fit_preprocessing(
    train_ds,
    *,
    input_size,
    channels: int,
    normalization: str,
    backbone: str | None = None,
    max_samples: int | None = None,
    batch_size: int = 256,
) -> Preprocessing:
    """Build a :class:`Preprocessing` for a TRAINING dataset (core.datasets.base.Dataset).

    Only ``"minmax"`` learns anything: the minimum and maximum pixel value of the training
    images after resize and channel conversion (what the model sees). ``max_samples`` caps
    how many images are read for that (deterministic: the first ones; None = all).
    """
    check_one_of("normalization", normalization, list(NORMALIZATIONS))
    if normalization != "minmax":
        return Preprocessing(tuple(input_size), channels, normalization, backbone)
    probe = Preprocessing(tuple(input_size), channels, "none", backbone if backbone else None)
    n = len(train_ds)
    if n == 0:
        raise ValidationError("Cannot fit min-max preprocessing on an empty training set.")
    check_number("max_samples", max_samples, low=1, integer=True, allow_none=True)
    sub = train_ds if max_samples is None or max_samples >= n else train_ds.subset(np.arange(max_samples), by="position")
    from core.data.pipeline import make_dataset

    lo, hi = np.inf, -np.inf
    for x, _ in make_dataset(sub, probe, batch_size=batch_size, training=False, cache=False):
        xv = x.numpy()
        lo = min(lo, float(xv.min()))
        hi = max(hi, float(xv.max()))
    if not hi > lo:
        raise ValidationError(
            f"The training images are constant (every pixel is {lo:g}); min-max scaling is undefined. "
            "Choose normalization='rescale' instead."
        )
    return Preprocessing(tuple(input_size), channels, "minmax", backbone, lo, hi)
