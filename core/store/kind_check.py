"""Rewriting the ``kind_valid`` CHECK constraint of ``runs`` in a migration (revisions 0005, 0006).

SQLite cannot alter a CHECK constraint, and a batch "recreate" of ``runs`` is not safe here:
the store's connections run with ``PRAGMA foreign_keys = ON`` inside the migration's
transaction (where the pragma cannot be switched off), so dropping the old ``runs`` table
would cascade-delete every run's params, metrics, tags and artifacts. The constraint is
therefore rewritten in the table's stored definition (SQLite's documented procedure for
changes that do not touch the stored data: ``writable_schema`` + a ``schema_version`` bump,
https://www.sqlite.org/lang_altertable.html#otheralter); other databases drop and re-create it.
"""
from __future__ import annotations

import sqlalchemy as sa


def _sqlite_rewrite(conn, old: str, new: str, revision: str) -> None:
    sql = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'runs'")).scalar()
    if sql is None or sql.count(old) != 1:
        raise RuntimeError(f"revision {revision}: the runs table's definition does not contain the CHECK {old!r} "
                           "exactly once; the database was changed by hand")
    version = int(conn.execute(sa.text("PRAGMA schema_version")).scalar())
    conn.execute(sa.text("PRAGMA writable_schema = ON"))
    try:
        conn.execute(sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'runs'"),
                     {"sql": sql.replace(old, new)})
        conn.execute(sa.text(f"PRAGMA schema_version = {version + 1}"))
    finally:
        conn.execute(sa.text("PRAGMA writable_schema = OFF"))
    bad = conn.execute(sa.text("PRAGMA integrity_check")).scalar()
    if bad != "ok":
        raise RuntimeError(f"revision {revision}: integrity check after rewriting the CHECK constraint: {bad}")


def change_kind_check(op, old: str, new: str, revision: str) -> None:
    """Replace the CHECK ``old`` by ``new`` (both ``kind IN (...)`` texts) inside an Alembic migration."""
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        _sqlite_rewrite(conn, old, new, revision)
        return
    # the constraint's name as the database has it (revision 0001's name went through the naming convention)
    names = [c["name"] for c in sa.inspect(conn).get_check_constraints("runs") if "kind_valid" in (c["name"] or "")]
    if len(names) != 1:
        raise RuntimeError(f"revision {revision}: expected one kind_valid CHECK constraint on runs, found {names}")
    op.drop_constraint(op.f(names[0]), "runs", type_="check")
    op.create_check_constraint(op.f(names[0]), "runs", sa.text(new))


def refuse_downgrade_with(op, kind: str, revision: str) -> None:
    n = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM runs WHERE kind = :k"), {"k": kind}).scalar()
    if n:
        raise RuntimeError(f"revision {revision} cannot be downgraded: the store holds {n} {kind} run(s); delete them first")
