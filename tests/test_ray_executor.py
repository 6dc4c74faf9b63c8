"""The ``ray`` executor with a real local Ray cluster.

One module-scoped cluster on 127.0.0.1, started with ``ray start`` (a head, plus a second node
when the PostgreSQL store is configured: LAB_TEST_POSTGRES_URL; with SQLite the cluster has one
node, the only safe set-up for a SQLite store). Real workers train tiny digits runs through the
``JobManager`` with ``executor="ray"``; the store is PostgreSQL or SQLite. The teardown stops
the cluster with ``ray stop --force`` and checks that no Ray process is left.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from core.jobs.manager import JobManager
from core.store import Store
from core.validation import ValidationError
from jobs_support import TERMINAL, wait_for, wait_status
from ray_support import LONG, RAY, TINY, free_port, ray_cli, ray_processes

pytest.importorskip("ray.job_submission", reason="ray is not installed (pip install -r requirements-ray.txt)")

from core.jobs.executors.ray_jobs import RayExecutor  # noqa: E402 - after the skip: needs ray

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster_store_url():
    """The store the cluster's workers write to, for the module: PostgreSQL when a server is
    configured (the two-node cluster), else a SQLite file (one node)."""
    if os.environ.get("LAB_TEST_POSTGRES_URL"):
        from store_support import fresh_postgres_database

        with fresh_postgres_database() as url:
            yield url
    else:
        d = tempfile.mkdtemp(prefix="lab-ray-store-")
        yield f"sqlite:///{d}/runs.db"
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(cluster_store_url, shared_datasets):
    """A local Ray cluster: two nodes with 1 CPU each (PostgreSQL store), else one node with 2 CPUs."""
    if ray_processes():
        pytest.skip("a Ray cluster is already running on this machine; these tests start (and stop) their own")
    two_nodes = not cluster_store_url.startswith("sqlite")
    temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths have a length limit
    port, dash = free_port(), free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "LAB_SHARED_DATASETS": str(shared_datasets)}
    t0 = time.monotonic()
    try:
        ray_cli("start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--dashboard-host=127.0.0.1",
                f"--dashboard-port={dash}", f"--num-cpus={1 if two_nodes else 2}", "--num-gpus=0",
                f"--dashboard-agent-listen-port={free_port()}", "--disable-usage-stats", f"--temp-dir={temp}",
                "--include-dashboard=true", env=env)
        if two_nodes:
            ray_cli("start", f"--address=127.0.0.1:{port}", "--node-ip-address=127.0.0.1", "--num-cpus=1",
                    "--num-gpus=0", f"--dashboard-agent-listen-port={free_port()}", "--disable-usage-stats", env=env)
        address = f"http://127.0.0.1:{dash}"
        ex = RayExecutor(address=address)
        wait_for(lambda: _alive_nodes(ex) == (2 if two_nodes else 1), timeout=60, what="the Ray nodes to be alive")
        print(f"Ray cluster ({2 if two_nodes else 1} node(s)) up in {time.monotonic() - t0:.1f} s")
        yield {"address": address, "nodes": 2 if two_nodes else 1}
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)
        wait_for(lambda: not ray_processes(), timeout=30, what="every raylet and gcs_server process to end")
        shutil.rmtree(temp, ignore_errors=True)  # the session's logs and sockets


def _alive_nodes(ex: RayExecutor) -> int:
    from core.jobs.executors import ExecutorError

    try:
        return len(ex.nodes())
    except ExecutorError:
        return 0


@pytest.fixture()
def cluster_store(cluster_store_url, tmp_path):
    """The cluster's store, opened for one test (run folders under the test's folder)."""
    s = Store(cluster_store_url, models_dir=tmp_path / "models")
    yield s
    s.close()


def _manager(store, cluster, **kw) -> JobManager:
    ex = RayExecutor(store=store, models_dir=store.models_dir, address=cluster["address"], check_every_s=1.0)
    return JobManager(store, store.models_dir, poll_interval=0.2, executor=ex, **kw)


def _pid_recorded(store, rid):
    r = store.get_run(rid)
    return r if r.status == "running" and r.pid and r.placement.get("pid") else None


# ------------------------------------------------------------------ runs on the cluster
def test_runs_succeed_on_the_cluster_with_metrics_a_model_and_their_node(cluster, cluster_store):
    """Two tiny digits runs at once: both succeed with metrics and a model; with two 1-CPU
    nodes they cannot share a node, so each ran on its own."""
    jm = _manager(cluster_store, cluster, max_concurrent=2).start()
    try:
        ids = [jm.submit(dict(TINY, seed=i), name=f"ray {i}") for i in range(2)]
        for rid in ids:
            wait_status(cluster_store, rid, "succeeded", timeout=150)
        # the supervisor then collects the Ray job: its log is kept with the run
        runs = [wait_for(lambda rid=rid: (lambda r: r if r.artifact("log") else None)(cluster_store.get_run(rid)),
                         timeout=30, what=f"the log of run {rid}") for rid in ids]
    finally:
        jm.shutdown(timeout=20)
    nodes = set()
    for r in runs:
        assert r.executor == "ray"
        assert r.placement["submission_id"].endswith(f"-run-{r.id}")
        nodes.add(r.placement["node_id"])
        assert r.artifact("model") is not None and r.artifact("model").exists
        assert "core.worker" in r.artifact("log").path.read_text()  # Ray's log of the job
        assert "accuracy" in r.summary and cluster_store.get_metric_history(r.id).shape[0] > 0
    assert len(nodes) == cluster["nodes"], f"runs landed on {nodes}"


def test_killed_worker_ends_failed_with_rays_status_and_the_log_tail(cluster, cluster_store):
    jm = _manager(cluster_store, cluster).start()
    try:
        rid = jm.submit(LONG, name="killed")
        r = wait_for(lambda: _pid_recorded(cluster_store, rid), timeout=60, what="the worker to record its pid")
        os.kill(r.pid, signal.SIGKILL)  # the same machine: the node's worker process
        r = wait_for(lambda: (lambda d: d if d.status in TERMINAL else None)(cluster_store.get_run(rid)), timeout=60,
                     what="the killed run to end")
    finally:
        jm.shutdown(timeout=20)
    assert r.status == "failed", r.error
    assert "Ray job" in r.error and "FAILED" in r.error, r.error
    assert "Last lines of worker.log" in r.error, r.error
    assert r.artifact("log") is not None


def test_restarted_supervisor_reattaches_then_cancels(cluster, cluster_store):
    """A supervisor stops leaving its run going; the next one re-attaches to the Ray job by its
    submission id, and cancelling through it stops the run (store flag first)."""
    jm1 = _manager(cluster_store, cluster).start()
    rid = jm1.submit(LONG, name="long")
    wait_for(lambda: _pid_recorded(cluster_store, rid), timeout=60, what="the worker to start")
    jm1.shutdown(stop_running=False)
    jm2 = _manager(cluster_store, cluster, cancel_grace_s=20)
    try:
        jm2.start()
        assert rid in jm2.last_recovery.adopted, jm2.last_recovery
        assert cluster_store.get_run(rid).supervisor_id == jm2.supervisor_id
        assert jm2.cancel(rid) == "running"
        r = wait_status(cluster_store, rid, "cancelled", timeout=90)
    finally:
        jm2.shutdown(timeout=20)
    assert r.cancel_requested


def test_a_job_the_cluster_no_longer_knows_ends_interrupted(cluster, cluster_store):
    """What a cluster restart leaves: a run `running` on Ray whose job id the cluster does not
    know (and whose supervisor is gone) ends interrupted on recovery."""
    rid = cluster_store.create_run(TINY, name="lost", dataset="digits", model="small_cnn")
    assert cluster_store.claim_run(rid, supervisor="dashboard@gone:1:deadbeef", executor="ray")
    cluster_store.set_placement(rid, executor="ray", submission_id=f"lab-nosuch-run-{rid}")
    jm = _manager(cluster_store, cluster)
    try:
        rep = jm.recover()
    finally:
        cluster_store.remove_supervisor(jm.supervisor_id)
    assert rid in rep.interrupted
    r = cluster_store.get_run(rid)
    assert r.status == "interrupted" and "no longer knows" in r.error, r.error


def test_cluster_summary_lists_nodes_and_resources(cluster, cluster_store):
    ex = RayExecutor(store=cluster_store, models_dir=cluster_store.models_dir, address=cluster["address"])
    summary = ex.cluster_summary()
    assert len(summary["nodes"]) == cluster["nodes"]
    assert sum(n["cpus"] for n in summary["nodes"]) == 2
    assert all(n["cpus_free"] <= n["cpus"] for n in summary["nodes"])


def test_sqlite_store_with_a_multi_node_cluster_is_refused(cluster, store):
    if cluster["nodes"] < 2:
        pytest.skip("needs the two-node cluster (PostgreSQL store: LAB_TEST_POSTGRES_URL)")
    jm = _manager(store, cluster).start()
    try:
        rid = jm.submit(TINY)
        wait_for(lambda: jm.executor_problem, timeout=30, what="the executor to refuse the set-up")
        assert "SQLite" in jm.executor_problem and "PostgreSQL" in jm.executor_problem, jm.executor_problem
        assert store.get_run(rid).status == "queued"
    finally:
        jm.shutdown(timeout=10)


def test_pages_show_the_executor_the_cluster_and_where_a_run_ran(cluster, cluster_store, monkeypatch):
    """The sidebar names the executor, the Train page's Jobs tab has the cluster panel, and a
    run's page says where it ran (a run recorded as the Ray executor records one)."""
    from streamlit.testing.v1 import AppTest

    from lab_pages_support import APP, app_at, page_texts, problems
    from pages import _resources

    for k, v in {"LAB_DATABASE_URL": cluster_store.full_url, "LAB_MODELS_DIR": str(cluster_store.models_dir),
                 "LAB_EXECUTOR": "ray", "LAB_RAY_ADDRESS": cluster["address"], "LAB_DASHBOARD_SUPERVISOR": "0"}.items():
        monkeypatch.setenv(k, v)
    node = next(iter(RayExecutor(address=cluster["address"]).nodes().values()))
    rid = cluster_store.create_run(TINY, name="ran on ray", dataset="digits", model="small_cnn")
    assert cluster_store.claim_run(rid, supervisor="dashboard@elsewhere:1:cafe", executor="ray")
    cluster_store.set_placement(rid, executor="ray", submission_id=f"lab-x-run-{rid}", node_id=node["node_id"], node=node["ip"])
    cluster_store.set_status(rid, "succeeded")
    try:
        at = AppTest.from_file(APP, default_timeout=120).run()  # Home, with the shared sidebar
        captions = [c.value.replace("\u2060", "") for c in at.sidebar.caption]  # md_text's word joiners
        assert f"Executor: ray ({cluster['address']})" in captions, captions
        at = app_at("runs", {"run": str(rid)})
        assert problems(at) == []
        assert f"Ran on: ray · node {node['ip']} ({node['node_id'][:8]})" in page_texts(at).replace("\u2060", "")
        at = app_at("train")
        assert problems(at) == []
        assert "Ray cluster" not in [e.label for e in at.expander]  # the Jobs tab is drawn when opened
        at.session_state["train_tab"] = "Jobs"
        at.run()
        assert problems(at) == []
        assert "Ray cluster" in [e.label for e in at.expander]
        panel = next(d.value for d in at.dataframe if "CPUs free" in d.value.columns)
        assert len(panel) == cluster["nodes"]
    finally:
        _resources.shutdown_job_managers()


# ------------------------------------------------------------------ no cluster needed
def test_unreachable_cluster_gives_the_message_and_keeps_runs_queued(store):
    address = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    ex = RayExecutor(store=store, models_dir=store.models_dir, address=address, check_every_s=0.5)
    jm = JobManager(store, store.models_dir, poll_interval=0.2, executor=ex).start()
    try:
        rid = jm.submit(TINY)
        wait_for(lambda: jm.executor_problem, timeout=30, what="the unreachable cluster to be reported")
        assert f"Cannot reach the Ray cluster at {address}" in jm.executor_problem
        assert "queued runs stay queued" in jm.executor_problem
        assert store.get_run(rid).status == "queued"
        assert address in jm.describe()
    finally:
        jm.shutdown(timeout=10)


def test_choosing_ray_by_environment(monkeypatch, store):
    monkeypatch.setenv("LAB_EXECUTOR", "ray")
    monkeypatch.setenv("LAB_RAY_ADDRESS", "127.0.0.1:1")
    jm = JobManager(store, store.models_dir)
    assert jm.executor.name == "ray" and jm.executor.address == "http://127.0.0.1:1"
    assert jm.max_concurrent == 8
    assert jm.executor.cpus_per_run == 1.0
    monkeypatch.setenv("LAB_MAX_CONCURRENT", "3")
    monkeypatch.setenv("LAB_RAY_CPUS_PER_RUN", "2")
    jm = JobManager(store, store.models_dir)
    assert jm.max_concurrent == 3 and jm.executor.cpus_per_run == 2.0
    monkeypatch.setenv("LAB_MAX_CONCURRENT", "many")
    with pytest.raises(ValidationError, match="LAB_MAX_CONCURRENT must be a whole number"):
        JobManager(store, store.models_dir)
    monkeypatch.delenv("LAB_MAX_CONCURRENT")
    monkeypatch.setenv("LAB_EXECUTOR", "slurm")
    jm = JobManager(store, store.models_dir)
    assert jm.executor is None and "LAB_EXECUTOR must be one of local, ray" in jm.executor_problem
