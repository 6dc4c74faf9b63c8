"""What is checked before a run is queued: its config, the acting user's rights, and their fair
share of the queue.

    from core.jobs.admission import admit, queue_limits
    queue_limits()                   # {"student": 2}: LAB_QUEUE_LIMITS ("student=2,viewer=0"), else the default
    with ADMISSION_LOCK:             # the check and the run's row together, one submission at a time
        admit(store, actor, n=1, dataset="digits")   # Denied, or QueueLimitError when the share is used up

A queued run carries its owner (``runs.owner_id``: the actor's user id; the local user when
there is no actor). A role's limit counts that owner's *queued and running* runs of the kinds a
worker runs (``core.jobs.kinds.JOB_KINDS``; a search's or a recipe's parent row is not counted),
so that one student cannot queue 50 runs ahead of the class. ``actor=None`` (tests, single-user
mode, the supervisor's own follow-up trials) checks nothing: the local user may do everything.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from core.auth.policy import ROLES, Actor
from core.jobs.kinds import JOB_KINDS
from core.validation import LabError, ValidationError, check_number

DEFAULT_LIMITS: dict[str, int] = {"student": 2}  # roles not named: no limit
ACTIVE = ("queued", "running")
ADMISSION_LOCK = threading.RLock()  # one submission of this process at a time: no two pass the same last slot


class QueueLimitError(LabError):
    """The actor already has as many queued and running runs as their role may have."""


def coerce_config(config: Any):
    """TrainConfig from a TrainConfig or a dict, validated, its dataset's files and folders
    checked (ValidationError, DatasetError otherwise): before its run's row is written."""
    from core.training.config import TrainConfig

    if isinstance(config, TrainConfig):
        cfg = TrainConfig.from_dict(config.to_dict())
    elif isinstance(config, Mapping):
        cfg = TrainConfig.from_dict(dict(config))
    else:
        raise ValidationError(
            f"A job needs a TrainConfig or a dict of its fields. Got {type(config).__name__} instead."
        )
    cfg.validate()
    cfg.check_data_paths()
    return cfg


def search_trials(base, space, n_trials, seed, sampler="random") -> tuple[list, dict]:
    """The trials a search queues now and its recorded space: sampled from a search space (a dict;
    sampler "tpe": the first trial now, the others as trials finish), or a list of trial configs."""
    if isinstance(space, Mapping):
        n = check_number("n_trials", n_trials, low=1, high=1000, integer=True)
        from core.training.search import plan_search

        return plan_search(base, dict(space), n, seed, sampler)
    if isinstance(space, (list, tuple)):
        if not space:
            raise ValidationError("A search needs at least one trial. Got an empty list of trials.")
        return list(space), {"n_trials": len(space)}
    raise ValidationError(
        f"The 'space' parameter must be a dict (search space) or a list of trial configs. Got {type(space).__name__} instead."
    )


def queue_limits(text: str | None = None) -> dict[str, int]:
    """Role -> most queued plus running runs, from ``text`` (default: setting LAB_QUEUE_LIMITS),
    e.g. ``"student=2,viewer=0"``; a role it does not name keeps its default (student 2, others
    no limit); ``ROLE=none`` lifts a role's limit."""
    if text is None:
        text = os.environ.get("LAB_QUEUE_LIMITS", "")
    limits = dict(DEFAULT_LIMITS)
    accepted = (f"Accepted: ROLE=N pairs separated by commas, e.g. student=2,viewer=0 (ROLE one of "
                f"{', '.join(ROLES)}; N a whole number from 0, or none for no limit).")
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        role, eq, value = (s.strip() for s in item.partition("="))
        if not eq or role not in ROLES:
            raise ValidationError(f"LAB_QUEUE_LIMITS has {item!r}, which is not ROLE=N. {accepted}")
        if value.lower() == "none":
            limits.pop(role, None)
        elif value.isdigit():
            limits[role] = int(value)
        else:
            raise ValidationError(f"LAB_QUEUE_LIMITS gives {role} the limit {value!r}, which is not a whole "
                                  f"number. {accepted}")
    return limits


def owner_of(actor: Actor | None) -> int | None:
    """The user id a run of ``actor`` is recorded under (None: the store's local user)."""
    return None if actor is None else actor.user_id


def active_runs(store, owner_id: int | None) -> int:
    """How many queued or running runs of the worker's kinds ``owner_id`` owns."""
    if owner_id is None:
        owner_id = store.local_user().id
    return store.list_runs(status=list(ACTIVE), kind=list(JOB_KINDS), visible_to=(owner_id, False), limit=0)[1]


def _plural(n: int, what: str = "run") -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def check_room(store, actor: Actor | None, n: int = 1) -> None:
    """QueueLimitError when ``n`` more runs would take ``actor`` past their role's limit."""
    if actor is None:
        return
    limit = queue_limits().get(actor.role)
    if limit is None:
        return
    article = "an" if actor.role[0] in "aeiou" else "a"
    if limit == 0:
        raise QueueLimitError(f"Nothing was queued: {article} {actor.role} may not have queued or running runs "
                              f"(LAB_QUEUE_LIMITS {actor.role}=0). Ask an instructor or an admin.")
    have = active_runs(store, actor.user_id)
    if have + n <= limit:
        return
    asked = "this run" if n == 1 else f"these {_plural(n)}"
    raise QueueLimitError(
        f"Queue limit reached: you have {_plural(have)} queued or running and {article} {actor.role} may have at "
        f"most {limit} at a time (LAB_QUEUE_LIMITS), so {asked} {'was' if n == 1 else 'were'} not queued. Submit "
        "again when one of yours has finished, or cancel one of yours first.")


def check_right(store, actor: Actor | None, action: str, run_id: int | None = None, *,
                target: str | None = None) -> None:
    """``Denied`` unless ``actor`` may do ``action`` (on run ``run_id``): the refusal is written to the
    audit log, an allowed action is not (the caller records it once it is done: ``record``)."""
    if actor is None:
        return
    from core.auth.guard import guarded

    gs = guarded(store, actor)
    if not gs.can(action, None if run_id is None else store.run_access(run_id)):
        gs.authorize(action, run_id, target=target)  # raises Denied, recorded


def record(store, actor: Actor | None, action: str, run_id: int | None = None, *, target: str | None = None,
           **change: Any) -> None:
    """Write an allowed ``action`` of ``actor`` to the audit log (``before``/``after`` in ``change``)."""
    if actor is not None:
        from core.auth.guard import guarded

        guarded(store, actor).authorize(action, run_id, target=target, **change)


def writer(store, actor: Actor | None):
    """The store through which ``actor``'s new runs are written: ``GuardedStore.create_run`` records the
    owner and an audit row; the plain store for ``actor=None`` (the local user)."""
    if actor is None:
        return store
    from core.auth.guard import guarded

    return guarded(store, actor)


def admit(store, actor: Actor | None, *, n: int = 1, dataset: str | None = None, action: str = "train") -> None:
    """The checks before ``n`` runs of ``actor`` are queued: the ``action`` right (a refusal is
    audited), then the queue limit of their role. Nothing for ``actor=None``. Call it holding
    ``ADMISSION_LOCK`` until the runs' rows are written."""
    if actor is None:
        return
    check_right(store, actor, action, target=f"dataset:{dataset}" if dataset else None)
    check_room(store, actor, n)


def check_weights_right(cfg, store, actor: Actor | None) -> None:
    """A ``run:<id>`` weights choice needs the right to train from that run's weights (audited when refused)."""
    if actor is None:
        return
    from core.training.weights_choice import check_weights

    check_weights(cfg, store, actor=actor)


@contextmanager
def admission(store, actor: Actor | None, n: int = 1, *, dataset: str | None = None, action: str = "train",
              configs: tuple = ()) -> Iterator[None]:
    """``admit`` (and ``check_weights_right`` for each of ``configs``), holding ``ADMISSION_LOCK``
    while the block writes the admitted runs' rows."""
    with ADMISSION_LOCK:
        admit(store, actor, n=n, dataset=dataset, action=action)
        for cfg in configs:
            check_weights_right(cfg, store, actor)
        yield
