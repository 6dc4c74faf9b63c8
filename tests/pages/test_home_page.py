"""The Home page (AppTest, real store): ready datasets first with the how-to texts collapsed,
counts in proper English, an honest quick-start promise, and the quick-start job from its button
to a succeeded run."""
from __future__ import annotations

import re
import time

import pytest

from lab_pages_support import app_at, env_store, problems, wait_for
from lab_pages_support import page_texts as texts

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("page_jobs_cleanup")]


def test_home_lists_ready_datasets_first_with_how_to_collapsed(lab_env):
    from core.datasets import list_datasets

    infos = {i.name: i for i in list_datasets()}
    at = app_at("home")
    assert problems(at) == []
    shown = []  # dataset names in the order of their cards
    for m in at.markdown:
        hit = re.search(r"· `([a-z0-9_]+)` —", str(m.value))
        if hit and hit.group(1) in infos:
            shown.append(hit.group(1))
    assert sorted(shown) == sorted(infos), shown
    group = {"builtin": 0, "cached": 0, "needs_folder": 1, "needs_download": 2}
    ranks = [group[infos[n].availability] for n in shown]
    assert ranks == sorted(ranks), f"ready datasets must come first, then folders, then downloads: {shown}"
    assert shown[0] == "digits"  # bundled: ready on every machine
    # the long how-to texts are in expanders, not spelled out on the page
    not_ready = [n for n in shown if group[infos[n].availability]]
    assert sum(e.label == "How to provide it" for e in at.expander) == len(not_ready)
    assert not any(str(c.value).startswith("How to provide it:") for c in at.caption)


def test_home_counts_in_proper_english(lab_env):
    store = env_store()
    rid = store.create_run({"dataset": {"name": "digits", "params": {}}, "model": "small_cnn"}, name="one run",
                           dataset="digits", model="small_cnn")
    store.set_status(rid, "running")
    store.set_status(rid, "failed", error="stopped by the test")
    store.close()
    at = app_at("home")
    assert problems(at) == []
    captions = [str(c.value) for c in at.caption]
    assert any(c.startswith("1 run in the store") for c in captions), captions
    assert not any(re.search(r"\b1 (runs|datasets)\b", c) for c in captions), captions
    from pages import _format

    assert [_format.plural(n, "run") for n in (0, 1, 2, 1000)] == ["0 runs", "1 run", "2 runs", "1,000 runs"]
    assert _format.plural(1, "class", "classes") == "1 class" and _format.plural(3, "class", "classes") == "3 classes"


def test_quick_start_promise_is_not_a_minute(lab_env):
    at = app_at("home")
    text = " ".join(str(m.value) for m in at.markdown)
    assert "about a minute" not in text
    assert "TensorFlow" in text  # says where the time goes


def test_quick_start_job_succeeds(lab_env):
    at = app_at("home")
    next(b for b in at.button if b.key == "quick_start").click().run()
    assert problems(at) == []
    # the second click of a double click (dated just after the first one's end) queues nothing
    at.session_state["_single_click_quick_start"] = {"at": time.time() + 60}
    next(b for b in at.button if b.key == "quick_start").click().run()
    assert problems(at) == []
    store = env_store()
    runs, total = store.list_runs()
    assert total == 1
    rid = runs[0].id
    final = wait_for(lambda: store.get_run(rid).status in ("succeeded", "failed", "cancelled", "interrupted")
                     and store.get_run(rid), timeout=240, interval=1.0, what=f"quick-start run {rid} to finish")
    assert final.status == "succeeded", final.error
    at.run()
    assert problems(at) == []
    assert f"Run #{rid} succeeded" in texts(at)
