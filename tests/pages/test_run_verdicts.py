"""Verdicts on the pages (AppTest, a real collapsed HAM10000 run): the Run page and the Runs list
call out a model at chance or predicting one class; promotion to champion shows the classes under the
sensitivity floor and needs a note; Predict says when the predicted class is rarely right on the test
split; the Run page's slice intervals are the model card's."""
from __future__ import annotations

import re

import numpy as np
import pytest

from lab_pages_support import app_at, env_store, page_texts, problems
from verdicts_support import collapsed_ham_store

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("page_jobs_cleanup")]


@pytest.fixture(scope="module")
def collapsed(shared_datasets, tmp_path_factory):
    from core.store.artifacts import RunFolder

    rid, mp = collapsed_ham_store(shared_datasets, tmp_path_factory.mktemp("page_verdicts"))
    store = env_store()
    run = store.get_run(rid)
    rf = RunFolder.of(run, store)
    out = {"id": rid, "run": run, "ev": rf.read_json("evaluation"), "meta": rf.read_json("meta"),
           "pred": rf.read_csv("predictions", dtype={"id": str})}
    store.close()
    yield out
    mp.undo()


def test_run_page_calls_out_a_model_at_chance(collapsed):
    from core.analysis.verdicts import one_class_warning

    text = one_class_warning(collapsed["run"].summary, evaluation=collapsed["ev"])
    at = app_at("runs", {"run": str(collapsed["id"])})
    assert problems(at) == []
    assert text and any(text.split(":")[0] in str(w.value) for w in at.warning), page_texts(at)


def test_runs_list_marks_the_run(collapsed):
    at = app_at("runs")
    assert problems(at) == []
    df = at.dataframe[0].value
    assert "verdict" in df.columns
    mark = df.loc[df["id"] == collapsed["id"], "verdict"].iloc[0]
    assert mark in ("one class", "at chance")


def test_promotion_on_the_run_page_needs_a_note(collapsed):
    from core.analysis.verdicts import sensitivity_shortfalls

    rid = collapsed["id"]
    short = sensitivity_shortfalls(collapsed["ev"], "ham10000", collapsed["meta"].get("class_codes"))
    assert short
    at = app_at("runs", {"run": str(rid)})
    at.session_state["r_tab"] = "Manage"
    at.run()
    texts = page_texts(at)
    for s in short:
        assert f"{s.name} {s.sensitivity:.3f}" in texts
    at.button(key=f"r_champ_set_{rid}").click().run()
    assert env_store().champion("ham10000") is None
    assert any("note" in str(e.value) for e in at.error), page_texts(at)
    at.text_input(key=f"r_champ_note_{rid}").set_value("kept to show a collapsed model").run()
    at.button(key=f"r_champ_set_{rid}").click().run()
    assert problems(at) == []
    store = env_store()
    e = store.champion("ham10000")
    assert e is not None and e.run_id == rid and e.note.startswith("kept to show a collapsed model")
    assert all(f"{s.name} {s.sensitivity:.3f}" in e.note for s in short)
    store.clear_champion("ham10000")
    store.close()


def test_predict_says_when_the_predicted_class_is_rarely_right(collapsed, shared_datasets):
    from core.analysis.verdicts import low_precision_warning

    pred, ev = collapsed["pred"], collapsed["ev"]
    mode = int(pred["y_pred"].mode()[0])
    sample = pred[pred["y_pred"] == mode].sort_values(f"p_{mode}", ascending=False)["id"].iloc[0]
    code = collapsed["meta"]["class_codes"][int(pred.loc[pred["id"] == sample, "y_true"].iloc[0])]
    photo = (shared_datasets / "ham10000" / "reduced_200x150" / code / f"{sample}.jpg").read_bytes()
    at = app_at("predict", {"run": str(collapsed["id"])})
    at.file_uploader(key="p_files").set_value((f"{sample}.jpg", photo, "image/jpeg")).run()
    assert problems(at) == []
    shown = [re.search(r"\*\*Prediction: (.*)\*\* \(", str(m.value)) for m in at.markdown]
    name = next(h.group(1) for h in shown if h)
    c = ev["class_names"].index(name)
    cm = np.asarray(ev["confusion"]["counts"])
    assert cm[c, c] < 0.5 * cm[:, c].sum(), "a model at chance: its usual answer is rarely right"
    hint = low_precision_warning(ev, c)
    assert hint and any(hint.split("(precision")[0].strip("* ") in str(w.value) for w in at.warning), page_texts(at)


def test_slice_intervals_on_the_run_page_are_the_model_cards(collapsed):
    from core.analysis.model_card import collect

    at = app_at("runs", {"run": str(collapsed["id"])})
    at.session_state["r_tab"] = "Slices"
    at.run()
    assert problems(at) == []
    page = next(d.value for d in at.dataframe if {"by", "slice", "accuracy low"} <= set(d.value.columns))
    page = page.set_index(["by", "slice"])
    store = env_store()
    card = collect(store.get_run(collapsed["id"]), store=store, examples=0)
    store.close()
    rows = {(r["by"], r["slice"]): r for r in card["slices"]["rows"]}
    assert ("age", "age 0-29") in rows and ("age", "age 0-29") in page.index
    for key, r in rows.items():
        for col in ("accuracy low", "accuracy high", "balanced low", "balanced high"):
            a, b = page.loc[key, col], r[col]
            assert (a is None or a != a) and b is None or a == b, (key, col, a, b)
