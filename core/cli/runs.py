"""``runs list|show|champion|export|import``: the runs of the run store (LAB_DATABASE_URL), as the
operator may see and change them (``core.cli.common.operator``); the changes are in ``core.cli.runs_edit``."""
from __future__ import annotations

import json
from pathlib import Path

from core.cli.common import dur, open_store, operator, reader, when
from core.validation import ValidationError


def _run_json(r) -> dict:
    from dataclasses import asdict

    return json.loads(json.dumps(asdict(r), default=lambda o: o.isoformat() if hasattr(o, "isoformat") else str(o)))


def _check_statuses(statuses: list[str] | None) -> None:
    from core.store import STATUSES

    for st in statuses or []:
        if st not in STATUSES:
            raise ValidationError(f"--status must be one of {', '.join(STATUSES)}. Got {st!r} instead.")


def _table_rows(runs) -> list[dict[str, str]]:
    """One row of text per run; long names and models clipped with an ellipsis."""
    rows = [{
        "id": str(r.id), "status": r.status, "kind": r.kind, "name": r.name, "dataset": r.dataset or "",
        "model": r.model or "",
        "accuracy": f"{r.summary['accuracy']:.4f}" if isinstance(r.summary.get("accuracy"), float) else "",
        "macro_f1": f"{r.summary['macro_f1']:.4f}" if isinstance(r.summary.get("macro_f1"), float) else "",
        "created": when(r.created_at), "duration": dur(r.duration_s),
    } for r in runs]
    clip = {"name": 40, "model": 24}
    for row in rows:
        for k, n in clip.items():
            if len(row[k]) > n:
                row[k] = row[k][: n - 1] + "…"
    return rows


def _print_table(rows: list[dict[str, str]]) -> None:
    cols = list(rows[0])
    width = {c: max(len(c), *(len(row[c]) for row in rows)) for c in cols}
    right = {"id", "accuracy", "macro_f1", "duration"}

    def fmt(vals) -> str:
        return "  ".join(v.rjust(width[c]) if c in right else v.ljust(width[c]) for c, v in zip(cols, vals))

    print(fmt(cols).rstrip())
    for row in rows:
        print(fmt([row[c] for c in cols]).rstrip())


def cmd_runs_list(args) -> int:
    _check_statuses(args.status)
    store = open_store()
    try:
        runs, total = reader(store).list_runs(status=args.status or None, dataset=args.dataset or None,
                                      model=args.model or None, kind=args.kind or None, tag=args.tag,
                                      text=args.text, limit=args.limit)
    finally:
        store.close()
    if args.json:
        print(json.dumps([_run_json(r) for r in runs], indent=2))
        return 0
    if not runs:
        print("No runs match." if total == 0 and (args.status or args.dataset or args.model or args.kind or args.tag or args.text)
              else "No runs in the store yet (python -m core train ... records one).")
        return 0
    _print_table(_table_rows(runs))
    if total > len(runs):
        print(f"({len(runs)} of {total} runs shown; --limit N shows more)")
    return 0


def _print_run(r) -> None:
    """One run as text: its fields, summary, artifacts, metrics and configuration."""
    print(f"Run {r.id}: {r.name}")
    fields = [("status", r.status), ("kind", r.kind), ("dataset", r.dataset), ("model", r.model), ("seed", r.seed),
              ("created", when(r.created_at)), ("started", when(r.started_at)), ("finished", when(r.finished_at)),
              ("duration", dur(r.duration_s)), ("progress", f"{r.progress:.0%}" if r.status == "running" else None),
              ("worker", f"pid {r.pid} on {r.host}" if r.pid else None), ("parent", r.parent_id),
              ("children", ", ".join(map(str, r.children)) if r.children else None),
              ("tags", ", ".join(f"{k}={v}" if v else k for k, v in r.tags.items()) if r.tags else None),
              ("notes", r.notes), ("error", r.error)]
    for k, v in fields:
        if v not in (None, ""):
            text = str(v).replace("\n", "\n" + " " * 12)
            print(f"  {k:<9} {text}")
    if r.summary:
        print("Summary:")
        w = max(len(k) for k in r.summary)
        for k in sorted(r.summary):
            print(f"  {k:<{w}}  {r.summary[k]:.6g}")
    if r.artifacts:
        print("Artifacts:")
        for a in r.artifacts:
            size = f"{a.bytes:,} B" if a.bytes is not None else ""
            print(f"  {a.kind:<12} {a.path}  {size}{'' if a.exists else '  (missing)'}")
    if r.metric_keys:
        print("Metrics logged: " + ", ".join(r.metric_keys))
    print("Config:")
    print("  " + json.dumps(r.config, indent=2, sort_keys=True).replace("\n", "\n  "))


def cmd_runs_show(args) -> int:
    store = open_store()
    try:
        r = reader(store).get_run(args.id)  # a run the operator may not see is missing
    finally:
        store.close()
    if args.json:
        d = _run_json(r)
        for a in d.get("artifacts", []):
            a["exists"] = Path(a["path"]).exists()
        print(json.dumps(d, indent=2))
        return 0
    _print_run(r)
    return 0


def _champion_line(e) -> str:
    until = f" until {when(e.cleared_at)} ({e.cleared_reason or 'cleared'}" + \
        (f" by {e.cleared_by})" if e.cleared_by else ")") if e.cleared_at else " (current)"
    run = f"run {e.run_id}" if e.run_id is not None else f"run {e.run_ref} (deleted)"
    note = f" -- {e.note}" if e.note else ""
    return f"{run} {e.run_name!r}: from {when(e.set_at)} by {e.set_by or '?'}{until}{note}"


def _change_champion(store, args) -> None:
    """Set or clear the champion as the operator: the right ``set_champion`` first (a refusal is
    audited), then the change (``--by`` names who, as before), then its audit row with before/after."""
    from core.analysis.verdicts import promote_champion
    from core.jobs.admission import check_right, record

    actor, target = operator(store)[0], f"dataset:{args.dataset}"
    check_right(store, actor, "set_champion", args.run, target=target)
    before = store.champions().get(args.dataset)
    if args.clear:
        ended = store.clear_champion(args.dataset, by=args.by)
        print(f"{args.dataset} has no champion now" + (f" (was {_champion_line(ended)})." if ended else
                                                        " (it had none)."))
    else:
        e = promote_champion(store, args.dataset, args.run, by=args.by, note=args.note)
        print(f"Champion of {args.dataset}: {_champion_line(e)}")
    record(store, actor, "set_champion", args.run, target=target, before={"run_id": before},
           after={"run_id": None if args.clear else args.run})


def cmd_runs_champion(args) -> int:
    """Show, set or clear the champion of a dataset (the run to use for it). A run whose test sensitivity
    is under the dataset's floor for some class needs ``--note`` (exit 2 listing the classes otherwise)."""
    if args.clear and args.run is not None:
        raise ValidationError("Give a RUN to make champion, or --clear to clear the champion; not both.")
    store = open_store()
    try:
        if args.clear or args.run is not None:
            _change_champion(store, args)
        history = store.champion_history(args.dataset)
    finally:
        store.close()
    if args.json:
        print(json.dumps([_run_json(e) for e in history], indent=2))
        return 0
    if args.run is None and not args.clear:
        current = next((e for e in history if e.is_current), None)
        print(f"Champion of {args.dataset}: " + (_champion_line(current) if current else "none"))
    if history:
        print("History (newest first):")
        for e in history:
            print(f"  {_champion_line(e)}")
    return 0


def cmd_runs_export(args) -> int:
    """Write a run bundle (``core.serving.bundle.export_bundle``) that ``runs import`` reads in another lab."""
    import time

    from core.serving.bundle import export_bundle

    if not str(args.out).lower().endswith(".zip"):
        raise ValidationError(f"--out must be a .zip file name (a run bundle). Got {args.out!r} instead.")
    store = open_store()
    try:
        t0 = time.perf_counter()
        out = export_bundle(store, args.id, args.out, actor=operator(store)[0], action="export")
    finally:
        store.close()
    print(f"Run {args.id} exported to {out} ({out.stat().st_size:,} bytes, {time.perf_counter() - t0:.1f}s)")
    return 0


def cmd_runs_import(args) -> int:
    """Import a run bundle (``core.serving.bundle``): a new run id here; exit 2 with the reason when refused."""
    from core.serving.bundle import import_bundle

    store = open_store()
    try:
        res = import_bundle(store, args.bundle, actor=operator(store)[0])
    finally:
        store.close()
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
        return 0
    print(f"Imported {args.bundle} as run {res.run_id} {res.name!r} (from {res.source}); "
          f"{len(res.files)} files, {res.bytes:,} bytes, {res.seconds:.1f}s"
          + ("; model loaded with safe_mode on" if res.model_checked else "; no model in the bundle"))
    return 0


def _add_list_show(runs_sub) -> None:
    from core.store.schema import KINDS

    q = runs_sub.add_parser("list", help="a table of runs, newest first")
    q.add_argument("--status", action="append", metavar="STATUS",
                   help="queued, running, succeeded, failed, cancelled or interrupted (repeatable)")
    q.add_argument("--dataset", action="append", help="dataset name (repeatable)")
    q.add_argument("--model", action="append", help="model name (repeatable)")
    q.add_argument("--kind", action="append", help="one of " + ", ".join(KINDS) + " (repeatable)")
    q.add_argument("--tag", help="KEY or KEY=VALUE, e.g. source=cli")
    q.add_argument("--text", help="search names, datasets, models, notes and tags")
    q.add_argument("--limit", type=int, default=20, help="at most this many runs (default 20)")
    q.add_argument("--json", action="store_true", help="print JSON instead of a table")
    q.set_defaults(fn=cmd_runs_list)
    q = runs_sub.add_parser("show", help="everything about one run")
    q.add_argument("id", type=int)
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(fn=cmd_runs_show)


def _add_champion_bundle(runs_sub) -> None:
    q = runs_sub.add_parser("champion", help="show, set or clear the champion run of a dataset")
    q.add_argument("dataset", help="dataset name, e.g. digits")
    q.add_argument("run", type=int, nargs="?", help="make this run the champion (a succeeded run of the dataset)")
    q.add_argument("--clear", action="store_true", help="the dataset has no champion from now on (history kept)")
    q.add_argument("--note", help="why this run (kept in the history); required when its test sensitivity is "
                                  "under the dataset's floor for a class (LAB_SENSITIVITY_FLOORS overrides the floors)")
    q.add_argument("--by", help="who sets it (default: LAB_USER, else the login name)")
    q.add_argument("--json", action="store_true", help="print the history as JSON")
    q.set_defaults(fn=cmd_runs_champion)
    q = runs_sub.add_parser("export", help="write a run bundle (zip) that another lab can import")
    q.add_argument("id", type=int)
    q.add_argument("--out", required=True, help="BUNDLE.zip")
    q.set_defaults(fn=cmd_runs_export)
    q = runs_sub.add_parser("import", help="import a run bundle (zip) as a new run of this lab")
    q.add_argument("bundle", help="BUNDLE.zip made by 'runs export' or the Run page")
    q.add_argument("--json", action="store_true", help="print the result as JSON")
    q.set_defaults(fn=cmd_runs_import)


def add_cli(sub) -> None:
    """``runs`` and its subcommands ``list``, ``show``, ``champion``, ``export``, ``import`` and the
    changes of ``core.cli.runs_edit`` (rename, tag, note, share, cancel, delete)."""
    from core.cli.runs_edit import add_edit_cli

    p = sub.add_parser("runs", help="runs in the run store: list, show, champion, export, import, rename, tag, "
                                    "note, share, cancel, delete")
    runs_sub = p.add_subparsers(dest="runs_command", required=True)
    _add_list_show(runs_sub)
    _add_champion_bundle(runs_sub)
    add_edit_cli(runs_sub)
