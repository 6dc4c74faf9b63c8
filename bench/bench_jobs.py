"""Job-manager overhead benchmark: prints numbers measured in one run (nothing is asserted).

The same short training (digits, small_cnn), each round both ways, both in a fresh process
(a worker process is always cold, so the plain script is too):
  (a) plain script: ``python -c "... core.training.train(config, out_dir=...)"`` with no
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

Usage:  python bench/bench_jobs.py [--epochs 5] [--repeat 3]
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
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--ab", type=int, default=3, help="pairs of in-process trainings for (c); 0 = skip")
    args = ap.parse_args()

    from core.jobs import JobManager
    from core.store import Store
    from core.training import TrainConfig

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
        from core.training import train
        from core.worker import StoreReporter

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


if __name__ == "__main__":
    main()
