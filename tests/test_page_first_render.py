"""Issue 8, item 18: first render of the Data explorer and the Augmentation studio.

AppTest on the real pages and real digits. The Data explorer draws only the open tab (a first
visit: the overview) and keeps its image statistics in Streamlit's data cache, so a new
session does not measure the images again; the Augmentation studio draws its controls and
the original image before the variants (TensorFlow) and caches the variants per (image, spec,
n, seed)."""
from __future__ import annotations

import pytest

from lab_pages_support import app_at, problems

pytestmark = pytest.mark.slow


def cache_bytes(function_name: str) -> int:
    """Bytes held by one st.cache_data function in this process (Streamlit's own cache stats,
    grouped per function): unchanged after a visit = a cache hit, grown = a new entry."""
    from streamlit.runtime.caching import get_data_cache_stats_provider

    return sum(s.byte_length for stats in get_data_cache_stats_provider().get_stats().values() for s in stats
               if s.cache_name.rsplit(".", 1)[-1] == function_name)


def test_data_explorer_first_visit_draws_only_the_overview_and_reuses_statistics(lab_env):
    at = app_at("data_explorer")
    assert problems(at) == []
    assert [m.label for m in at.metric][:3] == ["Images", "Classes", "Imbalance ratio"]
    # only the overview is drawn: no decoded samples, no image statistics, just its two charts
    assert len(at.image) == 0 and len(at.select_slider) == 0 and len(at.get("plotly_chart")) == 2
    at.session_state["eda_tab"] = "Image statistics"
    at.run()
    assert problems(at) == [] and len(at.get("plotly_chart")) == 4
    measured = cache_bytes("_image_stats_cached")
    assert measured > 0

    again = app_at("data_explorer")  # a new visitor: the statistics come from the cache
    again.session_state["eda_tab"] = "Image statistics"
    again.run()
    assert problems(again) == []
    assert cache_bytes("_image_stats_cached") == measured
    assert any("Images to measure" == s.label for s in again.select_slider)

    again.session_state["eda_tab"] = "Samples"
    again.run()
    assert problems(again) == []
    assert len(again.image) == 10 * 6  # 6 per class by default


def test_augmentation_draws_original_first_and_caches_variants(lab_env):
    at = app_at("augmentation")
    assert problems(at) == []
    captions = [img.proto.imgs[0].caption for img in at.image]
    assert captions[0].startswith("original · ") and captions[1:] == [f"variant {i}" for i in range(1, 9)]
    cached = cache_bytes("_preview_cached")
    assert cached > 0

    again = app_at("augmentation")  # same image, spec, n and seed: no new preview computed
    assert problems(again) == []
    assert len(again.image) == 9 and cache_bytes("_preview_cached") == cached
    again.button(key="aug_reroll").click().run()  # a new seed: a new entry
    assert problems(again) == [] and len(again.image) == 9
    assert cache_bytes("_preview_cached") > cached


def test_train_draws_the_jobs_curves_only_while_the_jobs_tab_is_open(lab_env, monkeypatch):
    import os

    from core.store import Store

    monkeypatch.setenv("LAB_DASHBOARD_SUPERVISOR", "0")
    store = Store(os.environ["LAB_DATABASE_URL"], models_dir=os.environ["LAB_MODELS_DIR"])
    rid = store.create_run({"dataset": {"name": "digits", "params": {}}, "model": "small_cnn", "epochs": 2},
                           name="curves", dataset="digits", model="small_cnn", seed=0)
    store.set_status(rid, "running")
    for step in (1, 2):
        store.log_metrics(rid, {"loss": 1.0 / step, "accuracy": 0.4 * step}, step=step)
    store.set_status(rid, "succeeded")

    at = app_at("train")
    assert problems(at) == []
    assert at.button(key="t_submit") is not None
    assert at.selectbox(key="t_watch_select").value == rid  # the Jobs tab's panel and queue are there
    assert len(at.get("plotly_chart")) == 0  # but its chart waits until the tab is opened

    at.session_state["train_tab"] = "Jobs"
    at.run()
    assert problems(at) == []
    charts = [c for c in at.get("plotly_chart") if c.proto.id.endswith(f"t_curves_{rid}")]
    assert len(charts) == 1
