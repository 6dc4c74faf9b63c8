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
- :class:`CompiledScorecam`: ``Scorecam.__call__``'s steps as two compiled functions, the layer pass
  (its intermediate model built once per layer) with the masks, and the masked copies' class
  probabilities, the copies in large batches; the library has no seam between its model passes and its
  maths, so the maths (channel choice, bilinear upsampling of the maps, masking, weights, ``batch_dot``,
  ``zoom`` and ``normalize`` of the map) is its, step by step, here.

The compiled gradients take the input gradient of a stride-1 ``Conv2D`` as a forward convolution
(:func:`_conv2d_grad`): TensorFlow's CPU ``Conv2DBackpropInput`` is pathologically slow for small maps
with many channels (a report CNN's 2x2 map, 256 -> 512 channels: ~0.5 s for 20 images, 35 ms as a
forward convolution), which made SmoothGrad's input gradients cost 20x its forward passes.

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
from tf_keras_vis.utils import get_num_of_steps_allowed, is_mixed_precision, listify, normalize, zoom_factor
from tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayerForGradcam
from tf_keras_vis.utils.scores import Score

__all__ = ["ClassScore", "BoundScore", "CompiledGradcam", "CompiledSaliency", "CompiledScorecam", "VISUALIZERS"]

_RELU = inspect.signature(Gradcam.__call__).parameters["activation_modifier"].default  # the library's default
_SCORECAM_RELU = inspect.signature(Scorecam.__call__).parameters["activation_modifier"].default
_CONV_GRAD = "LabConv2DInputGradAsConv"


@tf.RegisterGradient(_CONV_GRAD)
def _conv2d_grad(op, grad):
    """``Conv2D``'s gradients, the input's as a forward convolution of ``grad`` with the kernel flipped
    in space and its channel axes swapped (stride 1, no dilation, NHWC, SAME or VALID padding: the
    transposed convolution is then a plain one, padded by ``kernel - 1 - the forward padding``);
    any other convolution, and the kernel's gradient, as TensorFlow computes them."""
    from tensorflow.python.ops import nn_grad

    strides, dilations = list(op.get_attr("strides")), list(op.get_attr("dilations"))
    padding = op.get_attr("padding").decode()
    fmt = op.get_attr("data_format").decode()
    if strides != [1, 1, 1, 1] or dilations != [1, 1, 1, 1] or fmt != "NHWC" or padding not in ("SAME", "VALID"):
        return nn_grad._Conv2DGrad(op, grad)
    x, w = op.inputs[0], op.inputs[1]
    dw = tf.compat.v1.nn.conv2d_backprop_filter(x, tf.shape(w), grad, strides, padding)  # pruned when unused
    kh, kw = int(w.shape[0]), int(w.shape[1])
    pads = [[0, 0]]
    for k in (kh, kw):
        before = (k - 1) // 2 if padding == "SAME" else 0
        after = k - 1 - before if padding == "SAME" else 0
        pads.append([k - 1 - before, k - 1 - after])
    kernel = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2])
    dx = tf.nn.conv2d(grad, kernel, strides=1, padding=pads + [[0, 0]], data_format="NHWC")
    return [dx, dw]


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
        with tf.compat.v1.get_default_graph().gradient_override_map({"Conv2D": _CONV_GRAD}):
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


class CompiledScorecam(Scorecam):
    """``Scorecam`` with its model passes compiled and the masked copies in large batches (see the
    module docstring); other calls (another score object, several inputs, ``training=True``, seeking
    the layer, another activation modifier, mixed precision) are the library's own."""

    def __init__(self, model, score: ClassScore) -> None:
        super().__init__(model, model_modifier=None, clone=False)
        self.score = score
        self._fns: dict[str, Any] = {}
        self._fns_lock = threading.Lock()

        @tf.function(input_signature=[_image_spec(model), _CLASSES_SPEC], reduce_retracing=True)
        def masked_scores(x, idx):  # the library's score(K.softmax(predict(x))), row by row
            return score(tf.nn.softmax(self.model(x, training=False)), idx)

        self.masked_scores_fn = masked_scores

    def layer_fn(self, layer: str):
        """The compiled ``(images, max_n) -> (chosen channels' maps, masked copies)`` of ``layer``
        (:func:`_masked_inputs`; the library's intermediate model built once)."""
        with self._fns_lock:
            fn = self._fns.get(layer)
        if fn is None:
            net = ExtractIntermediateLayerForGradcam(layer, False, False)(self.model)

            @tf.function(input_signature=[_image_spec(self.model), tf.TensorSpec((), tf.int32)],
                         reduce_retracing=True)
            def fn(x, max_n):
                return _masked_inputs(x, listify(net(x, training=False))[0], max_n)

            with self._fns_lock:
                fn = self._fns.setdefault(layer, fn)
        return fn

    def __call__(self, score, seed_input, penultimate_layer=None, seek_penultimate_conv_layer=True,
                 activation_modifier=_SCORECAM_RELU, batch_size=32, max_N=None, training=False,
                 expand_cam=True, normalize_cam=True):
        fast = (isinstance(score, BoundScore) and isinstance(penultimate_layer, str) and not training
                and not seek_penultimate_conv_layer and not isinstance(seed_input, list)
                and activation_modifier is _SCORECAM_RELU and len(self.model.inputs) == 1
                and not is_mixed_precision(self.model))
        if not fast:
            return super().__call__(score, seed_input, penultimate_layer, seek_penultimate_conv_layer,
                                    activation_modifier, batch_size, max_N, training, expand_cam, normalize_cam)
        x = np.asarray(seed_input, dtype=np.float32)
        channels = int(self.model.get_layer(penultimate_layer).output.shape[-1])
        if max_N is None or max_N <= 0:
            max_N = get_num_of_steps_allowed(channels)
        elif max_N <= channels:
            max_N = get_num_of_steps_allowed(max_N)
        else:
            raise ValueError(f"max_N must be 1 or more and {channels} or less. max_N: {max_N}")
        act, masked = self.layer_fn(penultimate_layer)(tf.constant(x), tf.constant(max_N, tf.int32))
        act = act.numpy()
        chosen, n = act.shape[-1], len(x)
        idx = np.tile(score.indices, chosen).astype(np.int32)
        step = max(1, int(batch_size))
        rows = chosen * n
        weights = np.concatenate([
            self.masked_scores_fn(masked if rows <= step else masked[i:i + step], tf.constant(idx[i:i + step])).numpy()
            for i in range(0, rows, step)])
        weights = np.transpose(np.reshape(weights, (chosen, n)), (1, 0)).astype(np.float32)
        cam = np.maximum(np.einsum("n...c,nc->n...", act, weights), 0.0)  # K.relu(K.batch_dot(act, weights))
        if expand_cam:
            cam = zoom(cam, zoom_factor(cam.shape, x.shape), order=1)
        return normalize(cam) if normalize_cam else cam


def _masked_inputs(x, act, max_n):
    """Score-CAM's masks, as the library makes them, in one compiled pass: with ``max_n`` below the
    channel count the channels whose maps vary most (top ``max_n`` per image, their union over the
    batch, Faster Score-CAM); each chosen map resized to the input (bilinear with the corners aligned:
    ``scipy.ndimage.zoom(order=1)``'s grid), min-max normalised, times each image. Returns the chosen
    maps (samples, h, w, channels) and the masked copies, channel-major ``(channels * samples, H, W, C)``."""
    channels = tf.shape(act)[-1]

    def top():
        std = tf.math.reduce_std(act, axis=[1, 2], keepdims=True)
        _, best = tf.math.top_k(std, max_n)
        best, _ = tf.unique(tf.reshape(best, (-1,)))
        return tf.gather(act, best, axis=-1)

    act = tf.cond(max_n < channels, top, lambda: act)
    up = tf.raw_ops.ResizeBilinear(images=act, size=tf.shape(x)[1:3], align_corners=True, half_pixel_centers=False)
    lo = tf.reduce_min(up, axis=[1, 2], keepdims=True)
    hi = tf.reduce_max(up, axis=[1, 2], keepdims=True)
    masks = (up - lo) / (hi - lo + tf.keras.backend.epsilon())       # (samples, H, W, channels)
    masks = tf.expand_dims(tf.transpose(masks, [3, 0, 1, 2]), -1)    # (channels, samples, H, W, 1)
    masked = tf.reshape(x[None] * masks, tf.concat([[-1], tf.shape(x)[1:]], 0))
    return act, masked


# Grad-CAM++ is the library's class: it keeps its maths and its model passes in one method, with no seam.
VISUALIZERS: dict[str, type] = {"gradcam": CompiledGradcam, "gradcam++": GradcamPlusPlus,
                                "scorecam": CompiledScorecam, "saliency": CompiledSaliency}
