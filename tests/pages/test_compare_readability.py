"""The Compare page reads well: the epoch-time chart keeps its legend clear of its title, and the
configuration differences come in order of importance (dataset, model, input size, weights, class
weights, the training settings; augmentation last), every differing key kept.

The store is a copy of the legacy store's real digits run plus a second run with another
configuration that shares the first one's files and history (made once per module)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lab_pages_support import app_at, figures, lab_environ, problems

pytestmark = pytest.mark.usefixtures("page_jobs_cleanup")

LEGACY = Path(__file__).resolve().parent.parent / "data" / "legacy_store"
VARIANT = {"augment": {"flip": "horizontal", "rotation": 0.1}, "input_size": [16, 16], "class_weight": "balanced",
           "dataset": {"name": "digits", "params": {"max_per_class": 100}}, "weights": "imagenet",
           "learning_rate": 0.01, "epochs": 3, "batch_size": 64, "name": "variant"}


def make_compare_store(root: Path) -> dict:
    """The legacy store at ``root`` (runs.db, trained_models/) with a second succeeded run: run 1's files
    and history under another configuration. Returns the environment and the two ids."""
    from core.store import Store

    env = lab_environ(root)
    shutil.copytree(LEGACY / "models", env["LAB_MODELS_DIR"])
    shutil.copy(LEGACY / "runs.db", root / "runs.db")
    store = Store(env["LAB_DATABASE_URL"], models_dir=env["LAB_MODELS_DIR"])
    try:
        first = store.get_run(1)
        rid = store.create_run({**first.config, **VARIANT}, name="variant", dataset="digits", model=first.model,
                               seed=0)
        shutil.copytree(Path(env["LAB_MODELS_DIR"]) / "1", store.run_dir(rid))
        hist = store.get_metric_history(1)
        for step, part in hist.groupby("step"):
            store.log_metrics(rid, dict(zip(part["key"], part["value"], strict=True)), int(step))
        store.set_status(rid, "running")
        store.set_status(rid, "succeeded")
    finally:
        store.close()
    return {"env": env, "ids": [1, rid]}


@pytest.fixture(scope="module")
def compare_store(tmp_path_factory):
    return make_compare_store(tmp_path_factory.mktemp("compare_readable"))


@pytest.fixture()
def compare_app(compare_store, monkeypatch):
    for k, v in compare_store["env"].items():
        monkeypatch.setenv(k, v)
    at = app_at("compare", {"runs": ",".join(map(str, compare_store["ids"]))})
    assert problems(at) == []
    return at


def test_epoch_time_legend_stays_clear_of_the_title(compare_app):
    fig = figures(compare_app)["c_epoch_times"]
    lay = fig["layout"]
    assert lay["title"]["text"].startswith("Time per epoch")
    assert len([t for t in fig["data"] if t.get("showlegend", True)]) == 2  # one entry per run
    legend = lay["legend"]
    # the title has the top margin to itself: the legend hangs below the plot, under the epoch axis
    assert legend["yanchor"] == "top" and legend["y"] < 0, legend
    assert lay["margin"]["b"] >= 80 and lay["height"] - lay["margin"]["t"] - lay["margin"]["b"] >= 150


def test_config_differences_in_order_of_importance(compare_app):
    (diff,) = [d.value for d in compare_app.dataframe if "learning_rate" in d.value.index]
    keys = list(diff.index)
    assert {"dataset.params.max_per_class", "input_size", "weights", "class_weight", "epochs", "learning_rate",
            "batch_size", "name", "augment.flip", "augment.rotation"} <= set(keys)
    assert len(keys) == len(set(keys))
    order = ["dataset.params.max_per_class", "input_size", "weights", "class_weight", "epochs", "learning_rate"]
    assert [keys.index(k) for k in order] == sorted(keys.index(k) for k in order), keys
    augment = [k for k in keys if k.split(".")[0] == "augment"]
    assert keys[-len(augment):] == augment, keys
