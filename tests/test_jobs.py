"""The job manager with real worker processes, real TensorFlow training on digits and a
real SQLite store. Few training processes (each imports TensorFlow): one success, one
cancel, one failure, one SIGKILL; the rest needs no worker."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC

import pandas as pd
import pytest

from core.jobs.kinds import JOB_KINDS
from core.jobs.manager import JobManager
from core.store import HOST
from core.validation import NotFoundError, ValidationError
from jobs_support import wait_for, wait_status


def digits_config(**over):
    from core.training.config import TrainConfig

    cfg = dict(dataset={"name": "digits", "params": {}}, model="small_cnn", epochs=2, batch_size=32, seed=0)
    cfg.update(over)
    return TrainConfig(**cfg)


@pytest.fixture()
def manager(store):
    jm = JobManager(store, store.models_dir, poll_interval=0.2, cancel_grace_s=60)
    yield jm
    jm.shutdown(timeout=20)


# ------------------------------------------------------------------ real jobs
@pytest.mark.slow
def test_real_job_from_queued_to_succeeded(manager, store):
    from core.datasets import load_dataset
    from core.serving.trained_model import load_trained

    manager.start()
    rid = manager.submit(digits_config(), name="digits quick")
    assert store.get_run(rid).status in ("queued", "running")
    assert store.get_run(rid).params["model"] == "small_cnn"
    wait_for(lambda: store.get_run(rid).pid, timeout=30, what="the worker pid")
    r = wait_status(store, rid, "succeeded")

    assert r.host == HOST and r.pid and r.progress == 1.0 and r.duration_s > 0 and r.error is None
    assert r.progress_info["epoch"] == 2 and r.progress_info["images_per_sec"] > 0
    s = r.summary
    assert s["epochs_run"] == 2 and s["best_epoch"] in (1, 2) and s["params_total"] > 0
    assert 0.5 < s["accuracy"] <= 1.0 and "macro_f1" in s and "best_val_loss" in s and s["train_time_s"] > 0
    print(f"\nworker start-up (spawn -> training call): {s['worker_startup_s']:.1f} s; "
          f"train_time {s['train_time_s']:.1f} s; run duration {r.duration_s:.1f} s")

    hist = store.get_metric_history(rid)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert list(hist[hist.key == key].step) == [1, 2], key
    kinds = {a.kind for a in r.artifacts}
    assert {"model", "meta", "predictions", "evaluation", "split", "history", "log"} <= kinds
    assert all(a.path.is_file() and a.path.parent == store.run_dir(rid) for a in r.artifacts)

    # the saved model reloads (safe mode) and reproduces the stored test predictions
    pred = pd.read_csv(r.artifact("predictions").path)
    assert len(pred) > 100 and (pred.y_true == pred.y_pred).mean() == pytest.approx(s["accuracy"])
    tm = load_trained(store.run_dir(rid))
    ds = load_dataset("digits")
    ids = [str(i) for i in pred.id[:16]]
    images = ds.images[ds.index_of(ids)]
    probs = tm.predict(images)
    stored = pred[[c for c in pred.columns if c.startswith("p_")]].to_numpy()[:16]
    assert probs.shape == stored.shape
    assert abs(probs - stored).max() < 1e-3


@pytest.mark.slow
def test_cancel_queued_and_running_jobs(manager, store):
    manager.start()
    a = manager.submit(digits_config(epochs=60), name="long")
    b = manager.submit(digits_config(epochs=1), name="waits in the queue")
    wait_for(lambda: store.get_run(a).pid, timeout=30, what="run a's worker")
    assert store.get_run(b).status == "queued"  # max_concurrent=1

    assert manager.cancel(b) == "cancelled"  # queued: at once
    rb = store.get_run(b)
    assert rb.status == "cancelled" and rb.pid is None and rb.started_at is None

    with pytest.raises(ValidationError, match=f"Run {a} is running; it was not deleted. Cancel it first"):
        store.delete_run(a)

    wait_for(lambda: "val_loss" in store.get_run(a).metric_keys, timeout=180, what="run a's first epoch")
    assert manager.cancel(a) == "running"
    t0 = time.monotonic()
    r = wait_status(store, a, "cancelled", timeout=60)
    stop_s = time.monotonic() - t0
    print(f"\nrunning job stopped {stop_s:.2f} s after cancel (epoch {r.progress_info.get('epoch')})")
    assert r.cancel_requested and "cancel" in (r.error or "").lower()
    hist = store.get_metric_history(a)
    epochs = sorted(set(hist[hist.key == "val_loss"].step))
    assert 1 <= len(epochs) < 60  # partial curves kept
    assert r.artifact("model") is None and r.progress < 1.0
    assert wait_for(lambda: not manager.active_runs(), timeout=30, what="the worker to exit")
    store.delete_run(a)
    assert not store.run_dir(a).exists() and not store.exists(a)


@pytest.mark.slow
def test_training_error_and_sigkill_mark_runs_failed(manager, store):
    manager.start()
    # diverging SGD: the loss becomes NaN during the first epoch -> failed with the error and traceback
    bad = manager.submit(digits_config(optimizer="sgd", learning_rate=1e9, momentum=0.0), name="diverges")
    r = wait_status(store, bad, "failed")
    assert "NaN" in r.error or "infinite" in r.error
    assert r.error.startswith("TrainingError:")
    tb = r.artifact("traceback")
    assert tb is not None and "Traceback (most recent call last)" in tb.path.read_text()
    assert r.artifact("model") is None

    # a worker killed with SIGKILL (what the OOM killer does) -> failed with that reason
    victim = manager.submit(digits_config(epochs=60), name="killed")
    pid = wait_for(lambda: store.get_run(victim).pid, timeout=30, what="the victim's worker pid")
    os.kill(pid, signal.SIGKILL)
    r = wait_status(store, victim, "failed", timeout=30)
    assert r.error.startswith("training process was killed by signal SIGKILL (possibly out of memory)")
    assert r.finished_at is not None and r.artifact("log") is not None


# ------------------------------------------------------------------ without training processes
def _set_started_at(store, rid, when):
    import sqlalchemy as sa

    from core.store import schema as S

    with store.engine.begin() as conn:
        conn.execute(sa.update(S.runs).where(S.runs.c.id == rid).values(started_at=when, heartbeat_at=when))


def test_restart_marks_orphaned_running_runs_interrupted(store):
    from datetime import datetime, timedelta

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    r1 = store.create_run(digits_config().to_dict(), name="worker gone", kind="train")
    assert store.claim_run(r1, supervisor="dashboard@gone:1:x")
    store.set_worker(r1, pid=dead.pid, host=HOST)
    r2 = store.create_run(digits_config().to_dict(), name="pid reused by a later program")
    assert store.claim_run(r2)
    store.set_worker(r2, pid=os.getpid(), host=HOST)  # alive, not a worker of r2, started after r2
    _set_started_at(store, r2, datetime.now(UTC) - timedelta(days=30))
    r3 = store.create_run(digits_config().to_dict(), name="claimed, never started")
    assert store.claim_run(r3, supervisor="dashboard@gone:1:x")  # by a supervisor that is gone
    r4 = store.create_run(digits_config().to_dict(), name="still queued")
    r5 = store.create_run(digits_config().to_dict(), name="recorded by a live process (python -m core train)")
    assert store.claim_run(r5, pid=os.getpid())  # this process started before r5: it is its recorder
    r6 = store.create_run(digits_config().to_dict(), name="recorded without a pid, reporting",
                          status="running")
    r7 = store.create_run(digits_config().to_dict(), name="recorded without a pid, silent for long",
                          status="running")
    _set_started_at(store, r7, datetime.now(UTC) - timedelta(hours=2))

    jm = JobManager(store, store.models_dir, poll_interval=0.2)
    rep = jm.recover()
    assert sorted(rep.interrupted) == [r1, r2, r3, r7] and rep.adopted == [] and rep.queued == 1
    assert sorted(rep.left_alone) == [r5, r6]
    for rid in (r1, r2, r3, r7):
        r = store.get_run(rid)
        assert r.status == "interrupted" and r.error.startswith("interrupted: the lab stopped") and r.finished_at
    assert f"pid {dead.pid}" in store.get_run(r1).error
    assert "never started" in store.get_run(r3).error
    assert store.get_run(r4).status == "queued"
    assert store.get_run(r5).status == store.get_run(r6).status == "running"


def test_many_concurrent_submits_are_all_queued(store):
    jm = JobManager(store, store.models_dir)  # not started: nothing runs, we count the queue
    ids: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(t):
        try:
            for i in range(5):
                rid = jm.submit(digits_config(seed=t * 10 + i), name=f"t{t} #{i}")
                with lock:
                    ids.append(rid)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(ids) == 40 and len(set(ids)) == 40
    runs, total = store.list_runs(status="queued", limit=None)
    assert total == 40 and {r.id for r in runs} == set(ids)
    assert store.queued_ids(kinds=list(JOB_KINDS), limit=100) == sorted(ids)  # submission order


def test_invalid_config_is_refused_and_nothing_queued(store):
    jm = JobManager(store, store.models_dir)
    with pytest.raises(ValidationError, match="optimizer"):
        jm.submit({"dataset": {"name": "digits", "params": {}}, "optimizer": "adamw"})
    with pytest.raises(ValidationError, match="Unknown training configuration key"):
        jm.submit({"dataset": {"name": "digits", "params": {}}, "epochz": 3})
    with pytest.raises(ValidationError, match="must be a TrainConfig or a dict|needs a TrainConfig or a dict"):
        jm.submit("digits")
    assert store.list_runs()[1] == 0
    with pytest.raises(NotFoundError, match="Run 12345 does not exist"):
        jm.cancel(12345)


def test_search_parent_follows_its_trials(store):
    jm = JobManager(store, store.models_dir)
    base = digits_config(monitor="val_loss")
    trials = [digits_config(learning_rate=lr) for lr in (1e-3, 3e-3, 1e-2)]
    parent = jm.submit_search(base, trials, name="lr search")
    p = store.get_run(parent)
    assert p.kind == "search" and p.status == "queued" and len(p.children) == 3
    kids = p.children
    assert all(store.get_run(k).parent_id == parent for k in kids)
    assert store.list_runs(parent_id=None)[1] == 1  # trials are hidden from the top level

    # the outcomes a worker writes, trial by trial
    for rid, (status, val_loss) in zip(kids, [("succeeded", 0.40), ("succeeded", 0.25), ("failed", None)]):
        assert store.claim_run(rid)
        if val_loss is not None:
            store.log_summary(rid, {"best_val_loss": val_loss, "accuracy": 1 - val_loss})
        store.set_status(rid, status, None if status == "succeeded" else "boom")
        jm.recover()
        p = store.get_run(parent)
        assert p.status in ("running", "succeeded")
    p = store.get_run(parent)
    assert p.status == "succeeded" and p.progress == 1.0
    assert p.summary["best_run_id"] == kids[1] and p.summary["best_val_loss"] == 0.25
    assert p.summary["trials"] == 3 and p.summary["trials_succeeded"] == 2

    # cancelling a search cancels its unfinished trials and the search itself
    p2 = jm.submit_search(base, trials[:2], name="cancelled search")
    assert jm.cancel(p2) == "cancelled"
    assert {store.get_run(k).status for k in store.get_run(p2).children} == {"cancelled"}
    assert store.get_run(p2).status == "cancelled"


def test_group_is_never_a_job_and_follows_its_runs(store):
    """A run of kind ``group`` (a recipe's, core.recipes) is never claimed nor counted as a job;
    its status follows its runs: queued, running, then succeeded only when all succeeded."""
    from core.jobs.kinds import PARENT_KINDS
    from core.jobs.status import job_snapshot
    from core.training.search import group_status, update_parents

    jm = JobManager(store, store.models_dir)
    assert "group" in PARENT_KINDS and "group" not in JOB_KINDS
    with pytest.raises(ValidationError, match="'kind' parameter must be one of"):
        jm.submit(digits_config(), kind="group")

    def group_of(n: int) -> tuple[int, list[int]]:
        g = store.create_run({}, name=f"group of {n}", kind="group")
        return g, [jm.submit(digits_config(seed=i), parent_id=g) for i in range(n)]

    def finish(rid, status):
        assert store.claim_run(rid)
        store.set_status(rid, status, None if status == "succeeded" else "boom")

    g, kids = group_of(3)
    assert store.queued_ids(kinds=JOB_KINDS) == kids  # what the supervisor starts: never the group
    assert sorted(r.id for r in store.list_runs(status="queued", kind=list(JOB_KINDS), limit=None)[0]) == kids
    snap = job_snapshot(store)
    assert (snap.n_queued, snap.n_running) == (3, 0) and g in {r.id for r in snap.searches}
    assert update_parents(store) == [] and store.get_run(g).status == "queued"
    assert store.get_run(g).progress_info["message"] == "0/3 runs done"
    assert store.claim_run(kids[0])
    update_parents(store)
    r = store.get_run(g)
    assert r.status == "running" and r.progress_info["runs"] == {"running": 1, "queued": 2}
    assert job_snapshot(store).n_running == 1  # the run, not its group
    store.set_status(kids[0], "succeeded")
    finish(kids[1], "failed")
    update_parents(store)
    assert store.get_run(g).progress_info["message"] == "2/3 runs done"
    assert abs(store.get_run(g).progress - 2 / 3) < 1e-9
    finish(kids[2], "succeeded")
    assert update_parents(store) == [g]
    r = store.get_run(g)
    assert r.status == "failed" and r.error == "partly done: 2 of 3 runs succeeded (1 failed, 2 succeeded)"
    assert (r.summary["runs"], r.summary["runs_succeeded"], r.summary["runs_failed"]) == (3, 2, 1)
    assert update_parents(store) == []  # final: left alone

    g2, kids2 = group_of(2)
    for k in kids2:
        finish(k, "succeeded")
    assert update_parents(store) == [g2]
    assert (store.get_run(g2).status, store.get_run(g2).error, store.get_run(g2).progress) == ("succeeded", None, 1.0)

    g3, kids3 = group_of(2)  # cancelling a queued group cancels its runs and the group at once
    assert jm.cancel(g3) == "cancelled"
    assert {store.get_run(k).status for k in kids3} == {"cancelled"}

    g4, kids4 = group_of(2)  # a running group: its queued run at once, the group when its running run stopped
    assert store.claim_run(kids4[0])
    update_parents(store)
    assert jm.cancel(g4) == "running" and store.get_run(kids4[1]).status == "cancelled"
    assert store.get_run(kids4[0]).cancel_requested
    store.set_status(kids4[0], "cancelled")
    assert update_parents(store) == [g4]
    assert store.get_run(g4).status == "cancelled"

    class P:
        cancel_requested = False

    assert group_status(P(), {"succeeded": 1, "interrupted": 1})[0] == "interrupted"
    assert group_status(P(), {"cancelled": 2}) == ("cancelled", "0 of 2 runs succeeded (2 cancelled)")
    assert group_status(P(), {"failed": 1, "interrupted": 1})[0] == "failed"


def test_search_from_a_space_samples_distinct_trials(store):
    from core.training.search import SMALL_CNN_SPACE

    jm = JobManager(store, store.models_dir)
    parent = jm.submit_search(digits_config(), SMALL_CNN_SPACE, n_trials=3, seed=1, name="space search")
    p = store.get_run(parent)
    assert p.kind == "search" and len(p.children) == 3 and p.params["search.n_trials"] == "3"
    lrs = {store.get_run(k).config["learning_rate"] for k in p.children}
    assert len(lrs) == 3 and all(1e-4 <= lr <= 1e-2 for lr in lrs)
    with pytest.raises(ValidationError):
        jm.submit_search(digits_config(), {"learning_rate": {"type": "float", "low": 1.0, "high": 0.1}}, n_trials=2)
    assert store.list_runs(kind="search")[1] == 1  # the refused search left nothing behind


@pytest.mark.slow
def test_lr_find_job_through_the_worker_code(store, monkeypatch):
    """The lr_find path of the worker, run in this process (no extra TensorFlow start)."""
    from core.jobs import worker

    monkeypatch.setenv("LAB_DATABASE_URL", store.url)
    monkeypatch.setenv("LAB_MODELS_DIR", str(store.models_dir))
    jm = JobManager(store, store.models_dir)
    rid = jm.submit_lr_find(digits_config(batch_size=64), num_steps=30, end_lr=1.0)
    assert store.get_run(rid).kind == "lr_find" and store.get_run(rid).params["lr_find.num_steps"] == "30"
    before = {s: signal.getsignal(s) for s in (signal.SIGUSR1, signal.SIGTERM)}
    assert worker.run(rid) == 0
    assert {s: signal.getsignal(s) for s in before} == before  # handlers restored
    r = wait_status(store, rid, "succeeded", timeout=5)
    hist = store.get_metric_history(rid)
    assert 5 <= len(hist[hist.key == "lr"]) <= 30
    lrs = list(hist[hist.key == "lr"].value)
    assert lrs == sorted(lrs) and lrs[0] < 1e-5
    import json

    art = json.loads(r.artifact("lr_find").path.read_text())
    assert {"lrs", "losses", "smoothed", "suggested_lr", "end_state", "reason"} <= set(art) and len(art["lrs"]) == len(lrs)
    from core.training.lr_finder import LRFindResult

    assert LRFindResult.from_dict(art).end_state == art["end_state"]  # the page reads what the finder said


# ------------------------------------------------------------------ executors: local GPU pinning, Ray
@pytest.mark.slow
def test_local_gpu_pinning_runs_one_job_per_gpu_with_its_own_devices(store, monkeypatch):
    """LAB_GPUS=0,1 (overrides detection): GPU runs go two at a time, each worker sees only its
    own GPU (CUDA_VISIBLE_DEVICES in its environment, recorded by the worker itself); a third
    waits for a free GPU; a CPU-only run sees no GPU and uses the CPU slot."""
    monkeypatch.setenv("LAB_GPUS", "0,1")
    jm = JobManager(store, store.models_dir, max_concurrent=1, poll_interval=0.2, executor="local")
    assert jm.executor.gpus == ("0", "1")
    long = dict(epochs=60, dataset={"name": "digits", "params": {"max_per_class": 30}})
    try:
        jm.start()
        gpu_runs = [jm.submit(digits_config(gpus=1, **long), name=f"gpu {i}") for i in range(3)]
        cpu_run = jm.submit(digits_config(gpus=0, **long), name="cpu")

        def recorded(rid):
            r = store.get_run(rid)
            return r if "cuda_visible_devices" in r.placement else None

        started = [wait_for(lambda rid=rid: recorded(rid), timeout=60, what=f"run {rid}'s worker")
                   for rid in (gpu_runs[0], gpu_runs[1], cpu_run)]
        seen = sorted(r.placement["cuda_visible_devices"] for r in started[:2])
        assert seen == ["0", "1"], [r.placement for r in started]
        assert [r.placement["gpus"] for r in started[:2]] == [r.placement["cuda_visible_devices"] for r in started[:2]]
        assert started[2].placement["cuda_visible_devices"] == ""  # CPU-only: no GPU visible
        assert store.get_run(gpu_runs[2]).status == "queued"  # both GPUs busy
        assert set(jm.active_runs()) == {gpu_runs[0], gpu_runs[1], cpu_run}
        for rid in (*gpu_runs, cpu_run):
            jm.cancel(rid)
        for rid in (*gpu_runs[:2], cpu_run):
            wait_status(store, rid, "cancelled", timeout=120)
    finally:
        jm.shutdown(timeout=20)
    from core.jobs.executors import placement_text

    assert placement_text(store.get_run(gpu_runs[0])).startswith("local · node ")
    assert "GPU " in placement_text(store.get_run(gpu_runs[0]))
    assert store.get_run(gpu_runs[2]).status == "cancelled"


@pytest.mark.slow
def test_search_trials_fan_out_bounded_by_the_search_concurrency(store):
    """Trials are separate runs: with room for 3 at once and a search concurrency of 2, two
    trials run together and the third waits in the queue."""
    jm = JobManager(store, store.models_dir, max_concurrent=3, poll_interval=0.2, executor="local")
    long = dict(epochs=60, dataset={"name": "digits", "params": {"max_per_class": 30}})
    trials = [digits_config(seed=i, **long) for i in range(3)]
    try:
        jm.start()
        parent = jm.submit_search(digits_config(**long), trials, concurrency=2, name="fan out")
        kids = store.get_run(parent).children
        assert store.get_run(parent).params["search.concurrency"] == "2"
        wait_for(lambda: sum(store.get_run(k).pid is not None for k in kids) == 2, timeout=60,
                 what="two trials to start")
        jm._tick()  # one more pass over the queue, now: the third trial still waits
        assert [store.get_run(k).status for k in kids].count("queued") == 1
        assert jm.cancel(parent) in ("running", "queued")
        wait_status(store, parent, "cancelled", timeout=120)
    finally:
        jm.shutdown(timeout=20)


def test_ray_chosen_without_ray_installed_says_what_to_install(store, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray.job_submission", None)  # import fails as when ray is missing
    jm = JobManager(store, store.models_dir, executor="ray")
    assert jm.executor is None
    assert "pip install -r requirements-ray.txt" in jm.executor_problem
    assert "ray[default]" in jm.executor_problem
    rid = jm.submit(digits_config(), name="stays queued")
    jm.start()
    try:
        jm._tick()  # a pass over the queue: nothing can start
        assert store.get_run(rid).status == "queued"
    finally:
        jm.shutdown(timeout=5)
