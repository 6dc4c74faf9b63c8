"""The pages obey the policy (``core.auth.policy``) for every role, on a real store with runs of two
owners (AppTest, signed in through ``at.user`` as Streamlit's OpenID Connect sign-in would be): what
the Runs list shows, the delete / champion / share controls of a run's page and why they are
missing, another's private run reached by a crafted ``?run=`` (the same "not found" as a missing
run), and a viewer on Train."""
from __future__ import annotations

import pytest

from core.auth.policy import refusal
from lab_pages_support import page_texts, problems
from roles_pages_support import as_user, lab_with_owners, open_page

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("page_jobs_cleanup")]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with lab_with_owners(tmp_path_factory.mktemp("roles_pages")) as facts:
        yield facts


def _listed(at) -> set[str]:
    """The run names the Runs list shows."""
    return set(at.dataframe[0].value["name"]) if at.dataframe else set()


@pytest.mark.parametrize("role, expected", [
    ("student", {"alice run", "bob shared"}),       # own runs + runs shared with the class
    ("viewer", {"bob shared"}),                     # shared runs only
    ("instructor", {"alice run", "bob shared", "bob private"}),
    ("admin", {"alice run", "bob shared", "bob private"}),
])
def test_runs_list_shows_what_the_role_may_see(lab, role, expected):
    at = open_page(lab, role, "runs")
    assert problems(at) == []
    assert _listed(at) == expected


def test_import_bundle_only_for_those_allowed(lab):
    student = open_page(lab, "student", "runs")
    assert not [e for e in student.get("expander") if "Import a run bundle" in str(e.proto.label)]
    instructor = open_page(lab, "instructor", "runs")
    assert [e for e in instructor.get("expander") if "Import a run bundle" in str(e.proto.label)]


def test_crafted_url_of_a_private_run_is_not_found(lab):
    hidden = open_page(lab, "student", "runs", {"run": str(lab["ids"]["bob private"])})
    missing = open_page(lab, "student", "runs", {"run": "987654"})
    texts = [str(e.value) for e in hidden.error]
    assert texts and "bob private" not in page_texts(hidden)
    assert [t.replace(str(lab["ids"]["bob private"]), "N") for t in texts] == \
        [t.replace("987654", "N") for t in (str(e.value) for e in missing.error)]
    assert not hidden.title or not any("bob private" in str(t.value) for t in hidden.title)


def _manage(at):
    at.session_state["r_tab"] = "Manage"
    return at.run()


def test_student_on_anothers_shared_run_sees_no_controls_with_reasons(lab):
    rid = lab["ids"]["bob shared"]
    at = _manage(open_page(lab, "student", "runs", {"run": str(rid)}))
    assert problems(at) == []
    assert any(f"Run #{rid}" in str(t.value) for t in at.title)
    captions = " ".join(str(c.value) for c in at.caption)
    assert "Only the run's owner or an instructor can delete it (you are signed in as a student)" in captions
    assert "can make it (or clear) a champion (you are signed in as a student)" in captions
    assert not [b for b in at.button if b.key in (f"r_delete_{rid}", f"r_champ_set_{rid}", f"r_save_tags_{rid}")]
    assert at.toggle(key=f"r_share_{rid}").disabled
    assert at.text_input(key=f"r_tags_{rid}").disabled


def test_owner_shares_and_instructor_manages(lab):
    rid = lab["ids"]["alice run"]
    at = _manage(open_page(lab, "student", "runs", {"run": str(rid)}))  # alice, the owner
    assert problems(at) == []
    share = at.toggle(key=f"r_share_{rid}")
    assert not share.disabled and share.value is False
    share.set_value(True).run()
    assert problems(at) == []
    store = lab["store"]
    assert store.get_run(rid).shared is True
    viewer = open_page(lab, "viewer", "runs")
    assert "alice run" in _listed(viewer)  # shared now: the class sees it
    store.set_shared(rid, False)
    rid = lab["ids"]["bob shared"]
    at = _manage(open_page(lab, "instructor", "runs", {"run": str(rid)}))
    assert problems(at) == []
    assert at.button(key=f"r_champ_set_{rid}") is not None
    assert not at.toggle(key=f"r_share_{rid}").disabled


def test_viewer_cannot_train_and_says_why(lab):
    at = open_page(lab, "viewer", "train")
    assert problems(at) == []
    assert "can train (you are signed in as a viewer)" in " ".join(str(i.value) for i in at.info)
    assert not [b for b in at.button if b.key == "t_submit"]
    student = open_page(lab, "student", "train")
    assert [b for b in student.button if b.key == "t_submit"]


def test_compare_and_predict_offer_only_visible_runs(lab):
    at = open_page(lab, "viewer", "predict")
    assert problems(at) == []
    offered = at.selectbox(key="p_run").options
    assert all("bob private" not in o and "alice run" not in o for o in offered)


@pytest.mark.parametrize("role", ["admin", "instructor", "student", "viewer"])
def test_every_page_signed_in_for_every_role(lab, role):
    for page in ("home", "data_explorer", "augmentation", "train", "runs", "compare", "recipes", "predict", "admin"):
        at = open_page(lab, role, page)
        if page == "admin" and role in ("student", "viewer"):  # refused, with the policy's reason and nothing else
            assert problems(at) == [f"error: {refusal('manage_users', role)}"], (role, page)
            assert not at.dataframe
        else:
            assert problems(at) == [], (role, page)


def test_not_signed_in_sees_no_run(lab):
    at = as_user(lab, None, "runs")
    assert "bob shared" not in page_texts(at)
    assert not at.dataframe
