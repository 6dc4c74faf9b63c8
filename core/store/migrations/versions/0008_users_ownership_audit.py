"""Users, run ownership and the audit trail: the ``users`` and ``audit_log`` tables, and
``runs.owner_id`` / ``runs.shared``.

The migration creates the local user (issuer and subject "local", role admin): the owner of
every run that existed before, and of every run of a lab without sign-in. On SQLite the
``owner_id`` column is added with ``ALTER TABLE ... ADD COLUMN ... REFERENCES`` (never a
batch "recreate" of ``runs``: see ``core/store/kind_check.py`` for why).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""
from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ROLES = "role IN ('admin', 'instructor', 'student', 'viewer')"


def _users() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("issuer", sa.String(500), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("email_verified", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("role", sa.String(20), nullable=False, server_default="viewer"),
        sa.Column("role_source", sa.String(20), nullable=False, server_default="default"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("issuer", "subject", name=op.f("uq_users_issuer_subject")),
        sa.CheckConstraint(ROLES, name=op.f("ck_users_role_valid")),
    )
    op.create_index(op.f("ix_users_email"), "users", ["email"])


def _audit_log() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer, sa.ForeignKey("users.id", name=op.f("fk_audit_log_actor_id_users")),
                  nullable=True),
        sa.Column("actor_label", sa.String(320), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("target", sa.String(300), nullable=False, server_default=""),
        sa.Column("allowed", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("before", sa.Text, nullable=True),
        sa.Column("after", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index(op.f("ix_audit_log_actor_id_at"), "audit_log", ["actor_id", "at"])
    op.create_index(op.f("ix_audit_log_action_at"), "audit_log", ["action", "at"])


def upgrade() -> None:
    _users()
    _audit_log()
    conn = op.get_bind()
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("issuer"), sa.column("subject"),
                     sa.column("name"), sa.column("role"), sa.column("role_source"),
                     sa.column("created_at", sa.DateTime(timezone=True)))
    local_id = conn.execute(sa.insert(users).values(
        issuer="local", subject="local", name="local", role="admin", role_source="local",
        created_at=datetime.now(UTC)).returning(users.c.id)).scalar_one()
    if conn.dialect.name == "sqlite":
        op.execute('ALTER TABLE runs ADD COLUMN owner_id INTEGER '
                   'CONSTRAINT fk_runs_owner_id_users REFERENCES users (id)')
        op.execute("ALTER TABLE runs ADD COLUMN shared BOOLEAN DEFAULT 0 NOT NULL")
    else:
        op.add_column("runs", sa.Column("owner_id", sa.Integer, nullable=True))
        op.add_column("runs", sa.Column("shared", sa.Boolean, nullable=False, server_default=sa.false()))
        op.create_foreign_key(op.f("fk_runs_owner_id_users"), "runs", "users", ["owner_id"], ["id"])
    op.execute(sa.text("UPDATE runs SET owner_id = :u").bindparams(u=int(local_id)))
    op.create_index(op.f("ix_runs_owner_id_shared"), "runs", ["owner_id", "shared"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        raise RuntimeError("revision 0008 cannot be downgraded on SQLite: runs.owner_id is a foreign key "
                           "column, which SQLite cannot drop without re-creating runs")
    op.drop_index(op.f("ix_runs_owner_id_shared"), table_name="runs")
    op.drop_constraint(op.f("fk_runs_owner_id_users"), "runs", type_="foreignkey")
    op.drop_column("runs", "shared")
    op.drop_column("runs", "owner_id")
    op.drop_table("audit_log")
    op.drop_table("users")
