"""The flag form under a prediction (pages._flagging.flag_form, AppTest of a tiny script calling it with the
page's guarded store): nothing is stored without the consent box ticked, a wrong prediction needs the correct
label, a submitted flag says its id and "pending review" and is stored as pixels only with the actor as its
author; an actor who may not flag the run gets the policy's reason instead of the form."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from lab_pages_support import digit_png, problems

pytestmark = [pytest.mark.usefixtures("page_jobs_cleanup")]

CLASSES = ["zero", "one", "two"]


def _form_script(run_id: int, image: bytes, classes: list, probs: list, role: str | None = None,
                 user_id: int | None = None):
    from pages import _flagging, _resources

    store = _resources.guarded_store()
    if role is not None:  # another person than the local user
        from core.auth.guard import guarded
        from core.auth.policy import Actor

        store = guarded(_resources.get_store(), Actor(user_id=user_id, label="vic@clinic.test", role=role))
    run = _resources.get_store().get_run(run_id)
    _flagging.flag_form(store, run, classes, image, probs, key="t0")


@pytest.fixture()
def lab(lab_env, monkeypatch):
    from core.store import Store

    monkeypatch.setenv("LAB_DASHBOARD_SUPERVISOR", "0")
    store = Store(f"sqlite:///{lab_env / 'runs.db'}", models_dir=lab_env / "trained_models")
    rid = store.create_run({"dataset": {"name": "digits"}, "model": "small_cnn"}, name="queued", dataset="digits",
                           model="small_cnn")
    yield {"store": store, "run": rid, "image": digit_png(3)[0]}
    store.close()


def _app(lab, **kw):
    at = AppTest.from_function(_form_script, kwargs=dict(run_id=lab["run"], image=lab["image"], classes=CLASSES,
                                                         probs=[0.2, 0.7, 0.1], **kw), default_timeout=60)
    return at.run()


def test_consent_is_required_and_a_flag_is_stored_as_pixels(lab):
    store = lab["store"]
    at = _app(lab)
    assert problems(at) == []
    from core.serving.flagging import CONSENT_TEXT

    assert at.checkbox(key="t0_flag_consent").label.replace("\\", "") == CONSENT_TEXT
    at.radio(key="t0_flag_kind").set_value("wrong")
    at.selectbox(key="t0_flag_label").set_value(2)
    at.button(key="FormSubmitter:t0_flag_form-Submit flag").click().run()
    assert any("consent" in e.value for e in at.error)
    assert store.list_flags() == []
    # consent but no label for a wrong prediction
    at.checkbox(key="t0_flag_consent").check()
    at.selectbox(key="t0_flag_label").set_value(None)
    at.button(key="FormSubmitter:t0_flag_form-Submit flag").click().run()
    assert any("correct label" in e.value for e in at.error)
    assert store.list_flags() == []
    at.selectbox(key="t0_flag_label").set_value(2)
    at.text_area(key="t0_flag_note").input("the stroke is a two")
    at.button(key="FormSubmitter:t0_flag_form-Submit flag").click().run()
    assert problems(at) == []
    (flag,) = store.list_flags()
    assert any(f"Flag #{flag.id} saved" in s.value and "pending review" in s.value for s in at.success)
    assert (flag.kind, flag.proposed_label, flag.predicted, flag.status) == ("wrong", 2, 1, "pending")
    assert flag.note == "the stroke is a two" and flag.created_by == store.local_user().id
    from core.serving.flagging import flag_image_path

    assert flag_image_path(store, flag).is_file()


def test_uncertain_flag_without_a_label(lab):
    at = _app(lab)
    at.radio(key="t0_flag_kind").set_value("uncertain")
    at.checkbox(key="t0_flag_consent").check()
    at.button(key="FormSubmitter:t0_flag_form-Submit flag").click().run()
    assert problems(at) == []
    (flag,) = lab["store"].list_flags()
    assert (flag.kind, flag.proposed_label) == ("uncertain", None)


def test_actor_who_may_not_flag_sees_the_reason(lab):
    store = lab["store"]
    owner = store.upsert_user("https://idp.test", "u-bob", email="bob@uni.test", email_verified=True, role="student",
                              role_source="claim")
    vic = store.upsert_user("https://idp.test", "u-vic", email="vic@clinic.test", email_verified=True,
                            role="viewer", role_source="claim")
    private = store.create_run({"dataset": {"name": "digits"}, "model": "small_cnn"}, name="bob's", dataset="digits",
                               model="small_cnn", owner_id=owner.id)
    at = _app({**lab, "run": private}, role="viewer", user_id=vic.id)
    assert problems(at) == []
    assert not at.get("form") and not at.checkbox
    assert any("flag one of its predictions" in c.value for c in at.caption)
