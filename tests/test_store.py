"""The run store on real databases: a SQLite file, and PostgreSQL when LAB_TEST_POSTGRES_URL is set.

The repository round trip and the migration tests run with the same body on both
backends (the ``store_url`` and ``any_store`` fixtures of conftest.py are parametrised).
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from core.serving.bundle import export_bundle
from core.store import STATUSES, Store, StoreError, current_revision, head_revision, upgrade
from core.store import schema as S
from core.store.engine import make_engine
from core.validation import NotFoundError, ValidationError
from store_support import PROJECT_ROOT, WRITER


def make_config(**over):
    cfg = {"dataset": {"name": "digits", "params": {"max_per_class": 20}}, "model": "small_cnn",
           "optimizer": "adam", "learning_rate": 1e-3, "epochs": 2, "batch_size": 32, "seed": 0,
           "augment": {"rotation": 10, "horizontal_flip": True}}
    cfg.update(over)
    return cfg


# ---------------------------------------------------------------- round trip (both backends)
def test_repository_round_trip(any_store, tmp_path):
    cfg = make_config()
    a = any_store.create_run(cfg, name="digits cnn", dataset="digits", model="small_cnn", seed=0)
    b = any_store.create_run(make_config(model="report_b_cnn5"), name="fashion b", dataset="fashion_mnist",
                         model="report_b_cnn5", seed=1, tags=["baseline"])
    assert isinstance(a, int) and b > a

    # params: flattened config
    any_store.log_params(a, cfg)
    d = any_store.get_run(a)
    assert d.config == cfg
    assert d.params["dataset.params.max_per_class"] == "20"
    assert d.params["augment.horizontal_flip"] == "true" and d.params["model"] == "small_cnn"
    assert d.status == "queued" and d.started_at is None and d.progress == 0.0

    # status transitions are validated
    with pytest.raises(ValidationError, match="cannot go from 'queued' to 'succeeded'; from 'queued' it can only "
                                              "go to 'running', 'cancelled', 'failed'"):
        any_store.set_status(a, "succeeded")
    with pytest.raises(ValidationError, match="'status' parameter must be one of"):
        any_store.set_status(a, "done")
    any_store.set_status(a, "running")
    with pytest.raises(ValidationError, match="cannot go from 'running' to 'queued'"):
        any_store.set_status(a, "queued")
    any_store.set_worker(a, pid=os.getpid())
    any_store.set_progress(a, 0.25, {"epoch": 1, "batch": 3, "images_per_sec": 812.5, "eta_s": 4.0, "message": "training"})
    any_store.set_progress(a, 7.0, {"epoch": 1})  # clipped
    assert any_store.get_run(a).progress == 1.0
    any_store.set_progress(a, 0.5, {"epoch": 2, "images_per_sec": 900.0, "message": "epoch 2"})

    # metrics: batch insert per step, NaN kept
    any_store.log_metrics(a, {"loss": 1.5, "accuracy": 0.4, "val_loss": 1.7}, step=0)
    any_store.log_metrics(a, {"loss": 0.9, "accuracy": 0.7, "val_loss": float("nan")}, step=1)
    any_store.log_summary(a, {"accuracy": 0.71, "macro_f1": 0.69, "train_time_s": 12.5})
    any_store.log_summary(a, {"accuracy": 0.72})  # replaces
    any_store.log_summary(b, {"accuracy": 0.55})
    with pytest.raises(ValidationError, match="must be a number"):
        any_store.log_summary(a, {"accuracy": "high"})

    # artifacts live under <models_dir>/<run id>/
    run_dir = any_store.run_dir(a)
    run_dir.mkdir(parents=True)
    (run_dir / "model.keras").write_bytes(b"PK\x03\x04" + b"0" * 100)
    (run_dir / "predictions.csv").write_text("id,y_true,y_pred\n1,0,0\n")
    any_store.add_artifact(a, "model", run_dir / "model.keras")
    any_store.add_artifact(a, "predictions", run_dir / "predictions.csv")
    with pytest.raises(NotFoundError, match="does not exist"):
        any_store.add_artifact(a, "model", run_dir / "missing.keras")

    # tags and notes
    any_store.set_tags(a, {"stage": "dev", "favourite": ""})
    any_store.add_tag(a, "reviewed", "yes")
    any_store.remove_tag(a, "favourite")
    any_store.set_notes(a, "Overfits after epoch 2; try augmentation.")

    d = any_store.get_run(a)
    assert d.status == "running" and d.pid == os.getpid() and d.started_at is not None
    assert d.progress == 0.5 and d.progress_info["images_per_sec"] == 900.0
    assert d.summary == {"accuracy": 0.72, "macro_f1": 0.69, "train_time_s": 12.5}
    assert d.tags == {"stage": "dev", "reviewed": "yes"}
    assert d.notes.startswith("Overfits")
    assert d.metric_keys == ["accuracy", "loss", "val_loss"]
    assert [x.kind for x in d.artifacts] == ["model", "predictions"]
    assert d.artifact("model").path == run_dir / "model.keras" and d.artifact("model").bytes == 104

    hist = any_store.get_metric_history(a)
    assert list(hist.columns) == ["key", "step", "value", "time"]
    assert len(hist) == 6
    vl = hist[hist.key == "val_loss"].sort_values("step")
    assert vl.value.iloc[0] == pytest.approx(1.7) and math.isnan(vl.value.iloc[1])
    assert str(hist["time"].dt.tz) == "UTC"
    assert list(any_store.get_metric_history(a, keys=["loss"]).value) == [1.5, 0.9]
    both = any_store.get_histories([a, b])
    assert set(both.run_id) == {a} and "run_id" in both.columns

    # listing: filters, sort by a summary metric, pagination, tags and summaries attached
    c = any_store.create_run(make_config(), name="trial 1", dataset="digits", model="small_cnn", seed=2, parent_id=a)
    runs, total = any_store.list_runs()
    assert total == 3 and [r.id for r in runs] == [c, b, a]  # newest first
    runs, total = any_store.list_runs(dataset="digits")
    assert total == 2 and {r.id for r in runs} == {a, c}
    runs, total = any_store.list_runs(parent_id=None)
    assert {r.id for r in runs} == {a, b}
    assert [r.id for r in any_store.list_runs(parent_id=a)[0]] == [c]
    assert [r.id for r in any_store.list_runs(status="running")[0]] == [a]
    assert [r.id for r in any_store.list_runs(status=["queued"], sort="id", descending=False)[0]] == [b, c]
    assert [r.id for r in any_store.list_runs(tag="baseline")[0]] == [b]
    assert [r.id for r in any_store.list_runs(tag="stage=dev")[0]] == [a]
    assert any_store.list_runs(tag="stage=prod")[1] == 0
    assert [r.id for r in any_store.list_runs(text="FASHION")[0]] == [b]
    assert [r.id for r in any_store.list_runs(text="augmentation")[0]] == [a]  # notes
    assert [r.id for r in any_store.list_runs(text="100%_")[0]] == []  # LIKE wildcards escaped
    by_acc = any_store.list_runs(sort="accuracy")[0]
    assert [r.id for r in by_acc] == [a, b, c]  # runs without the metric last
    assert [r.id for r in any_store.list_runs(sort="accuracy", descending=False)[0]] == [b, a, c]
    page, total = any_store.list_runs(sort="name", descending=False, limit=2, offset=1)
    assert total == 3 and [r.name for r in page] == ["fashion b", "trial 1"]
    ra = next(r for r in by_acc if r.id == a)
    assert ra.summary["accuracy"] == 0.72 and ra.tags == {"stage": "dev", "reviewed": "yes"}
    with pytest.raises(ValidationError, match="'status' parameter must be one of"):
        any_store.list_runs(status="done")

    # export: folder and zip
    out = export_bundle(any_store, a, tmp_path / "export")
    assert json.loads((out / "config.json").read_text()) == cfg
    assert json.loads((out / "summary.json").read_text())["accuracy"] == 0.72
    assert (out / "metrics.csv").read_text().splitlines()[0] == "key,step,value,time"
    assert (out / "model.keras").read_bytes()[:2] == b"PK"
    z = export_bundle(any_store, a, tmp_path / "export.zip")
    with zipfile.ZipFile(z) as zf:
        names = set(zf.namelist())
    assert {f"run_{a}/config.json", f"run_{a}/metrics.csv", f"run_{a}/summary.json", f"run_{a}/model.keras"} <= names

    # delete: a running run is refused with what to do; a finished one goes with its files
    with pytest.raises(ValidationError, match="is running; it was not deleted. Cancel it first"):
        any_store.delete_run(a)
    assert any_store.request_cancel(a) == "running" and any_store.get_run(a).cancel_requested
    any_store.set_status(a, "cancelled")
    d = any_store.get_run(a)
    assert d.finished_at >= d.started_at and d.duration_s >= 0
    assert any_store.request_cancel(b) == "cancelled"  # a queued run is cancelled at once
    assert any_store.get_run(b).status == "cancelled"
    any_store.delete_run(a)  # with its trial c
    assert not run_dir.exists()
    with pytest.raises(NotFoundError, match=f"Run {a} does not exist"):
        any_store.get_run(a)
    with pytest.raises(NotFoundError):
        any_store.get_run(c)
    assert any_store.list_runs()[1] == 1
    with any_store.engine.connect() as conn:  # no orphan rows
        for t in (S.metrics, S.summary_metrics, S.params, S.tags, S.artifacts):
            assert conn.execute(sa.select(sa.func.count()).select_from(t).where(t.c.run_id.in_([a, c]))).scalar() == 0


# a call naming run 999 of an empty store, by what it does
UNKNOWN_RUN_CALLS = {
    "get_run": lambda s: s.get_run(999), "set_status": lambda s: s.set_status(999, "running"),
    "set_progress": lambda s: s.set_progress(999, 0.5, {}), "log_metrics": lambda s: s.log_metrics(999, {"loss": 1}, 0),
    "delete_run": lambda s: s.delete_run(999), "get_metric_history": lambda s: s.get_metric_history(999),
    "set_notes": lambda s: s.set_notes(999, "x"), "request_cancel": lambda s: s.request_cancel(999),
    "create_run_as_a_trial_of_it": lambda s: s.create_run({}, name="orphan trial", parent_id=999),
}


@pytest.mark.parametrize("call", list(UNKNOWN_RUN_CALLS.values()), ids=list(UNKNOWN_RUN_CALLS))
def test_unknown_run_ids(any_store, call):
    with pytest.raises(NotFoundError, match="Run 999 does not exist"):
        call(any_store)


def test_status_check_constraint_in_database(any_store):
    rid = any_store.create_run({}, name="x")
    with pytest.raises(sa.exc.IntegrityError):
        with any_store.engine.begin() as conn:
            conn.execute(sa.update(S.runs).where(S.runs.c.id == rid).values(status="exploded"))
    assert any_store.get_run(rid).status == "queued"


def test_json_columns_are_strict_and_old_nan_text_still_reads(any_store):
    """New writes follow the lab's one JSON rule (NaN and infinities become null); rows written by
    earlier versions, with the non-standard ``NaN`` token, still read."""
    def strict(text):
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON token {c} in {text!r}"))

    rid = any_store.create_run({"lr": float("nan"), "clip": float("inf"), "ok": 1}, name="nan config", status="running")
    any_store.log_params(rid, {"lr": float("nan"), "sizes": (1, 2)})
    any_store.set_progress(rid, 0.5, {"eta_s": float("nan")})
    any_store.set_placement(rid, executor="local", node=float("inf"))
    with any_store.engine.connect() as conn:
        row = conn.execute(sa.select(S.runs).where(S.runs.c.id == rid)).one()
        params = dict(conn.execute(sa.select(S.params.c.key, S.params.c.value).where(S.params.c.run_id == rid)).all())
    assert strict(row.config) == {"lr": None, "clip": None, "ok": 1}
    assert strict(row.progress_info) == {"eta_s": None} and strict(row.placement) == {"executor": "local", "node": None}
    assert params == {"lr": "null", "sizes": "[1, 2]"}

    with any_store.engine.begin() as conn:  # a row as the earlier code wrote it
        conn.execute(sa.update(S.runs).where(S.runs.c.id == rid).values(
            config='{"lr": NaN, "ok": 1}', progress_info='{"eta_s": NaN}', placement='{"node": Infinity}'))
    d = any_store.get_run(rid)
    assert math.isnan(d.config["lr"]) and d.config["ok"] == 1
    assert math.isnan(d.progress_info["eta_s"]) and d.placement == {"node": float("inf")}
    assert any_store.get_configs([rid])[rid]["ok"] == 1
    assert any_store.set_placement(rid, gpus=[0])["gpus"] == [0]


def test_active_and_final_statuses_split_every_status():
    from core.store import ACTIVE_STATUSES, FINAL_STATUSES

    assert ACTIVE_STATUSES == ("queued", "running") and STATUSES == ACTIVE_STATUSES + FINAL_STATUSES


# ---------------------------------------------------------------- migrations (both backends)
def test_migrations_from_empty_database_match_the_schema(store_url, tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    s = Store(store_url, models_dir=tmp_path / "m")
    assert current_revision(s.engine) == head_revision()
    with s.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), S.metadata) == []
        ck = conn.execute(sa.text("SELECT 1")).scalar()
    assert ck == 1
    s.close()
    # opening again is a no-op and keeps data
    s = Store(store_url, models_dir=tmp_path / "m")
    rid = s.create_run({"x": 1}, name="kept")
    s.close()
    assert Store(store_url, models_dir=tmp_path / "m").get_run(rid).name == "kept"


def test_upgrade_from_first_revision_keeps_data(store_url, tmp_path):
    engine = make_engine(store_url)
    upgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    now = datetime.now(UTC)
    with engine.begin() as conn:
        cols = {c["name"] for c in sa.inspect(conn).get_columns("runs")}
        assert "notes" not in cols  # really the old schema
        conn.execute(sa.text(
            "INSERT INTO runs (name, kind, status, dataset, model, config, seed, created_at, started_at, "
            "finished_at, duration_s, progress, cancel_requested) VALUES ('old run', 'train', 'succeeded', "
            "'digits', 'small_cnn', '{\"epochs\": 3}', 7, :c, :c, :f, 60.0, 1.0, :no)"),
            {"c": now - timedelta(minutes=1), "f": now, "no": False})
        rid = conn.execute(sa.text("SELECT id FROM runs")).scalar_one()
        conn.execute(sa.text("INSERT INTO summary_metrics (run_id, key, value) VALUES (:r, 'accuracy', 0.93)"), {"r": rid})
        conn.execute(sa.text("INSERT INTO metrics (run_id, key, step, value, time) VALUES (:r, 'loss', 0, 0.5, 1.0)"), {"r": rid})
        conn.execute(sa.text("INSERT INTO tags (run_id, key, value) VALUES (:r, 'old', '')"), {"r": rid})
    engine.dispose()

    s = Store(store_url, models_dir=tmp_path / "m")  # upgrades to head on first use
    assert current_revision(s.engine) == head_revision() != "0001"
    d = s.get_run(rid)
    assert (d.name, d.status, d.seed, d.config, d.duration_s) == ("old run", "succeeded", 7, {"epochs": 3}, 60.0)
    assert d.summary == {"accuracy": 0.93} and d.tags == {"old": ""} and d.notes is None
    assert list(s.get_metric_history(rid).value) == [0.5]
    s.set_notes(rid, "written after the upgrade")  # the new column works
    assert s.get_run(rid).notes == "written after the upgrade"
    names = {ix["name"] for ix in sa.inspect(s.engine).get_indexes("runs")}
    assert {"ix_runs_status_id", "ix_runs_created_at", "ix_runs_parent_id"} <= names
    s.close()


def test_database_from_a_newer_lab_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    Store(url).close()
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    eng.dispose()
    with pytest.raises(StoreError, match="revision '9999', which this version of the lab does not know"):
        Store(url)


# ---------------------------------------------------------------- bad URLs
def test_bad_urls_raise_store_error(tmp_path):
    with pytest.raises(StoreError, match=r"folder .*no_such_dir does not exist"):
        Store(f"sqlite:///{tmp_path / 'no_such_dir' / 'runs.db'}")
    with pytest.raises(StoreError, match="not a valid database URL"):
        Store("this is not a url")
    with pytest.raises(StoreError, match="Cannot open the run store nosuchdb://x/y"):
        Store("nosuchdb://x/y")
    # a server that is not there: the message names the URL without its password
    with pytest.raises(StoreError) as ei:
        Store("postgresql+psycopg://lab:secret@127.0.0.1:1/lab")
    msg = str(ei.value)
    assert "Cannot open the run store postgresql+psycopg://lab:***@127.0.0.1:1/lab" in msg and "secret" not in msg
    assert isinstance(ei.value, Exception) and "LabError" in [c.__name__ for c in type(ei.value).__mro__]


def test_default_url_and_models_dir_come_from_settings(lab_env):
    s = Store()
    assert s.url == f"sqlite:///{lab_env / 'runs.db'}" and s.models_dir == lab_env / "trained_models"
    assert (lab_env / "runs.db").exists()
    with s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


# ---------------------------------------------------------------- speed and concurrency (SQLite file)
def test_listing_1000_runs_with_summary_metrics(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'runs.db'}", models_dir=tmp_path / "m")
    now = datetime.now(UTC)
    with s.engine.begin() as conn:  # bulk set-up; the listing below goes through the API
        conn.execute(sa.insert(S.runs), [
            {"name": f"run {i}", "kind": "train", "status": STATUSES[i % len(STATUSES)], "dataset": "digits",
             "model": "small_cnn", "config": "{}", "seed": i, "created_at": now + timedelta(seconds=i),
             "progress": 0.0, "cancel_requested": False} for i in range(1000)])
        ids = list(conn.execute(sa.select(S.runs.c.id)).scalars())
        conn.execute(sa.insert(S.summary_metrics), [
            {"run_id": r, "key": k, "value": (r * 7919 % 1000) / 1000 + j} for r in ids
            for j, k in enumerate(("accuracy", "macro_f1", "macro_auc", "log_loss", "train_time_s", "params_total"))])
        conn.execute(sa.insert(S.tags), [{"run_id": r, "key": "batch", "value": str(r % 3)} for r in ids])
    t0 = time.perf_counter()
    runs, total = s.list_runs(limit=None, sort="accuracy")
    dt = time.perf_counter() - t0
    t0 = time.perf_counter()
    page, _ = s.list_runs(limit=50, sort="created_at")
    dt_page = time.perf_counter() - t0
    print(f"\nlist_runs: 1000 runs with 6 summary metrics + tags in {dt * 1000:.0f} ms; a page of 50 in {dt_page * 1000:.0f} ms")
    assert total == 1000 and len(runs) == 1000 and all(len(r.summary) == 6 and r.tags for r in runs)
    accs = [r.summary["accuracy"] for r in runs]
    assert accs == sorted(accs, reverse=True)
    assert dt < 5.0


def test_dashboard_reads_while_a_worker_process_writes(tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    s = Store(url, models_dir=tmp_path / "m")
    rid = s.create_run({}, name="written by another process")
    s.set_status(rid, "running")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, url, str(rid)], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reads = 0
    seen_steps = []
    deadline = time.monotonic() + 90
    while proc.poll() is None and time.monotonic() < deadline:
        runs, _ = s.list_runs()
        hist = s.get_metric_history(rid)
        seen_steps.append(len(hist))
        s.add_tag(rid, "watched", str(reads))  # the dashboard writes too (tags, notes)
        reads += 1
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert reads > 0 and seen_steps == sorted(seen_steps)  # histories only grow
    d = s.get_run(rid)
    assert d.status == "succeeded" and d.summary == {"accuracy": 0.99}
    assert len(s.get_metric_history(rid)) == 600
    print(f"\n{reads} dashboard read rounds while another process wrote 300 steps")
