"""A Ray cluster that goes away: what the sidebar, the Runs list and ``jobs status`` say, and how
its runs end.

One real one-node Ray head on 127.0.0.1 (SQLite store: the one safe set-up for SQLite), started
with the venv's ``ray start`` as tests/test_ray_executor.py does, runs a long tiny digits run;
``ray stop --force`` then takes the cluster away under it. An address where nothing listens
stands for a cluster that is unreachable before anything was submitted.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from core.jobs.manager import JobManager
from core.store import Store
from jobs_support import wait_for, wait_status
from ray_support import LONG, RAY, free_port, ray_cli, ray_processes

pytest.importorskip("ray.job_submission", reason="ray is not installed (pip install -r requirements-ray.txt)")

from core.jobs.executors.ray_jobs import RayExecutor  # noqa: E402 - after the skip: needs ray

pytestmark = pytest.mark.slow


def _lab_env(store: Store, address: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "LAB_DATABASE_URL": store.full_url, "LAB_MODELS_DIR": str(store.models_dir),
            "LAB_EXECUTOR": "ray", "LAB_RAY_ADDRESS": address, **extra}


def _jobs_status(env: dict[str, str]) -> str:
    """What ``python -m core jobs status`` prints (the real CLI, in its own process)."""
    res = subprocess.run([sys.executable, "-m", "core", "jobs", "status"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


@pytest.fixture()
def head(shared_datasets):
    """A one-node Ray cluster (2 CPUs) for one test; stopped (``ray stop --force``) at the end
    if the test did not stop it itself."""
    if ray_processes():
        pytest.skip("a Ray cluster is already running on this machine; this test starts (and stops) its own")
    temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths have a length limit
    dash = free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "LAB_SHARED_DATASETS": str(shared_datasets)}
    t0 = time.monotonic()
    try:
        ray_cli("start", "--head", "--node-ip-address=127.0.0.1", f"--port={free_port()}", "--dashboard-host=127.0.0.1",
                f"--dashboard-port={dash}", "--num-cpus=2", "--num-gpus=0", f"--dashboard-agent-listen-port={free_port()}",
                "--disable-usage-stats", f"--temp-dir={temp}", "--include-dashboard=true", env=env)
        address = f"http://127.0.0.1:{dash}"
        probe = RayExecutor(address=address)
        wait_for(lambda: _alive(probe), timeout=60, what="the Ray head to be alive")
        print(f"Ray head up in {time.monotonic() - t0:.1f} s")
        yield {"address": address, "env": env}
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)
        wait_for(lambda: not ray_processes(), timeout=30, what="every raylet and gcs_server process to end")
        shutil.rmtree(temp, ignore_errors=True)


def _alive(ex: RayExecutor) -> bool:
    from core.jobs.executors import ExecutorError

    try:
        return bool(ex.nodes())
    except ExecutorError:
        return False


def _end_process(pid: int | None) -> None:
    """The run's worker, if it outlived its cluster (it is this test's own child of Ray)."""
    if not pid:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def test_a_stopped_cluster_makes_its_run_unknown_then_interrupted(head, tmp_path, monkeypatch):
    from core.jobs import status as job_status
    from core.jobs.status import job_snapshot, progress_text

    monkeypatch.setenv("LAB_RAY_GRACE_SECONDS", "600")  # long at first: the unknown state is looked at
    store = Store(f"sqlite:///{tmp_path / 'runs.db'}", models_dir=tmp_path / "models")
    ex = RayExecutor(store=store, models_dir=store.models_dir, address=head["address"], check_every_s=1.0)
    jm = JobManager(store, store.models_dir, poll_interval=0.2, executor=ex).start()
    pid = None
    try:
        rid = jm.submit(LONG, name="on a cluster that goes away")
        r = wait_for(lambda: (lambda d: d if d.status == "running" and d.pid and d.placement.get("node_id") else None)(
            store.get_run(rid)), timeout=90, what="the run to be running on the cluster")
        pid = r.pid
        assert "unreachable" not in progress_text(r)
        stopping = time.monotonic()
        subprocess.run([RAY, "stop", "--force"], env=head["env"], capture_output=True, timeout=120)
        stopped = time.monotonic()

        def unknown():
            snap = job_snapshot(store)
            run = next((x for x in snap.running if x.id == rid), None)
            return (snap, run) if run is not None and "state unknown" in progress_text(run) else None

        snap, run = wait_for(unknown, timeout=45, what="the run's state to be reported unknown")
        seen_after = time.monotonic() - stopped
        assert progress_text(run).startswith("cluster unreachable since "), progress_text(run)
        assert ex.grace_s == 600
        assert "state unknown" in job_status.status_text(run)  # the Runs list's status column
        notes = snap.cluster_messages()
        assert len(notes) == 1 and head["address"] in notes[0] and f"#{rid}" in notes[0], notes
        out = _jobs_status(_lab_env(store, head["address"]))
        assert f"running #{rid}" in out and "cluster unreachable since" in out and "state unknown" in out, out
        assert f"The Ray cluster at {head['address']} has been unreachable since" in out, out
        print(f"`ray stop --force` took {stopped - stopping:.1f} s; state unknown reported {seen_after:.1f} s after "
              f"it returned; jobs status agreed {time.monotonic() - stopped:.1f} s after it")

        ex.grace_s = 5.0  # a short grace from now on: the run ends interrupted, naming the cluster
        r = wait_status(store, rid, "interrupted", timeout=30)
    finally:
        jm.shutdown(timeout=5)
        print(f"the worker outlived its cluster: {pid is not None and os.path.exists(f'/proc/{pid}')}")
        _end_process(pid)
        store.close()
    assert f"the Ray cluster at {head['address']} was unreachable for" in r.error, r.error
    assert r.error.startswith("interrupted: ") and "Submit it again" in r.error, r.error
    print(f"interrupted {time.monotonic() - stopped:.1f} s after ray stop: {r.error}")


def test_an_unreachable_address_shows_in_the_sidebar_and_jobs_status(monkeypatch, tmp_path):
    """Nothing submitted yet, nothing listening at LAB_RAY_ADDRESS: the sidebar warns of it
    (whether or not this dashboard supervises the queue), and so does ``jobs status``."""
    from streamlit.testing.v1 import AppTest

    from lab_pages_support import APP
    from pages import _resources

    address = f"http://127.0.0.1:{free_port()}"
    store = Store(f"sqlite:///{tmp_path / 'runs.db'}", models_dir=tmp_path / "models")
    env = _lab_env(store, address)
    for k in ("LAB_DATABASE_URL", "LAB_MODELS_DIR", "LAB_EXECUTOR", "LAB_RAY_ADDRESS"):
        monkeypatch.setenv(k, env[k])
    try:
        for supervises in ("0", "1"):
            monkeypatch.setenv("LAB_DASHBOARD_SUPERVISOR", supervises)
            at = AppTest.from_file(APP, default_timeout=120).run()  # Home, with the shared sidebar
            warnings = [w.value for w in at.sidebar.warning]
            assert any(f"Cannot reach the Ray cluster at {address}" in w for w in warnings), (supervises, warnings)
            _resources.shutdown_job_managers()
    finally:
        _resources.shutdown_job_managers()
        store.close()
    out = _jobs_status(env)
    assert f"Cannot reach the Ray cluster at {address}" in out, out


def test_the_grace_period_setting_is_checked(monkeypatch):
    from core.jobs.executors import ExecutorError

    monkeypatch.setenv("LAB_RAY_GRACE_SECONDS", "soon")
    with pytest.raises(ExecutorError, match=r"LAB_RAY_GRACE_SECONDS must be a number of seconds from 1 to 86400\. "
                                            r"Got 'soon' instead\."):
        RayExecutor(address="127.0.0.1:1")
    monkeypatch.setenv("LAB_RAY_GRACE_SECONDS", "45")
    assert RayExecutor(address="127.0.0.1:1").grace_s == 45.0
    monkeypatch.delenv("LAB_RAY_GRACE_SECONDS")
    assert RayExecutor(address="127.0.0.1:1").grace_s == 180.0
