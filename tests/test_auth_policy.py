"""The role x action matrix, exactly as ``core.auth.policy.POLICY`` says, through the guard
(``core.auth.guard.GuardedStore.authorize``) on real runs of a real store: for each role, a run
the actor owns, another person's run shared with the class, another person's private run, and
the lab as a whole for the lab actions."""
from __future__ import annotations

import pytest

from core.auth.guard import Denied, guarded
from core.auth.policy import ACTIONS, LAB_ACTIONS, POLICY, ROLES, Actor
from core.validation import NotFoundError

EXPECTED = {  # scope -> (own run, shared run of another, private run of another)
    "any": (True, True, True),
    "shared": (True, True, False),
    "own": (True, False, False),
    "none": (False, False, False),
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A store with one user per role, a private run of each, and another person's shared and private runs."""
    from core.store import Store

    root = tmp_path_factory.mktemp("policy")
    store = Store(f"sqlite:///{root / 'runs.db'}", models_dir=root / "models")
    other = store.upsert_user("https://idp.test", "other", email="other@uni.test", role="student")
    runs = {"shared": store.create_run({"x": 1}, name="shared by other", owner_id=other.id),
            "private": store.create_run({"x": 2}, name="private of other", owner_id=other.id)}
    store.set_shared(runs["shared"], True)
    actors, own = {}, {}
    for role in ROLES:
        user = store.upsert_user("https://idp.test", role, email=f"{role}@uni.test", role=role)
        actors[role] = Actor(user.id, user.label, role)
        own[role] = store.create_run({"x": 3}, name=f"{role}'s run", owner_id=user.id)
    yield {"store": store, "actors": actors, "own": own, "runs": runs}
    store.close()


def _allowed(gs, action: str, run_id: int | None) -> bool:
    try:
        gs.authorize(action, run_id)
    except Denied:
        return False
    except NotFoundError:  # a run the actor may not see is, to a read, a missing run
        assert action == "view"
        return False
    return True


def test_the_table_has_every_action_and_role():
    assert set(POLICY) == set(ACTIONS) and LAB_ACTIONS <= set(ACTIONS)
    assert all(set(row) == set(ROLES) for row in POLICY.values())


@pytest.mark.parametrize("role", ROLES)
def test_role_by_action_matrix_through_the_guard(lab, role):
    gs = guarded(lab["store"], lab["actors"][role])
    got, want = {}, {}
    for action, row in POLICY.items():
        scope = row[role]
        if action in LAB_ACTIONS:
            got[action] = _allowed(gs, action, None)
            want[action] = scope != "none"
        else:
            got[action] = tuple(_allowed(gs, action, rid)
                                for rid in (lab["own"][role], lab["runs"]["shared"], lab["runs"]["private"]))
            want[action] = EXPECTED[scope]
    assert got == want


@pytest.mark.parametrize("role", ROLES)
def test_denials_are_audited_and_allowed_changes_too(lab, role):
    store, actor = lab["store"], lab["actors"][role]
    gs = guarded(store, actor)
    before, _ = store.audit_log(actor=actor.user_id, limit=1000)
    for action in POLICY:
        _allowed(gs, action, None if action in LAB_ACTIONS else lab["runs"]["private"])
    after, _ = store.audit_log(actor=actor.user_id, limit=1000)
    new = after[:len(after) - len(before)]
    denied = {e.action for e in new if not e.allowed}
    assert denied == {a for a, row in POLICY.items() if row[role] in ("none", "own", "shared")
                      and not (a in LAB_ACTIONS and row[role] != "none")}
    for entry in new:
        if not entry.allowed:
            assert f"signed in as a{'n' if role[0] in 'aeiou' else ''} {role}" in entry.reason
