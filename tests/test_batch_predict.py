"""Many images at once: ``python -m core predict PATH... --run N --out predictions.csv`` on a real
HAM10000 run (small_cnn, 32x32, one epoch, a few images per class; trained by the real worker) and
real HAM10000 photos (the reduced 200x150 set). The batch path gives the single-image path's
numbers (Keras: within 1e-5; ONNX Runtime on the run's verified export: within its parity goal);
an unreadable file gets its own error row and exit status 2."""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lab_pages_support import lab_environ, make_finished_runs

ROOT = Path(__file__).resolve().parent.parent
N_IMAGES = 2000


@pytest.fixture(scope="module")
def ham_run(shared_datasets, tmp_path_factory):
    """A store with one tiny HAM10000 run and its verified ONNX export; a folder of real photos."""
    ham = shared_datasets / "ham10000"
    root = tmp_path_factory.mktemp("batch_predict")
    (rid,) = make_finished_runs(root, [
        {"name": "ham batch", "epochs": 1, "batch_size": 32, "input_size": [32, 32],
         "dataset": {"name": "ham10000", "params": {"path": str(ham / "reduced_200x150"),
                                                    "metadata_csv": str(ham / "HAM10000_metadata.csv"),
                                                    "max_per_class": 12}}}])
    env = lab_environ(root)
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    from core.serving.export import export_run
    from core.store import Store
    from core.store.artifacts import RunFolder

    store = Store()
    export_run(store, rid, "onnx")
    folder = RunFolder.of(store.get_run(rid), store).path
    store.close()
    photos = sorted((ham / "reduced_200x150").rglob("*.jpg"))[:N_IMAGES]
    yield {"root": root, "run": rid, "folder": folder, "photos": photos, "env": env}
    mp.undo()


def _cli(env: dict, *args) -> subprocess.CompletedProcess:
    full = {**os.environ, **env, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "core", "predict", *map(str, args)], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=600)


def test_a_folder_of_2000_photos_gives_a_csv_row_per_file_and_errors_their_own_rows(ham_run, tmp_path):
    photos = tmp_path / "clinic"
    for i, p in enumerate(ham_run["photos"]):  # two sub-folders: the folder is searched below
        sub = photos / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        os.symlink(p, sub / p.name)
    (photos / "notes.txt").write_text("not an image")
    jpeg = ham_run["photos"][0].read_bytes()
    (photos / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    Image.new("1", (20000, 20000)).save(photos / "bomb.png")
    out = tmp_path / "predictions.csv"
    t0 = time.monotonic()
    p = _cli(ham_run["env"], photos, "--run", ham_run["run"], "--out", out, "--batch-size", 128,
             "--runtime", "keras")
    seconds = time.monotonic() - t0
    assert p.returncode == 2, p.stderr[-3000:]
    assert "Traceback" not in p.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == N_IMAGES + 2
    by_name = {Path(r["file"]).name: r for r in rows}
    assert rows[0]["file"].startswith(str(photos))  # the paths as the user gave them
    assert "truncated" in by_name["cut.jpg"]["error"] and by_name["cut.jpg"]["predicted_class"] == ""
    assert "decompression bomb" in by_name["bomb.png"]["error"]
    good = [r for r in rows if not r["error"]]
    assert len(good) == N_IMAGES
    classes = [c[2:] for c in rows[0] if c.startswith("p_")]
    assert len(classes) == 7 and {r["predicted_class"] for r in good} <= set(classes)
    probs = np.array([[float(r[f"p_{c}"]) for c in classes] for r in good])
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert {r["low_confidence"] for r in good} <= {"yes", "no"}
    assert "skipped 1 file(s) that are not images" in p.stderr
    assert "with Keras" in p.stderr and "done: 2002 images" in p.stderr
    assert "2 of 2002 images could not be read" in p.stderr and "research use only" in p.stderr
    print(f"\n{N_IMAGES} photos, Keras, batch 128: {seconds:.1f} s with start-up ({N_IMAGES / seconds:.0f} images/s)")


@pytest.mark.parametrize("runtime", ["keras", "onnx"])
def test_batch_and_single_image_results_agree(ham_run, runtime):
    from core.data.images import load_image
    from core.serving.batch import choose_runtime, predict_files
    from core.serving.trained_model import load_trained

    tm = load_trained(ham_run["folder"])
    rt = choose_runtime(tm, runtime)
    assert rt.name == runtime
    files = [str(p) for p in ham_run["photos"][:50]]
    rows = list(predict_files(tm, files, runtime=rt, batch_size=16))
    assert [r.file for r in rows] == files
    single = np.concatenate([tm.predict(load_image(Path(f)).array[None], calibrated=True) for f in files])
    batch = np.stack([r.probs for r in rows])
    tol = 1e-5 if runtime == "keras" else rt.tolerance
    assert np.abs(batch - single).max() < tol
    assert (batch.argmax(1) == single.argmax(1)).all()


def test_auto_uses_the_verified_onnx_export_and_plain_output_stays(ham_run):
    files = ham_run["photos"][:3]
    p = _cli(ham_run["env"], *files, "--run", ham_run["run"], "--top-k", "2")
    assert p.returncode == 0, p.stderr[-3000:]
    assert "with ONNX Runtime" in p.stderr and "verified" in p.stderr
    assert [ln.removesuffix(":") for ln in p.stdout.splitlines() if not ln.startswith("  ")] == list(map(str, files))


def test_runtime_onnx_without_a_verified_export_is_refused(ham_run, tmp_path):
    bare = tmp_path / "run"
    shutil.copytree(ham_run["folder"], bare, ignore=shutil.ignore_patterns("exports"))
    p = _cli(ham_run["env"], ham_run["photos"][0], "--model", bare, "--runtime", "onnx")
    assert p.returncode == 2
    assert "--runtime onnx needs a verified ONNX export" in p.stderr and "python -m core export" in p.stderr
    assert "Traceback" not in p.stderr


def test_low_confidence_follows_the_predict_page_rule():
    from core.serving.batch import is_low_confidence

    assert is_low_confidence(0.25, 7) and is_low_confidence(0.45, 7) and not is_low_confidence(0.6, 7)
    assert is_low_confidence(0.7, 2) and not is_low_confidence(0.8, 2)


def test_progress_reports_rate_and_eta_every_few_seconds():
    from core.serving.batch import Progress

    now, said = [0.0], []
    prog = Progress(100, said.append, every=3.0, clock=lambda: now[0])
    for _ in range(10):
        now[0] += 0.5
        prog.step(5)
    assert said == ["30 of 100 images (30%), 10 images/s, ETA 7 s"]
    assert prog.summary() == "50 images in 5.0 s (10 images/s)"


@pytest.mark.parametrize("runtime", ["keras", "onnx"])
def test_batch_probabilities_are_calibrated_like_single_image_predict(tmp_path, runtime):
    """A digits run with a fitted temperature (and a verified ONNX export): the temperature is applied
    to the batch as to one image."""
    from sklearn.datasets import load_digits

    from core.data.images import load_image
    from core.serving.batch import choose_runtime, predict_files
    from core.serving.trained_model import load_trained

    run = tmp_path / "run"
    shutil.copytree(ROOT / "tests" / "data" / "legacy_store" / "models" / "1", run)
    tm = load_trained(run)
    assert tm.temperature is not None
    digits = load_digits()
    files = []
    for i in range(20):
        files.append(str(tmp_path / f"d{i}.png"))
        Image.fromarray((digits.images[i] * 255 / 16).astype(np.uint8)).resize((32, 32)).save(files[-1])
    rt = choose_runtime(tm, runtime)
    batch = np.stack([r.probs for r in predict_files(tm, files, runtime=rt, batch_size=8)])
    single = np.concatenate([tm.predict(load_image(Path(f)).array[None], calibrated=True) for f in files])
    assert np.abs(batch - single).max() < (1e-5 if runtime == "keras" else rt.tolerance)
    uncalibrated = np.stack([r.probs for r in predict_files(tm, files, runtime=rt, batch_size=8, calibrated=False)])
    assert np.abs(batch - uncalibrated).max() > 1e-3
