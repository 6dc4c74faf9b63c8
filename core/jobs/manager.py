"""Background job manager: a queue in the run store; where each run executes is an executor's job.

One ``JobManager`` per dashboard process, shared by all browser sessions::

    jm = JobManager(store, models_dir, max_concurrent=1)
    jm.start()                 # recovery, then a daemon supervisor thread
    run_id = jm.submit(config) # validated first; a queued run in the store
    jm.cancel(run_id)          # queued -> cancelled at once; running -> stops within a batch
    jm.shutdown()

The manager *supervises*: the queue, the leases, recovery and the roll-up of parent runs
(searches and groups, ``core.training.search.update_parents``). An *executor* (``core.jobs.executors``) runs each claimed run's
worker (``python -m core.worker <run_id>``): ``local`` (default) in a separate process on
this host, so that an exception, an out-of-memory kill or a crash in TensorFlow cannot take
the dashboard down; ``ray`` as one Ray job per run on a cluster (``LAB_EXECUTOR=ray``,
``LAB_RAY_ADDRESS``). Progress reaches the pages only through the store. The worker writes
the run's final status itself; when a worker dies without doing so (SIGKILL, OOM,
segfault, a Ray job that failed) the supervisor marks the run failed with the reason and
the log's last lines. What a worker runs for each kind of job is ``JOB_KINDS``.

Supervisors and their lease: every ``JobManager`` that runs the queue is a *supervisor*
with an id and a heartbeat row in the store (table ``supervisors``), renewed every
``beat_s`` seconds and removed on a clean shutdown; it is *alive* while that heartbeat is
younger than ``lease_s``. The dashboard runs one per process (``dashboard_manager``): started
with the server by ``scripts/serve.py``, or on the first page view of any session with plain
``streamlit run app.py`` (``pages/_resources.py``); ``python -m core jobs serve`` runs one with no browser.
Several supervisors may share a store: claiming a queued run is a compare-and-set in the
store (``UPDATE ... WHERE status = 'queued'``), so exactly one of them runs it, and the run
records who claimed it (``runs.supervisor_id``) and where it executes (``runs.executor``,
``runs.placement``).

Recovery (``start()``/``recover()``, and again every ``recover_every_s`` seconds): a run
left ``running`` whose supervisor is still alive belongs to that supervisor and is left
alone. Otherwise (its supervisor stopped or expired, or it never had one) the executor
that ran it decides: ``local`` adopts a live worker of this host (a compare-and-set on
``supervisor_id``), leaves alone a live process that recorded the run itself (``python -m
core train``) and interrupts a run whose process is gone; ``ray`` re-attaches to the Ray job
by its submission id, or interrupts the run when the cluster no longer knows the job (it was
restarted). Runs of other hosts become interrupted only when their heartbeat is stale.
Queued runs are picked up again; when the executor cannot run jobs (cluster unreachable)
they stay queued and ``executor_problem`` says why.

What a worker runs for each kind of job is ``core.jobs.kinds``; the queue's state as the pages
and ``jobs status`` read it is ``core.jobs.status``. Locally, ``LAB_WARM_WORKERS`` standby workers
(``core.jobs.standby``) wait with TensorFlow imported and take the next run at once; how a run ends
when its worker did not say is ``core.jobs.outcome``.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.auth.policy import Actor
from core.jobs.admission import admission, check_right, record, search_trials, writer
from core.jobs.admission import coerce_config as _coerce_config
from core.jobs.executors import ExecutorError, ExecutorUnavailable, Exit, Handle, make_executor
from core.jobs.kinds import JOB_KINDS, PARENT_KINDS
from core.jobs.outcome import STORE_ERRORS, finish_run, outage_reason_of
from core.jobs.standby import warm_workers as _warm_workers
from core.jobs.status import LEASE_S
from core.store import HOST, Store
from core.validation import NotFoundError, ValidationError, check_number, fit_name

log = logging.getLogger(__name__)

BEAT_S = 5.0             # how often a supervisor renews its lease
RECOVER_EVERY_S = 15.0   # how often a supervisor looks for runs left by a dead one


@dataclass
class RecoveryReport:
    interrupted: list[int] = field(default_factory=list)
    adopted: list[int] = field(default_factory=list)
    left_alone: list[int] = field(default_factory=list)  # other hosts, heartbeat still fresh
    queued: int = 0


def _default_concurrency(executor_name: str) -> int:
    env = os.environ.get("LAB_MAX_CONCURRENT", "").strip()
    if env:
        if not env.isdigit():
            raise ValidationError(f"LAB_MAX_CONCURRENT must be a whole number of runs from 1 to 64. Got {env!r} instead.")
        return check_number("LAB_MAX_CONCURRENT", int(env), low=1, high=64, integer=True)
    return 8 if executor_name == "ray" else 1


_DASHBOARD_MANAGERS: dict[tuple[str, str], JobManager] = {}
_DASHBOARD_LOCK = threading.Lock()


def dashboard_manager(url: str, models_dir: str | Path, *, store: Store | None = None) -> JobManager:
    """This process's dashboard job manager for a store, made (not started) by whoever asks first:
    ``scripts/serve.py`` starts it with the server, the pages (``pages/_resources.py``) get the same
    one, so a dashboard process never runs two supervisors. ``store``: the store to make it with."""
    key = (str(url), str(models_dir))
    with _DASHBOARD_LOCK:
        jm = _DASHBOARD_MANAGERS.get(key)
        if jm is None:
            jm = JobManager(store if store is not None else Store(url, models_dir=models_dir), Path(models_dir),
                            poll_interval=1.0, kind="dashboard")
            _DASHBOARD_MANAGERS[key] = jm
        return jm


def _forget_dashboard_manager(jm: JobManager) -> None:
    with _DASHBOARD_LOCK:
        for key in [k for k, v in _DASHBOARD_MANAGERS.items() if v is jm]:
            _DASHBOARD_MANAGERS.pop(key)


class JobManager:
    def __init__(
        self,
        store: Store | None = None,
        models_dir: str | Path | None = None,
        max_concurrent: int | None = None,
        *,
        poll_interval: float = 0.5,
        cancel_grace_s: float = 60.0,
        stale_heartbeat_s: float = 300.0,
        python: str = sys.executable,
        kind: str = "dashboard",
        lease_s: float = LEASE_S,
        beat_s: float = BEAT_S,
        recover_every_s: float = RECOVER_EVERY_S,
        executor: Any = None,
        warm_workers: int | None = None,
    ):
        """``executor``: ``"local"``, ``"ray"``, an executor object, or None for ``LAB_EXECUTOR``.
        ``max_concurrent`` (None: ``LAB_MAX_CONCURRENT``, else 1 locally and 8 on Ray) bounds the
        runs this supervisor has started; locally, GPU runs are bounded by the free GPUs instead.
        ``warm_workers`` (None: ``LAB_WARM_WORKERS``, else 1): standby workers the local executor keeps
        ready while this supervisor runs (``core.jobs.standby``; idle, they take no slot)."""
        self.store = store if store is not None else Store(models_dir=models_dir)
        self.models_dir = Path(models_dir) if models_dir is not None else self.store.models_dir
        self.executor_problem: str | None = None
        if executor is None or isinstance(executor, str):
            try:
                executor = make_executor(executor, store=self.store, models_dir=self.models_dir, python=python)
            except ExecutorError as exc:  # e.g. ray chosen but not installed: say so, keep runs queued
                self.executor_problem = str(exc)
                executor = None
        self.executor = executor
        self.executor_name = getattr(executor, "name", None) or os.environ.get("LAB_EXECUTOR", "local")
        self.warm_workers = _warm_workers(warm_workers)
        if hasattr(executor, "keep_warm"):
            executor.warm_workers = self.warm_workers
        if max_concurrent is None:
            max_concurrent = _default_concurrency(self.executor_name)
        self.max_concurrent = check_number("max_concurrent", max_concurrent, low=1, high=64, integer=True)
        self.poll_interval = float(poll_interval)
        self.cancel_grace_s = float(cancel_grace_s)
        self.stale_heartbeat_s = float(stale_heartbeat_s)
        self.python = python
        self.kind = str(kind)
        self.lease_s = float(lease_s)
        self.beat_s = min(float(beat_s), self.lease_s / 3)
        self.recover_every_s = float(recover_every_s)
        self.supervisor_id = f"{self.kind}@{HOST[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._last_beat = 0.0
        self._last_recover = 0.0
        self._last_tick_error: str | None = None
        self._children: dict[int, Handle] = {}
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._shutting_down = False
        self.last_recovery: RecoveryReport | None = None

    def describe(self) -> str:
        """Where this manager's runs execute, for the sidebar and the CLI."""
        if self.executor is None:
            return f"{self.executor_name}: {self.executor_problem}"
        return self.executor.describe()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> JobManager:
        """Take a lease, recover runs left by an earlier process, then start the supervisor
        thread (idempotent; restarts a supervisor thread that died)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return self
            self._stop.clear()
            self._shutting_down = False
            self._beat(force=True)
            try:
                self.store.prune_supervisors(older_than_s=86_400.0)
            except STORE_ERRORS:
                log.exception("pruning old supervisor leases")  # housekeeping only
            self.last_recovery = self.recover()
            self._last_recover = time.monotonic()
            self._keep_warm()
            self._thread = threading.Thread(target=self._loop, name="lab-job-supervisor", daemon=True)
            self._thread.start()
        log.info("job supervisor %s started on %s (max %d at a time); recovery: %s",
                 self.supervisor_id, self.describe(), self.max_concurrent, self.last_recovery)
        return self

    def _beat(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_beat >= self.beat_s:
            self.store.beat_supervisor(self.supervisor_id, kind=self.kind, host=HOST,
                                       max_concurrent=self.max_concurrent)
            self._last_beat = now

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def shutdown(self, *, stop_running: bool = True, timeout: float = 30.0) -> None:
        """Stop the supervisor. Running trainings are interrupted (SIGTERM, or ``stop_job`` on
        Ray: they stop at the next batch and end ``interrupted``; killed after ``timeout``)
        unless ``stop_running=False``, in which case they go on and the next ``start()`` adopts
        them. Queued runs stay queued. A dashboard manager of this process (``dashboard_manager``)
        is forgotten: the next call makes a new one."""
        _forget_dashboard_manager(self)
        with self._lock:
            self._shutting_down = True
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=max(5.0, self.poll_interval * 4))
        try:
            if hasattr(self.executor, "close_warm"):
                self.executor.close_warm()  # idle standbys end; one that took a run is a child like any other
            self._stop_children(stop_running, timeout)
        finally:
            try:  # the lease ends: another supervisor may adopt what is left at once
                self.store.remove_supervisor(self.supervisor_id)
            except STORE_ERRORS:  # the store went away: the lease simply expires
                log.warning("could not remove the lease of supervisor %s", self.supervisor_id)

    def _stop_children(self, stop_running: bool, timeout: float) -> None:
        if not stop_running:
            with self._lock:
                for h in self._children.values():
                    self.executor.release(h)
                self._children.clear()
            return
        with self._lock:
            for h in self._children.values():
                self.executor.interrupt(h)
                h.term_sent_at = time.monotonic()
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                self._reap()
                left = list(self._children.values())
            if not left:
                break
            if time.monotonic() > deadline:
                with self._lock:
                    for h in left:
                        self.executor.kill(h)
                    self._reap(wait=5.0)
                    for h in self._children.values():  # still not gone: the next supervisor recovers it
                        self.executor.release(h)
                    self._children.clear()
                break
            time.sleep(0.1)

    def __enter__(self) -> JobManager:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.shutdown()

    # ------------------------------------------------------------------ submitting
    def submit(self, config: Any, name: str | None = None, parent_id: int | None = None, kind: str = "train",
               *, tags: Mapping[str, str] | list[str] | None = None, actor: Actor | None = None,
               _extra_params: dict | None = None, _admitted: bool = False) -> int:
        """Validate ``config`` (TrainConfig or dict) and queue it as a job of ``kind`` (a key of
        ``JOB_KINDS``) owned by ``actor`` (None: the local user); returns the run id. An invalid
        config raises ``ValidationError``, an actor without the right ``Denied``, one whose role's
        queue limit is reached ``QueueLimitError`` (``core.jobs.admission``): nothing is queued then."""
        if kind not in JOB_KINDS:
            kinds = ", ".join(repr(k) for k in JOB_KINDS)
            raise ValidationError(f"The 'kind' parameter must be one of {{{kinds}}}. Got {kind!r} instead.")
        cfg = _coerce_config(config)
        d = cfg.to_dict()
        dataset = (d.get("dataset") or {}).get("name")
        run_name = name or cfg.name or JOB_KINDS[kind].default_name.format(model=cfg.model, dataset=dataset)
        with admission(self.store, None if _admitted else actor, dataset=dataset, configs=(cfg,),
                       action="start_audit" if kind == "audit" else "train"):
            rid = writer(self.store, actor).create_run(d, name=run_name, dataset=dataset, model=cfg.model,
                                                       seed=cfg.seed, kind=kind, parent_id=parent_id, tags=tags)
        self.store.log_params(rid, {**d, **(_extra_params or {})})
        self._wake.set()
        return rid

    def submit_lr_find(self, config: Any, *, name: str | None = None, start_lr: float | None = None,
                       end_lr: float | None = None, num_steps: int | None = None, actor: Actor | None = None) -> int:
        """Queue a learning-rate range test (kind ``lr_find``); its curve is stored as metrics
        ``lr``/``lr_find_loss``/``lr_find_smoothed`` and the artifact ``lr_find`` (JSON)."""
        opts = {k: v for k, v in (("start_lr", start_lr), ("end_lr", end_lr), ("num_steps", num_steps)) if v is not None}
        return self.submit(config, name=name, kind="lr_find", actor=actor,
                           _extra_params={"lr_find": opts} if opts else None)

    def submit_search(self, base_config: Any, space: Mapping[str, Any] | list, n_trials: int | None = None,
                      seed: int = 0, *, name: str | None = None, concurrency: int | None = None,
                      sampler: str = "random", actor: Actor | None = None) -> int:
        """A hyper-parameter search: a parent run (kind ``search``) and one queued child run per
        trial (``parent_id``). ``space`` is a search space for ``core.training.search.sample_trials``
        (with ``n_trials`` and ``seed``), or the list of trial configs already sampled.
        Trials are separate runs that run in parallel where the executor has room, at most
        ``concurrency`` of this search at once (None: no bound of its own).
        The parent's status follows its children; its summary is the best trial's."""
        base = _coerce_config(base_config)
        if concurrency is not None:
            concurrency = check_number("concurrency", concurrency, low=1, high=1000, integer=True)
        trials, space_params = search_trials(base, space, n_trials, seed, sampler)
        trials = [_coerce_config(t) for t in trials]  # every trial valid before anything is queued
        if concurrency is not None:
            space_params["concurrency"] = concurrency
        d = base.to_dict()
        dataset = (d.get("dataset") or {}).get("name")
        parent_name = name or base.name or f"search: {base.model} on {dataset}"
        with admission(self.store, actor, len(trials), dataset=dataset, configs=tuple(trials)):  # every trial now
            parent = writer(self.store, actor).create_run(d, name=parent_name, dataset=dataset, model=base.model,
                                                          seed=seed, kind="search")
            self.store.log_params(parent, {**d, "search": space_params})
            for i, t in enumerate(trials, 1):
                self.submit(t, name=fit_name(parent_name, f" · trial {i}"), parent_id=parent, actor=actor,
                            _admitted=True)
        self._wake.set()
        return parent

    def admission(self, actor: Actor | None, n: int = 1, *, dataset: str | None = None, action: str = "train",
                  configs: tuple = ()):
        """A context in which ``n`` runs of ``actor`` may be queued: their right ``action`` and their
        role's queue limit checked first (``core.jobs.admission``); e.g. a recipe's launch."""
        return admission(self.store, actor, n, dataset=dataset, action=action, configs=configs)

    # ------------------------------------------------------------------ cancelling
    def cancel(self, run_id: int, actor: Actor | None = None) -> str:
        """Cancel a run. Queued: cancelled at once. Running: ``cancel_requested`` is set in the
        store first (the worker polls it every second and stops within one batch, keeping its
        curves so far, and ends ``cancelled``), the worker is signalled where the executor can,
        and it is stopped for good after ``cancel_grace_s``. A search cancels all its unfinished
        trials, a group all its unfinished runs. Returns the status now. ``actor``: who cancels
        (the right ``cancel``: the run's owner, instructors, admins; ``Denied`` otherwise, audited)."""
        check_right(self.store, actor, "cancel", run_id)
        detail = self.store.get_run(run_id)  # NotFoundError for an unknown id
        if detail.kind in PARENT_KINDS:
            for child in detail.children:
                try:
                    self.cancel(child)
                except NotFoundError:  # a child deleted meanwhile
                    log.info("run %s of %s %s was deleted meanwhile", child, detail.kind, run_id)
        status = self.store.request_cancel(detail.id)
        if status == "running" and detail.kind not in PARENT_KINDS:
            with self._lock:
                h = self._children.get(detail.id)
                if h is not None:
                    self.executor.cancel(h)
                    h.cancel_sent_at = time.monotonic()
                # not ours (another host/process): the worker polls cancel_requested every second
        self._wake.set()
        record(self.store, actor, "cancel", run_id, after={"status": status})
        return status

    # ------------------------------------------------------------------ recovery
    def recover(self) -> RecoveryReport:
        """Runs left ``running`` by a supervisor that is gone: the executor that ran each one
        re-attaches to a live worker (adopted) or finds it gone (``interrupted``); count queued
        runs. Runs whose supervisor is alive (another dashboard, ``jobs serve``) are left to it."""
        rep = RecoveryReport()
        runs, _ = self.store.list_runs(status="running", kind=list(JOB_KINDS), limit=None, sort="id",
                                       descending=False)
        live = {sv.id for sv in self.store.list_supervisors(alive_within_s=self.lease_s)} if runs else set()
        live.add(self.supervisor_id)
        for r in runs:
            with self._lock:
                if r.id in self._children:
                    continue
                owner = r.supervisor_id
                if owner in live and owner != self.supervisor_id:
                    rep.left_alone.append(r.id)  # its supervisor is alive and watches it
                    continue
                found = self._reattach(r)
                if found.action == "adopt":
                    if self.store.adopt_run(r.id, expected=owner, supervisor=self.supervisor_id):
                        self._children[r.id] = found.handle
                        rep.adopted.append(r.id)
                    else:
                        rep.left_alone.append(r.id)
                    continue
                if found.action == "leave":
                    rep.left_alone.append(r.id)
                    continue
            try:
                self.store.set_status(r.id, "interrupted", self._outage_reason(r.id) or (
                    f"interrupted: the lab stopped while this run was training ({found.why}). Submit it again to retry."))
                rep.interrupted.append(r.id)
                log.info("run %s interrupted: %s", r.id, found.why)
            except STORE_ERRORS:  # finished or deleted meanwhile (ValidationError, NotFoundError), or a store hiccup
                log.exception("recovering run %s", r.id)
        rep.queued = self.store.list_runs(status="queued", limit=0)[1]
        self._update_parents()
        return rep

    def _outage_reason(self, run_id: int) -> str | None:
        return outage_reason_of(self.models_dir, run_id)

    def _reattach(self, r):
        """Ask the executor the run was started on (``local`` for runs recorded before executors)."""
        from core.jobs.executors import Reattach
        from core.jobs.executors.local import age_s

        ran_on = r.executor or "local"
        if self.executor is not None and ran_on == self.executor.name:
            return self.executor.reattach(r, self.stale_heartbeat_s)
        age = age_s(r)  # another executor's run: only a stale heartbeat tells it is gone
        if age < self.stale_heartbeat_s:
            return Reattach("leave")
        return Reattach("gone", why=f"its worker ({ran_on} executor) has not reported for {age / 60:.0f} min")

    # ------------------------------------------------------------------ supervisor
    def active_runs(self) -> list[int]:
        with self._lock:
            return sorted(self._children)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
                self._last_tick_error = None
            except Exception as exc:  # noqa: BLE001 - the supervisor thread must survive any hiccup (store, cluster)
                text = f"{type(exc).__name__}: {exc}"
                if text != self._last_tick_error:  # once per distinct error, not every poll
                    log.exception("job supervisor tick failed")
                self._last_tick_error = text
            self._wake.wait(self.poll_interval)
            self._wake.clear()

    def _tick(self) -> None:
        self._beat()
        if time.monotonic() - self._last_recover >= self.recover_every_s:
            self._last_recover = time.monotonic()
            rep = self.recover()
            if rep.interrupted or rep.adopted:
                log.info("recovery: %s", rep)
        with self._lock:
            self._reap()
            now = time.monotonic()
            for h in list(self._children.values()):
                if h.cancel_sent_at and now - h.cancel_sent_at > self.cancel_grace_s:
                    self.executor.kill(h)  # did not stop within the grace period (SIGKILL / stop_job)
                    h.cancel_sent_at = now - self.cancel_grace_s + 5.0  # again in 5 s if still there
                if not h.placement_done:
                    self._record_placement(h)
        self._update_parents()
        if self._stop.is_set():
            return
        self._start_queued()
        self._keep_warm()

    def _keep_warm(self) -> None:
        """Standby workers: replace the one a run took, or one that died (``core.jobs.standby``)."""
        with self._lock:
            if not self._shutting_down and hasattr(self.executor, "keep_warm"):
                self.executor.keep_warm(self.supervisor_id)

    def standby_workers(self) -> list:
        """This supervisor's idle standby workers (``core.jobs.standby.StandbyInfo``: pid, state, memory)."""
        return self.executor.standby_info() if hasattr(self.executor, "standby_info") else []

    def _update_parents(self) -> list[int]:
        from core.training.search import update_parents

        return update_parents(self.store)

    def _executor_ready(self) -> bool:
        if self.executor is None:
            return False
        try:
            self.executor.check()
        except ExecutorError as exc:
            if str(exc) != self.executor_problem:
                log.error("jobs cannot start: %s", exc)
            self.executor_problem = str(exc)
            return False
        self.executor_problem = None
        return True

    def _start_queued(self) -> None:
        """Claim queued runs the executor has room for (per-search concurrency respected) and launch them."""
        from core.training.search import search_concurrency

        with self._lock:
            if self._shutting_down or not self._executor_ready():
                return
            queued, _ = self.store.list_runs(status="queued", kind=list(JOB_KINDS), sort="id", descending=False,
                                             limit=max(16, self.max_concurrent * 4))
            configs = self.store.get_configs([r.id for r in queued]) if queued else {}
            running_trials: dict[int, int] = {}
            for r in queued:
                if self._stop.is_set():
                    break
                if not self.executor.fits(configs.get(r.id, {}), list(self._children.values()), self.max_concurrent):
                    continue
                if r.parent_id is not None:
                    bound = search_concurrency(self.store, r.parent_id)
                    if bound is not None:
                        if r.parent_id not in running_trials:
                            running_trials[r.parent_id] = self.store.list_runs(
                                parent_id=r.parent_id, status="running", limit=0)[1]
                        if running_trials[r.parent_id] >= bound:
                            continue
                        running_trials[r.parent_id] += 1
                if self.store.claim_run(r.id, host=HOST, supervisor=self.supervisor_id, executor=self.executor.name):
                    if not self._launch(r.id, configs.get(r.id, {})):
                        return

    def _launch(self, run_id: int, config: dict) -> bool:
        """Start a claimed run's worker. False when the executor cannot run jobs now (the run
        goes back to the queue)."""
        try:
            h = self.executor.launch(run_id, config, list(self._children.values()))
        except ExecutorUnavailable as exc:
            self.store.unclaim_run(run_id, supervisor=self.supervisor_id)
            self.executor_problem = str(exc)
            log.error("run %s stays queued: %s", run_id, exc)
            return False
        except ExecutorError as exc:
            log.exception("could not start the worker of run %s", run_id)
            self.store.set_status(run_id, "failed", str(exc))
            return True
        self._children[run_id] = h
        log.info("run %s: worker started on %s", run_id, self.executor.describe())
        if h.pid is not None:
            try:
                self.store.set_worker(run_id, pid=h.pid, host=HOST)
            except STORE_ERRORS:
                log.exception("recording the worker pid of run %s", run_id)
        self._record_placement(h)
        return True

    def _record_placement(self, h: Handle) -> None:
        info = self.executor.placement(h)
        if not info:
            return
        try:
            self.store.set_placement(h.run_id, **info)
            h.placement_done = True
        except STORE_ERRORS:
            log.exception("recording where run %s runs", h.run_id)

    def _reap(self, wait: float = 0.0) -> None:
        """Collect finished workers; give a final status to runs whose worker did not."""
        for rid, h in list(self._children.items()):
            ended = self.executor.poll(h, wait=wait)
            if ended is None:
                continue
            del self._children[rid]
            try:
                self._finish(h, ended)
            except STORE_ERRORS:  # the store failed: the run is recovered later
                log.exception("finishing run %s", rid)

    def _finish(self, h: Handle, ended: Exit) -> None:
        finish_run(self.store, self.models_dir, h, ended)
