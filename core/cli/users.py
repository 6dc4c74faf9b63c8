"""``users list|set-role|disable`` and ``audit-log``: the lab's users and roles, and its audit trail.

    python -m core users list [--json]
    python -m core users set-role ana@uni.edu instructor     # by e-mail, or by user id
    python -m core users disable 7 [--enable]
    python -m core audit-log [--actor ana] [--action delete] [--denied] [--limit 50] [--json]

The command line acts as the operator (``core.cli.common.operator``): changing users needs the
right ``manage_users`` (admins), reading the audit log ``view_audit_log`` (admins, instructors).
Role changes and (dis)abling go through ``core.auth.guard.GuardedStore``, which writes them to
the audit log with the user before and after; a refusal is exit status 2.
"""
from __future__ import annotations

import json

from core.cli.common import open_store, operator, when
from core.validation import NotFoundError, ValidationError


def _user_json(u) -> dict:
    return {"id": u.id, "issuer": u.issuer, "subject": u.subject, "email": u.email,
            "email_verified": u.email_verified, "name": u.name, "label": u.label, "role": u.role,
            "role_source": getattr(u, "role_source", None), "disabled": u.disabled,
            "created_at": u.created_at.isoformat() if u.created_at else None,
            "last_seen_at": u.last_seen_at.isoformat() if u.last_seen_at else None}


def _table(rows: list[dict[str, str]], right: set[str] = frozenset()) -> None:
    cols = list(rows[0])
    width = {c: max(len(c), *(len(row[c]) for row in rows)) for c in cols}

    def fmt(vals) -> str:
        return "  ".join(v.rjust(width[c]) if c in right else v.ljust(width[c]) for c, v in zip(cols, vals)).rstrip()

    print(fmt(cols))
    for row in rows:
        print(fmt([row[c] for c in cols]))


def find_user(store, who: str):
    """The user named by an id (digits) or an e-mail (case-insensitive); a clear error when there is
    none, or when several identity providers know that e-mail (then give the id)."""
    who = str(who).strip()
    if who.isdigit():
        store.list_users()  # the right to manage users first (a GuardedStore): no user details otherwise
        return store.get_user(int(who))
    found = store.find_users_by_email(who)
    if not found:
        raise NotFoundError(f"No user has the id or e-mail {who!r}. `python -m core users list` shows the users "
                            "(a user appears after their first sign-in).")
    if len(found) > 1:
        ids = ", ".join(f"{u.id} ({u.issuer})" for u in found)
        raise ValidationError(f"{len(found)} users have the e-mail {who!r}, one per identity provider: {ids}. "
                              "Give the user id instead.")
    return found[0]


def cmd_users_list(args) -> int:
    store = open_store()
    try:
        users = operator(store)[1].list_users()  # Denied (audited) unless the operator may manage users
    finally:
        store.close()
    if args.json:
        print(json.dumps([_user_json(u) for u in users], indent=2))
        return 0
    _table([{"id": str(u.id), "user": u.label, "role": u.role, "disabled": "yes" if u.disabled else "",
             "provider": u.issuer, "first seen": when(u.created_at), "last seen": when(u.last_seen_at)}
            for u in users], right={"id"})
    return 0


def cmd_users_set_role(args) -> int:
    from core.auth.policy import ROLES

    if args.role not in ROLES:
        raise ValidationError(f"ROLE must be one of {', '.join(ROLES)}. Got {args.role!r} instead.")
    store = open_store()
    try:
        gs = operator(store)[1]
        user = find_user(gs, args.user)  # Denied (audited) before a user is looked up unless they manage users
        gs.set_user_role(user.id, args.role)
    finally:
        store.close()
    print(f"User {user.id} ({user.label}): role {user.role} -> {args.role}; it takes effect at their next action.")
    return 0


def cmd_users_disable(args) -> int:
    store = open_store()
    try:
        gs = operator(store)[1]
        user = find_user(gs, args.user)
        gs.set_user_disabled(user.id, not args.enable)
    finally:
        store.close()
    state = "enabled" if args.enable else "disabled: they can do nothing from their next action on"
    print(f"User {user.id} ({user.label}) is {state}.")
    return 0


def _entry_json(e) -> dict:
    d = e.to_dict()
    d["at"] = e.at.isoformat() if e.at else None
    return d


def _change(e) -> str:
    if e.before is None and e.after is None:
        return ""
    return f"{json.dumps(e.before, default=str)} -> {json.dumps(e.after, default=str)}"


def _clip(text: str, n: int = 160) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def cmd_audit_log(args) -> int:
    from core.validation import check_number

    limit = check_number("--limit", args.limit, low=1, high=100_000, integer=True)
    actor = int(args.actor) if args.actor and args.actor.strip().isdigit() else args.actor
    store = open_store()
    try:
        entries, total = operator(store)[1].audit_log(actor=actor, action=args.action, allowed=False if args.denied else None,
                                         limit=limit)
    finally:
        store.close()
    if args.json:
        print(json.dumps([_entry_json(e) for e in entries], indent=2, default=str))
        return 0
    if not entries:
        print("No audit log entries match.")
        return 0
    _table([{"at": e.at.astimezone().strftime("%Y-%m-%d %H:%M:%S"), "actor": e.actor_label, "action": e.action,
             "target": e.target, "result": "allowed" if e.allowed else "DENIED",
             "detail": _clip(e.reason if not e.allowed else _change(e))} for e in entries])
    if total > len(entries):
        print(f"({len(entries)} of {total} entries shown, newest first; --limit N shows more)")
    return 0


def add_cli(sub) -> None:
    """``users`` (list, set-role, disable) and ``audit-log``."""
    p = sub.add_parser("users", help="the lab's users and their roles: list, set-role, disable (admins)")
    usub = p.add_subparsers(dest="users_command", required=True)
    q = usub.add_parser("list", help="every user: id, e-mail or name, role, disabled, provider, first and last seen")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(fn=cmd_users_list)
    q = usub.add_parser("set-role", help="give a user a role (kept over the identity provider's roles claim)")
    q.add_argument("user", metavar="EMAIL_OR_ID")
    q.add_argument("role", metavar="ROLE", help="admin, instructor, student or viewer")
    q.set_defaults(fn=cmd_users_set_role)
    q = usub.add_parser("disable", help="disable a user (or enable them again with --enable)")
    q.add_argument("user", metavar="EMAIL_OR_ID")
    q.add_argument("--enable", action="store_true", help="enable the user again")
    q.set_defaults(fn=cmd_users_disable)
    a = sub.add_parser("audit-log", help="the audit trail, newest first: who did or tried what, to what, when")
    a.add_argument("--actor", help="a user id, or part of the actor's e-mail or name")
    a.add_argument("--action", help="one action, e.g. delete, set_champion, manage_users")
    a.add_argument("--denied", action="store_true", help="only the refused attempts")
    a.add_argument("--limit", type=int, default=50, help="at most this many entries (default 50)")
    a.add_argument("--json", action="store_true", help="print JSON")
    a.set_defaults(fn=cmd_audit_log)
