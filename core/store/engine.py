"""Engine creation and schema migrations (Alembic, driven programmatically).

SQLite: WAL journal, ``busy_timeout``, foreign keys on, ``synchronous=NORMAL``; the
driver's own transaction handling is switched off so that SQLAlchemy emits ``BEGIN``
itself, and write transactions start with ``BEGIN IMMEDIATE`` (a deferred transaction
that reads and then writes can fail at once with "database is locked" when another
process committed in between; an immediate one waits for the lock instead).
"""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from core.validation import LabError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "lab_write"


class StoreError(LabError):
    """The run store cannot be opened, migrated or written."""


def safe_url(url: str | sa.URL) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - unparsable URL: show it as given
        return str(url)


def _sqlite_listeners(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised through the store
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (see below)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        mode = cur.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode and str(mode[0]).lower() == "wal":
            cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` and check that it can be opened (StoreError if not)."""
    shown = safe_url(url)
    try:
        parsed = make_url(url)
    except Exception as exc:  # noqa: BLE001
        raise StoreError(
            f"Cannot open the run store: {url!r} is not a valid database URL ({exc}). "
            "Expected e.g. 'sqlite:////path/to/runs.db' or "
            "'postgresql+psycopg://user:password@host:5432/dbname' (set LAB_DATABASE_URL)."
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        db = parsed.database or ""
        if db and db != ":memory:" and not db.startswith("file:"):
            folder = Path(db).expanduser().resolve().parent
            if not folder.is_dir():
                raise StoreError(
                    f"Cannot open the run store {shown}: the folder {folder} does not exist. "
                    "Create it or point LAB_DATABASE_URL to a writable location."
                )
    kwargs: dict = {}
    if backend == "postgresql":
        kwargs.update(pool_pre_ping=True, connect_args={"connect_timeout": 10})
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except Exception as exc:  # noqa: BLE001 - unknown dialect / driver missing
        raise StoreError(
            f"Cannot open the run store {shown}: {type(exc).__name__}: {exc}. "
            "Supported: sqlite:///<file> and postgresql+psycopg://... (psycopg 3)."
        ) from exc
    if backend == "sqlite":
        _sqlite_listeners(engine)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # noqa: BLE001
        engine.dispose()
        reason = getattr(exc, "orig", None) or exc
        raise StoreError(f"Cannot open the run store {shown}: {reason}".rstrip()) from exc
    return engine


def alembic_config(connection=None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create the schema or upgrade it to ``revision``; existing data is kept."""
    from alembic import command
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    known = {rev.revision for rev in script.walk_revisions()}
    current = current_revision(engine)
    if current is not None and current not in known:
        raise StoreError(
            f"The run store {safe_url(engine.url)} is at schema revision {current!r}, which this "
            f"version of the lab does not know (known: {', '.join(sorted(known))}). It was "
            "probably written by a newer version; upgrade the lab instead of using this database."
        )
    target = script.get_current_head() if revision == "head" else revision
    if current == target:
        return
    try:
        with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn:
            with conn.begin():
                command.upgrade(alembic_config(conn), revision)
    except LabError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise StoreError(
            f"Could not create or upgrade the run store {safe_url(engine.url)} to revision "
            f"{revision}: {type(exc).__name__}: {exc}"
        ) from exc
