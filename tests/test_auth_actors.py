"""Who is acting: the local user, the local operator, and a signed-in person's role from the
ID token's claims, ``LAB_ADMINS`` (verified e-mails of configured providers only), an admin's
choice (kept at later sign-ins) or the default role; a disabled user is refused at their next action."""
from __future__ import annotations

import getpass

import pytest

from core.auth.actors import LOCAL_ACTOR, actor_from_claims, local_actor, operator_actor, refresh_actor
from core.auth.guard import Denied
from core.validation import ValidationError

IDP = "https://idp.test/realms/lab"


def _claims(sub: str, **extra) -> dict:
    return {"iss": IDP, "sub": sub, "email": f"{sub}@uni.test", "email_verified": True, **extra}


def test_local_and_operator_actors(store, monkeypatch):
    local = local_actor(store)
    assert local == LOCAL_ACTOR and local.user_id == store.local_user().id
    op = operator_actor(store)
    assert (op.role, op.kind) == ("admin", "operator") and op.label == getpass.getuser()
    monkeypatch.setenv("LAB_OPERATOR_ROLE", "instructor")
    again = operator_actor(store)
    assert again.user_id == op.user_id and again.role == "instructor" == store.get_user(op.user_id).role
    monkeypatch.setenv("LAB_OPERATOR_ROLE", "root")
    with pytest.raises(ValidationError, match="LAB_OPERATOR_ROLE='root' is not a role"):
        operator_actor(store)


def test_role_from_the_claim_mapped_by_the_settings(store, monkeypatch):
    assert actor_from_claims(store, _claims("s1", roles=["student"]), provider="kc").role == "student"
    monkeypatch.setenv("LAB_ROLE_CLAIM", "groups")
    monkeypatch.setenv("LAB_ROLE_MAP", "teacher=instructor, lab-admin=admin")
    assert actor_from_claims(store, _claims("t1", groups=["class-a", "teacher"]), provider="kc").role == "instructor"
    assert actor_from_claims(store, _claims("t2", groups="lab-admin"), provider="kc").role == "admin"
    assert actor_from_claims(store, _claims("t3", groups=["teacher", "lab-admin"]), provider="kc").role == "admin"
    assert actor_from_claims(store, _claims("n1", groups=["other"]), provider="kc").role == "viewer"
    monkeypatch.setenv("LAB_ROLE_MAP", "teacher")
    with pytest.raises(ValidationError, match="LAB_ROLE_MAP holds 'teacher'"):
        actor_from_claims(store, _claims("t4"), provider="kc")


def test_first_admins_only_from_a_verified_email_of_a_configured_provider(store, monkeypatch):
    monkeypatch.setenv("LAB_ADMINS", "boss@uni.test, Chief@uni.test")
    monkeypatch.setenv("LAB_ADMINS_PROVIDERS", "kc")
    assert actor_from_claims(store, _claims("boss"), provider="kc").role == "admin"
    assert actor_from_claims(store, _claims("chief"), provider="kc").role == "admin"  # case-insensitive
    unverified = {**_claims("boss"), "sub": "boss-2", "email": "boss@uni.test", "email_verified": False}
    assert actor_from_claims(store, unverified, provider="kc").role == "viewer"
    elsewhere = {**_claims("boss-3"), "iss": "https://other.test", "email": "boss@uni.test"}
    assert actor_from_claims(store, elsewhere, provider="google").role == "viewer"
    monkeypatch.setenv("LAB_DEFAULT_ROLE", "student")
    assert actor_from_claims(store, _claims("new"), provider="kc").role == "student"


def test_an_admins_choice_is_kept_and_changes_take_effect_at_the_next_action(store):
    ann = actor_from_claims(store, _claims("ann", roles="student", name="Ann"), provider="kc")
    assert (ann.role, ann.label, ann.email) == ("student", "ann@uni.test", "ann@uni.test")
    store.set_user_role(ann.user_id, "instructor")  # by an admin
    assert refresh_actor(store, ann).role == "instructor"
    assert actor_from_claims(store, _claims("ann", roles="student"), provider="kc").role == "instructor"
    store.set_user_disabled(ann.user_id, True)
    with pytest.raises(Denied, match="ann@uni.test is disabled"):
        refresh_actor(store, ann)
    with pytest.raises(Denied, match="disabled"):
        actor_from_claims(store, _claims("ann"), provider="kc")


def test_odd_claims(store):
    with pytest.raises(Denied, match="no issuer"):
        actor_from_claims(store, {"email": "x@uni.test"}, provider="kc")
    odd = actor_from_claims(store, {**_claims("odd"), "name": "evil\u202egpj.exe", "email": "\x00"}, provider="kc")
    assert odd.label == "odd" and store.get_user(odd.user_id).name is None  # refused text is left out, not stored
