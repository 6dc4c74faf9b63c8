"""The champion of each dataset and its history: the ``champions`` table.

At most one current champion (``cleared_at IS NULL``) per dataset: a partial unique index
(SQLite and PostgreSQL both have them), besides ``Store.set_champion`` doing the change in one
write transaction.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "champions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", name=op.f("fk_champions_run_id_runs"),
                                                      ondelete="SET NULL"), nullable=True),
        sa.Column("run_ref", sa.Integer, nullable=False),
        sa.Column("run_name", sa.String(200), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("set_by", sa.String(200), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cleared_by", sa.String(200), nullable=True),
        sa.Column("cleared_reason", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_champions")),
    )
    op.create_index(op.f("ix_champions_dataset_set_at"), "champions", ["dataset", "set_at"])
    op.create_index(op.f("ix_champions_run_id"), "champions", ["run_id"])
    op.create_index("uq_champions_current_dataset", "champions", ["dataset"], unique=True,
                    sqlite_where=sa.text("cleared_at IS NULL"), postgresql_where=sa.text("cleared_at IS NULL"))


def downgrade() -> None:
    op.drop_index("uq_champions_current_dataset", table_name="champions")
    op.drop_index(op.f("ix_champions_run_id"), table_name="champions")
    op.drop_index(op.f("ix_champions_dataset_set_at"), table_name="champions")
    op.drop_table("champions")
