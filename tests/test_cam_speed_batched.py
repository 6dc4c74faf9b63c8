"""SmoothGrad and Score-CAM with batched, compiled model passes: the same maps as tf-keras-vis's own
``Saliency(smooth_samples=...)`` (same seed, same noise) and ``Scorecam`` (``model.predict`` on the masked
copies), the masked copies and noisy copies each through one compiled function traced once, and input
gradients of stride-1 convolutions taken as a forward convolution (TensorFlow's CPU
``Conv2DBackpropInput`` takes ~0.5 s for a 2x2 map with 256 -> 512 channels). No timing here:
bench/bench_predict.py measures speed."""
from __future__ import annotations

import numpy as np
import pytest

from cam_support import SIDE, cam_images, cam_model
from core.models import cam as explain

TOL = 1e-4  # of each map's value range


@pytest.fixture(scope="module")
def models():
    return {head: cam_model(head, seed, name="batched", mid_conv=True) for head, seed in (("gap", 0), ("flatten", 1))}


@pytest.fixture(scope="module")
def images():
    return cam_images()


def _library(cls, model):
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear

    return cls(model, model_modifier=ReplaceToLinear(), clone=True)


def _assert_close(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    for g, w in zip(got, want):
        span = max(float(w.max() - w.min()), 1e-12)
        assert np.abs(g - w).max() <= TOL * span, f"max |diff| {np.abs(g - w).max():.3g}, range {span:.3g}"


@pytest.mark.parametrize("head", ["gap", "flatten"])
def test_smoothgrad_equals_the_library_smooth_samples_with_the_same_seed(models, images, head):
    """tf-keras-vis draws the noise with ``np.random.normal`` (NumPy's global generator) and runs the
    noisy copies one sample at a time; cam() draws the same noise from a generator of its own seeded
    with ``seed`` (NumPy's global state is left alone) and runs all copies batched."""
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.utils.scores import CategoricalScore

    model, idx = models[head], [0, 2, 3]
    state = np.random.get_state()
    np.random.seed(11)
    want = _library(Saliency, model)(CategoricalScore(idx), images, smooth_samples=6)
    np.random.set_state(state)
    got = explain.cam(model, images, method="saliency", class_index=idx, smooth_samples=6, smooth_blur=0,
                      seed=11)
    _assert_close(got, want)
    assert np.random.get_state()[1][:4].tolist() == state[1][:4].tolist()


@pytest.mark.parametrize("head", ["gap", "flatten"])
@pytest.mark.parametrize("max_n", [3, -1])
def test_scorecam_equals_the_library(models, images, head, max_n):
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.scores import CategoricalScore

    model, idx = models[head], [1, 0, 3]
    vis = _library(Scorecam, model)
    vis.model.predict = lambda a, batch_size=32: type(vis.model).predict(vis.model, a, batch_size=batch_size,
                                                                            verbose=0)
    want = vis(CategoricalScore(idx), images, penultimate_layer="mid_conv", seek_penultimate_conv_layer=False,
               max_N=max_n)
    for _ in range(2):
        got = explain.cam(model, images, method="scorecam", class_index=idx, layer="mid_conv", max_n=max_n)
        _assert_close(got, want)


def test_scorecam_and_smoothgrad_passes_are_compiled_once_and_batched(models, images):
    """Score-CAM: the layer pass and the masked copies' scores are compiled functions (one trace for any
    class and batch size; no Keras model built per call); the masked copies of a call go through in
    one call. SmoothGrad: all noisy copies of a few small images in one gradient call."""
    from core.models import cam_cache

    model = models["flatten"]
    explain.clear_cache(model)
    vis = cam_cache.explainer(model, "scorecam").vis
    for n, cls in ((1, 0), (3, 2), (2, 1)):
        explain.cam(model, images[:n], method="scorecam", class_index=cls, layer="mid_conv", max_n=4)
    assert vis.layer_fn("mid_conv").experimental_get_tracing_count() == 1
    assert vis.masked_scores_fn.experimental_get_tracing_count() == 1
    sal = cam_cache.explainer(model, "saliency").vis
    calls = []
    inner = sal.gradients_fn

    def counted(x, idx):
        calls.append(int(x.shape[0]))
        return inner(x, idx)

    sal.gradients_fn = counted
    try:
        explain.cam(model, images, method="saliency", class_index=1, smooth_samples=10)
    finally:
        sal.gradients_fn = inner
    assert calls == [30], calls


@pytest.mark.parametrize("kernel, strides, padding", [(3, 1, "same"), (2, 1, "same"), (2, 1, "valid"),
                                                       (3, 2, "same"), (1, 1, "valid")])
def test_input_gradients_of_convolutions_as_forward_convolutions(kernel, strides, padding):
    """The compiled input gradients equal a GradientTape's; stride-1 convolutions have no
    Conv2DBackpropInput op in the compiled graph (strided ones keep TensorFlow's own gradient)."""
    import keras
    import tensorflow as tf

    from core.models import cam_compiled

    keras.utils.set_random_seed(4)
    inp = keras.Input((6, 5, 3))
    h = keras.layers.Conv2D(7, kernel, strides=strides, padding=padding, name="c")(inp)
    out = keras.layers.Dense(3)(keras.layers.Flatten()(h))
    model = keras.Model(inp, out)
    score = cam_compiled.ClassScore()
    fn = cam_compiled.compiled_gradients(model, score, lambda outs, scores: [s(o) for s, o in zip(scores, outs)])
    x = tf.constant(np.random.default_rng(0).normal(size=(4, 6, 5, 3)).astype(np.float32))
    idx = tf.constant([0, 1, 2, 1], tf.int32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        s = tf.gather(model(x), idx, axis=-1, batch_dims=1)
    want = tape.gradient(s, x).numpy()
    got = fn(x, idx).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    types = {op.type for op in fn.get_concrete_function().graph.get_operations()}
    assert ("Conv2DBackpropInput" in types) == (strides != 1), types


def test_predict_and_explain_end_to_end_with_scorecam_and_smoothgrad(models):
    from pathlib import Path

    from core.data.preprocess import Preprocessing
    from core.serving import inference
    from core.serving.trained_model import TrainedModel

    prep = Preprocessing((SIDE, SIDE), 3, normalization="rescale")
    meta = {"class_names": list("abcd"), "preprocessing": prep.to_dict()}
    tm = TrainedModel(models["gap"], meta, prep, Path("unused") / "model.keras")
    img = np.random.default_rng(8).integers(0, 256, (33, 41, 3), dtype=np.uint8)
    for method in ("scorecam", "saliency"):
        out = inference.predict_and_explain(tm, img, method=method)
        assert out.heatmap.shape == (SIDE, SIDE) and np.isfinite(out.heatmap).all()
        assert 0.0 <= out.heatmap.min() and out.heatmap.max() <= 1.0 and out.heatmap.max() > 0.5
        np.testing.assert_allclose(out.probs.sum(), 1.0, rtol=1e-5)
