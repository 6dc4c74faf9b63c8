"""The kinds of job a worker runs (``JOB_KINDS``) and the kinds of run no worker runs (``PARENT_KINDS``).

A new kind of job: a runner ``fn(store, run_id, detail, out_dir, flags, t_spawn) -> (status, error)``
(core/jobs/worker.py has the ones of training and the LR finder), a row in ``JOB_KINDS``, and its
name in ``core.store.schema.KINDS`` (a migration through core/store/kind_check.py).
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class JobKind:
    """A kind of job a worker runs: ``runner`` is ``"module:function"``, called by the worker as
    ``fn(store, run_id, detail, out_dir, flags, t_spawn) -> (status, error)``; ``default_name``
    names a run submitted without a name (``{model}``, ``{dataset}``)."""

    runner: str
    default_name: str

    def resolve(self) -> Callable:
        module, _, fn = self.runner.partition(":")
        return getattr(importlib.import_module(module), fn)


# What workers run. A new kind of job: a runner in core/worker.py (or elsewhere), a row here, and its
# name in core.store.KINDS. Runs of other kinds are never claimed by a worker nor counted as jobs.
JOB_KINDS: dict[str, JobKind] = {
    "train": JobKind("core.jobs.worker:run_train", "{model} on {dataset}"),
    "lr_find": JobKind("core.jobs.worker:run_lr_find", "LR finder: {model} on {dataset}"),
    "audit": JobKind("core.jobs.worker:run_audit", "label audit: {model} on {dataset}"),
    "validation": JobKind("core.jobs.validation:run_validation", "external validation: {model} on {dataset}"),
}
# Parent runs no worker runs: their status follows their children (core.training.search.update_parents).
# "search": a hyper-parameter search (submit_search); "group": runs queued together (a recipe, core.recipes).
PARENT_KINDS = ("search", "group")
