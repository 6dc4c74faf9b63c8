"""``python -m core train`` recorded in the run store: a first-class run, trained in this process
the way ``core.worker`` runs a queued job, that always ends succeeded, failed, cancelled or
interrupted (Ctrl-C, SIGTERM and errors included)."""
from __future__ import annotations

import os
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from core.cli.common import open_store, operator, print_train_result, write_text


class _Tee:
    """Reporter protocol fanned out to several reporters (console + store)."""

    def __init__(self, *reporters):
        self.reporters = reporters

    def _each(self, name, *a):
        for r in self.reporters:
            fn = getattr(r, name, None)
            if callable(fn):
                fn(*a)

    def on_start(self, info):
        self._each("on_start", info)

    def on_batch(self, *a):
        self._each("on_batch", *a)

    def on_epoch(self, *a):
        self._each("on_epoch", *a)

    def on_message(self, level, text):
        self._each("on_message", level, text)

    def should_cancel(self) -> bool:
        return any(bool(getattr(r, "should_cancel", lambda: False)()) for r in self.reporters)


def _keep_alive(store, run_id: int, stop: threading.Event, every_s: float = 15.0) -> None:
    while not stop.wait(every_s):
        try:
            store.heartbeat(run_id)
        except Exception:  # noqa: BLE001 - a missed heartbeat is not worth stopping the training
            pass


class _CtrlC:
    """SIGINT while training (main thread only): the first Ctrl-C stops after this batch, a second one at once."""

    def __init__(self, flags):
        self.flags, self.pressed, self._old = flags, False, None

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._on_int)

    def restore(self) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)

    def _on_int(self, _sig, _frm) -> None:
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True
        self.flags.cancel = True
        sys.stderr.write("\nCtrl-C: stopping after this batch (press Ctrl-C again to stop at once)\n")


@dataclass
class _Outcome:
    """How a recorded training ended: the run's final status and error, what to raise, the result."""

    out: Path | None
    status: str = "failed"
    error: str | None = "the command line stopped before training"
    raised: BaseException | None = None
    res: object = None


def train_recorded(cfg, args) -> int:
    """Train as a first-class run of the store, the way ``core.worker`` runs a queued job:
    ``StoreReporter`` for progress and per-epoch metrics, ``summary_from_result`` and
    ``register_artifacts`` for the outcome, the run's folder ``LAB_MODELS_DIR/<id>`` (or
    ``--out``). The run is created ``running`` with this process as its worker (the job
    supervisor leaves a live one alone, and marks it interrupted if the process dies) and
    always ends succeeded, failed or cancelled -- Ctrl-C, SIGTERM and errors included. The run is
    the operator's (``core.cli.common.operator``): their right to train and their role's queue
    limit are checked before it is recorded."""
    from core.files import check_writable_dir
    from core.jobs.admission import admission, writer

    store = open_store(training=True)
    try:
        out = Path(args.out) if args.out else None
        check_writable_dir(out or store.models_dir, "run folder" if out else "models folder (LAB_MODELS_DIR)")
        d = cfg.to_dict()
        dataset = (d.get("dataset") or {}).get("name")
        actor = operator(store)[0]
        with admission(store, actor, dataset=dataset, configs=(cfg,)):  # the right to train, the queue share
            rid = writer(store, actor).create_run(d, name=cfg.name or f"{cfg.model} on {dataset}", dataset=dataset,
                                                  model=cfg.model, seed=cfg.seed, kind="train", status="running",
                                                  tags={"source": "cli"})
        return run_recorded(store, rid, cfg, d, out)
    finally:
        store.close()


def run_recorded(store, rid: int, cfg, d: dict, out: Path | None) -> int:
    """Train run ``rid`` into ``out`` (default: its folder in the store) and record how it ended."""
    from core.jobs.worker import Flags

    flags, o = Flags(), _Outcome(out=out)
    ctrl_c, stop = _CtrlC(flags), threading.Event()
    try:
        saved = {}
        try:
            saved = flags.install()  # SIGUSR1 cancels, SIGTERM interrupts (as for a job worker)
            ctrl_c.install()
            _train(store, rid, cfg, d, o, flags, stop)
        except BaseException as e:  # noqa: BLE001 - recorded as the failure, then passed on
            _record_exception(store, rid, o, e, flags, ctrl_c.pressed)
        finally:
            stop.set()
            ctrl_c.restore()
            flags.restore(saved)
        if o.status != "succeeded" and o.out is not None:
            _keep_what_was_written(store, rid, o.out)
    finally:
        store.set_status(rid, o.status, o.error)  # never left "running", whatever happened above
    print(f"Run {rid}: {o.status}", file=sys.stderr)
    if o.raised is not None:
        raise o.raised
    print_train_result(o.res)
    print(f"Recorded as run {rid}: python -m core runs show {rid}")
    return 0


def _train(store, rid: int, cfg, d: dict, o: _Outcome, flags, stop: threading.Event) -> None:
    """The training itself, reported to the console and the store; ``o`` says how it ended."""
    from core.files import OutputError
    from core.jobs.worker import StoreReporter, register_artifacts, summary_from_result
    from core.store import HOST
    from core.store.artifacts import file_name
    from core.training.engine import train
    from core.training.reporters import ConsoleReporter

    store.log_params(rid, d)
    store.set_worker(rid, pid=os.getpid(), host=HOST)
    o.out = o.out or store.run_dir(rid)
    print(f"Run {rid} is recorded in the run store; its folder is {o.out}", file=sys.stderr)
    threading.Thread(target=_keep_alive, args=(store, rid, stop), daemon=True).start()
    reporter = _Tee(ConsoleReporter(), StoreReporter(store, rid, epochs=cfg.epochs, flags=flags))
    o.res = train(cfg, out_dir=o.out, reporter=reporter)
    store.log_summary(rid, summary_from_result(o.res))
    if "model" in register_artifacts(store, rid, o.out):
        o.status, o.error = "succeeded", None
    else:
        o.error = (f"training finished but the model file {o.out / file_name('model')} is missing or incomplete "
                   "(disk full?); metrics and predictions were kept")
        o.raised = OutputError(o.error)


def _record_exception(store, rid: int, o: _Outcome, e: BaseException, flags, ctrl_c: bool) -> None:
    """Cancelled (Ctrl-C, SIGUSR1), interrupted (SIGTERM) or failed; a failure's traceback goes to the run folder."""
    from core.files import describe_os_error
    from core.training.reporters import Cancelled

    o.raised = e
    if isinstance(e, Cancelled):
        if flags.interrupt and not flags.cancel:
            o.status, o.error = "interrupted", "interrupted: the training process was asked to stop (SIGTERM)"
        else:
            o.status, o.error = "cancelled", "cancelled with Ctrl-C" if ctrl_c else (str(e) or "cancelled by the user")
    elif isinstance(e, KeyboardInterrupt):
        o.status, o.error = "cancelled", "cancelled with Ctrl-C"
    else:
        o.status = "failed"
        o.error = describe_os_error(e) if isinstance(e, OSError) else f"{type(e).__name__}: {e}"
        if o.out is not None:
            _save_traceback(store, rid, o.out, e)


def _save_traceback(store, rid: int, out: Path, e: BaseException) -> None:
    import traceback

    from core.files import check_writable_dir
    from core.store.artifacts import file_name

    try:
        check_writable_dir(out)
        path = out / file_name("traceback")
        write_text(path, "".join(traceback.format_exception(e)))
        store.add_artifact(rid, "traceback", path)
    except Exception:  # noqa: BLE001 - e.g. the disk is full: the error is in the store anyway
        pass


def _keep_what_was_written(store, rid: int, out: Path) -> None:
    """Register the files a run that did not succeed left (history, complete files), as the job worker does."""
    from core.jobs.worker import register_artifacts

    try:
        register_artifacts(store, rid, out)
    except Exception:  # noqa: BLE001
        pass
