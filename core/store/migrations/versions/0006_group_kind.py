"""A new kind of run: ``group`` (the parent of a recipe's runs, ``core.recipes``) in the ``kind_valid`` CHECK.

How the CHECK is rewritten (and why not by a batch "recreate" on SQLite): ``core/store/kind_check.py``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""
from __future__ import annotations

from alembic import op

from core.store.kind_check import change_kind_check, refuse_downgrade_with

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OLD = "kind IN ('train', 'search', 'lr_find', 'audit')"
NEW = "kind IN ('train', 'search', 'lr_find', 'audit', 'group')"


def upgrade() -> None:
    change_kind_check(op, OLD, NEW, revision)


def downgrade() -> None:
    refuse_downgrade_with(op, "group", revision)
    change_kind_check(op, NEW, OLD, revision)
