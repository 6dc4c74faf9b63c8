"""The Train page's reproducibility control: on by default with a caption saying what each choice costs, and
the choice reaches the queued run's config (AppTest on the real app and store; no training starts)."""
from __future__ import annotations

import pytest

from lab_pages_support import app_at, env_store, problems

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("page_jobs_cleanup")]


@pytest.fixture()
def env(lab_env, monkeypatch):
    monkeypatch.setenv("LAB_DASHBOARD_SUPERVISOR", "0")  # runs stay queued: no training
    return lab_env


def _queued_configs():
    s = env_store()
    runs, _ = s.list_runs(limit=None, sort="id", descending=False)
    return [s.get_run(r.id).config for r in runs]


def _captions(at) -> str:
    return "\n".join(str(c.value) for c in at.caption)


def test_reproducible_is_on_by_default_and_off_reaches_the_run(env):
    at = app_at("train", None, timeout=120)
    assert problems(at) == []
    box = at.checkbox(key="t_repro")
    assert box.value is True and box.label == "Reproducible (bit for bit)"
    assert "On (the default): the same seed repeats a run exactly" in _captions(at)
    box.uncheck().run()
    assert "Off: about a third faster" in _captions(at)
    next(b for b in at.button if b.label == "Submit").click().run()
    assert problems(at) == []
    assert [c["reproducible"] for c in _queued_configs()] == [False]
