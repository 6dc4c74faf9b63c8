"""The one authorisation check in core: every public method of the run store is classified
(a mutation checked against the policy, a system-only method, or a filtered read), every
mutation of another student's run is refused and audited, a run one may not see is a missing
run, and the audit log keeps before and after of renames, champions, shares and role changes."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.auth.guard import MUTATIONS, READS, SYSTEM_ONLY, Denied, GuardedStore, guarded
from core.auth.policy import POLICY, Actor
from core.store import Store
from core.validation import NotFoundError


@pytest.fixture()
def lab(store, tmp_path):
    """Students A and B, an admin, and a user whose role the admin changes."""
    def person(sub: str, role: str) -> Actor:
        user = store.upsert_user("https://idp.test", sub, email=f"{sub}@uni.test", role=role)
        return Actor(user.id, user.label, role)

    return {"store": store, "tmp": tmp_path, "a": person("alice", "student"), "b": person("bob", "student"),
            "admin": person("ada", "admin"), "c": person("carl", "viewer")}


def _run_of(lab, who: str = "a", **kw) -> int:
    """A succeeded digits training run owned by ``who`` (champion-ready)."""
    s = lab["store"]
    rid = s.create_run({"epochs": 1}, name=f"{who}'s run", dataset="digits", model="small_cnn",
                       owner_id=lab[who].user_id, **kw)
    s.set_status(rid, "running")
    s.set_status(rid, "succeeded")
    return rid


def _bundle_dir(lab):
    folder = lab["tmp"] / f"bundle{len(list(lab['tmp'].glob('bundle*')))}"
    folder.mkdir()
    (folder / "history.json").write_text("{}")
    return folder


#: an external evaluation's fields (core.store.external)
EXTERNAL = dict(name="clinic A", n_images=3, n_overlap=0, files_hash="0" * 64,
                source={"format": "folders", "data_dir": "/data/a", "labels_csv": None},
                result={}, shift={}, overlap={})

#: a flag's fields (core.store.flags)
FLAG = dict(image_sha256="a" * 64, image_path="a" * 64 + ".png", probs=[0.6, 0.4], predicted=0, kind="wrong",
            proposed_label=1, note="", class_names=["cat", "dog"])

#: how each mutation is called on run ``rid`` (a lab-wide one: on the lab, about that run)
CALLS = {
    "create_run": lambda gs, lab, rid: gs.create_run({"x": 1}, name="trial", parent_id=rid),
    "restore_run": lambda gs, lab, rid: gs.restore_run(
        {"name": "imported", "kind": "train", "status": "succeeded", "config": {}}, params={}, summary={},
        metrics=[], tags={}, artifacts={"history.json": "history"}, files_dir=_bundle_dir(lab)),
    "rename_run": lambda gs, lab, rid: gs.rename_run(rid, "renamed"),
    "set_tags": lambda gs, lab, rid: gs.set_tags(rid, {"k": "v"}),
    "add_tag": lambda gs, lab, rid: gs.add_tag(rid, "k", "v"),
    "remove_tag": lambda gs, lab, rid: gs.remove_tag(rid, "k"),
    "set_notes": lambda gs, lab, rid: gs.set_notes(rid, "a note"),
    "delete_run": lambda gs, lab, rid: gs.delete_run(rid),
    "set_shared": lambda gs, lab, rid: gs.set_shared(rid, True),
    "set_champion": lambda gs, lab, rid: gs.set_champion("digits", rid),
    "clear_champion": lambda gs, lab, rid: gs.clear_champion("digits"),
    "request_cancel": lambda gs, lab, rid: gs.request_cancel(rid),
    "set_user_role": lambda gs, lab, rid: gs.set_user_role(lab["c"].user_id, "instructor"),
    "set_user_disabled": lambda gs, lab, rid: gs.set_user_disabled(lab["c"].user_id, True),
    "add_external_evaluation": lambda gs, lab, rid: gs.add_external_evaluation(rid, **EXTERNAL),
    "delete_external_evaluation": lambda gs, lab, rid: gs.delete_external_evaluation(
        lab["store"].add_external_evaluation(rid, **EXTERNAL)),
    "add_flag": lambda gs, lab, rid: gs.add_flag(rid, **FLAG),
    "decide_flag": lambda gs, lab, rid: gs.decide_flag(lab["store"].add_flag(rid, **FLAG), "accept"),
    "delete_flag": lambda gs, lab, rid: gs.delete_flag(lab["store"].add_flag(rid, **FLAG, created_by=lab["a"].user_id)),
    "add_flag_dataset": lambda gs, lab, rid: gs.add_flag_dataset(
        name="flags-digits-v1", dataset="digits", version=1, path="/x", n_images=0, manifest_sha256="0" * 64,
        flag_ids=[]),
}


def test_every_store_method_is_in_exactly_one_class():
    public = {n for n in dir(Store) if not n.startswith("_")}
    classes = [set(MUTATIONS), set(SYSTEM_ONLY), set(READS)]
    unclassified = public - set().union(*classes)
    assert not unclassified, f"Store methods the guard does not know: {sorted(unclassified)}"
    assert all(not (x & y) for i, x in enumerate(classes) for y in classes[i + 1:])
    assert set().union(*classes) == public  # nothing stale either
    assert set(CALLS) == set(MUTATIONS) and set(MUTATIONS.values()) <= set(POLICY)


def test_every_mutation_and_read_is_reachable_and_every_system_method_refused(lab):
    gs = guarded(lab["store"], lab["admin"])
    for name in set(MUTATIONS) | READS:
        assert callable(getattr(gs, name)), name
    for name in sorted(SYSTEM_ONLY):
        with pytest.raises(Denied, match="done by the lab itself"):
            getattr(gs, name)
    entries, total = lab["store"].audit_log(action="system", allowed=False)
    assert total == len(SYSTEM_ONLY) and {e.target for e in entries} == {f"store.{n}" for n in SYSTEM_ONLY}


@pytest.mark.parametrize("method", sorted(MUTATIONS))
def test_a_student_cannot_change_another_students_run_and_the_owner_can(lab, method):
    store = lab["store"]
    rid = _run_of(lab, "a")
    gb = guarded(store, lab["b"])
    _, denied_before = store.audit_log(actor=lab["b"].user_id, allowed=False)
    with pytest.raises(Denied) as err:
        CALLS[method](gb, lab, rid)
    assert "you are signed in as a student" in str(err.value) and "ask" in str(err.value)
    entries, denied_after = store.audit_log(actor=lab["b"].user_id, allowed=False)
    assert denied_after == denied_before + 1
    assert entries[0].action in {MUTATIONS[method], "edit"} and entries[0].actor_label == "bob@uni.test"
    assert store.exists(rid) and store.get_run(rid).name == "a's run"  # nothing changed
    # the owner may when the policy lets a student act on their own runs; else an admin may
    may_own = POLICY[MUTATIONS[method]]["student"] in ("own", "shared")
    doer = lab["a"] if may_own else lab["admin"]
    if not may_own:
        with pytest.raises(Denied):
            CALLS[method](guarded(store, lab["a"]), lab, rid)
    CALLS[method](guarded(store, doer), lab, rid)
    allowed, _ = store.audit_log(actor=doer.user_id, allowed=True)
    assert allowed and allowed[0].action in {MUTATIONS[method], "train"}


def test_a_student_deleting_anothers_run_through_core_is_refused(lab):
    store = lab["store"]
    rid = _run_of(lab, "a")
    store.set_shared(rid, True)  # even a run the student may see
    with pytest.raises(Denied, match="Only the run's owner or an instructor can delete it"):
        guarded(store, lab["b"]).delete_run(rid)
    assert store.exists(rid)
    with pytest.raises(Denied):  # a run that does not exist reads the same to a mutation
        guarded(store, lab["b"]).delete_run(rid + 1000)
    guarded(store, lab["a"]).delete_run(rid)
    assert not store.exists(rid)


def _shape(err: Exception, rid: int) -> tuple[type, str]:
    return type(err), str(err).replace(str(rid), "N")


def test_a_run_one_may_not_see_is_a_missing_run(lab):
    store = lab["store"]
    rid, missing = _run_of(lab, "a"), 10_000
    store.log_metrics(rid, {"loss": 0.5}, 0)
    gb = guarded(store, lab["b"])
    for read in (gb.get_run, gb.get_metric_history, gb.run_dir, gb.run_access, gb.is_cancel_requested):
        with pytest.raises(NotFoundError) as hidden:
            read(rid)
        with pytest.raises(NotFoundError) as absent:
            read(missing)
        assert _shape(hidden.value, rid) == _shape(absent.value, missing), read.__name__
    with pytest.raises(NotFoundError) as hidden:
        gb.get_histories([rid])
    with pytest.raises(NotFoundError) as absent:
        store.get_histories([missing])
    assert _shape(hidden.value, rid) == _shape(absent.value, missing)
    assert not gb.exists(rid) and gb.get_configs([rid]) == {} and gb.list_runs() == ([], 0)
    store.set_shared(rid, True)
    assert gb.get_run(rid).shared and gb.exists(rid) and gb.list_runs()[1] == 1
    assert list(gb.get_metric_history(rid).value) == [0.5]
    assert guarded(store, lab["admin"]).list_runs()[1] == 1  # an admin sees every run


def test_audit_rows_keep_before_and_after(lab):
    store = lab["store"]
    ga, gadmin = guarded(store, lab["a"]), guarded(store, lab["admin"])
    first, second = _run_of(lab, "a"), _run_of(lab, "a")
    ga.rename_run(first, "better name")
    ga.set_shared(first, True)
    gadmin.set_champion("digits", first)
    gadmin.set_champion("digits", second)
    gadmin.clear_champion("digits")
    gadmin.set_user_role(lab["c"].user_id, "student")
    gadmin.set_user_disabled(lab["c"].user_id, True)
    rows = [(e.action, e.target, e.before, e.after) for e in reversed(store.audit_log(allowed=True)[0])]
    assert rows[-7:] == [
        ("edit", f"run:{first}", {"name": "a's run"}, {"name": "better name"}),
        ("share", f"run:{first}", {"shared": False}, {"shared": True}),
        ("set_champion", "dataset:digits", {"run_id": None}, {"run_id": first}),
        ("set_champion", "dataset:digits", {"run_id": first}, {"run_id": second}),
        ("set_champion", "dataset:digits", {"run_id": second}, {"run_id": None}),
        ("manage_users", f"user:{lab['c'].user_id}", {"role": "viewer"}, {"role": "student"}),
        ("manage_users", f"user:{lab['c'].user_id}", {"disabled": False}, {"disabled": True}),
    ]
    assert store.get_user(lab["c"].user_id).role_source == "admin"
    assert store.champion_history("digits")[0].cleared_by == "ada@uni.test"


def test_an_admin_cannot_change_their_own_role(lab):
    with pytest.raises(Exception, match="your own"):
        guarded(lab["store"], lab["admin"]).set_user_role(lab["admin"].user_id, "viewer")
    assert lab["store"].get_user(lab["admin"].user_id).role == "admin"


def _statements(store: Store):
    seen: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_the_check_is_one_small_query_and_the_list_filter_is_sql(lab):
    store = lab["store"]
    rid = _run_of(lab, "a")
    _run_of(lab, "a")  # not shared: filtered out
    store.set_shared(rid, True)
    gb = guarded(store, lab["b"])
    seen = _statements(store)
    guarded(store, lab["a"]).authorize("predict", rid)  # a read action: no audit row
    selects = [q for q in seen if q.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1 and "config" not in selects[0]
    seen.clear()
    assert gb.list_runs()[1] == 1
    raw = len(seen)
    assert any("owner_id" in q and "WHERE" in q for q in seen)
    seen.clear()
    store.list_runs()
    assert len(seen) == raw  # the filter adds no query


def test_guarded_wraps_a_guarded_store_once(lab):
    gs = guarded(guarded(lab["store"], lab["a"]), lab["b"])
    assert isinstance(gs, GuardedStore) and gs.actor == lab["b"] and isinstance(gs._store, Store)
    assert gs.view == (lab["b"].user_id, True) and guarded(lab["store"], lab["admin"]).view is None
