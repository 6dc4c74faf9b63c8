"""Cached features: a frozen backbone without augmentation runs once over the data, and only
the head is trained on its outputs.

``split_head`` finds the frozen feature extractor (the model up to its head); the head shares
its layers with the full model, so the full model is saved with the trained head (same
result, many times faster).
"""
from __future__ import annotations

import time
from typing import Any


def use_cached_features(p: Any) -> bool:
    """True for a ``Prepared`` run where caching gives the same result: a frozen backbone, no
    augmentation, no oversampling."""
    opts = p.config.resolved_model_options()
    return (
        p.family == "backbone"
        and opts.get("trainable", "frozen") == "frozen"
        and p.augment is None
        and not p.config.oversample
    )


def cached_feature_data(feat, p: Any, val_pipe, reporter) -> tuple[Any, Any, tuple, int]:
    """(train data, validation data for fit, validation (inputs, labels), training images) of
    the head: the features of ``feat`` computed once over the training and validation parts."""
    import tensorflow as tf

    from core.data.pipeline import make_dataset, without_autotune_thread

    config, bs = p.config, int(p.config.batch_size)
    reporter.on_message("info", "frozen backbone without augmentation: computing backbone features once and "
                                "training the head on them")
    t_feat = time.monotonic()
    train_plain = make_dataset(p.train_ds, p.prep, batch_size=bs, training=False, seed=config.seed, cache=False)
    f_train = feat.predict(train_plain, verbose=0)
    f_val = feat.predict(val_pipe, verbose=0)
    reporter.on_message("info", f"features {tuple(f_train.shape[1:])} computed in {time.monotonic() - t_feat:.1f}s")
    y_train = p.train_ds.labels
    train_pipe = without_autotune_thread(
        tf.data.Dataset.from_tensor_slices((f_train, y_train))
        .shuffle(len(y_train), seed=config.seed, reshuffle_each_iteration=True)
        .batch(bs)
        .prefetch(tf.data.AUTOTUNE)
    )
    val_fit = without_autotune_thread(tf.data.Dataset.from_tensor_slices((f_val, p.val_ds.labels)).batch(bs))
    return train_pipe, val_fit, (f_val, p.val_ds.labels), len(y_train)


_STOCHASTIC = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
               "GaussianDropout", "AlphaDropout", "BatchNormalization", "RandomFlip", "RandomRotation",
               "RandomZoom", "RandomTranslation", "RandomContrast", "RandomBrightness", "RandomCrop")


def _inbound_layers(layer) -> list:
    out = []
    for node in getattr(layer, "_inbound_nodes", []):
        for t in node.arguments.keras_tensors:
            hist = getattr(t, "_keras_history", None)
            if hist is not None:
                out.append(hist[0])
    return out


def split_head(model):
    """Split a flat functional model into (feature_extractor, head) at the frozen boundary.

    The head starts at the first layer (in topological order) that has trainable weights or
    behaves differently in training (dropout, noise, batch norm in training mode); everything
    before it must be frozen. The split is valid only when every head layer reads either the
    split tensor or other head layers (no skip connection crossing it). Returns ``None`` when
    the model cannot be split that way (e.g. nothing frozen). The head shares its layers with
    ``model``, so training it trains the full model.
    """
    import keras

    layers = [lyr for lyr in model.layers if not isinstance(lyr, keras.layers.InputLayer)]
    first = None
    for i, layer in enumerate(layers):
        if layer.trainable_weights or (type(layer).__name__ in _STOCHASTIC and layer.trainable):
            first = i
            break
    if first is None or first == 0:
        return None
    head_layers = layers[first:]
    head_ids = {id(lyr) for lyr in head_layers}
    first_layer = head_layers[0]
    node = first_layer._inbound_nodes[0]
    in_tensors = node.arguments.keras_tensors
    if len(in_tensors) != 1:
        return None
    split_tensor = in_tensors[0]
    split_layer = split_tensor._keras_history[0]
    for lyr in head_layers[1:]:
        for src in _inbound_layers(lyr):
            if id(src) not in head_ids and src is not split_layer:
                return None
    # everything before must be frozen
    for lyr in layers[:first]:
        if lyr.trainable_weights:
            return None
    try:
        feat = keras.Model(model.inputs, split_tensor, name="feature_extractor")
        head = keras.Model(split_tensor, model.outputs, name="head")
    except Exception:  # noqa: BLE001
        return None
    return feat, head
