"""The ``ray`` executor: each run is one Ray job (Ray's Jobs API, ``JobSubmissionClient``).

* submission id ``lab-<store>-run-<id>``: derived from the run id (and a short hash of the
  store's URL, so that two stores sharing one cluster never collide), recorded in the run's
  placement; a restarted supervisor re-attaches to the job by it.
* entrypoint ``cd <project> && <interpreter> -m core.worker <id>`` with the project's own
  interpreter and folder on the node: nothing is installed or uploaded at run time (nodes
  may be offline); ``runtime_env`` only carries environment variables (the store's URL, the
  models folder). Every node therefore needs the project at the same path, a store it
  reaches (PostgreSQL) and the models folder on a shared mount.
* ``entrypoint_num_cpus`` = ``LAB_RAY_CPUS_PER_RUN`` (default 1; TensorFlow in the worker
  then uses that many threads) and ``entrypoint_num_gpus`` = the run's ``gpus``: Ray places
  the job on a node with those free (and sets ``CUDA_VISIBLE_DEVICES`` for it).
* cancel: the store's cancel flag (the worker stops within a batch), ``stop_job`` after the
  manager's grace period; shutdown: ``stop_job`` (SIGTERM: the worker ends ``interrupted``).
* a job that ended without the worker writing a status: ``failed`` with Ray's status and the
  job's log (``get_job_logs``) saved as the run's ``worker.log``; a job the cluster no longer
  knows (the cluster was restarted): ``interrupted``.
* a cluster that does not answer (stopped, network down): every call to it has a short timeout
  (``REQUEST_TIMEOUT_S``) and a failed one is not retried within ``RETRY_S``, so a dead cluster
  never holds the supervisor up. A running run's placement then records since when
  (``cluster_unreachable_since``: the pages and ``jobs status`` say its state is unknown); it is
  cleared when the cluster answers again, and after ``LAB_RAY_GRACE_SECONDS`` (default 180) the
  run ends ``interrupted`` ("the Ray cluster at ADDR was unreachable for N s").
"""
from __future__ import annotations

import hashlib
import logging
import os
import shlex
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from core.jobs.executors.base import (
    PROJECT_ROOT,
    UNREACHABLE_GRACE,
    UNREACHABLE_SINCE,
    ExecutorError,
    ExecutorUnavailable,
    Exit,
    Handle,
    Reattach,
    ray_address,
    run_gpus,
    worker_env,
)
from core.store.artifacts import RunFolder
from core.validation import LabError

log = logging.getLogger(__name__)

INSTALL_HINT = ("LAB_EXECUTOR=ray needs Ray's job client, which is not installed in this environment. "
                "Install it with `pip install -r requirements-ray.txt` (ray[default]), or unset LAB_EXECUTOR "
                "to run jobs on this machine.")
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
FORWARDED_ENV = ("LAB_", "TF_")  # the lab's settings (data roots, datasets) reach the worker on the node
NOT_FORWARDED = {"LAB_EXECUTOR", "LAB_RAY_ADDRESS", "LAB_GPUS", "LAB_DATABASE_URL", "LAB_MODELS_DIR"}
REQUEST_TIMEOUT_S = (3.0, 10.0)  # connect, read: each call to the cluster's dashboard
RETRY_S = 2.0                    # after an unanswered call, ask the cluster again only this much later
DEFAULT_GRACE_S = 180.0          # LAB_RAY_GRACE_SECONDS: how long a run's cluster may not answer
STORE_ERRORS = (LabError, SQLAlchemyError, OSError)


def _import_client():
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError as exc:
        raise ExecutorError(f"{INSTALL_HINT} ({exc})") from None

    class Client(JobSubmissionClient):
        """Ray's job client with a timeout on every request (Ray's own has none: a cluster that
        went silent would hold the supervisor for as long as TCP waits)."""

        def _do_request(self, method, endpoint, **kwargs):
            kwargs.setdefault("timeout", REQUEST_TIMEOUT_S)
            return super()._do_request(method, endpoint, **kwargs)

    return Client


def _env_number(name: str, default: float, low: float, high: float, what: str) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return float(default)
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise ExecutorError(f"{name} must be {what} from {low:g} to {high:g}. Got {raw!r} instead.")
    return value


def _not_found(exc: Exception) -> bool:
    text = str(exc)
    return "404" in text or "does not exist" in text


class RayExecutor:
    name = "ray"

    def __init__(self, *, store=None, models_dir: Path | None = None, python: str | None = None,
                 address: str | None = None, check_every_s: float = 10.0, cpus_per_run: float | None = None,
                 grace_s: float | None = None):
        """``grace_s`` (None: ``LAB_RAY_GRACE_SECONDS``, default 180): how long a running run's
        cluster may not answer before the run ends ``interrupted``."""
        import sys

        self._client_cls = _import_client()
        self.store = store
        self.models_dir = Path(models_dir) if models_dir is not None else None
        self.python = python or sys.executable
        self.address = ray_address(address)
        self.check_every_s = float(check_every_s)
        if cpus_per_run is None:
            cpus_per_run = _env_number("LAB_RAY_CPUS_PER_RUN", 1.0, 0.1, 1024, "a number of CPUs")
        self.cpus_per_run = float(cpus_per_run)
        if grace_s is None:
            grace_s = _env_number("LAB_RAY_GRACE_SECONDS", DEFAULT_GRACE_S, 1, 86_400, "a number of seconds")
        self.grace_s = float(grace_s)
        self.reachable: bool | None = None  # did the cluster answer the last call (None: not asked yet)
        self._failed_at: float | None = None
        self._failure: ExecutorUnavailable | None = None
        self._client = None
        self._checked_at = 0.0
        self._nodes: dict[str, dict] = {}
        token = hashlib.sha1((store.full_url if store is not None else "").encode()).hexdigest()[:8]
        self._prefix = f"lab-{token}-run-"

    def describe(self) -> str:
        return f"ray ({self.address})"

    def submission_id(self, run_id: int) -> str:
        return f"{self._prefix}{int(run_id)}"

    def _unreachable(self, exc: BaseException) -> ExecutorUnavailable:
        return ExecutorUnavailable(
            f"Cannot reach the Ray cluster at {self.address} ({type(exc).__name__}: {exc}). Start it "
            "(`ray start --head --dashboard-host=0.0.0.0`) or set LAB_RAY_ADDRESS to its dashboard address "
            "(http://<head>:8265); queued runs stay queued until it is reachable.")

    @property
    def client(self):
        if self._client is None:
            try:
                self._client = self._client_cls(self.address)
            except (OSError, RuntimeError, ValueError) as exc:  # ConnectionError is an OSError
                raise self._unreachable(exc) from None
        return self._client

    # ------------------------------------------------------------------ cluster state
    def nodes(self) -> dict[str, dict]:
        """Alive nodes by node id: ip, head or not, total CPUs and GPUs (Ray's state API)."""
        from ray.util.state import list_nodes

        try:
            found = list_nodes(address=self.address, filters=[("state", "=", "ALIVE")], timeout=5)
        except Exception as exc:  # noqa: BLE001 - the state API raises its own error types for HTTP failures
            raise self._unreachable(exc) from None
        out = {}
        for n in found:
            res = dict(n.resources_total or {})
            out[n.node_id] = {"node_id": n.node_id, "ip": n.node_ip, "head": bool(n.is_head_node),
                              "name": n.node_name, "cpus": float(res.get("CPU", 0)), "gpus": float(res.get("GPU", 0))}
        self._nodes = out
        return out

    def check(self) -> None:
        """The cluster is reachable and shares the store safely (cached ``check_every_s``)."""
        if time.monotonic() - self._checked_at < self.check_every_s:
            return
        self._recently_failed()
        try:
            self.client  # noqa: B018 - connects (version check) or raises the unreachable message
            nodes = self.nodes()
        except ExecutorUnavailable as exc:
            raise self._failed(exc) from None
        self._answered()
        if self.store is not None and self.store.url.startswith("sqlite") and len(nodes) > 1:
            raise ExecutorError(
                f"The Ray cluster at {self.address} has {len(nodes)} nodes but the run store is a SQLite file "
                f"({self.store.url}), which only this machine can open: workers on other nodes could not report. "
                "Use a PostgreSQL store every node reaches (LAB_DATABASE_URL=postgresql+psycopg://...) and a "
                "models folder on a shared mount (LAB_MODELS_DIR). SQLite is allowed with a single-node cluster.")
        self._checked_at = time.monotonic()

    def fits(self, config: dict, active: list[Handle], max_concurrent: int) -> bool:
        """Ray schedules on the cluster; the manager bounds how many jobs it has submitted."""
        return len(active) < max_concurrent

    # ------------------------------------------------------------------ launching
    def launch(self, run_id: int, config: dict, active: list[Handle]) -> Handle:
        sid = self.submission_id(run_id)
        gpus = run_gpus(config)
        self.models_dir.mkdir(parents=True, exist_ok=True)
        forwarded = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV) and k not in NOT_FORWARDED}
        env = worker_env(self.store, self.models_dir, self.name,
                         {**forwarded, "LAB_WORKER_CPUS": f"{self.cpus_per_run:g}"})
        entry = f"cd {shlex.quote(str(PROJECT_ROOT))} && exec {shlex.quote(self.python)} -m core.worker {int(run_id)}"
        kwargs = dict(entrypoint=entry, submission_id=sid, runtime_env={"env_vars": env},
                      entrypoint_num_cpus=self.cpus_per_run, metadata={"lab_run_id": str(run_id)})
        if gpus:
            kwargs["entrypoint_num_gpus"] = gpus
        try:
            try:
                self.client.submit_job(**kwargs)
            except RuntimeError as exc:
                if "already exists" not in str(exc):
                    raise ExecutorError(f"Ray refused job {sid}: {exc}") from None
                status = str(self.client.get_job_status(sid).value)
                if status not in TERMINAL:  # ours, submitted before a crash: watch it
                    return Handle(run_id, self.name, time.time(), ref=sid, cpus=self.cpus_per_run)
                self.client.delete_job(sid)  # a finished job of an earlier store with the same ids
                self.client.submit_job(**kwargs)
        except OSError as exc:
            self._client, self._checked_at = None, 0.0
            raise self._unreachable(exc) from None
        return Handle(run_id, self.name, time.time(), ref=sid, cpus=self.cpus_per_run,
                      gpus=tuple(str(i) for i in range(gpus)))

    def placement(self, h: Handle) -> dict | None:
        """Where the job runs (node id and address) once Ray has placed it; None before (or while
        the cluster does not answer)."""
        try:
            self._recently_failed()
            info = self.client.get_job_info(h.ref)
        except (OSError, RuntimeError):
            return None
        node_id = getattr(info, "driver_node_id", None)
        if not node_id:
            return None
        node = self._nodes.get(node_id)
        if node is None:
            try:
                node = self.nodes().get(node_id, {})
            except ExecutorError:
                node = {}
        return {"executor": self.name, "submission_id": h.ref, "node_id": node_id, "node": node.get("ip"),
                "ray_address": self.address, "cpus": h.cpus, "gpus": len(h.gpus) or None}

    # ------------------------------------------------------------------ watching, signalling
    def poll(self, h: Handle, *, wait: float = 0.0) -> Exit | None:
        """None while the job is pending or running, or while the cluster has not answered for
        less than ``grace_s`` (the run's placement says since when); then ``interrupted``."""
        try:
            status = self._job_status(h.ref)
        except ExecutorUnavailable:
            return self._unanswered(h)
        except RuntimeError:  # a 404: the cluster answered, without the job
            return Exit(None, f"the Ray cluster at {self.address} no longer knows job {h.ref} "
                              "(the cluster was restarted while this run was training)", status="interrupted")
        if h.unreachable_since is not None:
            log.info("the Ray cluster at %s answers again: run %s is %s", self.address, h.run_id, status)
            h.unreachable_since = None
            self._note(h.run_id, **{UNREACHABLE_SINCE: None, UNREACHABLE_GRACE: None})
        if status not in TERMINAL:
            return None
        return self._ended(h, status)

    # ------------------------------------------------------------------ a cluster that does not answer
    def _recently_failed(self) -> None:
        """Raise the last failure again while it is younger than ``RETRY_S``: one unanswered
        cluster costs one timeout per round of polls, not one per run."""
        if self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_S:
            raise self._failure

    def _failed(self, exc: ExecutorUnavailable) -> ExecutorUnavailable:
        self._failed_at, self._failure, self.reachable = time.monotonic(), exc, False
        return exc

    def _answered(self) -> None:
        self._failed_at, self._failure, self.reachable = None, None, True

    def _job_status(self, sid: str) -> str:
        """Ray's status of job ``sid``. ExecutorUnavailable when the cluster does not answer (or
        answers with a server error); RuntimeError when it does not know the job."""
        self._recently_failed()
        try:
            status = str(self.client.get_job_status(sid).value)
        except ExecutorUnavailable as exc:
            raise self._failed(exc) from None
        except OSError as exc:  # requests' ConnectionError and Timeout are OSErrors
            self._client = None
            raise self._failed(self._unreachable(exc)) from None
        except RuntimeError as exc:
            if _not_found(exc):
                self._answered()
                raise
            raise self._failed(self._unreachable(exc)) from None
        self._answered()
        return status

    def _unanswered(self, h: Handle) -> Exit | None:
        now = time.time()
        if h.unreachable_since is None:
            h.unreachable_since = now
            log.warning("the Ray cluster at %s does not answer: the state of run %s is unknown; it ends interrupted "
                        "if the cluster is not back within %g s", self.address, h.run_id, self.grace_s)
            self._note(h.run_id, **{UNREACHABLE_SINCE: datetime.fromtimestamp(now, UTC).isoformat(),
                                    UNREACHABLE_GRACE: self.grace_s, "ray_address": self.address})
        down_s = now - h.unreachable_since
        if down_s < self.grace_s:
            return None
        return Exit(None, self._gone_reason(down_s), status="interrupted")

    def _gone_reason(self, down_s: float) -> str:
        return f"the Ray cluster at {self.address} was unreachable for {down_s:.0f} s"

    def _note(self, run_id: int, **info) -> None:
        """Merge ``info`` into the run's placement (where the status readers see it)."""
        if self.store is None:
            return
        try:
            self.store.set_placement(run_id, **info)
        except STORE_ERRORS as exc:
            log.warning("could not record the Ray cluster's state on run %s: %s", run_id, exc)

    def _ended(self, h: Handle, status: str) -> Exit:
        message, rc = "", None
        try:
            info = self.client.get_job_info(h.ref)
            message, rc = info.message or "", getattr(info, "driver_exit_code", None)
        except (OSError, RuntimeError):
            pass
        try:
            logs = self.client.get_job_logs(h.ref)
        except (OSError, RuntimeError) as exc:
            logs = f"(the job's log could not be read from Ray: {exc})\n"
        if self.models_dir is not None:
            out = self.models_dir / str(h.run_id)
            try:
                out.mkdir(parents=True, exist_ok=True)
                RunFolder(out).write_text("log", logs)
            except OSError:
                log.warning("could not write the Ray log of run %s", h.run_id)
        reason = f"Ray job {h.ref} ended {status}" + (f": {message}" if message else "")
        if rc is not None:
            reason += f" (exit code {rc})"
        return Exit(rc, reason + ", without the worker reporting a result", info={"ray_status": status})

    def _stop(self, h: Handle) -> None:
        try:
            self.client.stop_job(h.ref)
        except (OSError, RuntimeError, ExecutorError) as exc:
            log.warning("could not stop Ray job %s: %s", h.ref, exc)

    def cancel(self, h: Handle) -> None:
        """Nothing to send: the worker reads the store's cancel flag every second."""

    def interrupt(self, h: Handle) -> None:
        self._stop(h)  # SIGTERM to the worker: it ends ``interrupted``

    def kill(self, h: Handle) -> None:
        self._stop(h)

    def release(self, h: Handle) -> None:
        """Nothing held locally: the job goes on, a later supervisor re-attaches by its id."""

    # ------------------------------------------------------------------ recovery
    def reattach(self, r, stale_s: float) -> Reattach:
        sid = (r.placement or {}).get("submission_id") or self.submission_id(r.id)
        try:
            status = self._job_status(sid)
        except ExecutorUnavailable:
            return self._reattach_unanswered(r)
        except RuntimeError:
            return Reattach("gone", why=f"the Ray cluster at {self.address} no longer knows its job {sid} "
                                        "(the cluster was restarted)")
        if (r.placement or {}).get(UNREACHABLE_SINCE):
            self._note(r.id, **{UNREACHABLE_SINCE: None, UNREACHABLE_GRACE: None})
        gpus = (r.placement or {}).get("gpus") or 0
        h = Handle(r.id, self.name, time.time(), ref=sid, cpus=self.cpus_per_run,
                   gpus=tuple(str(i) for i in range(int(gpus))), placement_done=bool((r.placement or {}).get("node_id")))
        return Reattach("adopt", h, why=status)

    def _reattach_unanswered(self, r) -> Reattach:
        """A run left by a gone supervisor while its cluster does not answer: left alone (its
        placement says since when), ``gone`` once that is ``grace_s`` ago."""
        raw = (r.placement or {}).get(UNREACHABLE_SINCE)
        try:
            since = datetime.fromisoformat(raw).timestamp() if raw else None
        except (TypeError, ValueError):
            since = None
        if since is None:
            self._note(r.id, **{UNREACHABLE_SINCE: datetime.now(UTC).isoformat(), UNREACHABLE_GRACE: self.grace_s,
                                "ray_address": self.address})
            return Reattach("leave", why="the Ray cluster is unreachable")
        if time.time() - since < self.grace_s:
            return Reattach("leave", why="the Ray cluster is unreachable")
        return Reattach("gone", why=self._gone_reason(time.time() - since))

    # ------------------------------------------------------------------ dashboard
    def cluster_summary(self) -> dict:
        """Nodes with CPUs/GPUs total, used (by the lab's and other running jobs) and free, and
        the jobs running on each; raises ExecutorError when the cluster cannot be reached."""
        nodes = self.nodes()
        try:
            jobs = self.client.list_jobs()
        except (OSError, RuntimeError) as exc:
            raise self._unreachable(exc) from None
        rows = {nid: {**n, "cpus_used": 0.0, "gpus_used": 0.0, "jobs": []} for nid, n in nodes.items()}
        for j in jobs:
            status = str(getattr(j.status, "value", j.status))
            if status not in ("RUNNING", "PENDING") or j.driver_node_id not in rows:
                continue
            row = rows[j.driver_node_id]
            row["cpus_used"] += float(j.entrypoint_num_cpus or 0)
            row["gpus_used"] += float(j.entrypoint_num_gpus or 0)
            row["jobs"].append(j.submission_id)
        for row in rows.values():
            row["cpus_free"] = max(0.0, row["cpus"] - row["cpus_used"])
            row["gpus_free"] = max(0.0, row["gpus"] - row["gpus_used"])
        return {"address": self.address, "nodes": list(rows.values())}
