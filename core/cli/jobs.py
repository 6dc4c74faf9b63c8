"""``jobs serve`` and ``jobs status``: the job queue of the run store without a browser."""
from __future__ import annotations

import logging
import signal
import sys
import threading

log = logging.getLogger(__name__)


def _serve_until_stopped(jm, store, stop: threading.Event, got: list[str], keep_running: bool, grace: float) -> None:
    """Supervise the queue until ``stop`` is set (restarting a supervisor thread that died), then shut down."""
    from core.cli.common import operator

    actor = operator(store)[0]  # the operating-system user, as a local operator (a disabled one is refused)
    jm.start()
    print(f"supervising the job queue of {store!r} as {jm.supervisor_id} on {jm.describe()}, operator "
          f"{actor.label} ({actor.role}); SIGTERM or Ctrl-C stops", file=sys.stderr, flush=True)
    while not stop.wait(1.0):
        if not jm.running:  # the thread died: say so, start it again
            log.error("the supervisor thread stopped; restarting it")
            jm.start()
    left = jm.active_runs()
    what = (f"leaving {len(left)} running training(s) to the next supervisor" if keep_running else
            f"stopping {len(left)} running training(s) (they end 'interrupted')") if left else "nothing running"
    print(f"{got[0]} received: {what}; queued runs stay queued", file=sys.stderr, flush=True)
    jm.shutdown(stop_running=not keep_running, timeout=grace)


def cmd_jobs_serve(args) -> int:
    from core.cli.common import open_store
    from core.jobs.executors.local import signal_name
    from core.jobs.manager import JobManager
    from core.validation import check_number

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    core_log = logging.getLogger("core")  # this supervisor's events, not every library's
    core_log.addHandler(handler)
    core_log.setLevel(logging.INFO)
    store = open_store()
    jm = JobManager(store, store.models_dir, max_concurrent=args.max_concurrent,
                    poll_interval=check_number("--poll", args.poll, low=0.05, high=60),
                    cancel_grace_s=args.grace, kind="serve", executor=getattr(args, "executor", None))
    stop = threading.Event()
    got: list[str] = []

    def on_signal(sig, _frame):
        got.append(signal_name(sig))
        stop.set()

    saved = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        _serve_until_stopped(jm, store, stop, got, args.keep_running, args.grace)
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)
        store.close()
        core_log.removeHandler(handler)
    print("job supervisor stopped", file=sys.stderr, flush=True)
    return 0


def _status_json(snap) -> dict:
    from core.jobs.status import progress_text

    return {
        "supervisors": [sv.to_dict() for sv in snap.supervisors],
        "running": [{"id": r.id, "name": r.name, "progress": r.progress, "state": progress_text(r),
                     "supervisor_id": r.supervisor_id,
                     "pid": r.pid, "host": r.host, "executor": r.executor, "placement": r.placement}
                    for r in snap.running],
        "queued": [{"id": r.id, "name": r.name} for r in snap.queued],
        "n_running": snap.n_running, "n_queued": snap.n_queued,
        "waiting_unsupervised": snap.waiting_unsupervised,
        "cluster_unreachable": snap.cluster_messages(),
        "standby": [vars(s) for s in snap.standby],
    }


def _print_status(snap) -> None:
    from core.jobs.executors import placement_text
    from core.jobs.status import progress_text

    if snap.supervisors:
        for sv in snap.supervisors:
            print(f"supervisor {sv.id}: {sv.kind} on {sv.host} (pid {sv.pid}), max {sv.max_concurrent} at a time, "
                  f"last heartbeat {sv.age_s:.0f} s ago")
    else:
        print("no job supervisor is alive (start the dashboard: scripts/serve.py starts it with the server, "
              "`streamlit run app.py` at the first page view; or run: python -m core jobs serve)")
    print(snap.headline())
    if snap.standby:
        print(snap.standby_line())
    for r in snap.running:
        where = placement_text(r)
        print(f"  running #{r.id} {r.name}: {progress_text(r)}" + (f" [{where}]" if where else ""))
    for r in snap.queued:
        print(f"  queued  #{r.id} {r.name}")
    if snap.n_queued > len(snap.queued):
        print(f"  ... and {snap.n_queued - len(snap.queued)} more queued")
    if snap.waiting_unsupervised:
        print(snap.unsupervised_message().replace("`", ""))
    for line in snap.cluster_messages():
        print(line)


EXECUTOR_CHECK_S = 5.0  # how long ``jobs status`` waits for the Ray cluster to answer


def executor_problem(store, timeout_s: float = EXECUTOR_CHECK_S) -> str | None:
    """Why the executor of LAB_EXECUTOR cannot run jobs now (``core.jobs.status.executor_problem``)."""
    from core.jobs.status import executor_problem as check

    return check(store, timeout_s)


def cmd_jobs_status(args) -> int:
    import json

    from core.cli.common import open_store
    from core.jobs.executors import executor_name
    from core.jobs.executors.base import ExecutorError
    from core.jobs.status import job_snapshot

    store = open_store()
    try:
        snap = job_snapshot(store)
        problem = executor_problem(store)
    finally:
        store.close()
    try:
        name = executor_name()
    except ExecutorError:
        name = None
    if args.json:
        print(json.dumps({**_status_json(snap), "executor": {"name": name, "problem": problem}}, default=str, indent=2))
        return 0
    _print_status(snap)
    if problem:
        print(f"executor{' ' + name if name else ''}: {problem}".replace("`", ""))
    return 0


def add_cli(sub) -> None:
    """The ``jobs`` subcommand of ``python -m core`` (``serve``, ``status``)."""
    p = sub.add_parser("jobs", help="run the job queue without a browser (serve) or show its state (status)")
    jsub = p.add_subparsers(dest="jobs_command", required=True)
    s = jsub.add_parser("serve", help="supervise the queue of the run store (LAB_DATABASE_URL) until SIGTERM/Ctrl-C")
    s.add_argument("--max-concurrent", type=int, default=None,
                   help="trainings at a time (default LAB_MAX_CONCURRENT, else 1 locally and 8 on Ray)")
    s.add_argument("--executor", choices=("local", "ray"), default=None,
                   help="where runs execute (default LAB_EXECUTOR, else local; ray: LAB_RAY_ADDRESS)")
    s.add_argument("--poll", type=float, default=1.0, help="seconds between looks at the queue (default 1)")
    s.add_argument("--keep-running", action="store_true",
                   help="on stop, leave running trainings going (the next supervisor adopts them) "
                        "instead of stopping them (they end 'interrupted')")
    s.add_argument("--grace", type=float, default=60.0,
                   help="seconds a stopped training has to end before it is killed (default 60)")
    s.set_defaults(fn=cmd_jobs_serve)
    st = jsub.add_parser("status", help="live supervisors, running and queued runs; with LAB_EXECUTOR=ray, whether "
                                        f"the cluster answers (within {EXECUTOR_CHECK_S:g} s)")
    st.add_argument("--json", action="store_true", help="print JSON")
    st.set_defaults(fn=cmd_jobs_status)
