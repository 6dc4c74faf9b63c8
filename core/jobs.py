"""Background job manager: a queue in the run store, trainings in separate processes.

One ``JobManager`` per dashboard process, shared by all browser sessions::

    jm = JobManager(store, models_dir, max_concurrent=1)
    jm.start()                 # recovery, then a daemon supervisor thread
    run_id = jm.submit(config) # validated first; a queued run in the store
    jm.cancel(run_id)          # queued -> cancelled at once; running -> stops within a batch
    jm.shutdown()

The supervisor thread takes queued runs in submission order, ``max_concurrent`` at a
time, and runs each in its own process (``python -m core.worker <run_id>``) so that an
exception, an out-of-memory kill or a crash in TensorFlow cannot take the dashboard down,
and memory is returned after each job. Progress reaches the pages only through the store.
The worker writes the run's final status itself; when a worker dies without doing so
(SIGKILL, OOM, segfault) the supervisor marks the run failed with the reason.

Supervisors and their lease: every ``JobManager`` that runs the queue is a *supervisor*
with an id and a heartbeat row in the store (table ``supervisors``), renewed every
``beat_s`` seconds and removed on a clean shutdown; it is *alive* while that heartbeat is
younger than ``lease_s``. The dashboard starts one per process on the first page view of
any session (``pages/_ui.py``); ``python -m core jobs serve`` runs one with no browser.
Several supervisors may share a store: claiming a queued run is a compare-and-set in the
store (``UPDATE ... WHERE status = 'queued'``), so exactly one of them runs it, and the run
records who claimed it (``runs.supervisor_id``).

Recovery (``start()``/``recover()``, and again every ``recover_every_s`` seconds): a run
left ``running`` whose supervisor is still alive belongs to that supervisor and is left
alone. Otherwise (its supervisor stopped or expired, or it never had one): on this host a
live worker is adopted and watched (a compare-and-set on ``supervisor_id``), a live
process that recorded the run itself (``python -m core train``) is left alone, and a run
whose process is gone becomes ``interrupted``; runs of other hosts become interrupted only
when their heartbeat is stale. Queued runs are picked up again.

``job_snapshot(store)`` is the one read of the queue's state for every page (running and
queued runs with their progress, live supervisors, recent runs) in one consistent read.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .store import FINAL_STATUSES, HOST, Store
from .validation import ValidationError, check_number, fit_name

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOG_TAIL_LINES = 15
LEASE_S = 30.0           # a supervisor whose heartbeat is older than this is dead
BEAT_S = 5.0             # how often a supervisor renews its lease
RECOVER_EVERY_S = 15.0   # how often a supervisor looks for runs left by a dead one
JOB_KINDS = ("train", "lr_find")  # what workers run (a search parent follows its trials)
DASHBOARD_SUPERVISOR_ENV = "LAB_DASHBOARD_SUPERVISOR"



def _lower_priority() -> None:  # runs in the child between fork and exec
    try:
        os.nice(int(os.environ.get("LAB_WORKER_NICE", "10")))
    except (OSError, ValueError):
        pass

@dataclass
class _Child:
    run_id: int
    proc: subprocess.Popen | None  # None for an adopted worker of an earlier dashboard process
    pid: int
    spawned_at: float
    log_file: Any = None
    cancel_sent_at: float | None = None
    term_sent_at: float | None = None


@dataclass
class RecoveryReport:
    interrupted: list[int] = field(default_factory=list)
    adopted: list[int] = field(default_factory=list)
    left_alone: list[int] = field(default_factory=list)  # other hosts, heartbeat still fresh
    queued: int = 0


def _proc_alive(pid: int | None, run_id: int | None = None) -> bool:
    """Is ``pid`` a live process (and, where /proc tells, the worker of ``run_id``)?"""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            stat = (proc / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return False
            if run_id is not None:
                args = (proc / "cmdline").read_bytes().split(b"\0")
                return b"core.worker" in args and str(run_id).encode() in args
        except (OSError, IndexError):
            return False
    return True


def _started_before(pid: int, when: datetime | None, slack_s: float = 2.0) -> bool:
    """Did process ``pid`` start before ``when`` (so it is not a later process that reuses the
    pid)? True where /proc cannot tell."""
    if when is None:
        return True
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22 of stat: start time, in clock ticks since boot
        btime = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                     if line.startswith("btime "))
        started = btime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return True
    return started <= when.timestamp() + slack_s


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _tail(path: Path, n: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 16_000))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def _coerce_config(config: Any):
    """TrainConfig from a TrainConfig or a dict, validated (ValidationError otherwise)."""
    from .training import TrainConfig

    if isinstance(config, TrainConfig):
        cfg = TrainConfig.from_dict(config.to_dict())
    elif isinstance(config, Mapping):
        cfg = TrainConfig.from_dict(dict(config))
    else:
        raise ValidationError(
            f"A job needs a TrainConfig or a dict of its fields. Got {type(config).__name__} instead."
        )
    cfg.validate()
    return cfg


class JobManager:
    def __init__(
        self,
        store: Store | None = None,
        models_dir: str | Path | None = None,
        max_concurrent: int = 1,
        *,
        poll_interval: float = 0.5,
        cancel_grace_s: float = 60.0,
        stale_heartbeat_s: float = 300.0,
        python: str = sys.executable,
        kind: str = "dashboard",
        lease_s: float = LEASE_S,
        beat_s: float = BEAT_S,
        recover_every_s: float = RECOVER_EVERY_S,
    ):
        self.store = store if store is not None else Store(models_dir=models_dir)
        self.models_dir = Path(models_dir) if models_dir is not None else self.store.models_dir
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
        self._children: dict[int, _Child] = {}
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._shutting_down = False
        self.last_recovery: RecoveryReport | None = None

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
            except Exception:  # noqa: BLE001 - housekeeping only
                log.exception("pruning old supervisor leases")
            self.last_recovery = self.recover()
            self._last_recover = time.monotonic()
            self._thread = threading.Thread(target=self._loop, name="lab-job-supervisor", daemon=True)
            self._thread.start()
        log.info("job supervisor %s started (max %d at a time); recovery: %s",
                 self.supervisor_id, self.max_concurrent, self.last_recovery)
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
        """Stop the supervisor. Running trainings are interrupted (SIGTERM: they stop at the
        next batch and end ``interrupted``; killed after ``timeout``) unless
        ``stop_running=False``, in which case they go on and the next ``start()`` adopts them.
        Queued runs stay queued."""
        with self._lock:
            self._shutting_down = True
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=max(5.0, self.poll_interval * 4))
        try:
            self._stop_children(stop_running, timeout)
        finally:
            try:  # the lease ends: another supervisor may adopt what is left at once
                self.store.remove_supervisor(self.supervisor_id)
            except Exception:  # noqa: BLE001 - the store went away: the lease simply expires
                log.warning("could not remove the lease of supervisor %s", self.supervisor_id)

    def _stop_children(self, stop_running: bool, timeout: float) -> None:
        if not stop_running:
            with self._lock:
                for ch in self._children.values():
                    if ch.log_file:
                        ch.log_file.close()
                self._children.clear()
            return
        with self._lock:
            for ch in self._children.values():
                self._send(ch, signal.SIGTERM)
                ch.term_sent_at = time.monotonic()
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                self._reap()
                left = list(self._children.values())
            if not left:
                break
            if time.monotonic() > deadline:
                with self._lock:
                    for ch in left:
                        self._send(ch, signal.SIGKILL)
                time.sleep(0.2)
                with self._lock:
                    self._reap(force=True)
                break
            time.sleep(0.1)

    def __enter__(self) -> JobManager:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.shutdown()

    # ------------------------------------------------------------------ submitting
    def submit(self, config: Any, name: str | None = None, parent_id: int | None = None, kind: str = "train",
               *, tags: Mapping[str, str] | list[str] | None = None, _extra_params: dict | None = None) -> int:
        """Validate ``config`` (TrainConfig or dict) and queue it; returns the run id.

        An invalid config raises ``ValidationError`` and nothing is queued.
        """
        if kind not in ("train", "lr_find"):
            raise ValidationError(f"The 'kind' parameter must be one of {{'train', 'lr_find'}}. Got {kind!r} instead.")
        cfg = _coerce_config(config)
        d = cfg.to_dict()
        dataset = (d.get("dataset") or {}).get("name")
        run_name = name or cfg.name or (f"{cfg.model} on {dataset}" if kind == "train" else f"LR finder: {cfg.model} on {dataset}")
        rid = self.store.create_run(d, name=run_name, dataset=dataset, model=cfg.model, seed=cfg.seed,
                                    kind=kind, parent_id=parent_id, tags=tags)
        self.store.log_params(rid, {**d, **(_extra_params or {})})
        self._wake.set()
        return rid

    def submit_lr_find(self, config: Any, *, name: str | None = None, start_lr: float | None = None,
                       end_lr: float | None = None, num_steps: int | None = None) -> int:
        """Queue a learning-rate range test (kind ``lr_find``); its curve is stored as metrics
        ``lr``/``lr_find_loss``/``lr_find_smoothed`` and the artifact ``lr_find`` (JSON)."""
        opts = {k: v for k, v in (("start_lr", start_lr), ("end_lr", end_lr), ("num_steps", num_steps)) if v is not None}
        return self.submit(config, name=name, kind="lr_find", _extra_params={"lr_find": opts} if opts else None)

    def submit_search(self, base_config: Any, space: Mapping[str, Any] | list, n_trials: int | None = None,
                      seed: int = 0, *, name: str | None = None) -> int:
        """A hyper-parameter search: a parent run (kind ``search``) and one queued child run per
        trial (``parent_id``). ``space`` is a search space for ``core.search.sample_trials``
        (with ``n_trials`` and ``seed``), or the list of trial configs already sampled.
        The parent's status follows its children; its summary is the best trial's."""
        base = _coerce_config(base_config)
        if isinstance(space, Mapping):
            n = check_number("n_trials", n_trials, low=1, high=1000, integer=True)
            from .search import sample_trials

            trials = list(sample_trials(base, dict(space), n, seed))
            space_params = {"space": dict(space), "n_trials": n, "seed": seed}
        elif isinstance(space, (list, tuple)):
            trials = list(space)
            if not trials:
                raise ValidationError("A search needs at least one trial. Got an empty list of trials.")
            space_params = {"n_trials": len(trials)}
        else:
            raise ValidationError(
                f"The 'space' parameter must be a dict (search space) or a list of trial configs. Got {type(space).__name__} instead."
            )
        trials = [_coerce_config(t) for t in trials]  # every trial valid before anything is queued
        d = base.to_dict()
        dataset = (d.get("dataset") or {}).get("name")
        parent_name = name or base.name or f"search: {base.model} on {dataset}"
        parent = self.store.create_run(d, name=parent_name, dataset=dataset, model=base.model, seed=seed, kind="search")
        self.store.log_params(parent, {**d, "search": space_params})
        for i, t in enumerate(trials, 1):
            self.submit(t, name=fit_name(parent_name, f" · trial {i}"), parent_id=parent)
        self._wake.set()
        return parent

    # ------------------------------------------------------------------ cancelling
    def cancel(self, run_id: int) -> str:
        """Cancel a run. Queued: cancelled at once. Running: ``cancel_requested`` is set and
        the worker is signalled; it stops within one batch, keeps its curves so far and ends
        ``cancelled``. A search cancels all its unfinished trials. Returns the status now."""
        detail = self.store.get_run(run_id)  # NotFoundError for an unknown id
        if detail.kind == "search":
            for child in detail.children:
                try:
                    self.cancel(child)
                except Exception:  # noqa: BLE001 - a trial deleted meanwhile
                    log.exception("cancelling trial %s", child)
        status = self.store.request_cancel(detail.id)
        if status == "running" and detail.kind != "search":
            with self._lock:
                ch = self._children.get(detail.id)
                if ch is not None:
                    self._send(ch, signal.SIGUSR1)
                    ch.cancel_sent_at = time.monotonic()
                # not ours (another host/process): the worker polls cancel_requested every second
        self._wake.set()
        return status

    # ------------------------------------------------------------------ recovery
    def recover(self) -> RecoveryReport:
        """Runs left ``running`` by a supervisor that is gone: adopt live workers of this host,
        mark those whose process is gone ``interrupted``; count queued runs. Runs whose
        supervisor is alive (another dashboard, ``jobs serve``) are left to it."""
        rep = RecoveryReport()
        runs, _ = self.store.list_runs(status="running", kind=list(JOB_KINDS), limit=None, sort="id",
                                       descending=False)
        live = {sv.id for sv in self.store.list_supervisors(alive_within_s=self.lease_s)} if runs else set()
        live.add(self.supervisor_id)
        now = datetime.now(timezone.utc)
        for r in runs:
            with self._lock:
                if r.id in self._children:
                    continue
                owner = r.supervisor_id
                if owner in live and owner != self.supervisor_id:
                    rep.left_alone.append(r.id)  # its supervisor is alive and watches it
                    continue
                same_host = r.host in (None, HOST)
                beat = r.heartbeat_at or r.started_at
                age = (now - beat).total_seconds() if beat else float("inf")
                if same_host and r.pid:
                    if _proc_alive(r.pid, r.id):  # a worker of this run: watch it from now on
                        if self.store.adopt_run(r.id, expected=owner, supervisor=self.supervisor_id):
                            self._children[r.id] = _Child(r.id, None, int(r.pid), time.time())
                            rep.adopted.append(r.id)
                        else:
                            rep.left_alone.append(r.id)
                        continue
                    if _proc_alive(r.pid) and _started_before(r.pid, r.started_at):
                        rep.left_alone.append(r.id)  # e.g. ``python -m core train`` recording its own run
                        continue
                    why = f"its worker process (pid {r.pid}) is gone"
                elif same_host:
                    if owner is None and age < self.stale_heartbeat_s:
                        rep.left_alone.append(r.id)  # recorded by a process that did not give its pid
                        continue
                    why = ("it was claimed but its worker process never started" if owner else
                           f"it has not reported for {age / 60:.0f} min and no process is recorded for it")
                else:
                    if age < self.stale_heartbeat_s:
                        rep.left_alone.append(r.id)
                        continue
                    why = f"its worker on host {r.host} has not reported for {age / 60:.0f} min"
            try:
                self.store.set_status(r.id, "interrupted",
                                      f"interrupted: the lab stopped while this run was training ({why}). Submit it again to retry.")
                rep.interrupted.append(r.id)
                log.info("run %s interrupted: %s", r.id, why)
            except Exception:  # noqa: BLE001 - finished meanwhile
                log.exception("recovering run %s", r.id)
        rep.queued = self.store.list_runs(status="queued", limit=0)[1]
        self._update_searches()
        return rep

    # ------------------------------------------------------------------ supervisor
    def active_runs(self) -> list[int]:
        with self._lock:
            return sorted(self._children)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
                self._last_tick_error = None
            except Exception as exc:  # noqa: BLE001 - the supervisor must survive store hiccups
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
            for ch in list(self._children.values()):
                if ch.cancel_sent_at and now - ch.cancel_sent_at > self.cancel_grace_s:
                    self._send(ch, signal.SIGKILL)
        self._update_searches()
        if self._stop.is_set():
            return
        with self._lock:
            free = self.max_concurrent - len(self._children)
            if free <= 0 or self._shutting_down:
                return
            for rid in self.store.queued_ids(limit=free * 4):
                if free <= 0 or self._stop.is_set():
                    break
                if self.store.claim_run(rid, host=HOST, supervisor=self.supervisor_id):
                    self._spawn(rid)
                    free -= 1

    def _spawn(self, run_id: int) -> None:
        out_dir = self.models_dir / str(run_id)
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            log_file = open(out_dir / "worker.log", "ab")
            env = dict(os.environ)
            env.update(
                LAB_DATABASE_URL=self.store.full_url,
                LAB_MODELS_DIR=str(self.models_dir),
                LAB_WORKER_SPAWNED_AT=repr(time.time()),
                PYTHONPATH=os.pathsep.join([str(PROJECT_ROOT), *filter(None, [env.get("PYTHONPATH")])]),
            )
            env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            env.setdefault("PYTHONUNBUFFERED", "1")
            proc = subprocess.Popen(
                [self.python, "-m", "core.worker", str(run_id)],
                cwd=str(PROJECT_ROOT), env=env, stdin=subprocess.DEVNULL, stdout=log_file,
                stderr=subprocess.STDOUT, start_new_session=True,
                # Training yields the CPU to the dashboard: pages stay responsive while it runs.
                preexec_fn=_lower_priority if hasattr(os, "nice") else None,
            )
        except Exception as exc:  # noqa: BLE001
            log.exception("could not start the worker of run %s", run_id)
            self.store.set_status(run_id, "failed", f"could not start the training process: {type(exc).__name__}: {exc}")
            return
        self._children[run_id] = _Child(run_id, proc, proc.pid, time.time(), log_file)
        log.info("run %s: worker started (pid %s)", run_id, proc.pid)
        try:
            self.store.set_worker(run_id, pid=proc.pid, host=HOST)
        except Exception:  # noqa: BLE001
            log.exception("recording the worker pid of run %s", run_id)

    @staticmethod
    def _send(ch: _Child, sig: int) -> None:
        try:
            if ch.proc is not None:
                if ch.proc.poll() is None:
                    ch.proc.send_signal(sig)
            elif _proc_alive(ch.pid, ch.run_id):
                os.kill(ch.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _reap(self, force: bool = False) -> None:
        """Collect finished workers; give a final status to runs whose worker did not."""
        for rid, ch in list(self._children.items()):
            if ch.proc is not None:
                rc = ch.proc.poll()
                if rc is None and not force:
                    continue
                if rc is None:
                    try:
                        rc = ch.proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        continue
            else:
                if _proc_alive(ch.pid, rid) and not force:
                    continue
                rc = None  # not our child: exit status unknown
            del self._children[rid]
            if ch.log_file:
                ch.log_file.close()
            try:
                self._finish(ch, rc)
            except Exception:  # noqa: BLE001
                log.exception("finishing run %s", rid)

    def _finish(self, ch: _Child, rc: int | None) -> None:
        try:
            detail = self.store.get_run(ch.run_id)
        except Exception:  # noqa: BLE001 - deleted meanwhile
            return
        log_path = self.models_dir / str(ch.run_id) / "worker.log"
        if log_path.exists() and not any(a.kind == "log" for a in detail.artifacts):
            try:
                self.store.add_artifact(ch.run_id, "log", log_path)
            except Exception:  # noqa: BLE001
                pass
        if detail.status in FINAL_STATUSES:
            log.info("run %s: %s", ch.run_id, detail.status)
            return  # the worker wrote its outcome
        status = "failed"
        if ch.term_sent_at is not None:
            status, reason = "interrupted", "interrupted: the lab was shut down while this run was training"
        elif ch.cancel_sent_at is not None or detail.cancel_requested:
            status, reason = "cancelled", "cancelled (the training process was stopped)"
        elif rc is None:
            reason = "the training process ended without reporting a result (it was not started by this supervisor process)"
        elif rc < 0:
            name = _signal_name(-rc)
            if -rc == signal.SIGKILL:
                reason = "training process was killed by signal SIGKILL (possibly out of memory)"
            elif -rc == signal.SIGSEGV:
                reason = "training process crashed with signal SIGSEGV (segmentation fault)"
            else:
                reason = f"training process was killed by signal {name}"
        else:
            reason = f"training process exited with code {rc} without reporting a result"
        if status == "failed":
            tail = _tail(log_path)
            if tail:
                reason += f"\n\nLast lines of worker.log:\n{tail}"
        self.store.set_status(ch.run_id, status, reason)
        log.info("run %s: %s (%s)", ch.run_id, status, reason.splitlines()[0])

    # ------------------------------------------------------------------ searches
    def _update_searches(self) -> list[int]:
        """Make every unfinished search parent follow its trials. Returns the ones that finished."""
        done = []
        parents, _ = self.store.list_runs(kind="search", status=["queued", "running"], limit=None)
        for p in parents:
            trials, n = self.store.list_runs(parent_id=p.id, limit=None, sort="id", descending=False)
            if not n:
                continue
            counts: dict[str, int] = {}
            for t in trials:
                counts[t.status] = counts.get(t.status, 0) + 1
            n_final = sum(counts.get(s, 0) for s in FINAL_STATUSES)
            started = n_final > 0 or counts.get("running", 0) > 0
            if p.status == "queued" and started:
                self.store.set_status(p.id, "running")
            info = {"message": f"{n_final}/{n} trials done", "trials": counts}
            best = self._best_trial(p, trials) if counts.get("succeeded") else None
            if best is not None:
                info["best_run_id"] = best.id
            if info != {k: p.progress_info.get(k) for k in info} or abs(p.progress - n_final / n) > 1e-9:
                self.store.set_progress(p.id, n_final / n, info)
            if n_final < n:
                continue
            if best is not None:
                self.store.log_summary(p.id, {**best.summary, "best_run_id": best.id,
                                              "trials": n, "trials_succeeded": counts.get("succeeded", 0)})
            parts = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
            if p.cancel_requested:
                status = "cancelled"
            elif counts.get("succeeded"):
                status = "succeeded"
            elif counts.get("cancelled") == n:
                status = "cancelled"
            elif counts.get("interrupted"):
                status = "interrupted"
            else:
                status = "failed"
            if p.status == "queued":
                self.store.set_status(p.id, "running")
            self.store.set_status(p.id, status, None if status == "succeeded" else f"trials: {parts}")
            done.append(p.id)
        return done

    def _best_trial(self, parent, trials):
        """The best succeeded trial on the search's monitor (best epoch's value), else test accuracy."""
        ok = [t for t in trials if t.status == "succeeded"]
        if not ok:
            return None
        try:
            monitor = self.store.get_run(parent.id).config.get("monitor")
        except Exception:  # noqa: BLE001
            monitor = None
        for key, maximise in ((f"best_{monitor}" if monitor else None, monitor not in (None, "val_loss")),
                              ("best_val_loss", False), ("best_val_accuracy", True), ("accuracy", True)):
            cands = [t for t in ok if key and key in t.summary and t.summary[key] == t.summary[key]]  # not NaN
            if cands:
                return (max if maximise else min)(cands, key=lambda t: t.summary[key])
        return ok[0]


# ---------------------------------------------------------------------- the queue's state
def dashboard_supervises() -> bool:
    """Does a dashboard process run the queue itself? Yes unless ``LAB_DASHBOARD_SUPERVISOR``
    is 0/false/off/no (then ``python -m core jobs serve`` runs it)."""
    return os.environ.get(DASHBOARD_SUPERVISOR_ENV, "1").strip().lower() not in ("0", "false", "off", "no")


@dataclass
class JobSnapshot:
    """The state of the job queue at one instant (one consistent read of the store).

    ``running``/``queued``: training and LR-finder jobs (oldest first), with progress;
    ``n_running``/``n_queued`` their counts (``queued`` holds at most ``limit``);
    ``searches``: unfinished search parents; ``supervisors``: live supervisor leases;
    ``recent``: the newest runs of any status (when asked for).
    """

    running: list
    queued: list
    n_running: int
    n_queued: int
    searches: list
    supervisors: list
    recent: list
    n_runs: int
    taken_at: datetime

    @property
    def active(self) -> bool:
        return bool(self.n_running or self.n_queued)

    @property
    def supervised(self) -> bool:
        return bool(self.supervisors)

    @property
    def waiting_unsupervised(self) -> bool:
        """Queued runs that nothing will start: no supervisor is alive."""
        return self.n_queued > 0 and not self.supervisors

    def by_id(self) -> dict[int, Any]:
        """Every run of the snapshot by id (running, queued, searches, recent)."""
        out: dict[int, Any] = {}
        for r in (*self.recent, *self.searches, *self.queued, *self.running):
            out[r.id] = r
        return out

    def headline(self) -> str:
        """One line for a status bar, e.g. ``1 running, 2 queued`` or ``No jobs running.``"""
        if not self.active:
            return "No jobs running."
        return f"{self.n_running} running, {self.n_queued} queued"

    def unsupervised_message(self) -> str:
        n = self.n_queued
        return (f"{n} queued run{'s' if n != 1 else ''} waiting: no job supervisor is alive. It starts "
                "with the dashboard (open any page), or run `python -m core jobs serve`.")


def job_snapshot(store: Store, *, recent: int = 0, limit: int = 20, lease_s: float = LEASE_S) -> JobSnapshot:
    """Running and queued jobs with progress, live supervisors and (optionally) the ``recent``
    newest runs, all read in one transaction, so that every part agrees with every other."""
    with store.read_snapshot():
        running, n_running = store.list_runs(status="running", kind=list(JOB_KINDS), limit=None,
                                             sort="id", descending=False)
        queued, n_queued = store.list_runs(status="queued", kind=list(JOB_KINDS), limit=limit,
                                           sort="id", descending=False)
        searches, _ = store.list_runs(status=["queued", "running"], kind="search", limit=limit)
        supervisors = store.list_supervisors(alive_within_s=lease_s)
        rec, n_runs = store.list_runs(limit=recent, sort="created_at", descending=True)
    return JobSnapshot(running=running, queued=queued, n_running=n_running, n_queued=n_queued,
                       searches=searches, supervisors=supervisors, recent=rec, n_runs=n_runs,
                       taken_at=datetime.now(timezone.utc))


def progress_text(r) -> str:
    """``epoch 2/5 · 40 %`` (or the worker's message) for a run; the same words on every page."""
    info = r.progress_info or {}
    pct = f"{100 * float(r.progress or 0.0):.0f} %"
    if r.status == "queued":
        return "queued"
    if r.status != "running":
        return r.status
    if info.get("epoch") and info.get("epochs"):
        return f"epoch {info['epoch']}/{info['epochs']} · {pct}"
    msg = str(info.get("message") or "starting")
    return f"{msg} · {pct}"


# ---------------------------------------------------------------------- command line
def add_cli(sub) -> None:
    """The ``jobs`` subcommand of ``python -m core`` (``serve``, ``status``)."""
    p = sub.add_parser("jobs", help="run the job queue without a browser (serve) or show its state (status)")
    jsub = p.add_subparsers(dest="jobs_command", required=True)
    s = jsub.add_parser("serve", help="supervise the queue of the run store (LAB_DATABASE_URL) until SIGTERM/Ctrl-C")
    s.add_argument("--max-concurrent", type=int, default=1, help="trainings at a time (default 1)")
    s.add_argument("--poll", type=float, default=1.0, help="seconds between looks at the queue (default 1)")
    s.add_argument("--keep-running", action="store_true",
                   help="on stop, leave running trainings going (the next supervisor adopts them) "
                        "instead of stopping them (they end 'interrupted')")
    s.add_argument("--grace", type=float, default=60.0,
                   help="seconds a stopped training has to end before it is killed (default 60)")
    s.set_defaults(fn=cmd_jobs_serve)
    st = jsub.add_parser("status", help="live supervisors, running and queued runs")
    st.add_argument("--json", action="store_true", help="print JSON")
    st.set_defaults(fn=cmd_jobs_status)


def cmd_jobs_serve(args) -> int:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    core_log = logging.getLogger("core")  # this supervisor's events, not every library's
    core_log.addHandler(handler)
    core_log.setLevel(logging.INFO)
    store = Store()
    jm = JobManager(store, store.models_dir, max_concurrent=args.max_concurrent,
                    poll_interval=check_number("--poll", args.poll, low=0.05, high=60),
                    cancel_grace_s=args.grace, kind="serve")
    stop = threading.Event()
    got: list[str] = []

    def on_signal(sig, _frame):
        got.append(_signal_name(sig))
        stop.set()

    saved = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        jm.start()
        print(f"supervising the job queue of {store!r} as {jm.supervisor_id}; "
              "SIGTERM or Ctrl-C stops", file=sys.stderr, flush=True)
        while not stop.wait(1.0):
            if not jm.running:  # the thread died: say so, start it again
                log.error("the supervisor thread stopped; restarting it")
                jm.start()
        left = jm.active_runs()
        what = (f"leaving {len(left)} running training(s) to the next supervisor" if args.keep_running else
                f"stopping {len(left)} running training(s) (they end 'interrupted')") if left else "nothing running"
        print(f"{got[0]} received: {what}; queued runs stay queued", file=sys.stderr, flush=True)
        jm.shutdown(stop_running=not args.keep_running, timeout=args.grace)
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)
        store.close()
        core_log.removeHandler(handler)
    print("job supervisor stopped", file=sys.stderr, flush=True)
    return 0


def cmd_jobs_status(args) -> int:
    import json

    store = Store()
    try:
        snap = job_snapshot(store)
    finally:
        store.close()
    if args.json:
        print(json.dumps({
            "supervisors": [sv.to_dict() for sv in snap.supervisors],
            "running": [{"id": r.id, "name": r.name, "progress": r.progress, "supervisor_id": r.supervisor_id,
                         "pid": r.pid, "host": r.host} for r in snap.running],
            "queued": [{"id": r.id, "name": r.name} for r in snap.queued],
            "n_running": snap.n_running, "n_queued": snap.n_queued,
            "waiting_unsupervised": snap.waiting_unsupervised,
        }, default=str, indent=2))
        return 0
    if snap.supervisors:
        for sv in snap.supervisors:
            print(f"supervisor {sv.id}: {sv.kind} on {sv.host} (pid {sv.pid}), max {sv.max_concurrent} at a time, "
                  f"last heartbeat {sv.age_s:.0f} s ago")
    else:
        print("no job supervisor is alive (start the dashboard, or run: python -m core jobs serve)")
    print(snap.headline())
    for r in snap.running:
        print(f"  running #{r.id} {r.name}: {progress_text(r)}")
    for r in snap.queued:
        print(f"  queued  #{r.id} {r.name}")
    if snap.n_queued > len(snap.queued):
        print(f"  ... and {snap.n_queued - len(snap.queued)} more queued")
    if snap.waiting_unsupervised:
        print(snap.unsupervised_message().replace("`", ""))
    return 0
