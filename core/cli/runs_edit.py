"""``runs rename|tag|note|share|cancel|delete``: changing a run of the run store, as the operator.

Every change goes through ``core.auth.guard.GuardedStore`` acting as the operator
(``core.cli.common.operator``): checked against the policy (``core.auth.policy``) and written to
the audit log; a refusal is a message on stderr and exit status 2.
"""
from __future__ import annotations

from core.cli.common import open_store, operator
from core.validation import ValidationError


def _parse_tags(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key.strip():
            raise ValidationError(f"A tag must look like KEY or KEY=VALUE (e.g. baseline or source=cli). Got {item!r} instead.")
        out[key.strip()] = value.strip()
    return out


def cmd_runs_rename(args) -> int:
    store = open_store()
    try:
        operator(store)[1].rename_run(args.id, args.name)
    finally:
        store.close()
    print(f"Run {args.id} is now called {args.name!r}.")
    return 0


def cmd_runs_tag(args) -> int:
    tags = _parse_tags(args.tags)
    store = open_store()
    try:
        gs = operator(store)[1]
        for key, value in tags.items():
            if args.remove:
                gs.remove_tag(args.id, key)
            else:
                gs.add_tag(args.id, key, value)
    finally:
        store.close()
    print(f"Run {args.id}: {'removed' if args.remove else 'tagged'} {', '.join(args.tags)}.")
    return 0


def cmd_runs_note(args) -> int:
    store = open_store()
    try:
        operator(store)[1].set_notes(args.id, args.text or None)
    finally:
        store.close()
    print(f"Run {args.id}: " + ("note saved." if args.text else "note cleared."))
    return 0


def cmd_runs_share(args) -> int:
    store = open_store()
    try:
        operator(store)[1].set_shared(args.id, not args.unshare)
    finally:
        store.close()
    print(f"Run {args.id} is " + ("private to its owner (and instructors and admins) now." if args.unshare
                                  else "shared with the class now."))
    return 0


def cmd_runs_cancel(args) -> int:
    from core.jobs.manager import JobManager

    store = open_store()
    try:
        actor = operator(store)[0]
        status = JobManager(store, store.models_dir).cancel(args.id, actor=actor)
    finally:
        store.close()
    print(f"Run {args.id}: {status}" + (" (it stops within a batch)" if status == "running" else "") + ".")
    return 0


def cmd_runs_delete(args) -> int:
    store = open_store()
    try:
        operator(store)[1].delete_run(args.id)
    finally:
        store.close()
    print(f"Run {args.id} deleted (its rows and its folder).")
    return 0


def add_edit_cli(runs_sub) -> None:
    """The subcommands of ``runs`` that change a run."""
    q = runs_sub.add_parser("rename", help="give a run another name")
    q.add_argument("id", type=int)
    q.add_argument("name")
    q.set_defaults(fn=cmd_runs_rename)
    q = runs_sub.add_parser("tag", help="add tags to a run (or remove them with --remove)")
    q.add_argument("id", type=int)
    q.add_argument("tags", nargs="+", metavar="KEY[=VALUE]")
    q.add_argument("--remove", action="store_true", help="remove these tags (by KEY) instead")
    q.set_defaults(fn=cmd_runs_tag)
    q = runs_sub.add_parser("note", help="set a run's notes ('' clears them)")
    q.add_argument("id", type=int)
    q.add_argument("text")
    q.set_defaults(fn=cmd_runs_note)
    q = runs_sub.add_parser("share", help="share a run with the class (or make it private with --unshare)")
    q.add_argument("id", type=int)
    q.add_argument("--unshare", action="store_true", help="private to its owner, instructors and admins again")
    q.set_defaults(fn=cmd_runs_share)
    q = runs_sub.add_parser("cancel", help="cancel a queued or running run (a search or group: all its runs)")
    q.add_argument("id", type=int)
    q.set_defaults(fn=cmd_runs_cancel)
    q = runs_sub.add_parser("delete", help="delete a run, its rows and its folder (a running run: cancel it first)")
    q.add_argument("id", type=int)
    q.set_defaults(fn=cmd_runs_delete)
