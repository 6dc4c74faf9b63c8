"""The executor interface's shared parts: handles, exits, errors, settings (see the package docstring)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.config import PROJECT_ROOT  # the repository: workers start there (python -m core.worker)

EXECUTORS = ("local", "ray")
DEFAULT_RAY_ADDRESS = "http://127.0.0.1:8265"
# what a Ray supervisor writes into a running run's placement while its cluster does not answer
UNREACHABLE_SINCE = "cluster_unreachable_since"   # ISO time (UTC) of the first unanswered poll
UNREACHABLE_GRACE = "cluster_grace_s"             # seconds after which the run ends interrupted


class ExecutorError(RuntimeError):
    """The executor cannot run jobs now (not installed, cluster unreachable, unsafe set-up).
    The message says what is wrong and what to do; queued runs stay queued."""


class ExecutorUnavailable(ExecutorError):
    """The executor cannot be reached now (a cluster that is down): a run claimed meanwhile
    goes back to the queue instead of failing."""


@dataclass
class Handle:
    """One launched run, as its supervisor watches it."""

    run_id: int
    executor: str
    spawned_at: float
    ref: Any = None          # local: the Popen (None for an adopted worker); ray: the submission id
    pid: int | None = None   # local worker pid
    log_file: Any = None     # local: the open worker.log
    gpus: tuple[str, ...] = ()
    cpus: float = 1.0
    cancel_sent_at: float | None = None
    term_sent_at: float | None = None
    placement_done: bool = False
    unreachable_since: float | None = None  # ray: when (time.time()) the cluster first did not answer
    warm: bool = False  # local: the run went to a standby worker (core.jobs.standby)


@dataclass
class Exit:
    """How a worker ended, seen from outside (the worker's own status wins when it wrote one).

    ``rc``: exit code (negative: killed by that signal; None: unknown); ``reason``: why,
    in words (used when the worker wrote no status); ``status``: a status to use instead of
    ``failed`` when the worker wrote none (``interrupted`` when the cluster lost the job)."""

    rc: int | None
    reason: str | None = None
    status: str | None = None
    info: dict = field(default_factory=dict)


@dataclass
class Reattach:
    """What recovery found for a run left ``running``: ``adopt`` it (``handle``), ``leave``
    it alone (someone else's, still alive) or it is ``gone`` (``why``)."""

    action: str
    handle: Handle | None = None
    why: str = ""


def executor_name(value: str | None = None) -> str:
    """``local`` or ``ray`` from ``value`` or ``LAB_EXECUTOR`` (ExecutorError otherwise)."""
    name = (value if value is not None else os.environ.get("LAB_EXECUTOR", "")).strip().lower() or "local"
    if name not in EXECUTORS:
        raise ExecutorError(f"LAB_EXECUTOR must be one of {', '.join(EXECUTORS)}. Got {name!r} instead.")
    return name


def ray_address(value: str | None = None) -> str:
    """The Ray dashboard address from ``value`` or ``LAB_RAY_ADDRESS`` (``http://`` added)."""
    addr = (value or os.environ.get("LAB_RAY_ADDRESS", "")).strip() or DEFAULT_RAY_ADDRESS
    return addr if "://" in addr else f"http://{addr}"


def describe_configured() -> str:
    """One line for the sidebar, from the environment only (no connection is made)."""
    try:
        name = executor_name()
    except ExecutorError as exc:
        return str(exc)
    if name == "ray":
        return f"Jobs run on the Ray cluster at {ray_address()}"
    gpus = os.environ.get("LAB_GPUS", "").strip()
    return "Jobs run on this machine" + (f" (GPUs {gpus}, one per GPU job)" if gpus else "")


def worker_env(store, models_dir: Path, executor: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """What a worker needs in its environment on any node: the store, the models folder, the
    project on ``PYTHONPATH`` (nothing installed at run time) and when it was started."""
    import time

    env = {
        "LAB_DATABASE_URL": store.full_url,
        "LAB_MODELS_DIR": str(models_dir),
        "LAB_WORKER_SPAWNED_AT": repr(time.time()),
        "LAB_WORKER_EXECUTOR": executor,
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra or {})
    return env


def run_gpus(config: dict | Any) -> int:
    """GPUs a run asks for (``gpus`` of its TrainConfig; 0 when the config has none)."""
    value = config.get("gpus", 0) if isinstance(config, dict) else getattr(config, "gpus", 0)
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def unreachable_since(r) -> datetime | None:
    """When the cluster of a *running* run stopped answering its supervisor (its state is then
    unknown); None when it answers, or the run is not running."""
    if getattr(r, "status", None) != "running":
        return None
    raw = (getattr(r, "placement", None) or {}).get(UNREACHABLE_SINCE)
    try:
        found = datetime.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return None
    return found.replace(tzinfo=found.tzinfo or UTC) if found else None


def unknown_state_text(r) -> str:
    """``cluster unreachable since 14:03:07 — state unknown`` (local time) for a running run whose
    cluster does not answer; "" otherwise."""
    since = unreachable_since(r)
    return f"cluster unreachable since {since.astimezone():%H:%M:%S} — state unknown" if since else ""


def placement_text(r) -> str:
    """Where a run ran, in words, e.g. ``ray · node 10.0.0.5 (a38368) · GPU 0 · job lab-…-run-3``;
    "" for a run no supervisor started (recorded by ``python -m core train``, or still queued)."""
    p = dict(getattr(r, "placement", None) or {})
    executor = getattr(r, "executor", None) or p.get("executor")
    if not executor:
        return ""
    node = p.get("node") or p.get("host") or getattr(r, "host", None)
    parts = [executor]
    if node:
        nid = str(p.get("node_id") or "")
        parts.append(f"node {node}" + (f" ({nid[:8]})" if nid else ""))
    gpus = p.get("cuda_visible_devices")
    if gpus is None and executor == "local":
        gpus = p.get("gpus")
    if gpus:
        parts.append(f"GPU {gpus}")
    elif executor == "local" or gpus == "":
        parts.append("CPU")
    if p.get("submission_id"):
        parts.append(f"job {p['submission_id']}")
    if unknown_state_text(r):
        parts.append(unknown_state_text(r))
    return " · ".join(parts)
