"""The Review flags page (AppTest through app.py, a real store with flags made by the flagging service): a
reviewer sees the queue least confident first with each flag's image, probabilities, proposed label and note;
accepts, relabels, rejects (each decision kept in the history), deletes a flag with its image, filters by status
and exports the accepted flags as a dataset version (name, image count, manifest hash). With sign-in on, a
student sees only the flags they made, with the reason, and may delete them; an instructor reviews them all."""
from __future__ import annotations

import re

import pytest

from lab_pages_support import app_at, digit_png, lab_environ, page_texts, problems
from roles_pages_support import ISSUER, PEOPLE, ROLE_OF, as_user

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("page_jobs_cleanup")]

DIGITS = [str(i) for i in range(10)]


def _probs(top: float, cls: int) -> list[float]:
    p = [(1 - top) / 9] * 10
    p[cls] = top
    return p


@pytest.fixture()
def lab(tmp_path, monkeypatch):
    """A store (job supervisor off) with one queued digits run and the people of roles_pages_support."""
    from core.store import Store

    env = {**lab_environ(tmp_path), "LAB_DASHBOARD_SUPERVISOR": "0"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    store = Store(env["LAB_DATABASE_URL"], models_dir=env["LAB_MODELS_DIR"])
    users = {who: store.upsert_user(ISSUER, sub, email=email, email_verified=True, role=ROLE_OF.get(who, who),
                                    role_source="claim") for who, (sub, email) in PEOPLE.items()}
    rid = store.create_run({"dataset": {"name": "digits"}, "model": "small_cnn"}, name="digits run",
                           dataset="digits", model="small_cnn", owner_id=users["bob"].id)
    store.set_shared(rid, True)
    yield {"store": store, "run": rid, "users": users}
    store.close()


def _flag(lab, index: int, top: float, *, kind="wrong", proposed=None, note="", by=None) -> int:
    from core.serving.flagging import flag_prediction

    image, label = digit_png(index)
    return flag_prediction(lab["store"], lab["run"], image, _probs(top, (label + 1) % 10), kind=kind,
                           proposed_label=label if proposed is None else proposed, note=note, consent=True,
                           class_names=DIGITS, created_by=by)


def _shown_ids(at) -> list[int]:
    return [int(m.group(1)) for e in at.markdown if (m := re.match(r"\*\*Flag #(\d+)\*\*", str(e.value)))]


def test_reviewer_decides_deletes_and_exports(lab):
    from core.serving.flagging import flag_image_path

    store = lab["store"]
    a = _flag(lab, 0, 0.55, note="clearly a <b>zero</b>")
    b = _flag(lab, 1, 0.30)
    c = _flag(lab, 2, 0.80, kind="uncertain")
    d = _flag(lab, 3, 0.40)
    at = app_at("review")
    assert problems(at) == []
    assert _shown_ids(at) == [b, d, a, c]  # least confident first
    assert "Note: clearly a \\<b>zero\\</b>" in page_texts(at)
    assert len(at.image) >= 4 and at.dataframe
    at.button(key=f"rv_{a}_save").click().run()  # accept (the default decision)
    assert problems(at) == []
    assert store.get_flag(a).status == "accepted" and store.get_flag(a).final_label == 0
    at.radio(key=f"rv_{b}_decision").set_value("relabel").run()
    at.selectbox(key=f"rv_{b}_label").set_value(7)
    at.text_input(key=f"rv_{b}_note").input("looks like a seven")
    at.button(key=f"rv_{b}_save").click().run()
    assert (store.get_flag(b).status, store.get_flag(b).final_label) == ("relabelled", 7)
    at.radio(key=f"rv_{c}_decision").set_value("reject")
    at.text_input(key=f"rv_{c}_note").input("the model was right")
    at.button(key=f"rv_{c}_save").click().run()
    assert store.get_flag(c).status == "rejected"
    assert [x.note for x in store.flag_decisions(c)] == ["the model was right"]
    assert _shown_ids(at) == [d]  # the pending ones
    image = flag_image_path(store, store.get_flag(d))
    at.button(key=f"rv_{d}_delete").click().run()
    assert problems(at) == []
    assert [f.id for f in store.list_flags()] == [b, a, c] and not image.exists()
    assert "No flag matches these filters (3 flags in all)" in page_texts(at)
    at.selectbox(key="rv_status").set_value("(all)").run()
    assert _shown_ids(at) == [b, a, c]
    assert "Decision history (1)" in [e.label for e in at.expander]
    at.button(key="rv_export").click().run()
    assert problems(at) == []
    done = " ".join(s.value for s in at.success)
    assert "flags-digits-v1" in done and "2 images" in done and "training part of digits" in done
    assert re.search(r"sha256 [0-9a-f]{64}", done)


def test_student_sees_own_flags_and_instructor_reviews_them(lab):
    store, users = lab["store"], lab["users"]
    mine = _flag(lab, 0, 0.5, by=users["student"].id)
    bobs = _flag(lab, 1, 0.4, by=users["bob"].id)
    at = as_user(lab, "student", "review")
    assert problems(at) == []
    assert _shown_ids(at) == [mine]
    assert "You see only the flags you made" in page_texts(at) and "instructor" in page_texts(at)
    assert not [b for b in at.button if b.key and b.key.endswith("_save")] and "rv_export" not in at.session_state
    at.button(key=f"rv_{mine}_delete").click().run()
    assert problems(at) == []
    assert [f.id for f in store.list_flags()] == [bobs]
    at = as_user(lab, "instructor", "review")
    assert problems(at) == []
    assert _shown_ids(at) == [bobs]
    assert "flagged by bob@\u2060uni.test" in page_texts(at)
    at.button(key=f"rv_{bobs}_save").click().run()
    assert store.get_flag(bobs).status == "accepted"
