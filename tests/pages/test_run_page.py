"""One run's page (Runs with ?run=<id>; AppTest, the shared store of real finished runs): the
metrics and the charts of each tab, the training curves (learning rate on its own log axis, epoch
times apart), the gallery's modes with sample ids, and the notice of a balanced subsample."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from lab_pages_support import app_at, env_store, figures, problems

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("page_jobs_cleanup")]


def test_open_a_run(trained):
    rid = trained["ids"][0]
    at = app_at("runs", {"run": str(rid)})
    assert problems(at) == []
    assert any(f"Run #{rid}" in t.value for t in at.title)
    assert [m.label for m in at.metric][:2] == ["Accuracy", "Balanced accuracy"]
    n_charts = 0
    for tab in ("Curves", "Confusion", "ROC / PR / calibration"):  # only the open tab is computed
        at.session_state["r_tab"] = tab
        at.run()
        assert problems(at) == []
        n_charts += len(at.get("plotly_chart"))
    assert n_charts >= 3  # curves, confusion, ROC/PR/calibration
    at.session_state["r_tab"] = "Confusion"
    at.run()
    at.toggle(key="r_cm_norm").set_value(True).run()
    assert problems(at) == []


def test_run_curves_lr_on_log_axis_and_no_epoch_time_curve(trained):
    rid = trained["ids"][0]
    store = env_store()
    hist = store.get_metric_history(rid)
    store.close()
    lr = hist.loc[hist["key"] == "lr", "value"].to_numpy()
    assert len(lr) and set(hist["key"]) >= {"epoch_time_s", "loss", "val_loss"}
    at = app_at("runs", {"run": str(rid)})
    at.session_state["r_tab"] = "Curves"  # the Run page draws only the open tab
    at.run()
    assert problems(at) == []
    figs = figures(at)
    curves = figs["r_curves"]
    titles = [a["text"] for a in curves["layout"].get("annotations", [])]
    assert "learning rate (log scale)" in titles
    assert not any("time" in t for t in titles)  # epoch time is not a training curve
    assert not any("time" in (t.get("hovertemplate") or "") + (t.get("name") or "") for t in curves["data"])
    lr_traces = [t for t in curves["data"] if t.get("name") == "learning rate"]
    assert len(lr_traces) == 1
    axis = "yaxis" + lr_traces[0]["yaxis"][1:]
    lr_axis = curves["layout"][axis]
    assert lr_axis["type"] == "log"
    lo, hi = lr_axis["range"]
    assert lo < math.log10(lr.min()) <= math.log10(lr.max()) < hi  # the line sits inside its own range
    # a flat curve is not drawn on plotly's default -0.5..1 axis
    for key, ax in curves["layout"].items():
        if key.startswith("yaxis") and ax.get("range") and ax.get("type") != "log":
            assert ax["range"][0] >= 0 or ax["range"][1] - ax["range"][0] < 1.5
    # epoch times: a small separate bar chart
    times = figs["r_epoch_times"]
    assert [t["type"] for t in times["data"]] == ["bar"]
    assert len(times["data"][0]["y"]) == (hist["key"] == "epoch_time_s").sum()
    # the legend: train / validation / learning rate, once each
    shown = [t["name"] for t in curves["data"] if t.get("showlegend", True)]
    assert sorted(shown) == ["learning rate", "train", "validation"]


def _gallery(at) -> tuple[list[str], list[str]]:
    """(image captions, right/wrong marks) of the gallery."""
    caps = [c for im in at.image for c in im.captions]
    marks = [str(c.value) for c in at.caption if str(c.value).startswith(("✓ right", "✗ wrong"))]
    return caps, marks


def test_run_page_gallery_modes_and_ids(trained):
    from pages import _artifacts

    rid = trained["ids"][0]
    at = app_at("runs", {"run": str(rid)})
    at.session_state["r_tab"] = "Predictions"
    at.run()
    assert problems(at) == []
    pred = pd.read_csv(Path(trained["root"]) / "trained_models" / str(rid) / "predictions.csv", dtype={"id": str})
    wrong = pred[pred["y_true"] != pred["y_pred"]]
    right = pred[pred["y_true"] == pred["y_pred"]]
    assert len(wrong) and len(right)

    assert at.radio(key="r_gal_mode").value == "Misclassified"
    caps, marks = _gallery(at)
    assert caps and len(caps) == len(marks) == min(12, len(wrong))
    assert all(m.startswith("✗ wrong") for m in marks)
    ids_wrong = [c.replace("\\", "").split(" · ")[0] for c in caps]
    assert set(ids_wrong) <= set(wrong["id"]), ids_wrong  # every caption starts with its sample id
    assert all(" · true " in c and " · pred " in c and " · p " in c for c in caps)
    assert any(f"of {len(wrong)} test images" in str(c.value) for c in at.caption)

    # filter by true class: only that class's mistakes
    cls = str(wrong["y_true"].mode()[0])
    names = _artifacts.run_artifacts(env_store().get_run(rid))[2]["class_names"]
    at.selectbox(key="r_gal_actual").set_value(names[int(cls)]).run()
    caps_c, _ = _gallery(at)
    assert caps_c and all(f"· true {names[int(cls)]} ·" in c.replace("\\", "") for c in caps_c)
    at.selectbox(key="r_gal_actual").set_value("(any)").run()

    at.radio(key="r_gal_mode").set_value("Correct but unsure").run()
    assert problems(at) == []
    caps2, marks2 = _gallery(at)
    assert caps2 and all(m.startswith("✓ right") for m in marks2)
    ids_right = [c.replace("\\", "").split(" · ")[0] for c in caps2]
    assert set(ids_right) <= set(right["id"])
    assert not set(ids_right) & set(ids_wrong)  # not the same gallery under another name


def test_run_page_flags_a_balanced_subsample(trained):
    at = app_at("runs", {"run": str(trained["ids"][0])})  # trained with max_per_class=100
    assert problems(at) == []
    notice = [w.value for w in at.warning if "Balanced subsample" in w.value]
    assert len(notice) == 1
    assert "100 images per class" in notice[0] and "PPV" in notice[0]
