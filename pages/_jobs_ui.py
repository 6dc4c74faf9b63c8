"""Where jobs run, for the pages: the executor caption (sidebar) and the Ray cluster panel
(Train page, Jobs tab). Reads the job manager of this process (``_ui.get_jobs``)."""
from __future__ import annotations

import logging

import streamlit as st

log = logging.getLogger(__name__)


def executor_caption() -> None:
    """One caption line: where this dashboard's jobs execute (and why they cannot, if so)."""
    from pages import _ui

    try:
        jm = _ui.get_jobs()
    except Exception as err:  # noqa: BLE001 - the sidebar must render whatever the store does
        log.warning("no job manager for the executor caption: %s", err)
        return
    if jm.executor_problem:
        st.warning(jm.executor_problem, icon=":material/cloud_off:")
    else:
        st.caption(f"Executor: {_ui.md_text(jm.describe())}")


def cluster_rows(summary: dict) -> list[dict]:
    """Table rows of ``RayExecutor.cluster_summary()``: one per node."""
    rows = []
    for n in summary.get("nodes", []):
        rows.append({
            "node": f"{n.get('ip') or n.get('name')} ({str(n.get('node_id'))[:8]})" + (" · head" if n.get("head") else ""),
            "CPUs used": f"{n['cpus_used']:g} / {n['cpus']:g}",
            "CPUs free": n["cpus_free"],
            "GPUs used": f"{n['gpus_used']:g} / {n['gpus']:g}",
            "GPUs free": n["gpus_free"],
            "jobs": len(n.get("jobs", [])),
            "job ids": ", ".join(n.get("jobs", [])),
        })
    return rows


def cluster_panel() -> None:
    """On Ray: nodes, CPUs/GPUs used and free, jobs per node. Nothing with the local executor."""
    from pages import _ui

    jm = _ui.get_jobs()
    if jm.executor_name != "ray":
        return
    with st.expander("Ray cluster", expanded=False, icon=":material/hub:"):
        if jm.executor is None:
            st.warning(jm.executor_problem or "The Ray executor is not available.")
            return
        from core.jobs.executors import ExecutorError

        try:
            summary = jm.executor.cluster_summary()
        except ExecutorError as err:
            st.warning(str(err), icon=":material/cloud_off:")
            return
        rows = cluster_rows(summary)
        st.caption(f"{len(rows)} node(s) at {_ui.md_text(summary['address'])}; a run takes 1 CPU and the GPUs "
                   "it asks for (gpus on the form).")
        if rows:
            st.dataframe(rows, hide_index=True, width="stretch")


# what a parent run is (core.jobs.manager.PARENT_KINDS), on its page
PARENT_LABELS = {"group": "Recipe group", "search": "Hyper-parameter search"}


def children_section(r) -> None:
    """On a parent run's page (a recipe group, a search): what it is, how many of its runs are
    done and each run with its status and progress, linked. Nothing for other runs."""
    import pandas as pd

    from core.jobs.manager import progress_text
    from pages import _ui

    if r.kind not in PARENT_LABELS:
        return
    kids, n = _ui.get_store().list_runs(parent_id=r.id, limit=None, sort="id", descending=False)
    done = sum(k.is_final for k in kids)
    unit = "trials" if r.kind == "search" else "runs"
    recipe = r.tags.get("recipe") or (getattr(r, "params", None) or {}).get("recipe.name")
    what = PARENT_LABELS[r.kind] + (f" of recipe {recipe}" if r.kind == "group" and recipe else "")
    st.markdown(f"**{_ui.md_text(what)}** · {done}/{n} {unit} done")
    st.progress(done / n if n else 0.0)
    if kids:
        st.dataframe(pd.DataFrame([{"open": f"?run={k.id}", "id": k.id, "name": k.name, "status": k.status,
                                    "progress": progress_text(k), "accuracy": k.summary.get("accuracy")}
                                   for k in kids]), hide_index=True, width="stretch",
                     column_config={"open": st.column_config.LinkColumn("open", display_text="open")})
    ok = [k for k in kids if k.status == "succeeded"]
    if len(ok) >= 2:
        st.page_link("pages/compare.py", label=f"Compare its {len(ok)} succeeded runs", icon=":material/compare:",
                     query_params={"runs": ",".join(str(k.id) for k in ok[:20])})
