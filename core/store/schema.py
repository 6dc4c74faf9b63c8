"""Table definitions of the run store (SQLAlchemy Core metadata).

These describe the schema at the *head* revision. The database itself is only ever
created and changed by the Alembic revisions under ``core/store/migrations/versions``;
``tests/test_store.py`` checks that the migrated schema matches this metadata.
"""
from __future__ import annotations

import sqlalchemy as sa

ACTIVE_STATUSES = ("queued", "running")  # waiting for a worker, or holding one
FINAL_STATUSES = ("succeeded", "failed", "cancelled", "interrupted")  # stopped (an interrupted run may be re-queued)
STATUSES = ACTIVE_STATUSES + FINAL_STATUSES
KINDS = ("train", "search", "lr_find", "audit", "group")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING)


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


runs = sa.Table(
    "runs",
    metadata,
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
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    sa.Column("pid", sa.Integer, nullable=True),
    sa.Column("host", sa.String(255), nullable=True),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    # revision 0002
    sa.Column("notes", sa.Text, nullable=True),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
    # revision 0003: the job supervisor that claimed the run (see ``supervisors``)
    sa.Column("supervisor_id", sa.String(100), nullable=True),
    # revision 0004: where the run executes (executor name; JSON placement: node, GPUs, Ray job id)
    sa.Column("executor", sa.String(20), nullable=True),
    sa.Column("placement", sa.Text, nullable=True),
    sa.CheckConstraint(f"status IN {_in(STATUSES)}", name="status_valid"),
    sa.CheckConstraint(f"kind IN {_in(KINDS)}", name="kind_valid"),
    sa.CheckConstraint("progress >= 0 AND progress <= 1", name="progress_range"),
    sa.Index(None, "status", "id"),
    sa.Index(None, "created_at"),
    sa.Index(None, "parent_id"),
    sa.Index(None, "dataset"),
    sa.Index(None, "model"),
)

params = sa.Table(
    "params",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=True),
)

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("key", sa.String(250), nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("value", sa.Float, nullable=True),  # NULL = NaN (SQLite stores NaN as NULL)
    sa.Column("time", sa.Float, nullable=False),  # seconds since the epoch, UTC
    sa.Index(None, "run_id", "key", "step"),
)

summary_metrics = sa.Table(
    "summary_metrics",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Float, nullable=True),
    # revision 0002: sorting runs by a summary metric
    sa.Index(None, "key", "value"),
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.String(500), nullable=False, server_default=""),
    # revision 0002: filtering by tag
    sa.Index(None, "key", "value"),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.String(50), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("run_id", "path"),
)

# revision 0003: job supervisors (dashboard processes, ``python -m core jobs serve``) and their
# lease. A supervisor is alive while its heartbeat is recent; a run it claimed is its own, and
# only a supervisor that finds the claimer's lease expired recovers (adopts or interrupts) it.
supervisors = sa.Table(
    "supervisors",
    metadata,
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("max_concurrent", sa.Integer, nullable=False, server_default="1"),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
)

# revision 0007: the champion of each dataset (an alias, as MLflow's registry aliases) and its
# history. One row per period a run was champion: ``cleared_at`` NULL = the current champion
# (at most one per dataset: a partial unique index, and ``Store.set_champion`` in a write
# transaction). ``run_id`` is set to NULL when the run is deleted; ``run_ref`` and ``run_name``
# keep what the run was, so the history survives the deletion.
champions = sa.Table(
    "champions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dataset", sa.String(200), nullable=False),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    sa.Column("run_ref", sa.Integer, nullable=False),  # the run's id when it was made champion
    sa.Column("run_name", sa.String(200), nullable=False),  # its name then
    sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("set_by", sa.String(200), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("cleared_by", sa.String(200), nullable=True),
    sa.Column("cleared_reason", sa.String(200), nullable=True),  # replaced by run N, cleared, run deleted
    sa.Index(None, "dataset", "set_at"),
    sa.Index(None, "run_id"),
    sa.Index("uq_champions_current_dataset", "dataset", unique=True,
             sqlite_where=sa.text("cleared_at IS NULL"), postgresql_where=sa.text("cleared_at IS NULL")),
)
