"""A new kind of run: ``audit`` (the label audit of ``core.analysis.audit``) in the ``kind_valid`` CHECK.

How the CHECK is rewritten (and why not by a batch "recreate" on SQLite): ``core/store/kind_check.py``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""
from __future__ import annotations

from alembic import op

from core.store.kind_check import change_kind_check, refuse_downgrade_with

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OLD = "kind IN ('train', 'search', 'lr_find')"
NEW = "kind IN ('train', 'search', 'lr_find', 'audit')"


def upgrade() -> None:
    change_kind_check(op, OLD, NEW, revision)


def downgrade() -> None:
    refuse_downgrade_with(op, "audit", revision)
    change_kind_check(op, NEW, OLD, revision)
