"""Augmentation: spec validation, presets, preview determinism, what each operation does."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.data.augment import PRESETS, AugmentSpec, build_augmenter, get_preset, preview
from core.validation import ValidationError


def photo(h=48, w=64, c=3, seed=0) -> np.ndarray:
    """A smooth, asymmetric test image (gradients + a block) so every transform shows."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (h + w)], axis=-1)[..., :c]
    base[5:15, 8:20] = 255
    return base.astype(np.uint8)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(rotation=400), "The 'rotation' parameter must be a number in the range [0.0, 360.0]. Got 400 instead."),
        (dict(zoom=1.0), "The 'zoom' parameter must be a number in the range [0.0, 1.0). Got 1.0 instead."),
        (dict(width_shift=-0.1), "The 'width_shift' parameter must be a number in the range [0.0, 1.0). Got -0.1 instead."),
        (dict(random_crop=0), "The 'random_crop' parameter must be a number in the range (0.0, 1.0]. Got 0 instead."),
        (dict(brightness="0.2"), "The 'brightness' parameter must be a number. Got '0.2' (str) instead."),
        (dict(horizontal_flip="yes"), "The 'horizontal_flip' parameter must be of type bool. Got 'yes' (str) instead."),
        (dict(gaussian_noise=2), "The 'gaussian_noise' parameter must be a number in the range [0.0, 1.0]. Got 2 instead."),
        (dict(fill_mode="mirror"), "The 'fill_mode' parameter must be one of {'nearest', 'reflect', 'wrap', 'constant'}."),
    ],
)
def test_spec_validation_messages(kwargs, message):
    with pytest.raises(ValidationError) as err:
        AugmentSpec(**kwargs)
    assert message in str(err.value)


def test_from_dict_rejects_unknown_keys_and_round_trips_presets():
    with pytest.raises(ValidationError, match=r"Unknown augmentation setting\(s\) \['rotation_range'\]"):
        AugmentSpec.from_dict({"rotation_range": 20})
    for name, spec in PRESETS.items():
        back = AugmentSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
        assert back == spec, name


def test_presets_follow_the_reports():
    assert PRESETS["none"].is_identity
    a = PRESETS["report_a"]
    assert (a.rotation, a.width_shift, a.height_shift, a.shear, a.zoom, a.horizontal_flip) == (75, 0.3, 0.3, 0.2, 0.2, True)
    b = PRESETS["report_b"]
    assert (b.rotation, b.width_shift, b.height_shift, b.horizontal_flip) == (15, 0.1, 0.1, False)
    c = PRESETS["report_c"]
    assert (c.rotation, c.shear, c.zoom, c.horizontal_flip, c.width_shift) == (20, 0.1, 0.1, True, 0.0)
    d = PRESETS["report_d"]
    assert d.random_crop < 1 and d.rotation == 360 and d.horizontal_flip and d.vertical_flip
    assert d.brightness == d.contrast == 0.1 and d.gaussian_noise > 0 and d.salt_pepper > 0 and d.zoom == 0.1
    assert not any(PRESETS[n].is_identity for n in ("report_a", "report_b", "report_c", "report_d"))
    assert get_preset("report_c") == c and get_preset("report_c") is not c
    with pytest.raises(ValidationError, match="Did you mean 'report_c'"):
        get_preset("report-c")


def test_presets_are_named_by_what_they_do_and_old_names_still_work():
    from core.data.augment import PRESET_ALIASES, PRESET_INFO, preset_names
    from core.training.config import TrainConfig

    names = preset_names()
    assert names[0] == "none" and not any(n.startswith("report_") for n in names)
    for n in names:
        label, hint = PRESET_INFO[n]
        assert "report" not in label.lower()  # the name says what it does ...
        if n != "none":
            assert "as in report" in hint  # ... the report is a hint
    assert PRESET_INFO["flips_small_rotations"][0] == "Flips + small rotations"
    assert "as in report C" in PRESET_INFO["flips_small_rotations"][1]
    for old, new in PRESET_ALIASES.items():  # TrainConfig / CLI (--augment report_c) keep working
        assert get_preset(old) == get_preset(new) and old in PRESETS
        assert TrainConfig(augment=old).augment_spec() == get_preset(new)
    assert set(PRESET_ALIASES) == {"report_a", "report_b", "report_c", "report_d"}


@pytest.mark.parametrize("preset", ["report_a", "report_b", "report_c", "report_d"])
def test_preview_is_deterministic_per_seed(preset):
    img = photo()
    a = preview(img, preset, n=4, seed=3)
    b = preview(img, preset, n=4, seed=3)
    c = preview(img, preset, n=4, seed=4)
    assert len(a) == 4 and all(x.shape == img.shape and x.dtype == np.uint8 for x in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert any(not np.array_equal(x, y) for x, y in zip(a, c))
    # the n variants differ from each other and from the original
    assert len({x.tobytes() for x in a}) == 4
    assert all(not np.array_equal(x, img) for x in a)


def test_preview_grayscale_and_identity():
    g = photo(c=1)[..., 0]
    out = preview(g, "report_b", n=3, seed=0)
    assert [o.shape for o in out] == [g.shape] * 3
    same = preview(photo(), AugmentSpec(), n=2, seed=0)
    assert all(np.array_equal(s, photo()) for s in same)
    with pytest.raises(ValidationError, match="uint8"):
        preview(photo().astype(np.float32), "report_b", n=2)


def test_identity_augmenter_leaves_batches_unchanged():
    x = photo().astype(np.float32)[None].repeat(3, axis=0)
    aug = build_augmenter(AugmentSpec(fill_mode="constant"), seed=0)
    np.testing.assert_array_equal(np.asarray(aug(x, training=True)), x)


def test_flip_only_mirrors():
    img = photo()
    outs = preview(img, AugmentSpec(horizontal_flip=True), n=16, seed=0)
    mirrored = img[:, ::-1]
    assert all(np.array_equal(o, img) or np.array_equal(o, mirrored) for o in outs)
    assert any(np.array_equal(o, mirrored) for o in outs) and any(np.array_equal(o, img) for o in outs)
    outs = preview(img, AugmentSpec(vertical_flip=True), n=16, seed=0)
    assert all(np.array_equal(o, img) or np.array_equal(o, img[::-1]) for o in outs)


def test_noise_layers_have_the_requested_strength():
    grey = np.full((64, 64, 3), 128, np.uint8)
    noisy = np.stack(preview(grey, AugmentSpec(gaussian_noise=0.05), n=4, seed=0)).astype(float)
    assert abs((noisy - 128).std() - 0.05 * 255) < 0.6
    sp = np.stack(preview(grey, AugmentSpec(salt_pepper=0.1), n=4, seed=0))
    hit = (sp == 0).all(-1) | (sp == 255).all(-1)
    assert 0.08 < hit.mean() < 0.12
    assert ((sp == 128) | (sp == 0) | (sp == 255)).all()
    assert abs((sp == 0).all(-1).mean() - (sp == 255).all(-1).mean()) < 0.03


@pytest.mark.parametrize(
    "spec",
    [
        AugmentSpec(rotation=30), AugmentSpec(width_shift=0.2, height_shift=0.2), AugmentSpec(shear=0.3),
        AugmentSpec(zoom=0.3), AugmentSpec(brightness=0.3), AugmentSpec(contrast=0.5), AugmentSpec(random_crop=0.6),
    ],
    ids=["rotation", "shift", "shear", "zoom", "brightness", "contrast", "random_crop"],
)
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "layer_stack"])
def test_each_operation_changes_the_image_and_stays_in_range(spec, fused):
    img = photo()
    aug = build_augmenter(spec, seed=1, fused=fused)
    outs = np.asarray(aug(np.repeat(img[None].astype(np.float32), 8, axis=0), training=True))
    assert outs.shape == (8, *img.shape) and outs.min() >= 0 and outs.max() <= 255
    diffs = np.abs(outs - img).mean(axis=(1, 2, 3))
    assert diffs.mean() > 2.0 and (diffs > 0.05).sum() >= 6, diffs


def test_fused_and_layer_stack_augmenters_move_pixels_alike():
    """The fused RandomAffine and the stock Keras layers draw from the same distributions:
    mean displacement of a report-A augmentation is of the same size."""
    img = photo(64, 64)
    x = np.repeat(img[None].astype(np.float32), 64, axis=0)
    d = {}
    for fused in (True, False):
        out = np.asarray(build_augmenter(PRESETS["report_a"], seed=0, fused=fused)(x, training=True))
        d[fused] = np.abs(out - x).mean()
    assert 0.7 < d[True] / d[False] < 1.4, d


def test_random_crop_keeps_a_window_of_the_requested_size():
    # a horizontal ramp 0..255: a crop keeping 50% of the width spans about half the range
    ramp = np.tile(np.linspace(0, 255, 101).astype(np.uint8)[None, :, None], (101, 1, 3))
    for o in preview(ramp, AugmentSpec(random_crop=0.5), n=6, seed=2):
        span = float(o[..., 0].max()) - float(o[..., 0].min())
        assert 120 < span < 135


def test_importing_augment_does_not_import_keras_or_its_layers():
    """Specs and presets (the pages' choices) need no TensorFlow: the layers module is imported
    only when an augmenter is built."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, core.data.augment; "
            "print([m for m in ('core.data.augment_layers', 'keras', 'tensorflow') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_augmenter_layers_keep_their_registered_names_and_load_with_safe_mode(tmp_path):
    import keras

    from core.data import augment_layers

    for cls in ("RandomAffine", "RandomCropResize", "AdditiveGaussianNoise", "SaltAndPepper", "ClipPixels"):
        assert keras.saving.get_registered_name(getattr(augment_layers, cls)) == f"lab_augment>{cls}"
    aug = build_augmenter(PRESETS["report_d"], seed=0)
    fused = build_augmenter(PRESETS["report_d"], seed=0, fused=False)
    x = np.repeat(photo()[None].astype(np.float32), 2, axis=0)
    for i, a in enumerate((aug, fused)):
        a(x, training=False)  # builds the layers
        path = tmp_path / f"aug{i}.keras"
        a.save(path)
        back = keras.saving.load_model(path, safe_mode=True, compile=False)
        assert [type(layer) for layer in back.layers] == [type(layer) for layer in a.layers]
        ours = [i for i, layer in enumerate(a.layers) if type(layer).__module__ == augment_layers.__name__]
        assert len(ours) >= 3 and all(back.layers[i].get_config() == a.layers[i].get_config() for i in ours)
    assert any(isinstance(layer, augment_layers.RandomCropResize) for layer in fused.layers)
