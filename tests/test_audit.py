"""Label audit (core.analysis.audit): a real audit job through the worker on digits with
30 labels flipped on purpose, the store's migration to the ``audit`` kind, and the Data
explorer's gallery (AppTest)."""
from __future__ import annotations

import signal
import sqlite3

import pandas as pd
import pytest
import sqlalchemy as sa

from lab_pages_support import app_at, lab_environ, problems

N_FLIPPED = 30
AUDIT_CONFIG = {"dataset": {"name": "digits", "params": {"max_per_class": 50}}, "model": "small_cnn",
                "batch_size": 32, "seed": 0}
# 10 epochs per fold: a small_cnn reaches ~0.85 out-of-sample accuracy on these 500 digits
# (2 epochs leave it near chance and the ranking is then meaningless)
AUDIT_OPTIONS = {"k": 3, "epochs": 10, "flip_labels": N_FLIPPED, "flip_seed": 0}


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """A store with one finished audit run, made by the real worker code in this process."""
    from core.jobs import worker
    from core.store import Store

    root = tmp_path_factory.mktemp("audit")
    mp = pytest.MonkeyPatch()
    for k, v in lab_environ(root).items():
        mp.setenv(k, v)
    store = Store()
    rid = store.create_run(AUDIT_CONFIG, name="audit test", dataset="digits", model="small_cnn", seed=0, kind="audit")
    store.log_params(rid, {**AUDIT_CONFIG, "audit": AUDIT_OPTIONS})
    saved = {s: signal.getsignal(s) for s in (signal.SIGUSR1, signal.SIGTERM)}
    try:
        rc = worker.run(rid)
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
    yield {"root": root, "store": store, "run_id": rid, "rc": rc}
    store.close()
    mp.undo()


def test_audit_job_ranks_the_flipped_labels_near_the_top(audited):
    from core.analysis.audit import load_audit

    r = audited["store"].get_run(audited["run_id"])
    assert audited["rc"] == 0 and r.status == "succeeded", r.error
    assert r.kind == "audit" and r.params["audit.flip_labels"] == str(N_FLIPPED)  # the flip is recorded
    table, summary = load_audit(r)
    assert len(table) == summary["n_images"] == 500 and int(table["flipped"].sum()) == N_FLIPPED
    assert {"id", "given_label", "suggested_label", "label_quality", "is_label_issue", "rank"} <= set(table)
    assert list(table["rank"]) == sorted(table["rank"]) and table["rank"].iloc[0] == 1
    recall = table.head(2 * N_FLIPPED)["flipped"].sum() / N_FLIPPED
    assert recall == pytest.approx(summary["flipped_recall_top2x"])
    # measured 1.0 with 10 epochs (0.2 with 3); a margin that holds across machines
    assert recall >= 0.6, summary
    assert summary["grouped_by"] is None and summary["k"] == 3
    assert r.summary.get("oos_accuracy", 0) > 0.5


def test_submit_audit_queues_a_run_of_kind_audit(tmp_path):
    from core.analysis.audit import AuditOptions, submit_audit
    from core.jobs.manager import JobManager
    from core.store import Store
    from core.validation import ValidationError

    store = Store(f"sqlite:///{tmp_path / 'runs.db'}", models_dir=tmp_path / "m")
    jm = JobManager(store, tmp_path / "m")  # not started: the run stays queued
    rid = submit_audit(jm, AUDIT_CONFIG, {"k": 4, "epochs": 1})
    r = store.get_run(rid)
    assert (r.kind, r.status, r.name) == ("audit", "queued", "label audit: small_cnn on digits")
    assert AuditOptions.from_params(r.params) == AuditOptions(k=4, epochs=1)
    assert jm.cancel(rid) == "cancelled"
    with pytest.raises(ValidationError, match="k"):
        submit_audit(jm, AUDIT_CONFIG, {"k": 1})
    store.close()


def test_migration_from_0004_keeps_runs_and_accepts_audits(tmp_path):
    from core.store import Store, current_revision, head_revision
    from core.store.engine import upgrade

    path = tmp_path / "old.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    upgrade(engine, "0004")
    engine.dispose()
    con = sqlite3.connect(path)
    con.execute("PRAGMA foreign_keys = ON")
    con.execute("INSERT INTO runs (name, kind, status, config, created_at, progress) "
                "VALUES ('old run', 'train', 'succeeded', '{}', '2026-11-01 00:00:00', 1)")
    con.execute("INSERT INTO params (run_id, key, value) VALUES (1, 'model', 'small_cnn')")
    con.commit()
    con.close()
    store = Store(f"sqlite:///{path}", models_dir=tmp_path / "m")  # upgrades to head
    assert current_revision(store.engine) == head_revision()
    old = store.get_run(1)
    assert (old.name, old.status, old.params["model"]) == ("old run", "succeeded", "small_cnn")
    assert store.get_run(store.create_run({}, name="an audit", kind="audit")).kind == "audit"
    assert store.get_run(store.create_run({}, name="a recipe group", kind="group")).kind == "group"  # revision 0006
    store.close()
    con = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        con.execute("INSERT INTO runs (name, kind, status, config, created_at, progress) "
                    "VALUES ('x', 'bogus', 'queued', '{}', '2026-11-01 00:00:00', 0)")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()


def test_data_explorer_shows_the_audit_gallery(audited):
    at = app_at("data_explorer")
    at.session_state["eda_tab"] = "Label audit"
    at.run()
    assert problems(at) == []
    assert any(f"Audit run #{audited['run_id']}" in c.value for c in at.caption)
    assert len(at.image) >= 6  # the most suspect labels, each with given -> suggested class
    assert any(b.label == "Audit labels" for b in at.button)
    df = at.dataframe[-1].value
    assert isinstance(df, pd.DataFrame) and list(df["rank"])[:3] == [1, 2, 3]


def test_near_duplicates_and_grouped_folds():
    import numpy as np

    from core.analysis.audit import duplicate_groups, flip_labels, image_hashes, make_folds
    from core.datasets import load_dataset

    ds = load_dataset("digits", max_per_class=10)
    pos = np.r_[np.arange(len(ds)), [0, 0, 5]]  # image 0 three times, image 5 twice
    dup = ds.subset(pos, by="position")
    dup.ids = np.array([f"x{i}" for i in range(len(pos))])
    groups = duplicate_groups(image_hashes(dup))
    assert groups[0] > 0 and len(set(groups[[0, len(ds), len(ds) + 1]])) == 1
    assert groups[5] > 0 and groups[5] == groups[len(ds) + 2] != groups[0]
    labels = np.repeat(np.arange(4), 12)
    g = np.repeat(np.arange(16), 3)  # 16 groups of 3 images
    folds = make_folds(labels, 3, groups=g, seed=0)
    assert set(folds) == {0, 1, 2} and all(len(set(folds[g == i])) == 1 for i in range(16))
    new, flipped = flip_labels(labels, 5, 4, seed=1)
    assert len(flipped) == 5 and (new[flipped] != labels[flipped]).all() and (np.delete(new, flipped) ==
                                                                             np.delete(labels, flipped)).all()


def test_cancelling_an_audit_stops_it_within_a_fold(tmp_path, monkeypatch):
    import threading
    import time

    from core.jobs import worker
    from core.store import Store

    for k, v in lab_environ(tmp_path).items():
        monkeypatch.setenv(k, v)
    store = Store()
    rid = store.create_run(AUDIT_CONFIG, name="long audit", dataset="digits", model="small_cnn", kind="audit")
    store.log_params(rid, {**AUDIT_CONFIG, "audit": {"k": 2, "epochs": 200}})  # far longer than the test waits

    def cancel_when_training():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            r = store.get_run(rid)
            if r.status == "running" and "fold 1/2" in str((r.progress_info or {}).get("message")):
                store.request_cancel(rid)
                return
            time.sleep(0.1)

    t = threading.Thread(target=cancel_when_training, daemon=True)
    t.start()
    saved = {s: signal.getsignal(s) for s in (signal.SIGUSR1, signal.SIGTERM)}
    started = time.monotonic()
    try:
        worker.run(rid)
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
    t.join(5)
    r = store.get_run(rid)
    assert r.status == "cancelled" and time.monotonic() - started < 90, (r.status, r.error)
    assert r.artifact("audit") is None
    store.close()


def test_data_explorer_queues_an_audit(lab_env, monkeypatch):
    from core.store import Store

    monkeypatch.setenv("LAB_DASHBOARD_SUPERVISOR", "0")  # queued only: no worker starts in this test
    at = app_at("data_explorer")
    at.session_state["eda_tab"] = "Label audit"
    at.run()
    assert any("No finished label audit" in i.value for i in at.info)
    at.number_input(key="audit_k").set_value(4)
    next(b for b in at.button if b.label == "Audit labels").click().run()
    assert problems(at) == [] and any("queued as run #" in s.value for s in at.success)
    store = Store()
    runs, _ = store.list_runs(kind="audit")
    assert len(runs) == 1 and runs[0].status == "queued" and store.get_run(runs[0].id).params["audit.k"] == "4"
    store.request_cancel(runs[0].id)
    store.close()
