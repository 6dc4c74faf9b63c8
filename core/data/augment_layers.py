"""The augmentation layers of :func:`core.data.augment.build_augmenter` (Keras and TensorFlow).

Imported only when an augmenter is built, so ``import core.data.augment`` (specs, presets, the
UI's choices) stays free of TensorFlow. Each class is registered with Keras under the
package ``lab_augment`` (``lab_augment>RandomAffine`` ...): keep the package and the class
names, they are what a saved model config that holds one of these layers names.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

PACKAGE = "lab_augment"


@keras.saving.register_keras_serializable(package=PACKAGE)
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


@keras.saving.register_keras_serializable(package=PACKAGE)
class RandomAffine(keras.layers.Layer):
    """Crop, rotation, shear, shift, zoom and flips as ONE projective warp per image.

    Same parameter distributions as the separate Keras layers (see ``core.data.augment``'s
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


@keras.saving.register_keras_serializable(package=PACKAGE)
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


@keras.saving.register_keras_serializable(package=PACKAGE)
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


@keras.saving.register_keras_serializable(package=PACKAGE)
class ClipPixels(keras.layers.Layer):
    """Clip values to [0, 255] (the last layer of every non-identity augmenter)."""

    def call(self, x):
        return tf.clip_by_value(x, 0.0, 255.0)

    def compute_output_shape(self, input_shape):
        return input_shape
