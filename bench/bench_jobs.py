"""Job-manager overhead benchmark: prints numbers measured in one run (nothing is asserted).

The same short training (digits, small_cnn), each round both ways, both in a fresh process
(a worker process is always cold, so the plain script is too):
  (a) plain script: ``python -c "... core.training.engine.train(config, out_dir=...)"`` with no
      reporter and no store; it reports its own start-up (process start -> train call,
      TensorFlow import included) and the wall time of ``train()``;
  (b) through ``JobManager``: submit -> queued -> worker process (``python -m core.worker``)
      -> StoreReporter writing throttled batch progress and per-epoch metrics into a SQLite
      store -> succeeded. Its start-up (spawn -> train call, TF import included) is the
      run's ``worker_startup_s`` summary; submit -> succeeded comes from the store's
      created_at/finished_at.

Overhead beyond start-up = (job wall - job start-up - plain train() wall) / plain train()
wall. Goal: <= 5 %. The order alternates between rounds; the median is reported.
  (c) the store logging alone, in one warm process: train() with a StoreReporter (writing
      to the SQLite store) versus no reporter, alternating, ``--ab`` pairs; this isolates the
      reporter's cost from process-to-process noise.
The machine's load average is printed too: on a shared 2-core box numbers are noisy.

Executors (``--part executors``, issue 10): the same digits run through the job manager with
``LAB_EXECUTOR=local`` and ``ray`` (a local Ray cluster started here on 127.0.0.1 and stopped
at the end): submit -> first progress write / first batch / succeeded, Ray vs local; then 8
queued runs on a 2-node cluster (1 CPU each, so 2 at a time; PostgreSQL store from
``--database-url`` or LAB_TEST_POSTGRES_URL, else one 2-CPU node with SQLite) versus the
local executor one at a time. Ratios are printed from the one run.

Warm workers (``--part warm``): the quick start (digits, small_cnn, 1 epoch) through the local
executor, submit -> first training progress (the first epoch's batch progress in the store, not the
start-up messages) and submit -> succeeded, on a cold worker (``warm_workers=0``) and on a standby
worker that is ready (``warm_workers=1``), in the same run, rounds alternating. Goal: warm <= 2 s.

Usage:  python bench/bench_jobs.py [--epochs 5] [--repeat 3]
        python bench/bench_jobs.py --part executors [--epochs 1] [--runs 8] [--database-url URL]
        python bench/bench_jobs.py --part warm [--repeat 1]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PLAIN = r"""
import json, sys, time
t0 = time.time()
import keras, tensorflow
from core.training import TrainConfig, train
cfg = TrainConfig.from_dict(json.loads(sys.argv[1]))
t_import = time.time() - t0
t = time.time()
res = train(cfg, out_dir=sys.argv[2])
print("RESULT " + json.dumps({"import_s": t_import, "startup_s": t - float(sys.argv[3]),
                              "train_s": time.time() - t, "fit_s": res.train_time_s}))
"""


def plain_round(cfg_dict: dict, out_dir: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t = time.time()
    out = subprocess.run([sys.executable, "-c", PLAIN, json.dumps(cfg_dict), str(out_dir), repr(t)],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.time() - t
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if out.returncode != 0 or line is None:
        raise SystemExit(f"plain script failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return {**json.loads(line[7:]), "wall_s": wall}


def job_round(jm, store, cfg_dict: dict, name: str) -> dict:
    t_submit = time.time()
    rid = jm.submit(cfg_dict, name=name)
    first_write = None
    while True:
        r = store.get_run(rid)
        if first_write is None and r.progress_info.get("message"):
            first_write = time.time() - t_submit  # the worker's first write (before importing TF)
        if r.status in ("succeeded", "failed", "cancelled", "interrupted"):
            break
        time.sleep(0.5)  # a page polling the store (pages use 1.5 s)
    if r.status != "succeeded":
        raise SystemExit(f"job {rid} ended {r.status}: {r.error}")
    return {
        "wall_s": (r.finished_at - r.created_at).total_seconds(),
        "startup_s": r.summary["worker_startup_s"],
        "first_write_s": first_write or float("nan"),
        "fit_s": r.summary["train_time_s"],
        "metric_rows": len(store.get_metric_history(rid)),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=("overhead", "executors", "warm"), default="overhead")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--ab", type=int, default=3, help="pairs of in-process trainings for (c); 0 = skip")
    ap.add_argument("--runs", type=int, default=8, help="queued runs for the throughput part of --part executors")
    ap.add_argument("--database-url", default=os.environ.get("LAB_TEST_POSTGRES_URL", ""),
                    help="PostgreSQL URL for the two-node cluster (default LAB_TEST_POSTGRES_URL; none: SQLite, one node)")
    args = ap.parse_args()
    if args.part == "executors":
        bench_executors(args)
        return
    if args.part == "warm":
        bench_warm(args)
        return

    from core.jobs.manager import JobManager
    from core.store import Store
    from core.training.config import TrainConfig

    cfg = TrainConfig(dataset={"name": "digits", "params": {}}, model="small_cnn", epochs=args.epochs,
                      batch_size=args.batch_size, seed=0).validate()
    cfg_dict = cfg.to_dict()
    tmp = Path(tempfile.mkdtemp(prefix="bench_jobs_"))
    print(f"config: digits, small_cnn, {args.epochs} epochs, batch {args.batch_size}; folder {tmp}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    store = Store(f"sqlite:///{tmp / 'runs.db'}", models_dir=tmp / "models")
    jm = JobManager(store, store.models_dir).start()  # default supervisor poll (0.5 s)
    rounds = []
    try:
        for i in range(args.repeat):
            order = ("plain", "job") if i % 2 == 0 else ("job", "plain")
            res = {}
            for what in order:
                if what == "plain":
                    res["plain"] = plain_round(cfg_dict, tmp / f"plain_{i}")
                else:
                    res["job"] = job_round(jm, store, cfg_dict, f"bench {i}")
            p, j = res["plain"], res["job"]
            beyond = j["wall_s"] - j["startup_s"] - p["train_s"]
            res["overhead_pct"] = 100 * beyond / p["train_s"]
            res["fit_pct"] = 100 * (j["fit_s"] / p["fit_s"] - 1)
            rounds.append(res)
            print(f"round {i + 1} ({' then '.join(order)}; load {os.getloadavg()[0]:.1f}):\n"
                  f"  plain script: process {p['wall_s']:.2f} s = start-up {p['startup_s']:.2f} s "
                  f"(TF import {p['import_s']:.2f} s) + train() {p['train_s']:.2f} s (fit {p['fit_s']:.2f} s)\n"
                  f"  job:          submit -> succeeded {j['wall_s']:.2f} s = worker start-up {j['startup_s']:.2f} s "
                  f"(first progress write {j['first_write_s']:.2f} s after submit) + {j['wall_s'] - j['startup_s']:.2f} s "
                  f"(fit {j['fit_s']:.2f} s, {j['metric_rows']} metric rows)\n"
                  f"  overhead beyond start-up: {beyond:+.2f} s = {res['overhead_pct']:+.1f} %; "
                  f"fit time {res['fit_pct']:+.1f} %")
    finally:
        jm.shutdown()

    med = statistics.median
    ab = []
    if args.ab:
        from core.jobs.worker import StoreReporter
        from core.training.engine import train

        train(cfg, out_dir=tmp / "warmup")  # imports, tracing caches, dataset caches
        for i in range(args.ab):
            pair = {}
            for what in (("store", "none") if i % 2 == 0 else ("none", "store")):
                rep = None
                if what == "store":
                    rid = store.create_run(cfg_dict, name=f"ab {i}", status="running")
                    rep = StoreReporter(store, rid, epochs=cfg.epochs)
                t = time.perf_counter()
                train(cfg, out_dir=tmp / f"ab_{i}_{what}", reporter=rep)
                pair[what] = time.perf_counter() - t
            ab.append(100 * (pair["store"] / pair["none"] - 1))
            print(f"(c) pair {i + 1}: train() with StoreReporter {pair['store']:.2f} s, without {pair['none']:.2f} s "
                  f"-> {ab[-1]:+.1f} %")
    print()
    print(f"worker start-up (spawn -> train call, TF import included), median: "
          f"{med(r['job']['startup_s'] for r in rounds):.2f} s "
          f"(plain script start-up {med(r['plain']['startup_s'] for r in rounds):.2f} s)")
    print(f"first progress write after submit, median: {med(r['job']['first_write_s'] for r in rounds):.2f} s")
    print(f"model.fit time in the worker vs plain, median: {med(r['fit_pct'] for r in rounds):+.1f} %")
    print(f"overhead beyond start-up, median of {len(rounds)}: {med(r['overhead_pct'] for r in rounds):+.1f} %  "
          "(goal <= 5 %)")
    if ab:
        print(f"(c) store logging cost in one warm process, median of {len(ab)} pairs: {med(ab):+.1f} %")


# ---------------------------------------------------------------------- warm workers
def _first_progress(store, rid: int, t_submit: float) -> dict:
    """Poll the store (50 ms) like a page would: first training progress (a batch of epoch 1), end."""
    first = None
    while True:
        r = store.get_run(rid)
        if first is None and r.progress_info.get("batch"):
            first = time.time() - t_submit
        if r.status in ("succeeded", "failed", "cancelled", "interrupted"):
            break
        time.sleep(0.05)
    if r.status != "succeeded":
        raise SystemExit(f"run {rid} ended {r.status}: {r.error}")
    return {"first_progress_s": first or float("nan"), "wall_s": time.time() - t_submit,
            "worker": r.placement.get("worker"), "startup_s": r.summary.get("worker_startup_s", float("nan"))}


def _warm_round(store, cfg: dict, warm: int, name: str) -> dict:
    from core.jobs.manager import JobManager

    jm = JobManager(store, store.models_dir, poll_interval=0.5, warm_workers=warm).start()
    try:
        if warm:  # a standby that has finished importing, as after an idle minute on the dashboard
            deadline = time.time() + 300
            while not [s for s in jm.standby_workers() if s.state == "ready"]:
                if time.time() > deadline:
                    raise SystemExit("the standby worker was not ready within 300 s")
                time.sleep(0.2)
        t = time.time()
        return _first_progress(store, jm.submit(cfg, name=name), t)
    finally:
        jm.shutdown()


def bench_warm(args) -> None:
    from core.store import Store

    cfg = {"dataset": {"name": "digits", "params": {}}, "model": "small_cnn", "epochs": 1,
           "batch_size": args.batch_size, "seed": 0}
    tmp = Path(tempfile.mkdtemp(prefix="bench_warm_"))
    store = Store(f"sqlite:///{tmp / 'runs.db'}", models_dir=tmp / "models")
    print(f"config: digits, small_cnn, 1 epoch, batch {args.batch_size}; SQLite store in {tmp}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    res: dict[str, list[dict]] = {"cold": [], "warm": []}
    for i in range(args.repeat):
        for what in (("cold", "warm") if i % 2 == 0 else ("warm", "cold")):
            r = _warm_round(store, cfg, 1 if what == "warm" else 0, f"{what} {i}")
            res[what].append(r)
            print(f"round {i + 1}, {what} worker ({r['worker']}; load {os.getloadavg()[0]:.1f}): first training "
                  f"progress {r['first_progress_s']:.2f} s after submit, start-up {r['startup_s']:.2f} s, "
                  f"succeeded {r['wall_s']:.2f} s")
    store.close()
    med = statistics.median
    c, w = (med(r["first_progress_s"] for r in res[k]) for k in ("cold", "warm"))
    print(f"\nsubmit -> first training progress, median: cold {c:.2f} s, warm {w:.2f} s "
          f"(x{c / w:.1f} faster; goal warm <= 2 s)")


# ---------------------------------------------------------------------- executors (issue 10)
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_cluster(two_nodes: bool, temp: str) -> str:
    """A local Ray cluster on 127.0.0.1 (``ray stop --force`` ends it); returns the dashboard address."""
    ray = str(Path(sys.executable).with_name("ray"))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    port, dash = _free_port(), _free_port()
    common = ["--node-ip-address=127.0.0.1", "--num-gpus=0", "--disable-usage-stats"]
    subprocess.run([ray, "start", "--head", f"--port={port}", "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}",
                    f"--num-cpus={1 if two_nodes else 2}", f"--dashboard-agent-listen-port={_free_port()}",
                    f"--temp-dir={temp}", *common],
                   env=env, check=True, capture_output=True)
    if two_nodes:
        subprocess.run([ray, "start", f"--address=127.0.0.1:{port}", "--num-cpus=1",
                        f"--dashboard-agent-listen-port={_free_port()}", *common], env=env, check=True, capture_output=True)
    return f"http://127.0.0.1:{dash}"


def _wait_all(store, ids: list[int], t_submit: float) -> dict:
    """Poll like a page (0.2 s) until every run has ended; first write / first batch of the first run."""
    first_write = first_batch = None
    while True:
        runs = [store.get_run(i) for i in ids]
        info = runs[0].progress_info
        if first_write is None and info.get("message"):
            first_write = time.time() - t_submit
        if first_batch is None and info.get("batch"):
            first_batch = time.time() - t_submit
        if all(r.status in ("succeeded", "failed", "cancelled", "interrupted") for r in runs):
            break
        time.sleep(0.2)
    bad = [f"{r.id} {r.status}: {r.error}" for r in runs if r.status != "succeeded"]
    if bad:
        raise SystemExit("runs did not succeed: " + "; ".join(bad))
    return {"wall_s": time.time() - t_submit, "first_write_s": first_write or float("nan"),
            "first_batch_s": first_batch or float("nan"),
            "nodes": len({r.placement.get("node_id") or r.placement.get("node") for r in runs})}


def _through(executor, store_url: str, folder: Path, cfg: dict, n: int, max_concurrent: int, address=None) -> dict:
    from core.jobs.manager import JobManager
    from core.store import Store

    store = Store(store_url, models_dir=folder / "models")
    ex = executor
    if executor == "ray":
        from core.jobs.executors.ray_jobs import RayExecutor

        ex = RayExecutor(store=store, models_dir=store.models_dir, address=address)
    jm = JobManager(store, store.models_dir, max_concurrent=max_concurrent, poll_interval=0.2, executor=ex).start()
    try:
        t = time.time()
        ids = [jm.submit(dict(cfg, seed=i), name=f"bench {executor} {i}") for i in range(n)]
        return _wait_all(store, ids, t)
    finally:
        jm.shutdown()
        store.close()


def bench_executors(args) -> None:
    cfg = {"dataset": {"name": "digits", "params": {}}, "model": "small_cnn", "epochs": args.epochs,
           "batch_size": args.batch_size, "seed": 0}
    pg = args.database_url.strip()
    tmp = Path(tempfile.mkdtemp(prefix="bench_exec_"))
    print(f"config: digits, small_cnn, {args.epochs} epoch(s), batch {args.batch_size}; store "
          f"{'PostgreSQL' if pg else 'SQLite'}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    def url(tag: str) -> str:
        if not pg:
            return f"sqlite:///{tmp / tag}.db"
        import sqlalchemy as sa

        base = sa.make_url(pg)
        name = f"bench_{tag}_{os.getpid()}"
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        created.append(name)
        return base.set(database=name).render_as_string(hide_password=False)

    def drop_databases() -> None:
        if not created:
            return
        import sqlalchemy as sa

        admin = sa.create_engine(sa.make_url(pg), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in created:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    created: list[str] = []

    t = time.time()
    ray_temp = tempfile.mkdtemp(prefix="rb", dir="/tmp")  # short: Ray's socket paths have a length limit
    address = start_cluster(two_nodes=bool(pg), temp=ray_temp)
    print(f"Ray cluster ({'2 nodes x 1 CPU' if pg else '1 node x 2 CPUs'}) started in {time.time() - t:.1f} s")
    try:
        one = {}
        for what in ("local", "ray"):  # latency: one run, nothing else queued
            one[what] = _through(what, url(f"one_{what}"), tmp / f"one_{what}", cfg, 1, 1, address)
            print(f"one run, {what}: first progress write {one[what]['first_write_s']:.2f} s, first batch "
                  f"{one[what]['first_batch_s']:.2f} s, submit -> succeeded {one[what]['wall_s']:.2f} s")
        many = {"local": _through("local", url("many_local"), tmp / "many_local", cfg, args.runs, 1),
                "ray": _through("ray", url("many_ray"), tmp / "many_ray", cfg, args.runs, 8, address)}
        for what, r in many.items():
            print(f"{args.runs} queued runs, {what}: {r['wall_s']:.2f} s on {r['nodes']} node(s) "
                  f"= {args.runs / r['wall_s'] * 60:.2f} runs/min")
    finally:
        subprocess.run([str(Path(sys.executable).with_name("ray")), "stop", "--force"], capture_output=True)
        import shutil

        shutil.rmtree(ray_temp, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
        drop_databases()
    print()
    print(f"Ray / local, one run: first progress write x{one['ray']['first_write_s'] / one['local']['first_write_s']:.2f}, "
          f"first batch x{one['ray']['first_batch_s'] / one['local']['first_batch_s']:.2f}, "
          f"total x{one['ray']['wall_s'] / one['local']['wall_s']:.2f}  (goal <= 1.2)")
    print(f"throughput, {args.runs} runs, Ray cluster vs local one at a time: "
          f"x{many['local']['wall_s'] / many['ray']['wall_s']:.2f}  (goal >= 1.3)")


if __name__ == "__main__":
    main()
