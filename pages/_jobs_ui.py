"""Jobs for the pages: the queue's status (the sidebar of every page, Home, Train), where jobs run
(the executor caption, the Ray cluster panel) and a parent run's children. Reads the job manager
and the store of this process (``_resources``)."""
from __future__ import annotations

import logging
import traceback

import streamlit as st

from core.validation import LabError
from pages import _format, _resources, _widgets

log = logging.getLogger(__name__)
page_log = logging.getLogger("lab.pages")

JOBS_REFRESH_S = 2.0  # the sidebar, Home and Train job views all refresh at this pace
CLUSTER_CHECK_TTL_S = 10.0  # how long the sidebar keeps its own answer of the Ray cluster


def job_snapshot(recent: int = 0):
    """The queue's state in one consistent read (core.jobs.status.job_snapshot): running and queued
    runs with progress, live supervisors, and the ``recent`` newest runs. Every page shows
    job status from this, so that no two places disagree."""
    from core.jobs.status import job_snapshot as snapshot

    return visible_snapshot(snapshot(_resources.get_store(), recent=recent))


def visible_snapshot(snap):
    """``snap`` with only the runs this session's actor may see (the queue's counts stay: how busy
    it is is no secret, whose runs are waiting is). Unchanged for an actor who sees every run."""
    import dataclasses

    from core.auth.policy import POLICY

    actor = _resources.current_actor()
    if POLICY["view"][actor.role] == "any":
        return snap
    from core.auth.policy import decide

    seen = {f.name: [r for r in getattr(snap, f.name) if decide(actor, "view", r)]
            for f in dataclasses.fields(snap) if f.name in ("running", "queued", "searches", "recent")}
    return dataclasses.replace(snap, **seen)


@_widgets.live_fragment(JOBS_REFRESH_S)
def sidebar_jobs() -> None:
    """Job status in the sidebar of every page, redrawn every JOBS_REFRESH_S seconds on its
    own (it used to be drawn once per page run: "No jobs running" during a run started by the
    page below it, "1 running" long after the run had finished)."""
    try:
        jm = _resources.ensure_supervisor()
        snap = job_snapshot()
    except LabError as err:
        st.error(str(err))
        return
    except Exception as err:  # store unreachable: say so, keep the app serving
        page_log.error("store error\n%s", traceback.format_exc())
        st.error(f"The run store is not reachable: {err}")
        return
    render_job_status(snap, own_supervisor=jm.supervisor_id)
    executor_caption()  # where jobs run


def queued_line(snap) -> str:
    """"#4, #5 and 3 more" for the queued runs this person may see; the others are only counted."""
    ids = [f"#{q.id}" for q in snap.queued[:5]]
    hidden = max(0, snap.n_queued - len(snap.queued))  # other people's private runs
    rest = snap.n_queued - len(ids) - hidden
    parts = ids + ([f"{rest} more"] if rest > 0 else [])
    if hidden:
        parts.append(f"{_format.plural(hidden, 'run')} of other people")
    return ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]


def render_job_status(snap, own_supervisor: str | None = None) -> None:
    """Counts, a progress bar per running job, and a warning when queued runs wait for a
    supervisor that is not alive."""
    from core.jobs.status import progress_text

    if snap.waiting_unsupervised:
        st.warning(snap.unsupervised_message(), icon=":material/hourglass_disabled:")
    for line in snap.cluster_messages():  # a Ray cluster that does not answer: its runs' state is unknown
        st.warning(_format.md_text(line), icon=":material/cloud_off:")
    standby = snap.standby_line()  # a warm worker waiting for the next run, with its memory
    if not snap.active:
        st.caption("No jobs running." + (f" {_format.md_text(standby)}" if standby else ""))
        return
    st.markdown(f"**Jobs:** {snap.headline()}")
    for r in snap.running:
        st.progress(min(1.0, max(0.0, float(r.progress or 0.0))),
                    text=f"#{r.id} {_format.md_text(r.name)} · {_format.md_text(progress_text(r))}")
    if snap.n_queued:
        st.caption(f"Queued: {queued_line(snap)}")
    if standby:
        st.caption(_format.md_text(standby))
    if snap.supervisors:
        sv = next((x for x in snap.supervisors if x.id == own_supervisor), snap.supervisors[0])
        who = "this dashboard" if sv.id == own_supervisor else f"{sv.kind} on {sv.host}"
        more = f" (+{len(snap.supervisors) - 1} more)" if len(snap.supervisors) > 1 else ""
        st.caption(f"Queue run by {_format.md_text(who)}{more}.")


def executor_caption() -> None:
    """One caption line: where this dashboard's jobs execute (and why they cannot, if so)."""
    try:
        jm = _resources.get_jobs()
    except Exception as err:  # noqa: BLE001 - the sidebar must render whatever the store does
        log.warning("no job manager for the executor caption: %s", err)
        return
    problem = jm.executor_problem
    if problem is None and jm.executor_name == "ray" and getattr(jm.executor, "reachable", None) is not True:
        problem = cluster_problem(getattr(jm.executor, "address", ""))  # not asked by a supervisor here yet
    if problem:
        st.warning(problem, icon=":material/cloud_off:")
    else:
        st.caption(f"Executor: {_format.md_text(jm.describe())}")


@st.cache_data(ttl=CLUSTER_CHECK_TTL_S, show_spinner=False)
def cluster_problem(address: str) -> str | None:
    """Why the Ray cluster at ``address`` (LAB_RAY_ADDRESS) cannot run jobs, asked at most once per
    CLUSTER_CHECK_TTL_S, waiting at most 3 s: for a dashboard whose own supervisor has not asked it
    (it has just started, or another process runs the queue: LAB_DASHBOARD_SUPERVISOR=0)."""
    from core.jobs.status import executor_problem

    return executor_problem(_resources.get_store(), timeout_s=3.0)


def status_text(r) -> str:
    """A run's status for the Runs list ("state unknown — cluster unreachable since ..." while a
    Ray run's cluster does not answer)."""
    from core.jobs.status import status_text as text

    return text(r)


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
    jm = _resources.get_jobs()
    if jm.executor_name != "ray":
        return
    with st.expander("Ray cluster", expanded=False, icon=":material/hub:"):
        if jm.executor is None:
            st.warning(jm.executor_problem or "The Ray executor is not available.")
            return
        from core.jobs.executors.base import ExecutorError

        try:
            summary = jm.executor.cluster_summary()
        except ExecutorError as err:
            st.warning(str(err), icon=":material/cloud_off:")
            return
        rows = cluster_rows(summary)
        st.caption(f"{len(rows)} node(s) at {_format.md_text(summary['address'])}; a run takes 1 CPU and the GPUs "
                   "it asks for (gpus on the form).")
        if rows:
            st.dataframe(rows, hide_index=True, width="stretch")


# what a parent run is (core.jobs.kinds.PARENT_KINDS), on its page
PARENT_LABELS = {"group": "Recipe group", "search": "Hyper-parameter search"}


def children_section(r) -> None:
    """On a parent run's page (a recipe group, a search): what it is, how many of its runs are
    done and each run with its status and progress, linked. Nothing for other runs."""
    import pandas as pd

    from core.jobs.status import progress_text

    if r.kind not in PARENT_LABELS:
        return
    kids, n = _resources.guarded_store().list_runs(parent_id=r.id, limit=None, sort="id", descending=False)
    done = sum(k.is_final for k in kids)
    unit = "trials" if r.kind == "search" else "runs"
    recipe = r.tags.get("recipe") or (getattr(r, "params", None) or {}).get("recipe.name")
    what = PARENT_LABELS[r.kind] + (f" of recipe {recipe}" if r.kind == "group" and recipe else "")
    st.markdown(f"**{_format.md_text(what)}** · {done}/{n} {unit} done")
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
