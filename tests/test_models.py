"""core.models: exact report parameter counts, every model builds, backbone options and weights.

All builds are real Keras models; backbones use weights=None (or small local weight files),
so nothing needs the network. Big backbones are built once each, at their minimum input.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import core.models as M  # noqa: E402
from core.validation import ModelError, NotFoundError, ValidationError  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# Every registered model is covered (scikit-learn's all_estimators pattern): a newly registered
# model is built, described and checked by the parametrized tests below without editing this file.
ALL_MODELS = M.list_models()
ZOO = M.list_models(family="zoo")
BACKBONE_NAMES = M.list_models(family="backbone")


def _forward(model, shape, n=2, seed=0):
    x = np.random.default_rng(seed).uniform(0, 1, (n, *shape)).astype("float32")
    return np.asarray(model(x, training=False))


def _legacy_h5(model, path: Path) -> Path:
    """Write ``model``'s weights in Keras' legacy .h5 layout (the ImageNet files' format)."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return path


# ----------------------------------------------------------------------------- registry
def test_import_is_light_and_lists_models():
    code = ("import sys, core.models as M; names = M.list_models(); info = M.model_info('inceptionv3');"
            "print('tensorflow' in sys.modules, len(names), info['min_input_size'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", str(len(ALL_MODELS)), "75"]


def test_list_models_and_info():
    assert {"small_cnn", "report_a_baseline_cnn", "report_a_tuned_cnn", "report_b_cnn5", "report_b_concat_resnet",
            "report_e_model1", "report_e_model2", "report_e_model3"} <= set(ZOO)
    assert {"vgg16", "vgg19", "resnet50", "resnet50v2", "inceptionv3", "densenet121", "densenet201",
            "mobilenetv2", "efficientnetb0"} <= set(BACKBONE_NAMES)
    assert sorted(ZOO + BACKBONE_NAMES) == ALL_MODELS
    assert M.list_models(filter="report_e_*") == ["report_e_model1", "report_e_model2", "report_e_model3"]
    info = M.model_info("report_b_cnn5")
    assert (info["family"], info["report"], info["default_input"], info["min_input_size"]) == ("zoo", "B", (28, 28, 1), None)
    assert "dropout" in info["options"]
    v = M.model_info("vgg19")
    assert v["family"] == "backbone" and v["min_input_size"] == 32 and v["default_input"] == (224, 224, 3)
    assert "block4_conv1" in v["cut_points"] and v["default_cam_layer"] == "block5_conv4"
    assert v["preprocess_input"] == "keras.applications.vgg19.preprocess_input" and v["preprocess"] == "caffe"
    assert M.BACKBONES["inceptionv3"].min_size == 75 and M.BACKBONES["inceptionv3"].default_size == 299
    fn = M.BACKBONES["resnet50v2"].preprocess_fn()
    assert np.allclose(fn(np.array([[[[0.0, 127.5, 255.0]]]])), [[[[-1.0, 0.0, 1.0]]]])
    with pytest.raises(NotFoundError, match=r"Unknown model 'vgg17'.*Did you mean 'vgg19', 'vgg16'"):
        M.model_info("vgg17")
    with pytest.raises(ValidationError, match="'family' parameter must be one of"):
        M.list_models(family="pretrained")


@pytest.mark.parametrize("name", ALL_MODELS)
def test_every_model_describes_itself_from_one_source(name):
    """model_info's options are the builder's keyword-only parameters and their defaults;
    backbones' facts are their BACKBONES entry."""
    import inspect

    info = M.model_info(name)
    assert info["title"] and info["description"] and info["family"] in ("zoo", "backbone")
    assert len(info["default_input"]) == 3 and all(isinstance(v, int) and v > 0 for v in info["default_input"])
    params = list(inspect.signature(M.MODELS.get(name).fn).parameters.values())[1:]
    assert info["options"] == {p.name: p.default for p in params}
    assert all(p.kind is p.KEYWORD_ONLY for p in params)
    with pytest.raises(ValidationError, match=rf"Model '{name}' got unknown option\(s\) 'no_such_option'.*Accepted"):
        M.build_model(name, num_classes=2, no_such_option=1)
    if info["family"] == "backbone":
        cfg = M.BACKBONES[name]
        assert (info["min_input_size"], info["default_input"]) == (cfg.min_size, (cfg.default_size,) * 2 + (3,))
        assert (info["preprocess"], info["preprocess_input"], info["default_cam_layer"], info["cut_points"]) == (
            cfg.preprocess, cfg.preprocess_input, cfg.default_cam_layer, list(cfg.cut_points))
        assert info["heads"] and set(info["options"]) >= {"weights", "cut_layer", "head", "trainable"}
    else:
        assert info["min_input_size"] is None and name not in M.BACKBONES


def test_register_model_takes_options_from_the_signature_only():
    def good(ctx, *, dropout: float = 0.5, units: int = 8):
        return None

    assert M.builder_options(good) == {"dropout": 0.5, "units": 8}
    with pytest.raises(TypeError, match=r"option\(s\) units must be keyword-only with a default"):
        M.builder_options(lambda ctx, units=3: None)
    with pytest.raises(TypeError, match=r"option\(s\) units must be keyword-only with a default"):
        M.builder_options(lambda ctx, *, units: None)
    with pytest.raises(TypeError, match="options come from the builder's keyword-only parameters"):
        M.register_model("never_registered", options={"dropout": 0.5})
    assert "never_registered" not in M.MODELS


def test_input_and_option_validation():
    with pytest.raises(ValidationError, match=r"'input_shape'.*\(height, width, channels\).*Got \(32, 32\)"):
        M.create_model("small_cnn", input_shape=(32, 32), num_classes=3)
    with pytest.raises(ValidationError, match="'num_classes' parameter must be an int in the range"):
        M.create_model("small_cnn", input_shape=(8, 8, 1), num_classes=1)
    with pytest.raises(ValidationError, match=r"unknown option\(s\) 'dropuot'.*'dropuot' -> 'dropout'.*Accepted options"):
        M.create_model("report_b_cnn5", input_shape=(28, 28, 1), num_classes=10, dropuot=0.3)
    with pytest.raises(ValidationError, match=r"'dropout' parameter must be a number in the range \[0.0, 1.0\)"):
        M.create_model("report_a_tuned_cnn", input_shape=(8, 8, 3), num_classes=7, dropout=1.0)
    with pytest.raises(ValidationError, match="'extra_blocks' parameter must be an int"):
        M.create_model("report_a_tuned_cnn", input_shape=(8, 8, 3), num_classes=7, extra_blocks=1.5)
    with pytest.raises(ValidationError, match="'head' parameter must be one of .*'report_c'.*Got 'gap'"):
        M.create_model("vgg16", input_shape=(32, 32, 3), num_classes=3, head="gap")
    with pytest.raises(ValidationError, match="'trainable' parameter must be 'frozen', 'all' or an int N"):
        M.create_model("vgg16", input_shape=(32, 32, 3), num_classes=3, trainable="some")
    with pytest.raises(ValidationError, match="needs 1-channel .* or 3-channel"):
        M.create_model("vgg16", input_shape=(32, 32, 4), num_classes=3)
    with pytest.raises(ValidationError, match="'weights' parameter must be 'imagenet', None"):
        M.create_model("vgg16", input_shape=(32, 32, 3), num_classes=3, weights=42)


# ------------------------------------------------------------------- exact report counts
@pytest.mark.parametrize(
    "name, shape, n, total, trainable",
    [
        ("report_b_cnn5", (28, 28, 1), 10, 1_607_210, 1_605_226),
        ("report_b_concat_resnet", (32, 32, 3), 10, 1_646_858, 1_643_210),
        ("report_e_model1", (32, 32, 3), 10, 2_105_066, 2_105_066),
        ("report_e_model2", (32, 32, 3), 10, 2_105_066, 2_105_066),
        ("report_e_model3", (32, 32, 3), 10, 1_084_234, 1_084_234),
        ("report_a_tuned_cnn", (150, 120, 3), 7, 4_622_939, 4_622_939),
        ("report_a_tuned_cnn", (120, 150, 3), 7, 4_622_939, 4_622_939),  # both orientations agree
        ("report_a_baseline_cnn", (120, 150, 3), 7, 1_152_967, 1_152_967),  # "~1.15M"
    ],
)
def test_zoo_report_parameter_counts(name, shape, n, total, trainable):
    model = M.create_model(name, input_shape=shape, num_classes=n)
    assert M.count_params(model) == {"trainable": trainable, "non_trainable": total - trainable, "total": total}
    assert model.count_params() == total


def test_report_e_model2_and_3_layers():
    m2 = M.create_model("report_e_model2", input_shape=(32, 32, 3), num_classes=10)
    rates = [l.rate for l in m2.layers if isinstance(l, keras.layers.Dropout)]
    assert rates == [0.2, 0.2, 0.5]
    m3 = M.create_model("report_e_model3", input_shape=(32, 32, 3), num_classes=10)
    assert [l.negative_slope for l in m3.layers if isinstance(l, keras.layers.LeakyReLU)] == [0.1] * 5
    assert [l.rate for l in m3.layers if isinstance(l, keras.layers.Dropout)] == [0.25, 0.25, 0.5]


@pytest.mark.parametrize("name", ZOO)
@pytest.mark.parametrize("shape, n", [((8, 8, 1), 3), ((32, 32, 3), 13)])
def test_every_zoo_model_builds_at_small_inputs(name, shape, n):
    model = M.create_model(name, input_shape=shape, num_classes=n)
    y = _forward(model, shape)
    assert y.shape == (2, n) and np.allclose(y.sum(axis=1), 1.0, atol=1e-5)
    assert M.count_params(model)["trainable"] > 0
    cam = M.default_cam_layer(model)
    assert len(model.get_layer(cam).output.shape) == 4
    assert M.model_notices(model) == []


# report A's random search: units 8-64 step 7, dropout 0-0.3, 0-3 extra conv/pool/dropout blocks
@pytest.mark.parametrize("units, dropout, extra", [(8, 0.0, 0), (43, 0.2, 1), (64, 0.3, 3)],
                         ids=["smallest", "middle", "largest"])
def test_tuned_cnn_search_space(units, dropout, extra):
    m = M.create_model("report_a_tuned_cnn", input_shape=(8, 8, 3), num_classes=7, units=units,
                       dropout=dropout, dense_units=units, extra_blocks=extra)
    assert m.get_layer("conv1").filters == units and m.get_layer("dense1").units == units
    assert sum(isinstance(l, keras.layers.MaxPooling2D) for l in m.layers) == 1 + extra
    assert _forward(m, (8, 8, 3)).shape == (2, 7)


def test_small_cnn_learns_digits_quickly():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = ((d.images * 255 / 16).astype("uint8")[..., None] / 255.0).astype("float32")
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=0.25, random_state=0, stratify=d.target)
    keras.utils.set_random_seed(0)
    model = M.create_model("small_cnn", input_shape=(8, 8, 1), num_classes=10)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(xtr, ytr, epochs=5, batch_size=32, verbose=0)
    acc = float(np.mean(model.predict(xte, verbose=0).argmax(axis=1) == yte))
    assert acc > 0.9, acc
    assert M.default_cam_layer(model) == "cam_conv"


# ------------------------------------------------------------------------------ backbones
@pytest.mark.parametrize(
    "name, shape, n, opts, total, trainable",
    [
        # report B (c): VGG19 cut after block4_conv1, GAP, Dense(10), 32x32x3
        ("vgg19", (32, 32, 3), 10, {"cut_layer": "block4_conv1"}, 3_510_858, 5_130),
        # report A: VGG16 frozen + Flatten + Dense(128) + Dense(7) at 150x120
        ("vgg16", (120, 150, 3), 7, {"head": "flatten_dense"}, 15_502_151, 787_463),
        # report A: ResNet50 frozen + Flatten + Dense(128) + Dense(7) at 150x120
        ("resnet50", (150, 120, 3), 7, {"head": "flatten_dense"}, 28_831_623, 5_243_911),
        # report C: ResNet50V2 frozen + GAP + Dense(128) + Dropout + Dense(7) at 224
        ("resnet50v2", (224, 224, 3), 7, {"head": "report_c"}, 23_827_975, 263_175),
    ],
)
def test_backbone_report_parameter_counts(name, shape, n, opts, total, trainable):
    model = M.create_model(name, input_shape=shape, num_classes=n, weights=None, **opts)
    assert M.count_params(model) == {"trainable": trainable, "non_trainable": total - trainable, "total": total}


def test_report_e_vgg16_cut_at_block3_pool():
    model = M.create_model("vgg16", input_shape=(32, 32, 3), num_classes=10, cut_layer="block3_pool", head="report_e")
    names = [l.name for l in model.layers]
    assert "block3_pool" in names and "block4_conv1" not in names
    head = ["head_flatten", "head_dense1", "head_dense2", "head_dropout", "head_dense3", "head_bn", "predictions"]
    assert names[-len(head):] == head
    assert model.get_layer("head_dropout").rate == 0.3
    # VGG16 up to block3_pool: 1,735,488 frozen; head on 4x4x256: 4096*256+256 + 256*128+128 + 128*64+64 + BN(64) + 64*10+10
    assert M.count_params(model) == {"trainable": 1_090_762, "non_trainable": 1_735_488 + 128, "total": 2_826_378}


@pytest.mark.parametrize("name", BACKBONE_NAMES)
def test_every_backbone_builds_at_its_minimum_input(name):
    cfg = M.BACKBONES[name]
    shape = (cfg.min_size, cfg.min_size, 3)
    res = M.build_model(name, input_shape=shape, num_classes=4, weights=None)
    model = res.model
    assert tuple(model.output.shape) == (None, 4)  # forward passes: see the upscaling test
    names = {l.name for l in model.layers}
    assert set(cfg.cut_points) <= names
    # flat graph: backbone layers are layers of our model, no nested Model layer
    assert not any(isinstance(l, keras.Model) for l in model.layers)
    cam_shape = tuple(model.get_layer(cfg.default_cam_layer).output.shape)
    assert len(cam_shape) == 4
    cam = M.default_cam_layer(model)
    if cam_shape[1] > 1:
        assert cam == cfg.default_cam_layer
    else:  # at the minimum input the last block is 1x1: a constant CAM, so an earlier 2x2+ layer is used
        assert tuple(model.get_layer(cam).output.shape)[1] > 1
    # frozen backbone: only the GAP + Dense head trains
    feat = model.get_layer("head_gap").output.shape[-1]
    assert M.count_params(model)["trainable"] == feat * 4 + 4
    assert res.info["backbone"] == name and res.info["weights"] == "None"
    assert any("random weights" in n for n in res.notices)
    assert not any("upscales" in n for n in res.notices)


def test_small_input_is_upscaled_with_a_notice():
    # report E crashed on InceptionV3 at 32x32 ("Input size must be at least 75x75")
    res = M.build_model("inceptionv3", input_shape=(32, 32, 3), num_classes=10, weights=None)
    assert any("at least 75x75" in n and "32x32 inputs to 75x75" in n for n in res.notices)
    assert res.model.get_layer("lab_upscale").output.shape[1:3] == (75, 75)
    assert M.model_notices(res.model) == res.notices
    assert _forward(res.model, (32, 32, 3)).shape == (2, 10)


def test_grayscale_is_converted_and_saved_model_loads_in_safe_mode(tmp_path):
    res = M.build_model("vgg16", input_shape=(16, 16, 1), num_classes=3, weights=None, cut_layer="block2_pool")
    assert any("Grayscale input" in n for n in res.notices) and any("16x16 inputs to 32x32" in n for n in res.notices)
    model = res.model
    assert model.get_layer("lab_gray_to_rgb").output.shape[-1] == 3
    x = np.random.default_rng(1).uniform(0, 1, (2, 16, 16, 1)).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    assert np.allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_cut_layer_and_unknown_cut_layer():
    m = M.create_model("vgg19", input_shape=(32, 32, 3), num_classes=10, cut_layer="block4_conv1", weights=None)
    names = [l.name for l in m.layers]
    assert names[names.index("block4_conv1") + 1] == "head_gap" and "block4_conv2" not in names
    assert M.default_cam_layer(m) == "block4_conv1"  # the cfg layer block5_conv4 was cut away
    with pytest.raises(NotFoundError) as e:
        M.create_model("vgg16", input_shape=(32, 32, 3), num_classes=3, cut_layer="block4_conv9")
    msg = str(e.value)
    assert "Unknown cut_layer 'block4_conv9'" in msg and "Did you mean 'block4_conv3'" in msg
    assert "Valid layers: block1_conv1, block1_conv2, block1_pool" in msg and "Suggested cut points" in msg
    with pytest.raises(NotFoundError, match=r"Did you mean 'conv4_block6_out'.*named layers.*cut points: conv2_block3_out"):
        M.create_model("resnet50", input_shape=(32, 32, 3), num_classes=3, cut_layer="conv4_block6_outt")


def test_fine_tune_last_n_layers_keeps_batchnorm_frozen():
    m = M.create_model("vgg16", input_shape=(32, 32, 3), num_classes=3, weights=None, trainable=3)
    assert [l.name for l in m.layers if l.trainable and l.weights] == [
        "block5_conv1", "block5_conv2", "block5_conv3", "predictions"]
    r = M.create_model("resnet50", input_shape=(32, 32, 3), num_classes=3, weights=None, trainable=4)
    assert [l.name for l in r.layers if l.trainable and l.weights] == [
        "conv5_block2_3_conv", "conv5_block3_1_conv", "conv5_block3_2_conv", "conv5_block3_3_conv", "predictions"]
    assert not any(l.trainable for l in r.layers if isinstance(l, keras.layers.BatchNormalization))
    expected = sum(int(np.prod(w.shape)) for n in ("conv5_block2_3_conv", "conv5_block3_1_conv", "conv5_block3_2_conv",
                                                    "conv5_block3_3_conv", "predictions")
                   for w in r.get_layer(n).weights)
    assert M.count_params(r)["trainable"] == expected
    frozen = M.create_model("vgg16", input_shape=(32, 32, 3), num_classes=3, cut_layer="block2_pool", trainable="frozen")
    assert [l.name for l in frozen.layers if l.trainable and l.weights] == ["predictions"]
    full = M.create_model("vgg16", input_shape=(32, 32, 3), num_classes=3, cut_layer="block2_pool", trainable="all")
    assert M.count_params(full)["non_trainable"] == 0


def test_flat_graph_gradients_reach_backbone_conv_layers():
    import tensorflow as tf

    model = M.create_model("vgg16", input_shape=(32, 32, 3), num_classes=3, weights=None, cut_layer="block3_pool")
    conv = model.get_layer("block3_conv3")
    assert conv in model.layers and isinstance(conv, keras.layers.Conv2D)
    grad_model = keras.Model(model.inputs, [conv.output, model.output])
    x = tf.constant(np.random.default_rng(0).uniform(0, 1, (1, 32, 32, 3)).astype("float32"))
    with tf.GradientTape() as tape:
        fmap, probs = grad_model(x)
        score = probs[:, 0]
    grads = tape.gradient(score, fmap)
    assert grads.shape == fmap.shape and float(tf.reduce_max(tf.abs(grads))) > 0


# -------------------------------------------------------------------------------- weights
def test_imagenet_offline_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("LAB_WEIGHTS_TIMEOUT", "5")
    monkeypatch.delenv("LAB_OFFLINE", raising=False)
    with pytest.raises(ModelError) as e:
        M.create_model("vgg16", input_shape=(32, 32, 3), num_classes=3, weights="imagenet")
    msg = str(e.value)
    assert "'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5'" in msg
    assert str(tmp_path / "keras_home" / "models") in msg
    assert "weights=None" in msg and "run:<id>" in msg and ".weights.h5" in msg
    monkeypatch.setenv("LAB_OFFLINE", "1")
    with pytest.raises(ModelError, match="LAB_OFFLINE is set.*mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5"):
        M.create_model("mobilenetv2", input_shape=(96, 96, 3), num_classes=3, weights="imagenet")


def test_imagenet_weights_come_from_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("LAB_OFFLINE", "1")  # proves no download is attempted
    (tmp_path / "models").mkdir()
    keras.utils.set_random_seed(3)
    src = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    _legacy_h5(src, tmp_path / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
    res = M.build_model("vgg16", input_shape=(32, 32, 1), num_classes=3, weights="imagenet", cut_layer="block2_pool")
    assert res.info["weights"] == "imagenet"
    for name in ("block1_conv1", "block2_conv2"):
        for a, b in zip(res.model.get_layer(name).get_weights(), src.get_layer(name).get_weights()):
            assert np.array_equal(a, b)


def test_efficientnet_imagenet_scaling_matches_keras(tmp_path, monkeypatch):
    # Keras adds Rescaling(1/sqrt(stddev)) after Normalization only for weights="imagenet";
    # we load the same file last and fold that factor in: outputs must equal Keras' formula.
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("LAB_OFFLINE", "1")
    (tmp_path / "models").mkdir()
    src = keras.applications.EfficientNetB0(include_top=False, weights=None, input_shape=(32, 32, 3))
    norm = next(l for l in src.layers if isinstance(l, keras.layers.Normalization))
    mean, std = np.array([0.485, 0.456, 0.406], "float32"), np.array([0.229, 0.224, 0.225], "float32")
    w = norm.get_weights()
    w[0], w[1] = mean, std**2
    norm.set_weights(w)
    _legacy_h5(src, tmp_path / "models" / "efficientnetb0_notop.h5")
    model = M.create_model("efficientnetb0", input_shape=(32, 32, 3), num_classes=3, weights="imagenet")
    mnorm = next(l for l in model.layers if isinstance(l, keras.layers.Normalization))
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    got = np.asarray(keras.Model(model.input, mnorm.output)(x))
    expected = (x / 255.0 - mean) / np.sqrt(std**2) / np.sqrt(std)
    assert np.allclose(got, expected, atol=1e-4)


def test_local_weights_files(tmp_path):
    kw = dict(input_shape=(32, 32, 3), num_classes=4, cut_layer="block2_pool")
    keras.utils.set_random_seed(1)
    a = M.create_model("vgg16", weights=None, **kw)
    a.save_weights(tmp_path / "a.weights.h5")
    b = M.create_model("vgg16", weights=str(tmp_path / "a.weights.h5"), **kw)
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))
    # a weights file of another architecture
    with pytest.raises(ModelError, match="does not fit this model .*another architecture"):
        M.create_model("vgg16", weights=str(tmp_path / "a.weights.h5"), **{**kw, "cut_layer": "block3_pool"})
    with pytest.raises(ModelError, match="does not fit this model"):
        M.create_model("vgg16", weights=str(tmp_path / "a.weights.h5"), **{**kw, "num_classes": 5})
    # a Keras-applications style .h5 of another backbone
    other = keras.applications.VGG19(include_top=False, weights=None, input_shape=(32, 32, 3))
    _legacy_h5(other, tmp_path / "vgg19_notop.h5")
    with pytest.raises(ModelError, match="does not fit VGG16 .*another architecture"):
        M.create_model("vgg16", weights=str(tmp_path / "vgg19_notop.h5"), **kw)
    with pytest.raises(ModelError, match="does not exist"):
        M.create_model("vgg16", weights=str(tmp_path / "missing.weights.h5"), **kw)
    with pytest.raises(ValidationError, match="ending in .weights.h5, .keras or .h5"):
        M.create_model("vgg16", weights=str(tmp_path / "a.txt"), **kw)


def test_transfer_from_an_earlier_run(lab_env):
    from core.config import get_settings

    keras.utils.set_random_seed(2)
    src = M.create_model("vgg16", input_shape=(32, 32, 3), num_classes=4, weights=None, cut_layer="block2_pool")
    run_dir = get_settings().models_dir / "12"
    run_dir.mkdir(parents=True)
    src.save(run_dir / "model.keras")
    res = M.build_model("vgg16", input_shape=(32, 32, 3), num_classes=6, weights="run:12", cut_layer="block2_pool")
    for name in ("block1_conv1", "block2_conv2"):
        assert np.array_equal(res.model.get_layer(name).get_weights()[0], src.get_layer(name).get_weights()[0])
    assert any("Weights from run:12: copied 4 layers (4 of 4 backbone layers" in n and "predictions" in n
               for n in res.notices)
    # the same .keras file by path (extra backbone layers keep their initial weights)
    res2 = M.build_model("vgg16", input_shape=(32, 32, 3), num_classes=4, weights=str(run_dir / "model.keras"),
                         cut_layer="block3_pool")
    assert np.array_equal(res2.model.get_layer("block2_conv1").get_weights()[0], src.get_layer("block2_conv1").get_weights()[0])
    # block3_conv1..3 are new, and the head sees 256 instead of 128 channels
    assert any("3 backbone layers kept their initial weights" in n and "new head layers: predictions" in n
               for n in res2.notices)
    with pytest.raises(ModelError, match="no layer of .* matches the MobileNetV2 backbone"):
        M.create_model("mobilenetv2", input_shape=(32, 32, 3), num_classes=6, weights="run:12")
    with pytest.raises(ModelError, match=r"run '99' has no saved model at .*99.model\.keras"):
        M.create_model("vgg16", input_shape=(32, 32, 3), num_classes=6, weights="run:99")
    with pytest.raises(ValidationError, match="run id made of letters"):
        M.create_model("vgg16", input_shape=(32, 32, 3), num_classes=6, weights="run:../12")


def test_default_cam_layer_prefers_maps_larger_than_1x1():
    big = M.create_model("mobilenetv2", input_shape=(96, 96, 3), num_classes=3)
    assert M.default_cam_layer(big) == "out_relu"  # 3x3 map: the configured layer
    small = M.create_model("mobilenetv2", input_shape=(32, 32, 3), num_classes=3)
    cam = M.default_cam_layer(small)  # out_relu is 1x1 here
    assert cam != "out_relu" and small.get_layer(cam).output.shape[1] == 2
    cnn = M.create_model("report_b_cnn5", input_shape=(8, 8, 1), num_classes=3)
    assert M.default_cam_layer(cnn) == "bn3"  # 2x2; conv4/conv5 see 1x1 maps
    assert M.default_cam_layer(M.create_model("report_b_cnn5", input_shape=(28, 28, 1), num_classes=10)) == "bn5"


def test_count_params_and_cam_layer_on_plain_models():
    inp = keras.Input((4,))
    m = keras.Model(inp, keras.layers.Dense(2)(inp))
    assert M.count_params(m) == {"trainable": 10, "non_trainable": 0, "total": 10}
    with pytest.raises(ModelError, match="no layer with a 4D"):
        M.default_cam_layer(m)
