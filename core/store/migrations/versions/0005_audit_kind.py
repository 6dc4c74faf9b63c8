"""A new kind of run: ``audit`` (the label audit of ``core.audit``) in the ``kind_valid`` CHECK.

SQLite cannot alter a CHECK constraint, and a batch "recreate" of ``runs`` is not safe here:
the store's connections run with ``PRAGMA foreign_keys = ON`` inside the migration's
transaction (where the pragma cannot be switched off), so dropping the old ``runs`` table
would cascade-delete every run's params, metrics, tags and artifacts. The constraint is
therefore rewritten in the table's stored definition (SQLite's documented procedure for
changes that do not touch the stored data: ``writable_schema`` + a ``schema_version`` bump,
https://www.sqlite.org/lang_altertable.html#otheralter); other databases drop and re-create it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OLD = "kind IN ('train', 'search', 'lr_find')"
NEW = "kind IN ('train', 'search', 'lr_find', 'audit')"


def _sqlite_rewrite(conn, old: str, new: str) -> None:
    sql = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'runs'")).scalar()
    if sql is None or sql.count(old) != 1:
        raise RuntimeError(f"revision 0005: the runs table's definition does not contain the CHECK {old!r} "
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
        raise RuntimeError(f"revision 0005: integrity check after rewriting the CHECK constraint: {bad}")


def _change(old: str, new: str) -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        _sqlite_rewrite(conn, old, new)
        return
    # the constraint's name as the database has it (revision 0001's name went through the naming convention)
    names = [c["name"] for c in sa.inspect(conn).get_check_constraints("runs") if "kind_valid" in (c["name"] or "")]
    if len(names) != 1:
        raise RuntimeError(f"revision 0005: expected one kind_valid CHECK constraint on runs, found {names}")
    op.drop_constraint(op.f(names[0]), "runs", type_="check")
    op.create_check_constraint(op.f(names[0]), "runs", sa.text(new))


def upgrade() -> None:
    _change(OLD, NEW)


def downgrade() -> None:
    n = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM runs WHERE kind = 'audit'")).scalar()
    if n:
        raise RuntimeError(f"revision 0005 cannot be downgraded: the store holds {n} audit run(s); delete them first")
    _change(NEW, OLD)
