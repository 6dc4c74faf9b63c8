"""Reading runs: the filtered, sorted list of runs with their summaries and tags (four queries
whatever the page size), one run in detail, configs of many runs, and metric histories.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from core.store import schema as S
from core.store.base import StoreBase
from core.store.records import Artifact, RunDetail, RunSummary, aware, check_key, chunks, loads_or, nan_if_none
from core.store.schema import KINDS, STATUSES
from core.store.users import owner_label_column, visibility_condition
from core.validation import NotFoundError, check_number, check_one_of


class RunQueries(StoreBase):
    """The run store's reads of runs."""

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
        visible_to: tuple[int, bool] | None = None,
    ) -> tuple[list[RunSummary], int]:
        """Filtered, sorted page of runs with their summary metrics and tags, and the total count.

        ``tag`` is ``"key"`` or ``"key=value"``; ``text`` searches name, dataset, model,
        notes and tags (case-insensitive); ``parent_id`` an id, ``None`` (top-level runs
        only) or ``"any"`` (default). ``sort`` is a column (created_at, name, status,
        duration, ...) or a summary metric key such as ``"accuracy"`` (runs without it last).
        ``visible_to`` = ``(user_id, include_shared)`` keeps the runs that user owns, and the
        runs shared with the class when ``include_shared`` (in SQL; None: every run).
        Four queries whatever the page size (count, page, summaries, tags).
        """
        conds = _run_filters(dataset=dataset, model=model, status=status, kind=kind, tag=tag, text=text,
                             parent_id=parent_id)
        if visible_to is not None:
            conds.append(visibility_condition(*visible_to))
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
        runs = [_summary_from_row(row, summary=summ[row.id], tags=tgs[row.id]) for row in rows]
        return runs, int(total)

    def get_run(self, run_id: int) -> RunDetail:
        with self._read() as conn:
            row = self._require(conn, run_id)
            rid = row.id
            owner = conn.execute(sa.select(owner_label_column()).where(S.users.c.id == row.owner_id)).scalar()
            summary = {k: nan_if_none(v) for k, v in conn.execute(
                sa.select(S.summary_metrics.c.key, S.summary_metrics.c.value).where(S.summary_metrics.c.run_id == rid))}
            tags = dict(conn.execute(sa.select(S.tags.c.key, S.tags.c.value).where(S.tags.c.run_id == rid)).all())
            params = dict(conn.execute(sa.select(S.params.c.key, S.params.c.value).where(S.params.c.run_id == rid)).all())
            arts = [Artifact(kind=a.kind, path=self._abs(a.path), bytes=a.bytes, created_at=aware(a.created_at))
                    for a in conn.execute(sa.select(S.artifacts).where(S.artifacts.c.run_id == rid).order_by(S.artifacts.c.id))]
            keys = sorted(conn.execute(sa.select(S.metrics.c.key).where(S.metrics.c.run_id == rid).distinct()).scalars())
            children = list(conn.execute(sa.select(S.runs.c.id).where(S.runs.c.parent_id == rid).order_by(S.runs.c.id)).scalars())
        return _summary_from_row(row, RunDetail, owner_label=owner, summary=summary, tags=tags, config=loads_or(row.config, {}),
                                 params=params, artifacts=arts, metric_keys=keys, children=children)

    def get_configs(self, run_ids: Iterable[int]) -> dict[int, dict]:
        """``{id: config}`` of several runs in one query (the Runs table's parameter columns);
        ids that do not exist are left out, an unreadable config is ``{}``."""
        ids = [int(i) for i in run_ids]
        out: dict[int, dict] = {}
        with self._read() as conn:
            for chunk in chunks(ids, 900):
                for rid, text in conn.execute(sa.select(S.runs.c.id, S.runs.c.config).where(S.runs.c.id.in_(chunk))):
                    out[int(rid)] = loads_or(text, {})
        return out

    def exists(self, run_id: int) -> bool:
        with self._read() as conn:
            return conn.execute(sa.select(S.runs.c.id).where(S.runs.c.id == int(run_id))).first() is not None

    # ------------------------------------------------------------------ metric histories
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
            for chunk in chunks(ids, 900):
                rows.extend(conn.execute(q.where(m.run_id.in_(chunk)).order_by(m.run_id, m.key, m.step, m.id)).all())
        df = pd.DataFrame(rows, columns=["run_id", "key", "step", "value", "time"])
        df["value"] = df["value"].astype(float)
        df["step"] = df["step"].astype(int)
        df["time"] = pd.to_datetime(df["time"].astype(float), unit="s", utc=True)
        return df


def _summary_from_row(row: sa.Row, cls=RunSummary, **extra) -> RunSummary:
    extra.setdefault("owner_label", getattr(row, "owner_label", None))
    return cls(
        id=row.id, name=row.name, kind=row.kind, status=row.status, dataset=row.dataset, model=row.model,
        seed=row.seed, created_at=aware(row.created_at), started_at=aware(row.started_at),
        finished_at=aware(row.finished_at), duration_s=row.duration_s, progress=float(row.progress or 0.0),
        progress_info=loads_or(row.progress_info, {}), error=row.error, parent_id=row.parent_id, pid=row.pid,
        host=row.host, cancel_requested=bool(row.cancel_requested), heartbeat_at=aware(row.heartbeat_at),
        notes=row.notes, supervisor_id=getattr(row, "supervisor_id", None), executor=getattr(row, "executor", None),
        placement=loads_or(getattr(row, "placement", None), {}), owner_id=getattr(row, "owner_id", None),
        shared=bool(getattr(row, "shared", False)), **extra,
    )


# ---------------------------------------------------------------- list_runs' query parts
def _run_filters(*, dataset, model, status, kind, tag, text, parent_id) -> list:
    """WHERE conditions of ``list_runs`` (values checked against the known ones)."""
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
        conds.append(r.id.in_(_tag_query(tag)))
    if text and text.strip():
        conds.append(_text_condition(text.strip().lower()))
    return conds


def _tag_query(tag: str):
    """The ids of runs with tag ``key`` or ``key=value``."""
    key, _, value = str(tag).partition("=")
    tq = sa.select(S.tags.c.run_id).where(S.tags.c.key == key.strip())
    if "=" in str(tag):
        tq = tq.where(S.tags.c.value == value.strip())
    return tq


def _text_condition(needle: str):
    """Runs whose name, dataset, model, notes or a tag contain ``needle`` (lower case; LIKE wildcards escaped)."""
    r = S.runs.c
    tag_hit = sa.select(S.tags.c.run_id).where(
        sa.or_(sa.func.lower(S.tags.c.key).contains(needle, autoescape=True),
               sa.func.lower(S.tags.c.value).contains(needle, autoescape=True)))
    return sa.or_(
        *(sa.func.lower(sa.func.coalesce(c, "")).contains(needle, autoescape=True)
          for c in (r.name, r.dataset, r.model, r.notes)),
        r.id.in_(tag_hit),
    )


def _run_order(sort: str, descending: bool) -> tuple[Any, list]:
    """The base SELECT (joined to the summary metric when sorting by one) and ORDER BY of list_runs."""
    r = S.runs.c
    col_map = {"created_at": r.created_at, "id": r.id, "name": r.name, "status": r.status,
               "duration": r.duration_s, "dataset": r.dataset, "model": r.model,
               "started_at": r.started_at, "finished_at": r.finished_at}
    base = sa.select(S.runs, owner_label_column()).select_from(
        S.runs.outerjoin(S.users, S.users.c.id == r.owner_id))
    if sort in col_map:
        col = col_map[sort]
    else:
        check_key(sort, "sort key (a column or a summary metric)")
        sm = S.summary_metrics.alias("sort_metric")
        base = base.outerjoin(sm, sa.and_(sm.c.run_id == r.id, sm.c.key == sort))
        col = sm.c.value
    # NULLs last in both directions, on every backend; ties by id
    return base, [col.is_(None), col.desc() if descending else col.asc(), r.id.desc() if descending else r.id.asc()]


def _summaries_and_tags(conn, ids: list[int]) -> tuple[dict[int, dict], dict[int, dict]]:
    """Summary metrics and tags of the runs ``ids``, two queries per 900 ids."""
    summ: dict[int, dict] = {i: {} for i in ids}
    tgs: dict[int, dict] = {i: {} for i in ids}
    for chunk in chunks(ids, 900):
        for rid, key, value in conn.execute(
            sa.select(S.summary_metrics.c.run_id, S.summary_metrics.c.key, S.summary_metrics.c.value)
            .where(S.summary_metrics.c.run_id.in_(chunk))):
            summ[rid][key] = nan_if_none(value)
        for rid, key, value in conn.execute(
            sa.select(S.tags.c.run_id, S.tags.c.key, S.tags.c.value).where(S.tags.c.run_id.in_(chunk))):
            tgs[rid][key] = value
    return summ, tgs
