"""The Recipes page (AppTest, a store holding the trained runs of the pitfall_leakage recipe):
the plan and its rough time, a launch refused without data and allowed with it, a double click
that queues once, the reproduction table, every pitfall's tab, and the recipe group's own page."""
from __future__ import annotations

import time

import pytest

from core.recipes import pitfalls as P
from core.recipes import runs as U
from lab_pages_support import app_at, page_texts, problems

pytestmark = pytest.mark.usefixtures("page_jobs_cleanup")


def test_recipes_page(leakage_store, shared_datasets):
    at = app_at("recipes")
    assert problems(at) == []
    assert at.selectbox(key="rc_recipe").value == "report_b_cnn5"
    at.radio(key="rc_budget").set_value("quick").run()
    assert problems(at) == []
    plan = at.dataframe[0].value
    assert list(plan["run"]) == ["plain", "augmented"] and "rough time" in plan
    assert "Rough total" in page_texts(at)
    # a HAM10000 recipe: without a folder the launch is disabled and the page says why
    at.selectbox(key="rc_recipe").set_value("pitfall_accuracy_imbalance").run()
    at.text_input(key="rc_path_ham10000").set_value("").run()
    assert at.button(key="rc_launch").disabled and any("Data missing" in w.value for w in at.warning)
    ham = shared_datasets / "ham10000"
    at.text_input(key="rc_path_ham10000").set_value(str(ham / "reduced_200x150")).run()
    at.text_input(key="rc_metadata_csv_ham10000").set_value(str(ham / "HAM10000_metadata.csv")).run()
    assert not at.button(key="rc_launch").disabled
    at.button(key="rc_launch").click().run()  # the supervisor is off: the run stays queued
    assert problems(at) == []
    queued = U.find_recipe_runs(leakage_store["store"], "pitfall_accuracy_imbalance")
    assert len(queued) == 1 and queued[0].status == "queued" and queued[0].parent_id is not None
    assert queued[0].tags["recipe_budget"] == "quick"
    assert any("Queued 1 run as recipe group" in s.value for s in at.success)
    groups = at.dataframe[-2].value  # the recipe's groups, then its runs
    assert list(groups["group"]) == [f"Recipe group #{queued[0].parent_id}"]
    assert list(groups["runs done"]) == ["0/1"] and list(groups["status"]) == ["queued"]
    assert at.button(key="rc_launch").label.startswith("Launch again")  # a second click is a new group, said so
    # ... but not the second click of a double click (within 2 s of the launch; dated ahead here so
    # that a slow machine cannot turn it into a deliberate second click)
    at.session_state["_single_click_recipe_launch"] = {"at": time.time() + 60}
    at.button(key="rc_launch").click().run()
    assert len(U.find_recipe_runs(leakage_store["store"], "pitfall_accuracy_imbalance")) == 1
    at.session_state["rc_tab"] = "Reproduction table"
    at.run()
    assert problems(at) == []
    table = at.dataframe[0].value
    assert {"claim", "result", "interval", "verdict"} <= set(table.columns)
    assert "needs ImageNet weights" in set(table["verdict"])
    at.session_state["rc_tab"] = "Pitfalls"
    at.run()
    failing = {}  # one AppTest for every pitfall's tab: all of them are tried, the failing ones named
    for key in P.PITFALLS:
        at.radio(key="rc_pitfall").set_value(key).run()
        if problems(at):
            failing[key] = problems(at)
    assert failing == {}
    at.radio(key="rc_pitfall").set_value("leakage").run()
    assert "share a lesion with a training image" in page_texts(at)
    # the group's own page (Runs): a recipe group with its runs' progress, each run linked
    launch = leakage_store["launch"]
    at = app_at("runs", {"run": str(launch.group_id)})
    assert problems(at) == []
    assert "Recipe group of recipe pitfall_leakage" in page_texts(at) and "2/2 runs done" in page_texts(at)
    kids = at.dataframe[0].value
    assert list(kids["id"]) == launch.run_ids and set(kids["status"]) == {"succeeded"}
    assert list(kids["open"]) == [f"?run={i}" for i in launch.run_ids]
    # a group has no model or metrics of its own: no metric tabs, no subsample warning, no re-run
    assert [t.label for t in at.tabs] == ["Runs", "Config", "Manage"] and not at.metric and not at.warning
    at.session_state["r_parent_tab"] = "Manage"
    at.run()
    assert problems(at) == [] and "Re-run with the same config" not in [b.label for b in at.button]
    assert not any("champion" in b.label for b in at.button)
