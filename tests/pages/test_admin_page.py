"""The Admin page (AppTest, sign-in on, a real store): an admin sees the users and changes a role or
disables someone, each change written to the audit log with its before and after; the role x action
table is the policy's; the audit log filters (actor, action, denied only) and pages; an instructor
reads the audit log only; a student is refused; single-user mode has no Admin page."""
from __future__ import annotations

import pytest

from core.auth.policy import POLICY
from lab_pages_support import app_at, problems
from roles_pages_support import as_user, lab_with_owners, open_page

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("page_jobs_cleanup")]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with lab_with_owners(tmp_path_factory.mktemp("admin_page")) as facts:
        yield facts


def test_admin_changes_a_role_and_it_is_audited(lab):
    store, dave = lab["store"], lab["users"]["dave"]
    at = open_page(lab, "admin", "admin")
    assert problems(at) == []
    users = at.dataframe[0].value
    assert {"email", "name", "role", "first seen", "last seen", "disabled"} <= set(users.columns)
    assert "dave@uni.test" in set(users["email"])
    at.selectbox(key="adm_user").set_value(dave.id).run()
    at.selectbox(key=f"adm_role_{dave.id}").set_value("student").run()
    at.button(key="adm_save_role").click().run()
    assert problems(at) == []
    assert store.get_user(dave.id).role == "student"
    entries, _ = store.audit_log(target=f"user:{dave.id}")
    change = next(e for e in entries if e.allowed and e.after)
    assert change.actor_label == "ada@uni.test"
    assert "viewer" in str(change.before) and "student" in str(change.after)
    # disabling: the next page action of that person is refused
    at.selectbox(key="adm_user").set_value(dave.id).run()
    at.button(key="adm_disable").click().run()
    assert store.get_user(dave.id).disabled
    refused = as_user(lab, "dave", "home")
    assert refused.error and not refused.dataframe
    store.set_user_disabled(dave.id, False)


def test_role_table_is_the_policy(lab):
    at = open_page(lab, "admin", "admin")
    at.session_state["adm_tab"] = "Roles and actions"
    at.run()
    table = next(d.value for d in at.dataframe if "action" in d.value.columns)
    assert list(table["action"]) == list(POLICY)
    row = table.set_index("action").loc["delete"]
    assert (row["student"], row["viewer"], row["instructor"]) == ("own", "—", "any run")


def test_audit_log_filters_denied_and_pages(lab):
    store = lab["store"]
    # a student's refused attempt, through the core with that student as the actor
    from core.auth.actors import actor_from_claims
    from core.auth.guard import Denied, guarded
    from roles_pages_support import claims

    alice = actor_from_claims(store, claims("student"), provider="default")
    with pytest.raises(Denied):
        guarded(store, alice).delete_run(lab["ids"]["bob shared"])
    at = open_page(lab, "instructor", "admin")  # instructors read the audit log, manage no one
    assert problems(at) == []
    at.session_state["adm_tab"] = "Audit log"
    at.run()
    at.toggle(key="adm_a_denied").set_value(True).run()
    log = next(d.value for d in at.dataframe if "allowed" in d.value.columns)
    assert set(log["allowed"]) == {"DENIED"}
    assert ((log["who"] == "alice@uni.test") & (log["action"] == "delete")).any()
    at.text_input(key="adm_a_actor").set_value("nobody-at-all").run()
    assert "No audit entry matches these filters." in " ".join(str(i.value) for i in at.info)
    assert not [k for k in ("adm_user", "adm_save_role") if k in at.session_state]


def test_student_is_refused_and_single_user_mode_has_no_admin_page(lab):
    from core.auth.policy import Actor
    from pages._resources import admin_page_visible

    at = open_page(lab, "student", "admin")  # not in a student's navigation; its address says why
    assert "can manage users and roles (you are signed in as a student)" in " ".join(str(e.value) for e in at.error)
    assert not at.dataframe
    assert admin_page_visible(Actor(1, "local", "admin", kind="local")) is False  # single-user mode: no Admin page
    assert admin_page_visible(Actor(2, "ada", "admin")) and admin_page_visible(Actor(3, "ines", "instructor"))
    assert not admin_page_visible(Actor(4, "alice", "student")) and not admin_page_visible(Actor(5, "vic", "viewer"))
    local = app_at("home")  # no [auth] section: single-user mode, the pages as before
    assert problems(local) == []
