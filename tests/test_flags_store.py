"""Flags in the run store: the review queue, every decision kept, and who may see, review and delete."""
from __future__ import annotations

import pytest

from core.auth.guard import Denied, guarded
from core.auth.policy import Actor
from core.validation import NotFoundError, ValidationError

NAMES = ["akiec", "bcc", "mel"]


def _flag(store, rid, probs, **kw):
    return store.add_flag(rid, **{**_args(probs), **kw})


@pytest.fixture()
def people(any_store):
    def person(sub: str, role: str) -> Actor:
        user = any_store.upsert_user("https://idp.test", sub, email=f"{sub}@uni.test", role=role)
        return Actor(user.id, user.label, role)

    rid = any_store.create_run({"epochs": 1}, name="run", dataset="ham10000", model="small_cnn")
    any_store.set_shared(rid, True)
    return any_store, rid, {"a": person("alice", "student"), "b": person("bob", "student"),
                            "t": person("tess", "instructor"), "v": person("vic", "viewer")}


def test_the_queue_is_least_confident_first_and_every_decision_is_kept(people):
    store, rid, _ = people
    sure = _flag(store, rid, [0.05, 0.05, 0.9])
    unsure = _flag(store, rid, [0.4, 0.35, 0.25], kind="uncertain", proposed_label=None)
    middle = _flag(store, rid, [0.2, 0.6, 0.2])
    assert [f.id for f in store.list_flags()] == [unsure, middle, sure]
    assert store.list_flags()[0].confidence == pytest.approx(0.4) and store.get_flag(sure).dataset == "ham10000"

    assert store.decide_flag(sure, "accept").final_label == 2  # the proposed label
    assert store.decide_flag(unsure, "accept").final_label == 0  # uncertain, nothing proposed: the prediction
    with pytest.raises(ValidationError, match="needs the right class"):
        store.decide_flag(middle, "relabel")
    rec = store.decide_flag(middle, "relabel", label=0, note="an akiec")
    assert (rec.status, rec.final_label) == ("relabelled", 0)
    rec = store.decide_flag(middle, "reject", note="changed my mind")
    assert (rec.status, rec.final_label) == ("rejected", None)
    assert [(d.decision, d.label, d.note) for d in store.flag_decisions(middle)] == [
        ("relabel", 0, "an akiec"), ("reject", None, "changed my mind")]
    assert [f.id for f in store.list_flags(status="pending")] == []
    assert {f.id for f in store.list_flags(status=["accepted", "relabelled"], dataset="ham10000")} == {sure, unsure}
    with pytest.raises(ValidationError, match="'decision' parameter must be one of"):
        store.decide_flag(sure, "approve")
    with pytest.raises(ValidationError, match="class index from 0 to 2"):
        store.decide_flag(sure, "relabel", label=3)


def test_a_flag_is_checked_before_it_is_stored(people):
    store, rid, _ = people
    with pytest.raises(ValidationError, match="sha256"):
        _flag(store, rid, [0.2, 0.3, 0.5], image_path="photo_of_jane.jpg")
    with pytest.raises(ValidationError, match="3 numbers between 0 and 1"):
        _flag(store, rid, [0.5, 0.5])
    with pytest.raises(ValidationError, match="'kind' parameter must be one of"):
        _flag(store, rid, [0.2, 0.3, 0.5], kind="bad")
    with pytest.raises(NotFoundError, match="Run 999"):
        _flag(store, 999, [0.2, 0.3, 0.5])
    assert store.list_flags() == []


def test_reviewers_see_every_flag_others_only_their_own(people):
    store, rid, p = people
    fa = guarded(store, p["a"]).add_flag(rid, **_args([0.3, 0.3, 0.4]), created_by=p["b"].user_id)
    fv = guarded(store, p["v"]).add_flag(rid, **_args([0.5, 0.3, 0.2]))
    assert store.get_flag(fa).created_by == p["a"].user_id  # a caller's created_by is ignored
    assert [f.id for f in guarded(store, p["t"]).list_flags()] == [fa, fv]
    assert [f.id for f in guarded(store, p["a"]).list_flags()] == [fa]
    assert [f.id for f in guarded(store, p["b"]).list_flags()] == []
    with pytest.raises(NotFoundError, match=f"Flag {fa} does not exist"):
        guarded(store, p["b"]).get_flag(fa)
    with pytest.raises(NotFoundError):
        guarded(store, p["b"]).flag_decisions(fa)
    assert guarded(store, p["t"]).get_flag(fv).id == fv


def test_only_reviewers_decide_and_only_the_author_or_an_instructor_deletes(people):
    store, rid, p = people
    fa = guarded(store, p["a"]).add_flag(rid, **_args([0.3, 0.3, 0.4]))
    with pytest.raises(Denied, match="signed in as a student"):
        guarded(store, p["a"]).decide_flag(fa, "accept")
    rec = guarded(store, p["t"]).decide_flag(fa, "relabel", label=1, decided_by=p["a"].user_id)
    assert rec.status == "relabelled" and store.flag_decisions(fa)[0].decided_by == p["t"].user_id
    with pytest.raises(Denied, match="Only the person who made a flag or an instructor"):
        guarded(store, p["b"]).delete_flag(fa)
    assert store.get_flag(fa)
    guarded(store, p["a"]).delete_flag(fa)
    with pytest.raises(NotFoundError):
        store.get_flag(fa)
    assert store.list_flags() == []
    entries, _ = store.audit_log(target=f"flag:{fa}")
    assert {(e.action, e.allowed) for e in entries} == {("flag", True), ("review_flags", False),
                                                         ("review_flags", True), ("delete_flag", False),
                                                         ("delete_flag", True)}


def test_flagging_needs_the_right_to_flag_on_the_run(people):
    store, _, p = people
    private = store.create_run({"epochs": 1}, name="private", dataset="ham10000", model="small_cnn",
                               owner_id=p["b"].user_id)
    with pytest.raises(Denied, match="signed in as a student"):
        guarded(store, p["a"]).add_flag(private, **_args([0.3, 0.3, 0.4]))
    assert guarded(store, p["b"]).add_flag(private, **_args([0.3, 0.3, 0.4]))


def test_a_deleted_run_leaves_its_reviewed_flags(people):
    store, rid, _ = people
    fid = _flag(store, rid, [0.3, 0.3, 0.4])
    store.delete_run(rid)
    f = store.get_flag(fid)
    assert f.run_id is None and f.dataset == "ham10000" and f.class_names == NAMES


def _args(probs):
    sha = "c" * 64
    return dict(image_sha256=sha, image_path=f"{sha}.png", probs=probs, predicted=probs.index(max(probs)),
                kind="wrong", proposed_label=2, note="", class_names=NAMES)
