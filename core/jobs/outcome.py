"""How a run ends when its worker did not say (the supervisor's side of a worker's exit): the log
registered, the reason in words (killed, cancelled, interrupted, the store unreachable) and the
log's last lines for a failure. Used by ``core.jobs.manager.JobManager`` when it reaps a worker
and by its recovery."""
from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from core.jobs.executors import Exit, Handle
from core.jobs.executors.local import tail
from core.store import FINAL_STATUSES
from core.store.artifacts import RunFolder, file_name
from core.store.retry import outage_reason
from core.validation import LabError, NotFoundError

log = logging.getLogger(__name__)

STORE_ERRORS = (LabError, SQLAlchemyError, OSError)  # what a store call raises when the store misbehaves


def outage_reason_of(models_dir: Path, run_id: int) -> str | None:
    """The reason a worker left in its run folder when the store stayed away (``core.store.retry``)."""
    try:
        return outage_reason(RunFolder(Path(models_dir) / str(run_id)).read_json("store_outage"))
    except (OSError, ValueError):
        return None


def finish_run(store, models_dir: Path, h: Handle, ended: Exit) -> None:
    """Record how the worker of ``h`` ended: its log, its placement and, when the worker wrote no
    final status, the status and reason seen from outside."""
    try:
        detail = store.get_run(h.run_id)
    except NotFoundError:  # deleted meanwhile
        return
    log_path = RunFolder(Path(models_dir) / str(h.run_id)).path_of("log")
    if log_path.exists() and not any(a.kind == "log" for a in detail.artifacts):
        try:
            store.add_artifact(h.run_id, "log", log_path)
        except STORE_ERRORS:
            log.warning("could not register the log of run %s", h.run_id)
    if ended.info:
        store.set_placement(h.run_id, **ended.info)
    if detail.status in FINAL_STATUSES:
        log.info("run %s: %s", h.run_id, detail.status)
        return  # the worker wrote its outcome
    status, reason = "failed", ended.reason or "the worker ended without reporting a result"
    if h.term_sent_at is not None:
        status, reason = "interrupted", "interrupted: the lab was shut down while this run was training"
    elif h.cancel_sent_at is not None or detail.cancel_requested:
        status, reason = "cancelled", "cancelled (the training process was stopped)"
    elif outage_reason_of(models_dir, h.run_id):
        status, reason = "interrupted", outage_reason_of(models_dir, h.run_id)
    elif ended.status == "interrupted":
        status, reason = "interrupted", f"interrupted: {reason}. Submit it again to retry."
    if status == "failed":
        last = tail(log_path)
        if last:
            reason += f"\n\nLast lines of {file_name('log')}:\n{last}"
    store.set_status(h.run_id, status, reason)
    log.info("run %s: %s (%s)", h.run_id, status, reason.splitlines()[0])
