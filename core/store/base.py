"""The run store's plumbing, shared by its parts (runs, queries, queue, champions): the engine,
short read and write transactions, consistent read snapshots, and paths under ``models_dir``.

One store per process is enough (it holds an engine with a connection pool and is
thread-safe). Every method opens a short transaction of its own.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from core.store import schema as S
from core.store.engine import WRITE_OPTION, StoreError, make_engine, safe_url, upgrade
from core.validation import NotFoundError, ValidationError


class StoreBase:
    """Engine, transactions and paths of a run store (``core.store.repository.Store`` adds the API).

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

    def __repr__(self) -> str:
        return f"Store({safe_url(self.url)!r}, models_dir={str(self.models_dir)!r})"

    @property
    def full_url(self) -> str:
        """The URL with its password, for handing to worker processes."""
        return self.engine.url.render_as_string(hide_password=False)

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ transactions
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
                active, _ = store.list_runs(status=ACTIVE_STATUSES)
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

    # ------------------------------------------------------------------ paths
    def run_dir(self, run_id: int) -> Path:
        return self.models_dir / str(int(run_id))

    def _rel(self, path: Path) -> str:
        """How a path is recorded: relative to ``models_dir`` when inside it, else absolute."""
        p = Path(path).resolve()
        try:
            return p.relative_to(self.models_dir.resolve()).as_posix()
        except ValueError:
            return str(p)

    def _abs(self, stored: str) -> Path:
        p = Path(stored)
        return p if p.is_absolute() else self.models_dir / p
