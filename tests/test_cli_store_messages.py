"""Commands on a run store that cannot be opened say what is wrong with the store and how to fix
it; only ``train`` offers --no-record (nothing else trains). ``jobs status`` says when the Ray
cluster of LAB_EXECUTOR=ray cannot be reached, without waiting long for a silent one. The
conditions are real: a file that is not a database, a PostgreSQL port nothing listens on, a Ray
address nothing listens on, and a port that accepts connections but never answers."""
from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

from core.cli.main import main

LEGACY = Path(__file__).resolve().parent / "data" / "legacy_store"


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_runs_list_on_a_file_that_is_not_a_database(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "runs.db"
    bad.write_text("these are my notes, not a run store\n" * 20)
    monkeypatch.setenv("LAB_DATABASE_URL", f"sqlite:///{bad}")
    assert main(["runs", "list"]) == 2
    line = _error(capsys)
    assert f"Cannot open the run store sqlite:///{bad}: file is not a database." in line, line
    assert "Point LAB_DATABASE_URL at the lab's run store" in line
    assert "--no-record" not in line and "Nothing was trained" not in line


def test_runs_import_with_an_unreachable_postgresql_server(tmp_path, monkeypatch, capsys):
    pytest.importorskip("psycopg")
    port = _closed_port()
    monkeypatch.setenv("LAB_DATABASE_URL", f"postgresql+psycopg://lab:secret@127.0.0.1:{port}/lab")
    monkeypatch.setenv("LAB_MODELS_DIR", str(tmp_path / "models"))
    assert main(["runs", "import", str(LEGACY / "run1.zip")]) == 2
    line = _error(capsys)
    assert f"Cannot open the run store postgresql+psycopg://lab:***@127.0.0.1:{port}/lab" in line, line
    assert "Connection refused" in line and "secret" not in line
    assert "Check that the PostgreSQL server named in LAB_DATABASE_URL is running and reachable" in line
    assert "--no-record" not in line and "Nothing was trained" not in line


def test_train_still_offers_no_record(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "runs.db"
    bad.write_text("not a database\n" * 20)
    monkeypatch.setenv("LAB_DATABASE_URL", f"sqlite:///{bad}")
    assert main(["train", "--dataset", "digits", "--epochs", "1", "--out", str(tmp_path / "run")]) == 2
    line = _error(capsys)
    assert "file is not a database. Nothing was trained. Fix LAB_DATABASE_URL, or add --no-record" in line, line
    assert not (tmp_path / "run").exists()


@pytest.fixture()
def ray_env(tmp_path, monkeypatch):
    pytest.importorskip("ray.job_submission")
    shutil.copy(LEGACY / "runs.db", tmp_path / "runs.db")
    monkeypatch.setenv("LAB_DATABASE_URL", f"sqlite:///{tmp_path / 'runs.db'}")
    monkeypatch.setenv("LAB_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LAB_EXECUTOR", "ray")
    return tmp_path


def test_jobs_status_says_the_ray_cluster_is_unreachable(ray_env, monkeypatch, capsys):
    address = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("LAB_RAY_ADDRESS", address)
    assert main(["jobs", "status"]) == 0
    out = capsys.readouterr().out
    assert f"executor ray: Cannot reach the Ray cluster at {address}" in out, out
    assert "queued runs stay queued until it is reachable" in out
    assert main(["jobs", "status", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["executor"]
    assert got["name"] == "ray" and got["problem"].startswith(f"Cannot reach the Ray cluster at {address}")


def test_jobs_status_does_not_wait_long_for_a_silent_cluster(ray_env, monkeypatch):
    """A port that accepts connections and never answers: the check gives up after its timeout."""
    import time

    from core.cli.jobs import executor_problem
    from core.store import Store

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections complete in the kernel's backlog; nothing ever answers
        address = f"http://127.0.0.1:{silent.getsockname()[1]}"
        monkeypatch.setenv("LAB_RAY_ADDRESS", address)
        store = Store()
        try:
            t0 = time.monotonic()
            problem = executor_problem(store, timeout_s=1.0)
            took = time.monotonic() - t0
        finally:
            store.close()
    assert took < 5, took
    assert problem.startswith(f"The Ray cluster at {address} did not answer within 1 s"), problem


def test_jobs_status_of_the_local_executor_checks_nothing(ray_env, monkeypatch, capsys):
    monkeypatch.setenv("LAB_EXECUTOR", "local")
    assert main(["jobs", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["executor"] == {"name": "local", "problem": None}
