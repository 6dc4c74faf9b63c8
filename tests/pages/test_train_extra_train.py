"""The Train page offers the exported versions of a dataset's reviewed flags, to be added to its
training part; the queued run's config names the version (and only when one is picked)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.datasets.base import DATASETS
from core.datasets.flagged import export_flags
from core.serving.flagging import flag_prediction
from core.store import Store
from lab_pages_support import app_at, problems

pytestmark = pytest.mark.usefixtures("page_jobs_cleanup")


@pytest.fixture()
def env(lab_env, monkeypatch):
    monkeypatch.setenv("LAB_DASHBOARD_SUPERVISOR", "0")  # runs stay queued: no training here
    yield lab_env
    for name in DATASETS.names("flags-*"):
        DATASETS.unregister(name)


def _export_one_flag(root) -> str:
    import io

    store = Store(f"sqlite:///{root / 'runs.db'}", models_dir=root / "trained_models")
    try:
        rid = store.create_run({"dataset": {"name": "digits"}, "model": "small_cnn"}, name="digits base",
                               dataset="digits", model="small_cnn")
        buf = io.BytesIO()
        Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8) * 4).save(buf, format="PNG")
        probs = np.full(10, 0.05)
        probs[3] = 0.55
        fid = flag_prediction(store, rid, buf.getvalue(), probs, kind="wrong", proposed_label=8, note="",
                              consent=True, class_names=[str(i) for i in range(10)])
        store.decide_flag(fid, "accept")
        return export_flags(store, "digits").name
    finally:
        store.close()


def test_no_flag_version_no_control(env):
    at = app_at("train")
    assert problems(at) == []
    assert not [s for s in at.selectbox if s.key == "t_extra_train"]


def test_a_picked_flag_version_is_in_the_queued_config(env):
    name = _export_one_flag(env)
    assert name == "flags-digits-v1"
    at = app_at("train")
    assert problems(at) == []
    box = at.selectbox(key="t_extra_train")
    assert box.options == ["(none)", name] and box.value == "(none)"
    box.set_value(name).run()
    at.number_input(key="t_epochs").set_value(1).run()
    at.button(key="t_submit").click().run()
    assert problems(at) == []
    store = Store(f"sqlite:///{env / 'runs.db'}", models_dir=env / "trained_models")
    try:
        runs, _ = store.list_runs(kind="train")
        queued = [r for r in runs if r.status == "queued" and r.name != "digits base"]
        assert len(queued) == 1 and store.get_run(queued[0].id).config["extra_train"] == name
    finally:
        store.close()
