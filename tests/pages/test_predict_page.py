"""The Predict page (AppTest, real finished runs): an upload gives probabilities, an overlay and
a download, with other explanation methods and target classes; a fundus model puts "Research use
only — not a diagnosis" at the top and beside every prediction, warns about an upload that does
not look like a fundus photo and hints at low confidence; a general model has no per-prediction
notice."""
from __future__ import annotations

import re

import numpy as np
import pytest

from lab_pages_support import app_at, digit_png, lab_environ, make_finished_runs, png, problems

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("page_jobs_cleanup")]


@pytest.fixture(scope="module")
def fundus_run(shared_datasets, tmp_path_factory):
    """A tiny fundus run (6 photos per grade, 32x32, 1 epoch) in a store of its own, made once
    for the module. Returns {"root", "id", "folder"}."""
    folder = shared_datasets / "fundus"
    root = tmp_path_factory.mktemp("fundus")
    (rid,) = make_finished_runs(root, [{
        "name": "fundus tiny", "dataset": {"name": "fundus", "params": {"path": str(folder), "max_per_class": 6}},
        "input_size": [32, 32], "epochs": 1, "batch_size": 16,
        "split": {"val_ratio": 0.2, "test_ratio": 0.3, "seed": 0, "grouped": "auto"}}])
    return {"root": root, "id": rid, "folder": folder}


@pytest.fixture()
def fundus(fundus_run, monkeypatch):
    """The fundus run, with the environment pointing at its store for one test."""
    for k, v in lab_environ(fundus_run["root"]).items():
        monkeypatch.setenv(k, v)
    return fundus_run


def _predictions(at) -> list[float]:
    out = []
    for m in at.markdown:
        hit = re.search(r"\*\*Prediction: .*\*\* \(([0-9.]+)%\)", str(m.value))
        if hit:
            out.append(float(hit.group(1)) / 100)
    return out


def test_upload_gives_probabilities_and_overlay(trained):
    at = app_at("predict")
    data, label = digit_png(0)
    at.file_uploader(key="p_files").set_value(("digit.png", data, "image/png")).run()
    assert problems(at) == []
    assert len(at.image) >= 2  # the upload and its overlay
    assert any("Prediction:" in m.value for m in at.markdown)
    assert len(at.get("download_button")) >= 1
    # another method and target class keep working
    at.selectbox(key="p_method").set_value("gradcam++").run()
    at.selectbox(key="p_target").set_value(at.selectbox(key="p_target").options[2]).run()
    assert problems(at) == []
    assert len(at.image) >= 2


def test_fundus_model_shows_research_notice(fundus):
    """A model of the fundus domain: the Predict page says 'Research use only — not a
    diagnosis' next to the prediction, and warns when an upload does not look like a fundus photo."""
    at = app_at("predict", {"run": str(fundus["id"])})
    assert problems(at) == []
    assert any("not a diagnosis" in w.value for w in at.warning)
    photo = next((fundus["folder"] / "images").rglob("*.jp*g")).read_bytes()
    white = png(np.full((600, 600, 3), 255, np.uint8))
    at.file_uploader(key="p_files").set_value([("eye.jpg", photo, "image/jpeg"), ("white.png", white, "image/png")]).run()
    assert problems(at) == []
    assert sum("Prediction:" in m.value for m in at.markdown) == 2
    assert any("white.png" in w.value and "brightness" in w.value for w in at.warning)
    assert not any("eye.jpg" in w.value and "brightness" in w.value for w in at.warning)


def test_predict_notice_beside_each_fundus_prediction_and_low_confidence(fundus):
    at = app_at("predict", {"run": str(fundus["id"])})
    assert problems(at) == []
    photos = sorted((fundus["folder"] / "images").rglob("*.jp*g"))[:3]
    at.file_uploader(key="p_files").set_value([(p.name, p.read_bytes(), "image/jpeg") for p in photos]).run()
    assert problems(at) == []
    probs = _predictions(at)
    assert len(probs) == 3
    notices = [w.value for w in at.warning if "not a diagnosis" in w.value]
    assert len(notices) == 1 + len(probs)  # once at the top, and beside every prediction
    k = 5  # grades 0-4
    hints = [w.value for w in at.warning if "Low confidence" in w.value]
    expected = sum(p < 0.5 for p in probs)
    assert expected >= 1, f"a 1-epoch model on 18 photos should be unsure: {probs}"
    assert len(hints) == expected
    assert any(f"{1 / k:.0%}" in h for h in hints)  # says what chance level is


def test_predict_general_model_has_no_per_prediction_notice(trained):
    at = app_at("predict", {"run": str(trained["ids"][0])})
    data, _ = digit_png(3)
    at.file_uploader(key="p_files").set_value(("digit.png", data, "image/png")).run()
    assert problems(at) == []
    (p,) = _predictions(at)
    assert not any("not a diagnosis" in w.value for w in at.warning)
    hint = [w.value for w in at.warning if "Low confidence" in w.value]
    assert bool(hint) == (p < 0.5)
    if p < 0.2:  # 10 classes: twice chance
        assert "close to a guess" in hint[0] and "10%" in hint[0]
