"""AppTest of every page: empty store, a store with real finished runs, and the key
interactions (quick-start job to success, open a run, compare two runs, upload -> overlay)."""
from __future__ import annotations

import ast
import os
import time

import pytest

from lab_pages_support import PROJECT_ROOT, app_at, digit_png, problems, wait_for
from lab_pages_support import page_texts as texts

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("page_jobs_cleanup")]

# every page file is covered: a new pages/<name>.py is tested without touching this file
PAGES_DIR = PROJECT_ROOT / "pages"
PAGES = sorted(p.stem for p in PAGES_DIR.glob("*.py") if not p.name.startswith("_"))


def navigation_paths() -> list[str]:
    """The files named by ``st.Page("pages/<name>.py", ...)`` in pages/_frame.py's navigation."""
    tree = ast.parse((PAGES_DIR / "_frame.py").read_text())
    return [node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Page"
            and node.args and isinstance(node.args[0], ast.Constant)]


def test_every_page_file_is_in_the_navigation():
    assert {"home", "train", "runs", "predict"} <= set(PAGES)
    assert sorted(navigation_paths()) == sorted(f"pages/{p}.py" for p in PAGES)


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_on_empty_store(lab_env, page):
    at = app_at(page)
    assert problems(at) == []
    if page in ("runs", "compare", "predict"):
        assert at.info, f"{page} should say what to do on an empty store"
    if page == "home":
        assert "No runs yet" in texts(at)
        assert any(b.key == "quick_start" for b in at.button)


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_with_runs(trained, page):
    at = app_at(page)
    assert problems(at) == []
    if page == "runs":
        df = at.dataframe[0].value
        assert set(trained["ids"]) <= set(df["id"])
        assert df["accuracy"].notna().all()


def test_open_a_run(trained):
    rid = trained["ids"][0]
    at = app_at("runs", {"run": str(rid)})
    assert problems(at) == []
    assert any(f"Run #{rid}" in t.value for t in at.title)
    assert [m.label for m in at.metric][:2] == ["Accuracy", "Balanced accuracy"]
    n_charts = 0
    for tab in ("Curves", "Confusion", "ROC / PR / calibration"):  # only the open tab is computed
        at.session_state["r_tab"] = tab
        at.run()
        assert problems(at) == []
        n_charts += len(at.get("plotly_chart"))
    assert n_charts >= 3  # curves, confusion, ROC/PR/calibration
    at.session_state["r_tab"] = "Confusion"
    at.run()
    at.toggle(key="r_cm_norm").set_value(True).run()
    assert problems(at) == []


def test_compare_two_runs(trained):
    at = app_at("compare")
    assert problems(at) == []
    assert sorted(at.multiselect(key="c_runs").value) == sorted(trained["ids"])
    table = at.dataframe[0].value
    assert "accuracy" in table.index and "trainable params" in table.index
    # the configuration differences (the paired comparison's table comes before it)
    (diff,) = [d.value for d in at.dataframe if "seed" in d.value.index or "optimizer" in d.value.index]
    assert "optimizer" in diff.index  # only differences are listed
    assert "model" not in diff.index
    assert any("McNemar" in m.value and ("No significant difference" in m.value or " better " in m.value)
               for m in at.markdown), "the paired comparison is stated in words"


def test_upload_gives_probabilities_and_overlay(trained):
    at = app_at("predict")
    data, label = digit_png(0)
    at.file_uploader(key="p_files").set_value(("digit.png", data, "image/png")).run()
    assert problems(at) == []
    assert len(at.image) >= 2  # the upload and its overlay
    assert any("Prediction:" in m.value for m in at.markdown)
    assert len(at.get("download_button")) >= 1
    # another method and target class keep working
    at.selectbox(key="p_method").set_value("gradcam++").run()
    at.selectbox(key="p_target").set_value(at.selectbox(key="p_target").options[2]).run()
    assert problems(at) == []
    assert len(at.image) >= 2


def test_quick_start_job_succeeds(lab_env):
    from core.store import Store

    at = app_at("home")
    next(b for b in at.button if b.key == "quick_start").click().run()
    assert problems(at) == []
    # the second click of a double click (dated just after the first one's end) queues nothing
    at.session_state["_single_click_quick_start"] = {"at": time.time() + 60}
    next(b for b in at.button if b.key == "quick_start").click().run()
    assert problems(at) == []
    store = Store(os.environ["LAB_DATABASE_URL"], models_dir=os.environ["LAB_MODELS_DIR"])
    runs, total = store.list_runs()
    assert total == 1
    rid = runs[0].id
    final = wait_for(lambda: store.get_run(rid).status in ("succeeded", "failed", "cancelled", "interrupted")
                     and store.get_run(rid), timeout=240, interval=1.0, what=f"quick-start run {rid} to finish")
    assert final.status == "succeeded", final.error
    at.run()
    assert problems(at) == []
    assert f"Run #{rid} succeeded" in texts(at)


def test_train_form_submit_and_cancel(lab_env):
    """The Train form queues the config it shows; Cancel on the Jobs tab stops the run."""
    from core.store import Store

    at = app_at("train")
    assert problems(at) == []
    # widgets inside a form take effect with the submit, in one script run
    at.number_input(key="t_epochs").set_value(30)
    at.selectbox(key="t_opt").set_value("adamax")
    next(b for b in at.button if b.label == "Submit").click().run()
    assert problems(at) == []
    store = Store(os.environ["LAB_DATABASE_URL"], models_dir=os.environ["LAB_MODELS_DIR"])
    runs, total = store.list_runs()
    assert total == 1
    r = store.get_run(runs[0].id)
    assert r.config["epochs"] == 30 and r.config["optimizer"] == "adamax" and r.config["dataset"]["name"] == "digits"
    at.session_state["train_tab"] = "Jobs"  # the user opens the Jobs tab (drawn only while open)
    at.run()
    cancel = next(b for b in at.button if b.key == f"t_cancel_{r.id}")
    cancel.click().run()
    final = wait_for(lambda: store.get_run(r.id).status in ("cancelled", "failed", "succeeded")
                     and store.get_run(r.id), timeout=180, interval=1.0, what="the cancelled run to stop")
    assert final.status == "cancelled", (final.status, final.error)


def test_augmentation_preset_goes_to_training(lab_env):
    at = app_at("augmentation")
    assert problems(at) == []
    at.selectbox(key="aug_preset").set_value("flips_small_rotations").run()  # report C's set
    assert at.slider(key="aug_rotation").value == 20.0 and at.toggle(key="aug_horizontal_flip").value is True
    n_before = len(at.image)
    at.button(key="aug_reroll").click().run()
    assert at.number_input(key="aug_seed").value == 1 and len(at.image) == n_before == 9  # original + 8
    at.button(key="aug_use").click().run()
    assert problems(at) == []
    at.switch_page("pages/train.py").run()
    assert problems(at) == []
    assert any("rotation 20" in c.value for c in at.caption)


def test_data_explorer_ham10000_folder(lab_env, shared_datasets):
    at = app_at("data_explorer")
    at.selectbox(key="eda_name").set_value("ham10000").run()
    at.text_input(key="eda_path_ham10000").set_value(str(shared_datasets / "ham10000")).run()
    assert problems(at) == []
    assert [m.label for m in at.metric][:3] == ["Images", "Classes", "Imbalance ratio"]
    at.session_state["eda_charts"] = True  # the overview's bar and pie charts
    at.run()
    n_charts = len(at.get("plotly_chart"))
    assert n_charts == 2
    for tab in ("Image statistics", "Metadata"):  # only the open tab is drawn
        at.session_state["eda_tab"] = tab
        at.run()
        assert problems(at) == []
        n_charts += len(at.get("plotly_chart"))
    assert any("leakage" in w.value for w in at.warning)  # images per lesion
    assert any("Missing ages" in c.value for c in at.caption)
    assert n_charts >= 10


def test_fundus_model_shows_research_notice(lab_env, shared_datasets):
    """A model of the fundus domain: the Predict page says 'Research use only — not a
    diagnosis' next to the prediction, and warns when an upload does not look like a fundus photo."""
    import numpy as np

    from lab_pages_support import make_finished_runs, png

    folder = shared_datasets / "fundus"
    (rid,) = make_finished_runs(lab_env, [{
        "name": "fundus tiny", "dataset": {"name": "fundus", "params": {"path": str(folder), "max_per_class": 6}},
        "input_size": [32, 32], "epochs": 1, "batch_size": 16, "split": {"val_ratio": 0.2, "test_ratio": 0.3, "seed": 0,
                                                                        "grouped": "auto"}}])
    at = app_at("predict", {"run": str(rid)})
    assert problems(at) == []
    assert any("not a diagnosis" in w.value for w in at.warning)
    photo = next((folder / "images").rglob("*.jp*g")).read_bytes()
    white = png(np.full((600, 600, 3), 255, np.uint8))
    at.file_uploader(key="p_files").set_value([("eye.jpg", photo, "image/jpeg"), ("white.png", white, "image/png")]).run()
    assert problems(at) == []
    assert sum("Prediction:" in m.value for m in at.markdown) == 2
    assert any("white.png" in w.value and "brightness" in w.value for w in at.warning)
    assert not any("eye.jpg" in w.value and "brightness" in w.value for w in at.warning)
