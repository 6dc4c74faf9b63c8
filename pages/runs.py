"""Runs: a filtered, sorted, paged table of all runs; one run's page (?run=ID) with config,
curves, metrics with CIs, confusion matrix, ROC/PR, calibration, prediction gallery, and
tag / notes / delete / download / re-run."""
from __future__ import annotations

import io
import json
import zipfile

import pandas as pd
import streamlit as st

from pages import _ui

_ui.ensure_frame()

STATUSES = ["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
SORTS = {"newest": ("created_at", True), "oldest": ("created_at", False), "accuracy": ("accuracy", True),
         "balanced accuracy": ("balanced_accuracy", True), "macro F1": ("macro_f1", True),
         "macro AUC": ("macro_auc", True), "duration": ("duration", True), "name": ("name", False)}
PAGE_SIZE = 50


@_ui.guarded
def body() -> None:
    rid = st.query_params.get("run")
    if rid:
        try:
            run_page(int(rid))
        except ValueError:
            st.error(f"'?run={rid}' is not a run id: use a whole number such as ?run=12.")
        return
    st.title("Runs")
    runs_table()


# ------------------------------------------------------------------ the list
def runs_table() -> None:
    store = _ui.get_store()
    c = st.columns([2, 2, 2, 2, 2])
    text = c[0].text_input("Search", key="r_text", placeholder="name, dataset, model, notes, tag")
    datasets = c[1].multiselect("Dataset", _distinct("dataset"), key="r_ds")
    models = c[2].multiselect("Model", _distinct("model"), key="r_model")
    status = c[3].multiselect("Status", STATUSES, key="r_status")
    tag = c[4].text_input("Tag (key or key=value)", key="r_tag")
    c = st.columns([2, 2, 6])
    sort = c[0].selectbox("Sort by", list(SORTS), key="r_sort")
    sort_key, desc = SORTS[sort]
    n_total = store.list_runs(dataset=datasets or None, model=models or None, status=status or None,
                              tag=tag.strip() or None, text=text.strip() or None, limit=0)[1]
    if n_total == 0:
        if not (text or datasets or models or status or tag):
            st.info("No runs yet. Start one on **Train** or with the quick start on **Home**.", icon=":material/info:")
        else:
            st.info("No run matches these filters.")
        return
    pages = max(1, -(-n_total // PAGE_SIZE))
    page = int(c[1].number_input(f"Page (of {pages})", 1, pages, 1, key="r_page"))
    rows, _ = store.list_runs(dataset=datasets or None, model=models or None, status=status or None,
                              tag=tag.strip() or None, text=text.strip() or None, sort=sort_key, descending=desc,
                              limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    df = pd.DataFrame([{
        "open": f"?run={r.id}", "id": r.id, "name": r.name, "status": r.status, "dataset": r.dataset, "model": r.model,
        "accuracy": r.summary.get("accuracy"), "balanced acc.": r.summary.get("balanced_accuracy"),
        "macro F1": r.summary.get("macro_f1"), "macro AUC": r.summary.get("macro_auc"),
        "min sens.": r.summary.get("min_sensitivity"), "kappa": r.summary.get("kappa_quadratic"),
        "duration": _ui.fmt_duration(r.duration_s), "tags": ", ".join(f"{k}={v}" if v else k for k, v in r.tags.items()),
        "created": r.created_at,
    } for r in rows])
    c[2].caption(f"{n_total:,} runs · showing {len(df)}")
    st.dataframe(df, hide_index=True, width="stretch", column_config={
        "open": st.column_config.LinkColumn("open", display_text="open", width="small"),
        **{k: st.column_config.NumberColumn(k, format="%.3f") for k in
           ("accuracy", "balanced acc.", "macro F1", "macro AUC", "min sens.", "kappa")},
        "created": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm"),
    })
    pick = st.selectbox("Open a run", [None] + [r.id for r in rows], key="r_open",
                        format_func=lambda i: "—" if i is None else _ui.run_label(next(r for r in rows if r.id == i)))
    if pick is not None:
        st.query_params["run"] = str(pick)
        st.rerun()


def _distinct(column: str) -> list[str]:
    """Filter options: the registry names (no scan of the runs table)."""
    if column == "dataset":
        return [i.name for i in _ui.cached_dataset_infos()]
    from core.models import list_models

    return list_models()


# ------------------------------------------------------------------ one run
def run_page(run_id: int) -> None:
    from core import plots

    store = _ui.get_store()
    if st.button("All runs", icon=":material/arrow_back:", key="r_back"):
        st.query_params.clear()
        st.rerun()
    r = store.get_run(run_id)
    st.title(f"Run #{r.id}: {r.name}")
    st.caption(f"{r.dataset} · {r.model} · {r.status} · created {r.created_at:%Y-%m-%d %H:%M} · "
               f"duration {_ui.fmt_duration(r.duration_s)} · seed {r.seed}")
    if r.error:
        st.error(r.error)
    ev, pred, meta = _ui.run_artifacts(r)
    if meta.get("domain") in ("lesion", "fundus"):
        st.warning(_ui.RESEARCH_NOTICE, icon=":material/health_and_safety:")
    tabs = st.tabs(["Metrics", "Curves", "Confusion", "ROC / PR / calibration", "Predictions", "Config", "Manage"])
    with tabs[0]:
        metrics_tab(r, ev)
    with tabs[1]:
        hist = store.get_metric_history(r.id)
        if hist.empty:
            st.info("No training curves recorded for this run.")
        else:
            st.plotly_chart(plots.training_curves(hist), width="stretch", key="r_curves")
    with tabs[2]:
        confusion_tab(ev)
    with tabs[3]:
        curves_tab(ev)
    with tabs[4]:
        gallery_tab(r, pred, meta)
    with tabs[5]:
        st.json(r.config, expanded=True)
        if r.params:
            with st.expander("Parameters"):
                st.json(r.params, expanded=False)
    with tabs[6]:
        manage_tab(r)


def metrics_tab(r, ev) -> None:
    s = ev["summary"] if ev else r.summary
    if not s:
        st.info("No metrics yet: the run has not finished evaluating on its test split.")
        return
    c = st.columns(5)
    for col, (k, label) in zip(c, [("accuracy", "Accuracy"), ("balanced_accuracy", "Balanced accuracy"),
                                   ("macro_f1", "Macro F1"), ("macro_auc", "Macro AUC"),
                                   ("kappa_quadratic" if "kappa_quadratic" in s else "micro_auc",
                                    "Quadratic kappa" if "kappa_quadratic" in s else "Micro AUC")]):
        lo, hi = s.get(f"ci_low_{k}"), s.get(f"ci_high_{k}")
        col.metric(label, _ui.fmt_num(s.get(k)), help=f"95% bootstrap CI {_ui.fmt_num(lo)}–{_ui.fmt_num(hi)}"
                   if lo is not None else None)
        if lo is not None:
            col.caption(f"95% CI {_ui.fmt_num(lo)}–{_ui.fmt_num(hi)}")
    st.caption(f"Sensitivity mean {_ui.fmt_num(s.get('mean_sensitivity'))} (range {_ui.fmt_num(s.get('min_sensitivity'))}"
               f"–{_ui.fmt_num(s.get('max_sensitivity'))}) · specificity mean {_ui.fmt_num(s.get('mean_specificity'))} · "
               f"log loss {_ui.fmt_num(s.get('log_loss'))} · ECE {_ui.fmt_num(s.get('ece'))}")
    if ev:
        pc = pd.DataFrame(ev["per_class"]).drop(columns=["index"], errors="ignore")
        st.dataframe(pc, hide_index=True, width="stretch",
                     column_config={k: st.column_config.NumberColumn(k, format="%.3f") for k in
                                    ("precision", "recall", "sensitivity", "specificity", "f1", "auc", "ap",
                                     "ovr_accuracy")})
        for n in ev.get("notices", []):
            st.caption(n)
    with st.expander("All summary metrics"):
        st.dataframe(pd.DataFrame({"metric": list(s), "value": list(s.values())}), hide_index=True)


def confusion_tab(ev) -> None:
    from core import plots

    if not ev:
        st.info("No evaluation for this run yet.")
        return
    normalize = st.toggle("Normalise rows (sensitivity on the diagonal)", key="r_cm_norm")
    st.plotly_chart(plots.confusion_matrix(ev, normalize=normalize), width="stretch", key="r_cm")


def curves_tab(ev) -> None:
    from core import plots

    if not ev:
        st.info("No evaluation for this run yet.")
        return
    a, b = st.columns(2)
    a.plotly_chart(plots.roc_curves(ev), width="stretch", key="r_roc")
    b.plotly_chart(plots.pr_curves(ev), width="stretch", key="r_pr")
    st.plotly_chart(plots.calibration(ev), width="stretch", key="r_cal")


def gallery_tab(r, pred, meta) -> None:
    if pred is None:
        st.info("No stored test predictions for this run.")
        return
    from core.evaluation import Interpretation

    class_names = meta.get("class_names") or (r.config.get("class_names") if r.config else None)
    if not class_names:
        st.info("The run's class names are missing (meta.json).")
        return
    interp = Interpretation(pred, class_names, ordinal=bool(meta.get("ordinal")))
    mc = interp.most_confused(8)
    if mc:
        st.markdown("**Most confused pairs** (actual → predicted: count): " +
                    "; ".join(f"{a} → {p}: {n}" for a, p, n in mc))
    mode = st.radio("Show", ["Top losses", "Random test images", "Misclassified"], horizontal=True, key="r_gal_mode")
    n = st.slider("Images", 4, 32, 12, 4, key="r_gal_n")
    if mode == "Top losses":
        sel = interp.top_losses(n)
    elif mode == "Misclassified":
        sel = interp.top_losses(n, only_wrong=True)
    else:
        all_ = interp.top_losses(len(pred))
        sel = all_.sample(min(n, len(all_)), random_state=int(st.session_state.get("r_gal_seed", 0)))
    if sel.empty:
        st.success("No misclassified test images.")
        return
    images = gallery_images(r, meta, list(sel["id"]))
    cols = st.columns(4)
    for i, (_, row) in enumerate(sel.iterrows()):
        col = cols[i % 4]
        ok = row["actual"] == row["predicted"]
        caption = f"actual {row['actual']} / predicted {row['predicted']} ({row['p_pred']:.2f})"
        if images is not None and row["id"] in images:
            col.image(images[row["id"]], caption=caption, width="stretch", clamp=True)
        else:
            col.markdown(f"`{row['id']}` — {caption}")
        col.caption(("✓" if ok else "✗") + f" loss {row['loss']:.2f}")


def gallery_images(r, meta, ids: list[str]) -> dict | None:
    """Decode the gallery's test images from the run's dataset (None when it cannot be loaded)."""
    spec = meta.get("dataset") or r.config.get("dataset") or {}
    if not spec.get("name"):
        return None
    try:
        ds = _ui.load_dataset_cached(spec["name"], dict(spec.get("params") or {}))
        from core.datasets.io import load_images

        pos = ds.index_of(ids)
        imgs = load_images(ds, pos, size=None)
        return {i: _upscale(img) for i, img in zip(ids, imgs)}
    except Exception as err:  # the dataset may be gone; show ids instead
        st.caption(f"Images not shown: {err}")
        return None


def _upscale(img):
    import numpy as np

    img = np.asarray(img)
    h = img.shape[0]
    if h < 64:
        f = int(np.ceil(64 / h))
        img = np.repeat(np.repeat(img, f, axis=0), f, axis=1)
    return img


def manage_tab(r) -> None:
    store = _ui.get_store()
    c = st.columns(2)
    tags_text = c[0].text_input("Tags (comma separated, key or key=value)",
                                value=", ".join(f"{k}={v}" if v else k for k, v in r.tags.items()), key=f"r_tags_{r.id}")
    if c[0].button("Save tags", key=f"r_save_tags_{r.id}"):
        tags = {}
        for t in [t.strip() for t in tags_text.split(",") if t.strip()]:
            k, _, v = t.partition("=")
            tags[k.strip()] = v.strip()
        store.set_tags(r.id, tags)
        st.success("Tags saved.")
    notes = c[1].text_area("Notes", value=r.notes or "", key=f"r_notes_{r.id}")
    if c[1].button("Save notes", key=f"r_save_notes_{r.id}"):
        store.set_notes(r.id, notes)
        st.success("Notes saved.")
    st.divider()
    d = st.columns(4)
    model_file = _ui.run_dir(r) / "model.keras"
    if model_file.is_file():
        d[0].download_button("Download model", data=model_file.read_bytes(), file_name=f"run_{r.id}_model.keras",
                             mime="application/octet-stream", key=f"r_dl_model_{r.id}", on_click="ignore")
    d[1].download_button("Download metrics (zip)", data=metrics_zip(r), file_name=f"run_{r.id}_metrics.zip",
                         mime="application/zip", key=f"r_dl_metrics_{r.id}", on_click="ignore")
    if d[2].button("Re-run with the same config", key=f"r_rerun_{r.id}", icon=":material/replay:"):
        from core.training import TrainConfig

        cfg = TrainConfig.from_dict(r.config)
        new_id = _ui.get_jobs().submit(cfg, name=f"{r.name} (re-run)")
        st.success(f"Run #{new_id} queued.")
    with d[3].popover("Delete", icon=":material/delete:"):
        st.write(f"Delete run #{r.id}, its metrics and its files?")
        if st.button("Delete for good", type="primary", key=f"r_delete_{r.id}"):
            store.delete_run(r.id)
            st.query_params.clear()
            st.rerun()


def metrics_zip(r) -> bytes:
    """config, summary, per-class metrics, history and evaluation of a run, zipped in memory."""
    store = _ui.get_store()
    buf = io.BytesIO()
    d = _ui.run_dir(r)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", json.dumps(r.config, indent=2, default=str))
        zf.writestr("summary.json", json.dumps(r.summary, indent=2, default=str))
        zf.writestr("metrics.csv", store.get_metric_history(r.id).to_csv(index=False))
        for name in ("evaluation.json", "predictions.csv", "meta.json", "split.json", "history.csv"):
            if (d / name).is_file():
                zf.write(d / name, name)
    return buf.getvalue()


body()
