"""The repository API of the run store: plain dataclasses in and out, no ORM sessions.

One ``Store`` per process is enough (it holds an engine with a connection pool and is
thread-safe). Every method opens a short transaction of its own.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import socket
import tempfile
import threading
import zipfile
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from core.store import schema as S
from core.store.engine import WRITE_OPTION, StoreError, make_engine, safe_url, upgrade
from core.validation import MAX_TAG_VALUE_LENGTH, NotFoundError, ValidationError, check_number, check_one_of, check_run_name

STATUSES = S.STATUSES
FINAL_STATUSES = S.FINAL_STATUSES
KINDS = S.KINDS

# Allowed status changes (anything else raises ValidationError).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "queued": ("running", "cancelled", "failed"),
    "running": ("succeeded", "failed", "cancelled", "interrupted"),
    "succeeded": (),
    "failed": (),
    "cancelled": (),
    "interrupted": ("queued",),  # re-queue an interrupted run
}
COLUMN_SORTS = ("created_at", "id", "name", "status", "duration", "dataset", "model", "started_at", "finished_at")

HOST = socket.gethostname()

# run bundles (``Store.export_run``, imported by ``core.serving.bundle``): the manifest's format name and
# version; a lab imports the versions it knows and bundles without a manifest (the earlier export)
BUNDLE_FORMAT = "lab-run-bundle"
BUNDLE_FORMAT_VERSION = 1


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _json_default(obj: Any) -> Any:
    try:  # numpy scalars and arrays without importing numpy here
        return obj.item()
    except Exception:  # noqa: BLE001
        pass
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (Path, datetime)):
        return str(obj)
    if isinstance(obj, (set, tuple)):
        return list(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    return repr(obj)


def to_json(obj: Any) -> str:
    return json.dumps(obj, default=_json_default, allow_nan=True)


def _float_or_none(value: Any, what: str) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"The {what} must be a number. Got {value!r} ({type(value).__name__}) instead.") from None
    return None if math.isnan(v) else v


def _nan(v: float | None) -> float:
    return float("nan") if v is None else float(v)


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": [1, 2]}`` -> ``{"a.b": 1, "c": [1, 2]}``."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _check_key(key: Any, what: str = "metric key") -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > 250:
        raise ValidationError(f"A {what} must be a non-empty string of at most 250 characters. Got {key!r} instead.")
    return key


@dataclass
class Artifact:
    kind: str
    path: Path  # absolute
    bytes: int | None
    created_at: datetime | None = None

    @property
    def exists(self) -> bool:
        return self.path.exists()


@dataclass
class RunSummary:
    id: int
    name: str
    kind: str
    status: str
    dataset: str | None
    model: str | None
    seed: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    progress: float
    progress_info: dict
    error: str | None
    parent_id: int | None
    pid: int | None
    host: str | None
    cancel_requested: bool
    heartbeat_at: datetime | None
    notes: str | None = None
    summary: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    supervisor_id: str | None = None  # the job supervisor that claimed it (None: a worker/CLI run)
    executor: str | None = None  # where it executes: "local" or "ray" (None: not started by a supervisor)
    placement: dict = field(default_factory=dict)  # node, GPUs, Ray submission id (see set_placement)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RunDetail(RunSummary):
    config: dict = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    artifacts: list[Artifact] = field(default_factory=list)
    metric_keys: list[str] = field(default_factory=list)
    children: list[int] = field(default_factory=list)

    def artifact(self, kind: str) -> Artifact | None:
        """The newest artifact of ``kind`` (e.g. "model"), or None."""
        found = [a for a in self.artifacts if a.kind == kind]
        return found[-1] if found else None


@dataclass
class ChampionEntry:
    """One period a run was the champion of a dataset (``champions`` table). ``run_id`` is None
    once the run was deleted; ``run_ref`` and ``run_name`` are the id and name it had then."""

    dataset: str
    run_id: int | None
    run_ref: int
    run_name: str
    set_at: datetime
    set_by: str | None
    note: str | None
    cleared_at: datetime | None
    cleared_by: str | None
    cleared_reason: str | None

    @property
    def is_current(self) -> bool:
        return self.cleared_at is None

    def to_dict(self) -> dict:
        return asdict(self)


def _who(by: str | None) -> str:
    """Who changes a champion: ``by``, else ``LAB_USER``, else the login name."""
    if by is not None and str(by).strip():
        return str(by).strip()[:200]
    env = os.environ.get("LAB_USER", "").strip()
    if env:
        return env[:200]
    try:
        import getpass

        return getpass.getuser()[:200]
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


@dataclass
class SupervisorInfo:
    """A job supervisor's lease row (``supervisors`` table): alive while its heartbeat is recent."""

    id: str
    host: str
    pid: int
    kind: str
    max_concurrent: int
    started_at: datetime
    heartbeat_at: datetime
    age_s: float  # seconds since its last heartbeat, by the clock of the reader

    def to_dict(self) -> dict:
        return asdict(self)


class Store:
    """The run store. ``Store()`` uses ``LAB_DATABASE_URL`` / ``LAB_MODELS_DIR`` settings.

    The schema is created or upgraded (Alembic) when the store is opened; an older
    database is upgraded in place, never wiped. ``StoreError`` when the URL cannot be
    opened.
    """

    def __init__(self, url: str | None = None, *, models_dir: str | Path | None = None, migrate: bool = True):
        from core.config import get_settings

        settings = get_settings()
        self.url = url or settings.database_url
        self.models_dir = Path(models_dir) if models_dir is not None else Path(settings.models_dir)
        self.engine = make_engine(self.url)
        self.dialect = self.engine.dialect.name
        self._local = threading.local()  # the read transaction of read_snapshot(), per thread
        if migrate:
            upgrade(self.engine)

    # ------------------------------------------------------------------ plumbing
    def __repr__(self) -> str:
        return f"Store({safe_url(self.url)!r}, models_dir={str(self.models_dir)!r})"

    @property
    def full_url(self) -> str:
        """The URL with its password, for handing to worker processes."""
        return self.engine.url.render_as_string(hide_password=False)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _read(self):
        conn = getattr(self._local, "conn", None)
        if conn is not None:  # inside read_snapshot(): the same transaction
            yield conn
            return
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    @contextmanager
    def read_snapshot(self):
        """Every read of this thread inside the block sees one consistent state of the store
        (one transaction; REPEATABLE READ on PostgreSQL, SQLite's WAL snapshot)::

            with store.read_snapshot():
                active, _ = store.list_runs(status=["running", "queued"])
                recent, _ = store.list_runs(limit=8)
        """
        if getattr(self._local, "conn", None) is not None:
            yield self
            return
        conn = self.engine.connect()
        try:
            if self.dialect == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                self._local.conn = conn
                try:
                    yield self
                finally:
                    self._local.conn = None
        finally:
            conn.close()

    @contextmanager
    def _write(self):
        try:
            with self.engine.connect().execution_options(**{WRITE_OPTION: True}) as conn:
                with conn.begin():
                    yield conn
        except sa.exc.OperationalError as exc:
            raise StoreError(f"Could not write to the run store {safe_url(self.url)}: {exc.orig}") from exc

    def _require(self, conn, run_id: int, *, lock: bool = False) -> sa.Row:
        if isinstance(run_id, bool) or not isinstance(run_id, int):
            try:
                run_id = int(run_id)
            except (TypeError, ValueError):
                raise ValidationError(f"A run id must be an integer. Got {run_id!r} instead.") from None
        q = sa.select(S.runs).where(S.runs.c.id == run_id)
        if lock and self.dialect == "postgresql":
            q = q.with_for_update()
        row = conn.execute(q).first()
        if row is None:
            raise NotFoundError(f"Run {run_id} does not exist (it may have been deleted).")
        return row

    def run_dir(self, run_id: int) -> Path:
        return self.models_dir / str(int(run_id))

    # ------------------------------------------------------------------ runs
    def create_run(
        self,
        config: Mapping[str, Any],
        *,
        name: str | None = None,
        dataset: str | None = None,
        model: str | None = None,
        seed: int | None = None,
        kind: str = "train",
        parent_id: int | None = None,
        status: str = "queued",
        tags: Mapping[str, str] | Iterable[str] | None = None,
    ) -> int:
        if not isinstance(config, Mapping):
            raise ValidationError(f"The 'config' must be a dict. Got {type(config).__name__} instead.")
        check_one_of("kind", kind, KINDS)
        check_one_of("status", status, ("queued", "running"))
        seed = check_number("seed", seed, integer=True, allow_none=True)
        name = check_run_name(name)  # refused when too long, never cut
        now = utcnow()
        with self._write() as conn:
            if parent_id is not None:
                self._require(conn, parent_id)
            values = dict(
                name=name or "run",
                kind=kind,
                status=status,
                dataset=dataset,
                model=model,
                config=to_json(dict(config)),
                seed=seed,
                created_at=now,
                started_at=now if status == "running" else None,
                progress=0.0,
                progress_info=to_json({}),
                parent_id=parent_id,
                cancel_requested=False,
            )
            run_id = conn.execute(sa.insert(S.runs).values(**values).returning(S.runs.c.id)).scalar_one()
            if not name:
                conn.execute(sa.update(S.runs).where(S.runs.c.id == run_id).values(name=f"{kind}-{run_id}"))
            if tags:
                self._put_tags(conn, run_id, tags)
        return int(run_id)

    def set_status(self, run_id: int, status: str, error: str | None = None) -> None:
        """Change a run's status (validated: queued -> running -> a final status).

        Sets ``started_at`` when it starts, ``finished_at``/``duration_s`` when it ends,
        progress 1.0 on success. A no-op when the run already has that status.
        """
        check_one_of("status", status, STATUSES)
        now = utcnow()
        with self._write() as conn:
            row = self._require(conn, run_id, lock=True)
            if row.status == status:
                if error is not None:
                    conn.execute(sa.update(S.runs).where(S.runs.c.id == row.id).values(error=error))
                return
            if status not in TRANSITIONS[row.status]:
                allowed = TRANSITIONS[row.status]
                raise ValidationError(
                    f"Run {row.id} cannot go from {row.status!r} to {status!r}; from {row.status!r} "
                    f"it can only go to {', '.join(repr(a) for a in allowed) or 'nothing (final status)'}."
                )
            values: dict[str, Any] = {"status": status}
            if error is not None:
                values["error"] = error
            if status == "running":
                values["started_at"] = now
                values["heartbeat_at"] = now
            elif status == "queued":  # re-queue
                values.update(started_at=None, finished_at=None, duration_s=None, pid=None, host=None,
                              supervisor_id=None, cancel_requested=False, progress=0.0, error=error,
                              executor=None, placement=None)
            else:
                values["finished_at"] = now
                started = _aware(row.started_at)
                values["duration_s"] = (now - started).total_seconds() if started else None
                if status == "succeeded":
                    values["progress"] = 1.0
            conn.execute(sa.update(S.runs).where(S.runs.c.id == row.id).values(**values))

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

    def set_placement(self, run_id: int, **info: Any) -> dict:
        """Merge ``info`` (executor, node, GPUs, Ray submission id; JSON-able values, None
        removes a key) into where the run executes; ``executor=`` also sets the column.
        Returns the placement now."""
        with self._write() as conn:
            row = self._require(conn, run_id, lock=True)
            try:
                current = json.loads(row.placement) if row.placement else {}
            except ValueError:
                current = {}
            for k, v in info.items():
                if v is None:
                    current.pop(k, None)
                else:
                    current[str(k)] = v
            values: dict[str, Any] = {"placement": to_json(current)}
            if info.get("executor"):
                values["executor"] = str(info["executor"])[:20]
            conn.execute(sa.update(S.runs).where(S.runs.c.id == row.id).values(**values))
        return current

    def adopt_run(self, run_id: int, *, expected: str | None, supervisor: str) -> bool:
        """Compare-and-set a running run's supervisor from ``expected`` (an expired one, or None)
        to ``supervisor``. False when it is no longer running or another supervisor took it first."""
        r = S.runs.c
        owner = r.supervisor_id.is_(None) if expected is None else r.supervisor_id == expected
        with self._write() as conn:
            res = conn.execute(sa.update(S.runs).where(r.id == int(run_id), r.status == "running", owner)
                               .values(supervisor_id=supervisor))
            return res.rowcount == 1

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
        f = _float_or_none(fraction, "progress fraction")
        f = 0.0 if f is None else min(1.0, max(0.0, f))
        with self._write() as conn:
            res = conn.execute(
                sa.update(S.runs)
                .where(S.runs.c.id == int(run_id))
                .values(progress=f, progress_info=to_json(dict(info or {})), heartbeat_at=utcnow())
            )
            if res.rowcount == 0:
                raise NotFoundError(f"Run {run_id} does not exist (it may have been deleted).")

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

    # ------------------------------------------------------------------ metrics, params
    def log_metrics(self, run_id: int, values: Mapping[str, Any], step: int, *, time: float | None = None) -> None:
        """Append one value per key at ``step`` (one batch insert). NaN is kept as NaN."""
        step = check_number("step", step, integer=True)
        t = utcnow().timestamp() if time is None else float(time)
        rows = [
            {"run_id": int(run_id), "key": _check_key(k), "step": step, "value": _float_or_none(v, f"metric {k!r}"), "time": t}
            for k, v in values.items()
        ]
        if not rows:
            return
        with self._write() as conn:
            self._require(conn, run_id)
            conn.execute(sa.insert(S.metrics), rows)

    def log_summary(self, run_id: int, values: Mapping[str, Any]) -> None:
        """Set summary metrics (replacing earlier values of the same keys). Non-numbers are refused."""
        rows = [{"run_id": int(run_id), "key": _check_key(k), "value": _float_or_none(v, f"summary metric {k!r}")}
                for k, v in values.items()]
        if not rows:
            return
        with self._write() as conn:
            self._require(conn, run_id)
            conn.execute(sa.delete(S.summary_metrics).where(
                S.summary_metrics.c.run_id == int(run_id), S.summary_metrics.c.key.in_([r["key"] for r in rows])))
            conn.execute(sa.insert(S.summary_metrics), rows)

    def log_params(self, run_id: int, values: Mapping[str, Any]) -> None:
        """Store parameters, flattening nested dicts to dotted keys (``augment.rotation``)."""
        flat = flatten(values)
        rows = []
        for k, v in flat.items():
            text = v if isinstance(v, str) else to_json(v)
            rows.append({"run_id": int(run_id), "key": _check_key(k, "parameter name"), "value": text})
        if not rows:
            return
        with self._write() as conn:
            self._require(conn, run_id)
            conn.execute(sa.delete(S.params).where(
                S.params.c.run_id == int(run_id), S.params.c.key.in_([r["key"] for r in rows])))
            conn.execute(sa.insert(S.params), rows)

    # ------------------------------------------------------------------ artifacts
    def _rel(self, path: Path) -> str:
        p = Path(path).resolve()
        try:
            return p.relative_to(self.models_dir.resolve()).as_posix()
        except ValueError:
            return str(p)

    def _abs(self, stored: str) -> Path:
        p = Path(stored)
        return p if p.is_absolute() else self.models_dir / p

    def add_artifact(self, run_id: int, kind: str, path: str | Path) -> Artifact:
        """Register an existing file (or folder) of a run. A missing path is refused."""
        _check_key(kind, "artifact kind")
        p = Path(path)
        if not p.exists():
            raise NotFoundError(f"Cannot register the {kind!r} artifact of run {run_id}: {p} does not exist.")
        size = p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        rel = self._rel(p)
        now = utcnow()
        with self._write() as conn:
            self._require(conn, run_id)
            conn.execute(sa.delete(S.artifacts).where(S.artifacts.c.run_id == int(run_id), S.artifacts.c.path == rel))
            conn.execute(sa.insert(S.artifacts).values(run_id=int(run_id), kind=kind, path=rel, bytes=size, created_at=now))
        return Artifact(kind=kind, path=self._abs(rel), bytes=size, created_at=now)

    # ------------------------------------------------------------------ tags, notes
    @staticmethod
    def _norm_tags(tags: Mapping[str, Any] | Iterable[str]) -> dict[str, str]:
        if isinstance(tags, str):
            tags = [tags]
        items = tags.items() if isinstance(tags, Mapping) else ((t, "") for t in tags)
        out = {}
        for k, v in items:
            _check_key(k, "tag")
            v = "" if v is None else str(v)
            if len(v) > MAX_TAG_VALUE_LENGTH:
                raise ValidationError(f"The value of tag {k.strip()[:50]!r} has {len(v):,} characters; "
                                      f"at most {MAX_TAG_VALUE_LENGTH} are accepted.")
            out[k.strip()] = v
        return out

    def _put_tags(self, conn, run_id: int, tags) -> None:
        norm = self._norm_tags(tags)
        if norm:
            conn.execute(sa.delete(S.tags).where(S.tags.c.run_id == run_id, S.tags.c.key.in_(list(norm))))
            conn.execute(sa.insert(S.tags), [{"run_id": run_id, "key": k, "value": v} for k, v in norm.items()])

    def set_tags(self, run_id: int, tags: Mapping[str, Any] | Iterable[str]) -> None:
        """Replace all tags of a run (a dict key -> value, or a list of plain tags)."""
        with self._write() as conn:
            self._require(conn, run_id)
            conn.execute(sa.delete(S.tags).where(S.tags.c.run_id == int(run_id)))
            self._put_tags(conn, int(run_id), tags)

    def add_tag(self, run_id: int, key: str, value: str = "") -> None:
        with self._write() as conn:
            self._require(conn, run_id)
            self._put_tags(conn, int(run_id), {key: value})

    def remove_tag(self, run_id: int, key: str) -> None:
        with self._write() as conn:
            self._require(conn, run_id)
            conn.execute(sa.delete(S.tags).where(S.tags.c.run_id == int(run_id), S.tags.c.key == key))

    def set_notes(self, run_id: int, notes: str | None) -> None:
        if notes is not None and not isinstance(notes, str):
            raise ValidationError(f"Notes must be text. Got {type(notes).__name__} instead.")
        with self._write() as conn:
            self._require(conn, run_id)
            conn.execute(sa.update(S.runs).where(S.runs.c.id == int(run_id)).values(notes=notes or None))

    def rename_run(self, run_id: int, name: str) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValidationError(f"A run name must be non-empty text. Got {name!r} instead.")
        name = check_run_name(name)
        with self._write() as conn:
            self._require(conn, run_id)
            conn.execute(sa.update(S.runs).where(S.runs.c.id == int(run_id)).values(name=name))

    # ------------------------------------------------------------------ reading
    @staticmethod
    def _summary_from_row(row: sa.Row, cls=RunSummary, **extra) -> RunSummary:
        try:
            info = json.loads(row.progress_info) if row.progress_info else {}
        except ValueError:
            info = {}
        try:
            placement = json.loads(row.placement) if getattr(row, "placement", None) else {}
        except ValueError:
            placement = {}
        return cls(
            id=row.id, name=row.name, kind=row.kind, status=row.status, dataset=row.dataset, model=row.model,
            seed=row.seed, created_at=_aware(row.created_at), started_at=_aware(row.started_at),
            finished_at=_aware(row.finished_at), duration_s=row.duration_s, progress=float(row.progress or 0.0),
            progress_info=info, error=row.error, parent_id=row.parent_id, pid=row.pid, host=row.host,
            cancel_requested=bool(row.cancel_requested), heartbeat_at=_aware(row.heartbeat_at), notes=row.notes,
            supervisor_id=getattr(row, "supervisor_id", None), executor=getattr(row, "executor", None),
            placement=placement, **extra,
        )

    def list_runs(
        self,
        *,
        dataset: str | Iterable[str] | None = None,
        model: str | Iterable[str] | None = None,
        status: str | Iterable[str] | None = None,
        kind: str | Iterable[str] | None = None,
        tag: str | None = None,
        text: str | None = None,
        parent_id: int | None | str = "any",
        sort: str = "created_at",
        descending: bool = True,
        limit: int | None = 50,
        offset: int = 0,
    ) -> tuple[list[RunSummary], int]:
        """Filtered, sorted page of runs with their summary metrics and tags, and the total count.

        ``tag`` is ``"key"`` or ``"key=value"``; ``text`` searches name, dataset, model,
        notes and tags (case-insensitive); ``parent_id`` an id, ``None`` (top-level runs
        only) or ``"any"`` (default). ``sort`` is a column (created_at, name, status,
        duration, ...) or a summary metric key such as ``"accuracy"`` (runs without it last).
        Four queries whatever the page size (count, page, summaries, tags).
        """
        conds = _run_filters(dataset=dataset, model=model, status=status, kind=kind, tag=tag, text=text,
                             parent_id=parent_id)
        limit = None if limit is None else check_number("limit", limit, low=0, integer=True)
        offset = check_number("offset", offset, low=0, integer=True)
        base, order = _run_order(sort, descending)
        with self._read() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(S.runs).where(*conds)).scalar_one()
            q = base.where(*conds).order_by(*order).offset(offset)
            if limit is not None:
                q = q.limit(limit)
            rows = conn.execute(q).all()
            summ, tgs = _summaries_and_tags(conn, [row.id for row in rows])
        runs = [self._summary_from_row(row, summary=summ[row.id], tags=tgs[row.id]) for row in rows]
        return runs, int(total)

    def get_run(self, run_id: int) -> RunDetail:
        with self._read() as conn:
            row = self._require(conn, run_id)
            rid = row.id
            summary = {k: _nan(v) for k, v in conn.execute(
                sa.select(S.summary_metrics.c.key, S.summary_metrics.c.value).where(S.summary_metrics.c.run_id == rid))}
            tags = dict(conn.execute(sa.select(S.tags.c.key, S.tags.c.value).where(S.tags.c.run_id == rid)).all())
            params = dict(conn.execute(sa.select(S.params.c.key, S.params.c.value).where(S.params.c.run_id == rid)).all())
            arts = [Artifact(kind=a.kind, path=self._abs(a.path), bytes=a.bytes, created_at=_aware(a.created_at))
                    for a in conn.execute(sa.select(S.artifacts).where(S.artifacts.c.run_id == rid).order_by(S.artifacts.c.id))]
            keys = sorted(conn.execute(sa.select(S.metrics.c.key).where(S.metrics.c.run_id == rid).distinct()).scalars())
            children = list(conn.execute(sa.select(S.runs.c.id).where(S.runs.c.parent_id == rid).order_by(S.runs.c.id)).scalars())
        try:
            config = json.loads(row.config)
        except ValueError:
            config = {}
        return self._summary_from_row(row, RunDetail, summary=summary, tags=tags, config=config, params=params,
                                      artifacts=arts, metric_keys=keys, children=children)

    def get_configs(self, run_ids: Iterable[int]) -> dict[int, dict]:
        """``{id: config}`` of several runs in one query (the Runs table's parameter columns);
        ids that do not exist are left out, an unreadable config is ``{}``."""
        ids = [int(i) for i in run_ids]
        out: dict[int, dict] = {}
        with self._read() as conn:
            for chunk in _chunks(ids, 900):
                for rid, text in conn.execute(sa.select(S.runs.c.id, S.runs.c.config).where(S.runs.c.id.in_(chunk))):
                    try:
                        out[int(rid)] = json.loads(text) if text else {}
                    except ValueError:
                        out[int(rid)] = {}
        return out

    def exists(self, run_id: int) -> bool:
        with self._read() as conn:
            return conn.execute(sa.select(S.runs.c.id).where(S.runs.c.id == int(run_id))).first() is not None

    def get_metric_history(self, run_id: int, keys: Iterable[str] | str | None = None):
        """DataFrame with columns key, step, value, time (UTC datetimes), ordered by key, step."""
        return self._histories([run_id], keys).drop(columns=["run_id"])

    def get_histories(self, run_ids: Iterable[int], keys: Iterable[str] | str | None = None):
        """Metric histories of several runs (for comparing): columns run_id, key, step, value, time."""
        return self._histories(list(run_ids), keys)

    def _histories(self, run_ids: list[int], keys):
        import pandas as pd

        m = S.metrics.c
        ids = [int(i) for i in run_ids]
        q = sa.select(m.run_id, m.key, m.step, m.value, m.time)
        if isinstance(keys, str):
            keys = [keys]
        if keys is not None:
            q = q.where(m.key.in_(list(keys)))
        rows = []
        with self._read() as conn:
            found = set(conn.execute(sa.select(S.runs.c.id).where(S.runs.c.id.in_(ids))).scalars()) if ids else set()
            missing = [i for i in ids if i not in found]
            if missing:
                many = len(missing) > 1
                raise NotFoundError(f"Run{'s' if many else ''} {', '.join(map(str, missing))} "
                                    f"do{'' if many else 'es'} not exist.")
            for chunk in _chunks(ids, 900):
                rows.extend(conn.execute(q.where(m.run_id.in_(chunk)).order_by(m.run_id, m.key, m.step, m.id)).all())
        df = pd.DataFrame(rows, columns=["run_id", "key", "step", "value", "time"])
        df["value"] = df["value"].astype(float)
        df["step"] = df["step"].astype(int)
        df["time"] = pd.to_datetime(df["time"].astype(float), unit="s", utc=True)
        return df

    def last_epoch_metrics(self, run_id: int) -> dict[str, float]:
        """The latest value of each metric key of a run."""
        df = self.get_metric_history(run_id)
        if df.empty:
            return {}
        last = df.sort_values(["key", "step"]).groupby("key").tail(1)
        return dict(zip(last["key"], last["value"]))

    # ------------------------------------------------------------------ delete, export
    def delete_run(self, run_id: int) -> None:
        """Delete a run, its rows and its folder under models_dir (and its trials, for a search).

        A running run is refused: cancel it first, then delete it once it has stopped.
        """
        with self._write() as conn:
            row = self._require(conn, run_id, lock=True)
            children = list(conn.execute(
                sa.select(S.runs.c.id, S.runs.c.status).where(S.runs.c.parent_id == row.id)).all())
            busy = [c.id for c in children if c.status == "running"]
            if row.status == "running" or busy:
                what = f"Run {row.id} is running" if row.status == "running" else \
                    f"Run {row.id} has running trials ({', '.join(map(str, busy))})"
                raise ValidationError(
                    f"{what}; it was not deleted. Cancel it first and delete it once it has stopped "
                    "(status cancelled)."
                )
            ids = [row.id] + [c.id for c in children]
            art_paths = [self._abs(p) for p in conn.execute(
                sa.select(S.artifacts.c.path).where(S.artifacts.c.run_id.in_(ids))).scalars()]
            for table in (S.metrics, S.summary_metrics, S.params, S.tags, S.artifacts):
                conn.execute(sa.delete(table).where(table.c.run_id.in_(ids)))
            ch = S.champions.c  # a deleted champion: its period ends now, its history stays
            conn.execute(sa.update(S.champions).where(ch.run_id.in_(ids), ch.cleared_at.is_(None))
                         .values(cleared_at=utcnow(), cleared_by=_who(None), cleared_reason="run deleted"))
            conn.execute(sa.update(S.champions).where(ch.run_id.in_(ids)).values(run_id=None))
            conn.execute(sa.delete(S.runs).where(S.runs.c.id.in_([c.id for c in children])))
            conn.execute(sa.delete(S.runs).where(S.runs.c.id == row.id))
        root = self.models_dir.resolve()
        for rid in ids:
            folder = self.run_dir(rid)
            if folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
        for p in art_paths:  # files registered elsewhere inside models_dir
            try:
                rp = p.resolve()
                if rp.is_file() and root in rp.parents:
                    rp.unlink()
            except OSError:
                pass

    def export_run(self, run_id: int, dest: str | Path) -> Path:
        """Write a run bundle: config.json, run.json, params.json, summary.json, metrics.csv, the
        run's files (model, predictions, split, evaluation, ...) and manifest.json (bundle format
        version, the store's schema revision, the lab version, a SHA-256 per file) to a folder, or
        to a zip (files under ``run_<id>/``) when ``dest`` ends with ``.zip``. ``core.serving.bundle``
        imports such a zip into another store. Returns the path written."""
        detail = self.get_run(run_id)
        dest = Path(dest)
        files = self._bundle_metadata(detail)
        copies: dict[str, tuple[str, Path]] = {}
        for art in detail.artifacts:
            if art.path.is_file() and art.path.name not in files and art.path.name != "manifest.json":
                copies.setdefault(art.path.name, (art.kind, art.path))
        manifest = self._bundle_manifest(detail, files, copies)
        files["manifest.json"] = json.dumps(manifest, indent=2).encode()
        if dest.suffix.lower() == ".zip":
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=".zip", dir=dest.parent)
            os.close(fd)
            try:
                with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                    for name, data in files.items():
                        zf.writestr(f"run_{detail.id}/{name}", data)
                    for name, (_, path) in copies.items():
                        zf.write(path, f"run_{detail.id}/{name}")
                os.replace(tmp, dest)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            return dest
        dest.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (dest / name).write_bytes(data)
        for name, (_, path) in copies.items():
            shutil.copy2(path, dest / name)
        return dest

    def _bundle_metadata(self, detail: RunDetail) -> dict[str, bytes]:
        history = self.get_metric_history(detail.id)
        history = history.assign(time=history["time"].map(lambda t: t.isoformat()))
        run_info = {k: v for k, v in detail.to_dict().items()
                    if k not in ("config", "params", "summary", "artifacts", "metric_keys")}
        return {
            "config.json": json.dumps(detail.config, indent=2, default=_json_default).encode(),
            "run.json": json.dumps(run_info, indent=2, default=_json_default).encode(),
            "params.json": json.dumps(detail.params, indent=2).encode(),
            "summary.json": json.dumps(detail.summary, indent=2, default=_json_default).encode(),
            "metrics.csv": history.to_csv(index=False).encode(),
        }

    def _bundle_manifest(self, detail: RunDetail, files: dict[str, bytes], copies: dict[str, tuple[str, Path]]) -> dict:
        import hashlib

        from core import __version__
        from core.store.engine import current_revision

        digests = {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                   for name, data in files.items()}
        for name, (_, path) in copies.items():
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            digests[name] = {"bytes": path.stat().st_size, "sha256": h.hexdigest()}
        return {
            "format": BUNDLE_FORMAT, "format_version": BUNDLE_FORMAT_VERSION, "lab_version": __version__,
            "schema_revision": current_revision(self.engine), "exported_at": utcnow().isoformat(),
            "source": {"store": self.source_label, "run_id": detail.id},
            "artifacts": [{"kind": kind, "file": name} for name, (kind, _) in copies.items()],
            "files": digests,
        }

    @property
    def source_label(self) -> str:
        """Which lab a bundle came from, without secrets: host name and database name."""
        try:
            db = sa.make_url(self.url).database or ""
        except Exception:  # noqa: BLE001
            db = ""
        return f"{HOST}:{Path(db).name if self.dialect == 'sqlite' else db}"

    def restore_run(self, run: Mapping[str, Any], *, params: Mapping[str, str], summary: Mapping[str, Any],
                    metrics: Iterable[Mapping[str, Any]], tags: Mapping[str, str], artifacts: Mapping[str, str],
                    files_dir: Path) -> int:
        """Insert a finished run from elsewhere (``core.serving.bundle``) under a new id, in one transaction:
        the run row (``run``: name, kind, status, dataset, model, config, seed, times, notes, ...),
        params, summary, metric history, tags and the files of ``files_dir`` (``artifacts``:
        file name -> kind), which becomes the run's folder. On any error nothing is left: the
        transaction is rolled back and the folder removed. Returns the new run id."""
        values = _restored_run_values(run)
        files_dir = Path(files_dir)
        moved: Path | None = None
        try:
            with self._write() as conn:
                rid = int(conn.execute(sa.insert(S.runs).values(**values).returning(S.runs.c.id)).scalar_one())
                self._put_tags(conn, rid, tags)
                _insert_rows(conn, rid, params, summary, metrics)
                dest = self.run_dir(rid)
                now = utcnow()
                arts = [{"run_id": rid, "kind": _check_key(kind, "artifact kind"), "path": self._rel(dest / name),
                         "bytes": (files_dir / name).stat().st_size, "created_at": now}
                        for name, kind in artifacts.items()]
                if arts:
                    conn.execute(sa.insert(S.artifacts), arts)
                if dest.exists():
                    raise StoreError(f"Cannot import into run {rid}: its folder {dest} already exists (left over "
                                     "from an earlier run?). Move it away and import again.")
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(files_dir, dest)
                moved = dest
        except (sa.exc.DataError, sa.exc.IntegrityError) as exc:  # a value the database refuses
            if moved is not None:
                shutil.rmtree(moved, ignore_errors=True)
            raise ValidationError(f"The run's values do not fit the run store: {exc.orig}") from exc
        except BaseException:
            if moved is not None:
                shutil.rmtree(moved, ignore_errors=True)
            raise
        return rid

    # ------------------------------------------------------------------ champions
    def _lock_dataset(self, conn, dataset: str) -> None:
        """Serialise the champion changes of one dataset: SQLite's write transactions already
        are (``BEGIN IMMEDIATE``); PostgreSQL takes a transaction-level advisory lock."""
        if self.dialect == "postgresql":
            import zlib

            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(f"champion:{dataset}".encode())})

    def _current_champion(self, conn, dataset: str) -> sa.Row | None:
        c = S.champions.c
        return conn.execute(sa.select(S.champions).where(c.dataset == dataset, c.cleared_at.is_(None))).first()

    def set_champion(self, dataset: str, run_id: int, *, by: str | None = None,
                     note: str | None = None) -> ChampionEntry:
        """Make ``run_id`` the champion of ``dataset``; the current champion's period ends now
        (its row is kept: ``champion_history``). Only a succeeded training run of that dataset
        can be champion; making the current champion champion again changes nothing. ``by``
        defaults to ``LAB_USER`` or the login name. Returns the current entry."""
        dataset = _check_dataset(dataset)
        if note is not None and not isinstance(note, str):
            raise ValidationError(f"A champion note must be text. Got {type(note).__name__} instead.")
        who, now = _who(by), utcnow()
        c = S.champions.c
        try:
            with self._write() as conn:
                self._lock_dataset(conn, dataset)
                row = self._require(conn, run_id, lock=True)
                _check_champion_run(row, dataset)
                cur = self._current_champion(conn, dataset)
                if cur is not None and cur.run_id == row.id:
                    return _champion_from_row(cur)
                if cur is not None:
                    conn.execute(sa.update(S.champions).where(c.id == cur.id).values(
                        cleared_at=now, cleared_by=who, cleared_reason=f"replaced by run {row.id}"))
                values = dict(dataset=dataset, run_id=row.id, run_ref=row.id, run_name=row.name, set_at=now,
                              set_by=who, note=(note or "").strip() or None)
                conn.execute(sa.insert(S.champions).values(**values))
        except sa.exc.IntegrityError as exc:  # the unique index: another change of the same dataset won
            raise StoreError(f"The champion of {dataset!r} was changed by someone else at the same moment; "
                             f"nothing was changed. Look at the current champion and try again. ({exc.orig})") from exc
        return ChampionEntry(**values, cleared_at=None, cleared_by=None, cleared_reason=None)

    def clear_champion(self, dataset: str, *, by: str | None = None) -> ChampionEntry | None:
        """``dataset`` has no champion from now on (the history is kept). Returns the entry that
        was ended, None when there was no champion."""
        dataset = _check_dataset(dataset)
        who, now = _who(by), utcnow()
        with self._write() as conn:
            self._lock_dataset(conn, dataset)
            cur = self._current_champion(conn, dataset)
            if cur is None:
                return None
            ended = dict(cleared_at=now, cleared_by=who, cleared_reason="cleared")
            conn.execute(sa.update(S.champions).where(S.champions.c.id == cur.id).values(**ended))
        return ChampionEntry(**{**_champion_from_row(cur).to_dict(), **ended})

    def champion(self, dataset: str) -> ChampionEntry | None:
        """The current champion of ``dataset`` (None when it has none)."""
        with self._read() as conn:
            cur = self._current_champion(conn, _check_dataset(dataset))
        return None if cur is None else _champion_from_row(cur)

    def champions(self) -> dict[str, int]:
        """``{dataset: run id}`` of every current champion."""
        c = S.champions.c
        with self._read() as conn:
            rows = conn.execute(sa.select(c.dataset, c.run_id).where(c.cleared_at.is_(None), c.run_id.is_not(None)))
            return {d: int(r) for d, r in rows}

    def champion_history(self, dataset: str) -> list[ChampionEntry]:
        """Every period a run was champion of ``dataset``, newest first (the current one first)."""
        c = S.champions.c
        with self._read() as conn:
            rows = conn.execute(sa.select(S.champions).where(c.dataset == _check_dataset(dataset))
                                .order_by(c.set_at.desc(), c.id.desc())).all()
        return [_champion_from_row(r) for r in rows]

    # ------------------------------------------------------------------ for the job manager
    def queued_ids(self, *, kinds: Iterable[str], limit: int = 100) -> list[int]:
        """Queued runs of ``kinds`` (the job kinds a worker runs, ``core.jobs.manager.JOB_KINDS``) in
        submission order (oldest first)."""
        r = S.runs.c
        with self._read() as conn:
            return list(conn.execute(
                sa.select(r.id).where(r.status == "queued", r.kind.in_(list(kinds))).order_by(r.id).limit(limit)
            ).scalars())


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
            beat = _aware(row.heartbeat_at)
            age = (now - beat).total_seconds()
            if alive_within_s is not None and age > alive_within_s:
                continue
            out.append(SupervisorInfo(id=row.id, host=row.host, pid=row.pid, kind=row.kind,
                                      max_concurrent=row.max_concurrent, started_at=_aware(row.started_at),
                                      heartbeat_at=beat, age_s=age))
        return out

    def prune_supervisors(self, older_than_s: float) -> int:
        """Delete leases that expired more than ``older_than_s`` seconds ago (crashed supervisors)."""
        cutoff = utcnow().timestamp() - float(older_than_s)
        cutoff_dt = datetime.fromtimestamp(cutoff, UTC)
        with self._write() as conn:
            return conn.execute(sa.delete(S.supervisors).where(S.supervisors.c.heartbeat_at < cutoff_dt)).rowcount


def _check_dataset(dataset: Any) -> str:
    if not isinstance(dataset, str) or not dataset.strip() or len(dataset.strip()) > 200:
        raise ValidationError("A dataset name must be non-empty text of at most 200 characters. "
                              f"Got {dataset!r} instead.")
    return dataset.strip()


def _check_champion_run(row: sa.Row, dataset: str) -> None:
    """Only a succeeded training run of ``dataset`` can be its champion (ValidationError saying why not)."""
    if row.kind != "train":
        raise ValidationError(f"Run {row.id} is a {row.kind!r} run; only a training run (kind 'train') with a model "
                              f"can be the champion of a dataset.")
    if row.status != "succeeded":
        raise ValidationError(f"Run {row.id} has status {row.status!r}; only a succeeded run can be the champion "
                              f"of {dataset!r}.")
    if row.dataset != dataset:
        raise ValidationError(f"Run {row.id} was trained on {row.dataset!r}, not on {dataset!r}; the champion of "
                              f"{dataset!r} must be a run of that dataset.")


def _champion_from_row(row: sa.Row) -> ChampionEntry:
    return ChampionEntry(dataset=row.dataset, run_id=row.run_id, run_ref=row.run_ref, run_name=row.run_name,
                         set_at=_aware(row.set_at), set_by=row.set_by, note=row.note, cleared_at=_aware(row.cleared_at),
                         cleared_by=row.cleared_by, cleared_reason=row.cleared_reason)


def _when_text(value: Any, what: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return _aware(datetime.fromisoformat(str(value)))
    except ValueError:
        raise ValidationError(f"The {what} must be a date and time (ISO 8601). Got {value!r} instead.") from None


def _restored_run_values(run: Mapping[str, Any]) -> dict:
    """The ``runs`` row of a run restored from a bundle (checked; a new id, no parent, no worker)."""
    kind = check_one_of("kind", run.get("kind") or "train", KINDS)
    status = check_one_of("status", run.get("status"), FINAL_STATUSES)
    created = _when_text(run.get("created_at"), "created_at") or utcnow()
    config = run.get("config")
    if not isinstance(config, Mapping):
        raise ValidationError(f"The run's config must be a JSON object. Got {type(config).__name__} instead.")
    for key in ("dataset", "model", "name"):
        if run.get(key) is not None and not isinstance(run.get(key), str):
            raise ValidationError(f"The run's {key} must be text. Got {run.get(key)!r} instead.")
        if key != "name" and len(run.get(key) or "") > 200:
            raise ValidationError(f"The run's {key} has {len(run[key])} characters; at most 200 are accepted.")
    for key in ("progress_info", "placement"):
        if run.get(key) is not None and not isinstance(run.get(key), Mapping):
            raise ValidationError(f"The run's {key} must be a JSON object. Got {type(run.get(key)).__name__} instead.")
    return dict(
        name=check_run_name(run.get("name")) or f"{kind} (imported)", kind=kind, status=status,
        dataset=run.get("dataset"), model=run.get("model"), config=to_json(dict(config)),
        seed=check_number("seed", run.get("seed"), integer=True, allow_none=True), created_at=created,
        started_at=_when_text(run.get("started_at"), "started_at"),
        finished_at=_when_text(run.get("finished_at"), "finished_at"),
        duration_s=_float_or_none(run.get("duration_s"), "duration"), error=run.get("error") or None,
        progress=1.0 if status == "succeeded" else
        min(1.0, max(0.0, _float_or_none(run.get("progress"), "progress") or 0.0)),
        progress_info=to_json(dict(run.get("progress_info") or {})), parent_id=None, pid=None,
        host=(str(run["host"])[:255] if run.get("host") else None), cancel_requested=False,
        notes=run.get("notes") or None, heartbeat_at=None, supervisor_id=None,
        executor=(str(run["executor"])[:20] if run.get("executor") else None),
        placement=to_json(dict(run.get("placement") or {})),
    )


def _insert_rows(conn, rid: int, params: Mapping[str, Any], summary: Mapping[str, Any],
                 metrics: Iterable[Mapping[str, Any]]) -> None:
    """Params, summary metrics and metric history of a restored run (keys and values checked)."""
    if params:
        conn.execute(sa.insert(S.params), [
            {"run_id": rid, "key": _check_key(k, "parameter name"), "value": v if isinstance(v, str) else to_json(v)}
            for k, v in params.items()])
    if summary:
        conn.execute(sa.insert(S.summary_metrics), [
            {"run_id": rid, "key": _check_key(k), "value": _float_or_none(v, f"summary metric {k!r}")}
            for k, v in summary.items()])
    rows = [{"run_id": rid, "key": _check_key(m["key"]), "step": check_number("step", m["step"], integer=True),
             "value": _float_or_none(m["value"], f"metric {m['key']!r}"), "time": float(m["time"])} for m in metrics]
    for chunk in _chunks(rows, 5000):
        conn.execute(sa.insert(S.metrics), chunk)


def _chunks(seq: list, n: int):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


# ---------------------------------------------------------------- list_runs' query parts
def _run_filters(*, dataset, model, status, kind, tag, text, parent_id) -> list:
    """WHERE conditions of ``Store.list_runs`` (values checked against the known ones)."""
    r = S.runs.c
    conds = []

    def _multi(col, value, name, options=None):
        vals = [value] if isinstance(value, str) else list(value)
        if options:
            for v in vals:
                check_one_of(name, v, options)
        conds.append(col.in_(vals))

    if dataset is not None:
        _multi(r.dataset, dataset, "dataset")
    if model is not None:
        _multi(r.model, model, "model")
    if status is not None:
        _multi(r.status, status, "status", STATUSES)
    if kind is not None:
        _multi(r.kind, kind, "kind", KINDS)
    if parent_id is None:
        conds.append(r.parent_id.is_(None))
    elif parent_id != "any":
        conds.append(r.parent_id == int(parent_id))
    if tag:
        key, _, value = str(tag).partition("=")
        tq = sa.select(S.tags.c.run_id).where(S.tags.c.key == key.strip())
        if "=" in str(tag):
            tq = tq.where(S.tags.c.value == value.strip())
        conds.append(r.id.in_(tq))
    if text and text.strip():
        needle = text.strip().lower()
        tag_hit = sa.select(S.tags.c.run_id).where(
            sa.or_(sa.func.lower(S.tags.c.key).contains(needle, autoescape=True),
                   sa.func.lower(S.tags.c.value).contains(needle, autoescape=True)))
        conds.append(sa.or_(
            *(sa.func.lower(sa.func.coalesce(c, "")).contains(needle, autoescape=True)
              for c in (r.name, r.dataset, r.model, r.notes)),
            r.id.in_(tag_hit),
        ))
    return conds


def _run_order(sort: str, descending: bool) -> tuple[Any, list]:
    """The base SELECT (joined to the summary metric when sorting by one) and ORDER BY of list_runs."""
    r = S.runs.c
    col_map = {"created_at": r.created_at, "id": r.id, "name": r.name, "status": r.status,
               "duration": r.duration_s, "dataset": r.dataset, "model": r.model,
               "started_at": r.started_at, "finished_at": r.finished_at}
    base = sa.select(S.runs)
    if sort in col_map:
        col = col_map[sort]
    else:
        _check_key(sort, "sort key (a column or a summary metric)")
        sm = S.summary_metrics.alias("sort_metric")
        base = base.outerjoin(sm, sa.and_(sm.c.run_id == r.id, sm.c.key == sort))
        col = sm.c.value
    # NULLs last in both directions, on every backend; ties by id
    return base, [col.is_(None), col.desc() if descending else col.asc(), r.id.desc() if descending else r.id.asc()]


def _summaries_and_tags(conn, ids: list[int]) -> tuple[dict[int, dict], dict[int, dict]]:
    """Summary metrics and tags of the runs ``ids``, two queries per 900 ids."""
    summ: dict[int, dict] = {i: {} for i in ids}
    tgs: dict[int, dict] = {i: {} for i in ids}
    for chunk in _chunks(ids, 900):
        for rid, key, value in conn.execute(
            sa.select(S.summary_metrics.c.run_id, S.summary_metrics.c.key, S.summary_metrics.c.value)
            .where(S.summary_metrics.c.run_id.in_(chunk))):
            summ[rid][key] = _nan(value)
        for rid, key, value in conn.execute(
            sa.select(S.tags.c.run_id, S.tags.c.key, S.tags.c.value).where(S.tags.c.run_id.in_(chunk))):
            tgs[rid][key] = value
    return summ, tgs
