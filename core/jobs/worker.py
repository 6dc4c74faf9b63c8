"""One training job in its own process: ``python -m core.worker <run_id>``.

Started by ``core.jobs.manager.JobManager`` (env ``LAB_DATABASE_URL``/``LAB_MODELS_DIR``), or by
hand for a queued run. Loads the run's config from the store, runs
``core.training.engine.train`` (or ``core.training.lr_finder.lr_find`` for ``kind="lr_find"``,
``core.analysis.audit.audit_dataset`` for ``kind="audit"``) with a ``StoreReporter`` that streams
progress and per-epoch metrics into the store, and records the outcome: ``succeeded`` with
summary metrics and artifacts, ``cancelled`` (SIGUSR1, or ``cancel_requested`` set in the store),
``interrupted`` (SIGTERM: the lab is shutting down), ``failed`` with the error text and ``traceback.txt``.

What it runs for each kind of job is ``core.jobs.kinds.JOB_KINDS`` (kind -> runner). It records
where it runs (host, pid, ``CUDA_VISIBLE_DEVICES``, the executor that started it) in the
run's placement. Started by a supervisor on a cluster node, it fails at once, naming what
is missing, when it cannot reach the store or the models folder.

A short outage of the store (a PostgreSQL restart) is waited out: store calls are retried with
backoff for ``LAB_STORE_RETRY_SECONDS`` (``core.store.retry.OutageTolerantStore``; progress
written meanwhile is dropped, metrics and the final status are not). A worker whose store stays
away longer stops the run and, when it cannot record why, leaves a ``store_outage`` note in the
run folder that the supervisor records as the run's reason once the store is back.

Exit codes: 0 when a final status was written (whatever it is), 2 for bad usage, 3
when the store could not be written at the end, 4 when the store cannot be reached.
"""
from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
import traceback
import zipfile
from pathlib import Path
from typing import Any

from core.files import jsonable
from core.store.artifacts import RESULT_KINDS, RunFolder
from core.store.retry import OutageTolerantStore, StoreUnreachable, connection_error, outage_note

BATCH_WRITE_INTERVAL_S = 0.5   # batch progress is written at most this often
CANCEL_POLL_INTERVAL_S = 1.0   # cancel_requested is read from the store at most this often
HEARTBEAT_INTERVAL_S = 15.0


class Flags:
    """Set from signal handlers (async-signal-safe: plain attribute writes)."""

    def __init__(self) -> None:
        self.cancel = False
        self.interrupt = False

    def install(self) -> dict:
        """Install the handlers (main thread only); returns the previous ones for ``restore``."""
        def on_usr1(_sig, _frm):
            self.cancel = True

        def on_term(_sig, _frm):
            self.interrupt = True

        if threading.current_thread() is not threading.main_thread():
            return {}
        saved = {sig: signal.getsignal(sig) for sig in (signal.SIGUSR1, signal.SIGTERM)}
        signal.signal(signal.SIGUSR1, on_usr1)
        signal.signal(signal.SIGTERM, on_term)
        return saved

    @staticmethod
    def restore(saved: dict) -> None:
        for sig, handler in saved.items():
            try:
                signal.signal(sig, handler)
            except (ValueError, TypeError):
                pass

    @property
    def stop(self) -> bool:
        return self.cancel or self.interrupt


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f


def _numeric_items(d: dict | None) -> dict[str, float]:
    """The entries of ``d`` whose values are numbers (as floats, keys as text); the others are dropped."""
    out = {}
    for k, v in (d or {}).items():
        f = _num(v)
        if f is not None:
            out[str(k)] = f
    return out


class StoreReporter:
    """The training reporter that writes into the store (pages read it from there).

    Batch progress is throttled to one write per ``BATCH_WRITE_INTERVAL_S``; epoch
    metrics are written at every epoch (step = the epoch number). Epochs and batches are
    1-based, as ``core.training`` reports them (``epoch=1, batch=1`` is the first batch). ``should_cancel``
    is cheap: a flag set by SIGUSR1/SIGTERM, plus a throttled read of
    ``cancel_requested`` (for cancels coming from another process).
    """

    def __init__(self, store, run_id: int, *, epochs: int | None = None, flags: Flags | None = None,
                 batch_interval_s: float = BATCH_WRITE_INTERVAL_S):
        self.store = store
        self.run_id = run_id
        self.epochs = epochs
        self.flags = flags or Flags()
        self.batch_interval_s = batch_interval_s
        self._last_batch_write = 0.0
        self._last_cancel_read = time.monotonic()
        self.info: dict[str, Any] = {"epochs": epochs, "message": "starting"}
        self.messages: list[dict] = []
        self.first_write_at: float | None = None

    # -- helpers
    def _fraction(self, epoch: int, within: float) -> float:
        if not self.epochs:
            return 0.0
        return max(0.0, min(1.0, (epoch - 1 + within) / self.epochs))

    def _write(self, fraction: float) -> None:
        self.store.set_progress(self.run_id, fraction, self.info)
        if self.first_write_at is None:
            self.first_write_at = time.time()

    # -- reporter protocol
    def on_start(self, info: dict) -> None:
        info = dict(info or {})
        if info.get("epochs"):
            self.epochs = int(info["epochs"])
        self.info.update({"epochs": self.epochs, "message": "training", "start": jsonable(info)})
        self._write(0.0)

    def on_batch(self, epoch: int, batch: int, n_batches: int | None, logs: dict | None,
                 images_per_sec: float | None = None, eta_s: float | None = None) -> None:
        now = time.monotonic()
        if now - self._last_batch_write < self.batch_interval_s:
            return
        self._last_batch_write = now
        within = batch / n_batches if n_batches else 0.0
        self.info.update({
            "epoch": int(epoch), "batch": int(batch), "n_batches": n_batches,
            "batch_fraction": round(within, 4), "images_per_sec": _num(images_per_sec), "eta_s": _num(eta_s),
            "batch_logs": _numeric_items(logs), "message": f"epoch {int(epoch)}/{self.epochs or '?'}",
        })
        self._write(self._fraction(epoch, within))

    def on_epoch(self, epoch: int, logs: dict) -> None:
        values = {k: v for k, v in _numeric_items(logs).items() if k not in ("epoch", "best_epoch")}
        if values:
            self.store.log_metrics(self.run_id, values, step=int(epoch))
        self.info.update({"epoch": int(epoch), "batch_fraction": 1.0, "epoch_logs": values,
                          "message": f"epoch {int(epoch)}/{self.epochs or '?'} done"})
        # no reset of the batch-write throttle here: with epochs shorter than the interval it
        # froze batch progress and the ETA after epoch 1 (a 20 s run showed "ETA 11 min" to the end)
        self._write(self._fraction(epoch, 1.0))

    def on_message(self, level: str, text: str) -> None:
        self.messages = (self.messages + [{"level": str(level), "text": str(text)}])[-10:]
        self.info.update({"messages": self.messages})
        if str(level).lower() in ("warning", "error"):
            self.info["message"] = str(text)

    def should_cancel(self) -> bool:
        if self.flags.stop:
            return True
        now = time.monotonic()
        if now - self._last_cancel_read >= CANCEL_POLL_INTERVAL_S:
            self._last_cancel_read = now
            try:
                if self.store.is_cancel_requested(self.run_id):
                    self.flags.cancel = True
            except Exception:  # noqa: BLE001 - a failed read must not stop training
                pass
        return self.flags.stop

    # -- lr finder progress (lr_find may call on_batch with its own step counts)
    def set_message(self, text: str, fraction: float | None = None) -> None:
        self.info["message"] = text
        self._write(fraction if fraction is not None else 0.0)


def _heartbeat(store, run_id: int, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_INTERVAL_S):
        try:
            store.heartbeat(run_id)
        except Exception:  # noqa: BLE001
            pass


def model_file_ok(path: Path) -> bool:
    """A saved ``.keras`` model is a complete zip archive (a partial write is not)."""
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return False
        with zipfile.ZipFile(path) as zf:
            return zf.testzip() is None
    except (OSError, zipfile.BadZipFile):
        return False


def summary_from_result(result) -> dict[str, float]:
    """Summary metrics of a TrainResult: test evaluation, parameter counts, time, epochs, best epoch."""
    out: dict[str, float] = {}
    evaluation = getattr(result, "evaluation", None) or {}
    for k, v in (evaluation.get("summary") or {}).items():
        f = _num(v)
        if f is not None:
            out[k] = f
    params = getattr(result, "params", None) or getattr(result, "params_counts", None) or {}
    for k, v in (params or {}).items():
        f = _num(v)
        if f is not None:
            out[f"params_{k}"] = f
    for key in ("train_time_s", "epochs_run", "best_epoch"):
        f = _num(getattr(result, key, None))
        if f is not None:
            out[key] = f
    history = getattr(result, "history", None) or []
    best = getattr(result, "best_epoch", None)
    rows = [h for h in history if h.get("epoch") == best]
    if rows:  # metrics of the best epoch (the weights kept), e.g. best_val_loss
        for k, v in rows[-1].items():
            f = _num(v)
            if f is not None and k.startswith("val_"):
                out[f"best_{k}"] = f
    return out


def register_artifacts(store, run_id: int, out_dir: Path) -> list[str]:
    """Register the files the training wrote; a model that is missing or partial is skipped."""
    folder = RunFolder(out_dir)
    done = []
    for a in folder.present(RESULT_KINDS):
        p = folder.path_of(a.kind)
        if a.kind == "model" and not model_file_ok(p):
            continue
        store.add_artifact(run_id, a.kind, p)
        done.append(a.kind)
    return done


def _limit_threads() -> None:
    """On a cluster a run reserves ``LAB_WORKER_CPUS`` CPUs (Ray's ``entrypoint_num_cpus``):
    TensorFlow uses that many threads instead of every core of the node, so that runs sharing
    a node do not oversubscribe it."""
    n = _num(os.environ.get("LAB_WORKER_CPUS"))
    if not n or n < 1:
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(n))
        tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, int(n))))
    except RuntimeError:  # TensorFlow already initialised (in-process callers): keep its threads
        pass


def run_train(store, run_id: int, detail, out_dir: Path, flags: Flags, t_spawn: float | None) -> tuple[str, str | None]:
    """The runner of ``kind="train"`` (``core.jobs.kinds.JOB_KINDS``): train, then register the results."""
    from core.training.config import TrainConfig
    from core.training.engine import train
    from core.training.reporters import Cancelled

    reporter_msg = "importing TensorFlow"
    store.set_progress(run_id, 0.0, {"message": reporter_msg})
    import keras  # noqa: F401 - imported here so that the start-up time below includes it
    _limit_threads()

    config = TrainConfig.from_dict(detail.config)
    config.validate()
    reporter = StoreReporter(store, run_id, epochs=getattr(config, "epochs", None), flags=flags)
    startup = time.time() - t_spawn if t_spawn else None
    reporter.info["message"] = "loading data and building the model"
    if startup is not None:
        reporter.info["worker_startup_s"] = round(startup, 3)
    reporter.set_message(reporter.info["message"])
    if flags.stop or store.is_cancel_requested(run_id):
        raise Cancelled("cancelled before training started")
    result = train(config, out_dir=out_dir, reporter=reporter)
    summary = summary_from_result(result)
    if startup is not None:
        summary["worker_startup_s"] = startup
    store.log_summary(run_id, summary)
    kinds = register_artifacts(store, run_id, out_dir)
    if "model" not in kinds:
        return "failed", (f"training finished but the model file {RunFolder(out_dir).path_of('model')} is missing or "
                          "incomplete (disk full?); metrics and predictions were kept")
    return "succeeded", None


def run_lr_find(store, run_id: int, detail, out_dir: Path, flags: Flags,
                t_spawn: float | None = None) -> tuple[str, str | None]:
    """The runner of ``kind="lr_find"`` (``core.jobs.kinds.JOB_KINDS``): a learning-rate range test."""
    from core.training import lr_finder
    from core.training.config import TrainConfig

    config = TrainConfig.from_dict(detail.config)
    config.validate()
    reporter = StoreReporter(store, run_id, epochs=1, flags=flags)
    reporter.set_message("learning-rate range test")
    opts = {}
    for k in ("start_lr", "end_lr", "num_steps"):  # stored as params by JobManager.submit_lr_find
        if f"lr_find.{k}" in detail.params:
            opts[k] = json.loads(detail.params[f"lr_find.{k}"])
    res = lr_finder.lr_find(config, reporter=reporter, **{k: v for k, v in opts.items() if v is not None})
    lrs = [float(x) for x in res.lrs]
    losses = [float(x) for x in res.losses]
    smoothed = [float(x) for x in res.smoothed]
    now = time.time()
    for i, (lr, loss, sm) in enumerate(zip(lrs, losses, smoothed)):
        store.log_metrics(run_id, {"lr": lr, "lr_find_loss": loss, "lr_find_smoothed": sm}, step=i, time=now)
    suggested = _num(res.suggested_lr)
    if suggested is not None and math.isfinite(suggested):
        store.log_summary(run_id, {"suggested_lr": suggested})
    path = RunFolder(out_dir).mkdir().write_json("lr_find", {**res.to_dict(), "lrs": lrs, "losses": losses,
                                                             "smoothed": smoothed, "suggested_lr": suggested})
    store.add_artifact(run_id, "lr_find", path)
    return "succeeded", None


def run_audit(store, run_id: int, detail, out_dir: Path, flags: Flags,
              t_spawn: float | None = None) -> tuple[str, str | None]:
    """The runner of ``kind="audit"`` (``core.jobs.kinds.JOB_KINDS``): a label audit
    (``core.analysis.audit``), its table and summary kept in the run folder and registered."""
    from core.analysis.audit import AuditOptions, audit_dataset, save_audit
    from core.training.config import TrainConfig
    from core.training.reporters import Cancelled

    config = TrainConfig.from_dict(detail.config)
    config.validate()
    opts = AuditOptions.from_params(detail.params)
    reporter = StoreReporter(store, run_id, epochs=opts.epochs, flags=flags)
    reporter.set_message("label audit: loading data")
    if flags.stop or store.is_cancel_requested(run_id):
        raise Cancelled("cancelled before the audit started")

    class _Progress:
        should_cancel = staticmethod(reporter.should_cancel)

        def __call__(self, fold: int, epoch: int, fraction: float) -> None:
            reporter.set_message(f"fold {fold}/{opts.k} · epoch {epoch}/{opts.epochs}", min(0.95, fraction))

    table, summary = audit_dataset(config, opts, progress=_Progress())
    folder = save_audit(out_dir, table, summary)
    store.add_artifact(run_id, "audit_table", folder.path_of("audit_table"))
    store.add_artifact(run_id, "audit", folder.path_of("audit"))
    store.log_summary(run_id, {k: v for k, v in summary.items()
                               if isinstance(v, (int, float)) and not isinstance(v, bool)})
    return "succeeded", None


def run(run_id: int, *, store=None) -> int:
    """Run ``run_id`` (``store``: one opened already, by a standby worker)."""
    t_spawn = _num(os.environ.get("LAB_WORKER_SPAWNED_AT"))
    flags = Flags()
    saved = flags.install()
    try:
        return _run(run_id, flags, t_spawn, store)
    finally:
        flags.restore(saved)  # when called in-process (tests), leave the caller's handlers as they were


def _open_store(run_id: int):
    """The run store, or None after saying on stderr which store could not be reached (the
    executor puts the message in the run's log: on a cluster node, the usual cause is a
    store every node cannot reach)."""
    from core.store import Store, StoreError
    from core.store.engine import safe_url

    try:
        return Store()
    except (StoreError, OSError) as exc:
        from core.config import get_settings
        from core.store import HOST

        print(f"core.worker: run {run_id} cannot start on {HOST}: the run store "
              f"{safe_url(get_settings().database_url)} cannot be reached from here ({exc}). On a cluster, every "
              "node needs a store it reaches (LAB_DATABASE_URL=postgresql+psycopg://...).", file=sys.stderr)
        return None


def _models_dir_problem(store) -> str | None:
    """Started by a supervisor: the models folder it created must be visible here (a shared
    mount on a cluster); a local folder of the same name would hide the results."""
    from core.store import HOST

    if not os.environ.get("LAB_WORKER_SPAWNED_AT"):
        return None  # started by hand: the folder is created as needed
    if store.models_dir.is_dir() and os.access(store.models_dir, os.W_OK):
        return None
    return (f"the models folder {store.models_dir} is not reachable (missing or read-only) on {HOST}; on a "
            "cluster, every node needs it on a shared mount at the same path (LAB_MODELS_DIR)")


def _claim(store, run_id: int, detail) -> bool:
    if detail.status == "queued":  # started by hand, not by the job manager
        if not store.claim_run(run_id, pid=os.getpid()):
            print(f"run {run_id} is no longer queued", file=sys.stderr)
            return False
    elif detail.status != "running":
        print(f"run {run_id} is {detail.status}; nothing to do", file=sys.stderr)
        return False
    return True


def _record_where(store, run_id: int) -> None:
    """Where this worker runs: host, pid, the GPUs it sees, the executor that started it."""
    from core.store import HOST

    store.set_worker(run_id, pid=os.getpid(), host=HOST)
    executor = os.environ.get("LAB_WORKER_EXECUTOR")
    store.set_placement(run_id, executor=executor, host=HOST, pid=os.getpid(),
                        cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"))


def _can_start(store, run_id: int, detail) -> bool:
    """Claim the run and check the models folder; a run that cannot start is left or marked failed."""
    if not _claim(store, run_id, detail):
        return False
    problem = _models_dir_problem(store)
    if problem:
        print(f"core.worker: run {run_id}: {problem}", file=sys.stderr)
        store.set_status(run_id, "failed", problem[0].upper() + problem[1:] + ".")
        return False
    return True


def _failure(store, run_id: int, folder: RunFolder, exc: BaseException,
             flags: Flags) -> tuple[str, str, BaseException | None]:
    """(status, error, the exception to pass on) of a runner that raised; its traceback is kept in
    the run folder and registered."""
    if isinstance(exc, KeyboardInterrupt) or (flags.interrupt and isinstance(exc, SystemExit)):
        # recorded, then passed on to an in-process caller
        status, error, reraise = "interrupted", "interrupted: the training process was stopped", exc
    else:
        status, error, reraise = "failed", f"{type(exc).__name__}: {exc}", None
    tb = folder.write_text("traceback", "".join(traceback.format_exception(exc)))
    try:
        store.add_artifact(run_id, "traceback", tb)
    except Exception:  # noqa: BLE001
        pass
    return status, error, reraise


def _execute(store, run_id: int, detail, folder: RunFolder, flags: Flags, t_spawn: float | None,
             job_kinds: dict) -> tuple[str, str | None, BaseException | None]:
    """Run the job's runner: (status, error, an interruption to pass on). A run that did not
    succeed keeps what it wrote (history, partial files) registered."""
    try:
        from core.training.reporters import Cancelled
    except Exception:  # noqa: BLE001 - reported as the failure below
        Cancelled = ()  # type: ignore[assignment]
    status, error, reraise = "failed", None, None
    try:
        if detail.kind not in job_kinds:
            raise ValueError(f"run {run_id} is a {detail.kind!r} run, which no worker runs; "
                             f"job kinds: {', '.join(job_kinds)}")
        runner = job_kinds[detail.kind].resolve()
        status, error = runner(store, run_id, detail, folder.path, flags, t_spawn)
    except StoreUnreachable as exc:  # the store stayed away longer than LAB_STORE_RETRY_SECONDS
        status, error = "interrupted", f"interrupted: {exc}; the worker stopped. Submit it again to retry."
    except Cancelled as exc:  # type: ignore[misc]
        if flags.interrupt and not flags.cancel:
            status, error = "interrupted", "interrupted: the lab was shut down while this run was training"
        else:
            status, error = "cancelled", str(exc) or "cancelled by the user"
    except BaseException as exc:  # noqa: BLE001 - everything else is a failure with its traceback
        status, error, reraise = _failure(store, run_id, folder, exc, flags)
    finally:
        if status != "succeeded":
            try:
                register_artifacts(store, run_id, folder.path)
            except Exception:  # noqa: BLE001
                pass
    return status, error, reraise


def _register_log(store, run_id: int, folder: RunFolder) -> None:
    if folder.has("log"):
        try:
            store.add_artifact(run_id, "log", folder.path_of("log"))
        except Exception:  # noqa: BLE001
            pass


def _note_outage(store: OutageTolerantStore, folder: RunFolder, exc: BaseException) -> None:
    """The store failed at the end: when it was unreachable, say so in the run folder, for the
    supervisor to record as the run's reason once the store is back."""
    if not isinstance(exc, StoreUnreachable):
        cause = connection_error(exc)
        if cause is None:
            return
        exc = StoreUnreachable(time.monotonic() - (store.down_since or time.monotonic()), store.last_error or str(cause))
    try:
        folder.write_json("store_outage", outage_note(exc))
    except OSError:
        traceback.print_exc()


def open_store_for_standby():
    """A standby's store, opened before it has a run (None: the run opens it, and says why it fails)."""
    from core.store import Store, StoreError

    try:
        return Store()
    except (StoreError, OSError):
        return None


def _run(run_id: int, flags: Flags, t_spawn: float | None, opened=None) -> int:
    from core.jobs.kinds import JOB_KINDS

    opened = opened if opened is not None else _open_store(run_id)
    if opened is None:
        return 4
    store = OutageTolerantStore(opened)  # a short outage of the store is waited out
    detail = store.get_run(run_id)
    if not _can_start(store, run_id, detail):
        store.close()
        return 0
    _record_where(store, run_id)
    folder = RunFolder(store.run_dir(run_id)).mkdir()
    stop = threading.Event()
    threading.Thread(target=_heartbeat, args=(store, run_id, stop), daemon=True).start()
    try:
        status, error, reraise = _execute(store, run_id, detail, folder, flags, t_spawn, JOB_KINDS)
        _register_log(store, run_id, folder)
        store.set_status(run_id, status, error)
        if reraise is not None:
            raise reraise
        return 0
    except Exception as exc:  # noqa: BLE001 - the store itself failed: the supervisor reports it
        traceback.print_exc()
        _note_outage(store, folder, exc)
        return 3
    finally:
        stop.set()
        store.close()


def lower_priority() -> None:
    """Training yields the CPU to the dashboard (``LAB_WORKER_NICE``, default 10): done by the worker
    itself, so that its supervisor starts it without running code between fork and exec."""
    try:
        os.nice(int(os.environ.get("LAB_WORKER_NICE", "10")))
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    """``python -m core.worker <run_id>`` (``--standby <supervisor id>``: ``core.jobs.warm_worker``)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m core.worker <run_id>  (or --standby <supervisor id>)", file=sys.stderr)
        return 2
    lower_priority()
    return run(int(argv[0]))


if __name__ == "__main__":
    sys.exit(main())
