"""Writing runs: create, change status, log params, metrics and summaries, register files, tags,
notes and names, delete, and restore a finished run from elsewhere (a bundle's import).
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from core.store import schema as S
from core.store.base import StoreBase
from core.store.champions import end_champion_periods
from core.store.engine import StoreError
from core.store.records import Artifact, aware, check_key, chunks, column_json, flatten, float_or_none, utcnow
from core.store.schema import ACTIVE_STATUSES, FINAL_STATUSES, KINDS, STATUSES
from core.store.users import default_owner
from core.validation import (
    MAX_TAG_VALUE_LENGTH,
    NotFoundError,
    ValidationError,
    check_number,
    check_one_of,
    check_run_name,
    check_text,
    storable_text,
)

# Allowed status changes (anything else raises ValidationError).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "queued": ("running", "cancelled", "failed"),
    "running": ("succeeded", "failed", "cancelled", "interrupted"),
    "succeeded": (),
    "failed": (),
    "cancelled": (),
    "interrupted": ("queued",),  # re-queue an interrupted run
}


class RunWrites(StoreBase):
    """The run store's writes of runs and their rows (params, metrics, tags, artifacts)."""

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
        owner_id: int | None = None,
    ) -> int:
        """A new run (queued by default); ``owner_id`` is its owner's users.id: None = the parent's
        owner for a trial, else the local user (single-user mode, and callers made before sign-in)."""
        if not isinstance(config, Mapping):
            raise ValidationError(f"The 'config' must be a dict. Got {type(config).__name__} instead.")
        check_one_of("kind", kind, KINDS)
        check_one_of("status", status, ACTIVE_STATUSES)
        seed = check_number("seed", seed, integer=True, allow_none=True)
        name = check_run_name(name)  # refused when too long or holding a refused character, never cut
        check_text(dataset, "dataset name", allow_none=True)
        check_text(model, "model name", allow_none=True)
        now = utcnow()
        with self._write() as conn:
            if parent_id is not None:
                self._require(conn, parent_id)
            owner, shared = self._owner_of_new(conn, owner_id, parent_id)
            values = dict(owner_id=owner, shared=shared, name=name or "run", kind=kind, status=status,
                          dataset=dataset, model=model,
                          config=column_json(dict(config)), seed=seed, created_at=now,
                          started_at=now if status == "running" else None, progress=0.0,
                          progress_info=column_json({}), parent_id=parent_id, cancel_requested=False)
            run_id = conn.execute(sa.insert(S.runs).values(**values).returning(S.runs.c.id)).scalar_one()
            if not name:
                conn.execute(sa.update(S.runs).where(S.runs.c.id == run_id).values(name=f"{kind}-{run_id}"))
            if tags:
                self._put_tags(conn, run_id, tags)
        return int(run_id)

    def _owner_of_new(self, conn, owner_id: int | None, parent_id: int | None) -> tuple[int, bool]:
        """The owner and shared flag of a new run (a trial of a shared search is shared too)."""
        if owner_id is None:
            return default_owner(conn, parent_id)
        if isinstance(owner_id, bool) or not isinstance(owner_id, int):
            raise ValidationError(f"An owner must be a user id (an integer). Got {owner_id!r} instead.")
        if conn.execute(sa.select(S.users.c.id).where(S.users.c.id == owner_id)).first() is None:
            raise NotFoundError(f"User {owner_id} does not exist; a run's owner must be a known user.")
        return owner_id, False

    def set_status(self, run_id: int, status: str, error: str | None = None) -> None:
        """Change a run's status (validated: queued -> running -> a final status).

        Sets ``started_at`` when it starts, ``finished_at``/``duration_s`` when it ends,
        progress 1.0 on success. A no-op when the run already has that status.
        """
        check_one_of("status", status, STATUSES)
        error = storable_text(error)  # the lab's own message: always recorded, never refused
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
            values = _status_values(row, status, error)
            conn.execute(sa.update(S.runs).where(S.runs.c.id == row.id).values(**values))

    # ------------------------------------------------------------------ metrics, params
    def log_metrics(self, run_id: int, values: Mapping[str, Any], step: int, *, time: float | None = None) -> None:
        """Append one value per key at ``step`` (one batch insert). NaN is kept as NaN."""
        step = check_number("step", step, integer=True)
        t = utcnow().timestamp() if time is None else float(time)
        rows = [
            {"run_id": int(run_id), "key": check_key(k), "step": step, "value": float_or_none(v, f"metric {k!r}"), "time": t}
            for k, v in values.items()
        ]
        if not rows:
            return
        with self._write() as conn:
            self._require(conn, run_id)
            conn.execute(sa.insert(S.metrics), rows)

    def log_summary(self, run_id: int, values: Mapping[str, Any]) -> None:
        """Set summary metrics (replacing earlier values of the same keys). Non-numbers are refused."""
        rows = [{"run_id": int(run_id), "key": check_key(k), "value": float_or_none(v, f"summary metric {k!r}")}
                for k, v in values.items()]
        self._replace_keys(S.summary_metrics, run_id, rows)

    def log_params(self, run_id: int, values: Mapping[str, Any]) -> None:
        """Store parameters, flattening nested dicts to dotted keys (``augment.rotation``)."""
        rows = [{"run_id": int(run_id), "key": check_key(k, "parameter name"), "value": _param_text(v, k)}
                for k, v in flatten(values).items()]
        self._replace_keys(S.params, run_id, rows)

    def _replace_keys(self, table: sa.Table, run_id: int, rows: list[dict]) -> None:
        """Write a run's ``rows`` into a key/value ``table``, replacing earlier values of the same keys."""
        if not rows:
            return
        with self._write() as conn:
            self._require(conn, run_id)
            conn.execute(sa.delete(table).where(table.c.run_id == int(run_id), table.c.key.in_([r["key"] for r in rows])))
            conn.execute(sa.insert(table), rows)

    # ------------------------------------------------------------------ artifacts
    def add_artifact(self, run_id: int, kind: str, path: str | Path) -> Artifact:
        """Register an existing file (or folder) of a run. A missing path is refused."""
        check_key(kind, "artifact kind")
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

    # ------------------------------------------------------------------ tags, notes, name
    def _put_tags(self, conn, run_id: int, tags) -> None:
        norm = _norm_tags(tags)
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
        check_text(notes, "note", allow_none=True)
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

    # ------------------------------------------------------------------ delete
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
            end_champion_periods(conn, ids)
            conn.execute(sa.delete(S.runs).where(S.runs.c.id.in_([c.id for c in children])))
            conn.execute(sa.delete(S.runs).where(S.runs.c.id == row.id))
        self._remove_files(ids, art_paths)

    def _remove_files(self, ids: list[int], art_paths: list[Path]) -> None:
        """The folders of deleted runs, and their files registered elsewhere inside models_dir."""
        root = self.models_dir.resolve()
        for rid in ids:
            folder = self.run_dir(rid)
            if folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
        for p in art_paths:
            try:
                rp = p.resolve()
                if rp.is_file() and root in rp.parents:
                    rp.unlink()
            except OSError:
                pass

    # ------------------------------------------------------------------ restore (a bundle's import)
    def restore_run(self, run: Mapping[str, Any], *, params: Mapping[str, str], summary: Mapping[str, Any],
                    metrics: Iterable[Mapping[str, Any]], tags: Mapping[str, str], artifacts: Mapping[str, str],
                    files_dir: Path, owner_id: int | None = None) -> int:
        """Insert a finished run from elsewhere (``core.serving.bundle``) under a new id, in one transaction:
        the run row (``run``: name, kind, status, dataset, model, config, seed, times, notes, ...),
        params, summary, metric history, tags and the files of ``files_dir`` (``artifacts``:
        file name -> kind), which becomes the run's folder; ``owner_id`` the importer (None: the
        local user). On any error nothing is left: the
        transaction is rolled back and the folder removed. Returns the new run id."""
        values = _restored_run_values(run)
        files_dir = Path(files_dir)
        moved: list[Path] = []  # the run's folder once the files were moved there
        try:
            with self._write() as conn:
                values["owner_id"], values["shared"] = self._owner_of_new(conn, owner_id, None)
                rid = int(conn.execute(sa.insert(S.runs).values(**values).returning(S.runs.c.id)).scalar_one())
                self._put_tags(conn, rid, tags)
                _insert_rows(conn, rid, params, summary, metrics)
                self._restore_files(conn, rid, artifacts, files_dir, moved)
        except (sa.exc.DataError, sa.exc.IntegrityError) as exc:  # a value the database refuses
            _remove(moved)
            raise ValidationError(f"The run's values do not fit the run store: {exc.orig}") from exc
        except BaseException:
            _remove(moved)
            raise
        return rid

    def _restore_files(self, conn, rid: int, artifacts: Mapping[str, str], files_dir: Path, moved: list[Path]) -> None:
        """Register the restored files and move ``files_dir`` to the run's folder (appended to ``moved``)."""
        dest = self.run_dir(rid)
        now = utcnow()
        arts = [{"run_id": rid, "kind": check_key(kind, "artifact kind"), "path": self._rel(dest / name),
                 "bytes": (files_dir / name).stat().st_size, "created_at": now}
                for name, kind in artifacts.items()]
        if arts:
            conn.execute(sa.insert(S.artifacts), arts)
        if dest.exists():
            raise StoreError(f"Cannot import into run {rid}: its folder {dest} already exists (left over "
                             "from an earlier run?). Move it away and import again.")
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(files_dir, dest)
        moved.append(dest)


def _status_values(row: sa.Row, status: str, error: str | None) -> dict[str, Any]:
    """The columns a status change sets (times, duration, progress; a re-queue clears the worker's)."""
    now = utcnow()
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
        started = aware(row.started_at)
        values["duration_s"] = (now - started).total_seconds() if started else None
        if status == "succeeded":
            values["progress"] = 1.0
    return values


def _param_text(value: Any, key: str = "") -> str:
    """A parameter's stored text: a string as it is (checked by ``check_text``), anything else as JSON."""
    return check_text(value, f"value of parameter {key!r}") if isinstance(value, str) else column_json(value)


def _norm_tags(tags: Mapping[str, Any] | Iterable[str]) -> dict[str, str]:
    if isinstance(tags, str):
        tags = [tags]
    items = tags.items() if isinstance(tags, Mapping) else ((t, "") for t in tags)
    out = {}
    for k, v in items:
        check_key(k, "tag")
        v = check_text("" if v is None else str(v), f"value of tag {k.strip()[:50]!r}")
        if len(v) > MAX_TAG_VALUE_LENGTH:
            raise ValidationError(f"The value of tag {k.strip()[:50]!r} has {len(v):,} characters; "
                                  f"at most {MAX_TAG_VALUE_LENGTH} are accepted.")
        out[k.strip()] = v
    return out


def _remove(folders: list[Path]) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def _when_text(value: Any, what: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return aware(datetime.fromisoformat(str(value)))
    except ValueError:
        raise ValidationError(f"The {what} must be a date and time (ISO 8601). Got {value!r} instead.") from None


def _check_restored(run: Mapping[str, Any]) -> None:
    """The config, texts and JSON objects of a restored run's row have the right types and lengths."""
    config = run.get("config")
    if not isinstance(config, Mapping):
        raise ValidationError(f"The run's config must be a JSON object. Got {type(config).__name__} instead.")
    for key in ("dataset", "model", "name"):
        if run.get(key) is not None and not isinstance(run.get(key), str):
            raise ValidationError(f"The run's {key} must be text. Got {run.get(key)!r} instead.")
        if key != "name" and len(run.get(key) or "") > 200:
            raise ValidationError(f"The run's {key} has {len(run[key])} characters; at most 200 are accepted.")
        check_text(run.get(key), f"run's {key}", allow_none=True)
    check_text(run.get("notes") or None, "run's notes", allow_none=True)
    for key in ("progress_info", "placement"):
        if run.get(key) is not None and not isinstance(run.get(key), Mapping):
            raise ValidationError(f"The run's {key} must be a JSON object. Got {type(run.get(key)).__name__} instead.")


def _restored_run_values(run: Mapping[str, Any]) -> dict:
    """The ``runs`` row of a run restored from a bundle (checked; a new id, no parent, no worker)."""
    kind = check_one_of("kind", run.get("kind") or "train", KINDS)
    status = check_one_of("status", run.get("status"), FINAL_STATUSES)
    created = _when_text(run.get("created_at"), "created_at") or utcnow()
    _check_restored(run)
    return dict(
        name=check_run_name(run.get("name")) or f"{kind} (imported)", kind=kind, status=status,
        dataset=run.get("dataset"), model=run.get("model"), config=column_json(dict(run["config"])),
        seed=check_number("seed", run.get("seed"), integer=True, allow_none=True), created_at=created,
        started_at=_when_text(run.get("started_at"), "started_at"),
        finished_at=_when_text(run.get("finished_at"), "finished_at"),
        duration_s=float_or_none(run.get("duration_s"), "duration"), error=storable_text(run.get("error") or None),
        progress=1.0 if status == "succeeded" else
        min(1.0, max(0.0, float_or_none(run.get("progress"), "progress") or 0.0)),
        progress_info=column_json(dict(run.get("progress_info") or {})), parent_id=None, pid=None,
        host=(str(run["host"])[:255] if run.get("host") else None), cancel_requested=False,
        notes=run.get("notes") or None, heartbeat_at=None, supervisor_id=None,
        executor=(str(run["executor"])[:20] if run.get("executor") else None),
        placement=column_json(dict(run.get("placement") or {})),
    )


def _insert_rows(conn, rid: int, params: Mapping[str, Any], summary: Mapping[str, Any],
                 metrics: Iterable[Mapping[str, Any]]) -> None:
    """Params, summary metrics and metric history of a restored run (keys and values checked)."""
    if params:
        conn.execute(sa.insert(S.params), [
            {"run_id": rid, "key": check_key(k, "parameter name"), "value": _param_text(v, k)}
            for k, v in params.items()])
    if summary:
        conn.execute(sa.insert(S.summary_metrics), [
            {"run_id": rid, "key": check_key(k), "value": float_or_none(v, f"summary metric {k!r}")}
            for k, v in summary.items()])
    rows = [{"run_id": rid, "key": check_key(m["key"]), "step": check_number("step", m["step"], integer=True),
             "value": float_or_none(m["value"], f"metric {m['key']!r}"), "time": float(m["time"])} for m in metrics]
    for chunk in chunks(rows, 5000):
        conn.execute(sa.insert(S.metrics), chunk)
