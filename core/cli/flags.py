"""``flags list|review|export|delete``: the flagged predictions, their review and the datasets made of them.

    python -m core flags list [--status pending] [--dataset ham10000] [--run 12] [--json]
    python -m core flags review 7 --accept | --reject | --relabel CLASS [--note TEXT]
    python -m core flags export ham10000           # -> flags-ham10000-v<N>, listed by Train
    python -m core flags delete 7                  # the flag and its image file

The queue is listed least confident first. The command line acts as the operator
(``core.cli.common.operator``); reviewing and exporting need the right "review_flags", deleting
"delete_flag"; every change is checked and audited by ``core.auth.guard.GuardedStore``.
"""
from __future__ import annotations

import json

from core.cli.common import open_store, operator, when
from core.validation import ValidationError


def _row(f) -> dict[str, str]:
    names = f.class_names
    return {"id": str(f.id), "run": "-" if f.run_id is None else str(f.run_id), "dataset": f.dataset,
            "kind": f.kind, "predicted": names[f.predicted], "confidence": f"{f.confidence:.3f}",
            "proposed": "-" if f.proposed_label is None else names[f.proposed_label], "status": f.status,
            "final": "-" if f.final_label is None else names[f.final_label], "created": when(f.created_at),
            "note": (f.note[:40] + "...") if len(f.note) > 40 else f.note}


def cmd_flags_list(args) -> int:
    _, gs = operator(open_store())
    flags = gs.list_flags(status=args.status, dataset=args.dataset, run_id=args.run)
    if args.json:
        print(json.dumps([f.to_dict() for f in flags], indent=2))
        return 0
    if not flags:
        print("No flags.")
        return 0
    from core.cli.users import _table

    _table([_row(f) for f in flags], right={"id", "run", "confidence"})
    return 0


def class_index(flag, given: str) -> int:
    """A class of the flag's run by name (case-insensitive) or index."""
    names = flag.class_names
    text = str(given).strip()
    if text.isdigit() and int(text) < len(names):
        return int(text)
    by_name = {n.lower(): i for i, n in enumerate(names)}
    if text.lower() in by_name:
        return by_name[text.lower()]
    raise ValidationError(f"{given!r} is not a class of flag {flag.id}. Accepted: a class name "
                          f"({', '.join(names)}) or its index 0-{len(names) - 1}.")


def cmd_flags_review(args) -> int:
    _, gs = operator(open_store())
    if args.relabel is not None:
        label = class_index(gs.get_flag(args.id), args.relabel)
        rec = gs.decide_flag(args.id, "relabel", label=label, note=args.note or "")
    else:
        rec = gs.decide_flag(args.id, "accept" if args.accept else "reject", note=args.note or "")
    final = "-" if rec.final_label is None else rec.class_names[rec.final_label]
    print(f"flag {rec.id}: {rec.status} (label: {final})")
    return 0


def cmd_flags_export(args) -> int:
    from core.datasets.flagged import export_flags

    actor, gs = operator(open_store())
    v = export_flags(gs, args.dataset, decided_by=actor.user_id)
    if args.json:
        print(json.dumps({"name": v.name, "version": v.version, "path": str(v.path), "n_images": v.n_images,
                          "manifest_sha256": v.manifest_sha256}, indent=2))
        return 0
    print(f"exported {v.n_images} image(s) as {v.name} (version {v.version}) to {v.path}")
    print(f"manifest sha256 {v.manifest_sha256}")
    print(f"train on it alone (--dataset {v.name}) or add it to {args.dataset}'s training part "
          f"(--extra-train {v.name})")
    return 0


def cmd_flags_delete(args) -> int:
    from core.serving.flagging import delete_flag

    _, gs = operator(open_store())
    delete_flag(gs, args.id)
    print(f"flag {args.id} and its image deleted (exported dataset versions keep their own copy)")
    return 0


def add_cli(sub) -> None:
    p = sub.add_parser("flags", help="flagged predictions: list, review, export as a dataset, delete")
    fs = p.add_subparsers(dest="flags_command", required=True)
    ls = fs.add_parser("list", help="the flags, least confident first")
    ls.add_argument("--status", choices=("pending", "accepted", "relabelled", "rejected"))
    ls.add_argument("--dataset")
    ls.add_argument("--run", type=int)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(fn=cmd_flags_list)
    rv = fs.add_parser("review", help="accept, relabel or reject a flag (every decision is kept)")
    rv.add_argument("id", type=int)
    how = rv.add_mutually_exclusive_group(required=True)
    how.add_argument("--accept", action="store_true", help="the proposed label is right")
    how.add_argument("--reject", action="store_true", help="leave the image out")
    how.add_argument("--relabel", metavar="CLASS", help="the right class (name or index)")
    rv.add_argument("--note", default="")
    rv.set_defaults(fn=cmd_flags_review)
    ex = fs.add_parser("export", help="accepted and relabelled flags of a dataset as its next version")
    ex.add_argument("dataset")
    ex.add_argument("--json", action="store_true")
    ex.set_defaults(fn=cmd_flags_export)
    de = fs.add_parser("delete", help="delete a flag and its image file")
    de.add_argument("id", type=int)
    de.set_defaults(fn=cmd_flags_delete)
