"""Jobs stay fair under a class: a queued run carries its owner, a role's limit of queued and
running runs (LAB_QUEUE_LIMITS) refuses one more with a message that says so, cancelling is for
the run's owner, instructors and admins, and training from ``run:<id>`` weights needs the right to
see that run. A real store (SQLite, and PostgreSQL where the tests reach one) and a real (not
started) JobManager: nothing is trained."""
from __future__ import annotations

import pytest

from core.auth.guard import Denied
from core.auth.policy import Actor
from core.jobs.admission import QueueLimitError, queue_limits
from core.jobs.manager import JobManager
from core.store.artifacts import RunFolder
from core.training.config import TrainConfig
from core.validation import ValidationError


def digits(**over) -> TrainConfig:
    cfg = dict(dataset={"name": "digits", "params": {}}, model="small_cnn", epochs=1, batch_size=32, seed=0)
    cfg.update(over)
    return TrainConfig(**cfg)


def person(store, subject: str, role: str) -> Actor:
    u = store.upsert_user("https://idp.example", subject, email=f"{subject}@uni.example", email_verified=True,
                          name=subject, role=role)
    return Actor(user_id=u.id, label=u.label, role=u.role, kind="user", email=u.email)


@pytest.fixture()
def store(any_store):
    """An empty store on SQLite, and on PostgreSQL when LAB_TEST_POSTGRES_URL names a server."""
    return any_store


@pytest.fixture()
def jm(store, monkeypatch):
    monkeypatch.delenv("LAB_QUEUE_LIMITS", raising=False)
    monkeypatch.setenv("LAB_MODELS_DIR", str(store.models_dir))
    return JobManager(store, store.models_dir)


def test_queue_limits_setting_is_parsed_with_clear_messages():
    assert queue_limits("") == {"student": 2}
    assert queue_limits("student=3, viewer=0") == {"student": 3, "viewer": 0}
    assert queue_limits("student=none,instructor=10") == {"instructor": 10}
    for bad, words in (("student=two", ["student", "'two'", "whole number", "student=2,viewer=0"]),
                       ("teacher=2", ["'teacher=2'", "admin, instructor, student, viewer"]),
                       ("student", ["'student'", "ROLE=N"])):
        with pytest.raises(ValidationError) as e:
            queue_limits(bad)
        assert all(w in str(e.value) for w in words), str(e.value)


def test_a_student_at_the_limit_is_refused_until_one_of_theirs_ends(store, jm):
    ana, ben = person(store, "ana", "student"), person(store, "ben", "student")
    first, second = jm.submit(digits(), name="a1", actor=ana), jm.submit(digits(), name="a2", actor=ana)
    assert {store.get_run(r).owner_id for r in (first, second)} == {ana.user_id}
    with pytest.raises(QueueLimitError) as e:
        jm.submit(digits(), name="a3", actor=ana)
    msg = str(e.value)
    assert "you have 2 runs queued or running" in msg and "a student may have at most 2" in msg
    assert "LAB_QUEUE_LIMITS" in msg and "was not queued" in msg
    assert store.list_runs(limit=0)[1] == 2  # nothing was written
    assert store.get_run(jm.submit(digits(), name="b1", actor=ben)).owner_id == ben.user_id  # a share each
    for _ in range(3):  # no actor (single-user mode, tests): the local user, no limit
        assert store.get_run(jm.submit(digits())).owner_id == store.local_user().id

    assert jm.cancel(first, actor=ana) == "cancelled"  # one of hers ends: room for one more
    third = jm.submit(digits(), name="a3", actor=ana)
    with pytest.raises(QueueLimitError):
        jm.submit(digits(), name="a4", actor=ana)
    assert store.claim_run(second, host="test", supervisor="test", executor="local")  # running still counts
    with pytest.raises(QueueLimitError):
        jm.submit(digits(), name="a4", actor=ana)
    store.set_status(second, "succeeded")  # finished: room again
    assert store.get_run(jm.submit(digits(), name="a4", actor=ana)).owner_id == ana.user_id
    assert third


def test_limits_come_from_the_setting_and_a_search_needs_room_for_each_trial(store, jm, monkeypatch):
    ana, viewer = person(store, "ana", "student"), person(store, "vic", "viewer")
    trials = [digits(seed=s) for s in range(3)]
    with pytest.raises(QueueLimitError) as e:
        jm.submit_search(digits(), trials, actor=ana)
    assert "these 3 runs were not queued" in str(e.value)
    assert store.list_runs(limit=0)[1] == 0  # not even the search's parent row
    parent = jm.submit_search(digits(), trials[:2], actor=ana)
    assert {r.owner_id for r in store.list_runs(limit=None)[0]} == {ana.user_id}
    assert len(store.get_run(parent).children) == 2
    monkeypatch.setenv("LAB_QUEUE_LIMITS", "student=3")
    jm.submit(digits(), actor=ana)
    monkeypatch.setenv("LAB_QUEUE_LIMITS", "student=lots")
    with pytest.raises(ValidationError, match="LAB_QUEUE_LIMITS gives student the limit 'lots'"):
        jm.submit(digits(), actor=ana)
    monkeypatch.setenv("LAB_QUEUE_LIMITS", "viewer=5")
    with pytest.raises(Denied):  # a viewer may not train at all, whatever the limit
        jm.submit(digits(), actor=viewer)


def test_cancel_is_for_the_owner_instructors_and_admins(store, jm):
    ana, ben = person(store, "ana", "student"), person(store, "ben", "student")
    teacher = person(store, "tia", "instructor")
    mine, again = jm.submit(digits(), actor=ana), jm.submit(digits(), actor=ana)
    with pytest.raises(Denied) as e:
        jm.cancel(mine, actor=ben)
    assert "only the run's owner or an instructor can cancel it" in str(e.value).lower()
    assert store.get_run(mine).status == "queued"
    denied, _ = store.audit_log(action="cancel", allowed=False)
    assert [(d.actor_id, d.target) for d in denied] == [(ben.user_id, f"run:{mine}")]
    assert jm.cancel(mine, actor=teacher) == "cancelled"
    assert jm.cancel(again) == "cancelled"  # no actor: the local user, as before


def test_weights_of_a_run_the_student_may_not_see_are_refused_before_a_run_exists(store, jm):
    from core.validation import LabError

    ana, ben = person(store, "ana", "student"), person(store, "ben", "student")
    theirs = store.create_run({"model": "mobilenetv2"}, name="ben's", dataset="digits", model="mobilenetv2",
                              kind="train", status="running", owner_id=ben.user_id)
    store.set_status(theirs, "succeeded")
    folder = RunFolder(store.models_dir / str(theirs))
    folder.mkdir()
    folder.path_of("model").write_bytes(b"not read: the run is not hers")
    cfg = digits(model="mobilenetv2", weights=f"run:{theirs}")
    with pytest.raises(LabError) as e:
        jm.submit(cfg, actor=ana)
    assert f"run:{theirs}" in str(e.value) and "ben's" not in str(e.value)
    assert store.list_runs(limit=0)[1] == 1  # only ben's run
    store.set_shared(theirs, True)  # shared with the class: she may start from it
    rid = jm.submit(cfg, actor=ana)
    assert store.get_run(rid).owner_id == ana.user_id
