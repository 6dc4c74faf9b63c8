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

from core.validation import ValidationError, check_number, check_one_of, check_type

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

    def validate(self) -> AugmentSpec:
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
    def from_dict(cls, d: dict[str, Any] | None) -> AugmentSpec:
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

    from core.data import augment_layers as custom

    spec = _as_spec(spec)
    check_number("seed", seed, low=0, integer=True, allow_none=True)
    seeds = iter(range(1000)) if seed is None else iter(int(seed) * 1000 + i for i in range(1000))

    def s():
        v = next(seeds)
        return None if seed is None else v

    layers = [*_geometric_layers(spec, s, fused=fused), *_photometric_layers(spec, s)]  # seeds drawn in this order
    if layers:
        layers.append(custom.ClipPixels(name="clip"))
    else:
        layers.append(keras.layers.Identity(name="identity"))
    return keras.Sequential(layers, name="augment")


def _geometric_layers(spec: AugmentSpec, s, *, fused: bool) -> list:
    """Crop, rotation, shear, shift, zoom and flips: one ``RandomAffine`` (``fused``) or the stock
    Keras layers one after another; ``s()`` gives each layer its seed."""
    import keras

    from core.data import augment_layers as custom

    fill = spec.fill_mode
    geometric = (spec.random_crop < 1.0 or spec.rotation > 0 or spec.shear > 0 or spec.width_shift > 0
                 or spec.height_shift > 0 or spec.zoom > 0 or spec.horizontal_flip or spec.vertical_flip)
    if not geometric:
        return []
    if fused:
        return [custom.RandomAffine(
            rotation=spec.rotation, shear=spec.shear, width_shift=spec.width_shift, height_shift=spec.height_shift,
            zoom=spec.zoom, horizontal_flip=spec.horizontal_flip, vertical_flip=spec.vertical_flip,
            random_crop=spec.random_crop, fill_mode=fill, seed=s(), name="geometric")]
    layers: list = []
    if spec.random_crop < 1.0:
        layers.append(custom.RandomCropResize(spec.random_crop, seed=s(), name="random_crop"))
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
    return layers


def _photometric_layers(spec: AugmentSpec, s) -> list:
    """Brightness and contrast jitter, Gaussian and salt-and-pepper noise, in that order."""
    import keras

    from core.data import augment_layers as custom

    layers: list = []
    if spec.brightness > 0:
        layers.append(keras.layers.RandomBrightness(spec.brightness, value_range=(0, 255), seed=s(), name="brightness"))
    if spec.contrast > 0:
        layers.append(keras.layers.RandomContrast(spec.contrast, value_range=(0, 255), seed=s(), name="contrast"))
    if spec.gaussian_noise > 0:
        layers.append(custom.AdditiveGaussianNoise(spec.gaussian_noise, seed=s(), name="gaussian_noise"))
    if spec.salt_pepper > 0:
        layers.append(custom.SaltAndPepper(spec.salt_pepper, seed=s(), name="salt_pepper"))
    return layers


def augment_batch(augmenter, x):
    """Apply an augmenter (from :func:`build_augmenter`) to a float32 [0, 255] batch."""
    if not augmenter.layers:
        return x
    return augmenter(x, training=True)


def preview(image_uint8, spec, n: int = 8, seed: int = 0) -> list[np.ndarray]:
    """``n`` augmented variants of one image (uint8 HxW or HxWxC) as uint8 arrays of the same
    shape. Deterministic: the same (image, spec, n, seed) gives identical arrays. TensorFlow is
    imported only when the spec changes the image (no augmentation: copies, at once)."""
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
        import tensorflow as tf

        aug = build_augmenter(spec, seed=seed)
        batch = tf.repeat(tf.cast(img[None], tf.float32), n, axis=0)
        res = augment_batch(aug, batch).numpy()
        out = [np.clip(np.round(r), 0, 255).astype(np.uint8) for r in res]
    return [o[:, :, 0] for o in out] if squeeze else out
