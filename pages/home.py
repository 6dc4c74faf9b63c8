"""Home: what the lab is, a one-click quick start, datasets, running jobs, recent runs."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import _ui

_ui.ensure_frame()

QUICK_START = dict(dataset={"name": "digits", "params": {}}, model="small_cnn", epochs=5, batch_size=32,
                   name="quick start: small_cnn on digits")


@_ui.guarded
def body() -> None:
    st.title("Image-classification lab")
    st.markdown(
        "Train, compare and understand image classifiers — dermatoscopic lesions (HAM10000), "
        "diabetic-retinopathy fundus photos, Fashion-MNIST, CIFAR-10, MNIST, your own folders and "
        "the bundled digits. Every run is stored with its config, leakage-free split, curves, "
        "per-sample test predictions, honest per-class metrics and model."
    )
    left, right = st.columns([3, 2], gap="large")
    with left:
        quick_start()
        live_jobs()
        recent_runs()
    with right:
        datasets_panel()


def quick_start() -> None:
    st.subheader("Quick start")
    st.write("Train a small CNN on the bundled 8x8 digits (1,797 images, about a minute on a CPU) "
             "and watch it live. Then open it on **Runs**, or upload a digit on **Predict & explain**.")
    if st.button("Train small_cnn on digits", type="primary", icon=":material/play_arrow:", key="quick_start"):
        from core.training import TrainConfig

        cfg = TrainConfig(**QUICK_START)
        cfg.validate()
        run_id = _ui.get_jobs().submit(cfg, name=QUICK_START["name"])
        st.session_state["watch_run"] = run_id
        st.toast(f"Run #{run_id} queued")
    if st.session_state.get("watch_run"):
        watch_panel(st.session_state["watch_run"])


@st.fragment(run_every=1.0)
@_ui.guarded
def watch_panel(run_id: int) -> None:
    """Progress of the quick-start run; reads the store only."""
    try:
        r = _ui.get_store().get_run(run_id)
    except Exception as err:  # deleted meanwhile
        st.info(f"Run #{run_id} is no longer available ({err}).")
        return
    info = r.progress_info or {}
    text = f"Run #{r.id}: {r.status}"
    if r.status == "running":
        text += (f" — epoch {info.get('epoch') or '?'}/{info.get('epochs') or '?'} · "
                 f"{_ui.fmt_num(info.get('images_per_sec'), 0)} images/s · ETA {_ui.fmt_duration(info.get('eta_s'))}")
    st.progress(float(r.progress or 0.0), text=text)
    if r.status == "succeeded":
        acc = (r.summary or {}).get("accuracy")
        st.success(f"Run #{r.id} succeeded: test accuracy {_ui.fmt_num(acc)}.", icon=":material/check_circle:")
        st.page_link("pages/runs.py", label=f"Open run #{r.id}", icon=":material/open_in_new:", query_params={"run": str(r.id)})
    elif r.status in ("failed", "interrupted", "cancelled"):
        st.error(f"Run #{r.id} {r.status}: {r.error or 'no details'}")


@st.fragment(run_every=2.0)
@_ui.guarded
def live_jobs() -> None:
    st.subheader("Running jobs")
    store = _ui.get_store()
    rows, total = store.list_runs(status="running", limit=10)
    queued, nq = store.list_runs(status="queued", limit=10)
    if not total and not nq:
        st.caption("Nothing is training right now. Start a job on **Train** or with the quick start above.")
        return
    for r in rows:
        st.progress(float(r.progress or 0.0), text=_ui.run_label(r))
    if nq:
        st.caption(f"{nq} queued: " + ", ".join(f"#{q.id} {q.name}" for q in queued))


def recent_runs() -> None:
    st.subheader("Recent runs")
    rows, total = _ui.get_store().list_runs(limit=8, sort="created_at", descending=True)
    if not total:
        st.info("No runs yet. Use the quick start above or the **Train** page.", icon=":material/info:")
        return
    df = pd.DataFrame([{
        "id": r.id, "name": r.name, "dataset": r.dataset, "model": r.model, "status": r.status,
        "accuracy": (r.summary or {}).get("accuracy"),
        "balanced acc.": (r.summary or {}).get("balanced_accuracy"),
        "created": r.created_at,
    } for r in rows])
    st.dataframe(df, hide_index=True, width="stretch")
    st.caption(f"{total} runs in the store — see **Runs** for all of them.")


def datasets_panel() -> None:
    st.subheader("Datasets")
    infos = _ui.cached_dataset_infos()
    icons = {"builtin": ":material/check_circle:", "cached": ":material/check_circle:",
             "needs_download": ":material/cloud_download:", "needs_folder": ":material/folder_open:"}
    for i in infos:
        with st.container(border=True):
            st.markdown(f"{icons.get(i.availability, '')} **{i.title}** · `{i.name}` — "
                        f"{_ui.availability_label(i.availability)}")
            if i.description:
                st.caption(i.description)
            if i.availability not in ("builtin", "cached") and i.how_to:
                st.caption(f"How to provide it: {i.how_to}")


body()
