"""Run notes, worker heartbeat, and indexes for listing/filtering/sorting runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("notes", sa.Text, nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_runs_status_id", "runs", ["status", "id"])
    op.create_index("ix_runs_created_at", "runs", ["created_at"])
    op.create_index("ix_runs_parent_id", "runs", ["parent_id"])
    op.create_index("ix_runs_dataset", "runs", ["dataset"])
    op.create_index("ix_runs_model", "runs", ["model"])
    op.create_index("ix_summary_metrics_key_value", "summary_metrics", ["key", "value"])
    op.create_index("ix_tags_key_value", "tags", ["key", "value"])


def downgrade() -> None:
    for name, table in (
        ("ix_tags_key_value", "tags"),
        ("ix_summary_metrics_key_value", "summary_metrics"),
        ("ix_runs_model", "runs"),
        ("ix_runs_dataset", "runs"),
        ("ix_runs_parent_id", "runs"),
        ("ix_runs_created_at", "runs"),
        ("ix_runs_status_id", "runs"),
    ):
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("notes")
