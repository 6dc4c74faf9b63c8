"""tf-keras-vis subclasses whose model passes are compiled (``tf.function``); the CAM maths stays
the library's. Imported by :mod:`core.models.cam_cache` when the first explainer is made (this
module imports TensorFlow and tf-keras-vis).

- :class:`ClassScore`: ``CategoricalScore``'s value, ``output[i, ..., indices[i]]``, with the
  classes given at call time (a tensor inside compiled functions, so one trace serves every class);
  ``score.bind(indices)`` is the ``score(output)`` callable the library's own code calls.
- :class:`CompiledGradcam`: the intermediate model (``ExtractIntermediateLayerForGradcam``, built by
  the library on every call) built once per layer, the gradients of the class score at that layer
  computed in a compiled function; then the library's ``_calculate_cam``, ``zoom`` and ``normalize``.
- :class:`CompiledSaliency`: the library's ``_get_gradients`` (input gradients of the class score)
  as a compiled function; the rest of ``Saliency.__call__`` is the library's.

Both fall back to the library's own code for calls they were not made for (another score object,
several inputs, ``training=True``, seeking the layer). Compiled functions take ``(None, H, W, C)``
float32 images and ``(None,)`` int32 classes: each is traced once.
"""
from __future__ import annotations

import inspect
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf
from scipy.ndimage import zoom
from tf_keras_vis.gradcam import Gradcam
from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
from tf_keras_vis.saliency import Saliency
from tf_keras_vis.scorecam import Scorecam
from tf_keras_vis.utils import listify, normalize, zoom_factor
from tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayerForGradcam
from tf_keras_vis.utils.scores import Score

__all__ = ["ClassScore", "BoundScore", "CompiledGradcam", "CompiledSaliency", "VISUALIZERS"]

_RELU = inspect.signature(Gradcam.__call__).parameters["activation_modifier"].default  # the library's default


def _image_spec(model) -> tf.TensorSpec:
    return tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32)


_CLASSES_SPEC = tf.TensorSpec((None,), tf.int32)


@dataclass(frozen=True, eq=False)
class BoundScore:
    """A :class:`ClassScore` with its classes: the ``score(output)`` callable tf-keras-vis expects."""

    score: Any
    indices: np.ndarray

    def __call__(self, output):
        return self.score(output, self.indices)


class ClassScore(Score):
    """``CategoricalScore``'s value with the classes given at call time (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__("ClassScore")

    def __call__(self, output, indices=None):
        if indices is None:
            raise ValueError("ClassScore needs the class indices: use score.bind(indices).")
        idx = tf.cast(tf.reshape(indices, (-1,)), tf.int32)
        return tf.gather(output, idx, axis=-1, batch_dims=1)

    def bind(self, indices) -> BoundScore:
        return BoundScore(self, np.asarray(indices, dtype=np.int32).reshape(-1))


def compiled_gradients(model, score, calculate_scores, wrt_layer: str | None = None):
    """``(images, classes) -> gradients of the class score`` w.r.t. the images or, with ``wrt_layer``,
    ``-> (gradients, output)`` of that layer, as one compiled function. Symbolic gradients
    (``tf.gradients``): only the ops between the layer and the score are differentiated, so a
    backbone's trace does not build (and then prune) a backward pass through its every layer."""
    net = ExtractIntermediateLayerForGradcam(wrt_layer, False)(model) if wrt_layer else model

    @tf.function(input_signature=[_image_spec(model), _CLASSES_SPEC], reduce_retracing=True)
    def fn(x, idx):
        outputs = listify(net(x, training=False))
        target = x
        if wrt_layer:
            outputs, target = outputs[:-1], outputs[-1]
        values = calculate_scores(outputs, [lambda o: score(o, idx)])
        grads = tf.gradients(values, target)[0]
        return (grads, target) if wrt_layer else grads

    return fn


class CompiledGradcam(Gradcam):
    """``Gradcam`` with the gradient pass compiled, one function per layer (see the module docstring)."""

    def __init__(self, model, score: ClassScore) -> None:
        super().__init__(model, model_modifier=None, clone=False)
        self.score = score
        self._fns: dict[str, Any] = {}
        self._fns_lock = threading.Lock()

    def gradients_fn(self, layer: str):
        """The compiled ``(images, classes) -> (gradients, layer output)`` of ``layer``."""
        with self._fns_lock:
            fn = self._fns.get(layer)
        if fn is None:
            fn = compiled_gradients(self.model, self.score, self._calculate_scores, layer)
            with self._fns_lock:
                fn = self._fns.setdefault(layer, fn)
        return fn

    def __call__(self, score, seed_input, penultimate_layer=None, seek_penultimate_conv_layer=True,
                 gradient_modifier=None, activation_modifier=_RELU, training=False, expand_cam=True,
                 normalize_cam=True, **kwargs):
        fast = (isinstance(score, BoundScore) and isinstance(penultimate_layer, str) and not kwargs
                and not seek_penultimate_conv_layer and not training and not isinstance(seed_input, list))
        if not fast:
            return super().__call__(score, seed_input, penultimate_layer, seek_penultimate_conv_layer,
                                    gradient_modifier, activation_modifier, training, expand_cam, normalize_cam,
                                    **kwargs)
        x = tf.convert_to_tensor(np.asarray(seed_input, dtype=np.float32))
        grads, penultimate = self.gradients_fn(penultimate_layer)(x, tf.constant(score.indices))
        cam = self._calculate_cam(grads, penultimate, gradient_modifier, activation_modifier)
        if expand_cam:
            cam = zoom(cam, zoom_factor(cam.shape, x.shape), order=1)
        return normalize(cam) if normalize_cam else cam


class CompiledSaliency(Saliency):
    """``Saliency`` with ``_get_gradients`` compiled (see the module docstring)."""

    def __init__(self, model, score: ClassScore) -> None:
        super().__init__(model, model_modifier=None, clone=False)
        self.score = score
        self.gradients_fn = compiled_gradients(self.model, score, self._calculate_scores)

    def _get_gradients(self, seed_inputs, scores, gradient_modifier, training, unconnected_gradients):
        if training or len(seed_inputs) != 1 or len(scores) != 1 or not isinstance(scores[0], BoundScore):
            return super()._get_gradients(seed_inputs, scores, gradient_modifier, training, unconnected_gradients)
        grads = [self.gradients_fn(tf.cast(seed_inputs[0], tf.float32), tf.constant(scores[0].indices))]
        return [gradient_modifier(g) for g in grads] if gradient_modifier is not None else grads


# Score-CAM and Grad-CAM++ are the library's classes: cam_cache gives Score-CAM's clone a compiled,
# batched predict; Grad-CAM++ keeps its maths and its model passes in one method, with no seam.
VISUALIZERS: dict[str, type] = {"gradcam": CompiledGradcam, "gradcam++": GradcamPlusPlus,
                                "scorecam": Scorecam, "saliency": CompiledSaliency}
