"""External evaluations: the ``external_evaluations`` table (a run scored on a labelled image set it never
saw, with its shift report and overlap check) and a new kind of run, ``validation`` (the background job
that makes one), in the ``kind_valid`` CHECK.

How the CHECK is rewritten (and why not by a batch "recreate" on SQLite): ``core/store/kind_check.py``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.store.kind_check import change_kind_check, refuse_downgrade_with

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

OLD = "kind IN ('train', 'search', 'lr_find', 'audit', 'group')"
NEW = "kind IN ('train', 'search', 'lr_find', 'audit', 'group', 'validation')"


def upgrade() -> None:
    change_kind_check(op, OLD, NEW, revision)
    op.create_table(
        "external_evaluations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer, nullable=True),
        sa.Column("n_images", sa.Integer, nullable=False),
        sa.Column("n_overlap", sa.Integer, nullable=False, server_default="0"),
        sa.Column("files_hash", sa.String(64), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("shift", sa.Text, nullable=False),
        sa.Column("overlap", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_evaluations")),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_external_evaluations_run_id_runs"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_external_evaluations_created_by_users"),
                                ondelete="SET NULL"),
    )
    op.create_index(op.f("ix_external_evaluations_run_id_created_at"), "external_evaluations",
                    ["run_id", "created_at"])


def downgrade() -> None:
    refuse_downgrade_with(op, "validation", revision)
    op.drop_index(op.f("ix_external_evaluations_run_id_created_at"), table_name="external_evaluations")
    op.drop_table("external_evaluations")
    change_kind_check(op, NEW, OLD, revision)
