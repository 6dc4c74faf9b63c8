"""Initial schema: runs, params, metrics, summary metrics, tags, artifacts.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATUSES = "('queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted')"
KINDS = "('train', 'search', 'lr_find')"


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False, server_default="train"),
        sa.Column("status", sa.String(20), nullable=False, server_default="queued"),
        sa.Column("dataset", sa.String(200), nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("seed", sa.Integer, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_s", sa.Float, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("progress", sa.Float, nullable=False, server_default="0"),
        sa.Column("progress_info", sa.Text, nullable=True),
        sa.Column("parent_id", sa.Integer, nullable=True),
        sa.Column("pid", sa.Integer, nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.ForeignKeyConstraint(["parent_id"], ["runs.id"], name="fk_runs_parent_id_runs", ondelete="SET NULL"),
        sa.CheckConstraint(f"status IN {STATUSES}", name="ck_runs_status_valid"),
        sa.CheckConstraint(f"kind IN {KINDS}", name="ck_runs_kind_valid"),
        sa.CheckConstraint("progress >= 0 AND progress <= 1", name="ck_runs_progress_range"),
    )
    op.create_table(
        "params",
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("run_id", "key", name="pk_params"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_params_run_id_runs", ondelete="CASCADE"),
    )
    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("time", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_metrics"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_metrics_run_id_runs", ondelete="CASCADE"),
    )
    op.create_index("ix_metrics_run_id_key_step", "metrics", ["run_id", "key", "step"])
    op.create_table(
        "summary_metrics",
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("run_id", "key", name="pk_summary_metrics"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_summary_metrics_run_id_runs", ondelete="CASCADE"),
    )
    op.create_table(
        "tags",
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.String(500), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("run_id", "key", name="pk_tags"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_tags_run_id_runs", ondelete="CASCADE"),
    )
    op.create_table(
        "artifacts",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_artifacts"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_artifacts_run_id_runs", ondelete="CASCADE"),
        sa.UniqueConstraint("run_id", "path", name="uq_artifacts_run_id_path"),
    )


def downgrade() -> None:
    for table in ("artifacts", "tags", "summary_metrics", "metrics", "params", "runs"):
        op.drop_table(table)
