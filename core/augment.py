"""Data augmentation: a serialisable spec -> Keras preprocessing layers, and a preview.

:class:`AugmentSpec` fields and their meaning (all default to "off"):

=================  ==========================================================================
rotation           max rotation in degrees, [0, 360]; angle ~ U(-r, r) (ImageDataGenerator's
                   ``rotation_range``) -> ``keras.layers.RandomRotation(r / 360)``
width_shift        max horizontal shift as a fraction of the width, [0, 1)
height_shift       max vertical shift as a fraction of the height, [0, 1)
                   -> ``keras.layers.RandomTranslation``
shear              max shear FACTOR, [0, 1]: a pixel moves horizontally by up to
                   ``shear * y`` (0.2 = up to 20 % of the height, about 11 degrees), random
                   sign -> ``keras.layers.RandomShear(x_factor=shear)``. NOTE: the reports
                   passed 0.1 / 0.2 to ImageDataGenerator's ``shear_range``, which Keras
                   reads as an angle in DEGREES (0.2 degrees: practically no shear). We keep
                   their numbers but give them the meaning they evidently intended.
zoom               max zoom fraction, [0, 1): scale ~ U(1 - z, 1 + z), aspect ratio kept
                   -> ``keras.layers.RandomZoom(z)``
horizontal_flip,   random mirroring -> ``keras.layers.RandomFlip``
vertical_flip
brightness         max brightness delta as a fraction of the value range, [0, 1]
                   -> ``keras.layers.RandomBrightness(b, value_range=(0, 255))``
contrast           contrast factor, [0, 1]: contrast ~ U(1 - c, 1 + c)
                   -> ``keras.layers.RandomContrast(c, value_range=(0, 255))``
gaussian_noise     std of additive Gaussian noise in [0, 1] image units (x 255 on the
                   [0, 255] batches), [0, 1]
salt_pepper        fraction of pixels set to black or white (half each), [0, 1)
random_crop        fraction of each side kept by a random crop that is resized back to the
                   input size, (0, 1]; 1 = off (report D "random crop")
fill_mode          how rotation/shift/shear/zoom fill the area outside the image: "nearest"
                   (ImageDataGenerator's default, used by the reports), "reflect", "wrap",
                   "constant" (black)
=================  ==========================================================================

The layers act on float32 batches with values in [0, 255] BEFORE normalisation, and the
result is clipped to [0, 255]. Order: crop, rotation, shear, translation, zoom, flips,
brightness, contrast, Gaussian noise, salt-and-pepper.

By default (``build_augmenter(..., fused=True)``) the geometric operations above are drawn
from the same distributions but applied as ONE projective warp per image (the
``RandomAffine`` layer here, like ImageDataGenerator's single affine matrix): chaining the
Keras layers interpolates the image once per operation and costs about 3x more CPU for
report C's set. ``fused=False`` builds the stock Keras layer chain named in the table.

Report D's brightness/contrast "jitter (Gaussian, s=0.1)" is approximated by the uniform
Keras layers with factor 0.1.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from .validation import ValidationError, check_number, check_one_of, check_type

FILL_MODES = ("nearest", "reflect", "wrap", "constant")

# field -> (low, high, low_inclusive, high_inclusive)
_RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "rotation": (0.0, 360.0, True, True),
    "width_shift": (0.0, 1.0, True, False),
    "height_shift": (0.0, 1.0, True, False),
    "shear": (0.0, 1.0, True, True),
    "zoom": (0.0, 1.0, True, False),
    "brightness": (0.0, 1.0, True, True),
    "contrast": (0.0, 1.0, True, True),
    "gaussian_noise": (0.0, 1.0, True, True),
    "salt_pepper": (0.0, 1.0, True, False),
    "random_crop": (0.0, 1.0, False, True),
}
_BOOLS = ("horizontal_flip", "vertical_flip")


@dataclass
class AugmentSpec:
    """Augmentation settings; see the module docstring for units and ranges."""

    rotation: float = 0.0
    width_shift: float = 0.0
    height_shift: float = 0.0
    shear: float = 0.0
    zoom: float = 0.0
    horizontal_flip: bool = False
    vertical_flip: bool = False
    brightness: float = 0.0
    contrast: float = 0.0
    gaussian_noise: float = 0.0
    salt_pepper: float = 0.0
    random_crop: float = 1.0
    fill_mode: str = "nearest"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> "AugmentSpec":
        for name, (lo, hi, lo_inc, hi_inc) in _RANGES.items():
            v = check_number(name, getattr(self, name), low=lo, high=hi, low_inclusive=lo_inc, high_inclusive=hi_inc)
            setattr(self, name, float(v))
        for name in _BOOLS:
            v = getattr(self, name)
            if isinstance(v, (np.bool_,)):
                v = bool(v)
            check_type(name, v, bool)
            setattr(self, name, v)
        check_one_of("fill_mode", self.fill_mode, list(FILL_MODES))
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "AugmentSpec":
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise ValidationError(f"AugmentSpec.from_dict needs a dict. Got {type(d).__name__} instead.")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ValidationError(f"Unknown augmentation setting(s) {unknown}. Accepted: {known}.")
        return cls(**d)

    @property
    def is_identity(self) -> bool:
        """True when no augmentation is switched on (fill_mode alone changes nothing)."""
        return (
            all(getattr(self, n) == 0.0 for n in _RANGES if n != "random_crop")
            and self.random_crop == 1.0
            and not self.horizontal_flip
            and not self.vertical_flip
        )

    def describe(self) -> str:
        if self.is_identity:
            return "no augmentation"
        parts = []
        for n in _RANGES:
            v = getattr(self, n)
            if (n == "random_crop" and v < 1.0) or (n != "random_crop" and v > 0):
                parts.append(f"{n} {v:g}")
        parts += [n.replace("_", " ") for n in _BOOLS if getattr(self, n)]
        return ", ".join(parts)


# Presets are named by what they do; the report each comes from is a hint. The old names
# (report_a ... report_d) stay valid as aliases: stored runs, TrainConfig and the CLI
# (``--augment report_c``) use them.
_PRESET_SPECS: dict[str, AugmentSpec] = {
    "none": AugmentSpec(),
    # report A (HAM10000 CNNs): ImageDataGenerator(rotation 75, shifts 0.3, shear 0.2, zoom 0.2, hflip)
    "strong_geometric": AugmentSpec(rotation=75, width_shift=0.3, height_shift=0.3, shear=0.2, zoom=0.2,
                                    horizontal_flip=True),
    # report B (Fashion-MNIST): rotation up to 15 degrees, horizontal and vertical shifts
    "small_rotations_shifts": AugmentSpec(rotation=15, width_shift=0.1, height_shift=0.1),
    # report C (HAM10000 224x224): rotation 20, shear 0.1, zoom 0.1, horizontal flip
    "flips_small_rotations": AugmentSpec(rotation=20, shear=0.1, zoom=0.1, horizontal_flip=True),
    # report D (fundus): random crop, rotation 0-360, mirroring on both axes, brightness and
    # contrast jitter 0.1, Gaussian and salt-and-pepper noise, 10 % scaling
    "any_rotation_colour_noise": AugmentSpec(
        random_crop=0.9, rotation=360, horizontal_flip=True, vertical_flip=True, brightness=0.1,
        contrast=0.1, gaussian_noise=0.02, salt_pepper=0.005, zoom=0.1, fill_mode="constant",
    ),
}

# canonical preset name -> (label shown to people, hint: where the setting comes from)
PRESET_INFO: dict[str, tuple[str, str]] = {
    "none": ("No augmentation", "images are used as they are"),
    "strong_geometric": ("Strong geometric + flip",
                         "rotation up to ±75°, shifts up to 30 %, shear, zoom, mirroring; as in report A (HAM10000 CNNs)"),
    "small_rotations_shifts": ("Small rotations + shifts",
                               "rotation up to ±15°, shifts up to 10 %; as in report B (Fashion-MNIST)"),
    "flips_small_rotations": ("Flips + small rotations",
                              "mirroring, rotation up to ±20°, light shear and zoom; as in report C (HAM10000 at 224 px)"),
    "any_rotation_colour_noise": ("Strong geometric + colour + noise",
                                  "any rotation, both flips, crop and zoom, brightness/contrast jitter, Gaussian and "
                                  "salt-and-pepper noise; as in report D (fundus photos)"),
}

# old name -> canonical name (still accepted everywhere a preset name is)
PRESET_ALIASES: dict[str, str] = {
    "report_a": "strong_geometric",
    "report_b": "small_rotations_shifts",
    "report_c": "flips_small_rotations",
    "report_d": "any_rotation_colour_noise",
}

# every accepted name (canonical and alias) -> its spec; an alias maps to the same object
PRESETS: dict[str, AugmentSpec] = {**_PRESET_SPECS, **{old: _PRESET_SPECS[new] for old, new in PRESET_ALIASES.items()}}


def preset_names() -> list[str]:
    """The canonical preset names, in display order (no aliases)."""
    return list(_PRESET_SPECS)


def canonical_preset(name: str) -> str:
    """The canonical name of a preset given by its name or an old alias (``report_c``)."""
    check_one_of("augmentation preset", name, list(PRESETS))
    return PRESET_ALIASES.get(name, name)


def preset_label(name: str, *, hint: bool = True) -> str:
    """"Flips + small rotations — mirroring, ...; as in report C (HAM10000 at 224 px)"."""
    label, where = PRESET_INFO[canonical_preset(name)]
    return f"{label} — {where}" if hint and name != "none" else label


def get_preset(name: str) -> AugmentSpec:
    """A fresh copy of a preset (presets are mutable dataclasses); old aliases accepted."""
    check_one_of("augmentation preset", name, list(PRESETS))
    return AugmentSpec.from_dict(PRESETS[name].to_dict())


def _as_spec(spec) -> AugmentSpec:
    if spec is None:
        return AugmentSpec()
    if isinstance(spec, AugmentSpec):
        return spec
    if isinstance(spec, str):
        return get_preset(spec)
    if isinstance(spec, dict):
        return AugmentSpec.from_dict(spec)
    raise ValidationError(
        f"Augmentation must be an AugmentSpec, a dict, a preset name {sorted(PRESETS)} or None. "
        f"Got {type(spec).__name__} instead."
    )


# ------------------------------------------------------------------------ custom layers
def _custom_layers():
    """Define the small custom layers lazily (keras imported on first use)."""
    global _LAYERS
    if _LAYERS is not None:
        return _LAYERS
    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="lab_augment")
    class RandomCropResize(keras.layers.Layer):
        """Crop a random window keeping ``fraction`` of each side, resize back (per image)."""

        def __init__(self, fraction: float, seed: int | None = None, **kwargs):
            super().__init__(**kwargs)
            self.fraction = float(fraction)
            self.seed = seed
            self.seed_generator = keras.random.SeedGenerator(seed)

        def call(self, x, training=True):
            if not training or self.fraction >= 1.0:
                return x
            shape = tf.shape(x)
            n, h, w = shape[0], shape[1], shape[2]
            f = self.fraction
            off = keras.random.uniform((n, 2), 0.0, 1.0 - f, seed=self.seed_generator)
            boxes = tf.concat([off, off + f], axis=1)  # y1, x1, y2, x2 normalised
            return tf.image.crop_and_resize(x, boxes, tf.range(n), tf.stack([h, w]), method="bilinear")

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            return {**super().get_config(), "fraction": self.fraction, "seed": self.seed}

    @keras.saving.register_keras_serializable(package="lab_augment")
    class RandomAffine(keras.layers.Layer):
        """Crop, rotation, shear, shift, zoom and flips as ONE projective warp per image.

        Same parameter distributions as the separate Keras layers (see the module
        docstring), but each image is interpolated once instead of once per operation,
        which is what makes on-line augmentation cheap (ImageDataGenerator also composes
        one affine matrix per image).
        """

        def __init__(self, rotation=0.0, shear=0.0, width_shift=0.0, height_shift=0.0, zoom=0.0,
                     horizontal_flip=False, vertical_flip=False, random_crop=1.0, fill_mode="nearest",
                     seed=None, **kwargs):
            super().__init__(**kwargs)
            self.cfg = dict(rotation=float(rotation), shear=float(shear), width_shift=float(width_shift),
                            height_shift=float(height_shift), zoom=float(zoom), horizontal_flip=bool(horizontal_flip),
                            vertical_flip=bool(vertical_flip), random_crop=float(random_crop), fill_mode=fill_mode)
            self.seed = seed
            self.seed_generator = keras.random.SeedGenerator(seed)

        def _u(self, n, lo, hi):
            return keras.random.uniform((n,), lo, hi, seed=self.seed_generator)

        def call(self, x, training=True):
            if not training:
                return x
            c = self.cfg
            shape = tf.shape(x)
            n = shape[0]
            h = tf.cast(shape[1], tf.float32)
            w = tf.cast(shape[2], tf.float32)
            one, zero = tf.ones((n,)), tf.zeros((n,))
            # output -> input mapping, in coordinates centred on the image centre:
            # p_in = A @ p_out + t, A = flips * crop_scale * zoom * shear * rotation
            a11, a12, a21, a22 = one, zero, zero, one
            tx, ty = zero, zero

            def matmul(b11, b12, b21, b22):  # A <- A @ B
                return a11 * b11 + a12 * b21, a11 * b12 + a12 * b22, a21 * b11 + a22 * b21, a21 * b12 + a22 * b22

            if c["random_crop"] < 1.0:
                f = c["random_crop"]
                a11, a12, a21, a22 = matmul(f * one, zero, zero, f * one)
                tx = tx + self._u(n, -0.5, 0.5) * (1.0 - f) * (w - 1.0)
                ty = ty + self._u(n, -0.5, 0.5) * (1.0 - f) * (h - 1.0)
            if c["width_shift"] > 0:
                tx = tx + self._u(n, -c["width_shift"], c["width_shift"]) * w
            if c["height_shift"] > 0:
                ty = ty + self._u(n, -c["height_shift"], c["height_shift"]) * h
            if c["rotation"] > 0:
                ang = self._u(n, -c["rotation"], c["rotation"]) * (np.pi / 180.0)
                cs, sn = tf.cos(ang), tf.sin(ang)
                a11, a12, a21, a22 = matmul(cs, -sn, sn, cs)
            if c["shear"] > 0:
                sh = self._u(n, -c["shear"], c["shear"])
                a11, a12, a21, a22 = matmul(one, sh, zero, one)
            if c["zoom"] > 0:
                z = self._u(n, 1.0 - c["zoom"], 1.0 + c["zoom"])
                a11, a12, a21, a22 = matmul(z, zero, zero, z)
            if c["horizontal_flip"]:
                fx = tf.where(self._u(n, 0.0, 1.0) < 0.5, -one, one)
                a11, a12, a21, a22 = matmul(fx, zero, zero, one)
            if c["vertical_flip"]:
                fy = tf.where(self._u(n, 0.0, 1.0) < 0.5, -one, one)
                a11, a12, a21, a22 = matmul(one, zero, zero, fy)
            cx, cy = (w - 1.0) / 2.0, (h - 1.0) / 2.0
            # p_in = A (p_out - centre) + centre + t
            b1 = cx + tx - a11 * cx - a12 * cy
            b2 = cy + ty - a21 * cx - a22 * cy
            transforms = tf.stack([a11, a12, b1, a21, a22, b2, zero, zero], axis=1)
            return tf.raw_ops.ImageProjectiveTransformV3(
                images=x, transforms=transforms, output_shape=shape[1:3], fill_value=0.0,
                interpolation="BILINEAR", fill_mode=c["fill_mode"].upper(),
            )

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            return {**super().get_config(), **self.cfg, "seed": self.seed}

    @keras.saving.register_keras_serializable(package="lab_augment")
    class AdditiveGaussianNoise(keras.layers.Layer):
        """Add N(0, (stddev*255)^2) noise to [0, 255] images (active whenever training=True)."""

        def __init__(self, stddev: float, seed: int | None = None, **kwargs):
            super().__init__(**kwargs)
            self.stddev = float(stddev)
            self.seed = seed
            self.seed_generator = keras.random.SeedGenerator(seed)

        def call(self, x, training=True):
            if not training or self.stddev <= 0:
                return x
            noise = keras.random.normal(tf.shape(x), stddev=self.stddev * 255.0, seed=self.seed_generator)
            return tf.clip_by_value(x + noise, 0.0, 255.0)

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}

    @keras.saving.register_keras_serializable(package="lab_augment")
    class SaltAndPepper(keras.layers.Layer):
        """Set a ``fraction`` of pixels (all channels) to 0 or 255, half each."""

        def __init__(self, fraction: float, seed: int | None = None, **kwargs):
            super().__init__(**kwargs)
            self.fraction = float(fraction)
            self.seed = seed
            self.seed_generator = keras.random.SeedGenerator(seed)

        def call(self, x, training=True):
            if not training or self.fraction <= 0:
                return x
            shape = tf.shape(x)
            u = keras.random.uniform(tf.concat([shape[:-1], [1]], 0), seed=self.seed_generator)
            half = self.fraction / 2.0
            x = tf.where(u < half, tf.zeros_like(x), x)
            return tf.where((u >= half) & (u < self.fraction), tf.fill(tf.shape(x), 255.0), x)

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            return {**super().get_config(), "fraction": self.fraction, "seed": self.seed}

    @keras.saving.register_keras_serializable(package="lab_augment")
    class ClipPixels(keras.layers.Layer):
        def call(self, x):
            return tf.clip_by_value(x, 0.0, 255.0)

        def compute_output_shape(self, input_shape):
            return input_shape

    _LAYERS = {
        "RandomCropResize": RandomCropResize,
        "RandomAffine": RandomAffine,
        "AdditiveGaussianNoise": AdditiveGaussianNoise,
        "SaltAndPepper": SaltAndPepper,
        "ClipPixels": ClipPixels,
    }
    return _LAYERS


_LAYERS: dict | None = None


def build_augmenter(spec, seed: int | None = 0, *, fused: bool = True):
    """A ``keras.Sequential`` of preprocessing layers for ``spec`` (AugmentSpec, dict or preset
    name). Input and output: float32 (N, H, W, C) batches in [0, 255]; call with
    ``training=True``. An identity spec gives a Sequential that returns its input unchanged.

    ``fused=True`` (default): the geometric operations (crop, rotation, shear, shift, zoom,
    flips) are one ``RandomAffine`` layer - one interpolation per image, several times
    cheaper than chaining the Keras layers. ``fused=False``: the stock Keras layers
    (RandomCrop-and-resize, RandomRotation, RandomShear, RandomTranslation, RandomZoom,
    RandomFlip) one after another. Photometric layers (RandomBrightness, RandomContrast,
    Gaussian and salt-and-pepper noise) follow in both cases.

    Each layer gets its own seed derived from ``seed``, so a fresh augmenter built with the
    same seed produces the same sequence of random transformations.
    """
    import keras

    spec = _as_spec(spec)
    check_number("seed", seed, low=0, integer=True, allow_none=True)
    custom = _custom_layers()
    seeds = iter(range(1000)) if seed is None else iter(int(seed) * 1000 + i for i in range(1000))

    def s():
        v = next(seeds)
        return None if seed is None else v

    fill = spec.fill_mode
    layers: list = []
    geometric = (spec.random_crop < 1.0 or spec.rotation > 0 or spec.shear > 0 or spec.width_shift > 0
                 or spec.height_shift > 0 or spec.zoom > 0 or spec.horizontal_flip or spec.vertical_flip)
    if fused and geometric:
        layers.append(custom["RandomAffine"](
            rotation=spec.rotation, shear=spec.shear, width_shift=spec.width_shift, height_shift=spec.height_shift,
            zoom=spec.zoom, horizontal_flip=spec.horizontal_flip, vertical_flip=spec.vertical_flip,
            random_crop=spec.random_crop, fill_mode=fill, seed=s(), name="geometric"))
    elif geometric:
        if spec.random_crop < 1.0:
            layers.append(custom["RandomCropResize"](spec.random_crop, seed=s(), name="random_crop"))
        if spec.rotation > 0:
            layers.append(keras.layers.RandomRotation(spec.rotation / 360.0, fill_mode=fill, seed=s(), name="rotation"))
        if spec.shear > 0:
            layers.append(keras.layers.RandomShear(x_factor=spec.shear, fill_mode=fill, seed=s(), name="shear"))
        if spec.width_shift > 0 or spec.height_shift > 0:
            layers.append(keras.layers.RandomTranslation(spec.height_shift, spec.width_shift, fill_mode=fill,
                                                         seed=s(), name="shift"))
        if spec.zoom > 0:
            layers.append(keras.layers.RandomZoom(spec.zoom, fill_mode=fill, seed=s(), name="zoom"))
        if spec.horizontal_flip or spec.vertical_flip:
            mode = {(True, False): "horizontal", (False, True): "vertical",
                    (True, True): "horizontal_and_vertical"}[(spec.horizontal_flip, spec.vertical_flip)]
            layers.append(keras.layers.RandomFlip(mode, seed=s(), name="flip"))
    if spec.brightness > 0:
        layers.append(keras.layers.RandomBrightness(spec.brightness, value_range=(0, 255), seed=s(), name="brightness"))
    if spec.contrast > 0:
        layers.append(keras.layers.RandomContrast(spec.contrast, value_range=(0, 255), seed=s(), name="contrast"))
    if spec.gaussian_noise > 0:
        layers.append(custom["AdditiveGaussianNoise"](spec.gaussian_noise, seed=s(), name="gaussian_noise"))
    if spec.salt_pepper > 0:
        layers.append(custom["SaltAndPepper"](spec.salt_pepper, seed=s(), name="salt_pepper"))
    if layers:
        layers.append(custom["ClipPixels"](name="clip"))
    else:
        layers.append(keras.layers.Identity(name="identity"))
    return keras.Sequential(layers, name="augment")


def augment_batch(augmenter, x):
    """Apply an augmenter (from :func:`build_augmenter`) to a float32 [0, 255] batch."""
    if not augmenter.layers:
        return x
    return augmenter(x, training=True)


def preview(image_uint8, spec, n: int = 8, seed: int = 0) -> list[np.ndarray]:
    """``n`` augmented variants of one image (uint8 HxW or HxWxC) as uint8 arrays of the same
    shape. Deterministic: the same (image, spec, n, seed) gives identical arrays."""
    import tensorflow as tf

    img = np.asarray(image_uint8)
    if img.dtype != np.uint8:
        raise ValidationError(f"preview needs a uint8 image. Got dtype {img.dtype} instead.")
    squeeze = img.ndim == 2
    if squeeze:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[-1] not in (1, 3, 4):
        raise ValidationError(f"preview needs one image of shape (H, W) or (H, W, 1|3|4). Got shape {img.shape} instead.")
    n = check_number("n", n, low=1, high=256, integer=True)
    check_number("seed", seed, low=0, integer=True)
    spec = _as_spec(spec)
    if spec.is_identity:
        out = [img.copy() for _ in range(n)]
    else:
        aug = build_augmenter(spec, seed=seed)
        batch = tf.repeat(tf.cast(img[None], tf.float32), n, axis=0)
        res = augment_batch(aug, batch).numpy()
        out = [np.clip(np.round(r), 0, 255).astype(np.uint8) for r in res]
    return [o[:, :, 0] for o in out] if squeeze else out
