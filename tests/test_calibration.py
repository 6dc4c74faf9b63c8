"""Temperature scaling (core.metrics.calibration): fitted on synthetic over-confident scores, and on a
real tiny digits training, stored with the run, applied on Predict and in evaluation."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.metrics.calibration import (
    apply_temperature,
    calibration_meta,
    calibration_report,
    fit_temperature,
    nll,
)
from core.metrics.classification import calibration_bins
from core.serving.trained_model import load_calibration
from core.validation import ValidationError


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _overconfident(t_true: float, n: int = 4000, k: int = 5, seed: int = 0):
    """Labels drawn from softmax(z); the 'model' reports softmax(z * t_true): over-confident by t_true."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.5, size=(n, k))
    p_true = _softmax(z)
    y = np.array([rng.choice(k, p=row) for row in p_true])
    return z * t_true, _softmax(z * t_true), y


# ---------------------------------------------------------------- unit
@pytest.mark.parametrize("t_true", [0.5, 2.5])
def test_fit_recovers_the_temperature_from_probs_and_logits(t_true):
    logits, probs, y = _overconfident(t_true)
    t_probs = fit_temperature(probs, y)
    t_logits = fit_temperature(logits, y, from_probs=False)
    assert t_probs > 0 and t_probs == pytest.approx(t_true, rel=0.1)
    assert t_logits == pytest.approx(t_probs, rel=1e-3)  # log p differs from the logits by a row constant


def test_temperature_keeps_the_argmax_and_lowers_the_fitting_nll():
    _, probs, y = _overconfident(3.0, seed=1)
    t = fit_temperature(probs, y)
    after = apply_temperature(probs, t)
    np.testing.assert_array_equal(after.argmax(axis=1), probs.argmax(axis=1))
    np.testing.assert_allclose(after.sum(axis=1), 1.0, atol=1e-12)
    assert nll(after, y) <= nll(probs, y)
    assert calibration_bins(y, after)["ece"] < calibration_bins(y, probs)["ece"]
    np.testing.assert_allclose(apply_temperature(probs, 1.0), probs, atol=1e-9)


def test_bad_temperatures_and_inputs_are_refused():
    with pytest.raises(ValidationError, match="positive finite"):
        apply_temperature(np.full((2, 2), 0.5), 0.0)
    with pytest.raises(ValidationError, match="at least 2 classes"):
        apply_temperature(np.ones((3, 1)), 1.0)


def test_too_small_or_one_class_validation_is_skipped_with_a_note():
    _, probs, y = _overconfident(2.0, n=200)
    small = calibration_meta(probs[:10], y[:10])
    assert small["temperature"] is None and "10 images" in small["note"]
    one = calibration_meta(probs[:50], np.zeros(50, dtype=int))
    assert one["temperature"] is None and "one class" in one["note"]
    ok = calibration_meta(probs, y)
    assert ok["temperature"] > 1 and ok["n"] == 200 and ok["fitted_on"] == "validation"
    assert ok["nll_val_after"] <= ok["nll_val_before"] and ok["cv_nll_fitted"] < ok["cv_nll_uncalibrated"]


def test_a_temperature_that_does_not_generalise_is_not_applied():
    # nearly perfect validation predictions: a fit would sharpen without limit on 2 errors
    _, probs, y = _overconfident(2.0, n=300)
    few = probs.argmax(axis=1)
    few[:2] = (few[:2] + 1) % probs.shape[1]
    got = calibration_meta(probs, few)
    assert got["temperature"] is None and got["val_errors"] == 2 and "only 2 of 300" in got["note"]
    # already calibrated scores (labels drawn from them): T ~ 1 does not lower the held-out NLL
    _, probs, y = _overconfident(1.0, n=300, seed=2)
    got = calibration_meta(probs, y)
    assert got["temperature"] is None and got["temperature_fitted"] == pytest.approx(1.0, abs=0.15)
    assert got["cv_nll_fitted"] > got["cv_nll_uncalibrated"] and "not applied" in got["note"]


def test_report_has_paired_intervals_around_the_points():
    _, probs, y = _overconfident(2.0, n=600, seed=2)
    rep = calibration_report(y, probs, fit_temperature(probs, y), n_bootstrap=100)
    for side in ("before", "after"):
        d = rep[side]
        for m in ("ece", "accuracy", "log_loss"):
            lo, hi = d[f"ci_{m}"]
            assert lo <= d[m] <= hi, (side, m)
        for a, (lo, hi), c in zip(d["bins"]["accuracy"], d["bins"]["accuracy_ci"], d["bins"]["count"], strict=True):
            assert (a is None) == (c == 0) and (a is None or lo <= a <= hi)
    assert rep["before"]["accuracy"] == rep["after"]["accuracy"]
    assert rep["ci_ece_change"][1] < 0  # the improvement is clear on 600 samples
    json.dumps(rep, allow_nan=False)  # plain JSON


# ---------------------------------------------------------------- a real run
@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    from core.training.config import TrainConfig
    from core.training.engine import train

    out = tmp_path_factory.mktemp("calib_run")
    # 2 epochs on all of digits: ~87% accurate but under-confident (test ECE ~0.35), so T < 1 clearly helps;
    # a smaller subset (max_per_class=50) is barely trained and its temperature is rightly not applied
    cfg = TrainConfig(dataset={"name": "digits", "params": {}}, model="small_cnn", epochs=2, batch_size=32, seed=0)
    return train(cfg, out_dir=out, n_bootstrap=50), out


def test_training_stores_the_temperature_and_calibration_json(digits_run):
    res, out = digits_run
    meta = json.loads((out / "meta.json").read_text())
    cal = meta["calibration"]
    assert cal["fitted_on"] == "validation" and cal["n"] == res.meta["n_val"] >= 20
    assert cal["temperature"] > 0 and cal["nll_val_after"] <= cal["nll_val_before"] + 1e-12
    rep = load_calibration(out)
    assert rep == json.loads((out / "calibration.json").read_text()) and rep["temperature"] == cal["temperature"]
    assert rep["n"] == len(res.predictions)
    for side in ("before", "after"):
        lo, hi = rep[side]["ci_ece"]
        assert lo <= rep[side]["ece"] <= hi
    assert rep["after"]["ece"] < rep["before"]["ece"] and rep["after"]["log_loss"] < rep["before"]["log_loss"]
    assert rep["before"]["accuracy"] == rep["after"]["accuracy"] == pytest.approx(res.summary["accuracy"])
    # evaluation.json stays the model's own probabilities
    ev = json.loads((out / "evaluation.json").read_text())
    assert ev["summary"]["ece"] == pytest.approx(rep["before"]["ece"], abs=1e-9)
    from core.analysis import plots

    fig = plots.calibration_before_after(rep)
    assert len(fig.data) == 4 and "ECE" in fig.layout.annotations[0].text


def test_loaded_model_predicts_calibrated_on_request_and_on_the_predict_path(digits_run):
    res, out = digits_run
    from core.datasets import load_dataset
    from core.serving.inference import predict_and_explain
    from core.serving.trained_model import load_trained

    tm = load_trained(out)
    t = tm.temperature
    assert t == res.meta["calibration"]["temperature"]
    images = load_dataset("digits").subset(res.predictions["id"].to_numpy()[:8]).images
    raw = tm.predict(images)
    stored = res.predictions[[c for c in res.predictions if c.startswith("p_")]].to_numpy()[:8]
    np.testing.assert_allclose(raw, stored, atol=1e-5)  # default: the stored, uncalibrated probabilities
    np.testing.assert_allclose(tm.predict(images, calibrated=True), apply_temperature(raw, t), atol=1e-12)
    img = np.asarray(images[0])
    got = predict_and_explain(tm, img)
    assert got.calibrated and got.temperature == t and "calibrated" in got.calibration_note
    np.testing.assert_allclose(got.probs, apply_temperature(tm.predict(img[None]), t)[0], atol=1e-9)
    tta = predict_and_explain(tm, img, tta=True)
    np.testing.assert_allclose(tta.probs, tm.predict(img[None], tta=True, calibrated=True)[0], atol=1e-9)
    plain = predict_and_explain(tm, img, calibrated=False)
    assert not plain.calibrated and "uncalibrated" in plain.calibration_note
    # a run without a temperature (older meta) predicts as before
    tm.meta = {k: v for k, v in tm.meta.items() if k != "calibration"}
    old = predict_and_explain(tm, img)
    assert not old.calibrated and old.temperature is None and "no temperature" in old.calibration_note


def test_evaluate_saved_can_apply_the_temperature(digits_run):
    _, out = digits_run
    from core.serving.trained_model import evaluate_saved

    rep = load_calibration(out)
    ev = evaluate_saved(out, n_bootstrap=0, calibrated=True)
    assert ev["calibrated"] is True
    assert ev["summary"]["ece"] == pytest.approx(rep["after"]["ece"], abs=1e-6)
    assert ev["summary"]["accuracy"] == pytest.approx(rep["after"]["accuracy"])


def test_predict_page_says_the_probabilities_are_calibrated(trained):
    from lab_pages_support import app_at, digit_png, problems

    at = app_at("predict")
    data, _ = digit_png(0)
    at.file_uploader(key="p_files").set_value(("digit.png", data, "image/png")).run()
    assert problems(at) == []
    import os
    from pathlib import Path

    from core.metrics.calibration import temperature_of
    from core.serving.inference import calibration_note

    rid = at.selectbox(key="p_run").value
    meta = json.loads((Path(os.environ["LAB_MODELS_DIR"]) / str(rid) / "meta.json").read_text())
    t = temperature_of(meta)  # these shared runs may or may not have a temperature applied
    assert any(c.value == calibration_note(t, t is not None) for c in at.caption), [c.value for c in at.caption]


# ---------------------------------------------------------------- test-time augmentation
def test_tta_averages_the_flipped_images_and_evaluates(digits_run):
    res, out = digits_run
    from core.datasets import load_dataset
    from core.serving.trained_model import evaluate_saved, load_trained, tta_views

    tm = load_trained(out)
    images = np.asarray(load_dataset("digits").subset(res.predictions["id"].to_numpy()[:6]).images)
    np.testing.assert_allclose(tm.predict(images, tta=()), tm.predict(images), atol=1e-6)
    flipped = images[:, :, ::-1]  # 8x8 input, no resize: flipping before or after preprocessing is the same
    want = (tm.predict(images) + tm.predict(flipped)) / 2
    np.testing.assert_allclose(tm.predict(images, tta=["hflip"]), want, atol=1e-5)
    both = tm.predict(images, tta=True, calibrated=True)
    assert both.shape == want.shape and np.allclose(both.sum(axis=1), 1.0)
    with pytest.raises(ValidationError, match="Unknown test-time augmentation view 'zoom'"):
        tta_views(["zoom"])
    ev = evaluate_saved(out, n_bootstrap=0, tta=["rot+10", "rot-10"])
    assert ev["tta"] == ["rot+10", "rot-10"] and ev["summary"]["n_samples"] == len(res.predictions)
    assert sorted(ev["predictions"]["id"]) == sorted(res.predictions["id"])
