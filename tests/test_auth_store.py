"""Users, run ownership and the audit log in the run store (SQLite and PostgreSQL): the migration
keeps every run and gives it the local owner, users are upserted by issuer and subject, the
audit log filters and is append-only, and callers that name no owner keep working."""
from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.store import Store, current_revision, head_revision, upgrade
from core.store.engine import make_engine
from core.validation import NotFoundError, ValidationError

STORE_DIR = Path(__file__).resolve().parent.parent / "core" / "store"


def test_upgrade_from_the_previous_head_keeps_every_run_and_gives_it_the_local_owner(store_url, tmp_path):
    engine = make_engine(store_url)
    upgrade(engine, "0007")
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for i in range(3):
            conn.execute(sa.text(
                "INSERT INTO runs (name, kind, status, dataset, config, created_at, progress, cancel_requested) "
                "VALUES (:n, 'train', 'succeeded', 'digits', '{}', :c, 1.0, :no)"), {"n": f"old {i}", "c": now, "no": False})
        ids = list(conn.execute(sa.text("SELECT id FROM runs ORDER BY id")).scalars())
        conn.execute(sa.text("INSERT INTO tags (run_id, key, value) VALUES (:r, 'kept', '')"), {"r": ids[0]})
    engine.dispose()

    s = Store(store_url, models_dir=tmp_path / "m")
    try:
        assert current_revision(s.engine) == head_revision()
        local = s.local_user()
        assert (local.issuer, local.subject, local.name, local.role, local.disabled) == ("local", "local", "local",
                                                                                      "admin", False)
        assert [u.id for u in s.list_users()] == [local.id]
        runs, total = s.list_runs(sort="id", descending=False)
        assert total == 3 and [r.id for r in runs] == ids
        assert {(r.owner_id, r.owner_label, r.shared) for r in runs} == {(local.id, "local", False)}
        assert s.get_run(ids[0]).tags == {"kept": ""} and s.get_run(ids[0]).owner_label == "local"
        with s.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT COUNT(*) FROM runs WHERE owner_id IS NULL")).scalar() == 0
        names = {ix["name"] for ix in sa.inspect(s.engine).get_indexes("runs")}
        assert "ix_runs_owner_id_shared" in names
        # callers that name no owner keep working, and see every run
        rid = s.create_run({"x": 1}, name="after the upgrade")
        assert s.get_run(rid).owner_id == local.id and s.list_runs()[1] == 4
    finally:
        s.close()


def test_users_are_upserted_by_issuer_and_subject(any_store):
    s = any_store
    first = s.upsert_user("https://idp.test", "u1", email="ann@uni.test", name="Ann", role="student")
    assert (first.role, first.role_source, first.disabled, first.label) == ("student", "default", False, "ann@uni.test")
    again = s.upsert_user("https://idp.test", "u1", email="ann.new@uni.test", email_verified=True, name="Ann B",
                          role="viewer")
    assert again.id == first.id and again.role == "student"  # a stored role is kept
    assert (again.email, again.email_verified, again.name) == ("ann.new@uni.test", True, "Ann B")
    assert again.last_seen_at >= first.last_seen_at and again.created_at == first.created_at
    other = s.upsert_user("https://other.test", "u1")  # same subject, other provider: another person
    assert other.id != first.id and other.role == "viewer" and other.label == "u1"
    assert s.find_user("https://idp.test", "u1").id == first.id and s.find_user("x", "y") is None
    assert [u.id for u in s.find_users_by_email("ANN.NEW@uni.test")] == [first.id]
    assert s.set_user_role(first.id, "instructor").role_source == "admin"
    assert s.set_user_disabled(first.id, True).disabled and s.get_user(first.id).role == "instructor"
    with pytest.raises(ValidationError, match="must be one of"):
        s.set_user_role(first.id, "superuser")
    with pytest.raises(ValidationError, match="U\\+202E"):
        s.upsert_user("https://idp.test", "u2", name="evil\u202egpj.exe")
    with pytest.raises(ValidationError, match="at most 320"):
        s.upsert_user("https://idp.test", "u3", email="a" * 321)
    with pytest.raises(NotFoundError):
        s.get_user(9999)


def test_ownership_sharing_and_visibility(any_store):
    s = any_store
    ann = s.upsert_user("https://idp.test", "ann", role="student")
    ben = s.upsert_user("https://idp.test", "ben", role="student")
    search = s.create_run({}, name="ann's search", kind="search", owner_id=ann.id)
    trial = s.create_run({}, name="trial", parent_id=search)  # a worker's trial: its parent's owner
    mine = s.create_run({}, name="ben's", owner_id=ben.id)
    assert s.get_run(trial).owner_id == ann.id and s.get_run(trial).owner_label == "ann"
    assert {r.id for r in s.list_runs(visible_to=(ben.id, True))[0]} == {mine}
    s.set_shared(search, True)  # sharing a search shares its trials
    assert {r.id for r in s.list_runs(visible_to=(ben.id, True))[0]} == {mine, search, trial}
    assert {r.id for r in s.list_runs(visible_to=(ben.id, False))[0]} == {mine}
    assert s.visible_ids([search, trial, mine, 999], ben.id, False) == {mine}
    assert s.count_active(ann.id) == 1 and s.count_active(ben.id) == 1  # trials are not counted
    assert s.run_access(search).shared and s.run_access(search).owner_id == ann.id
    with pytest.raises(NotFoundError):
        s.create_run({}, owner_id=9999)


def test_audit_log_filters_and_pages(any_store):
    s = any_store
    ann = s.upsert_user("https://idp.test", "ann", email="ann@uni.test")
    s.add_audit(ann.id, ann.label, "edit", "run:1", True, before={"name": "a"}, after={"name": "b"})
    s.add_audit(ann.id, ann.label, "delete", "run:2", False, "not yours")
    s.add_audit(None, "anonymous", "view", "run:12", False, "not signed in")
    s.add_audit(ann.id, ann.label, "manage_users", "user:3", True, before={"role": "viewer"}, after={"role": "admin"})
    entries, total = s.audit_log()
    assert total == 4 and [e.action for e in entries] == ["manage_users", "view", "delete", "edit"]
    assert entries[-1].before == {"name": "a"} and entries[-1].after == {"name": "b"} and entries[1].before is None
    assert s.audit_log(actor=ann.id)[1] == 3 and s.audit_log(actor="ANON")[1] == 1
    assert [e.target for e in s.audit_log(allowed=False)[0]] == ["run:12", "run:2"]
    assert s.audit_log(action="edit")[1] == 1 and s.audit_log(target="run:1")[1] == 1
    assert s.audit_log(target="run:")[1] == 3
    page, total = s.audit_log(limit=2, offset=1)
    assert total == 4 and [e.action for e in page] == ["view", "delete"]


def test_the_audit_log_is_append_only(any_store):
    s = any_store
    rid = s.create_run({}, name="gone soon")
    s.add_audit(None, "local", "delete", f"run:{rid}", True)
    s.delete_run(rid)  # deleting the run keeps the row
    assert s.audit_log(target=f"run:{rid}")[1] == 1
    # no module of the store updates or deletes the audit log's rows
    for path in STORE_DIR.rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"sa\.(update|delete)\(\s*S\.audit_log", text), path
        assert not re.search(r"(UPDATE|DELETE FROM)\s+audit_log", text, re.IGNORECASE), path
    assert not [n for n in dir(Store) if "audit" in n and n not in ("add_audit", "audit_log")]


def test_a_champion_is_shared_with_the_class(any_store):
    s = any_store
    ann = s.upsert_user("https://idp.test", "ann", role="student")
    rid = s.create_run({}, name="best", dataset="digits", owner_id=ann.id)
    s.set_status(rid, "running")
    s.set_status(rid, "succeeded")
    assert not s.get_run(rid).shared
    s.set_champion("digits", rid)
    assert s.get_run(rid).shared
