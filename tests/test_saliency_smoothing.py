"""Saliency maps are smoothed: SmoothGrad (and vanilla gradients) must not draw a regular dot lattice.

A small_cnn really trained on a HAM10000 subset at 64x64 has a stride-2 stem convolution; the
gradient of a 3x3 / stride-2 convolution reaches the pixels of one parity through more kernel
taps than the others, so |d score / d input| carries a period-2 checkerboard (a spectral peak at
0.5 cycles per model-input pixel) that averaging over noisy copies does not remove. Upsampled to
a 600x450 upload it is a dot lattice (18.75 x 14 px cells) over the whole image.

The test runs the Predict page's own path (core.serving.inference.decode_upload + predict_and_explain) on an
original 600x450 HAM10000 photograph and looks for an isolated peak in the 2-D spectrum of the
map (at 64x64, resized to the upload, and in the overlay's colour layer) among periods of 2-4
model-input pixels: the peak's magnitude over the largest of its neighbours. Measured here:
before the fix 28 (64x64 map), 23 (resized), 13.5 (overlay, worst channel); after it about 1.0,
0.9, 1.3. The bound, 4, leaves a wide margin on both sides.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

SIDE = 64
LATTICE_BOUND = 4.0
HAM_IMAGE = ("mel", "ISIC_0025248.jpg")  # an original 600x450 dermatoscopic photograph


def lattice_score(heatmap: np.ndarray, src_side: int = SIDE, half: int = 4) -> tuple[float, tuple[float, float]]:
    """How far the strongest isolated spectral peak at high frequency stands out.

    Among the frequencies with a period of 2 to 4 model-input pixels (max(|fy|, |fx|) in
    [0.25, 0.5] cycles per model-input pixel, where a stride lattice lives and a smooth map has
    little energy), each spectral magnitude is divided by the largest magnitude in the ring of
    frequency bins around it (distance 2 to ``half`` bins; the Hann window spreads a peak over
    +-1 bin). A lattice is a lone peak: many times its neighbours. A smooth map's spectrum has
    no such peak: the ratio stays near 1. Returns the largest ratio and where it is (cycles per
    model-input pixel). Works on the map at the model's resolution or on a resized copy."""
    m = np.asarray(heatmap, dtype=np.float64)
    h, w = m.shape
    win = np.outer(np.hanning(h), np.hanning(w))  # no leakage from the map's edges
    m = (m - (m * win).sum() / win.sum()) * win
    mag = np.abs(np.fft.fft2(m))
    fy = np.fft.fftfreq(h)[:, None] * h / src_side * np.ones((1, w))
    fx = np.fft.fftfreq(w)[None, :] * w / src_side * np.ones((h, 1))
    r = np.maximum(np.abs(fy), np.abs(fx))
    band = (r >= 0.25) & (r <= 0.5 + 1e-9)
    k = 2 * half + 1
    neighbourhoods = sliding_window_view(np.pad(mag, half, mode="wrap"), (k, k))[band]  # (n, k, k)
    ring = np.ones((k, k), bool)
    ring[half - 1:half + 2, half - 1:half + 2] = False
    ratio = mag[band] / (neighbourhoods[:, ring].max(axis=1) + 1e-12 * mag.max())
    i = int(np.argmax(ratio))
    return float(ratio[i]), (float(fy[band][i]), float(fx[band][i]))


@pytest.fixture(scope="module")
def ham_model(shared_datasets, tmp_path_factory):
    from core.serving.trained_model import load_trained
    from core.training.config import TrainConfig
    from core.training.engine import train

    root = shared_datasets / "ham10000"
    out = tmp_path_factory.mktemp("ham_small_cnn")
    cfg = TrainConfig(
        dataset={"name": "ham10000", "params": {"path": str(root / "reduced_200x150"),
                                                "metadata_csv": str(root / "HAM10000_metadata.csv"),
                                                "max_per_class": 30}},
        model="small_cnn", input_size=[SIDE, SIDE], epochs=2, batch_size=32, seed=0,
    )
    train(cfg, out_dir=out)
    tm = load_trained(out)  # the saved run, as the Predict page loads it
    assert tm.model.get_layer("stem_conv").strides == (2, 2)  # the case of the issue
    yield tm
    from core.models import cam as explain

    explain.clear_cache(tm.model)


@pytest.fixture(scope="module")
def upload(shared_datasets, ham_model):
    from core.serving.inference import decode_upload

    path = Path(shared_datasets) / "ham10000" / "images" / HAM_IMAGE[0] / HAM_IMAGE[1]
    decoded = decode_upload(path.name, path.read_bytes(), ham_model.meta)
    assert decoded.ok, decoded.error
    assert decoded.image.shape[:2] == (450, 600)
    return decoded.image


def test_smoothgrad_on_a_ham10000_upload_has_no_dot_lattice(ham_model, upload):
    from core.models import cam as explain
    from core.serving.inference import predict_and_explain

    res = predict_and_explain(ham_model, upload, method="saliency", alpha=0.45)
    heat = res.heatmap
    assert heat.shape == (SIDE, SIDE) and res.overlay.shape == (450, 600, 3)
    assert 0.0 <= heat.min() and heat.max() <= 1.0 and heat.max() - heat.min() > 0.5  # a real map

    score, where = lattice_score(heat)
    assert score < LATTICE_BOUND, f"saliency map: lattice peak {score:.1f}x its neighbours at {where}"

    # what the user sees: the map resized to the upload and blended onto it
    shown = explain._resize_map(heat, upload.shape[:2])
    score_shown, where_shown = lattice_score(shown)
    assert score_shown < LATTICE_BOUND, f"displayed map: lattice peak {score_shown:.1f}x its neighbours at {where_shown}"
    colour = res.overlay.astype(np.float64) - 0.55 * upload.astype(np.float64)  # the alpha-0.45 colour layer
    for c, channel in enumerate("RGB"):
        score_c, where_c = lattice_score(colour[..., c])
        assert score_c < LATTICE_BOUND, f"overlay {channel}: lattice peak {score_c:.1f}x its neighbours at {where_c}"


def test_vanilla_gradients_are_smoothed_too_and_the_blur_can_be_turned_off(ham_model, upload):
    from core.models import cam as explain

    x = ham_model.preprocess(upload)
    vanilla = explain.cam(ham_model.model, x, method="saliency", smooth_samples=0)[0]
    assert lattice_score(vanilla)[0] < LATTICE_BOUND
    # without the smoothing the stride-2 checkerboard is there: the score detects it
    raw = explain.cam(ham_model.model, x, method="saliency", smooth_blur=0)[0]
    score, (fy, fx) = lattice_score(raw)
    assert score > 2 * LATTICE_BOUND and max(abs(fy), abs(fx)) == pytest.approx(0.5)


def test_binomial_blur_removes_the_period_2_pattern_and_keeps_smooth_structure():
    from core.models.cam import _binomial_blur

    yy, xx = np.mgrid[:SIDE, :SIDE].astype(np.float32)
    smooth = np.exp(-((yy - 30) ** 2 + (xx - 20) ** 2) / (2 * 8.0 ** 2))
    checker = 0.3 * ((yy + xx) % 2) + 0.3 * (yy % 2)
    out = _binomial_blur((smooth + checker)[None], 2)[0]
    # interior: the checkerboard is reduced to its mean, the blob kept
    inner = (slice(4, -4), slice(4, -4))
    np.testing.assert_allclose(out[inner] - 0.3, _binomial_blur(smooth[None], 2)[0][inner], atol=1e-5)
    assert np.abs(_binomial_blur(smooth[None], 2)[0] - smooth).max() < 0.02
    np.testing.assert_array_equal(_binomial_blur(smooth[None], 0)[0], smooth)
