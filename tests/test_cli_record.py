"""``python -m core train`` records a first-class run (real subprocesses, a real SQLite store,
real digits training): the same folder, artifacts, metrics, summary and status as a run of the
job worker, visible on Runs and Compare and usable on Predict; ``runs list`` / ``runs show``;
a bad store fails in seconds; failure and Ctrl-C never leave a run ``running``."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab_pages_support import digit_png, lab_environ, wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
# a quick real run: 30 images per class, one epoch (a few seconds of training)
TRAIN_ARGS = ["--dataset", "digits", "--dataset-param", "max_per_class=30", "--model", "small_cnn",
              "--epochs", "1", "--batch-size", "32"]
QUICK = {"dataset": {"name": "digits", "params": {"max_per_class": 30}}, "model": "small_cnn", "epochs": 1,
         "batch_size": 32}


def _env(root: Path, **extra) -> dict:
    return {**os.environ, **lab_environ(root), "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT), **extra}


def _cli(root: Path, *args, timeout=600, **extra):
    return subprocess.run([sys.executable, "-m", "core", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          env=_env(root, **extra), timeout=timeout)


def _store(root: Path):
    from core.store import Store

    env = lab_environ(root)
    return Store(env["LAB_DATABASE_URL"], models_dir=env["LAB_MODELS_DIR"])


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """One run trained by ``python -m core train`` (recording is the default) and the same
    config trained by the job worker, in one store."""
    root = tmp_path_factory.mktemp("cli_record")
    p = _cli(root, "train", *TRAIN_ARGS, "--name", "cli digits")
    assert p.returncode == 0, p.stderr[-3000:]
    store = _store(root)
    runs, _ = store.list_runs(limit=None)
    assert len(runs) == 1
    cli_id = runs[0].id
    # the same config through the dashboard's path: JobManager.submit, then the job worker's code
    # (in this process: saves a TensorFlow start)
    from core.jobs import worker
    from core.jobs.manager import JobManager

    worker_id = JobManager(store).submit(QUICK, name="worker digits")
    mp = pytest.MonkeyPatch()
    for k, v in lab_environ(root).items():
        mp.setenv(k, v)
    try:
        assert worker.run(worker_id) == 0
    finally:
        mp.undo()
    yield {"root": root, "cli": cli_id, "worker": worker_id, "stdout": p.stdout, "stderr": p.stderr, "store": store}
    store.close()


def test_cli_run_is_a_first_class_run_like_a_worker_run(recorded):
    store = recorded["store"]
    cli, wrk = store.get_run(recorded["cli"]), store.get_run(recorded["worker"])
    assert wrk.status == "succeeded", wrk.error
    assert cli.status == "succeeded" and cli.error is None and cli.progress == 1.0
    assert cli.kind == "train" and cli.name == "cli digits" and cli.dataset == "digits" and cli.model == "small_cnn"
    assert cli.finished_at is not None and cli.duration_s > 0 and cli.pid and cli.host
    assert f"Recorded as run {cli.id}" in recorded["stdout"]
    # the same folder layout: LAB_MODELS_DIR/<id>, with the same artifact files registered
    assert all(a.path.parent == store.run_dir(cli.id) and a.exists for a in cli.artifacts)
    kinds = lambda r: sorted(a.kind for a in r.artifacts if a.kind not in ("log",))  # worker.log: a worker's own
    assert kinds(cli) == kinds(wrk) and "model" in kinds(cli)
    # the same summary metrics (the worker adds its start-up time), per-epoch metrics and params
    assert set(cli.summary) == set(wrk.summary) - {"worker_startup_s"}
    assert {"accuracy", "macro_f1", "params_trainable", "train_time_s", "best_epoch"} <= set(cli.summary)
    assert cli.metric_keys == wrk.metric_keys and "val_loss" in cli.metric_keys
    assert set(cli.params) == set(wrk.params) and json.loads(cli.params["epochs"]) == 1
    hist = store.get_metric_history(cli.id)
    assert len(hist) >= 1
    assert cli.config["dataset"]["params"]["max_per_class"] == 30
    # what the pages list: Runs (all), Compare and Predict (succeeded training runs)
    ids, _ = store.list_runs(status="succeeded", kind="train", limit=100)
    assert cli.id in {r.id for r in ids}


def test_cli_run_opens_on_runs_compare_and_predicts(recorded, monkeypatch):
    from streamlit.testing.v1 import AppTest

    for k, v in lab_environ(recorded["root"]).items():
        monkeypatch.setenv(k, v)
    rid = recorded["cli"]

    def page(name, query):
        at = AppTest.from_file(APP, default_timeout=120)
        at.query_params.update(query)
        at.run()
        at.switch_page(f"pages/{name}.py").run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    try:
        at = page("runs", {"run": str(rid)})
        assert any(f"Run #{rid}" in t.value for t in at.title)
        assert [m.label for m in at.metric][:1] == ["Accuracy"]
        at = page("compare", {})
        assert any(o.startswith(f"#{rid} · cli digits") for o in at.multiselect(key="c_runs").options)
        at = page("predict", {"run": str(rid)})
        assert at.selectbox(key="p_run").value == rid
        data, _ = digit_png(0)
        at.file_uploader(key="p_files").set_value(("digit.png", data, "image/png")).run()
        assert not at.exception and not at.error, [e.value for e in list(at.exception) + list(at.error)]
        assert any("Prediction:" in m.value for m in at.markdown)
    finally:
        from pages import _resources

        _resources.shutdown_job_managers()


def test_runs_list_and_show(recorded, monkeypatch, capsys):
    from core.cli.main import main

    for k, v in lab_environ(recorded["root"]).items():
        monkeypatch.setenv(k, v)
    cli, wrk = recorded["cli"], recorded["worker"]

    def run(*args):
        rc = main(list(map(str, args)))
        out, err = capsys.readouterr()
        return rc, out, err

    rc, out, err = run("runs", "list")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["id", "status", "kind", "name"] and "accuracy" in lines[0]
    assert [ln.split()[0] for ln in lines[1:3]] == [str(wrk), str(cli)]  # newest first
    assert "cli digits" in out and "succeeded" in out

    assert run("runs", "list", "--status", "failed")[1].strip() == "No runs match."
    rows = json.loads(run("runs", "list", "--dataset", "digits", "--limit", "1", "--json")[1])
    assert [r["id"] for r in rows] == [wrk] and rows[0]["summary"]["accuracy"] >= 0
    assert "(1 of 2 runs shown" in run("runs", "list", "--limit", "1")[1]
    assert [r["id"] for r in json.loads(run("runs", "list", "--tag", "source=cli", "--json")[1])] == [cli]
    rc, out, err = run("runs", "list", "--status", "done")
    assert rc == 2 and "--status must be one of queued, running, succeeded" in err

    rc, out, err = run("runs", "show", cli)
    assert rc == 0, err
    assert out.startswith(f"Run {cli}: cli digits") and "succeeded" in out
    assert "model.keras" in out and "Summary:" in out and "source=cli" in out
    d = json.loads(run("runs", "show", cli, "--json")[1])
    assert d["id"] == cli and d["status"] == "succeeded" and d["config"]["model"] == "small_cnn"
    assert {a["kind"] for a in d["artifacts"]} >= {"model", "evaluation", "history"}
    assert all(a["exists"] for a in d["artifacts"])
    rc, out, err = run("runs", "show", "9999")
    assert rc == 2 and "Run 9999 does not exist" in err and "Traceback" not in err


@pytest.mark.parametrize("url, words", [
    ("sqlite:////nonexistent-lab-folder/sub/runs.db", "the folder /nonexistent-lab-folder/sub does not exist"),
    ("postgresql+psycopg://lab:secret@127.0.0.1:1/lab", "Cannot open the run store postgresql+psycopg://lab:***@"),
    ("mysql://x", "Cannot open the run store"),
])
def test_a_bad_store_fails_in_seconds_before_training(tmp_path, url, words):
    t0 = time.monotonic()
    p = _cli(tmp_path, "train", *TRAIN_ARGS, LAB_DATABASE_URL=url, timeout=120)
    took = time.monotonic() - t0
    assert p.returncode == 2, p.stderr[-2000:]
    assert words in p.stderr and "--no-record" in p.stderr and "Traceback" not in p.stderr
    assert "secret" not in p.stderr
    assert "epoch 1" not in p.stderr  # nothing was trained
    assert not (tmp_path / "trained_models").exists()
    assert took < 30, f"took {took:.1f}s"  # no TensorFlow start, no data loading (about 2 s here)


def test_a_failing_run_ends_failed_not_running(tmp_path):
    """A run that fails once it has started (here: its folder exists, so it passes the checks made
    before a run is recorded, but holds no images) ends failed with its traceback."""
    missing = tmp_path / "no_images_here"
    missing.mkdir()
    p = _cli(tmp_path, "train", "--dataset", "image_folder", "--dataset-param", f"path={missing}", "--epochs", "1")
    assert p.returncode == 2, p.stderr[-3000:]
    assert "Traceback" not in p.stderr and "error:" in p.stderr
    store = _store(tmp_path)
    try:
        runs, total = store.list_runs(limit=None)
        assert total == 1
        r = store.get_run(runs[0].id)
        assert r.status == "failed" and r.finished_at is not None
        assert str(missing) in r.error
        assert any(a.kind == "traceback" and a.exists for a in r.artifacts)
    finally:
        store.close()


def test_ctrl_c_ends_the_run_cancelled(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "core", "train", "--dataset", "digits", "--model", "small_cnn",
                             "--dataset-param", "max_per_class=40", "--epochs", "500", "--batch-size", "16",
                             "--name", "long"],
                            cwd=ROOT, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        store = None

        def training():
            nonlocal store
            if store is None and (tmp_path / "runs.db").exists():
                store = _store(tmp_path)
            if store is None:
                return False
            runs, _ = store.list_runs(limit=1)
            return bool(runs) and runs[0].progress_info.get("epoch", 0) >= 2  # one epoch done

        wait_for(training, timeout=300, what="the CLI run to report training progress")
        proc.send_signal(signal.SIGINT)  # what Ctrl-C in a terminal sends
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err[-3000:]
    assert "stopping after this batch" in err and "Traceback" not in err
    r = store.get_run(store.list_runs(limit=1)[0][0].id)
    store.close()
    assert r.status == "cancelled" and r.error == "cancelled with Ctrl-C" and r.finished_at is not None
    assert any(a.kind == "history" for a in r.artifacts)  # the curves so far are kept
