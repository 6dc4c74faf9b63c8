"""The repository API of the run store: plain dataclasses in and out, no ORM sessions.

``Store`` is one object composed of the store's parts, one module per concern, each a mixin
over ``StoreBase`` (engine, transactions, paths):

- ``core.store.runs.RunWrites``: create runs, status changes, params, metrics, summaries,
  artifacts, tags, notes, names, delete, restore (a bundle's import);
- ``core.store.queries.RunQueries``: list, get, configs, metric histories;
- ``core.store.queue.QueueStore``: claims, placement, workers, progress, cancel requests,
  supervisor leases;
- ``core.store.champions.ChampionStore``: the champion of each dataset and its history;
- ``core.store.users.UserStore``: users and roles, run ownership and sharing, the audit log
  (who may do what is decided by ``core.auth``, above the store);
- ``core.store.external.ExternalStore``: external evaluations of a run (a labelled image set it
  never saw), with their shift reports;
- ``core.store.flags.FlagStore``: flagged predictions, review decisions, flag dataset versions.

One ``Store`` per process is enough (it holds an engine with a connection pool and is
thread-safe). Every method opens a short transaction of its own. Run bundles (export and
import) are ``core.serving.bundle``'s.
"""
from __future__ import annotations

from core.store.champions import ChampionStore
from core.store.external import ExternalStore
from core.store.flags import FlagStore
from core.store.queries import RunQueries
from core.store.queue import QueueStore
from core.store.runs import RunWrites
from core.store.users import UserStore


class Store(RunWrites, RunQueries, QueueStore, ChampionStore, UserStore, ExternalStore, FlagStore):
    """The run store. ``Store()`` uses ``LAB_DATABASE_URL`` / ``LAB_MODELS_DIR`` settings.

    The schema is created or upgraded (Alembic) when the store is opened; an older
    database is upgraded in place, never wiped. ``StoreError`` when the URL cannot be
    opened.
    """
