"""Job supervision across restarts, and one job status on every page.

Real components throughout: SQLite (and PostgreSQL where LAB_TEST_POSTGRES_URL is set) stores,
real worker processes training on digits, `python -m core jobs serve` as a process, a real
`streamlit run app.py` server restarted and viewed in headless Chromium, and AppTest pages.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from core.jobs.manager import JobManager
from core.jobs.status import job_snapshot
from core.store import HOST, Store
from lab_pages_support import lab_environ, wait_for

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
CHROMIUM = "/usr/bin/chromium"
SHORT = {"dataset": {"name": "digits", "params": {"max_per_class": 30}}, "model": "small_cnn",
         "epochs": 1, "batch_size": 64, "seed": 0}
LONG = {**SHORT, "dataset": {"name": "digits", "params": {"max_per_class": 100}}, "epochs": 200, "batch_size": 16}


def _queue(store: Store, cfg: dict, name: str) -> int:
    return store.create_run(cfg, name=name, dataset=cfg["dataset"]["name"], model=cfg["model"], seed=0)


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _left_running_by_a_dead_worker(store: Store) -> int:
    """A run whose dashboard stopped and whose worker then died: `running`, a gone pid, and
    the claim of a supervisor that no longer exists."""
    rid = _queue(store, SHORT, "worker died while the server was down")
    assert store.claim_run(rid, supervisor="dashboard@old-server:1:deadbeef")
    store.set_worker(rid, pid=_dead_pid(), host=HOST)
    return rid


def _status(store: Store, rid: int) -> str:
    return store.get_run(rid).status


def _env(root: Path, **extra) -> dict:
    return {**os.environ, **lab_environ(root), "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT), **extra}


# ---------------------------------------------------------------- the store: claims and snapshots
def test_two_supervisors_never_claim_the_same_run(store_url, tmp_path):
    """Two processes claim from one queue as fast as they can: every run is claimed exactly
    once, by the supervisor recorded on it (a compare-and-set on status, SQLite and PostgreSQL)."""
    store = Store(store_url, models_dir=tmp_path / "m")
    ids = [_queue(store, SHORT, f"q{i}") for i in range(60)]
    script = (
        "import json, sys\n"
        "from core.store import Store\n"
        "s = Store(sys.argv[1], models_dir=sys.argv[3])\n"
        "got = []\n"
        "while True:\n"
        "    q = s.queued_ids(kinds=[\"train\", \"lr_find\"], limit=10)\n"
        "    if not q: break\n"
        "    got += [r for r in q if s.claim_run(r, supervisor=sys.argv[2])]\n"
        "print(json.dumps(got))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, store_url, f"sup-{k}", str(tmp_path / "m")],
                              cwd=ROOT, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k in range(2)]
    claimed = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        claimed.append(json.loads(out))
    a, b = map(set, claimed)
    assert not (a & b), f"runs claimed twice: {sorted(a & b)}"
    assert a | b == set(ids)
    for k, got in enumerate(claimed):
        for rid in got:
            r = store.get_run(rid)
            assert r.status == "running" and r.supervisor_id == f"sup-{k}"
    store.close()


def test_snapshot_is_one_consistent_read(store_url, tmp_path):
    store = Store(store_url, models_dir=tmp_path / "m")
    other = Store(store_url, models_dir=tmp_path / "m")  # another process's connection
    a, b = _queue(store, SHORT, "a"), _queue(store, SHORT, "b")
    assert store.claim_run(a)
    with store.read_snapshot():
        before = store.list_runs(status="running")[1]
        other.set_status(a, "succeeded")  # committed by someone else meanwhile
        assert store.list_runs(status="running")[1] == before == 1  # the same instant throughout
    assert store.list_runs(status="running")[1] == 0
    snap = job_snapshot(store, recent=5)
    assert (snap.n_running, snap.n_queued, [r.id for r in snap.queued]) == (0, 1, [b])
    assert {r.id: r.status for r in snap.recent} == {a: "succeeded", b: "queued"}
    assert snap.waiting_unsupervised and "no job supervisor is alive" in snap.unsupervised_message()
    store.beat_supervisor("serve@elsewhere:7:abc", kind="serve", host="elsewhere", pid=7)
    snap = job_snapshot(store)
    assert snap.supervisors and not snap.waiting_unsupervised
    assert [s.id for s in snap.supervisors] == ["serve@elsewhere:7:abc"]
    other.close()
    store.close()


def test_recovery_leaves_a_live_supervisors_runs_alone(store):
    """A second supervisor starting on the same store must not interrupt (or adopt) a run that
    a live supervisor has just claimed; once that supervisor's lease ends, it recovers it."""
    a = JobManager(store, store.models_dir, kind="test", recover_every_s=3600)
    store.beat_supervisor(a.supervisor_id, kind="test")  # a's lease, as a.start() takes it
    rid = _queue(store, SHORT, "claimed by a, worker about to start")
    assert store.claim_run(rid, supervisor=a.supervisor_id)
    b = JobManager(store, store.models_dir, kind="test")
    rep = b.recover()
    assert rep.left_alone == [rid] and rep.interrupted == [] and _status(store, rid) == "running"
    a.shutdown()  # clean stop: its lease row is removed at once
    assert [s.id for s in store.list_supervisors()] == []
    rep = b.recover()
    assert rep.interrupted == [rid]
    assert "claimed but its worker process never started" in store.get_run(rid).error


# ---------------------------------------------------------------- pages (AppTest)
def test_first_page_view_recovers_and_supervises(lab_env):
    """A run left `running` by a worker that died while the server was down becomes
    `interrupted` on the first page view, and this process's supervisor holds a lease."""
    from streamlit.testing.v1 import AppTest

    from pages import _resources

    store = Store()
    rid = _left_running_by_a_dead_worker(store)
    try:
        at = AppTest.from_file(APP, default_timeout=120).run()
        assert not at.exception
        r = store.get_run(rid)
        assert r.status == "interrupted" and "is gone" in r.error
        sups = store.list_supervisors(alive_within_s=30)
        assert [s.kind for s in sups] == ["dashboard"] and sups[0].pid == os.getpid()
        assert "No jobs running." in [c.value for c in at.sidebar.caption]
        assert not at.sidebar.warning
    finally:
        _resources.shutdown_job_managers()
        store.close()


def test_sidebar_warns_when_queued_runs_have_no_supervisor(lab_env, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from pages import _resources

    monkeypatch.setenv("LAB_DASHBOARD_SUPERVISOR", "0")  # the dashboard leaves the queue to `jobs serve`
    store = Store()
    q = _queue(store, SHORT, "waits")
    try:
        at = AppTest.from_file(APP, default_timeout=120).run()
        assert not at.exception
        warn = " ".join(w.value for w in at.sidebar.warning)
        assert "1 queued run waiting: no job supervisor is alive" in warn
        assert "python -m core jobs serve" in warn
        assert _status(store, q) == "queued"
        store.beat_supervisor("serve@gpu-box:42:cafe", kind="serve", host="gpu-box", pid=42)
        at = AppTest.from_file(APP, default_timeout=120).run()  # a new session's page view
        assert not at.sidebar.warning
        captions = [c.value for c in at.sidebar.caption]
        assert any(c.startswith("Queue run by serve on gpu") for c in captions), captions
        assert any("1 queued" in m.value for m in at.sidebar.markdown)
    finally:
        _resources.shutdown_job_managers()
        store.close()


# ---------------------------------------------------------------- `python -m core jobs serve`
@pytest.mark.slow
def test_jobs_serve_runs_the_queue_without_a_browser_and_stops_on_sigterm(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'runs.db'}", models_dir=tmp_path / "trained_models")
    env = _env(tmp_path)
    q1 = _queue(store, SHORT, "short, queued before the supervisor exists")
    q2 = _queue(store, LONG, "long, will be running at SIGTERM")
    q3 = _queue(store, SHORT, "still queued at SIGTERM")
    log = open(tmp_path / "serve.log", "wb")
    serve = subprocess.Popen([sys.executable, "-m", "core", "jobs", "serve", "--grace", "60"], cwd=ROOT, env=env,
                             stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _status(store, q1) == "succeeded" or serve.poll() is not None, timeout=300,
                 what="`jobs serve` to train the queued run")
        assert serve.poll() is None, (tmp_path / "serve.log").read_text()
        r1 = store.get_run(q1)
        assert r1.status == "succeeded" and r1.summary.get("accuracy") is not None
        wait_for(lambda: (r := store.get_run(q2)).status == "running" and (r.progress or 0) > 0, timeout=300,
                 what="the long run to be training")
        sups = store.list_supervisors(alive_within_s=30)
        assert [s.kind for s in sups] == ["serve"] and sups[0].pid == serve.pid
        assert store.get_run(q2).supervisor_id == sups[0].id
        # another supervisor starting now must leave the live supervisor's run alone (no adopt)
        rep = JobManager(store, store.models_dir, kind="test").recover()
        assert rep.left_alone == [q2] and rep.adopted == [] and rep.interrupted == []
        status = subprocess.run([sys.executable, "-m", "core", "jobs", "status", "--json"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=120)
        assert status.returncode == 0, status.stderr
        st = json.loads(status.stdout)
        assert (st["n_running"], st["n_queued"], st["waiting_unsupervised"]) == (1, 1, False)
        assert [s["kind"] for s in st["supervisors"]] == ["serve"]

        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=120) == 0, (tmp_path / "serve.log").read_text()
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
        log.close()
    out = (tmp_path / "serve.log").read_text()
    assert "SIGTERM received: stopping 1 running training(s)" in out and "job supervisor stopped" in out
    r2 = store.get_run(q2)
    assert r2.status == "interrupted" and "shut down" in r2.error
    assert _status(store, q3) == "queued"  # queued runs stay queued for the next supervisor
    assert store.list_supervisors() == []  # the lease ended with the process
    status = subprocess.run([sys.executable, "-m", "core", "jobs", "status"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert status.returncode == 0
    assert "no job supervisor is alive" in status.stdout and "1 queued run waiting" in status.stdout
    store.close()


# ---------------------------------------------------------------- a real server, restarted
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _run_app_script_usable() -> bool:
    """scripts/run_app.sh starts the app without installing anything when this venv was set
    up by scripts/setup.sh (its stamp file); otherwise it would pip-install first."""
    venv = Path(sys.prefix)
    return (venv / "bin" / "python").exists() and any(venv.glob(".installed-*-1"))


class Server:
    """The lab on a free loopback port, started by the one command (scripts/run_app.sh) when
    this venv allows it, else by `python -m streamlit run app.py`, as run_app.sh does."""

    def __init__(self, root: Path, name: str):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = root / f"{name}.log"
        self._log = open(self.log_path, "wb")
        args = ["--server.headless", "true", "--server.port", str(self.port), "--server.address", "127.0.0.1",
                "--browser.gatherUsageStats", "false"]
        env = _env(root, PYTHONFAULTHANDLER="1")  # SIGABRT dumps every thread's stack (see stop)
        if _run_app_script_usable():
            cmd, env = [str(ROOT / "scripts" / "run_app.sh"), *args], {**env, "LAB_VENV": sys.prefix}
        else:
            cmd = [sys.executable, "-m", "streamlit", "run", "app.py", *args]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.proc.poll() is not None or _healthy(f"{self.base}/_stcore/health"), timeout=120,
                 what="the Streamlit server health check")
        assert self.proc.poll() is None, self.log()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def stop(self) -> int:
        """SIGTERM, as Ctrl-C or a service manager stops it; its exit status."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGABRT)  # faulthandler: where it hangs, into the log
            self.proc.wait(timeout=30)
            raise AssertionError(f"the server did not stop within 120 s of SIGTERM:\n{self.log()}") from None
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._log.close()


@pytest.mark.slow
def _sidebar_shows_nothing_running(sidebar) -> None:
    """The page is not reloaded: the sidebar refreshes on its own, and nothing of the finished job
    lingers under it (a fragment writing into the sidebar once left the old progress bar on screen)."""
    from playwright.sync_api import expect

    expect(sidebar.get_by_text("No jobs running.")).to_be_visible(timeout=30_000)
    expect(sidebar.get_by_text("1 running")).to_have_count(0)
    expect(sidebar.locator("[data-testid='stProgress']")).to_have_count(0, timeout=10_000)
    expect(sidebar.get_by_text("Queue run by")).to_have_count(0)


def _first_server_session(root, store, page, sidebar) -> None:
    """A first server: its page renders, its supervisor holds the lease, and a clean stop ends it."""
    from playwright.sync_api import expect

    first = Server(root, "server1")
    try:
        page.goto(first.base + "/")
        expect(sidebar.get_by_text("No jobs running.")).to_be_visible()
        expect(page.get_by_text("No runs yet.")).to_be_visible()  # the page has finished rendering
        wait_for(lambda: [s.kind for s in store.list_supervisors(alive_within_s=30)] == ["dashboard"],
                 timeout=60, what="the dashboard's supervisor lease")
    finally:
        assert first.stop() == 0, first.log()
    assert store.list_supervisors() == []  # a clean stop ends the lease


@pytest.mark.e2e
def test_queue_resumes_after_a_server_restart_and_status_agrees_everywhere(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (scripts/test.sh installs it)")
    from playwright.sync_api import expect, sync_playwright

    root = tmp_path / "lab"
    root.mkdir()
    store = Store(lab_environ(root)["LAB_DATABASE_URL"], models_dir=root / "trained_models")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(90_000)
        expect.set_options(timeout=90_000)
        sidebar = page.locator("[data-testid='stSidebar']")

        # 1. the lab runs with its supervisor; then the server stops
        _first_server_session(root, store, page, sidebar)

        # 2. while it is down: a run is queued, and a running run's worker dies
        queued = _queue(store, SHORT, "queued while the lab was down")
        orphan = _left_running_by_a_dead_worker(store)

        # 3. restart: the supervisor recovers and resumes the queue (with scripts/serve.py, which
        #    run_app.sh runs, from the server's start; with plain `streamlit run app.py`, from the
        #    first page view), and every job display follows without a reload
        second = Server(root, "server2")
        try:
            if not _run_app_script_usable():
                assert _status(store, queued) == "queued" and _status(store, orphan) == "running"
            page.goto(second.base + "/")
            wait_for(lambda: _status(store, orphan) == "interrupted", timeout=60,
                     what="the orphaned run to be marked interrupted")
            # with scripts/serve.py the run may start before the page is shown: the sidebar must show
            # it running unless it had already finished by then
            wait_for(lambda: sidebar.get_by_text("1 running, 0 queued").count() > 0
                     or _status(store, queued) in ("succeeded", "failed"), timeout=180,
                     what="the sidebar to show the resumed run running")
            wait_for(lambda: _status(store, queued) in ("succeeded", "failed"), timeout=300,
                     what="the queued run to finish without any submit")
            r = store.get_run(queued)
            assert r.status == "succeeded", r.error
            _sidebar_shows_nothing_running(sidebar)
            main = page.locator("[data-testid='stMain']")
            expect(main.get_by_text("Nothing is training right now.")).to_be_visible(timeout=30_000)
            recent = main.locator("[data-testid='stDataFrame']").first
            assert r.summary.get("accuracy") is not None
            # the status column, then the accuracy column: a number, not an empty cell
            expect(recent).to_contain_text(re.compile(r"succeeded\s*[01](\.\d+)?"), timeout=30_000)
            expect(recent).to_contain_text("interrupted")
            expect(recent).not_to_contain_text("running")
            expect(page.locator("[data-testid='stException']")).to_have_count(0)
        finally:
            browser.close()
            assert second.stop() == 0, second.log()
    assert "Traceback" not in second.log()
    store.close()
