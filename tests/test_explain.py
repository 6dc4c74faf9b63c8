"""CAM heatmaps on a small CNN really trained on a task where a bright square's position
decides the class: the maps must point at the square."""
from __future__ import annotations

import numpy as np
import pytest

from core.models import cam as explain
from core.validation import NotFoundError, ValidationError

SIDE = 32
SQ = 6


def make_squares(n, seed):
    """Dark noisy 32x32 gray images with a bright 6x6 square: class 0 when the square is in
    the left part (columns 1-15), class 1 in the right part (columns 17-31)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 40, (n, SIDE, SIDE, 1)).astype(np.float32)
    y = rng.integers(0, 2, n)
    boxes = []
    for i in range(n):
        r = int(rng.integers(2, SIDE - SQ - 2))
        c = int(rng.integers(1, 10)) if y[i] == 0 else int(rng.integers(17, SIDE - SQ))
        x[i, r:r + SQ, c:c + SQ] = 230
        boxes.append((r, c))
    return (x / 255.0).astype(np.float32), y, boxes


@pytest.fixture(scope="module")
def squares_model():
    """A small CNN trained to find a bright square (left: class 0, right: class 1), with 8
    held-out images, their labels and the squares' boxes."""
    import keras

    keras.utils.set_random_seed(0)
    x, y, _ = make_squares(400, seed=0)
    inp = keras.Input((SIDE, SIDE, 1))
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inp)
    h = keras.layers.MaxPooling2D(name="pool1")(h)
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="last_conv")(h)
    h = keras.layers.MaxPooling2D(name="pool2")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    out = keras.layers.Dense(2, activation="softmax", name="probs")(h)
    model = keras.Model(inp, out, name="squares_cnn")
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    xt, yt, boxes = make_squares(40, seed=1)
    acc = float((model.predict(xt, verbose=0).argmax(1) == yt).mean())
    assert acc >= 0.95, f"the test model did not learn the task (held-out accuracy {acc:.2f})"
    return model, xt[:8], yt[:8], boxes[:8]


def _inside(box, margin=0):
    r, c = box
    mask = np.zeros((SIDE, SIDE), bool)
    mask[max(r - margin, 0):r + SQ + margin, max(c - margin, 0):c + SQ + margin] = True
    return mask


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_cam_peak_lies_in_the_square(squares_model, method):
    model, x, _, boxes = squares_model
    maps = explain.cam(model, x, method=method)
    assert maps.shape == (len(x), SIDE, SIDE) and maps.dtype == np.float32
    assert maps.min() >= 0.0 and maps.max() <= 1.0
    for m, box in zip(maps, boxes):
        peak = np.unravel_index(np.argmax(m), m.shape)
        # the 16x16 map is upsampled to 32x32: allow one pixel for the interpolation
        assert _inside(box, margin=1)[peak], (method, box, peak)
        inside = _inside(box)
        assert m[inside].mean() > 3 * m[~inside].mean()


@pytest.mark.parametrize("method", ["scorecam", "saliency"])
def test_scorecam_and_saliency_focus_on_the_square(squares_model, method):
    model, x, _, boxes = squares_model
    maps = explain.cam(model, x, method=method)
    assert maps.shape == (len(x), SIDE, SIDE)
    assert maps.min() >= 0.0 and maps.max() <= 1.0
    for m, box in zip(maps, boxes):
        inside = _inside(box)
        assert m[inside].mean() > 1.5 * m[~inside].mean()


def test_saliency_is_seeded(squares_model):
    model, x, _, _ = squares_model
    a = explain.cam(model, x[:2], method="saliency", smooth_samples=8, seed=3)
    b = explain.cam(model, x[:2], method="saliency", smooth_samples=8, seed=3)
    c = explain.cam(model, x[:2], method="saliency", smooth_samples=8, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_class_index_layer_and_validation(squares_model):
    model, x, y, boxes = squares_model
    # explaining the other class changes the map; a single int applies to every image
    own = explain.cam(model, x[:2], method="gradcam", class_index=[int(y[0]), int(y[1])])
    np.testing.assert_allclose(own, explain.cam(model, x[:2], method="gradcam"), atol=1e-5)
    explain.cam(model, x[:2], method="gradcam", class_index=0)
    # an explicit layer at full resolution
    m = explain.cam(model, x[:1], method="gradcam", layer="conv1")
    assert m.shape == (1, SIDE, SIDE)
    assert explain.conv_layers(model) == ["conv1", "pool1", "last_conv", "pool2"]
    assert explain.resolve_cam_layer(model) == "last_conv"

    with pytest.raises(ValidationError, match="Did you mean 'gradcam'"):
        explain.cam(model, x, method="gradcm")
    with pytest.raises(NotFoundError, match="does not exist.*conv1, pool1, last_conv, pool2"):
        explain.cam(model, x, layer="conv9")
    with pytest.raises(NotFoundError, match="no 4-D output"):
        explain.cam(model, x, layer="flatten")
    with pytest.raises(ValidationError, match=r"\[0, 1\]"):
        explain.cam(model, x, class_index=2)
    with pytest.raises(ValidationError, match="one per image"):
        explain.cam(model, x[:3], class_index=[0, 1])
    with pytest.raises(ValidationError, match="do not fit the model input"):
        explain.cam(model, np.zeros((1, 28, 28, 1), np.float32))
    with pytest.raises(ValidationError, match="max_n"):
        explain.cam(model, x[:1], method="scorecam", max_n=0)


def test_model_is_not_mutated_and_clone_is_cached(squares_model):
    import keras

    model, x, _, _ = squares_model
    before = model.predict(x, verbose=0)
    explain.cam(model, x[:2], method="gradcam")
    assert model.get_layer("probs").activation is keras.activations.softmax
    np.testing.assert_allclose(model.predict(x, verbose=0), before, rtol=1e-6)
    v1 = explain._visualizer(model, "gradcam")
    assert explain._visualizer(model, "gradcam") is v1
    assert v1.model is not model
    # training further bumps the optimizer step: a fresh clone with the new weights
    xs, ys, _ = make_squares(32, seed=5)
    model.fit(xs, ys, epochs=1, batch_size=32, verbose=0)
    v2 = explain._visualizer(model, "gradcam")
    assert v2 is not v1
    for w_clone, w_model in zip(v2.model.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(w_clone, w_model)
    explain.clear_cache(model)
    assert explain._visualizer(model, "gradcam") is not v2


def test_concurrent_calls_share_the_cache_safely(squares_model):
    from concurrent.futures import ThreadPoolExecutor

    model, x, _, _ = squares_model
    explain.clear_cache(model)
    serial = explain.cam(model, x[:4], method="gradcam")
    explain.clear_cache(model)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda i: explain.cam(model, x[i:i + 1], method="gradcam"), range(4)))
    np.testing.assert_allclose(np.concatenate(results), serial, atol=1e-5)
    assert len(explain._cache[model]) == 1


def test_cache_does_not_keep_models_alive():
    import gc

    import keras

    inp = keras.Input((8, 8, 1))
    h = keras.layers.Flatten()(keras.layers.Conv2D(2, 3, padding="same", name="c")(inp))
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(h))
    import weakref

    explain.cam(model, np.full((1, 8, 8, 1), 0.1, np.float32), method="gradcam")
    assert model in explain._cache
    ref = weakref.ref(model)
    del model
    gc.collect()  # may also collect other tests' models: check this one, not the cache's size
    assert ref() is None


def test_overlay_shapes_and_blending():
    img = np.full((40, 50), 100, np.uint8)
    heat = np.zeros((8, 10), np.float32)
    heat[4, 5] = 1.0
    out = explain.overlay(img, heat)
    assert out.shape == (40, 50, 3) and out.dtype == np.uint8
    # alpha 0 leaves the image, alpha 1 gives the colour map (jet: 0 -> dark blue, 1 -> dark red)
    np.testing.assert_array_equal(explain.overlay(img, heat, alpha=0.0), np.full((40, 50, 3), 100))
    full = explain.overlay(img, np.ones((3, 3)), alpha=1.0)
    assert tuple(full[0, 0]) == (128, 0, 0)
    zero = explain.overlay(img, np.zeros((3, 3)), alpha=1.0)
    assert tuple(zero[0, 0]) == (0, 0, 128)
    # RGBA and H x W x 1 inputs, viridis ends
    assert explain.overlay(np.zeros((6, 7, 4), np.uint8), np.ones((6, 7))).shape == (6, 7, 3)
    assert explain.overlay(np.zeros((6, 7, 1), np.uint8), np.ones((2, 2))).shape == (6, 7, 3)
    assert tuple(explain.apply_colormap(np.array([[1.0]]), "viridis")[0, 0]) == (253, 231, 37)
    with pytest.raises(ValidationError, match="uint8"):
        explain.overlay(img.astype(np.float32) / 255, heat)
    with pytest.raises(ValidationError, match="alpha"):
        explain.overlay(img, heat, alpha=1.5)
    with pytest.raises(ValidationError, match="2-D"):
        explain.overlay(img, np.zeros((2, 2, 2)))


def test_explain_batch_on_original_images(squares_model):
    from PIL import Image

    model, x, y, boxes = squares_model
    originals = [
        (x[0, :, :, 0] * 255).astype(np.uint8),                                   # 32x32 gray
        np.asarray(Image.fromarray((x[1, :, :, 0] * 255).astype(np.uint8)).resize((64, 48))),  # other size
    ]

    def prep(batch_uint8):
        im = Image.fromarray(batch_uint8[0, :, :, 0]).resize((SIDE, SIDE), Image.BILINEAR)
        return (np.asarray(im, np.float32) / 255.0)[None, :, :, None]

    res = explain.explain_batch(model, originals, prep, method="gradcam", alpha=0.5)
    assert [r.overlay.shape for r in res] == [(32, 32, 3), (48, 64, 3)]
    assert [r.heatmap.shape for r in res] == [(SIDE, SIDE)] * 2
    assert [r.class_index for r in res] == [int(y[0]), int(y[1])]
    assert all(0.5 < r.probability <= 1.0 for r in res)
