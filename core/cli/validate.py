"""``python -m core validate RUN --data DIR [--labels CSV] [--name NAME] [--background]``: external validation.

Scores a succeeded run on a labelled image set it has never seen (class folders, a HAM10000-style
metadata CSV or an EyePACS/APTOS labels CSV), after checking the set against the run's own images;
prints the figures, the overlap counts and the shift verdict, and records the evaluation with the
run (``core.analysis.external``). ``--background`` (automatic above
``core.analysis.external.BACKGROUND_ABOVE`` images) queues a job of kind "validation" instead.
"""
from __future__ import annotations

import json
import sys


def _print_left_out(err) -> None:
    print(str(err), file=sys.stderr)
    for line in err.listing():
        print(f"  {line}", file=sys.stderr)


def _count_images(args) -> int | None:
    from pathlib import Path

    from core.datasets.common import scan_images

    try:
        return len(scan_images(Path(args.data)))
    except Exception:  # noqa: BLE001 - the foreground path reports a bad folder properly
        return None


def _foreground(args, store, gs) -> int:
    from core.analysis.external import NothingLeftError, summary_lines, validate_run

    def progress(fraction: float, text: str) -> None:
        if not args.quiet:
            print(f"[{round(100 * fraction):3d}%] {text}", file=sys.stderr, flush=True)

    try:
        eid = validate_run(gs, args.run, args.data, labels_csv=args.labels, name=args.name, progress=progress)
    except NothingLeftError as e:
        _print_left_out(e)
        return 2
    ev = store.get_external_evaluation(eid)
    if args.json:
        print(json.dumps(ev.to_dict(), indent=2, default=str))
        return 0
    print("\n".join(summary_lines(ev)))
    if ev.overlap.get("items"):
        print("Left out (in the run's own data):")
        from core.analysis.external import evaluation_files

        try:
            rel, _, same = evaluation_files(gs, ev)
        except Exception:  # noqa: BLE001 - the listing is a courtesy; the counts above stand
            rel, same = None, False
        rel = rel if same else None
        for it in ev.overlap["items"]:
            what = rel[it["index"]] if rel and it["index"] < len(rel) else f"image #{it['index']}"
            print(f"  {what}: in {it['split']} (matches {it['match']})")
    print("Research use only, not a diagnosis: these figures describe the model on this set, not a patient.")
    return 0


def cmd_validate(args) -> int:
    from core.analysis.external import BACKGROUND_ABOVE
    from core.cli.common import open_store, operator

    store = open_store()
    try:
        _, gs = operator(store)
        gs.get_run(args.run)  # a run the operator may not see is a missing run, before any image is read
        n = _count_images(args)
        if args.background or (n is not None and n > BACKGROUND_ABOVE):
            from core.jobs.validation import submit_validation

            rid = submit_validation(gs, args.run, args.data, labels_csv=args.labels, name=args.name)
            why = "" if args.background else f" ({n} images: more than {BACKGROUND_ABOVE} run in the background)"
            print(f"Queued validation job {rid} for run {args.run}{why}. Follow it with: python -m core jobs status")
            return 0
        return _foreground(args, store, gs)
    finally:
        store.close()


def add_cli(sub) -> None:
    """The ``validate`` subcommand of ``python -m core``."""
    p = sub.add_parser("validate", help="score a succeeded run on a labelled image set it never saw (class folders, "
                                        "HAM10000 or EyePACS/APTOS CSV): figures, overlap check, shift report")
    p.add_argument("run", type=int, help="run id")
    p.add_argument("--data", required=True, help="folder of the external images")
    p.add_argument("--labels", help="labels CSV (HAM10000 metadata or EyePACS/APTOS); default: a CSV found at the top "
                                    "of the folder, else one subfolder per class")
    p.add_argument("--name", help="a name for this evaluation (default: the folder's name and image count)")
    p.add_argument("--background", action="store_true", help="queue it as a job (kind validation) instead of waiting")
    p.add_argument("--json", action="store_true", help="print the stored evaluation as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(fn=cmd_validate)
