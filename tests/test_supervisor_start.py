"""The dashboard's job supervisor starts with the server (``scripts/serve.py``), not with the first
browser session: after a restart, runs queued while the server was down are trained without any
page being opened (no HTTP request reaches the app in this test)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.jobs.manager import JobManager
from core.store import Store
from lab_pages_support import PROJECT_ROOT, free_port, lab_environ, wait_for


def _serve(root: Path, env: dict) -> subprocess.Popen:
    log = open(root / "server.log", "ab")  # noqa: SIM115 - closed with the process below
    port = free_port()
    proc = subprocess.Popen([sys.executable, "scripts/serve.py", "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1"],
                            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    proc.log_file = log  # type: ignore[attr-defined]
    return proc


def _serving(proc: subprocess.Popen, log: Path) -> bool:
    """Streamlit says it serves (its log: no HTTP request, no session), so SIGTERM stops it cleanly."""
    return proc.poll() is not None or "You can now view" in log.read_text(errors="replace")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    proc.log_file.close()  # type: ignore[attr-defined]


def _dashboard_supervisor(store: Store, pid: int):
    return [sv for sv in store.list_supervisors(alive_within_s=30.0) if sv.kind == "dashboard" and sv.pid == pid]


@pytest.mark.slow
def test_queued_run_starts_after_a_server_restart_without_a_page_view(tmp_path):
    from core.training.config import TrainConfig

    env = {**os.environ, **lab_environ(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "2", "LAB_DASHBOARD_SUPERVISOR": "1"}
    store = Store(env["LAB_DATABASE_URL"], models_dir=env["LAB_MODELS_DIR"])
    log = tmp_path / "server.log"
    procs = []
    try:
        first = _serve(tmp_path, env)
        procs.append(first)
        wait_for(lambda: first.poll() is not None or _dashboard_supervisor(store, first.pid), timeout=60,
                 interval=0.2, what="the first server's supervisor lease")
        assert first.poll() is None, log.read_text()[-2000:]
        wait_for(lambda: _serving(first, log), timeout=60, interval=0.2, what="the first server to serve")
        _stop(first)
        assert first.returncode == 0, log.read_text()[-2000:]

        cfg = TrainConfig(dataset={"name": "digits", "params": {}}, model="small_cnn", epochs=1, batch_size=64, seed=0)
        rid = JobManager(store, store.models_dir).submit(cfg, name="queued while the server was down")
        assert store.get_run(rid).status == "queued"

        t0 = time.monotonic()
        second = _serve(tmp_path, env)
        procs.append(second)
        wait_for(lambda: second.poll() is not None or _dashboard_supervisor(store, second.pid), timeout=60,
                 interval=0.2, what="the restarted server's supervisor lease (no page was opened)")
        assert second.poll() is None, log.read_text()[-2000:]
        left_queue = wait_for(lambda: store.get_run(rid).status != "queued", timeout=30, interval=0.2,
                              what="the queued run to be claimed")
        assert left_queue
        run = wait_for(lambda: (r := store.get_run(rid)).status in ("succeeded", "failed", "interrupted",
                                                                     "cancelled") and r,
                       timeout=240, interval=0.5, what="the run to end")
        assert run.status == "succeeded", (run.error, log.read_text()[-2000:])
        assert run.supervisor_id and run.supervisor_id.startswith("dashboard@")
        assert run.summary.get("epochs_run") == 1
        print(f"run {rid} claimed and trained {time.monotonic() - t0:.1f} s after the restart, no page view")
    finally:
        for p in procs:
            if p.poll() is None:
                _stop(p)
        store.close()
