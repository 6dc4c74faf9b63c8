"""Users, run ownership and the audit trail: the ``users`` and ``audit_log`` tables, and the
``owner_id`` / ``shared`` columns of ``runs``.

The store records; it does not decide. Who may do what is ``core.auth`` (the policy table and
the guard that every mutating operation of a page or the CLI goes through); the store never
imports it. The audit log is append-only: no method here or anywhere in the store updates or
deletes one of its rows.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from core.store import schema as S
from core.store.base import StoreBase
from core.store.records import AuditEntry, RunAccess, UserRecord, aware, chunks, column_json, loads_or, utcnow
from core.store.schema import ACTIVE_STATUSES, LOCAL_ISSUER, LOCAL_SUBJECT, ROLE_SOURCES, USER_ROLES
from core.validation import NotFoundError, ValidationError, check_number, check_one_of, check_text, storable_text

_LIMITS = {"issuer": 500, "subject": 255, "email": 320, "name": 200}
_NOT_JSON = object()


def _user_text(value: Any, what: str, *, allow_none: bool = True) -> str | None:
    """An identity's text (issuer, subject, e-mail, name): stripped, checked like every stored text,
    refused when longer than its column (never cut)."""
    if value is None or (allow_none and isinstance(value, str) and not value.strip()):
        if allow_none:
            return None
        raise ValidationError(f"A user's {what} must be non-empty text. Got {value!r} instead.")
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"A user's {what} must be non-empty text. Got {value!r} instead.")
    value = check_text(value.strip(), f"user's {what}")
    if len(value) > _LIMITS[what]:
        raise ValidationError(f"A user's {what} has {len(value)} characters; at most {_LIMITS[what]} are accepted.")
    return value


def _user_from_row(row: sa.Row) -> UserRecord:
    return UserRecord(id=row.id, issuer=row.issuer, subject=row.subject, email=row.email,
                      email_verified=bool(row.email_verified), name=row.name, role=row.role,
                      created_at=aware(row.created_at), last_seen_at=aware(row.last_seen_at),
                      disabled=bool(row.disabled), role_source=row.role_source)


def _as_int(value: Any, what: str = "user") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ValidationError(f"A {what} id must be an integer. Got {value!r} instead.") from None
    return value


def owner_label_column():
    """The SQL expression of a run owner's label (e-mail, else name, else subject) from ``users``."""
    u = S.users.c
    return sa.func.coalesce(u.email, u.name, u.subject).label("owner_label")


def default_owner(conn, parent_id: int | None) -> tuple[int, bool]:
    """The owner and shared flag of a run created without an owner (inside ``conn``'s write
    transaction): its parent's (a search's trials), else the local user's, not shared."""
    if parent_id is not None:
        row = conn.execute(sa.select(S.runs.c.owner_id, S.runs.c.shared).where(S.runs.c.id == int(parent_id))).first()
        if row is not None and row.owner_id is not None:
            return int(row.owner_id), bool(row.shared)
    u = S.users.c
    uid = conn.execute(sa.select(u.id).where(u.issuer == LOCAL_ISSUER, u.subject == LOCAL_SUBJECT)).scalar()
    if uid is None:  # the migration made it; a database edited by hand gets it back
        uid = conn.execute(sa.insert(S.users).values(
            issuer=LOCAL_ISSUER, subject=LOCAL_SUBJECT, name="local", role="admin", role_source="local",
            created_at=utcnow(), disabled=False, email_verified=False).returning(u.id)).scalar_one()
    return int(uid), False


def visibility_condition(user_id: int, include_shared: bool):
    """Runs ``user_id`` owns, and (``include_shared``) the runs shared with the class: one indexed
    condition (``ix_runs_owner_id_shared``), never a scan in Python."""
    r = S.runs.c
    own = r.owner_id == int(user_id)
    return sa.or_(own, r.shared == sa.true()) if include_shared else own


class UserStore(StoreBase):
    """Users and roles, who owns and who may see a run, and the audit log."""

    # ------------------------------------------------------------------ users
    def upsert_user(self, issuer: str, subject: str, *, email: str | None = None, email_verified: bool = False,
                    name: str | None = None, role: str | None = None, role_source: str | None = None) -> UserRecord:
        """The user ``(issuer, subject)``, created on first sight with ``role`` (default viewer), or
        updated: e-mail, e-mail verification, name and last seen; a stored role is kept."""
        issuer = _user_text(issuer, "issuer", allow_none=False)
        subject = _user_text(subject, "subject", allow_none=False)
        email, name = _user_text(email, "email"), _user_text(name, "name")
        if role is not None:
            check_one_of("role", role, USER_ROLES)
        if role_source is not None:
            check_one_of("role source", role_source, ROLE_SOURCES)
        u, now = S.users.c, utcnow()
        seen = dict(email=email, email_verified=bool(email_verified), name=name, last_seen_at=now)
        for _ in range(2):  # a concurrent first sign-in of the same user: the second reads the first's row
            try:
                with self._write() as conn:
                    res = conn.execute(sa.update(S.users).where(u.issuer == issuer, u.subject == subject).values(**seen))
                    if res.rowcount == 0:
                        conn.execute(sa.insert(S.users).values(
                            issuer=issuer, subject=subject, role=role or "viewer",
                            role_source=role_source or "default", created_at=now, disabled=False, **seen))
                    row = conn.execute(sa.select(S.users).where(u.issuer == issuer, u.subject == subject)).one()
                return _user_from_row(row)
            except sa.exc.IntegrityError:
                continue
        raise ValidationError(f"The user {issuer} / {subject} could not be recorded; try again.")

    def get_user(self, user_id: int) -> UserRecord:
        with self._read() as conn:
            row = conn.execute(sa.select(S.users).where(S.users.c.id == _as_int(user_id))).first()
        if row is None:
            raise NotFoundError(f"User {user_id} does not exist.")
        return _user_from_row(row)

    def find_user(self, issuer: str, subject: str) -> UserRecord | None:
        u = S.users.c
        with self._read() as conn:
            row = conn.execute(sa.select(S.users).where(u.issuer == issuer, u.subject == subject)).first()
        return None if row is None else _user_from_row(row)

    def find_users_by_email(self, email: str) -> list[UserRecord]:
        """Users with this e-mail (case-insensitive; one per identity provider that knows it)."""
        u = S.users.c
        with self._read() as conn:
            rows = conn.execute(sa.select(S.users).where(sa.func.lower(u.email) == str(email).strip().lower())
                                .order_by(u.id)).all()
        return [_user_from_row(r) for r in rows]

    def list_users(self) -> list[UserRecord]:
        with self._read() as conn:
            rows = conn.execute(sa.select(S.users).order_by(S.users.c.id)).all()
        return [_user_from_row(r) for r in rows]

    def set_user_role(self, user_id: int, role: str, *, source: str = "admin") -> UserRecord:
        """Give a user ``role``; ``source`` says how (an admin's choice is kept at later sign-ins).
        Returns the user as it is now."""
        check_one_of("role", role, USER_ROLES)
        check_one_of("role source", source, ROLE_SOURCES)
        return self._update_user(user_id, role=role, role_source=source)

    def set_user_disabled(self, user_id: int, disabled: bool = True) -> UserRecord:
        """Disable (or enable again) a user: a disabled user may do nothing from their next action on."""
        if not isinstance(disabled, bool):
            raise ValidationError(f"'disabled' must be True or False. Got {disabled!r} instead.")
        return self._update_user(user_id, disabled=disabled)

    def _update_user(self, user_id: int, **values: Any) -> UserRecord:
        uid = _as_int(user_id)
        with self._write() as conn:
            if conn.execute(sa.update(S.users).where(S.users.c.id == uid).values(**values)).rowcount == 0:
                raise NotFoundError(f"User {user_id} does not exist.")
            row = conn.execute(sa.select(S.users).where(S.users.c.id == uid)).one()
        return _user_from_row(row)

    def local_user(self) -> UserRecord:
        """The local user (issuer and subject "local", admin): the owner of runs made without sign-in."""
        user = self.find_user(LOCAL_ISSUER, LOCAL_SUBJECT)
        if user is None:  # the migration made it; a database edited by hand gets it back
            with self._write() as conn:
                default_owner(conn, None)
            user = self.find_user(LOCAL_ISSUER, LOCAL_SUBJECT)
        return user

    # ------------------------------------------------------------------ ownership
    def run_access(self, run_id: int) -> RunAccess:
        """Owner, shared flag, name and parent of a run, in one small query (NotFoundError when missing)."""
        r = S.runs.c
        rid = _as_int(run_id, "run")
        with self._read() as conn:
            row = conn.execute(sa.select(r.id, r.owner_id, r.shared, r.name, r.parent_id).where(r.id == rid)).first()
        if row is None:
            raise NotFoundError(f"Run {run_id} does not exist (it may have been deleted).")
        return RunAccess(id=row.id, owner_id=row.owner_id, shared=bool(row.shared), name=row.name,
                         parent_id=row.parent_id)

    def visible_ids(self, run_ids, user_id: int | None, include_shared: bool) -> set[int]:
        """Which of ``run_ids`` exist and are visible to ``user_id`` (own, plus shared ones when
        ``include_shared``), in one query per 900 ids."""
        ids = [_as_int(i, "run") for i in run_ids]
        out: set[int] = set()
        cond = visibility_condition(-1 if user_id is None else user_id, include_shared)
        with self._read() as conn:
            for chunk in chunks(ids, 900):
                out.update(conn.execute(sa.select(S.runs.c.id).where(S.runs.c.id.in_(chunk), cond)).scalars())
        return out

    def set_shared(self, run_id: int, shared: bool = True) -> None:
        """Share a run (and its trials) with the class, or make it private to its owner again."""
        if not isinstance(shared, bool):
            raise ValidationError(f"'shared' must be True or False. Got {shared!r} instead.")
        with self._write() as conn:
            row = self._require(conn, run_id)
            conn.execute(sa.update(S.runs).where(sa.or_(S.runs.c.id == row.id, S.runs.c.parent_id == row.id))
                         .values(shared=shared))

    def count_active(self, owner_id: int) -> int:
        """How many queued and running runs ``owner_id`` has (the queue limit of a role)."""
        r = S.runs.c
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(S.runs).where(
                r.owner_id == _as_int(owner_id), r.status.in_(ACTIVE_STATUSES), r.parent_id.is_(None))).scalar_one())

    # ------------------------------------------------------------------ the audit log (append-only)
    def add_audit(self, actor_id: int | None, actor_label: str, action: str, target: str, allowed: bool,
                  reason: str = "", before: Any = _NOT_JSON, after: Any = _NOT_JSON) -> None:
        """Append one row to the audit log. ``before``/``after`` are JSON-able values (left out: not recorded)."""
        values = dict(
            at=utcnow(), actor_id=None if actor_id is None else _as_int(actor_id),
            actor_label=(storable_text(str(actor_label)) or "unknown")[:320], action=str(action)[:50],
            target=(storable_text(str(target or "")) or "")[:300], allowed=bool(allowed),
            reason=storable_text(str(reason or "")) or "",
            before=None if before is _NOT_JSON else column_json(before),
            after=None if after is _NOT_JSON else column_json(after))
        with self._write() as conn:
            conn.execute(sa.insert(S.audit_log).values(**values))

    def audit_log(self, *, actor: int | str | None = None, action: str | None = None, allowed: bool | None = None,
                  target: str | None = None, limit: int = 200, offset: int = 0) -> tuple[list[AuditEntry], int]:
        """A page of the audit log, newest first, and how many rows match. ``actor`` is a user id or
        (text) a part of the actor's label; ``target`` is exact ("run:12") or, ending with ":", a
        kind of target ("run:")."""
        a = S.audit_log.c
        conds = []
        if isinstance(actor, int) and not isinstance(actor, bool):
            conds.append(a.actor_id == actor)
        elif isinstance(actor, str) and actor.strip():
            conds.append(sa.func.lower(a.actor_label).contains(actor.strip().lower(), autoescape=True))
        if action:
            conds.append(a.action == action)
        if allowed is not None:
            conds.append(a.allowed == bool(allowed))
        if target:
            conds.append(a.target.startswith(target, autoescape=True) if target.endswith(":") else a.target == target)
        limit = check_number("limit", limit, low=0, integer=True)
        offset = check_number("offset", offset, low=0, integer=True)
        with self._read() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(S.audit_log).where(*conds)).scalar_one()
            rows = conn.execute(sa.select(S.audit_log).where(*conds).order_by(a.id.desc())
                                .limit(limit).offset(offset)).all()
        return [AuditEntry(id=r.id, at=aware(r.at), actor_id=r.actor_id, actor_label=r.actor_label, action=r.action,
                           target=r.target, allowed=bool(r.allowed), reason=r.reason,
                           before=loads_or(r.before, None), after=loads_or(r.after, None)) for r in rows], int(total)
