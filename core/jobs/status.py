"""The job queue's state as every page and ``python -m core jobs status`` read it: one consistent
read of the store (``job_snapshot``), the words for a run's progress (``progress_text``), and whether
the dashboard process supervises the queue itself (``dashboard_supervises``)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.jobs.kinds import JOB_KINDS, PARENT_KINDS
from core.store.schema import ACTIVE_STATUSES

LEASE_S = 30.0           # a supervisor whose heartbeat is older than this is dead
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
    ``recent``: the newest runs of any status (when asked for).
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

    def unsupervised_message(self) -> str:
        n = self.n_queued
        return (f"{n} queued run{'s' if n != 1 else ''} waiting: no job supervisor is alive. It starts "
                "with the dashboard (open any page), or run `python -m core jobs serve`.")


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
    return JobSnapshot(running=running, queued=queued, n_running=n_running, n_queued=n_queued,
                       searches=searches, supervisors=supervisors, recent=rec, n_runs=n_runs,
                       taken_at=datetime.now(UTC))


def progress_text(r) -> str:
    """``epoch 2/5 · 40 %`` (or the worker's message) for a run; the same words on every page."""
    info = r.progress_info or {}
    pct = f"{100 * float(r.progress or 0.0):.0f} %"
    if r.status == "queued":
        return "queued"
    if r.status != "running":
        return r.status
    if info.get("epoch") and info.get("epochs"):
        return f"epoch {info['epoch']}/{info['epochs']} · {pct}"
    msg = str(info.get("message") or "starting")
    return f"{msg} · {pct}"
