"""Flagged predictions, their review decisions and the dataset versions exported from them:
the ``flags``, ``flag_decisions`` and ``flag_datasets`` tables.

A flag keeps no uploaded file name: its image is re-encoded pixels named by their sha256.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKey:
    return sa.ForeignKey(f"{target}.id", name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete)


def _flags() -> None:
    op.create_table(
        "flags",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, _fk("flags", "run_id", "runs", "SET NULL"), nullable=True),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("class_names", sa.Text, nullable=False),
        sa.Column("image_sha256", sa.String(64), nullable=False),
        sa.Column("image_path", sa.String(100), nullable=False),
        sa.Column("probs", sa.Text, nullable=False),
        sa.Column("predicted", sa.Integer, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("proposed_label", sa.Integer, nullable=True),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("created_by", sa.Integer, _fk("flags", "created_by", "users", "SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("final_label", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flags")),
        sa.CheckConstraint("kind IN ('wrong', 'uncertain')", name=op.f("ck_flags_kind_valid")),
        sa.CheckConstraint("status IN ('pending', 'accepted', 'relabelled', 'rejected')",
                           name=op.f("ck_flags_status_valid")),
    )
    for cols in (["status", "confidence"], ["dataset", "status"], ["created_by"], ["run_id"], ["image_sha256"]):
        op.create_index(op.f(f"ix_flags_{'_'.join(cols)}"), "flags", cols)


def _decisions() -> None:
    op.create_table(
        "flag_decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("flag_id", sa.Integer, _fk("flag_decisions", "flag_id", "flags", "CASCADE"), nullable=False),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("label", sa.Integer, nullable=True),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("decided_by", sa.Integer, _fk("flag_decisions", "decided_by", "users", "SET NULL"),
                  nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flag_decisions")),
        sa.CheckConstraint("decision IN ('accept', 'relabel', 'reject')", name=op.f("ck_flag_decisions_decision_valid")),
    )
    op.create_index(op.f("ix_flag_decisions_flag_id_decided_at"), "flag_decisions", ["flag_id", "decided_at"])


def _datasets() -> None:
    op.create_table(
        "flag_datasets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("n_images", sa.Integer, nullable=False),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.Column("flag_ids", sa.Text, nullable=False),
        sa.Column("created_by", sa.Integer, _fk("flag_datasets", "created_by", "users", "SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flag_datasets")),
        sa.UniqueConstraint("name", name=op.f("uq_flag_datasets_name")),
        sa.UniqueConstraint("dataset", "version", name=op.f("uq_flag_datasets_dataset_version")),
    )


def upgrade() -> None:
    _flags()
    _decisions()
    _datasets()


def downgrade() -> None:
    op.drop_table("flag_datasets")
    op.drop_index(op.f("ix_flag_decisions_flag_id_decided_at"), table_name="flag_decisions")
    op.drop_table("flag_decisions")
    for cols in (["status", "confidence"], ["dataset", "status"], ["created_by"], ["run_id"], ["image_sha256"]):
        op.drop_index(op.f(f"ix_flags_{'_'.join(cols)}"), table_name="flags")
    op.drop_table("flags")
