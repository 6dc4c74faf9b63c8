"""PostgreSQL-specific store checks (skipped with a reason when LAB_TEST_POSTGRES_URL is unset
or the server is unreachable). The repository round trip and the migration tests in
tests/test_store.py also run on PostgreSQL through the parametrised ``store_url`` of conftest.py."""
from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from core.store import Store
from store_support import PROJECT_ROOT, WRITER, fresh_postgres_database, postgres_base_url

pytestmark = pytest.mark.postgres


def test_concurrent_creates_from_threads_on_postgres(tmp_path):
    with fresh_postgres_database() as url:
        store = Store(url, models_dir=tmp_path / "m")
        ids: list[int] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def submit(t):
            try:
                for i in range(5):
                    rid = store.create_run({"t": t, "i": i}, name=f"t{t}-{i}", dataset="digits", model="small_cnn")
                    store.log_params(rid, {"t": t, "i": i})
                    with lock:
                        ids.append(rid)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=submit, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        assert len(ids) == 40 and len(set(ids)) == 40
        runs, total = store.list_runs(status="queued", limit=None)
        assert total == 40 and {r.id for r in runs} == set(ids)
        store.close()


def test_reads_while_another_process_writes_on_postgres(tmp_path):
    with fresh_postgres_database() as url:
        s = Store(url, models_dir=tmp_path / "m")
        rid = s.create_run({}, name="written by another process")
        s.set_status(rid, "running")
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        proc = subprocess.Popen([sys.executable, "-c", WRITER, url, str(rid)], cwd=PROJECT_ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lengths = []
        while proc.poll() is None:
            lengths.append(len(s.get_metric_history(rid)))
            s.list_runs()
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert lengths == sorted(lengths)
        d = s.get_run(rid)
        assert d.status == "succeeded" and len(s.get_metric_history(rid)) == 600
        s.close()


def test_run_bundle_round_trip_sqlite_to_postgres_and_back(trained, tmp_path):
    """A real digits run of a SQLite store, exported and imported into a PostgreSQL store (and
    from there into a new SQLite store): everything arrives, the model predicts the same, and
    the imported run can be the champion of its dataset."""
    from bundle_support import assert_same_run, source_store
    from core.serving.bundle import export_bundle, import_bundle

    postgres_base_url()  # skip at once (before any work) without a server
    src = source_store(trained)
    sid = trained["ids"][0]
    bundle = export_bundle(src, sid, tmp_path / "run.zip")
    with fresh_postgres_database() as url:
        pg = Store(url, models_dir=tmp_path / "pg_models")
        res = import_bundle(pg, bundle)
        assert res.model_checked and res.original_id == sid
        assert_same_run(src, sid, pg, res.run_id)
        assert pg.set_champion("digits", res.run_id, by="pg test").run_id == res.run_id
        assert pg.champions() == {"digits": res.run_id}
        back = export_bundle(pg, res.run_id, tmp_path / "back.zip")
        lite = Store(f"sqlite:///{tmp_path / 'back.db'}", models_dir=tmp_path / "back_models")
        res2 = import_bundle(lite, back)
        assert_same_run(pg, res.run_id, lite, res2.run_id)
        chain = lite.get_run(res2.run_id).tags["imported_from"]  # where it was, newest first
        assert chain.startswith(f"run {res.run_id} of ") and f"; before: run {sid} of " in chain
        lite.close()
        pg.close()
    src.close()
