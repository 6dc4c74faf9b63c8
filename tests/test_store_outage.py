"""A worker rides out a short outage of its PostgreSQL store, and names the store when it cannot.

Real PostgreSQL stopped and started (``pg_ctl stop -m fast``) under a real worker process training
digits: a private throw-away server in a temp folder on a free port (the shared server is never
touched), skipped when the PostgreSQL binaries are missing."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from core.jobs.manager import JobManager
from core.store import Store
from core.store.artifacts import RunFolder
from core.store.retry import (
    OutageTolerantStore,
    StoreUnreachable,
    connection_error,
    outage_reason,
    retry_seconds,
)
from core.validation import NotFoundError, ValidationError
from lab_pages_support import PROJECT_ROOT, free_port, wait_for


class PrivatePostgres:
    """``initdb`` into a temp folder and ``pg_ctl`` on a free loopback port (as user postgres when root)."""

    def __init__(self, bin_dir: Path):
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="lab_pg_outage_"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.root, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-U", "lab", "--auth=trust", "-E", "UTF8", "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://lab@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self.as_user, str(self.bin / tool), *args], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, f"{tool} failed: {done.stdout[-1500:]}{done.stderr[-1500:]}"

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off")
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.root / "server.log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def private_pg():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl under /usr/lib/postgresql/*/bin) are not installed")
    if os.geteuid() == 0 and not shutil.which("runuser"):
        pytest.skip("running as root without runuser: initdb cannot be run as another user")
    pg = PrivatePostgres(Path(found[-1]).parent)
    try:
        pg.start()
        yield pg
    finally:
        pg.remove()


@pytest.fixture()
def outage_store(private_pg, tmp_path):
    store = Store(private_pg.url, models_dir=tmp_path / "models")
    yield store
    store.close()


def _queue(store: Store, **over) -> int:
    from core.training.config import TrainConfig

    cfg = dict(dataset={"name": "digits", "params": {}}, model="small_cnn", epochs=4, batch_size=16,
               input_size=[32, 32], seed=0)
    cfg.update(over)
    return JobManager(store, store.models_dir).submit(TrainConfig(**cfg), name="through a store outage")


def _worker(store: Store, rid: int, retry_s: float, log: Path) -> subprocess.Popen:
    env = {**os.environ, "LAB_DATABASE_URL": store.full_url, "LAB_MODELS_DIR": str(store.models_dir),
           "LAB_STORE_RETRY_SECONDS": str(retry_s), "TF_CPP_MIN_LOG_LEVEL": "2"}
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "core.worker", str(rid)], cwd=PROJECT_ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)


def _training(store: Store, rid: int, proc: subprocess.Popen, log: Path):
    """The worker is past its first batches (its progress in the store), or has ended."""
    if proc.poll() is not None:
        raise AssertionError(f"the worker ended early ({proc.returncode}): {log.read_text()[-3000:]}")
    info = store.get_run(rid).progress_info or {}
    return info.get("batch") and info.get("epoch", 0) >= 1


@pytest.mark.slow
def test_worker_waits_out_a_short_store_outage(private_pg, outage_store, tmp_path):
    store = outage_store
    rid = _queue(store, epochs=2)
    log = tmp_path / "worker.log"
    proc = _worker(store, rid, 60, log)
    try:
        wait_for(lambda: _training(store, rid, proc, log), timeout=90, interval=0.2, what="the worker to train")
        private_pg.stop("fast")
        try:
            # the epoch ends during the outage: its metrics wait for the store (progress is dropped)
            wait_for(lambda: proc.poll() is not None or "log_metrics waits for the run store" in log.read_text(
                errors="replace"), timeout=60, interval=0.1, what="the worker to wait for the store at an epoch's end")
            assert proc.poll() is None, f"the worker gave up: {log.read_text()[-3000:]}"
        finally:
            private_pg.start()
        assert proc.wait(timeout=120) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    run = store.get_run(rid)
    text = log.read_text(errors="replace")
    assert run.status == "succeeded", (run.error, text[-3000:])
    assert "run store is reachable again" in text
    assert run.summary["epochs_run"] == 2 and 0.0 <= run.summary["accuracy"] <= 1.0
    history = store.get_metric_history(rid)
    assert sorted(set(history[history.key == "val_loss"].step)) == [1, 2]  # every epoch's metrics kept
    assert any(a.kind == "model" for a in run.artifacts)


@pytest.mark.slow
def test_a_store_that_stays_away_is_named_as_the_reason(private_pg, outage_store, tmp_path):
    store = outage_store
    rid = _queue(store, epochs=30)
    log = tmp_path / "worker.log"
    proc = _worker(store, rid, 2, log)
    try:
        wait_for(lambda: _training(store, rid, proc, log), timeout=90, interval=0.2, what="the worker to train")
        private_pg.stop("fast")
        try:
            assert proc.wait(timeout=60) == 3, log.read_text()[-3000:]  # gave up: the store could not be written
        finally:
            private_pg.start()
    finally:
        if proc.poll() is None:
            proc.kill()
    note = RunFolder(store.run_dir(rid)).read_json("store_outage")
    assert note and note["seconds"] >= 2, log.read_text()[-3000:]
    JobManager(store, store.models_dir).recover()  # what a supervisor does once the store is back
    run = store.get_run(rid)
    assert run.status == "interrupted"
    assert "the run store was unreachable for" in run.error and "OperationalError" in run.error, run.error
    assert "the lab stopped" not in run.error


def test_only_connection_errors_are_retried(tmp_path):
    import sqlalchemy as sa

    store = OutageTolerantStore(Store(f"sqlite:///{tmp_path / 'runs.db'}", models_dir=tmp_path),
                                retry_s=30, sleep=lambda s: pytest.fail("a data error was retried"))
    with pytest.raises(NotFoundError):
        store.get_run(12345)
    with pytest.raises(ValidationError):
        store.log_metrics(1, {"loss": 1.0}, step="one")
    store.close()
    locked = sa.exc.OperationalError("UPDATE runs", {}, __import__("sqlite3").OperationalError("database is locked"))
    no_table = sa.exc.OperationalError("SELECT", {}, __import__("sqlite3").OperationalError("no such table: runs"))
    assert connection_error(locked) is locked and connection_error(no_table) is None
    assert str(StoreUnreachable(12.4, "OperationalError: refused")) == \
        "the run store was unreachable for 12 s: OperationalError: refused"
    assert "unreachable for 5 s: E: x" in outage_reason({"seconds": 5, "error": "E: x"})
    assert retry_seconds({}) == 60.0 and retry_seconds({"LAB_STORE_RETRY_SECONDS": "2.5"}) == 2.5
    with pytest.raises(ValidationError, match="LAB_STORE_RETRY_SECONDS must be a number of seconds"):
        retry_seconds({"LAB_STORE_RETRY_SECONDS": "soon"})
