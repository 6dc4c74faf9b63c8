"""The case sheet (core.analysis.case_sheet): one predicted image as a printable, self-contained HTML page with
the image and overlay inlined, the top classes, the predicted class's internal test results and its external
results (or "no external validation yet"), the warnings and, for medical models, the research-use notice.
Every user text is escaped."""
from __future__ import annotations

import base64
import datetime as dt
import html
import re
from types import SimpleNamespace

import numpy as np
import pytest

CLASSES = ["nevus", "melanoma <b>bold</b>", "bkl"]
EV = {"class_names": CLASSES, "per_class": [
    {"class": "nevus", "sensitivity": 0.91, "specificity": 0.62, "precision": 0.88, "support": 120},
    {"class": "melanoma <b>bold</b>", "sensitivity": 0.55, "specificity": 0.93, "precision": 0.47, "support": 31},
    {"class": "bkl", "sensitivity": 0.4, "specificity": 0.97, "precision": 0.5, "support": 20}]}


def _sheet(**kw):
    from core.analysis.case_sheet import case_sheet_html

    rng = np.random.default_rng(0)
    args = dict(run=SimpleNamespace(id=7, name="run <i>x</i>", dataset="ham10000", model="small_cnn"),
                class_names=CLASSES, name="<script>alert(1)</script>.jpg",
                image=rng.integers(0, 255, (24, 24, 3), dtype=np.uint8),
                overlay=rng.integers(0, 255, (24, 24, 3), dtype=np.uint8),
                probs=[0.2, 0.7, 0.1], warnings=["Looks unlike the training images & darker"], method="Grad-CAM",
                ev=EV, external=(), domain="lesion")
    args.update(kw)
    return case_sheet_html(**args)


def test_sheet_has_images_top_classes_and_internal_results():
    page = _sheet()
    imgs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(imgs) == 2 and all(base64.b64decode(i).startswith(b"\x89PNG") for i in imgs)
    assert "@media print" in page
    assert "70.0%" in page and "20.0%" in page and "10.0%" in page  # the top classes
    # the predicted class (index 1) and its internal test results
    assert f"Prediction: {html.escape(CLASSES[1])} (70.0%)" in page
    internal = page.split("Internal test results")[1].split("External validation")[0]
    assert all(v in internal for v in ("0.550", "0.930", "0.470", ">31<"))
    assert "0.910" not in internal  # not another class's
    assert "No external validation yet" in page
    assert "Looks unlike the training images &amp; darker" in page


def test_every_user_text_is_escaped_and_nothing_is_fetched():
    page = _sheet()
    assert "<script" not in page and "<b>bold" not in page and "<i>x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.jpg" in page
    assert "run &lt;i&gt;x&lt;/i&gt;" in page
    assert "http://" not in page and "https://" not in page and "<link" not in page
    bidi = _sheet(name="\u202egpj.exe")  # a right-to-left override shows as its code
    assert "[U+202E]gpj.exe" in bidi and "\u202e" not in bidi


def test_research_notice_only_for_medical_models():
    from core.analysis.case_sheet import RESEARCH_NOTICE

    assert html.escape(RESEARCH_NOTICE) in _sheet(domain="lesion")
    assert html.escape(RESEARCH_NOTICE) in _sheet(domain="fundus")
    assert html.escape(RESEARCH_NOTICE) not in _sheet(domain="general")


def test_external_results_for_the_predicted_class():
    ext = [SimpleNamespace(id=3, name="clinic <b>B</b>", created_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
                           n_images=240, result={"per_class": [
                               {"class": "melanoma <b>bold</b>", "sensitivity": 0.41, "specificity": 0.88,
                                "precision": 0.33, "support": 52}]}),
           SimpleNamespace(id=2, name="no melanoma set", created_at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
                           n_images=50, result={"per_class": [{"class": "nevus", "sensitivity": 0.9}]})]
    page = _sheet(external=ext)
    part = page.split("External validation")[1].split("Warnings")[0]
    assert "No external validation yet" not in page
    assert "clinic &lt;b&gt;B&lt;/b&gt;" in part and "2026-11-02" in part
    assert all(v in part for v in ("0.410", "0.880", "0.330", ">52<", ">240<"))
    assert "Not in no melanoma set" in part


def test_bad_probabilities_are_refused_and_file_name_is_safe():
    from core.analysis.case_sheet import case_sheet_file_name

    with pytest.raises(ValueError, match="one per class"):
        _sheet(probs=[0.5, 0.5])
    assert case_sheet_file_name("../../etc/pass wd.png", 4) == "etc_pass_wd_case_run4.html"
    assert case_sheet_file_name("mole 12.jpg", 9) == "mole_12_case_run9.html"



def _button_script(run_id: int, ev: dict, classes: list):
    import numpy as np
    import streamlit as st

    from pages import _case_sheet, _resources

    store = _resources.guarded_store()
    run = store.get_run(run_id)
    img = np.full((16, 16, 3), 120, np.uint8)
    args = dict(name="mole <1>.jpg", image=img, overlay=img, probs=[0.2, 0.7, 0.1], warnings=["darker than usual"],
                method="Grad-CAM")
    _case_sheet.case_sheet_button(store, run, ev, classes, key="cs0", **args)
    st.code(_case_sheet.case_sheet_builder(store, run, ev, classes, **args)().decode())


def test_button_reads_external_results_and_domain_from_the_store(lab_env, monkeypatch):
    """The page hook (AppTest): a "Case sheet (HTML)" download, whose page has the run's external results
    for the predicted class, read from the store, and the notice of a lesion model."""
    from streamlit.testing.v1 import AppTest

    from core.analysis.case_sheet import RESEARCH_NOTICE
    from core.store import Store
    from core.store.artifacts import RunFolder

    monkeypatch.setenv("LAB_DASHBOARD_SUPERVISOR", "0")
    store = Store(f"sqlite:///{lab_env / 'runs.db'}", models_dir=lab_env / "trained_models")
    rid = store.create_run({"dataset": {"name": "ham10000"}, "model": "small_cnn"}, name="lesion run",
                           dataset="ham10000", model="small_cnn")
    RunFolder.of(store.get_run(rid), store).mkdir().write_json("meta", {"domain": "lesion", "class_names": CLASSES})
    at = AppTest.from_function(_button_script, kwargs={"run_id": rid, "ev": EV, "classes": CLASSES},
                               default_timeout=60).run()
    assert not at.exception, at.exception
    (button,) = at.get("download_button")
    assert button.proto.label == "Case sheet (HTML)"
    page = at.code[0].value
    assert "No external validation yet" in page and html.escape(RESEARCH_NOTICE) in page
    assert "mole &lt;1&gt;.jpg" in page
    store.add_external_evaluation(rid, name="clinic B", n_images=80, n_overlap=0, files_hash="a" * 64,
                                  source={"format": "folders", "data_dir": "/x", "labels_csv": None},
                                  result={"per_class": [{"class": CLASSES[1], "sensitivity": 0.42,
                                                         "specificity": 0.9, "precision": 0.3, "support": 12}]},
                                  shift={}, overlap={})
    page = at.run().code[0].value
    assert "clinic B" in page and "0.420" in page and "No external validation yet" not in page
    store.close()


def test_a_large_upload_is_inlined_at_print_size():
    from PIL import Image

    big = np.zeros((1500, 3000, 3), np.uint8)
    page = _sheet(image=big, overlay=big)
    import io

    sizes = [Image.open(io.BytesIO(base64.b64decode(i))).size
             for i in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]
    assert sizes == [(800, 400), (800, 400)]
