"""``python -m core recipe ...``: list, plan, launch and tabulate the reports' experiments
(core/recipes/catalog.py) and print the pitfall demos' measurements (core/recipes/pitfalls.py).

Kept apart from core/recipes/ so that the layering is one way: recipes (registry, plans,
reproduction table) <- pitfalls (analyses of stored runs) <- this command and the Recipes page.
"""
from __future__ import annotations

import json
import sys
from typing import Any

from core.recipes.catalog import BUDGETS, PlannedRun, data_problems, get_recipe, list_recipes, plan
from core.recipes.estimate import estimate_seconds, fmt_seconds
from core.recipes.reproduction import reproduction_table
from core.recipes.runs import Launch, launch_recipe
from core.validation import LabError, ValidationError


def add_cli(sub) -> None:
    """The ``recipe`` subcommand of ``python -m core``."""
    p = sub.add_parser("recipe", help="the reports' experiments as recipes: list, show, queue or train them")
    p.add_argument("name", nargs="?", help="recipe name (see --list)")
    p.add_argument("--budget", choices=BUDGETS, default="quick",
                   help="quick: minutes on 2 CPU cores (subsample, few epochs); full: the report's epochs and data")
    p.add_argument("--list", action="store_true", help="list the recipes and exit")
    p.add_argument("--dry-run", action="store_true", help="print the configs and the rough time estimate only")
    p.add_argument("--data", action="append", default=[], metavar="DATASET.PARAM=VALUE",
                   help="a dataset parameter, e.g. ham10000.path=/data/HAM10000 (repeatable)")
    p.add_argument("--weights", default=None,
                   help="weights for the runs that need ImageNet weights: imagenet (default), a file, or none")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", dest="overrides",
                   help="change a TrainConfig field in every run, e.g. epochs=1 (a smoke test; recorded on the runs)")
    p.add_argument("--now", action="store_true", help="train the runs here, one after the other, instead of queueing")
    p.add_argument("--table", action="store_true", help="print the reproduction table (of NAME, or of all recipes)")
    p.set_defaults(fn=cmd_recipe)


def parse_data_args(items: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        ds, dot, param = key.partition(".")
        if not (eq and dot and ds.strip() and param.strip()):
            raise ValidationError(f"--data must look like DATASET.PARAM=VALUE (e.g. ham10000.path=/data/HAM10000). "
                                  f"Got {item!r} instead.")
        try:
            v: Any = json.loads(value)
        except ValueError:
            v = value
        out.setdefault(ds.strip(), {})[param.strip()] = v
    return out


def parse_set_args(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not (eq and key.strip()):
            raise ValidationError(f"--set must look like FIELD=VALUE (e.g. epochs=1). Got {item!r} instead.")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def _print_list() -> None:
    for n in list_recipes():
        r = get_recipe(n)
        extra = " [needs ImageNet weights]" if r.needs_imagenet else ""
        print(f"{n:28s} {len(r.runs)} run(s)  {r.title}{extra}")


def _print_plan(planned: list[PlannedRun]) -> None:
    total = 0.0
    for p in planned:
        c = p.config
        est = estimate_seconds(c, p.kind)
        total += est
        print(f"- {p.run.key}: {p.kind} {c['model']} on {c['dataset']['name']} {c['dataset'].get('params') or ''} "
              f"input {c['input_size']}, {c['epochs']} epoch(s), batch {c['batch_size']}, {c['optimizer']} "
              f"{c['learning_rate']:g}; rough time {fmt_seconds(est)}")
    print(f"rough total on 2 CPU cores: {fmt_seconds(total)} (an estimate from model size and data size only)")


def print_table(rows: list[dict]) -> None:
    def f(v):
        return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)

    for r in rows:
        ci = f" [{f(r['ci_low'])}, {f(r['ci_high'])}]" if r["ci_low"] is not None else ""
        rid = f" run #{r['run_id']}" if r["run_id"] else ""
        if r["claimed"] is not None:
            what = f"{r['claim']} ({f(r['claimed'])}) vs {r['metric']} {f(r['result'])}{ci}"
        else:
            what = f"{r['claim'] or 'no claim'}; accuracy {f(r['accuracy'])}"
        print(f"{r['recipe']}/{r['run']} ({r['budget']}): {what} -> {r['verdict']}{rid}")


def print_pitfall(store: Any, recipe: str) -> None:
    """The measured difference of a pitfall recipe, in one line (nothing for other recipes)."""
    from core.recipes.pitfalls import measure

    key = get_recipe(recipe).pitfall
    if key:
        print(f"pitfall {key}: {measure(store, key)['text']}")


def cmd_recipe(args) -> int:
    if args.list:
        _print_list()
        return 0
    if not args.name:
        if args.table:
            return _cmd_table(None)
        raise ValidationError("Give a recipe name (python -m core recipe --list shows them), or --list.")
    get_recipe(args.name)  # NotFoundError (exit 2) with close matches
    if args.table:
        return _cmd_table(args.name)
    data, overrides = parse_data_args(args.data), parse_set_args(args.overrides)
    planned = plan(args.name, args.budget, data=data, weights=args.weights, overrides=overrides)
    print(f"recipe {args.name} ({args.budget}): {len(planned)} run(s)")
    _print_plan(planned)
    for msg in data_problems(planned):
        print(f"warning: the data is not available here, so these runs will fail unless the machine that trains "
              f"them has it. {msg}", file=sys.stderr)
    if args.dry_run:
        return 0
    from core.cli.common import open_store, operator
    from core.jobs.manager import JobManager

    store = open_store()
    try:
        launch = launch_recipe(JobManager(store, store.models_dir), args.name, args.budget,
                               data=data, weights=args.weights, overrides=overrides, actor=operator(store)[0])
        ids = ", ".join(f"#{i}" for i in launch.run_ids)
        if not args.now:
            print(f"queued {len(launch.run_ids)} run(s) ({ids}) as recipe group #{launch.group_id} in the run store. "
                  "They are trained by a running job supervisor: the dashboard, or `python -m core jobs serve`; "
                  f"`python -m core runs show {launch.group_id}` shows the group and its runs.")
            return 0
        return _train_now(store, launch)
    finally:
        store.close()


def _train_now(store: Any, launch: Launch) -> int:
    """Train the launched runs in this process with the worker's own code, one after the other
    (a run a job supervisor claimed first is left to it). Exit 1 when one did not succeed."""
    from core.jobs import worker
    from core.training.search import update_parents

    for rid in launch.run_ids:
        if store.get_run(rid).status == "queued":
            print(f"training run #{rid} ...", flush=True)
            worker.run(rid)
    update_parents(store)  # the group follows its runs
    group = store.get_run(launch.group_id)
    print(f"recipe group #{group.id}: {group.status} ({group.progress_info.get('message', '')})")
    print_table(reproduction_table(store, [launch.recipe], budget=launch.budget))
    print_pitfall(store, launch.recipe)
    bad = [rid for rid in launch.run_ids if store.get_run(rid).status in ("failed", "cancelled", "interrupted")]
    if bad:
        which = ", ".join(f"#{i}" for i in bad)
        print(f"run(s) {which} did not succeed (python -m core runs show ID)", file=sys.stderr)
    return 1 if bad else 0


def _cmd_table(name: str | None) -> int:
    from core.cli.common import open_store

    store = open_store()
    try:
        print_table(reproduction_table(store, [name] if name else None))
        for n in [name] if name else list_recipes(report="pitfall"):
            print_pitfall(store, n)
    finally:
        store.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m core.cli.recipes recipe ...``: the same subcommand without core.cli.main (exit 2 on a LabError)."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m core.recipes")
    sub = ap.add_subparsers(dest="command", required=True)
    add_cli(sub)
    args = ap.parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except LabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
