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

Recovery (``start()``/``recover()``): runs left ``running`` on this host whose worker
process is gone become ``interrupted``; workers still alive (the dashboard restarted
while they trained) are adopted and watched; runs of other hosts are marked interrupted
only when their heartbeat is stale. Queued runs are picked up again.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .store import FINAL_STATUSES, HOST, Store
from .validation import ValidationError, check_number

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOG_TAIL_LINES = 15



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
    ):
        self.store = store if store is not None else Store(models_dir=models_dir)
        self.models_dir = Path(models_dir) if models_dir is not None else self.store.models_dir
        self.max_concurrent = check_number("max_concurrent", max_concurrent, low=1, high=64, integer=True)
        self.poll_interval = float(poll_interval)
        self.cancel_grace_s = float(cancel_grace_s)
        self.stale_heartbeat_s = float(stale_heartbeat_s)
        self.python = python
        self._children: dict[int, _Child] = {}
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._shutting_down = False
        self.last_recovery: RecoveryReport | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> JobManager:
        """Recover runs left by an earlier process, then start the supervisor thread (idempotent)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return self
            self._stop.clear()
            self._shutting_down = False
            self.last_recovery = self.recover()
            self._thread = threading.Thread(target=self._loop, name="lab-job-supervisor", daemon=True)
            self._thread.start()
        return self

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
            self.submit(t, name=f"{parent_name} · trial {i}", parent_id=parent)
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
        """Mark runs whose worker is gone as interrupted, adopt live workers, count queued runs."""
        rep = RecoveryReport()
        runs, _ = self.store.list_runs(status="running", limit=None, sort="id", descending=False)
        now = datetime.now(timezone.utc)
        for r in runs:
            if r.kind == "search":
                continue  # follows its children
            with self._lock:
                if r.id in self._children:
                    continue
            same_host = r.host in (None, HOST)
            if same_host and r.host is not None and _proc_alive(r.pid, r.id):
                with self._lock:
                    self._children[r.id] = _Child(r.id, None, int(r.pid), time.time())
                rep.adopted.append(r.id)
                continue
            if not same_host:
                beat = r.heartbeat_at or r.started_at
                age = (now - beat).total_seconds() if beat else float("inf")
                if age < self.stale_heartbeat_s:
                    rep.left_alone.append(r.id)
                    continue
                why = f"its worker on host {r.host} has not reported for {age / 60:.0f} min"
            elif r.pid:
                why = f"its worker process (pid {r.pid}) is gone"
            else:
                why = "it was claimed but its worker process never started"
            try:
                self.store.set_status(r.id, "interrupted",
                                      f"interrupted: the lab stopped while this run was training ({why}). Submit it again to retry.")
                rep.interrupted.append(r.id)
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
            except Exception:  # noqa: BLE001 - the supervisor must survive store hiccups
                log.exception("job supervisor tick failed")
            self._wake.wait(self.poll_interval)
            self._wake.clear()

    def _tick(self) -> None:
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
                if self.store.claim_run(rid, host=HOST):
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
            return  # the worker wrote its outcome
        status = "failed"
        if ch.term_sent_at is not None:
            status, reason = "interrupted", "interrupted: the lab was shut down while this run was training"
        elif ch.cancel_sent_at is not None or detail.cancel_requested:
            status, reason = "cancelled", "cancelled (the training process was stopped)"
        elif rc is None:
            reason = "the training process ended without reporting a result (it was not started by this dashboard process)"
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
