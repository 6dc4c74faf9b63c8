"""The cached, compiled CAM path: the same heat maps as tf-keras-vis used plainly (fresh objects,
eager, ``CategoricalScore``), its objects made once per (model, method), its compiled functions
traced once for any class and batch size. No timing here: bench/bench_predict.py measures speed."""
from __future__ import annotations

import numpy as np
import pytest

from cam_support import SIDE, cam_images, cam_model
from core.models import cam as explain

METHODS = ("gradcam", "gradcam++", "scorecam", "saliency")


@pytest.fixture(scope="module")
def models():
    return {head: cam_model(head, seed, name="speed") for head, seed in (("gap", 0), ("flatten", 1))}


@pytest.fixture(scope="module")
def images():
    return cam_images()


def _reference(model, x, idx, method, *, max_n=10, samples=0, noise=0.2, blur=2, seed=0):
    """The heat maps of tf-keras-vis itself on a fresh ReplaceToLinear clone (the uncached path)."""
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils import normalize
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    cls = {"gradcam": Gradcam, "gradcam++": GradcamPlusPlus, "scorecam": Scorecam, "saliency": Saliency}[method]
    vis = cls(model, model_modifier=ReplaceToLinear(), clone=True)
    score = CategoricalScore(list(map(int, idx)))
    common = {"penultimate_layer": "last_conv", "seek_penultimate_conv_layer": False}
    if method == "gradcam":
        return vis(score, x, **common)
    if method == "gradcam++":
        return vis(explain._shifted(score), x, gradient_modifier=explain._relu, **common)
    if method == "scorecam":
        vis.model.predict = lambda a, batch_size=32: type(vis.model).predict(vis.model, a, batch_size=batch_size,
                                                                                verbose=0)
        return vis(score, x, max_N=max_n, **common)
    if samples == 0:  # vanilla gradients, smoothed as cam() smooths them
        g = vis(score, x, keepdims=True, normalize_map=False)
        return normalize(explain._binomial_blur(np.max(np.asarray(g), axis=-1), blur))
    # SmoothGrad with the noise cam() draws for these images (one gradient call, one seed)
    rng = np.random.RandomState(seed)
    span = x.max(axis=(1, 2, 3), keepdims=True) - x.min(axis=(1, 2, 3), keepdims=True)
    sigma = np.broadcast_to((noise * span)[None], (samples, *x.shape[:1], 1, 1, 1))
    noisy = x[None] + rng.normal(0.0, sigma, (samples, *x.shape)).astype(np.float32)
    tiled = CategoricalScore(np.tile(np.asarray(idx), samples).tolist())
    g = vis(tiled, noisy.reshape(samples * len(x), *x.shape[1:]), keepdims=True, normalize_map=False)
    g = np.asarray(g).reshape(samples, len(x), *x.shape[1:]).mean(axis=0)
    return normalize(explain._binomial_blur(np.max(g, axis=-1), blur))


def _assert_close(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    for g, w in zip(got, want):  # per image: 1e-4 of the map's range
        span = max(float(w.max() - w.min()), 1e-12)
        assert np.abs(g - w).max() <= 1e-4 * span, f"max |diff| {np.abs(g - w).max():.3g}, range {span:.3g}"


@pytest.mark.parametrize("head", ["gap", "flatten"])
@pytest.mark.parametrize("method", METHODS)
def test_cached_maps_equal_the_uncached_library_maps(models, images, head, method):
    model, idx = models[head], [0, 2, 3]
    opts = {"smooth_samples": 0} if method == "saliency" else {}
    want = _reference(model, images, idx, method)
    for _ in range(2):  # the first call builds and traces, the second reuses
        _assert_close(explain.cam(model, images, method=method, class_index=idx, layer="last_conv", **opts), want)


def test_smoothgrad_with_the_same_noise_equals_the_library(models, images):
    model, idx = models["gap"], [1, 1, 2]
    want = _reference(model, images, idx, "saliency", samples=8, seed=5)
    got = explain.cam(model, images, method="saliency", class_index=idx, smooth_samples=8, seed=5)
    _assert_close(got, want)


def test_objects_are_made_once_per_model_and_method(models, images):
    from core.models import cam_cache

    a, b = models["gap"], models["flatten"]
    explain.clear_cache()
    ex = cam_cache.explainer(a, "gradcam")
    explain.cam(a, images[:1], method="gradcam")
    explain.cam(a, images, method="gradcam", class_index=1)
    assert cam_cache.explainer(a, "gradcam") is ex
    assert explain._visualizer(a, "gradcam") is ex.vis
    others = [cam_cache.explainer(a, m) for m in ("gradcam++", "scorecam", "saliency")]
    assert len({id(e) for e in [ex, *others]}) == 4
    assert len({id(e.vis) for e in [ex, *others]}) == 4 and len({id(e.score) for e in [ex, *others]}) == 4
    assert all(e.model is ex.model for e in others), "one linear clone per model, shared by its methods"
    assert ex.model is not a and ex.vis.model is ex.model
    other_model = cam_cache.explainer(b, "gradcam")
    assert other_model is not ex and other_model.model is not ex.model
    explain.clear_cache(a)
    assert cam_cache.explainer(a, "gradcam") is not ex
    assert cam_cache.explainer(b, "gradcam") is other_model


def test_compiled_functions_trace_once_for_any_class_and_batch(models, images):
    from core.models import cam_cache

    model = models["flatten"]
    explain.clear_cache(model)
    for n, cls in ((1, 0), (3, 2), (2, 3)):
        explain.cam(model, images[:n], method="gradcam", class_index=cls, layer="last_conv")
        explain.cam(model, images[:n], method="saliency", class_index=cls, smooth_samples=4)
    gradcam = cam_cache.explainer(model, "gradcam").vis.gradients_fn("last_conv")
    saliency = cam_cache.explainer(model, "saliency").vis.gradients_fn
    assert gradcam.experimental_get_tracing_count() == 1
    assert saliency.experimental_get_tracing_count() == 1


def test_scorecam_predicts_masked_copies_in_batches(models, images):
    """Score-CAM's forward passes over the masked copies go through the clone's compiled batched
    predict, which returns what Keras' predict returns."""
    from core.models import cam_cache

    model = models["gap"]
    clone = cam_cache.explainer(model, "scorecam").model
    x = np.repeat(images, 5, axis=0)
    got = clone.predict([x], batch_size=4)
    want = type(clone).predict(clone, x, batch_size=4, verbose=0)
    assert got.shape == (15, 4)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(np.abs(want).max()))


def _trained(model, temperature):
    from pathlib import Path

    from core.data.preprocess import Preprocessing
    from core.serving.trained_model import TrainedModel

    prep = Preprocessing((SIDE, SIDE), 3, normalization="rescale")
    meta = {"class_names": list("abcd"), "preprocessing": prep.to_dict(), "calibration": {"temperature": temperature}}
    return TrainedModel(model, meta, prep, Path("unused") / "model.keras")


@pytest.mark.parametrize("temperature", [None, 1.7])
def test_predict_and_explain_matches_the_uncached_path(models, temperature):
    """Probabilities as ``TrainedModel.predict`` gives them (calibrated when the run has a temperature),
    the heat map as tf-keras-vis gives it, the model's forward pass compiled once and reused."""
    from core.serving import inference

    tm = _trained(models["gap"], temperature)
    img = (np.random.default_rng(7).uniform(0, 255, (SIDE, SIDE, 3))).astype(np.uint8)
    first = inference.predict_and_explain(tm, img, method="gradcam")
    want = np.asarray(tm.predict(img[None], calibrated=temperature is not None))[0]
    np.testing.assert_allclose(first.probs, want, rtol=1e-5, atol=1e-6)
    assert first.calibrated is (temperature is not None)
    x = tm.preprocess(img)
    ref = _reference(tm.model, x, [first.class_index], "gradcam")
    _assert_close(first.heatmap[None], ref)
    forward = inference._forward(tm.model)
    again = inference.predict_and_explain(tm, img[::-1].copy(), method="gradcam")
    assert inference._forward(tm.model) is forward and forward.experimental_get_tracing_count() == 1
    np.testing.assert_allclose(again.probs, np.asarray(tm.predict(img[None, ::-1], calibrated=temperature is not None))[0],
                               rtol=1e-5, atol=1e-6)
