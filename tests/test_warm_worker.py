"""Standby ("warm") workers of the local executor: a run goes to a worker that has TensorFlow imported
already, gives the same results as on a cold worker, the standby is replaced when it dies, it is never
taken for a run's worker (dead or alive) until it has taken that run, and no worker is started by
forking a process that has imported TensorFlow."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from core.config import PROJECT_ROOT
from core.jobs.executors.local import LocalExecutor, proc_alive
from core.jobs.manager import JobManager
from core.jobs.standby import StandbyPool, find_standbys, warm_workers
from core.store import HOST
from core.validation import ValidationError
from jobs_support import wait_for, wait_status

CONFIG = {"dataset": {"name": "digits", "params": {}}, "model": "small_cnn", "epochs": 1, "batch_size": 32,
          "seed": 0}
TIMES = ("train_time_s", "worker_startup_s")


def _ready(jm):
    return [s for s in jm.standby_workers() if s.state == "ready"]


def _fake_worker(*args: str, comm: str):
    """A process whose command line and process name are a worker's (no TensorFlow)."""
    code = ("import sys; open('/proc/self/comm', 'w').write(sys.argv[1]); print('ok', flush=True); "
            "sys.stdin.read()")
    p = subprocess.Popen([sys.executable, "-c", code, comm, "core.worker", *args], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ok"
    return p


def test_liveness_knows_standby_workers():
    """A standby names no run on its command line: it is the worker of run 5 only once its process
    name says it took run 5; a cold worker is known by its command line."""
    cold = _fake_worker("5", comm="python")
    idle = _fake_worker("--standby", "dashboard@h:1:5", comm="lab-standby")
    took = _fake_worker("--standby", "dashboard@h:1:abc", comm="lab-run-5")
    try:
        assert proc_alive(cold.pid, 5) and not proc_alive(cold.pid, 6)
        assert not proc_alive(idle.pid, 5) and not proc_alive(idle.pid, 1) and proc_alive(idle.pid)
        assert proc_alive(took.pid, 5) and not proc_alive(took.pid, 6)
        found = {s.pid: s for s in find_standbys({"dashboard@h:1:5", "dashboard@h:1:abc"})}
        assert idle.pid in found and found[idle.pid].state == "ready" and found[idle.pid].rss > 0
        assert took.pid not in found  # a standby that took a run is that run's worker now
        assert idle.pid not in {s.pid for s in find_standbys({"another supervisor"})}
    finally:
        for p in (cold, idle, took):
            p.stdin.close()
            p.wait(timeout=10)


def test_warm_workers_setting(monkeypatch, store):
    monkeypatch.delenv("LAB_WARM_WORKERS", raising=False)
    assert warm_workers() == 1 and warm_workers(0) == 0
    monkeypatch.setenv("LAB_WARM_WORKERS", "0")
    assert warm_workers() == 0
    jm = JobManager(store, store.models_dir)
    assert jm.warm_workers == 0 and jm.executor.warm_workers == 0
    monkeypatch.setenv("LAB_WARM_WORKERS", "one")
    with pytest.raises(ValidationError, match="LAB_WARM_WORKERS must be a whole number .* from 0 .* Got 'one'"):
        JobManager(store, store.models_dir)


_FORKED = {"marker": None}


def _after_fork_in_child() -> None:  # runs only in a child made by fork() that runs Python code before exec
    if _FORKED["marker"]:
        with open(_FORKED["marker"], "a") as f:
            f.write(f"{os.getpid()}\n")


def test_no_worker_is_forked_after_tensorflow_is_imported(store, tmp_path):
    """The dashboard has TensorFlow loaded after a Predict: workers (cold and standby) are started by
    exec without running code in a forked copy of it (no preexec_fn, whose child runs the at-fork hooks)."""
    import tensorflow as tf

    tf.constant(1.0) + 1.0  # TensorFlow's threads are running in this process
    assert subprocess._USE_VFORK  # CPython starts a child without preexec_fn with vfork (then exec)
    os.register_at_fork(after_in_child=_after_fork_in_child)
    _FORKED["marker"] = str(tmp_path / "forked.txt")
    ex = LocalExecutor(store=store, models_dir=store.models_dir, gpus=())
    pool = StandbyPool(1, python=sys.executable, env={**os.environ, "LAB_DATABASE_URL": store.full_url,
                                                      "LAB_MODELS_DIR": str(store.models_dir)},
                       log_path=tmp_path / "standby.log", cwd=str(PROJECT_ROOT))
    try:
        rid = store.create_run(CONFIG, name="never runs")
        assert store.request_cancel(rid) == "cancelled"
        h = ex.launch(rid, CONFIG, [])  # a cold worker: the run is not running, it exits at once
        pool.fill("test-supervisor")
        assert ex.poll(h, wait=60) is not None
    finally:
        pool.close()
        _FORKED["marker"] = None
    assert not (tmp_path / "forked.txt").exists(), "a worker was started by fork() with Python code in the child"


@pytest.mark.slow
def test_warm_and_cold_runs_give_the_same_metrics(store):
    """Two runs of the same config and seed at once: the first goes to the standby, the second to a
    cold worker; every metric is equal. The standby that took a run is that run's worker for the
    liveness check, and a new standby starts behind it."""
    jm = JobManager(store, store.models_dir, max_concurrent=2, poll_interval=0.2, warm_workers=1)
    try:
        jm.start()
        wait_for(lambda: _ready(jm), timeout=180, what="the standby to be ready")
        with jm._lock:  # the supervisor sees both at once: the standby takes one, the other starts cold
            warm = jm.submit(CONFIG, name="warm")
            cold = jm.submit(CONFIG, name="cold")
        runs = {rid: wait_for(lambda rid=rid: store.get_run(rid).placement.get("worker") and store.get_run(rid),
                              timeout=30, what=f"run {rid} to start") for rid in (warm, cold)}
        assert runs[warm].placement["worker"] == "warm" and runs[cold].placement["worker"] == "cold"
        taken = runs[warm].placement["pid"]
        wait_for(lambda: proc_alive(taken, warm) or store.get_run(warm).is_final, timeout=120,
                 what="the standby to take the run")
        nxt = wait_for(lambda: [s for s in jm.standby_workers() if s.pid != taken], timeout=30,
                       what="a new standby behind the one taken")
        assert not proc_alive(nxt[0].pid, warm) and not proc_alive(nxt[0].pid, cold)
        rw, rc = wait_status(store, warm, "succeeded"), wait_status(store, cold, "succeeded")
    finally:
        jm.shutdown(timeout=20)
    assert rw.pid == taken and rw.host == HOST and rw.artifact("log") is not None
    sw = {k: v for k, v in rw.summary.items() if k not in TIMES}
    sc = {k: v for k, v in rc.summary.items() if k not in TIMES}
    assert sw == sc and "accuracy" in sw
    hw, hc = (h[~h.key.str.contains("time")][["key", "step", "value"]].reset_index(drop=True)
              for h in (store.get_metric_history(warm), store.get_metric_history(cold)))
    assert len(hw) >= 4 and hw.equals(hc)
    assert rw.summary["worker_startup_s"] < rc.summary["worker_startup_s"]
    assert not find_standbys({jm.supervisor_id})  # the supervisor's shutdown ended its standby


@pytest.mark.slow
def test_standby_is_replaced_when_it_dies_and_never_taken_for_a_run(store, tmp_path):
    from datetime import UTC, datetime, timedelta

    from core.jobs.status import job_snapshot

    jm = JobManager(store, store.models_dir, poll_interval=0.2, warm_workers=1)
    try:
        jm.start()
        first = wait_for(lambda: _ready(jm), timeout=180, what="the standby to be ready")[0]
        own = os.getpriority(os.PRIO_PROCESS, 0)  # the worker lowered its own priority (LAB_WORKER_NICE)
        assert os.getpriority(os.PRIO_PROCESS, first.pid) == min(19, own + int(os.environ.get("LAB_WORKER_NICE", "10")))
        snap = job_snapshot(store)
        assert [s.pid for s in snap.standby] == [first.pid] and snap.standby[0].rss > 50 * 2**20
        assert snap.standby_line().startswith(f"Warm worker ready (pid {first.pid} · ")
        out = subprocess.run([sys.executable, "-m", "core", "jobs", "status"], capture_output=True, text=True,
                             env={**os.environ, "LAB_DATABASE_URL": store.full_url,
                                  "LAB_MODELS_DIR": str(store.models_dir)}, timeout=120)
        assert f"Warm worker ready (pid {first.pid} · " in out.stdout, out.stdout + out.stderr

        # a run left running by a dead supervisor whose pid is now the standby's: gone, not adopted nor left
        rid = store.create_run(CONFIG, name="worker gone, pid reused by the standby")
        assert store.claim_run(rid, supervisor="dashboard@gone:1:x")
        store.set_worker(rid, pid=first.pid, host=HOST)
        import sqlalchemy as sa

        from core.store import schema as S

        with store.engine.begin() as conn:
            past = datetime.now(UTC) - timedelta(hours=1)
            conn.execute(sa.update(S.runs).where(S.runs.c.id == rid).values(started_at=past, heartbeat_at=past))
        assert not proc_alive(first.pid, rid)
        rep = jm.recover()
        assert rep.interrupted == [rid] and rep.adopted == []
        assert f"pid {first.pid}" in store.get_run(rid).error

        os.kill(first.pid, signal.SIGKILL)
        again = wait_for(lambda: [s for s in jm.standby_workers() if s.pid != first.pid], timeout=60,
                         what="a new standby after the first was killed")
        assert again[0].pid != first.pid
    finally:
        jm.shutdown(timeout=20)
    assert wait_for(lambda: not find_standbys({jm.supervisor_id}) or None, timeout=10, what="standbys to end")
