"""Cached resources the pages share across sessions: the run store, the job manager (the queue's
supervisor) and loaded datasets. One of each per process and database URL (``st.cache_resource``)."""
from __future__ import annotations

import atexit
import logging
import traceback

import streamlit as st

from core.config import get_settings

log = logging.getLogger("lab.pages")


# ---------------------------------------------------------------- the store
@st.cache_resource(show_spinner=False)
def _store_for(url: str, models_dir: str):
    from core.store.repository import Store

    return Store(url, models_dir=models_dir)


def get_store():
    """The run store of this process (one per database URL, shared by all sessions)."""
    s = get_settings()
    return _store_for(s.database_url, str(s.models_dir))


# ---------------------------------------------------------------- the job manager
@st.cache_resource(show_spinner=False)
def _jobs_for(url: str, models_dir: str):
    from core.jobs.manager import dashboard_manager
    from core.jobs.status import dashboard_supervises

    jm = dashboard_manager(url, models_dir, store=_store_for(url, models_dir))  # scripts/serve.py's, if started
    if dashboard_supervises():
        jm.start()
    _STARTED_JOB_MANAGERS.append(jm)
    return jm


_STARTED_JOB_MANAGERS: list = []


def shutdown_job_managers(*, stop_running: bool = True) -> None:
    """Stop every job manager this process started (tests, benchmarks; at exit with
    ``stop_running=False``: trainings go on and the next supervisor adopts them)."""
    while _STARTED_JOB_MANAGERS:
        jm = _STARTED_JOB_MANAGERS.pop()
        try:
            jm.shutdown(stop_running=stop_running)
        except Exception:  # noqa: BLE001 - best effort at exit
            log.warning("job manager shutdown failed\n%s", traceback.format_exc())
    _jobs_for.clear()


atexit.register(shutdown_job_managers, stop_running=False)  # ends the lease when the server stops


def get_jobs():
    """The job manager (one per process and store, shared by all sessions). Its supervisor
    runs the queue unless LAB_DASHBOARD_SUPERVISOR=0 (then `python -m core jobs serve` does)."""
    s = get_settings()
    return _jobs_for(s.database_url, str(s.models_dir))


def ensure_supervisor():
    """Called on every page view (shared sidebar): the queue of this process's store is
    supervised from the first page view of any session after a (re)start, and a supervisor
    thread that died is started again. Returns the job manager."""
    from core.jobs.status import dashboard_supervises

    jm = get_jobs()
    if dashboard_supervises() and not jm.running:
        jm.start()
    return jm


def ensure_supervisor_quietly() -> None:
    """``ensure_supervisor()`` before a page is drawn (app.py), so that on the first view of a
    server process a run left `running` by a dead worker is already `interrupted` when the page
    lists it. A store error is left to the sidebar, which shows it."""
    try:
        ensure_supervisor()
    except Exception:  # noqa: BLE001 - the sidebar says what is wrong; the page still renders
        log.warning("job supervisor not started before the page\n%s", traceback.format_exc())


# ---------------------------------------------------------------- datasets
@st.cache_data(show_spinner=False, ttl=30)
def cached_dataset_infos():
    from core.datasets import list_datasets

    return list_datasets()


@st.cache_resource(show_spinner=False, max_entries=6, ttl=3600)
def cached_dataset(name: str, params_key: tuple):
    """A loaded Dataset (read-only; shared across sessions)."""
    from core.datasets import load_dataset

    return load_dataset(name, **dict(params_key))


def load_dataset_cached(name: str, params: dict):
    return cached_dataset(name, tuple(sorted(params.items())))


# ---------------------------------------------------------------- who is acting
def current_actor():
    """The actor of this session (``pages._auth``): the local admin in single-user mode, the
    signed-in user otherwise (``st.stop()`` on the landing page when nobody is signed in)."""
    from pages import _auth

    _auth.use_store(get_store)  # where the actor's user record is read (also done by the frame)
    known = st.session_state.get(_auth.ACTOR_KEY)
    if known is not None and st.session_state.get(_auth.GATE_KEY) and _auth.signed_in():
        return known[1]  # re-read from the store by this run's sign-in check (the frame's gate)
    return _auth.require_actor()


def guarded_store():
    """The run store as this session's actor may use it (``core.auth.guard.GuardedStore``): reads
    show only the runs the actor may see (another's private run is "not found", as a missing one),
    and every change is checked against the policy and written to the audit log."""
    from core.auth.guard import guarded

    return guarded(get_store(), current_actor())


def may(action: str, run=None):
    """``core.auth.policy.decide`` for this session's actor: a Decision (falsy, with the reason
    in words, when the actor may not)."""
    from core.auth.policy import decide

    return decide(current_actor(), action, run)


def acting(fn):
    """``fn`` (a job manager's submit/cancel, a recipe launch, an audit submit) called with this
    session's actor as ``actor=`` when it takes one: the run is owned by, and checked against, the
    person who clicked."""
    import functools
    import inspect

    try:
        takes = "actor" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        takes = False
    return functools.partial(fn, actor=current_actor()) if takes else fn


def admin_page_visible(actor=None) -> bool:
    """Whether the navigation offers the Admin page: to a signed-in admin (users and roles) or
    instructor (the audit log); not in single-user mode, where the one user has no one to manage.
    ``actor`` defaults to this session's (nobody signed in: False)."""
    from core.auth.policy import decide

    if actor is None:  # the person this run's sign-in check found (none in single-user mode)
        from pages import _auth

        known = st.session_state.get(_auth.ACTOR_KEY)
        actor = known[1] if known else None
    return actor is not None and actor.kind != "local" and (
        bool(decide(actor, "manage_users")) or bool(decide(actor, "view_audit_log")))
