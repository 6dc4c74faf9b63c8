"""Bad input is refused before a run exists: ``python -m core train`` exits 2 with the message
and the Train page / ``JobManager.submit`` say "Not queued", and the store holds no run -- for a
dataset parameter the dataset does not take, weights for a model trained from scratch, a folder
outside LAB_DATA_ROOTS or missing, a bad subsample size, a name with a spoofing character.
Real store, real CLI (in this process), real job manager (its supervisor is not started)."""
from __future__ import annotations

import os

import pytest

from core.jobs.manager import JobManager
from core.store import Store
from core.validation import LabError

pytestmark = pytest.mark.slow


@pytest.fixture()
def roots(lab_env, monkeypatch):
    """LAB_DATA_ROOTS = <tmp>/root; <tmp>/outside is a real folder outside it."""
    root, outside = lab_env / "root", lab_env / "outside"
    (root / "pets" / "cat").mkdir(parents=True)
    (outside / "cat").mkdir(parents=True)
    monkeypatch.setenv("LAB_DATA_ROOTS", str(root))
    monkeypatch.setenv("LAB_DASHBOARD_SUPERVISOR", "0")
    return root, outside


def _store() -> Store:
    return Store(os.environ["LAB_DATABASE_URL"], models_dir=os.environ["LAB_MODELS_DIR"])


def _count() -> int:
    s = _store()
    try:
        return s.list_runs(limit=None)[1]
    finally:
        s.close()


def _cases(root, outside) -> dict[str, tuple[list[str], dict, list[str]]]:
    """name -> (CLI flags, the same as a config dict, words the message must hold)."""
    digits = {"name": "digits", "params": {}}
    return {
        "digits with a path": (["--dataset", "digits", "--dataset-param", "path=/etc"],
                               {"dataset": {"name": "digits", "params": {"path": "/etc"}}},
                               ["Dataset 'digits' does not accept", "'path'", "max_per_class"]),
        "weights on small_cnn": (["--dataset", "digits", "--model", "small_cnn", "--weights", "imagenet"],
                                 {"dataset": digits, "model": "small_cnn", "weights": "imagenet"},
                                 ["small_cnn", "trained from scratch", "takes no weights", "mobilenetv2", "resnet50"]),
        "weights none on small_cnn": (["--dataset", "digits", "--weights", "none"],
                                      {"dataset": digits, "model_options": {"weights": None}},
                                      ["small_cnn", "takes no weights"]),
        "folder outside the roots": (["--dataset", "image_folder", "--dataset-param", f"path={outside}"],
                                     {"dataset": {"name": "image_folder", "params": {"path": str(outside)}}},
                                     [str(outside), "outside the folders this lab may read", str(root)]),
        "missing folder": (["--dataset", "image_folder", "--dataset-param", f"path={root / 'nope'}"],
                           {"dataset": {"name": "image_folder", "params": {"path": str(root / "nope")}}},
                           [str(root / "nope"), "does not exist"]),
        "missing weights file": (["--dataset", "digits", "--model", "mobilenetv2", "--weights",
                                  str(root / "nope.weights.h5")],
                                 {"dataset": digits, "model": "mobilenetv2", "weights": str(root / "nope.weights.h5")},
                                 [str(root / "nope.weights.h5")]),
        "bad subsample": (["--dataset", "digits", "--dataset-param", "max_per_class=many"],
                          {"dataset": {"name": "digits", "params": {"max_per_class": "many"}}},
                          ["max_per_class", "'many'"]),
    }


CASES = ["digits with a path", "weights on small_cnn", "weights none on small_cnn", "folder outside the roots",
         "missing folder", "missing weights file", "bad subsample"]


@pytest.mark.parametrize("case", CASES)
def test_cli_train_refuses_before_a_run_exists(roots, capsys, case):
    from core.cli.main import main

    flags, _, words = _cases(*roots)[case]
    assert main(["train", *flags, "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert all(w in err for w in words), err
    assert _count() == 0


@pytest.mark.parametrize("case", CASES)
def test_job_manager_submit_refuses_before_a_run_exists(roots, case):
    _, config, words = _cases(*roots)[case]
    store = _store()
    try:
        jm = JobManager(store, store.models_dir)
        with pytest.raises(LabError) as e:
            jm.submit(config)
        assert all(w in str(e.value) for w in words), str(e.value)
        with pytest.raises(LabError):
            jm.submit_search(config, {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2}}, n_trials=2)
        assert store.list_runs(limit=None)[1] == 0
    finally:
        store.close()


def test_a_folder_inside_the_roots_is_accepted(roots):
    root, _ = roots
    store = _store()
    try:
        rid = JobManager(store, store.models_dir).submit({"dataset": {"name": "image_folder",
                                                                      "params": {"path": str(root / "pets")}}})
        assert store.get_run(rid).status == "queued"
    finally:
        store.close()


def test_small_cnn_weights_message_when_building():
    """The builder's own refusal says the same thing (a config that skipped validation)."""
    from core.models import build_model

    with pytest.raises(LabError) as e:
        build_model("small_cnn", input_shape=(8, 8, 1), num_classes=10, weights="imagenet")
    assert "trained from scratch" in str(e.value) and "takes no weights" in str(e.value)


# ------------------------------------------------------------------ the Train page
@pytest.fixture(scope="module", autouse=True)
def _shutdown_jobs():
    yield
    from pages import _resources

    _resources.shutdown_job_managers()


def _train_page():
    from lab_pages_support import app_at

    return app_at("train")


def _submit(at):
    next(b for b in at.button if b.label == "Submit").click().run()
    return " ".join(str(e.value) for e in at.error)


def test_train_page_refuses_a_folder_outside_the_roots_before_a_run_exists(roots):
    root, outside = roots
    at = _train_page()
    at.selectbox(key="train_name").set_value("image_folder").run()
    at.text_input(key="train_path_image_folder").set_value(str(outside)).run()
    err = _submit(at)
    assert "Not queued" in err and "outside the folders this lab may read" in err
    assert _count() == 0


def test_train_page_refuses_a_name_with_a_bidi_control_before_a_run_exists(roots):
    at = _train_page()
    at.text_input(key="t_name").set_value("\u202egpj.exe").run()
    err = _submit(at)
    assert "Not queued" in err and "U+202E RIGHT-TO-LEFT OVERRIDE" in err
    assert _count() == 0


def test_a_recipe_with_a_folder_outside_the_roots_leaves_no_group_behind(roots):
    """A recipe's data folders are checked before its group row is written, as a single run's are."""
    from core.recipes.runs import launch_recipe

    _, outside = roots
    store = _store()
    try:
        with pytest.raises(LabError) as e:
            launch_recipe(JobManager(store, store.models_dir), "pitfall_leakage", "quick",
                          data={"ham10000": {"path": str(outside)}})
        assert str(outside) in str(e.value) and "outside the folders this lab may read" in str(e.value)
        assert store.list_runs(limit=None)[1] == 0
    finally:
        store.close()
