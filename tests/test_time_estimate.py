"""The input size a run will use, worked out before it runs (``core.training.engine.plan_run``,
the very code ``prepare`` uses), and the training-time estimate measured from the lab's own
finished runs (``core.recipes.estimate.estimate_from_runs``)."""
from __future__ import annotations

import statistics

import pytest

from core.training.config import TrainConfig

pytestmark = pytest.mark.slow


def _ham_config(shared, **changes) -> TrainConfig:
    params = {"path": str(shared / "ham10000" / "reduced_200x150"),
              "metadata_csv": str(shared / "ham10000" / "HAM10000_metadata.csv"), "max_per_class": 10}
    return TrainConfig(**{"dataset": {"name": "ham10000", "params": params}, "model": "small_cnn", "epochs": 1,
                          "batch_size": 16, **changes})


def test_planned_input_size_is_the_size_the_run_trained_at(shared_datasets, tmp_path):
    from core.training.engine import plan_run, train

    cfg = _ham_config(shared_datasets)
    plan = plan_run(cfg)
    res = train(cfg, out_dir=tmp_path / "run", n_bootstrap=10)
    assert list(plan.input_size) == res.meta["input_shape"][:2] == [150, 200]
    assert (plan.n_train, plan.n_val, plan.n_test) == (res.meta["n_train"], res.meta["n_val"], res.meta["n_test"])
    assert plan.size_from == "auto_data"


def test_planned_input_size_of_a_backbone_and_of_a_set_size(shared_datasets):
    from core.training.engine import plan_run

    assert plan_run(_ham_config(shared_datasets, model="mobilenetv2")).input_size == (224, 224)
    fixed = plan_run(_ham_config(shared_datasets, input_size=[40, 52]))
    assert fixed.input_size == (40, 52) and fixed.size_from == "set"


def _digits_plan(**changes):
    from core.training.engine import plan_run

    cfg = TrainConfig(**{"dataset": {"name": "digits", "params": {"max_per_class": 100}}, "model": "small_cnn",
                         "epochs": 2, "batch_size": 64, **changes})
    return cfg, plan_run(cfg)


def test_estimate_from_the_stored_runs_of_this_machine(trained):
    from core.recipes.estimate import estimate_from_runs
    from core.store import Store

    store = Store()
    past = [store.get_run(i) for i in trained["ids"]]
    cfg, plan = _digits_plan()
    est = estimate_from_runs(store, cfg, plan)
    assert est.run_ids == tuple(sorted(trained["ids"]))
    assert "from 2 past small_cnn runs on this machine" in est.basis
    # the same configuration as the past runs: their own median wall time
    assert est.seconds == pytest.approx(statistics.median(r.duration_s for r in past), rel=0.05)
    # twice the epochs: twice the measured fitting time, the same start/load/evaluate time
    cfg4, plan4 = _digits_plan(epochs=4)
    est4 = estimate_from_runs(store, cfg4, plan4)
    assert est4.fit_s == pytest.approx(2 * est.fit_s) and est4.overhead_s == pytest.approx(est.overhead_s)
    # four times the pixels: four times the fitting time
    cfg16, plan16 = _digits_plan(input_size=[16, 16])
    assert estimate_from_runs(store, cfg16, plan16).fit_s == pytest.approx(4 * est.fit_s)
    store.close()


def test_no_estimate_without_a_comparable_run(trained, store):
    from core.recipes.estimate import estimate_from_runs
    from core.store import Store

    cfg, plan = _digits_plan()
    none = estimate_from_runs(store, cfg, plan)  # an empty store
    assert none.seconds is None and none.basis.startswith("no estimate yet")
    other_model = TrainConfig(dataset=cfg.dataset, model="report_b_cnn5", epochs=2)
    s = Store()
    est = estimate_from_runs(s, other_model, plan)
    assert est.seconds is None and "report_b_cnn5" in est.basis
    assert estimate_from_runs(s, cfg, plan, host="another-machine").seconds is None
    s.close()
