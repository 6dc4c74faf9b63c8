"""Recipes: every recipe builds valid configs at both budgets, the report models have the
reports' parameter counts, the reproduction verdicts, the pitfall demos on real HAM10000 and
fundus labels, the leakage pitfall trained end to end at a tiny budget, recipe groups found again
and migrated, and the ``recipe`` CLI. The Recipes page is in tests/pages/test_recipes_page.py."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.cli import recipes as RC
from core.recipes import catalog as R
from core.recipes import estimate as E
from core.recipes import pitfalls as P
from core.recipes import reproduction as T
from core.recipes import runs as U
from core.training.config import TrainConfig

ROOT = Path(__file__).resolve().parent.parent

# recipes that must exist: the reports' models and the pitfall demos
NAMED = {"report_a_cnn", "report_a_transfer", "report_b_cnn5", "report_b_vgg19", "report_b_resnet",
         "report_c_transfer", "report_d_densenet", "report_e_cnn", "report_e_transfer", "pitfall_leakage",
         "pitfall_shuffled_eval", "pitfall_accuracy_imbalance", "pitfall_ovr_mean"}


# ------------------------------------------------------------------ recipes and their configs
@pytest.mark.parametrize("name", sorted(NAMED | set(R.list_recipes())))
def test_every_recipe_plans_valid_full_configs_at_both_budgets(name):
    """Each recipe (every one the catalog lists, and each one that must exist: a missing one
    fails here by name) plans full TrainConfig dicts at both budgets."""
    fields = set(TrainConfig.field_names())
    recipe = R.get_recipe(name)
    assert recipe.title and recipe.section and recipe.description and recipe.runs
    full, quick = R.plan(name, "full"), R.plan(name, "quick")
    assert [p.run.key for p in full] == [p.run.key for p in quick] == [r.key for r in recipe.runs]
    for f, q in zip(full, quick):
        assert set(f.config) == fields and set(q.config) == fields  # full TrainConfig dicts
        TrainConfig.from_dict(q.config).validate()
        assert q.config["epochs"] <= f.config["epochs"]
        assert q.config["dataset"]["params"].get("max_per_class")  # quick always subsamples
        assert f.config["dataset"]["params"].get("max_per_class") is None  # full: the report's data
        same = {k for k in fields if k not in ("epochs", "dataset", "input_size", "batch_size")}
        assert {k: q.config[k] for k in same} == {k: f.config[k] for k in same}, (name, f.run.key)
        assert f.tags == {"recipe": name, "recipe_run": f.run.key, "recipe_budget": "full"}
        assert f.run.needs_imagenet == (f.config["weights"] == "imagenet")
        for c in f.run.claims:
            assert 0 < c.value <= 1 and c.label
    assert E.estimate_seconds(full[0].config, full[0].kind) >= E.estimate_seconds(quick[0].config, quick[0].kind)
    quick_total = sum(E.estimate_seconds(p.config, p.kind) for p in quick)
    assert quick_total < 15 * 60, (name, quick_total)  # "minutes on 2 CPU cores"


def test_recipe_details_follow_the_reports():
    b = {p.run.key: p.config for p in R.plan("report_b_cnn5", "full")}
    assert (b["plain"]["epochs"], b["plain"]["batch_size"], b["plain"]["learning_rate"]) == (20, 32, 1e-3)
    assert b["augmented"]["augment"] == "small_rotations_shifts" and b["plain"]["augment"] is None
    vgg19 = R.plan("report_b_vgg19", "full")[0].config
    assert vgg19["model_options"]["cut_layer"] == "block4_conv1" and vgg19["input_size"] == [32, 32]
    c = {p.run.key: p.config for p in R.plan("report_c_transfer", "full")}
    assert c["resnet50v2"]["class_weight"] == "balanced" and c["resnet50v2"]["input_size"] == [224, 224]
    assert c["resnet50v2"]["monitor"] == "val_macro_f1" and c["resnet50v2"]["early_stopping"] == 3
    d = R.plan("report_d_densenet", "full")
    assert [p.kind for p in d] == ["lr_find", "train"] and d[1].config["oversample"] is True
    assert d[1].config["weight_decay"] == 1e-6 and d[1].config["normalization"] == "per_image_mean"
    assert R.get_recipe("report_e_transfer").needs_imagenet and not R.get_recipe("report_e_cnn").needs_imagenet
    leak = {p.run.key: p.config for p in R.plan("pitfall_leakage", "quick")}
    assert leak["image_split"]["split"]["grouped"] is False and leak["grouped_split"]["split"]["grouped"] is True
    assert {k: v for k, v in leak["image_split"].items() if k != "split"} == \
           {k: v for k, v in leak["grouped_split"].items() if k != "split"}  # only the split differs


def test_overrides_and_errors():
    plan = R.plan("report_b_vgg19", "quick", weights="/tmp/my_vgg19.h5")
    assert plan[0].config["weights"] == "/tmp/my_vgg19.h5"
    assert R.plan("report_b_vgg19", "quick", weights="none")[0].config["weights"] is None
    ham = R.plan("report_a_cnn", "quick", data={"ham10000": {"path": "/data/HAM"}})
    assert ham[0].config["dataset"]["params"] == {"max_per_class": 40, "path": "/data/HAM"}
    assert R.plan("report_b_cnn5", "quick", weights="x.h5")[0].config["weights"] is None  # no backbone: untouched
    smoke = R.plan("report_b_cnn5", "quick", overrides={"epochs": 1})
    assert smoke[0].config["epochs"] == 1 and smoke[0].tags["recipe_overrides"] == '{"epochs": 1}'
    from core.validation import NotFoundError, ValidationError

    with pytest.raises(NotFoundError, match="Unknown recipe 'report_b_cnn'.*report_b_cnn5"):
        R.get_recipe("report_b_cnn")
    with pytest.raises(ValidationError, match="budget"):
        R.plan("report_b_cnn5", "medium")
    assert RC.parse_data_args(["ham10000.path=/x", "ham10000.max_per_class=5"]) == \
        {"ham10000": {"path": "/x", "max_per_class": 5}}
    with pytest.raises(ValidationError, match="DATASET.PARAM=VALUE"):
        RC.parse_data_args(["ham10000=/x"])


# models the reports give a parameter count for; ResNet50 / ResNet50V2 take seconds to build
# and are checked in tests/test_models.py
CHEAP = [(n, p.run.key) for n in R.list_recipes() for p in R.plan(n, "full")
         if p.run.params and p.config["model"] not in ("resnet50", "resnet50v2")]
N_CLASSES = {"ham10000": 7, "fundus": 5}


@pytest.mark.parametrize("name, key", CHEAP)
def test_report_models_have_the_reports_parameter_counts(name, key):
    from core.models import build_model, count_params

    p = next(p for p in R.plan(name, "full") if p.run.key == key)
    c = p.config
    channels = c["channels"] or (1 if c["dataset"]["name"] == "fashion_mnist" and c["model"].startswith("report")
                                 else 3)
    model = build_model(c["model"], input_shape=(*c["input_size"], channels),
                        num_classes=N_CLASSES.get(c["dataset"]["name"], 10), **c["model_options"]).model
    got = count_params(model)
    assert (got["total"], got["trainable"]) == (p.run.params["total"], p.run.params["trainable"])


def test_report_a_b_e_cnns_are_all_checked():
    checked = {(n, k) for n, k in CHEAP}
    wanted = [("report_a_cnn", "baseline"), ("report_a_cnn", "tuned"), ("report_b_cnn5", "plain"),
              ("report_b_resnet", "concat_resnet"), ("report_e_cnn", "model_1"), ("report_e_cnn", "model_3")]
    assert [w for w in wanted if w not in checked] == []
    # the figures of SEEDS.md
    params = {(n, r.key): r.params for n in R.list_recipes() for r in R.get_recipe(n).runs if r.params}
    assert params[("report_a_cnn", "tuned")]["total"] == 4_622_939
    assert params[("report_b_cnn5", "plain")] == {"total": 1_607_210, "trainable": 1_605_226}
    assert params[("report_e_cnn", "model_1")]["total"] == 2_105_066
    assert params[("report_e_cnn", "model_3")]["total"] == 1_084_234
    assert params[("report_c_transfer", "resnet50v2")] == {"total": 23_827_975, "trainable": 263_175}


# ------------------------------------------------------------------ verdicts
def test_interval_and_verdict():
    assert T.verdict(0.80, 0.79, 0.75, 0.83).startswith("reproduced")
    assert T.verdict(0.90, 0.79, 0.75, 0.83) == "below the claim"
    assert T.verdict(0.70, 0.79, 0.75, 0.83) == "above the claim"
    assert T.verdict(0.70, None, None, None) == "not run"
    s = {"accuracy": 0.8, "ci_low_accuracy": 0.75, "ci_high_accuracy": 0.85, "n_classes": 5,
         "ci_low_balanced_accuracy": 0.5, "ci_high_balanced_accuracy": 0.6}
    assert T.interval(s, "accuracy") == (0.75, 0.85)
    assert T.interval(s, "mean_sensitivity") == (0.5, 0.6)
    lo, hi = T.interval(s, "mean_ovr_accuracy")  # mapped from the accuracy's interval
    assert lo == pytest.approx(1 - 2 * 0.25 / 5) and hi == pytest.approx(1 - 2 * 0.15 / 5)
    assert T.interval(s, "ece") == (None, None)
    assert T.interval(s, "weighted_f1", "accuracy") == (0.75, 0.85)  # a claim names an equal metric


# ------------------------------------------------------------------ pitfalls without training
def test_all_nevus_accuracy_vs_balanced_accuracy_on_real_ham_labels(ham):
    res = P.constant_prediction(ham.labels, ham.class_codes, "nv")
    share_nv = float(np.mean(ham.labels == ham.class_codes.index("nv")))
    assert res["accuracy"] == pytest.approx(share_nv) and 0.6 < res["accuracy"] < 0.7
    assert res["balanced_accuracy"] == pytest.approx(1 / 7)
    assert res["sensitivity"]["nv"] == 1.0 and res["sensitivity"]["mel"] == 0.0
    assert res["mean_ovr_accuracy"] > res["accuracy"]  # the OvR mean flatters it even more
    assert res["mean_ovr_accuracy"] == pytest.approx(R.ovr_mean_from_accuracy(res["accuracy"], 7))


def test_shuffled_evaluation_on_real_ham_labels(ham):
    from core.metrics.classification import predictions_frame

    rng = np.random.default_rng(0)
    y = ham.labels
    k = len(ham.class_names)
    right = rng.random(len(y)) < 0.85  # a model right on 85 % of the images
    pred = np.where(right, y, (y + rng.integers(1, k, len(y))) % k)
    probs = np.full((len(y), k), 0.1 / (k - 1))
    probs[np.arange(len(y)), pred] = 0.9
    res = P.shuffled_evaluation(predictions_frame(ham.ids, y, probs, ham.class_names), ham.class_names)
    assert res["aligned"]["accuracy"] == pytest.approx(np.mean(pred == y))
    assert res["shuffled"]["accuracy"] < res["aligned"]["accuracy"] - 0.3
    assert abs(res["shuffled"]["accuracy"] - res["chance_accuracy"]) < 0.03  # unrelated lists agree by chance
    assert 0.4 < res["chance_accuracy"] < 0.5  # about report C's 42 %
    assert res["shuffled"]["macro_auc"] < 0.6 < res["aligned"]["macro_auc"]


def test_ovr_mean_vs_accuracy_and_kappa_on_real_fundus_labels(shared_datasets):
    from core.datasets import load_dataset
    from core.metrics.classification import predictions_frame

    ds = load_dataset("fundus", path=shared_datasets / "fundus")
    y = ds.labels
    pred = np.where(np.arange(len(y)) % 3 == 0, np.clip(y + 1, 0, 4), y)  # a third off by one grade
    probs = np.full((len(y), 5), 0.05)
    probs[np.arange(len(y)), pred] = 0.8
    rep = P.ovr_mean_report(predictions_frame(ds.ids, y, probs, ds.class_names), ds.class_names)
    assert rep["mean_ovr_accuracy"] > rep["accuracy"] + 0.15
    assert rep["accuracy_from_ovr_mean"] == pytest.approx(rep["accuracy"])
    assert rep["kappa_quadratic"] is not None and rep["kappa_quadratic"] > 0.5  # near misses: kappa stays high
    assert R.accuracy_from_ovr_mean(0.921, 5) == pytest.approx(0.8025)  # report D's "92.1 %"


# ------------------------------------------------------------------ the leakage pitfall, trained (conftest.leakage_store)
def test_leakage_pitfall_end_to_end(leakage_store, ham):
    """Only what holds on every machine is asserted: both runs succeed as one group, the
    image-level split puts lesions in train and test while the grouped one never does. That
    the leaky split *scores higher* is NOT asserted: at this tiny budget (40 images per class,
    2 epochs) the CNN often predicts a single class and both splits score 1/7. At the recipe's
    quick budget (150 per class, 6 epochs, ~45 s a run) the leaky split scored 3.5 points
    higher on seeds 0 and 1 on the development machine (0.472 vs 0.437, 0.442 vs 0.407): a
    small, plausible effect, but too slow for the suite and too close to the noise to assert."""
    store, launch = leakage_store["store"], leakage_store["launch"]
    group = store.get_run(launch.group_id)
    assert group.status == "succeeded" and group.kind == "group" and group.progress == 1.0
    assert group.progress_info["message"] == "2/2 runs done" and group.progress_info["runs"] == {"succeeded": 2}
    assert (group.summary["runs"], group.summary["runs_succeeded"], group.error) == (2, 2, None)
    assert group.params["recipe.name"] == "pitfall_leakage" and group.tags["recipe_budget"] == "quick"
    runs = {r.tags["recipe_run"]: r for r in U.find_recipe_runs(store, "pitfall_leakage")}
    assert set(runs) == {"image_split", "grouped_split"}
    assert all(r.parent_id == launch.group_id and r.status == "succeeded" for r in runs.values())
    a = P.run_material(store, runs["image_split"].id)
    b = P.run_material(store, runs["grouped_split"].id)
    rep = P.leakage_report(a, b, dict(zip(ham.ids, ham.groups)))
    assert rep["overlap"]["grouped"]["test_images_sharing_a_group_with_train"] == 0
    assert rep["overlap"]["leaky"]["test_images_sharing_a_group_with_train"] > 0
    assert rep["leaky"]["accuracy"] is not None and rep["grouped"]["accuracy"] is not None
    m = P.measure(store, "leakage")  # what the page and `recipe --table` show
    assert m["measured"] and m["runs"] == [runs["image_split"].id, runs["grouped_split"].id]
    assert m["result"]["overlap"] == rep["overlap"] and "image-level split" in m["text"]
    assert not P.measure(store, "shuffled_eval")["measured"]  # its recipe has not run
    imb = P.measure(store, "accuracy_imbalance")
    assert not imb["measured"] and imb["baseline"]["accuracy"] == pytest.approx(6705 / 10015)
    # the shuffled-generator demo on a real run's stored predictions
    res = P.shuffled_evaluation(b["predictions"], b["class_names"])
    assert res["aligned"]["accuracy"] == pytest.approx(b["summary"]["accuracy"])
    rows = T.reproduction_table(store, ["pitfall_leakage", "report_b_vgg19"])
    assert {(r["run"], r["budget"], r["verdict"]) for r in rows} == {
        ("image_split", "quick", "done"), ("grouped_split", "quick", "done"),
        ("vgg19_block4", "full", "needs ImageNet weights")}
    assert all(r["run_id"] for r in rows if r["recipe"] == "pitfall_leakage")
    assert all("modified:" in r["note"] for r in rows if r["recipe"] == "pitfall_leakage")


# ------------------------------------------------------------------ groups: found again, migrated
def test_recipe_runs_are_found_through_their_group_when_their_tags_are_edited(lab_env):
    """The group (kind ``group``, never a job) records the recipe, budget and run ids in its params:
    a user editing (or clearing) the tags of its runs, or of the group itself, loses none of them."""
    from core.jobs.kinds import JOB_KINDS
    from core.jobs.manager import JobManager
    from core.store import Store

    store = Store()
    try:
        launch = U.launch_recipe(JobManager(store, store.models_dir), "report_b_cnn5", "quick",
                                 overrides={"epochs": 1})  # not started: the runs stay queued
        group = store.get_run(launch.group_id)
        assert group.kind == "group" and group.status == "queued" and group.children == launch.run_ids
        assert launch.group_id not in store.queued_ids(kinds=JOB_KINDS)  # no worker ever claims a group
        plain, augmented = launch.run_ids
        before = {r.id: r.tags for r in U.find_recipe_runs(store, "report_b_cnn5")}
        assert set(before) == {plain, augmented} and before[plain]["recipe_run"] == "plain"
        store.set_tags(plain, {"mine": "yes"})  # every recipe tag gone
        store.set_tags(augmented, {"recipe": "other", "recipe_run": "bogus", "recipe_budget": "full"})
        store.set_tags(launch.group_id, {})
        runs = {r.id: r for r in U.find_recipe_runs(store, "report_b_cnn5")}
        assert set(runs) == {plain, augmented}
        assert {k: v for k, v in runs[plain].tags.items() if k != "recipe_overrides"} == {
            "mine": "yes", "recipe": "report_b_cnn5", "recipe_run": "plain", "recipe_budget": "quick",
            "recipe_group": str(launch.group_id)}
        assert runs[plain].tags["recipe_overrides"] == '{"epochs": 1}'  # from the group
        assert runs[augmented].tags == before[augmented]  # the group's facts win over edited tags
        assert U.find_recipe_runs(store, "other") == []
        assert {r.id for r in U.find_recipe_runs(store)} == {plain, augmented}
        rows = T.reproduction_table(store, ["report_b_cnn5"], budget="quick")
        assert {(r["run"], r["run_id"], r["verdict"]) for r in rows} == {
            ("plain", plain, "not run"), ("augmented", augmented, "not run")}  # queued: found, not yet run
        assert [g.id for g in U.find_recipe_groups(store, "report_b_cnn5")] == [launch.group_id]
        assert U.find_recipe_groups(store, "report_e_cnn") == []
    finally:
        store.close()


def _migrated_store(tmp_path):
    """A SQLite store at revision 0005 with a recipe group as it was then (kind ``search``,
    tag recipe_role=group, the launch's params) and its two runs (one with its tags edited
    away), a real search with a trial, and a train run."""
    import json
    import sqlite3

    import sqlalchemy as sa

    from core.store.engine import upgrade

    path = tmp_path / "old.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    upgrade(engine, "0005")
    engine.dispose()
    con = sqlite3.connect(path)
    con.execute("PRAGMA foreign_keys = ON")
    rows = [(1, "recipe report_b_cnn5 (quick)", "search", "succeeded", None),
            (2, "recipe report_b_cnn5 · plain (quick)", "train", "succeeded", 1),
            (3, "recipe report_b_cnn5 · augmented (quick)", "train", "succeeded", 1),
            (4, "lr search", "search", "running", None), (5, "trial 1", "train", "running", 4),
            (6, "plain run", "train", "succeeded", None)]
    for rid, name, kind, status, parent in rows:
        con.execute("INSERT INTO runs (id, name, kind, status, config, created_at, progress, parent_id) "
                    "VALUES (?, ?, ?, ?, '{}', '2026-11-01 00:00:00', 1, ?)", (rid, name, kind, status, parent))
    params = [(1, "recipe.name", "report_b_cnn5"), (1, "recipe.budget", "quick"),
              (1, "recipe.runs", json.dumps(["plain", "augmented"])), (4, "search.n_trials", "1")]
    tags = [(1, "recipe", "report_b_cnn5"), (1, "recipe_budget", "quick"), (1, "recipe_role", "group"),
            (2, "edited", ""),
            (3, "recipe", "report_b_cnn5"), (3, "recipe_run", "augmented"), (3, "recipe_budget", "quick")]
    con.executemany("INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)", params)
    con.executemany("INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?)", tags)
    con.execute("INSERT INTO summary_metrics (run_id, key, value) VALUES (2, 'accuracy', 0.9)")
    con.commit()
    con.close()
    return path


def test_migration_0006_turns_recipe_groups_into_groups_and_back(tmp_path):
    import sqlite3

    import sqlalchemy as sa
    from alembic import command

    from core.store import Store
    from core.store.engine import WRITE_OPTION, alembic_config, upgrade

    path = _migrated_store(tmp_path)

    def kinds():
        con = sqlite3.connect(path)
        try:
            return dict(con.execute("SELECT id, kind FROM runs").fetchall())
        finally:
            con.close()

    engine = sa.create_engine(f"sqlite:///{path}")
    upgrade(engine, "0006")
    assert kinds() == {1: "group", 2: "train", 3: "train", 4: "search", 5: "train", 6: "train"}

    def downgrade():
        with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
            command.downgrade(alembic_config(conn), "0005")

    downgrade()
    assert kinds() == {1: "search", 2: "train", 3: "train", 4: "search", 5: "train", 6: "train"}
    upgrade(engine, "0006")
    con = sqlite3.connect(path)
    con.execute("DELETE FROM tags WHERE run_id = 1 AND key = 'recipe_role'")  # the launch's params still say it
    con.execute("INSERT INTO runs (id, name, kind, status, config, created_at, progress) "
                "VALUES (7, 'not a recipe', 'group', 'queued', '{}', '2026-11-01 00:00:00', 0)")
    con.commit()
    con.close()
    with pytest.raises(Exception, match="cannot be downgraded: the store holds 1 group run.s. that are not recipe"):
        downgrade()
    assert kinds()[1] == "group" and kinds()[7] == "group"  # refused as a whole: nothing changed
    con = sqlite3.connect(path)
    con.execute("DELETE FROM runs WHERE id = 7")
    con.commit()
    con.close()
    downgrade()  # the recipe group found by its params, its tag given back for the older code
    assert kinds()[1] == "search"
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM tags WHERE run_id = 1 AND key = 'recipe_role'").fetchone() == ("group",)
    con.close()
    engine.dispose()

    store = Store(f"sqlite:///{path}", models_dir=tmp_path / "m")  # upgrades to head
    try:
        assert store.get_run(1).kind == "group" and store.get_run(4).kind == "search"
        runs = {r.id: r for r in U.find_recipe_runs(store, "report_b_cnn5")}
        assert set(runs) == {2, 3}  # run 2 lost its tags: found through its group, in submission order
        assert runs[2].tags["recipe_run"] == "plain" and runs[3].tags["recipe_run"] == "augmented"
        rows = T.reproduction_table(store, ["report_b_cnn5"], budget="quick")
        assert {r["run"]: r["run_id"] for r in rows} == {"plain": 2, "augmented": 3}
        assert store.list_runs(kind="group")[1] == 1
    finally:
        store.close()


# ------------------------------------------------------------------ CLI
def _cli(*args, env=None, module="core.cli.recipes"):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", module, "recipe", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=300)


def test_cli_list_dry_run_and_unknown_recipe():
    p = _cli("--list")
    assert p.returncode == 0 and all(n in p.stdout for n in NAMED)
    p = _cli("report_b_cnn5", "--budget", "full", "--dry-run")
    assert p.returncode == 0 and "rough total" in p.stdout and "20 epoch(s)" in p.stdout
    p = _cli("report_b_cnn", "--dry-run")
    assert p.returncode == 2 and "Unknown recipe 'report_b_cnn'" in p.stderr and "Traceback" not in p.stderr
    p = _cli("report_b_cnn5", "--budget", "medium")
    assert p.returncode == 2  # argparse refuses the budget


def test_cli_through_core_cli_when_wired():
    from core.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    if "recipe" not in sub.choices:
        pytest.skip("core/cli.py does not wire the recipe subcommand yet (one line: core.cli.recipes.add_cli(sub))")
    assert _cli("--list", module="core").returncode == 0
    p = _cli("nope", module="core")
    assert p.returncode == 2 and "Unknown recipe 'nope'" in p.stderr


def test_cli_queues_a_group_and_trains_now(tmp_path, shared_datasets):
    from lab_pages_support import lab_environ

    env = lab_environ(tmp_path)
    p = _cli("report_b_cnn5", env=env)
    assert p.returncode == 0, p.stderr
    assert "queued 2 run(s)" in p.stdout and "python -m core jobs serve" in p.stdout
    ham = shared_datasets / "ham10000"
    p = _cli("pitfall_shuffled_eval", "--now", "--data", f"ham10000.path={ham / 'reduced_200x150'}",
             "--data", f"ham10000.metadata_csv={ham / 'HAM10000_metadata.csv'}", "--data", "ham10000.max_per_class=15",
             "--set", "epochs=1", "--set", "input_size=[24, 30]", env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "pitfall_shuffled_eval/model (quick)" in p.stdout and "run #" in p.stdout
    assert "succeeded (1/1 runs done)" in p.stdout  # the recipe group, rolled up
    listed = subprocess.run([sys.executable, "-m", "core", "runs", "list", "--kind", "group"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", **env})
    assert listed.returncode == 0, listed.stderr
    lines = [ln.split() for ln in listed.stdout.splitlines()[1:] if ln.strip()]
    assert sorted((ln[1], ln[2]) for ln in lines) == [("queued", "group"), ("succeeded", "group")]  # status, kind
    from core.store import Store

    store = Store(env["LAB_DATABASE_URL"], models_dir=env["LAB_MODELS_DIR"])
    try:
        runs = U.find_recipe_runs(store)
        assert {r.tags["recipe"] for r in runs} == {"report_b_cnn5", "pitfall_shuffled_eval"}
        done = [r for r in runs if r.tags["recipe"] == "pitfall_shuffled_eval"]
        assert [r.status for r in done] == ["succeeded"] and done[0].tags["recipe_overrides"]
        assert store.get_run(done[0].parent_id).status == "succeeded"  # the group followed its run
        assert {r.status for r in runs if r.tags["recipe"] == "report_b_cnn5"} == {"queued"}
    finally:
        store.close()
