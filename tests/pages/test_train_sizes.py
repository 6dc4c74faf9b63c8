"""The Train page says what the run will really do before it is queued: the input size the
training engine will pick (not the greyed manual boxes), an estimate of the training time from
the lab's own finished runs, and the weights a backbone starts from (ImageNet, a past run of
this lab, a weights file), checked like the CLI's --weights before any run exists."""
from __future__ import annotations

import re

import pytest

from lab_pages_support import app_at, env_store, lab_environ, make_finished_runs, page_texts, problems

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("page_jobs_cleanup")]

TIMEOUT = 120


@pytest.fixture(scope="module")
def weights_store(tmp_path_factory):
    """A store with one real finished mobilenetv2 run and one small_cnn run (digits, tiny)."""
    root = tmp_path_factory.mktemp("weights_runs")
    digits = {"name": "digits", "params": {"max_per_class": 12}}
    ids = make_finished_runs(root, [
        {"name": "mnv2 base", "model": "mobilenetv2", "dataset": digits, "input_size": [32, 32], "epochs": 1,
         "batch_size": 32, "model_options": {"trainable": "frozen"}},
        {"name": "cnn base", "model": "small_cnn", "dataset": digits, "epochs": 1},
    ])
    return {"root": root, "backbone_run": ids[0], "cnn_run": ids[1]}


@pytest.fixture()
def env(lab_env, monkeypatch):
    monkeypatch.setenv("LAB_DASHBOARD_SUPERVISOR", "0")  # runs stay queued: no training here
    return lab_env


@pytest.fixture()
def weights_env(weights_store, monkeypatch):
    for k, v in lab_environ(weights_store["root"]).items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("LAB_DASHBOARD_SUPERVISOR", "0")
    return weights_store


def train_page():
    at = app_at("train", timeout=TIMEOUT)
    assert problems(at) == []
    return at


def pick_ham(at, shared):
    at.selectbox(key="train_name").set_value("ham10000").run()
    at.text_input(key="train_path_ham10000").set_value(str(shared / "ham10000")).run()
    assert problems(at) == []
    return at


def shown(at) -> str:
    """The page's prose as the user reads it (Markdown escapes and word joiners removed)."""
    return re.sub(r"\\(.)", r"\1", page_texts(at)).replace("\u2060", "")


def all_runs():
    s = env_store()
    runs, _ = s.list_runs(limit=None, sort="id", descending=False)
    out = [s.get_run(r.id) for r in runs]
    s.close()
    return out


def test_automatic_size_shows_the_size_the_run_uses(env, shared_datasets):
    """HAM10000 with 'automatic input size' ticked trains at 150x200; the page used to show the
    greyed manual boxes, 64x64."""
    at = pick_ham(train_page(), shared_datasets)
    assert at.checkbox(key="t_size_auto").value is True
    boxes = [n for n in at.number_input if n.label in ("Height", "Width")]
    assert [(n.label, n.value, n.disabled) for n in boxes] == [("Height", 150, True), ("Width", 200, True)]
    text = shown(at)
    assert "150x200" in text and "64x64" not in text
    assert "Estimated training time: no estimate yet" in text
    # a backbone: its default size
    at.radio(key="t_family").set_value("backbone").run()
    at.selectbox(key="t_model_backbone").set_value("mobilenetv2").run()
    assert [n.value for n in at.number_input if n.label in ("Height", "Width")] == [224, 224]
    # unticked: the user's own boxes, editable, with their values
    at.checkbox(key="t_size_auto").set_value(False).run()
    assert [(n.value, n.disabled) for n in at.number_input if n.label in ("Height", "Width")] == [(64, False)] * 2


def test_estimate_line_names_the_past_runs_it_comes_from(trained, monkeypatch, shared_datasets):
    monkeypatch.setenv("LAB_DASHBOARD_SUPERVISOR", "0")
    at = pick_ham(train_page(), shared_datasets)
    text = shown(at)
    assert "Estimated training time on this machine: ~" in text
    assert "from 2 past small_cnn runs on this machine" in text


def test_no_weights_picker_for_a_model_trained_from_scratch(env):
    at = train_page()
    assert at.selectbox(key="t_model_zoo").value == "small_cnn"
    assert not [s for s in at.selectbox if s.key == "t_weights"]


def _backbone(at):
    at.radio(key="t_family").set_value("backbone").run()
    at.selectbox(key="t_model_backbone").set_value("mobilenetv2").run()
    return at


def test_weights_from_a_past_run_are_submitted(weights_env):
    at = _backbone(train_page())
    assert at.selectbox(key="t_weights").options == ["ImageNet weights", "No weights (random start)",
                                                      "A past run of this lab", "A weights file"]
    at.selectbox(key="t_weights").set_value("run").run()
    rid = weights_env["backbone_run"]
    runs_box = at.selectbox(key="t_weights_run")
    assert runs_box.value == f"run:{rid}" and len(runs_box.options) == 1  # the small_cnn run does not fit
    next(b for b in at.button if b.label == "Submit").click().run()
    assert problems(at) == []
    new = all_runs()[-1]
    assert new.id not in (rid, weights_env["cnn_run"])
    assert new.config["weights"] == f"run:{rid}" and new.model == "mobilenetv2"


def test_a_bad_weights_file_is_refused_before_a_run_exists(weights_env):
    from core.store import Store
    from core.store.artifacts import RunFolder

    before = len(all_runs())
    at = _backbone(train_page())
    at.selectbox(key="t_weights").set_value("file").run()
    at.text_input(key="t_weights_file").set_value("/nowhere/backbone.keras").run()
    next(b for b in at.button if b.label == "Submit").click().run()
    errors = " ".join(str(e.value) for e in at.error)
    assert "Not queued" in errors and "/nowhere/backbone.keras" in errors and "does not exist" in errors
    # a real model file of another architecture: refused too, naming what would fit
    s = Store()
    cnn_model = RunFolder.of(s.get_run(weights_env["cnn_run"]), s).path_of("model")
    s.close()
    at.text_input(key="t_weights_file").set_value(str(cnn_model)).run()
    next(b for b in at.button if b.label == "Submit").click().run()
    errors = " ".join(str(e.value) for e in at.error)
    assert "Not queued" in errors and "mobilenetv2" in errors
    assert len(all_runs()) == before
