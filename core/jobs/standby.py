"""Warm standby workers of the local executor: a worker process started ahead of time, TensorFlow
and Keras imported and the store open, waiting for a run (the child's side is
``core.jobs.warm_worker``).

``StandbyPool(n)`` keeps ``n`` standbys (``LAB_WARM_WORKERS``: 1 by default on the dashboard and
``jobs serve``, 0 turns them off). A claimed run goes to a standby at once (``take`` then
``Standby.assign``: one JSON line on its stdin); a new standby starts behind it on the
supervisor's next tick, and one that dies is replaced. A standby is idle: it takes no slot of
``LAB_MAX_CONCURRENT``. It runs one run, then exits, as a cold worker does (memory returned).
Its stdin is a pipe from its supervisor: when the supervisor goes away, an idle standby reads
end-of-file and exits.

Processes are started with ``subprocess.Popen`` without ``preexec_fn`` (CPython then starts the
child with ``vfork``, or ``posix_spawn``, and execs at once: no Python code runs in a forked copy
of a parent that may have TensorFlow's threads); the worker lowers its own priority
(``LAB_WORKER_NICE``) when it starts.

Which process is what, from outside (liveness and adoption, ``jobs status``): a standby's command
line is ``python -m core.worker --standby <supervisor id>`` -- never a bare run id -- and its
process name (``/proc/<pid>/comm``) says its state: ``lab-warming`` while it imports,
``lab-standby`` when ready, ``lab-run-<id>`` once it has taken run ``<id>``.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from core.validation import ValidationError, check_number

log = logging.getLogger(__name__)

STANDBY_FLAG = "--standby"
WARM_ENV = "LAB_WARM_WORKERS"
WARMING, READY = "lab-warming", "lab-standby"
RUN_PREFIX = "lab-run-"
RESPAWN_BACKOFF_S = (2.0, 10.0, 30.0, 120.0)  # after standbys that died before they were ready


def warm_workers(value: int | None = None, default: int = 1) -> int:
    """How many standby workers to keep: ``value``, else ``LAB_WARM_WORKERS`` (0 to 8), else ``default``."""
    if value is None:
        env = os.environ.get(WARM_ENV, "").strip()
        if not env:
            return default
        if not env.isdigit():
            raise ValidationError(f"{WARM_ENV} must be a whole number of standby workers from 0 (off) to 8. "
                                  f"Got {env!r} instead.")
        value = int(env)
    return check_number(WARM_ENV, value, low=0, high=8, integer=True)


def run_comm(run_id: int) -> str:
    """The process name of a standby that took run ``run_id``."""
    return f"{RUN_PREFIX}{int(run_id)}"


def set_comm(name: str) -> None:
    """Name this process (``/proc/self/comm``, at most 15 characters); nothing where /proc is missing."""
    try:
        Path("/proc/self/comm").write_text(name[:15])
    except OSError:
        pass


def proc_comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def rss_bytes(pid: int) -> int | None:
    """Resident memory of process ``pid`` (VmRSS), None where /proc does not tell."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def is_worker_of(args: list[bytes], pid: int, run_id: int) -> bool:
    """Is the process with command line ``args`` the worker of ``run_id``? A cold worker names the run
    on its command line; a standby only by its process name once it has taken that run."""
    if b"core.worker" not in args:
        return False
    if STANDBY_FLAG.encode() in args:
        return proc_comm(pid) == run_comm(run_id)
    return str(run_id).encode() in args


@dataclass
class StandbyInfo:
    """A standby as seen from outside: its pid, state (``warming``, ``ready``, ``run <id>``), memory."""

    pid: int
    supervisor: str
    state: str
    rss: int | None

    def text(self) -> str:
        mem = f" · {self.rss / 2**20:,.0f} MB" if self.rss else ""
        what = {"ready": "ready", "warming": "starting"}.get(self.state, self.state)
        return f"warm worker {what} (pid {self.pid}{mem})"


def _state(comm: str | None) -> str:
    if comm == READY:
        return "ready"
    if comm and comm.startswith(RUN_PREFIX):
        return f"run #{comm[len(RUN_PREFIX):]}"
    return "warming"


def find_standbys(supervisors: set[str] | None = None) -> list[StandbyInfo]:
    """Idle standbys of this host (of the given supervisors), from /proc; [] where there is none."""
    out = []
    try:
        pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    except OSError:
        return out
    flag = STANDBY_FLAG.encode()
    for pid in sorted(pids):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"core.worker" not in args or flag not in args:
            continue
        i = args.index(flag)
        sup = args[i + 1].decode("utf-8", "replace") if i + 1 < len(args) else ""
        state = _state(proc_comm(pid))
        if state.startswith("run ") or (supervisors is not None and sup not in supervisors):
            continue  # a standby that took a run is that run's worker now
        out.append(StandbyInfo(pid, sup, state, rss_bytes(pid)))
    return out


class Standby:
    """One standby process, as its supervisor holds it."""

    def __init__(self, proc: subprocess.Popen, supervisor: str):
        self.proc = proc
        self.pid = proc.pid
        self.supervisor = supervisor
        self.started = time.monotonic()
        self.was_ready = False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def info(self) -> StandbyInfo:
        state = _state(proc_comm(self.pid)) if self.alive() else "exited"
        self.was_ready = self.was_ready or state == "ready"
        return StandbyInfo(self.pid, self.supervisor, state, rss_bytes(self.pid))

    def assign(self, run_id: int, env: dict[str, str], log_path: Path) -> None:
        """Hand run ``run_id`` over: its environment and log file. OSError when the standby is gone."""
        line = json.dumps({"run_id": int(run_id), "env": env, "log": str(log_path)}) + "\n"
        try:
            self.proc.stdin.write(line.encode())
            self.proc.stdin.flush()
        finally:
            self.proc.stdin.close()  # one run per standby

    def stop(self) -> None:
        """End an idle standby: end-of-file on its stdin, then SIGTERM."""
        try:
            if self.proc.stdin and not self.proc.stdin.closed:
                self.proc.stdin.close()
        except OSError:
            pass
        if self.alive():
            self.proc.terminate()


class StandbyPool:
    """``n`` standby workers of one supervisor (see the module docstring)."""

    def __init__(self, n: int, *, python: str, env: dict[str, str], log_path: Path, cwd: str):
        self.n = int(n)
        self.python, self.env, self.log_path, self.cwd = python, env, Path(log_path), cwd
        self.standbys: list[Standby] = []
        self.supervisor = ""
        self._fails = 0
        self._next_spawn = 0.0

    def _spawn(self) -> Standby | None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(self.log_path, "ab") as logf:
                proc = subprocess.Popen(  # no preexec_fn: exec at once, never a fork of this (TF-loaded) process
                    [self.python, "-m", "core.worker", STANDBY_FLAG, self.supervisor], cwd=self.cwd, env=self.env,
                    stdin=subprocess.PIPE, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            log.error("could not start a standby worker: %s", exc)
            return None
        return Standby(proc, self.supervisor)

    def reap(self) -> None:
        """Forget standbys that ended; back off when they die before they are ready."""
        for s in list(self.standbys):
            if s.alive():
                s.info()
                continue
            self.standbys.remove(s)
            if s.was_ready:
                self._fails = 0
                log.warning("standby worker %s exited (code %s); starting another", s.pid, s.proc.returncode)
            else:
                self._fails += 1
                wait = RESPAWN_BACKOFF_S[min(self._fails, len(RESPAWN_BACKOFF_S)) - 1]
                self._next_spawn = time.monotonic() + wait
                log.error("standby worker %s exited (code %s) before it was ready; next try in %.0f s (log: %s)",
                          s.pid, s.proc.returncode, wait, self.log_path)

    def fill(self, supervisor: str) -> None:
        """Start standbys until there are ``n`` (replacing those taken or dead)."""
        self.supervisor = supervisor
        self.reap()
        while len(self.standbys) < self.n and time.monotonic() >= self._next_spawn:
            s = self._spawn()
            if s is None:
                self._next_spawn = time.monotonic() + RESPAWN_BACKOFF_S[-1]
                return
            self.standbys.append(s)
            log.info("standby worker %s started", s.pid)

    def take(self) -> Standby | None:
        """A live standby for a run, ready ones first (one still importing is still ahead of a cold start)."""
        self.reap()
        live = sorted(self.standbys, key=lambda s: s.info().state != "ready")
        if not live:
            return None
        self.standbys.remove(live[0])
        return live[0]

    def info(self) -> list[StandbyInfo]:
        return [s.info() for s in self.standbys if s.alive()]

    def close(self) -> None:
        for s in self.standbys:
            s.stop()
        for s in self.standbys:
            try:
                s.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                s.proc.kill()
        self.standbys.clear()
