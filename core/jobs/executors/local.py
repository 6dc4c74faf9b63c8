"""The ``local`` executor: each run's worker is a separate process on this host.

An exception, an out-of-memory kill or a crash in TensorFlow cannot take the dashboard
down, and memory is returned after each job. With GPUs (detected with ``nvidia-smi``, or
``LAB_GPUS=0,1`` which overrides detection) a run that asks for ``gpus=k`` waits for k free
GPUs and gets them alone (``CUDA_VISIBLE_DEVICES``, memory growth on), so up to N GPU jobs
run at once on N GPUs; CPU-only runs (``gpus=0``) see no GPU and are bounded by the
manager's ``max_concurrent``.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from core.jobs.executors.base import PROJECT_ROOT, ExecutorError, Exit, Handle, Reattach, run_gpus, worker_env
from core.jobs.standby import StandbyPool, is_worker_of
from core.store.artifacts import RunFolder

LOG_TAIL_LINES = 15

def proc_alive(pid: int | None, run_id: int | None = None) -> bool:
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
            if run_id is not None:  # a cold worker names its run; a standby says it by its process name
                return is_worker_of((proc / "cmdline").read_bytes().split(b"\0"), pid, run_id)
        except (OSError, IndexError):
            return False
    return True


def started_before(pid: int, when: datetime | None, slack_s: float = 2.0) -> bool:
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


def signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def tail(path: Path, n: int = LOG_TAIL_LINES) -> str:
    """The last ``n`` lines of a (log) file; "" when it cannot be read."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 16_000))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def exit_reason(rc: int | None) -> str:
    """Why a worker process that wrote no result ended, in words."""
    if rc is None:
        return "the training process ended without reporting a result (it was not started by this supervisor process)"
    if rc < 0:
        if -rc == signal.SIGKILL:
            return "training process was killed by signal SIGKILL (possibly out of memory)"
        if -rc == signal.SIGSEGV:
            return "training process crashed with signal SIGSEGV (segmentation fault)"
        return f"training process was killed by signal {signal_name(-rc)}"
    return f"training process exited with code {rc} without reporting a result"


def detect_gpus() -> tuple[str, ...]:
    """GPU ids for pinning: ``LAB_GPUS`` (``0,1``; empty or ``none`` = no GPU) when set, else
    ``nvidia-smi``'s list (none when it is missing or fails)."""
    env = os.environ.get("LAB_GPUS")
    if env is not None:
        ids = [g.strip() for g in env.split(",") if g.strip()]
        return tuple(g for g in ids if g.lower() != "none")
    exe = shutil.which("nvidia-smi")
    if not exe:
        return ()
    try:
        out = subprocess.run([exe, "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(line.strip() for line in out.splitlines() if line.strip().isdigit())


class LocalExecutor:
    name = "local"

    def __init__(self, *, store=None, models_dir: Path | None = None, python: str = sys.executable,
                 gpus: tuple[str, ...] | None = None, warm_workers: int = 0):
        self.store = store
        self.models_dir = Path(models_dir) if models_dir is not None else None
        self.python = python
        self.gpus = tuple(gpus) if gpus is not None else detect_gpus()
        self.warm_workers = int(warm_workers)
        self.pool: StandbyPool | None = None

    # ------------------------------------------------------------------ standby workers (core.jobs.standby)
    def keep_warm(self, supervisor_id: str) -> None:
        """Keep ``warm_workers`` standbys started (called by the supervisor's tick); CPU runs only."""
        if not self.warm_workers or self.store is None or self.models_dir is None:
            return
        if self.pool is None:
            extra = {"CUDA_VISIBLE_DEVICES": ""} if self.gpus else {}
            env = {**os.environ, **worker_env(self.store, self.models_dir, self.name, extra)}
            env.pop("LAB_WORKER_SPAWNED_AT", None)  # set when a run is handed over
            self.pool = StandbyPool(self.warm_workers, python=self.python, env=env, cwd=str(PROJECT_ROOT),
                                    log_path=self.models_dir / ".standby.log")
        self.pool.fill(supervisor_id)

    def standby_info(self) -> list:
        return self.pool.info() if self.pool is not None else []

    def close_warm(self) -> None:
        if self.pool is not None:
            self.pool.close()

    def _launch_warm(self, run_id: int, out_dir: Path) -> Handle | None:
        standby = self.pool.take() if self.pool is not None else None
        if standby is None:
            return None
        env = {"LAB_WORKER_SPAWNED_AT": repr(time.time())}
        try:
            standby.assign(run_id, env, RunFolder(out_dir).path_of("log"))
        except OSError:  # it died meanwhile: a cold worker instead
            standby.stop()
            return None
        return Handle(run_id, self.name, time.time(), ref=standby.proc, pid=standby.pid, warm=True)

    def describe(self) -> str:
        return "local (this machine" + (f", GPUs {','.join(self.gpus)})" if self.gpus else ")")

    def check(self) -> None:
        """Nothing can be unreachable on this machine."""

    # ------------------------------------------------------------------ capacity
    def _free_gpus(self, active: list[Handle]) -> list[str]:
        used = {g for h in active for g in h.gpus}
        return [g for g in self.gpus if g not in used]

    def fits(self, config: dict, active: list[Handle], max_concurrent: int) -> bool:
        """GPU runs need that many free GPUs; CPU runs (and every run on a machine without
        GPUs) a free slot of ``max_concurrent``."""
        need = run_gpus(config)
        if need and self.gpus:
            return len(self._free_gpus(active)) >= need
        return sum(1 for h in active if not h.gpus) < max_concurrent

    # ------------------------------------------------------------------ launching
    def launch(self, run_id: int, config: dict, active: list[Handle]) -> Handle:
        out_dir = self.models_dir / str(run_id)
        need = run_gpus(config)
        gpus = tuple(self._free_gpus(active)[:need]) if need and self.gpus else ()
        extra = {}
        if self.gpus:  # pinning: a GPU run sees its own GPUs, a CPU run none
            extra = {"CUDA_VISIBLE_DEVICES": ",".join(gpus), "TF_FORCE_GPU_ALLOW_GROWTH": "true"}
        out_dir.mkdir(parents=True, exist_ok=True)
        if not gpus:
            warm = self._launch_warm(run_id, out_dir)
            if warm is not None:
                return warm
        log_file = open(RunFolder(out_dir).path_of("log"), "ab")
        env = {**os.environ, **worker_env(self.store, self.models_dir, self.name, extra)}
        try:
            # No preexec_fn: CPython then starts the child with vfork (or posix_spawn) and execs at once,
            # never running code in a fork of this process (which may hold TensorFlow's threads). The
            # worker lowers its own priority (LAB_WORKER_NICE) so that pages stay responsive.
            proc = subprocess.Popen(
                [self.python, "-m", "core.worker", str(run_id)],
                cwd=str(PROJECT_ROOT), env=env, stdin=subprocess.DEVNULL, stdout=log_file,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        except OSError as exc:
            log_file.close()
            raise ExecutorError(f"could not start the training process: {type(exc).__name__}: {exc}") from exc
        return Handle(run_id, self.name, time.time(), ref=proc, pid=proc.pid, log_file=log_file, gpus=gpus)

    def placement(self, h: Handle) -> dict:
        from core.store import HOST

        return {"executor": self.name, "node": HOST, "pid": h.pid, "gpus": ",".join(h.gpus) or None,
                "worker": "warm" if h.warm else "cold"}

    # ------------------------------------------------------------------ watching, signalling
    def poll(self, h: Handle, *, wait: float = 0.0) -> Exit | None:
        """None while the worker runs; how it ended otherwise (``wait``: give it that long)."""
        proc = h.ref
        if proc is not None:
            rc = proc.poll()
            if rc is None and wait:
                try:
                    rc = proc.wait(timeout=wait)
                except subprocess.TimeoutExpired:
                    return None
            if rc is None:
                return None
            return self._ended(h, Exit(rc, exit_reason(rc)))
        if proc_alive(h.pid, h.run_id):
            return None
        return self._ended(h, Exit(None, exit_reason(None)))  # not our child: exit status unknown

    def _ended(self, h: Handle, ex: Exit) -> Exit:
        self.release(h)
        return ex

    def _send(self, h: Handle, sig: int) -> None:
        try:
            if h.ref is not None:
                if h.ref.poll() is None:
                    h.ref.send_signal(sig)
            elif proc_alive(h.pid, h.run_id):
                os.kill(h.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def cancel(self, h: Handle) -> None:
        """SIGUSR1: the worker stops at the next batch and ends ``cancelled``."""
        self._send(h, signal.SIGUSR1)

    def interrupt(self, h: Handle) -> None:
        """SIGTERM: the worker stops at the next batch and ends ``interrupted``."""
        self._send(h, signal.SIGTERM)

    def kill(self, h: Handle) -> None:
        self._send(h, signal.SIGKILL)

    def release(self, h: Handle) -> None:
        """Stop watching (the worker goes on; a later supervisor may adopt it)."""
        if h.log_file:
            h.log_file.close()
            h.log_file = None

    # ------------------------------------------------------------------ recovery
    def reattach(self, r, stale_s: float) -> Reattach:
        """A run left ``running`` on this executor by a supervisor that is gone."""
        from core.store import HOST

        if r.host not in (None, HOST):
            age = age_s(r)
            if age < stale_s:
                return Reattach("leave")
            return Reattach("gone", why=f"its worker on host {r.host} has not reported for {age / 60:.0f} min")
        if r.pid:
            if proc_alive(r.pid, r.id):  # a worker of this run: watch it from now on
                gpus = tuple(g for g in str((r.placement or {}).get("gpus") or "").split(",") if g)
                return Reattach("adopt", Handle(r.id, self.name, time.time(), pid=int(r.pid), gpus=gpus))
            if proc_alive(r.pid) and started_before(r.pid, r.started_at):
                return Reattach("leave")  # e.g. ``python -m core train`` recording its own run
            return Reattach("gone", why=f"its worker process (pid {r.pid}) is gone")
        if r.supervisor_id is None and age_s(r) < stale_s:
            return Reattach("leave")  # recorded by a process that did not give its pid
        age = age_s(r)
        return Reattach("gone", why="it was claimed but its worker process never started" if r.supervisor_id else
                        f"it has not reported for {age / 60:.0f} min and no process is recorded for it")


def age_s(r) -> float:
    """Seconds since the run last reported (heartbeat, else start); inf when it never did."""
    beat = r.heartbeat_at or r.started_at
    return (datetime.now(UTC) - beat).total_seconds() if beat else float("inf")
