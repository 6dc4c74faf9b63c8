"""The command line obeys the policy: ``users list|set-role|disable`` and ``audit-log`` (through
``core.cli.main.main`` and one real subprocess), and the operator's role (LAB_OPERATOR_ROLE)
deciding what ``runs delete|rename|cancel|...`` may do, every change and refusal in the audit log.
A real SQLite store; nothing is trained."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli.main import main
from core.store import Store

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def lab(lab_env, monkeypatch):
    """A private store (LAB_DATABASE_URL) with three signed-in users; the operator is an admin."""
    monkeypatch.delenv("LAB_OPERATOR_ROLE", raising=False)
    monkeypatch.delenv("LAB_QUEUE_LIMITS", raising=False)
    s = Store()
    users = {n: s.upsert_user("https://idp.example", n, email=f"{n}@uni.example", email_verified=True, name=n,
                              role=role) for n, role in (("stu", "student"), ("ivy", "instructor"), ("vic", "viewer"))}
    yield s, users
    s.close()


def run_of(store, name: str, owner_id=None) -> int:
    rid = store.create_run({"model": "small_cnn"}, name=name, dataset="digits", model="small_cnn", kind="train",
                           status="running", owner_id=owner_id)
    store.set_status(rid, "succeeded")
    return rid


def test_users_list_set_role_and_disable_round_trip_with_audit_rows(lab, capsys):
    store, users = lab
    assert main(["users", "list", "--json"]) == 0
    listed = {u["label"]: u for u in json.loads(capsys.readouterr().out)}
    assert listed["stu@uni.example"]["role"] == "student" and listed["local"]["role"] == "admin"
    assert main(["users", "list"]) == 0
    out = capsys.readouterr().out
    assert "stu@uni.example" in out and "instructor" in out and "last seen" in out

    assert main(["users", "set-role", "STU@uni.example", "instructor"]) == 0
    assert "role student -> instructor" in capsys.readouterr().out
    assert store.get_user(users["stu"].id).role == "instructor"
    assert main(["users", "disable", str(users["vic"].id)]) == 0
    assert store.get_user(users["vic"].id).disabled is True
    assert main(["users", "disable", "vic@uni.example", "--enable"]) == 0
    assert store.get_user(users["vic"].id).disabled is False

    rows, _ = store.audit_log(target=f"user:{users['stu'].id}")
    change = [r for r in rows if r.allowed and r.before is not None]
    assert len(change) == 1 and "student" in json.dumps(change[0].before) and "instructor" in json.dumps(change[0].after)
    rows, _ = store.audit_log(target=f"user:{users['vic'].id}")
    flips = [(r.before, r.after) for r in rows if r.allowed and r.before is not None]
    assert len(flips) == 2 and all(b != a for b, a in flips)

    for argv, words in ((["users", "set-role", "nobody@uni.example", "admin"], ["No user", "nobody@uni.example"]),
                        (["users", "set-role", "stu@uni.example", "boss"], ["ROLE must be one of", "'boss'"])):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert all(w in err for w in words), err
    store.upsert_user("https://other-idp.example", "stu2", email="stu@uni.example", role="viewer")
    assert main(["users", "disable", "stu@uni.example"]) == 2
    assert "Give the user id instead" in capsys.readouterr().err


def test_audit_log_filters_and_who_may_read_it(lab, capsys, monkeypatch):
    store, _ = lab
    rid = run_of(store, "first")
    assert main(["runs", "rename", str(rid), "renamed"]) == 0
    assert main(["runs", "tag", str(rid), "baseline", "source=cli"]) == 0
    monkeypatch.setenv("LAB_OPERATOR_ROLE", "student")
    assert main(["runs", "delete", str(rid)]) == 2
    monkeypatch.delenv("LAB_OPERATOR_ROLE")
    capsys.readouterr()

    assert main(["audit-log", "--json"]) == 0
    every = json.loads(capsys.readouterr().out)
    assert {"edit", "delete"} <= {e["action"] for e in every}
    rename = next(e for e in every if e["target"] == f"run:{rid}" and e["before"] is not None)
    assert "first" in json.dumps(rename["before"]) and "renamed" in json.dumps(rename["after"])
    assert main(["audit-log", "--denied", "--json"]) == 0
    denied = json.loads(capsys.readouterr().out)
    assert [(e["action"], e["target"], e["allowed"]) for e in denied] == [("delete", f"run:{rid}", False)]
    assert main(["audit-log", "--action", "delete"]) == 0
    out = capsys.readouterr().out
    assert "DENIED" in out and "renamed" not in out
    assert main(["audit-log", "--limit", "1"]) == 0
    assert "1 of" in capsys.readouterr().out
    assert main(["audit-log", "--actor", "no-such-person"]) == 0
    assert "No audit log entries match." in capsys.readouterr().out

    monkeypatch.setenv("LAB_OPERATOR_ROLE", "instructor")  # may read it, may not manage users
    assert main(["audit-log", "--denied"]) == 0
    capsys.readouterr()
    assert main(["users", "set-role", "stu@uni.example", "admin"]) == 2
    assert "manage users" in capsys.readouterr().err
    monkeypatch.setenv("LAB_OPERATOR_ROLE", "student")
    assert main(["audit-log"]) == 2
    assert "read the audit log" in capsys.readouterr().err


def test_a_student_operator_may_not_change_another_users_run(lab, capsys, monkeypatch):
    from core.auth.actors import operator_actor

    store, users = lab
    theirs = run_of(store, "someone else's")
    monkeypatch.setenv("LAB_OPERATOR_ROLE", "student")
    for argv in (["runs", "delete", str(theirs)], ["runs", "rename", str(theirs), "mine now"],
                 ["runs", "champion", "digits", str(theirs)], ["runs", "cancel", str(theirs)]):
        assert main(argv) == 2, argv
        assert "error:" in capsys.readouterr().err
    assert store.get_run(theirs).name == "someone else's" and store.champions() == {}
    denied, _ = store.audit_log(target=f"run:{theirs}", allowed=False)
    assert {"delete", "edit", "cancel"} <= {d.action for d in denied}
    denied += store.audit_log(target="dataset:digits", action="set_champion", allowed=False)[0]
    me = operator_actor(store)
    assert me.role == "student" and me.kind == "operator"
    assert len(denied) == 4 and all(d.actor_id == me.user_id for d in denied)

    mine = run_of(store, "mine", owner_id=me.user_id)
    capsys.readouterr()
    assert main(["runs", "list", "--json"]) == 0  # a student sees their own runs (and shared ones) only
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [mine]
    assert main(["runs", "show", str(theirs)]) == 2
    assert f"Run {theirs} does not exist" in capsys.readouterr().err
    assert main(["runs", "rename", str(mine), "still mine"]) == 0
    assert main(["runs", "delete", str(mine)]) == 0
    assert not store.exists(mine)

    monkeypatch.delenv("LAB_OPERATOR_ROLE")  # the operator is an admin by default: everything, audited
    assert main(["runs", "delete", str(theirs)]) == 0
    assert not store.exists(theirs)
    allowed, _ = store.audit_log(target=f"run:{theirs}", action="delete", allowed=True)
    assert len(allowed) == 1


def test_the_refusal_reaches_a_real_command_line(lab, lab_env):
    store, _ = lab
    rid = run_of(store, "local run")
    env = {**os.environ, "LAB_OPERATOR_ROLE": "viewer", "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    p = subprocess.run([sys.executable, "-m", "core", "runs", "delete", str(rid)], cwd=ROOT, capture_output=True,
                       text=True, env=env, timeout=120)
    assert p.returncode == 2, p.stderr
    assert "delete it" in p.stderr and "viewer" in p.stderr and "Traceback" not in p.stderr
    assert store.exists(rid)
