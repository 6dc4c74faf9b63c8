"""Riding out a short outage of the run store (a PostgreSQL restart, a dropped network link).

A worker writes through ``OutageTolerantStore``: a store call that fails because the connection
to the store failed is tried again with exponential backoff (``BACKOFF_START_S`` doubling up to
``BACKOFF_MAX_S``) for at most ``LAB_STORE_RETRY_SECONDS`` (default 60 s) since the store was
first found unreachable; errors about the data (a missing run, a refused value, a schema
problem) are never retried. Progress that only says how far a run is (``set_progress``,
``heartbeat``, ``is_cancel_requested``) is dropped during an outage instead of holding up
training. When the store stays away longer, ``StoreUnreachable`` says for how long and why::

    store = OutageTolerantStore(Store())
    store.log_metrics(run_id, {"loss": 0.3}, step=1)   # waits out a restart of the store
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from core.store.engine import StoreError
from core.validation import ValidationError

log = logging.getLogger(__name__)

RETRY_ENV = "LAB_STORE_RETRY_SECONDS"
DEFAULT_RETRY_S = 60.0
MAX_RETRY_S = 86_400.0
BACKOFF_START_S = 0.25
BACKOFF_MAX_S = 4.0
# PostgreSQL SQL states of a lost or refused connection: class 08 and the server shutting down
_PG_CONNECTION_STATES = ("57P01", "57P02", "57P03")
_SQLITE_TRANSIENT = ("database is locked", "unable to open database file", "disk i/o error")


def retry_seconds(env: dict | None = None) -> float:
    """How long a worker waits for an unreachable store: ``LAB_STORE_RETRY_SECONDS`` (0 = not at all)."""
    text = (os.environ if env is None else env).get(RETRY_ENV, "").strip()
    if not text:
        return DEFAULT_RETRY_S
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (0.0 <= value <= MAX_RETRY_S):
        raise ValidationError(f"{RETRY_ENV} must be a number of seconds from 0 to {MAX_RETRY_S:.0f}. "
                              f"Got {text!r} instead.")
    return value


def _connection_level(err: BaseException) -> bool:
    if isinstance(err, sa.exc.DBAPIError) and err.connection_invalidated:
        return True
    if not isinstance(err, (sa.exc.OperationalError, sa.exc.InterfaceError)):
        return False
    orig = err.orig
    state = getattr(orig, "sqlstate", None)
    if state:
        return str(state).startswith("08") or state in _PG_CONNECTION_STATES
    if type(orig).__module__.startswith("sqlite3"):
        return any(words in str(orig).lower() for words in _SQLITE_TRANSIENT)
    return True  # a driver error with no SQL state: the connection itself could not be made


def connection_error(exc: BaseException | None) -> BaseException | None:
    """The SQLAlchemy error behind ``exc`` (itself, or a cause such as the one a ``StoreError``
    wraps) when it is about the connection to the store, else None."""
    seen = 0
    while exc is not None and seen < 10:
        if _connection_level(exc):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def error_summary(exc: BaseException) -> str:
    """One line naming the driver's error, e.g. ``OperationalError: connection failed: ... refused``."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [""])[0]
    text = f"{type(orig).__name__}: {first}" if first else type(orig).__name__
    return text if len(text) <= 300 else text[:297] + "..."


class StoreUnreachable(StoreError):
    """The run store stayed unreachable for longer than the retry limit."""

    def __init__(self, seconds: float, summary: str):
        self.seconds = float(seconds)
        self.summary = summary
        super().__init__(f"the run store was unreachable for {self.seconds:.0f} s: {summary}")


class OutageTolerantStore:
    """A ``Store`` whose calls wait out a short outage of the store (see the module's text).
    Attributes and methods not listed as passed through are the wrapped store's."""

    DROPPABLE = frozenset({"set_progress", "heartbeat", "is_cancel_requested"})
    PASS_THROUGH = frozenset({"close", "run_dir", "read_snapshot"})

    def __init__(self, store, *, retry_s: float | None = None, sleep: Callable[[float], Any] = time.sleep):
        self.store = store
        self.retry_s = retry_seconds() if retry_s is None else float(retry_s)
        self._sleep = sleep
        self._lock = threading.Lock()
        self.down_since: float | None = None   # time.monotonic() of the first failure of this outage
        self.last_error: str | None = None
        self.outages = 0                       # outages ridden out so far

    def __repr__(self) -> str:
        return f"OutageTolerantStore({self.store!r}, retry_s={self.retry_s:g})"

    def __getattr__(self, name: str):
        attr = getattr(self.store, name)
        if name.startswith("_") or name in self.PASS_THROUGH or not callable(attr):
            return attr
        if name in self.DROPPABLE:
            return lambda *a, **kw: self._call(attr, a, kw, drop=True)
        return lambda *a, **kw: self._call(attr, a, kw, drop=False)

    def _failed(self, exc: BaseException) -> float:
        """Note a failure; the seconds the store has been unreachable so far."""
        now = time.monotonic()
        with self._lock:
            first = self.down_since is None
            if first:
                self.down_since = now
                self.outages += 1
            self.last_error = error_summary(exc)
            down = now - self.down_since
        if first:
            log.warning("the run store is unreachable (%s); retrying for up to %.0f s", self.last_error, self.retry_s)
        return down

    def _call(self, fn: Callable, args: tuple, kwargs: dict, *, drop: bool):
        delay = BACKOFF_START_S
        while True:
            try:
                out = fn(*args, **kwargs)
            except Exception as exc:
                cause = connection_error(exc)
                if cause is None:
                    raise
                down = self._failed(cause)
                if down >= self.retry_s:
                    raise StoreUnreachable(down, error_summary(cause)) from exc
                if drop:
                    return None
                if delay == BACKOFF_START_S:
                    log.warning("%s waits for the run store (for up to %.0f s more)",
                                getattr(fn, "__name__", "a store call"), self.retry_s - down)
                self._sleep(min(delay, max(0.05, self.retry_s - down)))
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            if self.down_since is not None:
                with self._lock:
                    down, self.down_since = time.monotonic() - (self.down_since or time.monotonic()), None
                log.warning("the run store is reachable again after %.1f s", down)
            return out


def outage_note(exc: StoreUnreachable) -> dict:
    """What a worker that gave up keeps in its run folder (``RunFolder.write_json("store_outage", ...)``),
    for the supervisor to record once the store is back (``outage_reason``)."""
    return {"seconds": round(exc.seconds, 1), "error": exc.summary, "at": time.time()}


def outage_reason(note: dict | None) -> str | None:
    """The run's recorded reason from a worker's ``store_outage`` note (None without one)."""
    if not isinstance(note, dict):
        return None
    seconds = note.get("seconds")
    try:
        seconds = f"{float(seconds):.0f} s"
    except (TypeError, ValueError):
        seconds = "too long"
    return (f"interrupted: the run store was unreachable for {seconds}: {note.get('error') or 'no error text'}; "
            "the worker stopped. Submit it again to retry.")
