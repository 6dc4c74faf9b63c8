"""The Compare page (AppTest, real finished runs): two runs side by side with their
configuration differences and the paired comparison in words; one colour per run across its
charts, dashes for the validation split, readable confusion matrices, labelled times; a warning
when the runs differ in dataset or split."""
from __future__ import annotations

import shutil

import pytest

from lab_pages_support import app_at, figures, lab_environ, make_finished_runs, problems, shared_trained_store, trace_color

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("page_jobs_cleanup")]


@pytest.fixture(scope="module")
def four_runs(tmp_path_factory, shared_datasets):
    """A copy of the shared store (two digits runs) plus a digits run with another split and a
    tiny HAM10000 run, made once for the module."""
    shared = shared_trained_store()
    root = tmp_path_factory.mktemp("compare") / "lab"
    shutil.copytree(shared["root"], root)
    extra = make_finished_runs(root, [
        {"name": "other split", "seed": 3, "epochs": 1,
         "split": {"val_ratio": 0.1, "test_ratio": 0.3, "seed": 5, "grouped": "auto"}},
        {"name": "ham tiny", "dataset": {"name": "ham10000", "params": {"path": str(shared_datasets / "ham10000"),
                                                                       "max_per_class": 6}},
         "input_size": [32, 32], "epochs": 1, "batch_size": 16},
    ])
    return {"root": root, "digits": list(shared["ids"]), "split": extra[0], "ham": extra[1]}


@pytest.fixture()
def runs_store(four_runs, monkeypatch):
    """The four runs, with the environment pointing at their store for one test."""
    for k, v in lab_environ(four_runs["root"]).items():
        monkeypatch.setenv(k, v)
    return four_runs


def test_compare_two_runs(trained):
    at = app_at("compare")
    assert problems(at) == []
    assert sorted(at.multiselect(key="c_runs").value) == sorted(trained["ids"])
    table = at.dataframe[0].value
    assert "accuracy" in table.index and "trainable params" in table.index
    # the configuration differences (the paired comparison's table comes before it)
    (diff,) = [d.value for d in at.dataframe if "seed" in d.value.index or "optimizer" in d.value.index]
    assert "optimizer" in diff.index  # only differences are listed
    assert "model" not in diff.index
    assert any("McNemar" in m.value and ("No significant difference" in m.value or " better " in m.value)
               for m in at.markdown), "the paired comparison is stated in words"


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
