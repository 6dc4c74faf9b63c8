"""Launching a recipe as one group of runs, and finding a recipe's runs again.

    from core.recipes.runs import launch_recipe, find_recipe_runs
    launch_recipe(job_manager, "report_b_cnn5", "quick")   # queued as one group
    find_recipe_runs(store, "report_b_cnn5")               # its runs, newest first

A launch makes a group run (kind ``group``: no worker runs it; the job supervisor rolls its
status up from its runs, ``core.training.search.update_groups``) and queues each run as its child. Runs
of a recipe are found again through their group (its params ``recipe.name``, ``recipe.budget``,
``recipe.runs`` and ``recipe.run_ids``, written at launch and not editable), and by their tags
``recipe``, ``recipe_run`` and ``recipe_budget`` (set when launched, but a user may edit them):
editing a run's tags does not lose it. Importing this module does not import TensorFlow.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from core.recipes.catalog import BUDGETS, get_recipe, plan
from core.training.config import TrainConfig


@dataclass
class Launch:
    recipe: str
    budget: str
    group_id: int
    run_ids: list[int]


GROUP_KIND = "group"  # the kind of a recipe's group run (core.store.KINDS)
RUN_KINDS = ("train", "lr_find")  # the kinds of a recipe's runs (RecipeRun.kind)


def launch_recipe(jobs: Any, name: str, budget: str, *, data: Mapping[str, Mapping[str, Any]] | None = None,
                  weights: str | None = None, overrides: Mapping[str, Any] | None = None, actor: Any = None) -> Launch:
    """Queue every run of recipe ``name`` at ``budget`` as one group: a group run (kind
    ``group``: never run by a worker; the supervisor makes its status follow its runs, see
    ``core.training.search.group_status``) and one child per run, tagged ``recipe``/``recipe_run``/
    ``recipe_budget``/``recipe_group``. The group records the recipe, budget, run keys and run
    ids in its params (``find_recipe_runs`` reads them). Every config is validated first:
    nothing is queued (not even the group) when one is invalid or names a data folder that is
    missing or outside ``LAB_DATA_ROOTS``, nor when ``actor`` (a ``core.auth.policy.Actor``; None: the
    local user) may not launch recipes (``Denied``) or has no room for every run in their role's
    queue limit. The group and its runs are owned by ``actor``. ``jobs`` is a
    ``core.jobs.manager.JobManager``."""
    planned = plan(name, budget, data=data, weights=weights, overrides=overrides)
    for p in planned:  # the data folders too, before the group's row is written (plan() may name folders to come)
        TrainConfig.from_dict(p.config).check_data_paths()
    recipe = get_recipe(name)
    store = jobs.store
    first = planned[0].config
    facts = {"name": recipe.name, "budget": budget, "runs": [p.run.key for p in planned]}
    tags = {"recipe": recipe.name, "recipe_budget": budget}
    if "recipe_overrides" in planned[0].tags:
        tags["recipe_overrides"] = facts["overrides"] = planned[0].tags["recipe_overrides"]
    with jobs.admission(actor, len(planned), dataset=first["dataset"]["name"], action="launch_recipe",
                        configs=tuple(TrainConfig.from_dict(p.config) for p in planned)):
        parent = store.create_run(first, name=f"recipe {recipe.name} ({budget})", dataset=first["dataset"]["name"],
                                  model=first["model"], seed=first["seed"], kind=GROUP_KIND, tags=tags,
                                  owner_id=None if actor is None else actor.user_id)
        store.log_params(parent, {"recipe": facts})
        ids = []
        for p in planned:
            rid = jobs.submit(p.config, name=p.name, parent_id=parent, kind=p.kind, actor=actor, _admitted=True)
            store.set_tags(rid, {**p.tags, "recipe_group": str(parent)})
            ids.append(rid)
    store.log_params(parent, {"recipe": {"run_ids": ids}})
    if actor is not None:  # the launch in the audit log (each run's row is written as it is queued)
        from core.auth.guard import guarded

        guarded(store, actor).authorize("launch_recipe", target=f"run:{parent}", after={"recipe": recipe.name,
                                                                                        "budget": budget, "runs": ids})
    return Launch(recipe.name, budget, parent, ids)


@dataclass(frozen=True)
class RecipeGroup:
    """A recipe's group run and what its launch recorded: ``members`` maps each child run id to
    its recipe run key; ``overrides`` the JSON of the fields changed in every run (or None)."""

    run: Any
    recipe: str
    budget: str
    members: dict[int, str]
    overrides: str | None = None

    @property
    def id(self) -> int:
        return self.run.id


def _json_list(text: str | None) -> list:
    try:
        v = json.loads(text) if text else []
    except ValueError:
        return []
    return v if isinstance(v, list) else []


def recipe_group(store: Any, run_id: int) -> RecipeGroup | None:
    """The recipe facts of group run ``run_id``: from its params (written at launch, not
    editable), else its tags; None when it is not a recipe's group (or was deleted)."""
    from core.validation import NotFoundError

    try:
        d = store.get_run(run_id)
    except NotFoundError:
        return None
    p, t = d.params, d.tags
    name, budget = p.get("recipe.name") or t.get("recipe"), p.get("recipe.budget") or t.get("recipe_budget")
    if d.kind != GROUP_KIND or not name or budget not in BUDGETS:
        return None
    keys = [str(k) for k in _json_list(p.get("recipe.runs"))]
    ids = _json_list(p.get("recipe.run_ids"))
    if not ids and len(d.children) == len(keys):  # launched before run_ids were recorded: in submission order
        ids = d.children
    members = {int(i): k for i, k in zip(ids, keys, strict=False)}
    return RecipeGroup(d, str(name), str(budget), members, p.get("recipe.overrides") or t.get("recipe_overrides"))


def find_recipe_groups(store: Any, recipe: str | None = None) -> list[RecipeGroup]:
    """The groups launched by recipes (optionally of one recipe), newest first."""
    groups, _ = store.list_runs(kind=GROUP_KIND, limit=None, sort="id", descending=True)
    out = [g for g in (recipe_group(store, r.id) for r in groups) if g is not None]
    return [g for g in out if recipe in (None, g.recipe)]


def _recipe_tags(r: Any, group: RecipeGroup | None) -> dict[str, str]:
    """A run's tags with the recipe facts of its group in place of its own (a user may have
    edited those); a run outside a recipe group keeps its tags."""
    if group is None:
        return dict(r.tags)
    tags = {**r.tags, "recipe": group.recipe, "recipe_budget": group.budget, "recipe_group": str(group.id)}
    key = group.members.get(r.id) or r.tags.get("recipe_run")
    if key:
        tags["recipe_run"] = key
    if group.overrides:
        tags["recipe_overrides"] = group.overrides
    return tags


def find_recipe_runs(store: Any, recipe: str | None = None, *, groups: list[RecipeGroup] | None = None) -> list[Any]:
    """Runs launched by recipes, optionally of one recipe, newest first: the children of recipe
    groups (``find_recipe_groups``) whatever their tags, and runs tagged ``recipe``/``recipe_run``
    outside a group. Each run's ``tags`` carry the recipe facts of its group (``recipe``,
    ``recipe_run``, ``recipe_budget``, ``recipe_group``, ``recipe_overrides``). ``groups``: the
    result of ``find_recipe_groups(store)`` (all recipes) when the caller has it already."""
    by_group = {g.id: g for g in (find_recipe_groups(store) if groups is None else groups)}
    tagged, _ = store.list_runs(tag=f"recipe={recipe}" if recipe else "recipe", limit=None, kind=list(RUN_KINDS))
    by_id = {r.id: r for r in tagged}
    for g in by_group.values():
        if recipe in (None, g.recipe) and not set(g.run.children) <= set(by_id):  # a child's tags were edited
            kids, _ = store.list_runs(parent_id=g.id, limit=None, kind=list(RUN_KINDS))
            by_id.update((k.id, k) for k in kids)
    out = []
    for r in by_id.values():
        tags = _recipe_tags(r, by_group.get(r.parent_id))
        if tags.get("recipe_run") and recipe in (None, tags.get("recipe")):
            out.append(r if tags == r.tags else replace(r, tags=tags))
    return sorted(out, key=lambda r: r.id, reverse=True)

