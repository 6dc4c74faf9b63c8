"""The lab's authorisation policy as data: for each action and role, on which runs it is allowed.

    from core.auth.policy import Actor, decide
    decide(actor, "delete", run)      # Decision(allowed=False, reason="only the run's owner ...")
    scope_of("student", "view")       # "shared": own runs and runs shared with the class

Scopes, from narrow to wide:

- ``none``: never;
- ``own``: runs the actor owns (for actions on no run, e.g. ``train``: allowed);
- ``shared``: the actor's own runs and the runs their owner shared with the class;
- ``any``: every run.

``POLICY`` is the single table the core check (``core.auth.guard``), the pages (which hide or
disable controls and say why) and the docs read. An action that a later feature adds joins it.
Nothing here touches a database; a run is anything with ``owner_id`` and ``shared`` attributes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ROLES = ("admin", "instructor", "student", "viewer")
SCOPES = ("none", "own", "shared", "any")

#: action -> what it is, in the words a refusal uses
ACTIONS: dict[str, str] = {
    "view": "see it",
    "train": "train",
    "cancel": "cancel it",
    "delete": "delete it",
    "edit": "rename it or change its tags and notes",
    "share": "share it with the class",
    "set_champion": "make it (or clear) a champion",
    "export": "export it",
    "download_bundle": "download its bundle",
    "import_bundle": "import a run bundle",
    "launch_recipe": "launch a recipe",
    "start_audit": "start a label audit",
    "predict": "predict with it",
    "train_from_weights": "train from its weights",
    "import_dataset": "import a dataset",
    "share_report": "export a comparison report of it",
    "manage_users": "manage users and roles",
    "view_audit_log": "read the audit log",
    "validate": "record an external validation of it",
    "flag": "flag one of its predictions",
    "review_flags": "review flagged predictions and export them as a dataset",
    "delete_flag": "delete a flag",
}

#: actions that are about the lab as a whole, not about one run
LAB_ACTIONS = frozenset({"train", "import_bundle", "launch_recipe", "start_audit", "import_dataset",
                         "manage_users", "view_audit_log", "review_flags", "delete_flag"})

_A, _S, _O, _N = "any", "shared", "own", "none"
#: action -> role -> scope                 admin instructor student viewer
POLICY: dict[str, dict[str, str]] = {
    action: dict(zip(ROLES, scopes)) for action, scopes in {
        "view":               (_A, _A, _S, _S),
        "train":              (_A, _A, _O, _N),
        "cancel":             (_A, _A, _O, _N),
        "delete":             (_A, _A, _O, _N),
        "edit":               (_A, _A, _O, _N),
        "share":              (_A, _A, _O, _N),
        "set_champion":       (_A, _A, _N, _N),
        "export":             (_A, _A, _O, _N),
        "download_bundle":    (_A, _A, _O, _N),
        "import_bundle":      (_A, _A, _N, _N),
        "launch_recipe":      (_A, _A, _N, _N),
        "start_audit":        (_A, _A, _O, _N),
        "predict":            (_A, _A, _S, _S),
        "train_from_weights": (_A, _A, _S, _N),
        "import_dataset":     (_A, _A, _N, _N),
        "share_report":       (_A, _A, _S, _N),
        "manage_users":       (_A, _N, _N, _N),
        "view_audit_log":     (_A, _A, _N, _N),
        "validate":           (_A, _A, _S, _N),
        "flag":               (_A, _A, _S, _S),
        "review_flags":       (_A, _A, _N, _N),
        "delete_flag":        (_A, _A, _O, _O),  # own: the flags the actor made
    }.items()
}

LOCAL_OWNER = "local"  # the owner label of runs made before sign-in existed, and of single-user mode


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in user, the local operator (CLI, ``core jobs serve``) or the single
    user of a lab without sign-in. ``user_id`` is the store's users.id (None: no row)."""
    user_id: int | None
    label: str  # e-mail or name, for messages and the audit log
    role: str
    kind: str = "user"  # "user" | "operator" | "local"
    email: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"Unknown role {self.role!r}; accepted: {', '.join(ROLES)}.")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


def scope_of(role: str, action: str) -> str:
    """The scope of ``action`` for ``role`` (KeyError for an action the table does not have)."""
    return POLICY[action][role]


def owns(actor: Actor, run: Any) -> bool:
    owner = getattr(run, "owner_id", None)
    return actor.user_id is not None and owner == actor.user_id


def decide(actor: Actor, action: str, run: Any = None) -> Decision:
    """Whether ``actor`` may do ``action`` (on ``run`` when the action is about a run), and why not."""
    if action not in POLICY:
        raise KeyError(f"Unknown action {action!r}; the policy has: {', '.join(POLICY)}.")
    scope = POLICY[action][actor.role]
    if scope == "any":
        return Decision(True)
    if scope == "none":
        return Decision(False, refusal(action, actor.role))
    if run is None:  # a lab action, or one on no particular run: "own"/"shared" allow it
        return Decision(True)
    if owns(actor, run) or (scope == "shared" and bool(getattr(run, "shared", False))):
        return Decision(True)
    return Decision(False, refusal(action, actor.role))


def who_may(action: str, scope: str = "any") -> list[str]:
    """The roles whose scope of ``action`` is at least ``scope``."""
    rank = SCOPES.index(scope)
    return [r for r in ROLES if SCOPES.index(POLICY[action][r]) >= rank]


def refusal(action: str, role: str) -> str:
    """The plain-words reason a ``role`` may not do ``action``: "only the run's owner or an
    instructor can delete it (you are signed in as a student)"."""
    what = ACTIONS[action]
    lab = action in LAB_ACTIONS
    may = [r for r in who_may(action, "own" if lab else "any") if r != "admin"] or ["admin"]
    own = [r for r in ROLES if POLICY[action][r] in ("own", "shared")]
    roles = " or ".join(f"an {r}" if r[0] in "aeiou" else f"a {r}" for r in may)
    if lab or not own:
        head = f"only {roles} can {what}"
    else:
        head = f"only the run's owner or {roles} can {what}"
    article = "an" if role[0] in "aeiou" else "a"
    return f"{head[0].upper()}{head[1:]} (you are signed in as {article} {role})."


def matrix() -> list[dict[str, str]]:
    """The table as rows (action, then one column per role): docs, the Admin page, the closing note."""
    return [{"action": a, **POLICY[a]} for a in POLICY]
