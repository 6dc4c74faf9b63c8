"""The job queue's state as every page and ``python -m core jobs status`` read it: one consistent
read of the store (``job_snapshot``), the words for a run's progress and status (``progress_text``,
``status_text``: "state unknown" while a Ray run's cluster does not answer), whether the configured
executor can run jobs (``executor_problem``) and whether the dashboard process supervises the queue
itself (``dashboard_supervises``)."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.jobs.executors.base import UNREACHABLE_GRACE, unknown_state_text, unreachable_since
from core.jobs.kinds import JOB_KINDS, PARENT_KINDS
from core.store.schema import ACTIVE_STATUSES

LEASE_S = 30.0           # a supervisor whose heartbeat is older than this is dead
EXECUTOR_CHECK_S = 5.0   # how long ``executor_problem`` waits for the Ray cluster to answer
DASHBOARD_SUPERVISOR_ENV = "LAB_DASHBOARD_SUPERVISOR"


def dashboard_supervises() -> bool:
    """Does a dashboard process run the queue itself? Yes unless ``LAB_DASHBOARD_SUPERVISOR``
    is 0/false/off/no (then ``python -m core jobs serve`` runs it)."""
    return os.environ.get(DASHBOARD_SUPERVISOR_ENV, "1").strip().lower() not in ("0", "false", "off", "no")


@dataclass
class JobSnapshot:
    """The state of the job queue at one instant (one consistent read of the store).

    ``running``/``queued``: training and LR-finder jobs (oldest first), with progress;
    ``n_running``/``n_queued`` their counts (``queued`` holds at most ``limit``);
    ``searches``: unfinished parents (searches and groups, ``PARENT_KINDS``: not jobs, not counted);
    ``supervisors``: live supervisor leases;
    ``recent``: the newest runs of any status (when asked for);
    ``standby``: idle standby workers of the live supervisors on this host (``core.jobs.standby``).
    """

    running: list
    queued: list
    n_running: int
    n_queued: int
    searches: list
    supervisors: list
    recent: list
    n_runs: int
    taken_at: datetime
    standby: list = field(default_factory=list)

    @property
    def active(self) -> bool:
        return bool(self.n_running or self.n_queued)

    @property
    def waiting_unsupervised(self) -> bool:
        """Queued runs that nothing will start: no supervisor is alive."""
        return self.n_queued > 0 and not self.supervisors

    def by_id(self) -> dict[int, Any]:
        """Every run of the snapshot by id (running, queued, searches, recent)."""
        out: dict[int, Any] = {}
        for r in (*self.recent, *self.searches, *self.queued, *self.running):
            out[r.id] = r
        return out

    def headline(self) -> str:
        """One line for a status bar, e.g. ``1 running, 2 queued`` or ``No jobs running.``"""
        if not self.active:
            return "No jobs running."
        return f"{self.n_running} running, {self.n_queued} queued"

    def standby_line(self) -> str:
        """``Warm worker ready (pid 4242 · 512 MB)``, one entry per standby; "" when there is none."""
        if not self.standby:
            return ""
        text = "; ".join(s.text() for s in self.standby)
        return text[0].upper() + text[1:] + "."

    def cluster_messages(self) -> list[str]:
        """One line per Ray cluster that does not answer the supervisor of its running runs:
        since when, which runs' state is unknown and when they end ``interrupted``."""
        down: dict[str, list] = {}
        for r in self.running:
            if unreachable_since(r):
                down.setdefault(str((r.placement or {}).get("ray_address") or "?"), []).append(r)
        out = []
        for address, runs in down.items():
            since = min(unreachable_since(r) for r in runs).astimezone()
            ids = ", ".join(f"#{r.id}" for r in runs)
            grace = max(float((r.placement or {}).get(UNREACHABLE_GRACE) or 0) for r in runs)
            many = len(runs) > 1
            out.append(f"The Ray cluster at {address} has been unreachable since {since:%H:%M:%S}: the state of "
                       f"run{'s' if many else ''} {ids} is unknown. {'They end' if many else 'It ends'} interrupted "
                       f"if the cluster is not back within {grace:g} s.")
        return out

    def unsupervised_message(self) -> str:
        n = self.n_queued
        return (f"{n} queued run{'s' if n != 1 else ''} waiting: no job supervisor is alive. It starts "
                "with the dashboard server (`scripts/serve.py`; with `streamlit run app.py`, at the first page "
                "view), or run `python -m core jobs serve`.")


def job_snapshot(store, *, recent: int = 0, limit: int = 20, lease_s: float = LEASE_S) -> JobSnapshot:
    """Running and queued jobs with progress, live supervisors and (optionally) the ``recent``
    newest runs, all read in one transaction, so that every part agrees with every other."""
    with store.read_snapshot():
        running, n_running = store.list_runs(status="running", kind=list(JOB_KINDS), limit=None,
                                             sort="id", descending=False)
        queued, n_queued = store.list_runs(status="queued", kind=list(JOB_KINDS), limit=limit,
                                           sort="id", descending=False)
        searches, _ = store.list_runs(status=ACTIVE_STATUSES, kind=list(PARENT_KINDS), limit=limit)
        supervisors = store.list_supervisors(alive_within_s=lease_s)
        rec, n_runs = store.list_runs(limit=recent, sort="created_at", descending=True)
    from core.jobs.standby import find_standbys
    from core.store import HOST

    here = {sv.id for sv in supervisors if sv.host == HOST}  # standbys are processes of this host
    return JobSnapshot(running=running, queued=queued, n_running=n_running, n_queued=n_queued,
                       searches=searches, supervisors=supervisors, recent=rec, n_runs=n_runs,
                       taken_at=datetime.now(UTC), standby=find_standbys(here) if here else [])


def progress_text(r) -> str:
    """``epoch 2/5 · 40 %`` (or the worker's message) for a run; the same words on every page."""
    info = r.progress_info or {}
    pct = f"{100 * float(r.progress or 0.0):.0f} %"
    if r.status == "queued":
        return "queued"
    if r.status != "running":
        return r.status
    if unknown_state_text(r):
        return unknown_state_text(r)
    if info.get("epoch") and info.get("epochs"):
        return f"epoch {info['epoch']}/{info['epochs']} · {pct}"
    msg = str(info.get("message") or "starting")
    return f"{msg} · {pct}"


def status_text(r) -> str:
    """A run's status for a list: ``state unknown — cluster unreachable since 14:03:07`` for a
    running run whose cluster does not answer, else the status itself."""
    since = unreachable_since(r)
    return f"state unknown — cluster unreachable since {since.astimezone():%H:%M:%S}" if since else r.status


def executor_problem(store, timeout_s: float = EXECUTOR_CHECK_S) -> str | None:
    """Why the executor of LAB_EXECUTOR cannot run jobs now (None: it can). Only Ray is checked -- the
    local executor has nothing to reach --, as the job supervisor checks it (the cluster answers, its
    alive nodes, a SQLite store on a one-node cluster only), waiting at most ``timeout_s``."""
    from core.jobs.executors import executor_name, make_executor
    from core.jobs.executors.base import ExecutorError

    try:
        if executor_name() != "ray":
            return None
        ex = make_executor("ray", store=store, models_dir=store.models_dir)
    except ExecutorError as e:  # not installed, a bad setting
        return str(e)
    found: list[str | None] = []

    def check() -> None:
        try:
            ex.check()
            found.append(None)
        except ExecutorError as e:
            found.append(str(e))
        except Exception as e:  # noqa: BLE001 - whatever the client raises, say it in one line
            found.append(f"Cannot check the Ray cluster at {ex.address} ({type(e).__name__}: {e}).")

    t = threading.Thread(target=check, name="ray-status-check", daemon=True)  # a silent host must not hang status
    t.start()
    t.join(timeout_s)
    if not found:
        return (f"The Ray cluster at {ex.address} did not answer within {timeout_s:g} s: it is unreachable or "
                "overloaded. Check that it runs (`ray status` on its head node) and that LAB_RAY_ADDRESS is its "
                "dashboard address (http://<head>:8265); queued runs stay queued until it is reachable.")
    return found[0]
