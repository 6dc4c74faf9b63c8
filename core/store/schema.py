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
KINDS = ("train", "search", "lr_find", "audit", "group", "validation")
#: the roles a user may have (``core.auth.policy.ROLES``; the store does not import core.auth)
USER_ROLES = ("admin", "instructor", "student", "viewer")
#: how a user got their role: set by an admin (kept at sign-in), from a token claim, from
#: ``LAB_ADMINS``, the default role, the local operator's setting, or the migration's local user
ROLE_SOURCES = ("admin", "claim", "admins_list", "default", "operator", "local")
LOCAL_ISSUER = LOCAL_SUBJECT = "local"  # the owner of runs made before sign-in existed, and of single-user mode

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


# revision 0008: the people (and the local operator) who act on the store. A user is
# identified by (issuer, subject) of their identity provider; ``role`` is one of USER_ROLES;
# a disabled user may do nothing. Rows are never deleted (runs and the audit log point to them).
users = sa.Table(
    "users",
    metadata,
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
    sa.UniqueConstraint("issuer", "subject"),
    sa.CheckConstraint(f"role IN {_in(USER_ROLES)}", name="role_valid"),
    sa.Index(None, "email"),
)

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
    # revision 0008: who owns the run (the local user for runs made before sign-in; NULL only
    # for a moment inside a migration) and whether its owner shared it with the class
    sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
    sa.Column("shared", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.CheckConstraint(f"status IN {_in(STATUSES)}", name="status_valid"),
    sa.CheckConstraint(f"kind IN {_in(KINDS)}", name="kind_valid"),
    sa.CheckConstraint("progress >= 0 AND progress <= 1", name="progress_range"),
    sa.Index(None, "status", "id"),
    sa.Index(None, "created_at"),
    sa.Index(None, "parent_id"),
    sa.Index(None, "dataset"),
    sa.Index(None, "model"),
    sa.Index(None, "owner_id", "shared"),
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

# revision 0008: the audit trail (append-only: the store has no method that updates or deletes
# a row). ``target`` is "run:12", "user:3", "dataset:ham10000", ...; ``before`` and ``after`` are
# JSON texts (renames, champions, shares, role changes); ``actor_label`` keeps who it was.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
    sa.Column("actor_label", sa.String(320), nullable=False),
    sa.Column("action", sa.String(50), nullable=False),
    sa.Column("target", sa.String(300), nullable=False, server_default=""),
    sa.Column("allowed", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("before", sa.Text, nullable=True),
    sa.Column("after", sa.Text, nullable=True),
    sa.Index(None, "at"),
    sa.Index(None, "actor_id", "at"),
    sa.Index(None, "action", "at"),
)

# revision 0009: external evaluations of a run (a labelled image set it never saw) with their shift
# report and overlap check; JSON texts. No uploaded file name is kept: ``source`` holds the folder as
# the operator gave it and ``files_hash`` the sha256 of the sorted relative file list.
external_evaluations = sa.Table(
    "external_evaluations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    sa.Column("n_images", sa.Integer, nullable=False),
    sa.Column("n_overlap", sa.Integer, nullable=False, server_default="0"),
    sa.Column("files_hash", sa.String(64), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("result", sa.Text, nullable=False),
    sa.Column("shift", sa.Text, nullable=False),
    sa.Column("overlap", sa.Text, nullable=False),
    sa.Index(None, "run_id", "created_at"),
)

# revision 0010: flagged predictions (an image a person marked as wrongly or uncertainly predicted),
# every review decision on them, and the labelled dataset versions exported from accepted flags.
# No uploaded file name is kept anywhere: the image is re-encoded pixels named by its sha256
# (``image_path`` "<sha256>.png", relative to the flags folder). JSON texts: probs, class_names, flag_ids.
FLAG_KINDS = ("wrong", "uncertain")
FLAG_STATUSES = ("pending", "accepted", "relabelled", "rejected")
FLAG_DECISIONS = ("accept", "relabel", "reject")
flags = sa.Table(
    "flags",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
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
    sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
    sa.Column("final_label", sa.Integer, nullable=True),
    sa.CheckConstraint(f"kind IN {_in(FLAG_KINDS)}", name="kind_valid"),
    sa.CheckConstraint(f"status IN {_in(FLAG_STATUSES)}", name="status_valid"),
    sa.Index(None, "status", "confidence"),
    sa.Index(None, "dataset", "status"),
    sa.Index(None, "created_by"),
    sa.Index(None, "run_id"),
    sa.Index(None, "image_sha256"),
)

flag_decisions = sa.Table(
    "flag_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("flag_id", sa.Integer, sa.ForeignKey("flags.id", ondelete="CASCADE"), nullable=False),
    sa.Column("decision", sa.String(20), nullable=False),
    sa.Column("label", sa.Integer, nullable=True),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("decided_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint(f"decision IN {_in(FLAG_DECISIONS)}", name="decision_valid"),
    sa.Index(None, "flag_id", "decided_at"),
)

flag_datasets = sa.Table(
    "flag_datasets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(250), nullable=False),
    sa.Column("dataset", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("n_images", sa.Integer, nullable=False),
    sa.Column("manifest_sha256", sa.String(64), nullable=False),
    sa.Column("flag_ids", sa.Text, nullable=False),
    sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("name"),
    sa.UniqueConstraint("dataset", "version"),
)
