"""Preprocessing: normalisation numbers by hand, channels, resize, apply_tf == apply_np, JSON."""
from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_digits

from core.data.preprocess import Preprocessing, backbone_preprocess_mode, fit_preprocessing
from core.datasets.base import Dataset
from core.models import BACKBONES, list_models
from core.validation import ValidationError


def one_image(values, shape=(2, 2, 3)) -> np.ndarray:
    return np.asarray(values, dtype=np.uint8).reshape(shape)


def test_rescale_divides_by_255():
    img = one_image([0, 51, 102, 255], (2, 2, 1))
    out = Preprocessing((2, 2), 1, "rescale").apply_np(img)
    assert out.shape == (1, 2, 2, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out.ravel(), [0.0, 0.2, 0.4, 1.0], atol=1e-7)


def test_minmax_uses_training_min_and_max():
    rng = np.random.default_rng(0)
    imgs = rng.integers(10, 211, size=(20, 4, 4, 1), dtype=np.uint8)
    imgs[0, 0, 0, 0], imgs[1, 1, 1, 0] = 10, 210
    ds = Dataset(name="t", class_names=["a"], ids=[str(i) for i in range(20)], labels=np.zeros(20, int), images=imgs)
    prep = fit_preprocessing(ds, input_size=(4, 4), channels=1, normalization="minmax")
    assert (prep.min_value, prep.max_value) == (10.0, 210.0)
    test_img = one_image([10, 110, 210, 250], (2, 2, 1))
    out = Preprocessing((2, 2), 1, "minmax", min_value=10, max_value=210).apply_np(test_img)
    np.testing.assert_allclose(out.ravel(), [0.0, 0.5, 1.0, 1.2], atol=1e-6)


def test_per_image_mean_subtracts_each_images_mean_and_divides_by_255():
    a = one_image([0, 100, 200, 100], (2, 2, 1))
    b = one_image([50, 50, 50, 50], (2, 2, 1))
    out = Preprocessing((2, 2), 1, "per_image_mean").apply_np(np.stack([a, b]))
    np.testing.assert_allclose(out[0].ravel(), np.array([-100, 0, 100, 0]) / 255.0, atol=1e-6)
    np.testing.assert_allclose(out[1], 0.0, atol=1e-7)


def test_backbone_modes_match_keras_applications_by_hand():
    px = one_image([10, 20, 30] * 4)  # RGB (10, 20, 30) everywhere
    caffe = Preprocessing((2, 2), 3, "backbone", "vgg16").apply_np(px)[0, 0, 0]
    np.testing.assert_allclose(caffe, [30 - 103.939, 20 - 116.779, 10 - 123.68], atol=1e-4)  # BGR, mean-centred
    tf_mode = Preprocessing((2, 2), 3, "backbone", "resnet50v2").apply_np(one_image([0, 255, 51] * 4))[0, 0, 0]
    np.testing.assert_allclose(tf_mode, [-1.0, 1.0, 51 / 127.5 - 1], atol=1e-6)
    torch = Preprocessing((2, 2), 3, "backbone", "densenet121").apply_np(px)[0, 0, 0]
    expected = (np.array([10, 20, 30]) / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(torch, expected, atol=1e-5)
    eff = Preprocessing((2, 2), 3, "backbone", "efficientnetb0").apply_np(px)[0, 0, 0]
    np.testing.assert_allclose(eff, [10, 20, 30])
    none = Preprocessing((2, 2), 3, "none").apply_np(px)[0, 0, 0]
    np.testing.assert_allclose(none, [10, 20, 30])


@pytest.mark.parametrize("backbone", list_models(family="backbone"))
def test_every_backbone_preprocesses_with_its_own_keras_function(backbone):
    """Every registered backbone (its BACKBONES entry is the one source): normalization='backbone'
    gives the numbers of its keras.applications preprocess_input."""
    cfg = BACKBONES[backbone]
    assert backbone_preprocess_mode(backbone) == cfg.preprocess in ("caffe", "tf", "torch", "none")
    px = np.random.default_rng(0).integers(0, 256, size=(3, 3, 3), dtype=np.uint8)
    got = Preprocessing((3, 3), 3, "backbone", backbone).apply_np(px)[0]
    expected = np.asarray(cfg.preprocess_fn()(px.astype(np.float32)[None]), dtype=np.float32)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def test_grayscale_to_rgb_and_back():
    gray = one_image([0, 60, 120, 255], (2, 2, 1))
    rgb = Preprocessing((2, 2), 3, "none").apply_np(gray)
    assert rgb.shape == (1, 2, 2, 3)
    for c in range(3):
        np.testing.assert_array_equal(rgb[0, ..., c], gray[..., 0])
    red = one_image([255, 0, 0] * 4)
    g = Preprocessing((2, 2), 1, "none").apply_np(red)
    assert g.shape == (1, 2, 2, 1)
    np.testing.assert_allclose(g, round(0.2989 * 255))  # ITU-R 601 luma, rounded as uint8
    # a 2-D array is one grayscale image; RGBA drops alpha
    assert Preprocessing((2, 2), 3, "none").apply_np(gray[..., 0]).shape == (1, 2, 2, 3)
    rgba = np.concatenate([red, np.full((2, 2, 1), 7, np.uint8)], axis=-1)
    np.testing.assert_array_equal(Preprocessing((2, 2), 3, "none").apply_np(rgba)[0], red)


@pytest.mark.parametrize("size", [(7, 13), (300, 5), (28, 28), (1, 1)])
def test_resize_to_arbitrary_sizes_keeps_constant_images_constant(size):
    img = np.full((30, 40, 3), 77, np.uint8)
    out = Preprocessing(size, 3, "none").apply_np(img)
    assert out.shape == (1, *size, 3)
    np.testing.assert_allclose(out, 77.0)


def test_downscaling_is_antialiased():
    checker = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)[..., None]
    out = Preprocessing((16, 16), 1, "none").apply_np(checker)
    # an anti-aliased 4x reduction averages the checkerboard to mid-grey
    assert abs(out.mean() - 127.5) < 1.0 and out.std() < 2.0


@pytest.mark.parametrize("prep", [
    Preprocessing((32, 32), 3, "rescale"),
    Preprocessing((17, 50), 1, "minmax", min_value=3, max_value=250),
    Preprocessing((40, 40), 3, "per_image_mean"),
    Preprocessing((32, 32), 3, "backbone", "vgg16"),
    Preprocessing((32, 32), 3, "backbone", "densenet201"),
    Preprocessing((37, 23), 3, "none"),
], ids=["rescale", "minmax_grey", "per_image_mean", "vgg16", "densenet201", "none"])
def test_apply_tf_equals_apply_np_for_every_mode(prep):
    import tensorflow as tf

    rng = np.random.default_rng(1)
    batch = rng.integers(0, 256, size=(5, 37, 23, 3), dtype=np.uint8)
    via_tf = prep.apply_tf(tf.constant(batch)).numpy()
    via_np = prep.apply_np(batch)
    np.testing.assert_array_equal(via_tf, via_np)
    single = prep.apply_np(batch[2])  # one image -> batch of one, same numbers
    np.testing.assert_array_equal(single[0], via_np[2])
    # inside a tf.function (as in tf.data) the numbers do not change either
    graph = tf.function(prep.apply_tf)(tf.constant(batch)).numpy()
    np.testing.assert_allclose(graph, via_np, atol=1e-5)


@pytest.mark.parametrize("prep", [
    Preprocessing((150, 120), 3, "minmax", min_value=0.0, max_value=251.0),
    Preprocessing((224, 224), 3, "backbone", "resnet50v2"),
    Preprocessing((28, 28), 1, "per_image_mean"),
], ids=["minmax", "resnet50v2", "per_image_mean_grey"])
def test_json_round_trip(prep):
    back = Preprocessing.from_dict(json.loads(json.dumps(prep.to_dict())))
    assert back == prep
    assert back.input_size == prep.input_size and isinstance(back.input_size, tuple)


def test_fit_preprocessing_other_modes_learn_nothing():
    dg = load_digits()
    imgs = (dg.images * 255 / 16).round().astype(np.uint8)[:50, ..., None]
    ds = Dataset(name="digits", class_names=list("0123456789"), ids=[str(i) for i in range(50)],
                 labels=dg.target[:50], images=imgs)
    prep = fit_preprocessing(ds, input_size=(12, 12), channels=3, normalization="rescale")
    assert prep == Preprocessing((12, 12), 3, "rescale")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(input_size=(32, 32), channels=2), "The 'channels' parameter must be one of {1, 3}. Got 2 instead."),
        (dict(input_size=(32, 32), normalization="rescal"), "Did you mean 'rescale'?"),
        (dict(input_size=(0, 32)), "The 'input_size[0]' parameter must be an int in the range [1, 8192]. Got 0 instead."),
        (dict(input_size=(32,)), "must be a pair (height, width)"),
        (dict(input_size=(32, 32), normalization="backbone"), "The 'backbone' parameter is required"),
        (dict(input_size=(32, 32), normalization="backbone", backbone="vgg17"), "Got 'vgg17' instead. Did you mean"),
        (dict(input_size=(32, 32), channels=1, normalization="backbone", backbone="vgg16"), "needs channels=3"),
        (dict(input_size=(32, 32), normalization="minmax"), "use fit_preprocessing"),
        (dict(input_size=(32, 32), normalization="minmax", min_value=5, max_value=5), "greater than 'min_value'"),
    ],
)
def test_bad_settings_raise_clear_messages(kwargs, message):
    with pytest.raises(ValidationError) as err:
        Preprocessing(**kwargs)
    assert message in str(err.value)


def test_bad_inputs_raise_clear_messages():
    prep = Preprocessing((8, 8), 3, "rescale")
    with pytest.raises(ValidationError, match="Got shape"):
        prep.apply_np(np.zeros((1, 2, 3, 4, 5), np.uint8))
    with pytest.raises(ValidationError, match=r"values in \[0, 255\]"):
        prep.apply_np(np.full((4, 4, 3), 300, np.int32))
    with pytest.raises(ValidationError, match="Unknown preprocessing key"):
        Preprocessing.from_dict({"input_size": [8, 8], "chanels": 3})
