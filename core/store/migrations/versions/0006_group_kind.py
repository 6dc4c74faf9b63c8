"""A new kind of run: ``group`` (the parent of a recipe's runs, ``core.recipes``) in the ``kind_valid`` CHECK.

How the CHECK is rewritten (and why not by a batch "recreate" on SQLite): ``core/store/kind_check.py``.

Data: before this revision a recipe's group was a run of kind ``search`` tagged ``recipe_role=group``
(with the params ``recipe.name``/``recipe.budget``/``recipe.runs`` written by the launch). The upgrade
turns those into kind ``group`` (the tag is kept); the downgrade turns recipe groups back into
``search`` (adding the tag where a group lacks it, as the older code words their progress by it) and
refuses, as before, when other runs of kind ``group`` remain.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.store.kind_check import change_kind_check, refuse_downgrade_with

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OLD = "kind IN ('train', 'search', 'lr_find', 'audit')"
NEW = "kind IN ('train', 'search', 'lr_find', 'audit', 'group')"

# a recipe's group: tagged recipe_role=group by the launch, or (tag edited away) with the launch's recipe.name param
RECIPE_GROUP = ("(id IN (SELECT run_id FROM tags WHERE key = 'recipe_role' AND value = 'group') "
                "OR id IN (SELECT run_id FROM params WHERE key = 'recipe.name'))")


def upgrade() -> None:
    change_kind_check(op, OLD, NEW, revision)
    op.execute(sa.text(f"UPDATE runs SET kind = 'group' WHERE kind = 'search' AND {RECIPE_GROUP}"))


def downgrade() -> None:
    conn = op.get_bind()
    others = conn.execute(sa.text(f"SELECT COUNT(*) FROM runs WHERE kind = 'group' AND NOT {RECIPE_GROUP}")).scalar()
    if others:  # groups that were never searches: nothing older can hold them
        raise RuntimeError(f"revision {revision} cannot be downgraded: the store holds {others} group run(s) that "
                           "are not recipe groups; delete them first")
    op.execute(sa.text("INSERT INTO tags (run_id, key, value) SELECT id, 'recipe_role', 'group' FROM runs "
                       f"WHERE kind = 'group' AND {RECIPE_GROUP} "
                       "AND id NOT IN (SELECT run_id FROM tags WHERE key = 'recipe_role')"))
    op.execute(sa.text(f"UPDATE runs SET kind = 'search' WHERE kind = 'group' AND {RECIPE_GROUP}"))
    refuse_downgrade_with(op, "group", revision)
    change_kind_check(op, NEW, OLD, revision)
