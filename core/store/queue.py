"""The job queue in the run store: claiming queued runs (compare-and-set, so that of several
supervisors exactly one wins), where a run executes, its worker's heartbeat and progress,
cancel requests, and the job supervisors' leases (``supervisors`` table).
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from core.store import schema as S
from core.store.base import StoreBase
from core.store.records import HOST, SupervisorInfo, aware, column_json, float_or_none, loads_or, utcnow
from core.validation import NotFoundError


class QueueStore(StoreBase):
    """Claims, workers, cancel requests and supervisor leases (for the job manager and workers)."""

    # ------------------------------------------------------------------ claims
    def queued_ids(self, *, kinds: Iterable[str], limit: int = 100) -> list[int]:
        """Queued runs of ``kinds`` (the job kinds a worker runs, ``core.jobs.kinds.JOB_KINDS``) in
        submission order (oldest first)."""
        r = S.runs.c
        with self._read() as conn:
            return list(conn.execute(
                sa.select(r.id).where(r.status == "queued", r.kind.in_(list(kinds))).order_by(r.id).limit(limit)
            ).scalars())

    def claim_run(self, run_id: int, *, host: str = HOST, pid: int | None = None,
                  supervisor: str | None = None, executor: str | None = None) -> bool:
        """Atomically move a queued run to running (for the job manager). False if it was not queued.

        A compare-and-set (``UPDATE ... WHERE status = 'queued'``): of several supervisors
        claiming the same run at once, on SQLite or PostgreSQL, exactly one gets True.
        """
        now = utcnow()
        with self._write() as conn:
            res = conn.execute(
                sa.update(S.runs)
                .where(S.runs.c.id == int(run_id), S.runs.c.status == "queued")
                .values(status="running", started_at=now, heartbeat_at=now, host=host, pid=pid,
                        supervisor_id=supervisor, executor=executor)
            )
            return res.rowcount == 1

    def unclaim_run(self, run_id: int, *, supervisor: str) -> bool:
        """Give a claimed run back to the queue (its worker could not be started, e.g. the
        cluster is unreachable): a compare-and-set on ``supervisor``, so a run another
        supervisor owns, or one that already started reporting, is never touched."""
        r = S.runs.c
        with self._write() as conn:
            res = conn.execute(
                sa.update(S.runs).where(r.id == int(run_id), r.status == "running", r.supervisor_id == supervisor)
                .values(status="queued", started_at=None, heartbeat_at=None, pid=None, host=None,
                        supervisor_id=None, executor=None, placement=None, progress=0.0)
            )
            return res.rowcount == 1

    def adopt_run(self, run_id: int, *, expected: str | None, supervisor: str) -> bool:
        """Compare-and-set a running run's supervisor from ``expected`` (an expired one, or None)
        to ``supervisor``. False when it is no longer running or another supervisor took it first."""
        r = S.runs.c
        owner = r.supervisor_id.is_(None) if expected is None else r.supervisor_id == expected
        with self._write() as conn:
            res = conn.execute(sa.update(S.runs).where(r.id == int(run_id), r.status == "running", owner)
                               .values(supervisor_id=supervisor))
            return res.rowcount == 1

    def set_placement(self, run_id: int, **info: Any) -> dict:
        """Merge ``info`` (executor, node, GPUs, Ray submission id; JSON-able values, None
        removes a key) into where the run executes; ``executor=`` also sets the column.
        Returns the placement now."""
        with self._write() as conn:
            row = self._require(conn, run_id, lock=True)
            current = loads_or(row.placement, {})
            for k, v in info.items():
                if v is None:
                    current.pop(k, None)
                else:
                    current[str(k)] = v
            values: dict[str, Any] = {"placement": column_json(current)}
            if info.get("executor"):
                values["executor"] = str(info["executor"])[:20]
            conn.execute(sa.update(S.runs).where(S.runs.c.id == row.id).values(**values))
        return current

    # ------------------------------------------------------------------ the worker
    def set_worker(self, run_id: int, *, pid: int | None, host: str | None = HOST) -> None:
        with self._write() as conn:
            self._require(conn, run_id)
            conn.execute(
                sa.update(S.runs).where(S.runs.c.id == int(run_id)).values(pid=pid, host=host, heartbeat_at=utcnow())
            )

    def heartbeat(self, run_id: int) -> None:
        with self._write() as conn:
            conn.execute(sa.update(S.runs).where(S.runs.c.id == int(run_id)).values(heartbeat_at=utcnow()))

    def set_progress(self, run_id: int, fraction: float, info: Mapping[str, Any] | None = None) -> None:
        """Progress in [0, 1] (clipped) and a JSON-able dict (epoch, batch, images/s, ETA, message)."""
        f = float_or_none(fraction, "progress fraction")
        f = 0.0 if f is None else min(1.0, max(0.0, f))
        with self._write() as conn:
            res = conn.execute(
                sa.update(S.runs)
                .where(S.runs.c.id == int(run_id))
                .values(progress=f, progress_info=column_json(dict(info or {})), heartbeat_at=utcnow())
            )
            if res.rowcount == 0:
                raise NotFoundError(f"Run {run_id} does not exist (it may have been deleted).")

    # ------------------------------------------------------------------ cancel requests
    def request_cancel(self, run_id: int) -> str:
        """Flag a run for cancellation; a queued run is cancelled at once. Returns the new status."""
        with self._write() as conn:
            row = self._require(conn, run_id, lock=True)
            if row.status == "queued":
                now = utcnow()
                conn.execute(
                    sa.update(S.runs)
                    .where(S.runs.c.id == row.id, S.runs.c.status == "queued")
                    .values(status="cancelled", cancel_requested=True, finished_at=now, error="cancelled before it started")
                )
                return "cancelled"
            if row.status == "running":
                conn.execute(sa.update(S.runs).where(S.runs.c.id == row.id).values(cancel_requested=True))
            return row.status

    def is_cancel_requested(self, run_id: int) -> bool:
        with self._read() as conn:
            v = conn.execute(sa.select(S.runs.c.cancel_requested).where(S.runs.c.id == int(run_id))).scalar()
        return bool(v)

    # ------------------------------------------------------------------ supervisor leases
    def beat_supervisor(self, supervisor_id: str, *, kind: str, host: str = HOST, pid: int | None = None,
                        max_concurrent: int = 1) -> None:
        """Create or renew a job supervisor's lease (its heartbeat)."""
        now = utcnow()
        sv = S.supervisors.c
        with self._write() as conn:
            res = conn.execute(sa.update(S.supervisors).where(sv.id == supervisor_id)
                               .values(heartbeat_at=now, max_concurrent=int(max_concurrent)))
            if res.rowcount == 0:
                conn.execute(sa.insert(S.supervisors).values(
                    id=supervisor_id, host=host, pid=os.getpid() if pid is None else int(pid), kind=kind,
                    max_concurrent=int(max_concurrent), started_at=now, heartbeat_at=now))

    def remove_supervisor(self, supervisor_id: str) -> None:
        """End a supervisor's lease (it stopped cleanly)."""
        with self._write() as conn:
            conn.execute(sa.delete(S.supervisors).where(S.supervisors.c.id == supervisor_id))

    def list_supervisors(self, *, alive_within_s: float | None = None) -> list[SupervisorInfo]:
        """Supervisor leases, newest heartbeat first; only those that beat within
        ``alive_within_s`` seconds when given."""
        now = utcnow()
        with self._read() as conn:
            rows = conn.execute(sa.select(S.supervisors).order_by(S.supervisors.c.heartbeat_at.desc())).all()
        out = []
        for row in rows:
            beat = aware(row.heartbeat_at)
            age = (now - beat).total_seconds()
            if alive_within_s is not None and age > alive_within_s:
                continue
            out.append(SupervisorInfo(id=row.id, host=row.host, pid=row.pid, kind=row.kind,
                                      max_concurrent=row.max_concurrent, started_at=aware(row.started_at),
                                      heartbeat_at=beat, age_s=age))
        return out

    def prune_supervisors(self, older_than_s: float) -> int:
        """Delete leases that expired more than ``older_than_s`` seconds ago (crashed supervisors)."""
        cutoff = utcnow().timestamp() - float(older_than_s)
        cutoff_dt = datetime.fromtimestamp(cutoff, UTC)
        with self._write() as conn:
            return conn.execute(sa.delete(S.supervisors).where(S.supervisors.c.heartbeat_at < cutoff_dt)).rowcount
