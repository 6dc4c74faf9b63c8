"""A search's run page (Runs with ?run=<id>, AppTest): its sampler, and its trials drawn as Optuna
draws them -- a parallel-coordinates plot and the parameters' importances -- or why the importances
cannot be drawn yet. Searches queued through the job manager; their trials' results are written to
the store as a worker writes them (no training: the page reads only the store)."""
from __future__ import annotations

import pytest

from lab_pages_support import app_at, figures, page_texts, problems

SPACE = {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
         "optimizer": {"type": "categorical", "choices": ["adam", "adamax", "rmsprop"]}}


def _finish(store, rid: int, value: float) -> None:
    store.set_status(rid, "running")
    store.log_summary(rid, {"best_val_accuracy": value, "accuracy": value})
    store.set_status(rid, "succeeded")


@pytest.fixture(scope="module")
def searches(tmp_path_factory):
    """A finished random search of 4 trials and a TPE search with only its first trial finished."""
    from core.jobs.manager import JobManager
    from core.store import Store
    from core.training.config import TrainConfig
    from core.training.search import update_parents

    root = tmp_path_factory.mktemp("search_view")
    mp = pytest.MonkeyPatch()
    url = f"sqlite:///{root / 'runs.db'}"
    mp.setenv("LAB_DATABASE_URL", url)
    mp.setenv("LAB_MODELS_DIR", str(root / "models"))
    mp.setenv("LAB_DASHBOARD_SUPERVISOR", "0")
    store = Store(url, models_dir=root / "models")
    jm = JobManager(store, store.models_dir)
    base = TrainConfig(dataset={"name": "digits", "params": {}}, model="small_cnn", epochs=1, monitor="val_accuracy")
    done = jm.submit_search(base, SPACE, n_trials=4, seed=3, name="finished random search")
    for rid, value in zip(store.get_run(done).children, (0.61, 0.74, 0.52, 0.88), strict=True):
        _finish(store, rid, value)
    young = jm.submit_search(base, SPACE, n_trials=3, seed=3, sampler="tpe", name="young tpe search")
    _finish(store, store.get_run(young).children[0], 0.7)
    update_parents(store)
    yield {"done": done, "young": young, "store": store}
    store.close()
    mp.undo()


def test_a_search_page_draws_its_trials_and_their_importances(searches):
    assert searches["store"].get_run(searches["done"]).status == "succeeded"
    at = app_at("runs", {"run": str(searches["done"])})
    assert problems(at) == []
    figs = figures(at)
    assert {"r_search_parallel", "r_search_importance"} <= set(figs)
    par = figs["r_search_parallel"]["data"][0]
    assert par["type"] == "parcoords" and len(par["dimensions"][0]["values"]) == 4  # one line per finished trial
    bars = figs["r_search_importance"]["data"][0]
    assert bars["type"] == "bar" and {y.strip() for y in bars["y"]} == set(SPACE)
    assert "every trial drawn up front" in page_texts(at)


def test_a_search_with_one_finished_trial_says_why_no_importances(searches):
    at = app_at("runs", {"run": str(searches["young"])})
    assert problems(at) == []
    assert "r_search_parallel" in figures(at) and "r_search_importance" not in figures(at)
    text = page_texts(at)
    assert "need at least 2 finished trials; this search has 1 so far" in text
    assert "TPE" in text and "2 of 3 trials asked" in text


def test_the_train_page_queues_a_tpe_search_two_at_a_time(lab_env, monkeypatch):
    from lab_pages_support import env_store

    monkeypatch.setenv("LAB_DASHBOARD_SUPERVISOR", "0")  # trials stay queued: no training here
    at = app_at("train")
    at.checkbox(key="t_search").check().run()
    at.number_input(key="t_trials").set_value(4).run()
    at.radio(key="t_sampler").set_value("tpe").run()
    at.number_input(key="t_at_once").set_value(2).run()
    next(b for b in at.button if b.label == "Submit").click().run()
    assert problems(at) == []
    store = env_store()
    searches, n = store.list_runs(kind="search")
    assert n == 1
    p = store.get_run(searches[0].id)
    assert p.params["search.sampler"] == "tpe" and p.params["search.concurrency"] == "2"
    assert len(p.children) == 1  # the others are asked as trials finish
    store.close()
