"""Home: what the lab is, a one-click quick start, datasets, running jobs, recent runs."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.store.schema import FINAL_STATUSES
from pages import _format, _frame, _jobs_ui, _resources, _streamlit_internals, _widgets

_streamlit_internals.ensure_frame(_frame.navigation)

QUICK_START = dict(dataset={"name": "digits", "params": {}}, model="small_cnn", epochs=5, batch_size=32,
                   name="quick start: small_cnn on digits")
# measured from queued to "succeeded" with the worker (bench/README.md, "Quick start"): 10 s on a
# 2-core CPU at load 3, 42 s with the cores shared by a dozen other jobs; the 5 epochs take ~2 s
QUICK_START_TIME = "10–45 seconds on a 2-core CPU (longer when it is busy), most of it starting TensorFlow"


@_widgets.guarded
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
        live_jobs()  # also draws Recent runs: one snapshot of the store for both
    with right:
        datasets_panel()


def quick_start() -> None:
    st.subheader("Quick start")
    st.write(f"Train a small CNN on the bundled 8x8 digits (1,797 images, {_format.plural(QUICK_START['epochs'], 'epoch')}) and "
             f"watch it live: {QUICK_START_TIME}. Then open it on **Runs**, or upload a digit on **Predict & explain**.")
    if _widgets.permitted("train") and st.button("Train small_cnn on digits", type="primary",
                                                  icon=":material/play_arrow:", key="quick_start"):
        from core.training.config import TrainConfig

        cfg = TrainConfig(**QUICK_START)
        cfg.validate()
        with _widgets.single_click("quick_start") as act:  # a double click queues one run
            run_id = _resources.acting(_resources.get_jobs().submit)(cfg, name=QUICK_START["name"]) if act else None
        if run_id is not None:
            st.session_state["watch_run"] = run_id
            st.toast(f"Run #{run_id} queued")
    if st.session_state.get("watch_run"):
        watch_panel(st.session_state["watch_run"])


def eta_text(eta_s) -> str:
    """The training's own estimate (core.training.progress: none until enough progress, from the recent
    rate); "estimating…" while it has none. Evaluation and saving come after it."""
    if eta_s is None:
        return "time left: estimating…"
    return f"about {_format.fmt_duration(max(1.0, float(eta_s)))} of training left"


@_widgets.live_fragment(1.0)
@_widgets.guarded
def watch_panel(run_id: int) -> None:
    """Progress of the quick-start run; reads the store only."""
    try:
        r = _resources.guarded_store().get_run(run_id)
    except Exception as err:  # deleted meanwhile
        st.info(f"Run #{run_id} is no longer available ({_format.md_text(err)}).")
        return
    info = r.progress_info or {}
    text = f"Run #{r.id}: {r.status}"
    if r.status == "running":
        text += (f" — epoch {info.get('epoch') or '?'}/{info.get('epochs') or '?'} · "
                 f"{_format.fmt_num(info.get('images_per_sec'), 0)} images/s · {eta_text(info.get('eta_s'))}")
    st.progress(float(r.progress or 0.0), text=text)
    if r.status == "succeeded":
        acc = (r.summary or {}).get("accuracy")
        st.success(f"Run #{r.id} succeeded: test accuracy {_format.fmt_num(acc)}.", icon=":material/check_circle:")
        st.page_link("pages/runs.py", label=f"Open run #{r.id}", icon=":material/open_in_new:", query_params={"run": str(r.id)})
    elif r.status in FINAL_STATUSES:  # failed, interrupted or cancelled
        st.error(f"Run #{r.id} {r.status}: {_format.md_text(r.error or 'no details')}")


@_widgets.live_fragment(_jobs_ui.JOBS_REFRESH_S)
@_widgets.guarded
def live_jobs() -> None:
    # Running jobs and Recent runs come from one consistent read and refresh together (Recent
    # runs was drawn once per page run: it showed `running` with no accuracy after success).
    snap = _jobs_ui.job_snapshot(recent=8)
    st.subheader("Running jobs")
    rows, total, queued, nq = snap.running, snap.n_running, snap.queued, snap.n_queued
    if not total and not nq:
        st.caption("Nothing is training right now. Start a job on **Train** or with the quick start above.")
    for r in rows:
        st.progress(float(r.progress or 0.0), text=_format.md_text(_format.run_label(r)))
    if nq:
        st.caption(f"{_format.plural(nq, 'run')} queued: " + ", ".join(f"#{q.id} {_format.md_text(q.name)}" for q in queued))
    recent_runs(snap)


def recent_runs(snap) -> None:
    st.subheader("Recent runs")
    rows, total = snap.recent, snap.n_runs
    if not total:
        st.info("No runs yet. Use the quick start above or the **Train** page.", icon=":material/info:")
        return
    df = pd.DataFrame([{
        "run": f"runs?run={r.id}", "name": r.name, "data · model": f"{r.dataset or '?'} · {r.model or '?'}",
        "status": r.status, "accuracy": (r.summary or {}).get("accuracy"),
        "balanced acc.": (r.summary or {}).get("balanced_accuracy"),
    } for r in rows])
    st.dataframe(df, hide_index=True, width="stretch", column_config=recent_columns())
    st.caption(f"{_format.plural(total, 'run')} in the store — see **Runs** for all of them.")


# fits the left column at 1400 px (~530 px beside the sidebar) without sideways scrolling:
# the run's link shows its id, dataset and model share a column, the date is on Runs
RECENT_WIDTHS = {"run": 48, "name": 120, "data · model": 136, "status": 80, "accuracy": 64, "balanced acc.": 64}


def recent_columns() -> dict:
    cc, w = st.column_config, RECENT_WIDTHS
    return {
        "run": cc.LinkColumn("run", display_text=r"runs\?run=(\d+)", width=w["run"], help="open the run's page"),
        "name": cc.TextColumn("name", width=w["name"]),
        "data · model": cc.TextColumn("data · model", width=w["data · model"], help="dataset · model"),
        "status": cc.TextColumn("status", width=w["status"]),
        "accuracy": cc.NumberColumn("acc.", format="%.3f", width=w["accuracy"], help="test accuracy"),
        "balanced acc.": cc.NumberColumn("bal. acc.", format="%.3f", width=w["balanced acc."],
                                         help="balanced accuracy (mean sensitivity over classes)"),
    }


# ready first (nothing to do), then those that need a folder, then those that need a download
AVAILABILITY_ORDER = {"builtin": 0, "cached": 0, "needs_folder": 1, "needs_download": 2}


def ordered_datasets(infos) -> list:
    """Datasets in the order a newcomer needs them: ready ones first (alphabetical within a group)."""
    return sorted(infos, key=lambda i: (AVAILABILITY_ORDER.get(i.availability, 3), i.title.lower()))


def datasets_panel() -> None:
    st.subheader("Datasets")
    infos = ordered_datasets(_resources.cached_dataset_infos())
    n_ready = sum(AVAILABILITY_ORDER.get(i.availability) == 0 for i in infos)
    st.caption(f"{_format.plural(n_ready, 'dataset')} ready to use; the others need a folder or a download first.")
    icons = {"builtin": ":material/check_circle:", "cached": ":material/check_circle:",
             "needs_download": ":material/cloud_download:", "needs_folder": ":material/folder_open:"}
    for i in infos:
        ready = AVAILABILITY_ORDER.get(i.availability) == 0
        with st.container(border=True):
            st.markdown(f"{icons.get(i.availability, '')} **{i.title}** · `{i.name}` — "
                        f"{_format.availability_label(i.availability)}")
            if i.description:
                st.caption(i.description)
            if not ready and i.how_to:
                with st.expander("How to provide it"):
                    st.caption(i.how_to)



body()
