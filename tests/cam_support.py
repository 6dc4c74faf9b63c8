"""Small CAM test models shared by the CAM speed tests: a strided convolution, then the last
convolution ``last_conv`` (with ``mid_conv``: a stride-1 3x3 convolution before a 2x2 'valid' one,
the cases whose input gradients the compiled CAMs take as forward convolutions), then a GAP or
Flatten head, four softmax classes."""
from __future__ import annotations

import numpy as np

SIDE = 20


def cam_model(head: str, seed: int, *, name: str, mid_conv: bool = False):
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((SIDE, SIDE, 3))
    h = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv1")(inp)
    if mid_conv:
        h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="mid_conv")(h)
        h = keras.layers.Conv2D(16, 2, padding="valid", activation="relu", name="last_conv")(h)
    else:
        h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="last_conv")(h)
    h = keras.layers.GlobalAveragePooling2D()(h) if head == "gap" else keras.layers.Flatten()(h)
    out = keras.layers.Dense(4, activation="softmax", name="probs")(h)
    return keras.Model(inp, out, name=f"{name}_{head}")


def cam_images() -> np.ndarray:
    return np.random.default_rng(3).uniform(0, 1, (3, SIDE, SIDE, 3)).astype(np.float32)
