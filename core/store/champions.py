"""The champion of a dataset: the run to use for it, with the history of every change
(``champions`` table: one current row per dataset, ended rows kept).
"""
from __future__ import annotations

import os
import zlib
from typing import Any

import sqlalchemy as sa

from core.store import schema as S
from core.store.base import StoreBase
from core.store.engine import StoreError
from core.store.records import ChampionEntry, aware, utcnow
from core.validation import ValidationError, check_text


class ChampionStore(StoreBase):
    """Setting, clearing and reading the champions of datasets."""

    def _lock_dataset(self, conn, dataset: str) -> None:
        """Serialise the champion changes of one dataset: SQLite's write transactions already
        are (``BEGIN IMMEDIATE``); PostgreSQL takes a transaction-level advisory lock."""
        if self.dialect == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(f"champion:{dataset}".encode())})

    def set_champion(self, dataset: str, run_id: int, *, by: str | None = None,
                     note: str | None = None) -> ChampionEntry:
        """Make ``run_id`` the champion of ``dataset``; the current champion's period ends now
        (its row is kept: ``champion_history``). Only a succeeded training run of that dataset
        can be champion; making the current champion champion again changes nothing. ``by``
        defaults to ``LAB_USER`` or the login name. The champion is shared with the class (everyone
        who may predict may use it). Returns the current entry."""
        dataset = _check_dataset(dataset)
        if note is not None and not isinstance(note, str):
            raise ValidationError(f"A champion note must be text. Got {type(note).__name__} instead.")
        note = check_text(note, "The champion note", allow_none=True)
        who, now = _who(by), utcnow()
        c = S.champions.c
        try:
            with self._write() as conn:
                self._lock_dataset(conn, dataset)
                row = self._require(conn, run_id, lock=True)
                _check_champion_run(row, dataset)
                cur = _current_champion(conn, dataset)
                if cur is not None and cur.run_id == row.id:
                    return _champion_from_row(cur)
                if cur is not None:
                    conn.execute(sa.update(S.champions).where(c.id == cur.id).values(
                        cleared_at=now, cleared_by=who, cleared_reason=f"replaced by run {row.id}"))
                values = dict(dataset=dataset, run_id=row.id, run_ref=row.id, run_name=row.name, set_at=now,
                              set_by=who, note=(note or "").strip() or None)
                conn.execute(sa.insert(S.champions).values(**values))
                # a champion is the lab's run for its dataset: shared with the class (viewers predict with it)
                conn.execute(sa.update(S.runs).where(S.runs.c.id == row.id).values(shared=True))
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
            cur = _current_champion(conn, dataset)
            if cur is None:
                return None
            ended = dict(cleared_at=now, cleared_by=who, cleared_reason="cleared")
            conn.execute(sa.update(S.champions).where(S.champions.c.id == cur.id).values(**ended))
        return ChampionEntry(**{**_champion_from_row(cur).to_dict(), **ended})

    def champion(self, dataset: str) -> ChampionEntry | None:
        """The current champion of ``dataset`` (None when it has none)."""
        with self._read() as conn:
            cur = _current_champion(conn, _check_dataset(dataset))
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


def end_champion_periods(conn, run_ids: list[int]) -> None:
    """Runs ``run_ids`` are being deleted (in ``conn``'s transaction): a current champion's period
    ends now, and the history keeps their id and name (``run_ref``, ``run_name``) but no link."""
    ch = S.champions.c
    conn.execute(sa.update(S.champions).where(ch.run_id.in_(run_ids), ch.cleared_at.is_(None))
                 .values(cleared_at=utcnow(), cleared_by=_who(None), cleared_reason="run deleted"))
    conn.execute(sa.update(S.champions).where(ch.run_id.in_(run_ids)).values(run_id=None))


def _current_champion(conn, dataset: str) -> sa.Row | None:
    c = S.champions.c
    return conn.execute(sa.select(S.champions).where(c.dataset == dataset, c.cleared_at.is_(None))).first()


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
                         set_at=aware(row.set_at), set_by=row.set_by, note=row.note, cleared_at=aware(row.cleared_at),
                         cleared_by=row.cleared_by, cleared_reason=row.cleared_reason)
