"""Compare: 2+ runs -> config differences, overlaid curves, the report B table (+ balanced
accuracy, macro AUC, kappa), per-class F1, confusion matrices side by side, ROC overlays."""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from pages import _ui

_ui.ensure_frame()

TABLE = [("train_time_s", "training time"), ("trainable_params", "trainable params"), ("accuracy", "accuracy"),
         ("macro_f1", "F1 (macro)"), ("weighted_f1", "F1 (weighted)"), ("macro_recall", "recall (macro)"),
         ("macro_precision", "precision (macro)"), ("balanced_accuracy", "balanced accuracy"),
         ("macro_auc", "macro AUC"), ("kappa_quadratic", "quadratic kappa")]


@_ui.guarded
def body() -> None:
    st.title("Compare runs")
    store = _ui.get_store()
    c = st.columns([2, 3])
    text = c[0].text_input("Filter runs", key="c_text", placeholder="name, dataset, model, tag")
    # only the newest 100 finished runs are offered (fast with thousands stored); ?runs= adds others
    rows, total = store.list_runs(status="succeeded", kind="train", text=text.strip() or None, limit=100)
    if total < 2 and not text:
        st.info("Compare needs at least two succeeded runs. Train some on **Train** (or the quick start on **Home**).",
                icon=":material/info:")
        return
    labels = {r.id: _ui.run_label(r) for r in rows}
    # ?runs=3,7 (or ?runs=3&runs=7) preselects runs
    pre = [int(x) for v in st.query_params.get_all("runs") for x in v.split(",") if x.strip().isdigit()]
    for rid in pre:  # preselected runs older than the newest 100
        if rid not in labels and store.exists(rid):
            labels[rid] = _ui.run_label(store.get_run(rid))
    default = [i for i in pre if i in labels] or list(labels)[:2]
    chosen = c[1].multiselect("Runs", list(labels), default=default, format_func=labels.get, key="c_runs")
    if len(chosen) < 2:
        st.info("Choose at least two runs.")
        return
    details = [store.get_run(i) for i in chosen]
    arts = {r.id: _ui.run_artifacts(r) for r in details}

    st.subheader("Results")
    st.dataframe(results_table(details, arts), width="stretch")
    st.subheader("Configuration differences")
    diff = config_diff(details)
    if diff.empty:
        st.caption("The configurations are identical.")
    else:
        st.dataframe(diff, width="stretch")

    from core import plots

    hist = store.get_histories(chosen)
    if not hist.empty:
        st.subheader("Training curves")
        hist = hist.assign(run=hist["run_id"].map(lambda i: f"#{i}"))
        st.plotly_chart(plots.training_curves(hist), width="stretch", key="c_curves")
    evs = {f"#{r.id} {r.name}": arts[r.id][0] for r in details if arts[r.id][0]}
    if evs:
        st.subheader("Per-class F1")
        pcf = pd.DataFrame({k: {p["class"]: p["f1"] for p in ev["per_class"]} for k, ev in evs.items()})
        st.dataframe(pcf, width="stretch", column_config={k: st.column_config.NumberColumn(k, format="%.3f")
                                                          for k in pcf.columns})
        st.subheader("ROC curves")
        st.plotly_chart(plots.roc_overlay(evs), width="stretch", key="c_roc")
        st.subheader("Confusion matrices")
        normalize = st.toggle("Normalise rows", value=True, key="c_cm_norm")
        cols = st.columns(min(len(evs), 3))
        for i, (k, ev) in enumerate(evs.items()):
            cols[i % len(cols)].plotly_chart(plots.confusion_matrix(ev, normalize=normalize, title=k),
                                             width="stretch", key=f"c_cm_{i}")


def results_table(details, arts) -> pd.DataFrame:
    out = {}
    for r in details:
        s = dict(r.summary)
        ev, _, meta = arts[r.id]
        if ev:
            s = {**ev["summary"], **s}
        params = meta.get("params") or meta.get("param_counts") or {}
        s.setdefault("trainable_params", s.get("params_trainable", params.get("trainable")))
        s.setdefault("train_time_s", meta.get("train_time_s", r.duration_s))
        col = {}
        for k, label in TABLE:
            v = s.get(k)
            if k == "train_time_s":
                col[label] = _ui.fmt_duration(v)
            elif k == "trainable_params":
                col[label] = f"{int(v):,}" if v is not None else "—"
            else:
                col[label] = _ui.fmt_num(v)
        out[f"#{r.id} {r.name}"] = col
    return pd.DataFrame(out)


def config_diff(details) -> pd.DataFrame:
    """Only the configuration keys whose values differ between the runs."""
    from core.store import flatten

    flat = {f"#{r.id} {r.name}": {k: json.dumps(v, default=str) if isinstance(v, (list, dict)) else v
                                   for k, v in flatten(r.config or {}).items()} for r in details}
    keys = sorted(set().union(*[set(f) for f in flat.values()]))
    rows = {}
    for k in keys:
        vals = [f.get(k) for f in flat.values()]
        if len({json.dumps(v, default=str) for v in vals}) > 1:
            rows[k] = ["—" if v is None else str(v) for v in vals]
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(flat))


body()
