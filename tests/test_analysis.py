"""Slices of a run's test split (core.analysis.slices) and the paired comparison of two runs (core.analysis.paired).

Real stored runs trained by the real worker (the two shared digits runs: same split, adam and adamax;
plus one digits run on another split seed), HAM10000 from the shared datasets folder with its real
metadata. Every number is checked against an independent computation (scipy's binomial test on
discordant counts counted here, scikit-learn's metrics on groups formed here with pandas); relations
are asserted, never floats from one CPU's training."""
from __future__ import annotations

import contextlib
import io
import json
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

from lab_pages_support import lab_environ, make_finished_runs, shared_trained_store

pytestmark = pytest.mark.slow

B = 300  # bootstrap resamples: enough for the relations asserted, quick on a shared CPU


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The two shared digits runs (same split seed 0; adam, adamax) and a third on split seed 5."""
    shared = shared_trained_store()
    root = tmp_path_factory.mktemp("analysis") / "lab"
    shutil.copytree(shared["root"], root)
    (other,) = make_finished_runs(root, [{"name": "other split", "seed": 3, "epochs": 1,
                                          "split": {"val_ratio": 0.1, "test_ratio": 0.2, "seed": 5}}])
    mp = pytest.MonkeyPatch()
    for k, v in lab_environ(root).items():
        mp.setenv(k, v)
    from core.store import Store

    store = Store()
    a, b = shared["ids"]
    yield {"root": root, "store": store, "a": a, "b": b, "other": other}
    store.close()
    mp.undo()


def _preds(store, rid) -> pd.DataFrame:
    from core.store.artifacts import RunFolder

    return pd.read_csv(RunFolder.of(store.get_run(rid), store).path / "predictions.csv", dtype={"id": str})


def _cli(argv: list[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``python -m core ARGV`` run in this process (core.cli.main)."""
    from core.cli import main as cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    return rc, out.getvalue(), err.getvalue()


# ------------------------------------------------------------------ paired comparison
def test_paired_comparison_of_two_real_runs_matches_scipy_and_sklearn(lab):
    from scipy.stats import binomtest
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score

    from core.analysis.paired import compare_runs

    store, a, b = lab["store"], lab["a"], lab["b"]
    res = compare_runs(store, a, b, n_bootstrap=B)
    pa, pb = _preds(store, a), _preds(store, b)
    m = pa.merge(pb, on="id", suffixes=("_a", "_b"), validate="one_to_one")
    assert len(m) == len(pa) == len(pb) == res["n"]
    ca = (m["y_pred_a"] == m["y_true_a"]).to_numpy()
    cb = (m["y_pred_b"] == m["y_true_b"]).to_numpy()
    a_only, b_only = int((ca & ~cb).sum()), int((~ca & cb).sum())
    mc = res["mcnemar"]
    assert (mc["a_only_correct"], mc["b_only_correct"]) == (a_only, b_only)
    assert mc["both_correct"] + mc["both_wrong"] + a_only + b_only == res["n"]
    expected_p = binomtest(a_only, a_only + b_only, 0.5).pvalue if a_only + b_only else 1.0
    assert 0.0 <= mc["p_value"] <= 1.0 and mc["p_value"] == pytest.approx(expected_p, rel=1e-9, abs=1e-12)

    k = len(res["class_names"])
    for side, df in (("a", pa), ("b", pb)):
        y, yp, p = df["y_true"].to_numpy(), df["y_pred"].to_numpy(), df[[f"p_{i}" for i in range(k)]].to_numpy()
        assert res["metrics"]["accuracy"][side] == pytest.approx(accuracy_score(y, yp))
        assert res["metrics"]["balanced_accuracy"][side] == pytest.approx(balanced_accuracy_score(y, yp))
        assert res["metrics"]["macro_auc"][side] == pytest.approx(roc_auc_score(y, p, multi_class="ovr"), abs=1e-9)

    for name, v in res["metrics"].items():
        lo, hi = v["ci"]
        assert v["difference"] == pytest.approx(v["b"] - v["a"])
        assert lo <= v["difference"] <= hi, name  # the paired interval holds the point estimate
        s = v["sentence"]
        if lo > 0:
            assert v["verdict"] == "b_better" and s.startswith(f"Run {b} is better than run {a}")
        elif hi < 0:
            assert v["verdict"] == "a_better" and s.startswith(f"Run {a} is better than run {b}")
        else:
            assert v["verdict"] == "no_difference" and s.startswith("No significant difference")
        assert f"95 % CI {lo:.3f} to {hi:.3f}" in s
    assert "McNemar" in res["metrics"]["accuracy"]["sentence"]
    assert json.loads(json.dumps(res)) == res  # JSON as it is


def test_each_run_alone_gets_the_intervals_of_evaluation_bootstrap(lab):
    """The paired bootstrap draws resamples exactly as core.metrics.bootstrap.bootstrap_ci does."""
    from core.analysis.paired import load_run_predictions, metric_draws, percentile_interval, resample_weights
    from core.metrics.bootstrap import bootstrap_ci
    from core.metrics.classification import _unpack

    store = lab["store"]
    rp = load_run_predictions(store.get_run(lab["a"]), store=store)
    _, y, yp, p, _, _ = _unpack(rp.pred, rp.class_names)
    ref = bootstrap_ci(y, yp, p, n_bootstrap=B, seed=3)
    draws = [metric_draws(y, yp, p, w) for w in resample_weights(len(y), B, 3)]
    for m in ("accuracy", "balanced_accuracy", "macro_auc"):
        got = percentile_interval(np.concatenate([d[m] for d in draws]))
        assert got == pytest.approx(ref[m], rel=1e-9), m


def test_runs_on_another_split_are_refused_naming_the_difference(lab):
    from core.analysis.paired import NotComparable, compare_runs

    with pytest.raises(NotComparable) as e:
        compare_runs(lab["store"], lab["a"], lab["other"], n_bootstrap=B)
    msg = str(e.value)
    assert "test sets differ" in msg and "different split seeds" in msg
    assert f"run {lab['a']}: 0" in msg and f"run {lab['other']}: 5" in msg
    assert not any("dataset" in r for r in e.value.reasons)  # same dataset: not blamed


def test_refusals_name_a_different_dataset_its_options_or_changed_labels(lab):
    import dataclasses

    from core.analysis.paired import NotComparable, comparability_problems, load_run_predictions, paired_comparison

    store = lab["store"]
    a = load_run_predictions(store.get_run(lab["a"]), store=store)
    other = load_run_predictions(store.get_run(lab["other"]), store=store)
    fashion = dataclasses.replace(other, config={**other.config, "dataset": {"name": "fashion_mnist", "params": {}}})
    assert any("different datasets" in p and "fashion_mnist" in p for p in comparability_problems(a, fashion))
    more = dataclasses.replace(other, config={**other.config, "dataset": {"name": "digits",
                                                                          "params": {"max_per_class": 50}}})
    assert any("different dataset options (max_per_class: 100 vs 50)" in p for p in comparability_problems(a, more))
    relabelled = dataclasses.replace(a, run_id=99, pred=a.pred.assign(y_true=(a.pred["y_true"] + 1) % 10))
    with pytest.raises(NotComparable, match="different true labels"):
        paired_comparison(a, relabelled, n_bootstrap=10)


def test_compare_cli_exit_codes_and_sentences(lab):
    rc, out, err = _cli(["compare", str(lab["a"]), str(lab["b"]), "--bootstrap", str(B)])
    assert rc == 0, err
    assert "McNemar exact test" in out and "balanced accuracy" in out and "macro AUC" in out
    rc, out, _ = _cli(["compare", str(lab["a"]), str(lab["b"]), "--bootstrap", str(B), "--json"])
    assert rc == 0 and json.loads(out)["comparable"] is True

    rc, out, err = _cli(["compare", str(lab["a"]), str(lab["other"]), "--bootstrap", str(B)])
    assert rc == 2 and "not comparable" in err and "different split seeds" in err and out == ""
    rc, out, _ = _cli(["compare", str(lab["a"]), str(lab["other"]), "--json"])
    assert rc == 2 and json.loads(out)["comparable"] is False


def test_a_run_without_predictions_is_a_message(lab):
    from core.analysis.paired import compare_runs
    from core.validation import NotFoundError

    store = lab["store"]
    queued = store.create_run({"dataset": {"name": "digits", "params": {}}, "model": "small_cnn"}, name="queued one",
                              dataset="digits", model="small_cnn", seed=0)
    with pytest.raises(NotFoundError, match="has no stored test predictions .its status is queued"):
        compare_runs(store, lab["a"], queued)
    rc, _, err = _cli(["compare", str(lab["a"]), str(queued)])
    assert rc == 2 and "no stored test predictions" in err
    rc, _, err = _cli(["slices", str(queued)])
    assert rc == 2 and "no stored test predictions" in err


# ------------------------------------------------------------------ slices
def test_slices_of_a_digits_run_by_brightness(lab):
    from sklearn.metrics import accuracy_score, recall_score

    from core.analysis.slices import TOO_SMALL, run_slices, slices_frame

    store = lab["store"]
    res = run_slices(store.get_run(lab["a"]), store=store, n_bootstrap=B)
    pred = _preds(store, lab["a"])
    assert res["columns"] == ["brightness"]  # digits metadata has only id and index
    assert "one value only (8x8)" in res["skipped"]["original_size"]
    sl = res["slices"]
    assert len(sl) >= 2 and sum(s["n"] for s in sl) == len(pred) == res["overall"]["n"]
    acc = accuracy_score(pred["y_true"], pred["y_pred"])
    assert res["overall"]["accuracy"] == pytest.approx(acc)
    # slices partition the test set: their accuracies, weighted by n, give the whole set's
    assert sum(s["n"] * s["accuracy"] for s in sl) / len(pred) == pytest.approx(acc)
    rec = recall_score(pred["y_true"], pred["y_pred"], average=None, labels=range(10), zero_division=0)
    assert [c["sensitivity"] for c in res["overall"]["per_class"]] == pytest.approx(list(rec))
    for s in [res["overall"], *sl]:
        for m in ("accuracy", "balanced_accuracy"):
            lo, hi = s[f"{m}_ci"]
            assert 0.0 <= lo <= hi <= 1.0
        assert s.get("status") in (None, "ok", TOO_SMALL, "below the whole test set")
        assert (s.get("status") == TOO_SMALL) == (s["n"] < 30) or "status" not in s
    lows = [float(s["slice"].split()[1].split("-")[0]) for s in sl]
    assert lows == sorted(lows)  # bins in brightness order
    df = slices_frame(res)
    assert df.iloc[0]["by"] == "whole test set" and len(df) == len(sl) + 1

    rc, out, err = _cli(["slices", str(lab["a"]), "--bootstrap", "50"])
    assert rc == 0, err
    assert "brightness" in out and "whole test set" in out
    rc, _, err = _cli(["slices", str(lab["a"]), "--by", "sex"])
    assert rc == 2 and "Cannot slice by 'sex'" in err and "brightness" in err


@pytest.fixture(scope="module")
def ham_small(shared_datasets):
    """HAM10000 with 40 images per class (the reduced folder and its metadata)."""
    from core.datasets import load_dataset

    folder = shared_datasets / "ham10000"
    return load_dataset("ham10000", path=folder / "reduced_200x150", metadata_csv=folder / "HAM10000_metadata.csv",
                        max_per_class=40)


def _ham_predictions(ham_small):
    """Synthetic predictions that are much worse for women than for men (shuffled rows)."""
    rng = np.random.default_rng(0)
    n, k = len(ham_small), len(ham_small.class_names)
    female = (ham_small.metadata["sex"] == "female").to_numpy()
    p = rng.random((n, k))
    p[np.arange(n), ham_small.labels] += np.where(female, 0.05, 1.5)
    p /= p.sum(axis=1, keepdims=True)
    order = rng.permutation(n)
    return ham_small.ids[order], ham_small.labels[order], p.argmax(axis=1)[order], p[order]


def test_slices_on_ham10000_metadata_match_an_independent_groupby(ham_small):
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    from core.analysis.slices import BELOW, TOO_SMALL, sensitivity_frame, slice_metrics

    ids, y, yp, p = _ham_predictions(ham_small)
    res = slice_metrics(ids, y, yp, p, ham_small.metadata, ham_small.class_names, n_bootstrap=B)
    assert res["columns"][:4] == ["sex", "age", "localization", "dx_type"]
    assert "lesion_id" not in res["columns"] and "dx" not in res["columns"]
    df = pd.DataFrame({"id": ids, "y": y, "yp": yp}).merge(ham_small.metadata, on="id")
    df["age"] = pd.cut(df["age"], [0, 30, 50, 70, 200], right=False,
                       labels=["age 0-29", "age 30-49", "age 50-69", "age 70+"]).astype(object).fillna("age unknown")
    for col in ("sex", "age", "localization", "dx_type"):
        got = {s["slice"]: s for s in res["slices"] if s["column"] == col}
        groups = df.assign(**{col: df[col].fillna("unknown").astype(str)}).groupby(col)
        assert set(got) == set(groups.groups), col
        assert sum(s["n"] for s in got.values()) == len(ids)
        for value, g in groups:
            s = got[value]
            assert s["n"] == len(g)
            assert s["accuracy"] == pytest.approx(accuracy_score(g["y"], g["yp"]))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # sklearn: y_pred has classes absent from this group's y_true
                assert s["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(g["y"], g["yp"]))
            assert (s["status"] == TOO_SMALL) == (len(g) < 30)
            for c, pc in enumerate(s["per_class"]):
                assert pc["support"] == int((g["y"] == c).sum())
                if 0 < pc["support"] < 5:
                    assert pc["too_small"] and pc["ci"] == [None, None]
    sex = {s["slice"]: s for s in res["slices"] if s["column"] == "sex"}
    assert sex["female"]["status"] == BELOW and "accuracy" in sex["female"]["below_in"]
    assert sex["male"]["status"] == "ok"
    small = [s for s in res["slices"] if s["status"] == TOO_SMALL]
    assert small, "tiny localization groups are kept and marked, not hidden"
    sens = sensitivity_frame(res)
    assert (sens["support"] > 0).all() and (sens["note"] == TOO_SMALL).equals(sens["support"] < 5)
    ok = sens[sens["note"] == ""]
    assert len(ok) and ((0 <= ok["low"]) & (ok["low"] <= ok["high"]) & (ok["high"] <= 1)).all()
    assert sens.loc[sens["note"] == TOO_SMALL, ["low", "high"]].isna().all().all()


def test_image_properties_of_file_datasets_and_the_cap(ham_small):
    from PIL import Image

    from core.analysis.slices import image_properties, slice_metrics

    ids = ham_small.ids[:25]
    props, notes = image_properties(ham_small, ids, max_files=20)
    assert len(props) == 25
    assert props["brightness"].iloc[:20].notna().all() and props["brightness"].iloc[20:].isna().all()
    assert notes and "first 20 of 25" in notes[0]
    assert set(props["original_size"].iloc[:20]) == {"200x150"}
    for i in range(3):  # the reduced decode's mean is the full decode's, to a few grey levels
        with Image.open(ham_small.paths[i]) as im:
            full = float(np.asarray(im.convert("L"), dtype=np.float64).mean())
        assert props["brightness"].iloc[i] == pytest.approx(full, abs=3.0)
    meta = ham_small.metadata.merge(props, on="id")
    y = ham_small.labels[:25]
    res = slice_metrics(ids, y, y, None, meta, ham_small.class_names, by="brightness", n_bootstrap=0)
    got = {s["slice"]: s["n"] for s in res["slices"]}
    assert got.pop("unknown") == 5 and sum(got.values()) == 20


def test_fundus_slices_by_eye_and_by_original_size(shared_datasets):
    from core.analysis.slices import image_properties, slice_metrics
    from core.datasets import load_dataset

    ds = load_dataset("fundus", path=shared_datasets / "fundus")
    props, _ = image_properties(ds, ds.ids)
    sizes = props["original_size"].nunique()
    rng = np.random.default_rng(1)
    yp = np.where(rng.random(len(ds)) < 0.7, ds.labels, (ds.labels + 1) % 5)
    res = slice_metrics(ds.ids, ds.labels, yp, None, ds.metadata.merge(props, on="id"), ds.class_names, n_bootstrap=50)
    assert "patient_id" not in res["columns"] and "level" not in res["columns"]
    eye = {s["slice"]: s["n"] for s in res["slices"] if s["column"] == "eye"}
    assert set(eye) <= {"left", "right", "unknown"} and {"left", "right"} <= set(eye)
    assert eye["left"] == int((ds.metadata["eye"] == "left").sum())
    if sizes > 1:  # the photos come in several sizes: original-size bins, covering every image
        assert sum(s["n"] for s in res["slices"] if s["column"] == "original_size") == len(ds)
    else:
        assert "original_size" in res["skipped"]


def test_slice_inputs_are_checked_with_clear_messages(ham_small):
    from core.analysis.slices import slice_metrics
    from core.validation import ValidationError

    ids, y, yp, p = _ham_predictions(ham_small)
    with pytest.raises(ValidationError, match="Cannot slice by 'eye'.*sex, age, localization, dx_type"):
        slice_metrics(ids, y, yp, p, ham_small.metadata, ham_small.class_names, by="eye", n_bootstrap=0)
    with pytest.raises(ValidationError, match="'id' column"):
        slice_metrics(ids, y, yp, p, ham_small.metadata.drop(columns="id"), ham_small.class_names, n_bootstrap=0)
    res = slice_metrics(ids, y, yp, p, ham_small.metadata.iloc[10:], ham_small.class_names, by="sex", n_bootstrap=0)
    assert "10 of" in res["notices"][0]
    assert sum(s["n"] for s in res["slices"] if s["slice"] == "unknown") >= 10


def test_figures_show_intervals_and_flag_slices(ham_small, lab):
    from core.analysis.paired import compare_runs, paired_figure
    from core.analysis.slices import BELOW, slice_metrics, slices_figure

    ids, y, yp, p = _ham_predictions(ham_small)
    res = slice_metrics(ids, y, yp, p, ham_small.metadata, ham_small.class_names, by=["sex", "dx_type"], n_bootstrap=100)
    fig = slices_figure(res, "accuracy")
    below = [t for t in fig.data if t.name == BELOW]
    assert below and "sex: female" in below[0].y and below[0].marker.color == "#D62728"
    assert all(t.error_x.array is not None for t in fig.data)
    pf = paired_figure(compare_runs(lab["store"], lab["a"], lab["b"], n_bootstrap=100))
    assert len(pf.data) == 3


def test_analysis_sections_show_messages_not_exceptions(lab):
    """The Compare/Run page sections on real runs, a queued run and runs on different splits."""
    from streamlit.testing.v1 import AppTest

    store = lab["store"]
    queued = store.create_run({"dataset": {"name": "digits", "params": {}}, "model": "small_cnn"}, name="waiting",
                              dataset="digits", model="small_cnn", seed=0)

    def script(a: int, b: int, other: int, queued: int) -> None:
        from pages import _analysis_ui, _resources

        s = _resources.get_store()
        _analysis_ui.paired_section(s.get_run(a), s.get_run(b))
        _analysis_ui.paired_section(s.get_run(a), s.get_run(other))
        _analysis_ui.paired_section(s.get_run(a), s.get_run(queued))
        _analysis_ui.slices_section(s.get_run(a))
        _analysis_ui.slices_section(s.get_run(queued))

    at = AppTest.from_function(script, kwargs=dict(a=lab["a"], b=lab["b"], other=lab["other"], queued=queued),
                               default_timeout=120).run()
    assert not at.exception and not at.error, [e.value for e in at.exception]
    texts = " ".join(m.value for m in at.markdown)
    assert "McNemar exact test" in texts
    assert any("different split seeds" in w.value for w in at.warning)
    assert any("no stored test predictions" in i.value for i in at.info)
    assert any("is queued" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == 2 and len(at.dataframe) == 3  # paired table, slices, sensitivity
