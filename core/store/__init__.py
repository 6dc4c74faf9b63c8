"""The run store: SQLAlchemy 2 schema, Alembic migrations, and a repository API that
returns plain dataclasses (pages never see ORM sessions or connections).

    from core.store import Store
    store = Store()                       # LAB_DATABASE_URL, LAB_MODELS_DIR
    run_id = store.create_run(config, name="digits cnn", dataset="digits", model="small_cnn", seed=0)
    runs, total = store.list_runs(dataset="digits", sort="accuracy")
    store.set_champion("digits", run_id)  # the run to use for digits (history: champion_history)

No connection is made at import time; TensorFlow is never imported here.
"""
from core.store.engine import StoreError, current_revision, head_revision, upgrade
from core.store.records import (
    HOST,
    Artifact,
    AuditEntry,
    ChampionEntry,
    RunAccess,
    RunDetail,
    RunSummary,
    SupervisorInfo,
    UserRecord,
    flatten,
)
from core.store.repository import Store
from core.store.runs import TRANSITIONS
from core.store.schema import ACTIVE_STATUSES, FINAL_STATUSES, KINDS, STATUSES

__all__ = [
    "Store", "StoreError", "SupervisorInfo", "RunSummary", "RunDetail", "Artifact", "STATUSES", "FINAL_STATUSES",
    "ACTIVE_STATUSES", "KINDS", "TRANSITIONS", "HOST", "flatten", "upgrade", "current_revision", "head_revision",
    "ChampionEntry", "UserRecord", "AuditEntry", "RunAccess",
]
