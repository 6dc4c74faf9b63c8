"""Where a run executes, behind one interface; the job manager (``core.jobs``) supervises.

``JobManager`` keeps the queue, the leases, recovery and the search roll-up; an *executor*
starts one run's worker (``python -m core.worker <run_id>``), watches it, signals it and
re-attaches to it after a supervisor restart:

* ``local`` (default, nothing to install): a separate process on this host, with one GPU
  of its own per GPU job when GPUs are visible (``LAB_GPUS=0,1`` overrides detection).
* ``ray``: one Ray job per run through Ray's Jobs API (``LAB_RAY_ADDRESS``, e.g.
  ``http://head:8265``), ``pip install -r requirements-ray.txt``.

``LAB_EXECUTOR`` (``local``|``ray``) chooses; ``make_executor()`` builds the one configured.
The worker writes progress, metrics and its final status into the store with either
executor; the executor only reports how a worker that wrote nothing ended.
"""
from __future__ import annotations

import sys
from pathlib import Path

from core.jobs.executors.base import (
    DEFAULT_RAY_ADDRESS,
    EXECUTORS,
    PROJECT_ROOT,
    ExecutorError,
    ExecutorUnavailable,
    Exit,
    Handle,
    Reattach,
    describe_configured,
    executor_name,
    placement_text,
    ray_address,
    run_gpus,
    worker_env,
)

__all__ = [
    "DEFAULT_RAY_ADDRESS", "EXECUTORS", "PROJECT_ROOT", "ExecutorError", "ExecutorUnavailable", "Exit", "Handle",
    "Reattach", "describe_configured", "executor_name", "make_executor", "placement_text", "ray_address", "run_gpus",
    "worker_env",
]


def make_executor(name: str | None = None, *, store=None, models_dir: Path | None = None,
                  python: str = sys.executable, address: str | None = None, **opts):
    """The executor ``name`` (default ``LAB_EXECUTOR``, else ``local``)."""
    name = executor_name(name)
    if name == "ray":
        from core.jobs.executors.ray_jobs import RayExecutor

        return RayExecutor(store=store, models_dir=models_dir, python=python, address=address, **opts)
    from core.jobs.executors.local import LocalExecutor

    return LocalExecutor(store=store, models_dir=models_dir, python=python, **opts)
