"""Issue 8, items 12, 13 and 16: what a newcomer sees on the Augmentation studio, the curves
(Run and Compare pages), the Compare page and the Data explorer.

AppTest on real datasets (digits; HAM10000 and fundus from the shared datasets folder) and
real stored runs trained by the real worker; the assertions read the figures' data (the
plotly JSON the page sends), the labels and the messages."""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from lab_pages_support import app_at, lab_environ, make_finished_runs, problems, shared_trained_store

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("page_jobs_cleanup")]


def figures(at) -> dict[str, dict]:
    """key of each st.plotly_chart -> its plotly figure (the JSON the page sends)."""
    out = {}
    for i, el in enumerate(at.get("plotly_chart")):
        key = el.proto.id.rsplit("-", 1)[-1] if el.proto.id else f"chart{i}"
        out[key] = json.loads(el.proto.spec)
    return out


def trace_color(t: dict) -> str | None:
    return (t.get("line") or {}).get("color") or (t.get("marker") or {}).get("color")


@pytest.fixture(scope="module")
def runs_store(tmp_path_factory, shared_datasets):
    """The two shared digits runs plus a digits run with another split and a tiny HAM10000 run."""
    shared = shared_trained_store()
    root = tmp_path_factory.mktemp("polish") / "lab"
    shutil.copytree(shared["root"], root)
    extra = make_finished_runs(root, [
        {"name": "other split", "seed": 3, "epochs": 1,
         "split": {"val_ratio": 0.1, "test_ratio": 0.3, "seed": 5, "grouped": "auto"}},
        {"name": "ham tiny", "dataset": {"name": "ham10000", "params": {"path": str(shared_datasets / "ham10000"),
                                                                       "max_per_class": 6}},
         "input_size": [32, 32], "epochs": 1, "batch_size": 16},
    ])
    mp = pytest.MonkeyPatch()
    for k, v in lab_environ(root).items():
        mp.setenv(k, v)
    yield {"root": root, "digits": list(shared["ids"]), "split": extra[0], "ham": extra[1]}
    mp.undo()


# ------------------------------------------------------------------ item 12: augmentation studio
def test_presets_are_named_by_what_they_do_and_old_names_still_work():
    from core.data.augment import PRESET_ALIASES, PRESET_INFO, PRESETS, get_preset, preset_label, preset_names
    from core.training.config import TrainConfig

    names = preset_names()
    assert names[0] == "none" and not any(n.startswith("report_") for n in names)
    for n in names:
        label, hint = PRESET_INFO[n]
        assert "report" not in label.lower()  # the name says what it does ...
        if n != "none":
            assert "as in report" in hint  # ... the report is a hint
    assert PRESET_INFO["flips_small_rotations"][0] == "Flips + small rotations"
    assert "as in report C" in preset_label("report_c")
    for old, new in PRESET_ALIASES.items():  # TrainConfig / CLI (--augment report_c) keep working
        assert get_preset(old) == get_preset(new) and old in PRESETS
        assert TrainConfig(augment=old).augment_spec() == get_preset(new)
    assert set(PRESET_ALIASES) == {"report_a", "report_b", "report_c", "report_d"}


def test_augmentation_grid_labels_and_use_in_training(lab_env):
    from core.data.augment import preset_names

    at = app_at("augmentation")
    assert problems(at) == []
    sb = at.selectbox(key="aug_preset")
    assert sb.options == ["No augmentation", "Strong geometric + flip", "Small rotations + shifts",
                          "Flips + small rotations", "Strong geometric + colour + noise"]
    assert not any("Report" in o for o in sb.options)
    sb.set_value("flips_small_rotations").run()
    assert problems(at) == []
    assert at.slider(key="aug_rotation").value == 20.0 and at.toggle(key="aug_horizontal_flip").value is True
    assert any("as in report C" in c.value for c in at.caption)
    assert sorted(preset_names()) == sorted(["none", "strong_geometric", "small_rotations_shifts",
                                             "flips_small_rotations", "any_rotation_colour_noise"])
    # the preview is a grid: rows of columns holding ONE image each (the old layout put two
    # 220 px images in one of 5 narrow columns, so they overlapped and ran past the page)
    cols_with_images = [c for c in at.columns if len(c.image) and not any(len(cc.image) for cc in c.columns)]
    assert len(at.image) == 9  # original + 8 variants
    assert [len(c.image) for c in cols_with_images] == [1] * 9
    assert at.image[0].captions[0].startswith("original")
    # "Use in training" says what it applies to, and the Train page receives it
    assert any("Previewed here on: Digits" in c.value and "dataset you choose on that page" in c.value
               for c in at.caption)
    at.button(key="aug_use").click().run()
    assert problems(at) == []
    ok = " ".join(s.value for s in at.success)
    assert "rotation 20" in ok and "next run you submit on Train" in ok and "Digits" in ok
    at.switch_page("pages/train.py").run()
    assert problems(at) == []
    assert any("rotation 20" in c.value and "Digits" in c.value for c in at.caption)


# ------------------------------------------------------------------ item 13: curves
def test_run_curves_lr_on_log_axis_and_no_epoch_time_curve(runs_store):
    from core.store import Store

    rid = runs_store["digits"][0]
    store = Store(lab_environ(runs_store["root"])["LAB_DATABASE_URL"], models_dir=str(runs_store["root"] / "trained_models"))
    hist = store.get_metric_history(rid)
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


def test_compare_one_colour_per_run_dash_by_split_and_readable_confusions(runs_store):
    ids = runs_store["digits"]
    at = app_at("compare", {"runs": ",".join(map(str, ids))})
    assert problems(at) == []
    assert not any("differ" in w.value for w in at.warning)  # same dataset and split: nothing to flag
    figs = figures(at)
    curves, roc, times = figs["c_curves"], figs["c_roc"], figs["c_epoch_times"]
    names = [f"#{i} adam run" if n == 0 else f"#{i} adamax run" for n, i in enumerate(ids)]
    # curves: colour by run, dash by split; the legend has one entry per run (not per run x metric x split)
    colors = {}
    for t in curves["data"]:
        colors.setdefault(t["legendgroup"], set()).add(trace_color(t))
        assert t["line"]["dash"] in ("solid", "dash")
        assert ("validation" in t["hovertemplate"]) == (t["line"]["dash"] == "dash")
    assert sorted(colors) == sorted(names) and all(len(c) == 1 for c in colors.values())
    run_color = {k: next(iter(v)) for k, v in colors.items()}
    assert len(set(run_color.values())) == len(ids)
    assert sorted(t["name"] for t in curves["data"] if t.get("showlegend", True)) == sorted(names)
    assert "dashed: validation" in curves["layout"]["title"]["text"]
    # the same colour for the same run in the ROC overlay and the epoch-time bars
    for t in roc["data"]:
        if t["name"] != "chance":
            run = next(n for n in names if t["name"].startswith(n))
            assert trace_color(t) == run_color[run]
    assert {t["name"]: trace_color(t) for t in times["data"]} == run_color
    # confusion matrices: one per row (not squeezed into columns), counts and row % in each cell
    cms = [k for k in figs if k.startswith("c_cm_")]
    assert len(cms) == len(ids)
    in_columns = {el.proto.id.rsplit("-", 1)[-1] for c in at.columns for el in c.get("plotly_chart")}
    assert not in_columns & set(cms)
    cell = figs[cms[0]]["data"][0]["text"][0][0]
    assert "<br>" in cell and cell.endswith("%")
    # the two times are labelled and explained
    table = at.dataframe[0].value
    assert {"training time (fit only)", "wall time (whole job)"} <= set(table.index)
    assert any("training time (fit only)" in c.value and "loading" in c.value for c in at.caption)


def test_compare_warns_when_runs_differ_in_dataset_or_split(runs_store):
    a, b = runs_store["digits"]
    ham, split = runs_store["ham"], runs_store["split"]
    at = app_at("compare", {"runs": f"{a},{b},{ham}"})
    assert problems(at) == []
    warn = " ".join(w.value for w in at.warning)
    assert "different datasets" in warn and "ham10000" in warn and "digits" in warn
    assert f"{ham} ham tiny" in warn
    # per-class F1 only side by side for runs with the same classes: no empty (None) cells
    pcf = [d.value for d in at.dataframe[2:] if "Melanoma" in d.value.index or "0" in map(str, d.value.index)]
    assert len(pcf) == 2
    for df in pcf:
        assert df.notna().all().all()
    assert sorted(len(df.columns) for df in pcf) == [1, 2]

    at = app_at("compare", {"runs": f"{a},{split}"})
    assert problems(at) == []
    warn = " ".join(w.value for w in at.warning)
    assert "split the data differently" in warn and "test 30%" in warn and "test 20%" in warn
    assert "different datasets" not in warn


# ------------------------------------------------------------------ item 16: data explorer
def _values(df, col):
    return np.asarray(df[col], dtype=float)


def test_data_explorer_digits_percent_pie_and_channel_colours(lab_env):
    at = app_at("data_explorer")
    assert problems(at) == []
    dist = at.dataframe[0].value
    pct = _values(dist, "percent")
    assert np.allclose(pct, np.round(pct, 1))  # one decimal, not 10.0167
    at.session_state["eda_charts"] = True  # the charts are drawn once their expander is opened
    at.run()
    figs = figures(at)
    pie = figs["eda_pie"]["data"][0]
    assert pie["textposition"] == "inside" and pie["texttemplate"] == "%{percent:.1%}"  # no clipped outside labels
    at.session_state["eda_tab"] = "Image statistics"  # only the open tab is drawn
    at.run()
    assert problems(at) == []
    boxes = figures(at)["eda_channel_means"]["data"]
    colour = {t["name"]: trace_color(t) for t in boxes}
    assert colour == {"red (r_mean)": "#D62728", "green (g_mean)": "#2CA02C", "blue (b_mean)": "#1F77B4"}


def test_data_explorer_ham10000_shows_absent_images_and_explains_leakage(lab_env, shared_datasets):
    at = app_at("data_explorer")
    at.selectbox(key="eda_name").set_value("ham10000").run()
    at.text_input(key="eda_path_ham10000").set_value(str(shared_datasets / "ham10000")).run()
    at.number_input(key="eda_mpc_ham10000").set_value(5).run()
    assert problems(at) == []
    warn = [w.value for w in at.warning]
    absent = [w for w in warn if "absent" in w]
    assert len(absent) == 1 and "First missing: ISIC_" in absent[0]
    assert "of 10015 images" in absent[0]
    frames = [d.value for d in at.dataframe]
    at.session_state["eda_tab"] = "Metadata"  # only the open tab is drawn
    at.run()
    assert problems(at) == []
    leak = next(w.value for w in at.warning if "leakage" in w.value)
    assert "same lesion" in leak and "test score would overstate" in leak
    for df in frames + [d.value for d in at.dataframe]:
        if "percent" in df.columns:
            p = _values(df, "percent")
            assert np.allclose(p, np.round(p, 1))


def test_data_explorer_fundus_explains_the_exposure_rule(lab_env, shared_datasets):
    at = app_at("data_explorer")
    at.selectbox(key="eda_name").set_value("fundus").run()
    at.text_input(key="eda_path_fundus").set_value(str(shared_datasets / "fundus")).run()
    at.number_input(key="eda_mpc_fundus").set_value(3).run()
    at.session_state["eda_tab"] = "Metadata & quality"  # only the open tab is drawn
    at.run()
    assert problems(at) == []
    text = " ".join(c.value for c in at.caption)
    assert "under-exposed** (too dark) when at least 90% of its pixels are 30 or darker" in text
    assert "over-exposed** (too bright) when more than 50% of its pixels are 225 or brighter" in text
