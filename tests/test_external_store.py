"""External evaluations in the run store: recorded with a run (several per run, newest first),
read back whole, deleted with their predictions file and with the run; reads through the guard
follow the run's visibility and adding or deleting one needs the "validate" right."""
from __future__ import annotations

import pytest

from core.auth.guard import Denied, guarded
from core.auth.policy import Actor
from core.store import Store
from core.store.external import predictions_path
from core.validation import NotFoundError, ValidationError

FIELDS = dict(n_images=40, n_overlap=2, files_hash="a" * 64,
              source={"format": "ham10000_csv", "data_dir": "/data/clinic", "labels_csv": None},
              result={"summary": {"balanced_accuracy": 0.5}, "class_names": ["x", "y"]},
              shift={"feature_auc": 0.7, "verdict": "moderately different"},
              overlap={"by": "lesion_id", "counts": {"train": 1, "val": 0, "test": 1}, "items": []})


def _run(store: Store, owner_id=None) -> int:
    rid = store.create_run({"epochs": 1}, name="r", dataset="digits", model="small_cnn", owner_id=owner_id)
    store.set_status(rid, "running")
    store.set_status(rid, "succeeded")
    return rid


def test_evaluations_are_stored_listed_newest_first_and_deleted_with_their_file(any_store):
    store = any_store
    rid = _run(store)
    first = store.add_external_evaluation(rid, name="clinic A", **FIELDS)
    second = store.add_external_evaluation(rid, name="clinic B", **{**FIELDS, "n_overlap": 0})
    evs = store.list_external_evaluations(rid)
    assert [e.id for e in evs] == [second, first]
    got = store.get_external_evaluation(first)
    assert (got.name, got.n_images, got.n_overlap, got.run_id) == ("clinic A", 40, 2, rid)
    assert got.result == FIELDS["result"] and got.shift == FIELDS["shift"] and got.overlap == FIELDS["overlap"]
    assert got.source == FIELDS["source"] and got.created_at.tzinfo is not None
    csv = predictions_path(store.run_dir(rid), first)
    csv.parent.mkdir(parents=True)
    csv.write_text("index,label,pred\n")
    store.delete_external_evaluation(first)
    assert not csv.exists() and [e.id for e in store.list_external_evaluations(rid)] == [second]
    with pytest.raises(NotFoundError, match="does not exist"):
        store.get_external_evaluation(first)
    store.delete_run(rid)
    with pytest.raises(NotFoundError):
        store.get_external_evaluation(second)


def test_bad_fields_are_refused_with_what_is_accepted(store):
    rid = _run(store)
    with pytest.raises(ValidationError, match="sha256"):
        store.add_external_evaluation(rid, name="x", **{**FIELDS, "files_hash": "photo.jpg"})
    with pytest.raises(ValidationError, match="folders, ham10000_csv, eyepacs_csv"):
        store.add_external_evaluation(rid, name="x", **{**FIELDS, "source": {"format": "zip", "data_dir": "/d"}})
    with pytest.raises(NotFoundError):
        store.add_external_evaluation(rid + 99, name="x", **FIELDS)


def test_guard_filters_reads_by_the_runs_visibility_and_checks_validate(store):
    def person(sub, role):
        u = store.upsert_user("https://idp.test", sub, email=f"{sub}@uni.test", role=role)
        return Actor(u.id, u.label, role)

    alice, bob, viewer = person("alice", "student"), person("bob", "student"), person("vic", "viewer")
    rid = _run(store, owner_id=alice.user_id)
    ga, gb = guarded(store, alice), guarded(store, bob)
    eid = ga.add_external_evaluation(rid, name="clinic A", **FIELDS)
    assert store.get_external_evaluation(eid).created_by == alice.user_id
    assert [e.id for e in ga.list_external_evaluations(rid)] == [eid]
    with pytest.raises(NotFoundError):
        gb.list_external_evaluations(rid)
    with pytest.raises(NotFoundError, match=f"External evaluation {eid} does not exist"):
        gb.get_external_evaluation(eid)
    with pytest.raises(Denied):
        gb.delete_external_evaluation(eid)
    store.set_shared(rid, True)
    assert gb.get_external_evaluation(eid).name == "clinic A"
    with pytest.raises(Denied):
        guarded(store, viewer).add_external_evaluation(rid, name="v", **FIELDS)
    job = gb.create_run({"validation": {}}, name="v", kind="validation", parent_id=rid)  # a background validation
    assert store.get_run(job).owner_id == bob.user_id
    with pytest.raises(Denied):
        guarded(store, viewer).create_run({"validation": {}}, name="v", kind="validation", parent_id=rid)
    ga.delete_external_evaluation(eid)
    assert store.list_external_evaluations(rid) == []
    entries, _ = store.audit_log(action="validate", allowed=True)
    assert len(entries) == 3


def test_upgrade_from_0008_keeps_runs_and_allows_validation_runs(store_url, tmp_path):
    from datetime import UTC, datetime

    import sqlalchemy as sa
    from alembic import command

    from core.store.engine import alembic_config, make_engine, upgrade

    engine = make_engine(store_url)
    upgrade(engine, "0008")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO runs (name, kind, status, dataset, config, created_at, progress, "
                             "cancel_requested) VALUES ('old', 'train', 'succeeded', 'digits', '{}', :c, 1.0, :no)"),
                     {"c": datetime.now(UTC), "no": False})
        with pytest.raises(sa.exc.IntegrityError):  # the old CHECK refuses the new kind
            with conn.begin_nested():
                conn.execute(sa.text("INSERT INTO runs (name, kind, status, config, created_at, progress, "
                                     "cancel_requested) VALUES ('v', 'validation', 'queued', '{}', :c, 0, :no)"),
                             {"c": datetime.now(UTC), "no": False})
    engine.dispose()
    store = Store(store_url, models_dir=tmp_path / "m")
    try:
        [old] = store.list_runs()[0]
        job = store.create_run({"validation": {}}, name="v", kind="validation", parent_id=old.id)
        store.add_external_evaluation(old.id, name="clinic", **FIELDS)
        assert store.get_run(job).kind == "validation" and len(store.list_external_evaluations(old.id)) == 1
        with store.engine.connect() as conn:  # a validation run blocks the downgrade, saying what to do
            with pytest.raises(RuntimeError, match="1 validation run"):
                command.downgrade(alembic_config(conn), "0008")
    finally:
        store.close()
