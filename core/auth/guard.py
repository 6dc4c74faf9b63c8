"""The one authorisation check: the run store as one actor may use it.

    gs = guarded(store, actor)
    runs, total = gs.list_runs()          # only the runs the actor may see (filtered in SQL)
    gs.delete_run(12)                     # Denied unless the policy allows it; audited either way
    gs.authorize("download_bundle", 12)   # for operations outside the store (pages, CLI, jobs)

Every public method of ``core.store.Store`` is in exactly one of ``MUTATIONS`` (method ->
policy action: checked first, recorded in the audit log after it succeeded, a denial recorded
too), ``SYSTEM_ONLY`` (done by the lab itself: workers, supervisors, the sign-in; refused to
every actor) and ``READS`` (filtered by what the actor may see). ``tests/test_auth_guard.py``
enumerates ``Store`` and fails on a method in none of them.

A run the actor may not see is, to a read, exactly a missing run (the same ``NotFoundError``:
no existence leak). A mutation of a run the actor may not change, or of a missing run by an
actor whose scope is not "any", is ``Denied`` with the policy's reason and what to do.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any

from core.auth.flag_guard import FlagGuard
from core.auth.policy import POLICY, ROLES, Actor, Decision, decide, refusal
from core.validation import LabError, NotFoundError, ValidationError

#: Store method -> the policy action it needs (checked before, audited after)
MUTATIONS: dict[str, str] = {
    "create_run": "train",  # kind "audit": start_audit
    "restore_run": "import_bundle",
    "rename_run": "edit",
    "set_tags": "edit",
    "add_tag": "edit",
    "remove_tag": "edit",
    "set_notes": "edit",
    "delete_run": "delete",
    "set_shared": "share",
    "set_champion": "set_champion",
    "clear_champion": "set_champion",
    "request_cancel": "cancel",
    "set_user_role": "manage_users",
    "set_user_disabled": "manage_users",
    "add_external_evaluation": "validate",
    "delete_external_evaluation": "validate",
    "add_flag": "flag",
    "decide_flag": "review_flags",
    "delete_flag": "delete_flag",
    "add_flag_dataset": "review_flags",
}

#: done by the lab itself (workers, job supervisors, the sign-in), never by a person through the guard
SYSTEM_ONLY = frozenset({
    "claim_run", "unclaim_run", "adopt_run", "set_placement", "set_worker", "heartbeat", "set_progress",
    "set_status", "log_metrics", "log_summary", "log_params", "add_artifact", "beat_supervisor",
    "remove_supervisor", "prune_supervisors", "upsert_user", "add_audit", "close", "full_url",
})

#: reads, filtered by what the actor may see (or needing a read right: users, the audit log)
READS = frozenset({
    "list_runs", "get_run", "get_configs", "exists", "get_metric_history", "get_histories", "run_dir",
    "run_access", "visible_ids", "champion", "champions", "champion_history", "queued_ids",
    "is_cancel_requested", "list_supervisors", "read_snapshot", "count_active", "local_user", "get_user",
    "find_user", "find_users_by_email", "list_users", "audit_log",
    "list_external_evaluations", "get_external_evaluation",
    "list_flags", "get_flag", "flag_decisions", "flag_image_in_use", "next_flag_dataset_version", "list_flag_datasets",
})

#: actions that only read: an allowed one is not written to the audit log (a denied one is)
READ_ACTIONS = frozenset({"view", "predict", "export", "download_bundle", "share_report", "view_audit_log",
                          "train_from_weights"})

_PASS_THROUGH = frozenset({"champion", "champions", "champion_history", "queued_ids", "list_supervisors",
                           "local_user", "count_active"})
_NOT_RECORDED: Any = object()


class Denied(LabError):
    """The actor may not do this: the policy's reason and what to do instead."""

    def __init__(self, message: str, *, action: str | None = None, target: str | None = None):
        super().__init__(message)
        self.action, self.target = action, target


def can(actor: Actor, action: str, run: Any = None) -> Decision:
    """Whether ``actor`` may do ``action`` (on ``run``), and why not (``core.auth.policy.decide``)."""
    return decide(actor, action, run)


def _advice(action: str) -> str:
    who = [r for r in ROLES if POLICY[action][r] == "any" and r != "admin"] or ["admin"]
    names = " or ".join(f"an {r}" if r[0] in "aeiou" else f"a {r}" for r in who)
    return f" If it must be done, ask {names} of the lab."


def denied_message(actor: Actor, action: str) -> str:
    return refusal(action, actor.role) + _advice(action)


def _missing(run_id: Any) -> NotFoundError:
    """Exactly the store's error for a run that does not exist."""
    return NotFoundError(f"Run {run_id} does not exist (it may have been deleted).")


class GuardedStore(FlagGuard):
    """The run store as ``actor`` may use it (see the module's documentation)."""

    def __init__(self, store, actor: Actor):
        if isinstance(store, GuardedStore):
            store = store._store
        self._store = store
        self.actor = actor

    def __repr__(self) -> str:
        return f"GuardedStore({self._store!r}, actor={self.actor.label!r} ({self.actor.role}))"

    @property
    def models_dir(self):
        return self._store.models_dir

    @property
    def view(self) -> tuple[int, bool] | None:
        """The ``visible_to`` filter of this actor's reads: None (every run) or (user id, include shared)."""
        scope = POLICY["view"][self.actor.role]
        if scope == "any":
            return None
        uid = -1 if self.actor.user_id is None else self.actor.user_id
        return uid, scope == "shared"

    def can(self, action: str, run: Any = None) -> Decision:
        return decide(self.actor, action, run)

    # ------------------------------------------------------------------ the check
    def _record(self, action: str, target: str, allowed: bool, reason: str = "",
                before: Any = _NOT_RECORDED, after: Any = _NOT_RECORDED) -> None:
        extra = {k: v for k, v in (("before", before), ("after", after)) if v is not _NOT_RECORDED}
        self._store.add_audit(self.actor.user_id, self.actor.label, action, target, allowed, reason, **extra)

    def _deny(self, action: str, target: str, message: str | None = None) -> Denied:
        message = message or denied_message(self.actor, action)
        self._record(action, target, False, message)
        return Denied(message, action=action, target=target)

    def _check(self, action: str, run_id: Any = None, *, target: str | None = None):
        """The run's access record (None for a lab action) when ``actor`` may do ``action``; else
        the denial is recorded and ``Denied`` raised (for "view": the missing run's NotFoundError)."""
        if action not in POLICY:
            raise KeyError(f"Unknown action {action!r}; the policy has: {', '.join(POLICY)}.")
        if run_id is None:
            decision = decide(self.actor, action)
            if not decision:
                raise self._deny(action, target or "lab")
            return None
        target = target or f"run:{run_id}"
        try:
            access = self._store.run_access(run_id)
        except NotFoundError:
            if POLICY[action][self.actor.role] == "any" or action == "view":
                raise
            raise self._deny(action, target) from None
        if not decide(self.actor, action, access):
            if action == "view":
                self._record(action, target, False, refusal(action, self.actor.role))
                raise _missing(access.id)
            raise self._deny(action, target)
        return access

    def authorize(self, action: str, run_id: Any = None, *, target: str | None = None,
                  before: Any = _NOT_RECORDED, after: Any = _NOT_RECORDED) -> None:
        """Raise ``Denied`` unless the actor may do ``action`` (on run ``run_id``). Every denial
        is written to the audit log, and so is every allowed action that changes something."""
        self._check(action, run_id, target=target)
        if action not in READ_ACTIONS:
            self._record(action, target or (f"run:{run_id}" if run_id is not None else "lab"), True,
                         before=before, after=after)

    def _visible(self, run_id: Any):
        return self._check("view", run_id)

    # ------------------------------------------------------------------ reads
    def list_runs(self, **filters: Any):
        """``Store.list_runs`` with only the runs the actor may see (the filter is SQL). A caller's
        own ``visible_to`` applies when the actor may see every run."""
        view = self.view
        if view is not None or "visible_to" not in filters:
            filters["visible_to"] = view
        return self._store.list_runs(**filters)

    def get_run(self, run_id: Any):
        detail = self._store.get_run(run_id)
        if not decide(self.actor, "view", detail):
            self._record("view", f"run:{detail.id}", False, refusal("view", self.actor.role))
            raise _missing(detail.id)
        return detail

    def run_access(self, run_id: Any):
        return self._visible(run_id)

    def exists(self, run_id: Any) -> bool:
        if self.view is None:
            return self._store.exists(run_id)
        return bool(self._store.visible_ids([run_id], *self.view))

    def visible_ids(self, run_ids) -> set[int]:
        view = self.view
        if view is None:
            ids = [int(i) for i in run_ids]
            return {i for i, _ in self._store.get_configs(ids).items()}
        return self._store.visible_ids(run_ids, *view)

    def _only_visible(self, run_ids) -> list[int]:
        ids = [int(i) for i in run_ids]
        if self.view is None:
            return ids
        seen = self._store.visible_ids(ids, *self.view)
        hidden = [i for i in ids if i not in seen]
        if hidden:
            many = len(hidden) > 1
            raise NotFoundError(f"Run{'s' if many else ''} {', '.join(map(str, hidden))} "
                                f"do{'' if many else 'es'} not exist.")
        return ids

    def get_configs(self, run_ids) -> dict[int, dict]:
        ids = [int(i) for i in run_ids]
        if self.view is not None:
            seen = self._store.visible_ids(ids, *self.view)
            ids = [i for i in ids if i in seen]
        return self._store.get_configs(ids)

    def get_metric_history(self, run_id: Any, keys=None):
        self._visible(run_id)
        return self._store.get_metric_history(run_id, keys)

    def get_histories(self, run_ids, keys=None):
        return self._store.get_histories(self._only_visible(run_ids), keys)

    def run_dir(self, run_id: Any):
        self._visible(run_id)
        return self._store.run_dir(run_id)

    def is_cancel_requested(self, run_id: Any) -> bool:
        self._visible(run_id)
        return self._store.is_cancel_requested(run_id)

    @contextmanager
    def read_snapshot(self):
        with self._store.read_snapshot():
            yield self

    def get_user(self, user_id: Any):
        if self.actor.user_id is None or int(user_id) != self.actor.user_id:
            self._check("manage_users", target=f"user:{user_id}")
        return self._store.get_user(user_id)

    def find_user(self, issuer: str, subject: str):
        self._check("manage_users", target="users")
        return self._store.find_user(issuer, subject)

    def find_users_by_email(self, email: str):
        self._check("manage_users", target="users")
        return self._store.find_users_by_email(email)

    def list_users(self):
        self._check("manage_users", target="users")
        return self._store.list_users()

    def audit_log(self, **filters: Any):
        self._check("view_audit_log", target="audit_log")
        return self._store.audit_log(**filters)

    def __getattr__(self, name: str):
        if name in _PASS_THROUGH:
            return getattr(self._store, name)
        if name in SYSTEM_ONLY:  # refused when reached (``full_url`` is a property of the store)
            message = (f"'{name}' is done by the lab itself (workers, job supervisors, the sign-in), never by a "
                       f"person; {self.actor.label} cannot use it.")
            raise self._deny("system", f"store.{name}", message)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    # ------------------------------------------------------------------ mutations
    def create_run(self, config, **kwargs: Any) -> int:
        """A new run owned by the actor (``owner_id`` given by a caller is ignored)."""
        action = {"audit": "start_audit", "validation": "validate"}.get(kwargs.get("kind"), MUTATIONS["create_run"])
        if action == "validate":  # a validation job: the right to validate its parent, the run it scores
            if kwargs.get("parent_id") is None:
                raise ValidationError("A validation job needs the run it validates (parent_id).")
            self._check(action, kwargs["parent_id"])
        else:
            self._check(action)
        if kwargs.get("parent_id") is not None and action != "validate":
            self._check("edit", kwargs["parent_id"])
        kwargs["owner_id"] = self.actor.user_id
        rid = self._store.create_run(config, **kwargs)
        self._record(action, f"run:{rid}", True, after={"name": self._store.run_access(rid).name})
        return rid

    def restore_run(self, run, **kwargs: Any) -> int:
        self._check("import_bundle")
        kwargs["owner_id"] = self.actor.user_id
        rid = self._store.restore_run(run, **kwargs)
        self._record("import_bundle", f"run:{rid}", True)
        return rid

    def _run_edit(self, method: str, run_id: Any, *args: Any, **kwargs: Any):
        action = MUTATIONS[method]
        access = self._check(action, run_id)
        result = getattr(self._store, method)(access.id, *args, **kwargs)
        self._record(action, f"run:{access.id}", True, f"{method}")
        return result

    def set_tags(self, run_id: Any, tags) -> None:
        self._run_edit("set_tags", run_id, tags)

    def add_tag(self, run_id: Any, key: str, value: str = "") -> None:
        self._run_edit("add_tag", run_id, key, value)

    def remove_tag(self, run_id: Any, key: str) -> None:
        self._run_edit("remove_tag", run_id, key)

    def set_notes(self, run_id: Any, notes: str | None) -> None:
        self._run_edit("set_notes", run_id, notes)

    def request_cancel(self, run_id: Any) -> str:
        return self._run_edit("request_cancel", run_id)

    def rename_run(self, run_id: Any, name: str) -> None:
        access = self._check("edit", run_id)
        self._store.rename_run(access.id, name)
        self._record("edit", f"run:{access.id}", True, "rename_run", before={"name": access.name},
                     after={"name": self._store.run_access(access.id).name})

    def delete_run(self, run_id: Any) -> None:
        access = self._check("delete", run_id)
        self._store.delete_run(access.id)
        self._record("delete", f"run:{access.id}", True, before={"name": access.name, "owner_id": access.owner_id})

    def set_shared(self, run_id: Any, shared: bool = True) -> None:
        access = self._check("share", run_id)
        self._store.set_shared(access.id, shared)
        self._record("share", f"run:{access.id}", True, before={"shared": access.shared}, after={"shared": shared})

    def set_champion(self, dataset: str, run_id: Any, *, note: str | None = None, by: str | None = None):
        access = self._check("set_champion", run_id, target=f"dataset:{dataset}")
        before = self._store.champions().get(dataset) if isinstance(dataset, str) else None
        entry = self._store.set_champion(dataset, access.id, by=self.actor.label, note=note)
        self._record("set_champion", f"dataset:{entry.dataset}", True, f"run {access.id}",
                     before={"run_id": before}, after={"run_id": access.id})
        return entry

    def clear_champion(self, dataset: str, *, by: str | None = None):
        self._check("set_champion", target=f"dataset:{dataset}")
        ended = self._store.clear_champion(dataset, by=self.actor.label)
        self._record("set_champion", f"dataset:{dataset}", True, "cleared",
                     before={"run_id": None if ended is None else ended.run_id}, after={"run_id": None})
        return ended

    def _user_change(self, user_id: Any, what: str, value: Any):
        self._check("manage_users", target=f"user:{user_id}")
        if self.actor.user_id is not None and int(user_id) == self.actor.user_id:
            raise ValidationError(f"You cannot change your own {what}; ask another admin of the lab.")
        old = self._store.get_user(user_id)
        new = self._store.set_user_role(old.id, value) if what == "role" else \
            self._store.set_user_disabled(old.id, value)
        key = "role" if what == "role" else "disabled"
        self._record("manage_users", f"user:{old.id}", True, f"{old.label}: {what}",
                     before={key: getattr(old, key)}, after={key: getattr(new, key)})
        return new

    def set_user_role(self, user_id: Any, role: str):
        return self._user_change(user_id, "role", role)

    def set_user_disabled(self, user_id: Any, disabled: bool = True):
        return self._user_change(user_id, "account's state", disabled)

    # ------------------------------------------------------------------ external evaluations
    def list_external_evaluations(self, run_id: Any):
        self._visible(run_id)
        return self._store.list_external_evaluations(run_id)

    def get_external_evaluation(self, eval_id: Any):
        """A missing evaluation and one of a run the actor may not see read alike."""
        ev = self._store.get_external_evaluation(eval_id)
        try:
            self._visible(ev.run_id)
        except NotFoundError:
            raise NotFoundError(f"External evaluation {ev.id} does not exist (it may have been deleted).") from None
        return ev

    def add_external_evaluation(self, run_id: Any, **kwargs: Any) -> int:
        access = self._check("validate", run_id)
        kwargs["created_by"] = self.actor.user_id
        eid = self._store.add_external_evaluation(access.id, **kwargs)
        self._record("validate", f"run:{access.id}", True, f"external evaluation {eid}",
                     after={"name": kwargs.get("name"), "n_images": kwargs.get("n_images")})
        return eid

    def delete_external_evaluation(self, eval_id: Any) -> None:
        ev = self._store.get_external_evaluation(eval_id)
        access = self._check("validate", ev.run_id)
        self._store.delete_external_evaluation(ev.id)
        self._record("validate", f"run:{access.id}", True, f"deleted external evaluation {ev.id}",
                     before={"name": ev.name, "n_images": ev.n_images})


def guarded(store, actor: Actor) -> GuardedStore:
    """The store as ``actor`` may use it."""
    return GuardedStore(store, actor)
