"""The tf-keras-vis objects behind :mod:`core.models.cam`, built once per model and method.

What is slow in tf-keras-vis is not the CAM maths but what surrounds it on every call: the
``ReplaceToLinear`` clone (built once here, shared by a model's methods), the intermediate
model Grad-CAM and Score-CAM build from it on each call (``ExtractIntermediateLayerForGradcam``),
and eager forward and backward passes (an eager tape on a backbone back-propagates through every
layer down to the input, even when only the last block's gradient is asked for).

So each (model, method) gets an :class:`Explainer`, cached weakly by the model object:

- ``model``: the linear clone (the user's model is never modified);
- ``score``: a ``cam_compiled.ClassScore``, ``CategoricalScore``'s value (each sample's output at its
  class) with the classes as a tensor argument, so one compiled function serves every class
  and batch size;
- ``vis``: the tf-keras-vis instance, a subclass that only moves the model passes into
  ``tf.function`` where the library has a seam for it, and leaves the maths to the library:
  Grad-CAM (``cam_compiled.CompiledGradcam``: the gradients of the class score at the CAM layer in a
  compiled function, one per layer; then the library's ``_calculate_cam``, ``zoom`` and
  ``normalize``), saliency (``cam_compiled.CompiledSaliency``: its ``_get_gradients`` compiled),
  Score-CAM (``cam_compiled.CompiledScorecam``: the layer pass and the masked copies' class
  probabilities compiled, the copies in large batches) and Grad-CAM++ (the library's own
  ``GradcamPlusPlus``, unchanged). The clone's ``predict`` is a compiled forward pass in batches
  (what the library's own ``Scorecam`` calls when the fast path does not apply).

This module stays light (no TensorFlow until the first explainer is made). The compiled
functions take ``(None, H, W, C)`` float32 images and ``(None,)`` int32 classes
(``reduce_retracing``): each is traced once per model, layer and method.
"""
from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Explainer", "explainer", "clear_cache", "model_version"]

_lock = threading.Lock()
_cache: weakref.WeakKeyDictionary[Any, dict[tuple, Explainer]] = weakref.WeakKeyDictionary()


def model_version(model) -> int:
    """The optimizer's step count (0 without one): a model trained further gets fresh objects."""
    opt = getattr(model, "optimizer", None)
    it = getattr(opt, "iterations", None)
    try:
        return int(np.asarray(it)) if it is not None else 0
    except (TypeError, ValueError):  # pragma: no cover - exotic optimizers
        return 0


def clear_cache(model: Any | None = None) -> None:
    """Forget cached explainers (for one model, or all)."""
    with _lock:
        if model is None:
            _cache.clear()
        else:
            _cache.pop(model, None)


def _image_spec(model):
    import tensorflow as tf

    return tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32)


# --------------------------------------------------------------------------------------
# the cache
# --------------------------------------------------------------------------------------
@dataclass(eq=False)
class Explainer:
    """The cached objects of one (model, method): see the module docstring."""

    method: str
    model: Any            # the ReplaceToLinear clone, shared by the model's methods
    score: Any            # a ClassScore
    vis: Any              # the tf-keras-vis instance on ``model``
    version: int = 0


def _linear_clone(model):
    """A clone of ``model`` with the same weights and linear outputs (the library's way)."""
    import tensorflow as tf
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear

    clone = tf.keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    ReplaceToLinear()(clone)
    _batched_predict(clone)
    return clone


def _batched_predict(clone) -> None:
    """Score-CAM calls ``clone.predict(masked, batch_size=...)``: a compiled forward pass per batch
    instead (no tf.data pipeline, no progress bar), the same values as ``predict``."""
    import tensorflow as tf

    forward = tf.function(lambda x: clone(x, training=False), input_signature=[_image_spec(clone)],
                          reduce_retracing=True)

    def predict(x, batch_size=32, verbose=0, **_):
        x = x[0] if isinstance(x, (list, tuple)) and len(x) == 1 else x
        x = np.asarray(x, dtype=np.float32)
        step = max(1, int(batch_size or 32))
        return np.concatenate([np.asarray(forward(x[i:i + step])) for i in range(0, len(x), step)], axis=0)

    clone.predict = predict


def explainer(model, method: str) -> Explainer:
    """The cached :class:`Explainer` of ``model`` for ``method`` (made on first use; one per
    (model, method) while the model's optimizer step count stays the same)."""
    version = model_version(model)
    key = (method, version)
    with _lock:
        entries = _cache.get(model) or {}
        hit = entries.get(key)
        clone = next((e.model for k, e in entries.items() if k[1] == version), None)
    if hit is not None:
        return hit
    clone = clone if clone is not None else _linear_clone(model)
    from core.models import cam_compiled

    score = cam_compiled.ClassScore()
    cls = cam_compiled.VISUALIZERS[method]
    if method in ("gradcam", "saliency", "scorecam"):
        vis = cls(clone, score)
    else:
        vis = cls(clone, model_modifier=None, clone=False)
    made = Explainer(method=method, model=clone, score=score, vis=vis, version=version)
    with _lock:
        entries = _cache.setdefault(model, {})
        for k in [k for k in entries if k[1] != version]:  # weights changed: drop stale objects
            del entries[k]
        return entries.setdefault(key, made)
