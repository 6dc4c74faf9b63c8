"""What the run store hands out (plain dataclasses, never ORM rows) and the small value rules
its modules share: times in UTC, numbers that may be NaN, metric and tag keys, JSON columns.
"""
from __future__ import annotations

import json
import math
import socket
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.files import dumps
from core.store.schema import FINAL_STATUSES
from core.validation import ValidationError, check_text

HOST = socket.gethostname()


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(dt: datetime | None) -> datetime | None:
    """``dt`` with a time zone (SQLite returns naive datetimes: they are UTC)."""
    if dt is None:
        return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def column_json(obj: Any) -> str:
    """The text of a JSON column (config, progress_info, placement, a parameter's value):
    the lab's one JSON rule (``core.files.jsonable``: NaN and infinities become null)."""
    return dumps(obj, indent=None)


def loads_or(text: str | None, default: Any) -> Any:
    """A JSON column's value; ``default`` when empty or unreadable. Columns written by earlier
    versions may hold the ``NaN`` token, which Python's reader accepts."""
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def float_or_none(value: Any, what: str) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"The {what} must be a number. Got {value!r} ({type(value).__name__}) instead.") from None
    return None if math.isnan(v) else v


def nan_if_none(v: float | None) -> float:
    return float("nan") if v is None else float(v)


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": [1, 2]}`` -> ``{"a.b": 1, "c": [1, 2]}``."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def check_key(key: Any, what: str = "metric key") -> str:
    """A metric, parameter, tag or artifact key: non-empty text of at most 250 characters that
    ``core.validation.check_text`` accepts."""
    if not isinstance(key, str) or not key.strip() or len(key) > 250:
        raise ValidationError(f"A {what} must be a non-empty string of at most 250 characters. Got {key!r} instead.")
    return check_text(key, what)


def chunks(seq: list, n: int):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


@dataclass
class Artifact:
    kind: str
    path: Path  # absolute
    bytes: int | None
    created_at: datetime | None = None

    @property
    def exists(self) -> bool:
        return self.path.exists()


@dataclass
class RunSummary:
    id: int
    name: str
    kind: str
    status: str
    dataset: str | None
    model: str | None
    seed: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    progress: float
    progress_info: dict
    error: str | None
    parent_id: int | None
    pid: int | None
    host: str | None
    cancel_requested: bool
    heartbeat_at: datetime | None
    notes: str | None = None
    summary: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    supervisor_id: str | None = None  # the job supervisor that claimed it (None: a worker/CLI run)
    executor: str | None = None  # where it executes: "local" or "ray" (None: not started by a supervisor)
    placement: dict = field(default_factory=dict)  # node, GPUs, Ray submission id (see set_placement)
    owner_id: int | None = None  # the users.id of its owner (the local user for runs made before sign-in)
    owner_label: str | None = None  # the owner's e-mail, name or subject
    shared: bool = False  # shared by its owner with the class

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RunDetail(RunSummary):
    config: dict = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    artifacts: list[Artifact] = field(default_factory=list)
    metric_keys: list[str] = field(default_factory=list)
    children: list[int] = field(default_factory=list)

    def artifact(self, kind: str) -> Artifact | None:
        """The newest artifact of ``kind`` (e.g. "model"), or None."""
        found = [a for a in self.artifacts if a.kind == kind]
        return found[-1] if found else None


@dataclass
class ChampionEntry:
    """One period a run was the champion of a dataset (``champions`` table). ``run_id`` is None
    once the run was deleted; ``run_ref`` and ``run_name`` are the id and name it had then."""

    dataset: str
    run_id: int | None
    run_ref: int
    run_name: str
    set_at: datetime
    set_by: str | None
    note: str | None
    cleared_at: datetime | None
    cleared_by: str | None
    cleared_reason: str | None

    @property
    def is_current(self) -> bool:
        return self.cleared_at is None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RunAccess:
    """What an authorisation check needs to know of a run (one small query): its owner, whether
    it is shared, and its name (the audit log's "before" of a rename)."""

    id: int
    owner_id: int | None
    shared: bool
    name: str
    parent_id: int | None = None


@dataclass
class UserRecord:
    """A person (or the local operator) in the ``users`` table."""

    id: int
    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    role: str
    created_at: datetime  # first seen
    last_seen_at: datetime | None
    disabled: bool
    role_source: str = "default"  # admin | claim | admins_list | default | operator | local

    @property
    def label(self) -> str:
        """How messages and the audit log name the user: e-mail, else name, else subject."""
        return self.email or self.name or self.subject

    def to_dict(self) -> dict:
        return {**asdict(self), "label": self.label}


@dataclass
class AuditEntry:
    """One row of the append-only audit log: who did (or tried) what, to what, when, and whether it
    was allowed; ``before``/``after`` are the decoded JSON values (None when not recorded)."""

    id: int
    at: datetime
    actor_id: int | None
    actor_label: str
    action: str
    target: str
    allowed: bool
    reason: str
    before: Any = None
    after: Any = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SupervisorInfo:
    """A job supervisor's lease row (``supervisors`` table): alive while its heartbeat is recent."""

    id: str
    host: str
    pid: int
    kind: str
    max_concurrent: int
    started_at: datetime
    heartbeat_at: datetime
    age_s: float  # seconds since its last heartbeat, by the clock of the reader

    def to_dict(self) -> dict:
        return asdict(self)
