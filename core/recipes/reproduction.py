"""The reproduction table: each report's claim against the lab's result and its interval.

    from core.recipes.reproduction import reproduction_table
    reproduction_table(store)               # claim vs result with its interval, verdict, run ids

Runs are found by ``core.recipes.runs.find_recipe_runs``; the newest succeeded run of each
(recipe, run, budget) counts. Importing this module does not import TensorFlow.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from core.recipes.catalog import BUDGETS, Claim, Recipe, RecipeRun, get_recipe, list_recipes, ovr_mean_from_accuracy
from core.recipes.runs import find_recipe_runs
from core.store.schema import ACTIVE_STATUSES

VERDICTS = ("reproduced (within the interval)", "below the claim", "above the claim", "not run",
            "needs ImageNet weights", "running", "failed", "done")  # done: a finished run with no claim to check

# metrics whose interval is another metric's (mean sensitivity = balanced accuracy when every
# class is in the test set) or a monotone function of it (mean one-vs-rest accuracy)
_CI_ALIAS = {"mean_sensitivity": "balanced_accuracy"}


def interval(summary: Mapping[str, float], metric: str,
             ci_metric: str | None = None) -> tuple[float | None, float | None]:
    """The 95 % bootstrap interval of ``metric`` from a run's summary (``ci_low_``/``ci_high_``
    keys), else that of ``ci_metric`` or of an equivalent metric; (None, None) if unknown."""
    def ci(m):
        lo, hi = summary.get(f"ci_low_{m}"), summary.get(f"ci_high_{m}")
        ok = lo is not None and hi is not None and not (math.isnan(lo) or math.isnan(hi))
        return (float(lo), float(hi)) if ok else (None, None)

    lo, hi = ci(metric)
    if lo is not None:
        return lo, hi
    if metric == "mean_ovr_accuracy" and summary.get("n_classes"):
        lo, hi = ci("accuracy")
        k = int(summary["n_classes"])
        return (ovr_mean_from_accuracy(lo, k), ovr_mean_from_accuracy(hi, k)) if lo is not None else (None, None)
    alias = ci_metric or _CI_ALIAS.get(metric)
    return ci(alias) if alias else (None, None)


def verdict(claim: float, value: float | None, lo: float | None, hi: float | None) -> str:
    """Where the report's claim stands against the lab's result and its interval."""
    if value is None:
        return "not run"
    if lo is None or hi is None:
        lo = hi = value
    if lo <= claim <= hi:
        return VERDICTS[0]
    return VERDICTS[1] if hi < claim else VERDICTS[2]


def _pick(runs: list[Any]) -> Any | None:
    """The newest succeeded run, else the newest one."""
    ok = [r for r in runs if r.status == "succeeded"]
    return (ok or runs or [None])[0]


def _row(recipe: Recipe, run: RecipeRun, budget: str, r: Any, claim: Claim | None) -> dict[str, Any]:
    summary = dict(r.summary) if r is not None else {}
    row = {"recipe": recipe.name, "report": recipe.report, "section": recipe.section, "run": run.key,
           "title": run.title, "budget": budget, "claim": claim.label if claim else no_claim(recipe, run),
           "claimed": claim.value if claim else None, "metric": claim.metric if claim else "",
           "result": None, "ci_low": None, "ci_high": None, "verdict": "not run", "run_id": r.id if r else None,
           "status": r.status if r else "", "accuracy": summary.get("accuracy"),
           "balanced_accuracy": summary.get("balanced_accuracy"), "kappa_quadratic": summary.get("kappa_quadratic"),
           "wall_time_s": r.duration_s if r else None, "note": claim.note if claim else run.notes}
    if r is not None and r.tags.get("recipe_overrides"):
        row["note"] = f"modified: {r.tags['recipe_overrides']}. " + row["note"]
    if r is None:
        row["verdict"] = "needs ImageNet weights" if run.needs_imagenet else "not run"
        return row
    if r.status in ACTIVE_STATUSES:
        row["verdict"] = "running" if r.status == "running" else "not run"
        return row
    if r.status != "succeeded":
        row["verdict"] = "failed"
        return row
    if run.needs_imagenet and not _imagenet_like(r):
        row["verdict"] = "needs ImageNet weights"
        row["note"] = "trained without ImageNet weights (random initialisation): not comparable. " + row["note"]
    if claim is None or run.kind != "train":
        if row["verdict"] != "needs ImageNet weights":
            row["verdict"] = "done"
        return row
    value = summary.get(claim.metric)
    lo, hi = interval(summary, claim.metric, claim.ci_metric)
    row.update(result=value, ci_low=lo, ci_high=hi)
    if row["verdict"] != "needs ImageNet weights":
        row["verdict"] = verdict(claim.value, value, lo, hi)
    return row


def no_claim(recipe: Recipe, run: RecipeRun) -> str:
    """The claim cell of a run the report gives no figure for, saying why (``claimed`` stays None)."""
    if run.kind != "train":
        return "none: a learning-rate finder"
    if recipe.report == "pitfall":
        return "none: a pitfall demo (see Pitfalls)"
    return "none: the report gives no figure"


def _imagenet_like(r: Any) -> bool:
    cfg = getattr(r, "config", None)
    if cfg is None:
        return True  # RunSummary: the weights are not known here; assume what the recipe asked
    w = cfg.get("weights") or (cfg.get("model_options") or {}).get("weights")
    return w is not None


def reproduction_table(store: Any, recipes: list[str] | None = None, *, budget: str | None = None) -> list[dict]:
    """One row per (recipe, run, budget, claim): the report's claim (a run without one says why:
    ``no_claim``; its ``claimed`` is None), the lab's result with its 95 % interval, a verdict and the
    run id. Runs are found by their recipe tags; the newest succeeded run of each (recipe, run,
    budget) counts. Budgets without any run are listed as ``full`` rows 'not run' (or 'needs
    ImageNet weights')."""
    names = recipes or list_recipes()
    found: dict[tuple[str, str, str], list] = {}
    for r in find_recipe_runs(store):
        t = r.tags
        found.setdefault((t.get("recipe"), t.get("recipe_run"), t.get("recipe_budget", "full")), []).append(r)
    rows = []
    for name in names:
        recipe = get_recipe(name)
        budgets = [budget] if budget else [b for b in BUDGETS if any((name, x.key, b) in found for x in recipe.runs)]
        for b in budgets or ["full"]:
            for run in recipe.runs:
                r = _pick(found.get((name, run.key, b), []))
                if r is not None and run.needs_imagenet:
                    r = store.get_run(r.id)  # the detail has the config (weights)
                for claim in run.claims or (None,):
                    rows.append(_row(recipe, run, b, r, claim))
    return rows

