"""What several command groups of ``python -m core`` share: the run store they open, user-named
output files, and the way metrics, times and durations are printed."""
from __future__ import annotations

import os
import sys
from typing import Any

SUMMARY_KEYS = ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "macro_precision", "macro_recall",
                "macro_auc", "micro_auc", "log_loss", "mean_sensitivity", "min_sensitivity", "max_sensitivity",
                "mean_specificity", "kappa_quadratic", "ece")


def open_store(*, training: bool = False):
    """The run store of LAB_DATABASE_URL, opened (and migrated) now: a bad URL fails in
    seconds with a message saying what is wrong with the store and how to fix it, before any
    data is loaded or anything is trained (``training``: the message also offers --no-record)."""
    from core.store import Store, StoreError

    try:
        return Store()
    except StoreError as e:
        text = " ".join(str(e).split())  # one line (a driver's message may span several)
        text += "" if text.endswith((".", "?", "!")) else "."
        if training:
            raise StoreError(f"{text} Nothing was trained. Fix LAB_DATABASE_URL, or add --no-record to train "
                             "without recording the run.") from None
        advice = store_advice(text)
        raise StoreError(f"{text} {advice}".rstrip()) from None


def operator(store):
    """Who the command line acts as, and the store as they may use it: ``(actor, GuardedStore)``.
    The actor is ``core.auth.actors.operator_actor`` (the operating-system user as a local
    operator: admin unless LAB_OPERATOR_ROLE gives a lesser role); every change made through the
    GuardedStore is checked against the policy and audited (``Denied``: exit 2)."""
    from core.auth.actors import operator_actor
    from core.auth.guard import guarded

    actor = operator_actor(store)
    return actor, guarded(store, actor)


def _operator_role() -> str:
    import os

    return os.environ.get("LAB_OPERATOR_ROLE", "").strip() or "admin"


def reader(store):
    """The store as the operator may read it: the store itself when their role sees every run
    (nothing is written then), else a GuardedStore that shows only the runs they may see."""
    from core.auth.policy import POLICY

    return store if POLICY["view"].get(_operator_role()) == "any" else operator(store)[1]


def operator_may(store, action: str, *run_ids: int) -> None:
    """``Denied`` (audited) unless the operator may do ``action`` on each of ``run_ids``: the
    commands that read runs into files or reports check this before reading. An operator whose
    role (LAB_OPERATOR_ROLE, default admin) may do ``action`` on any run writes nothing to the
    store for it: a read-only command stays read-only (a full disk, a read-only store)."""
    from core.auth.policy import POLICY

    if POLICY[action].get(_operator_role()) == "any":
        return
    gs = operator(store)[1]
    for rid in run_ids:
        gs.authorize(action, int(rid))


def store_advice(message: str) -> str:
    """How to fix a run store that cannot be opened ('' when ``message`` already says)."""
    from core.config import get_settings

    if "LAB_DATABASE_URL" in message or "upgrade the lab" in message:
        return ""
    if get_settings().database_url.lower().startswith("postgres"):
        return ("Check that the PostgreSQL server named in LAB_DATABASE_URL is running and reachable from here, and "
                "its user, password and database name; or point LAB_DATABASE_URL at another run store.")
    return ("Point LAB_DATABASE_URL at the lab's run store: an SQLite file the lab made, readable and writable "
            "by you (a new file name starts an empty store), e.g. sqlite:////path/to/runs.db.")


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a user-named output file atomically (complete or absent; /dev/stdout works)."""
    from core.files import OutputError, atomic_write_text, describe_os_error

    try:
        atomic_write_text(path, text)
    except OSError as e:
        raise OutputError(describe_os_error(e, path)) from e


def print_summary(summary: dict[str, Any], stream=sys.stdout) -> None:
    """The test metrics of a summary, one per line, with their 95 % interval when there is one."""
    width = max(len(k) for k in SUMMARY_KEYS)
    for k in SUMMARY_KEYS:
        v = summary.get(k)
        if isinstance(v, (int, float)):
            ci = ""
            lo, hi = summary.get(f"ci_low_{k}"), summary.get(f"ci_high_{k}")
            if isinstance(lo, (int, float)) and isinstance(hi, (int, float)):
                ci = f"  (95% CI {lo:.4f}-{hi:.4f})"
            print(f"  {k:<{width}}  {v:.4f}{ci}", file=stream)


def print_train_result(res) -> None:
    """What a finished training says: its folder, best epoch, size, time and test metrics."""
    print(f"\nRun folder: {res.out_dir}")
    print(f"Best epoch {res.best_epoch} of {res.epochs_run}; {res.params['trainable']:,} trainable / "
          f"{res.params['non_trainable']:,} non-trainable params; {res.train_time_s:.1f}s training")
    print("Test metrics:")
    print_summary(res.summary)


def when(dt) -> str:
    """A stored time in local time, to the minute ('' for none)."""
    if dt is None:
        return ""
    return dt.astimezone().strftime("%Y-%m-%d %H:%M")


def dur(s) -> str:
    """A duration in seconds as the console reporter writes it ('' for none)."""
    from core.training.reporters import _fmt_s

    return "" if s is None else _fmt_s(float(s))
