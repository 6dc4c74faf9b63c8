"""CLI round trip through real subprocesses: train -> evaluate -> predict."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent


def _run(*args, check=True):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-m", "core", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                       env=env, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr[-3000:]}")
    return p


def test_train_evaluate_predict_round_trip(tmp_path):
    run = tmp_path / "run"
    p = _run("train", "--dataset", "digits", "--model", "small_cnn", "--epochs", "2", "--batch-size", "32",
             "--lr", "0.002", "--optimizer", "adam", "--out", run, "--save-config", tmp_path / "cfg.json")
    assert "Test metrics:" in p.stdout and "accuracy" in p.stdout
    assert "epoch 2 done" in p.stderr  # progress output
    assert (run / "model.keras").is_file()
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    assert cfg["learning_rate"] == 0.002 and cfg["epochs"] == 2
    test_acc = json.loads((run / "evaluation.json").read_text())["summary"]["accuracy"]

    p = _run("evaluate", "--model", run, "--bootstrap", "0")
    line = next(ln for ln in p.stdout.splitlines() if ln.strip().startswith("accuracy"))
    assert abs(float(line.split()[1]) - test_acc) < 1e-4

    from PIL import Image

    from core.datasets import load_dataset

    ds = load_dataset("digits")
    img_path = tmp_path / "digit.png"
    Image.fromarray(ds.images[0][..., 0]).resize((64, 64)).save(img_path)
    p = _run("predict", img_path, "--model", run / "model.keras", "--top-k", "3", "--json")
    out = json.loads(p.stdout)
    assert len(out) == 1 and len(out[0]["top"]) == 3
    probs = [t["probability"] for t in out[0]["top"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    assert all(t["class"] in [str(i) for i in range(10)] for t in out[0]["top"])


def test_cli_errors_are_clear_and_exit_2(tmp_path, capsys):
    from core.cli import main

    assert main(["train", "--dataset", "digits", "--optimizer", "adamw", "--out", str(tmp_path / "x")]) == 2
    assert "The 'optimizer' parameter must be one of" in capsys.readouterr().err
    bad = tmp_path / "model.keras"
    bad.write_text("nope")
    assert main(["predict", str(tmp_path / "a.png"), "--model", str(bad)]) == 2
    assert "is not a Keras model" in capsys.readouterr().err
    assert main(["train", "--dataset", "digits", "--input-size", "3x3x3"]) == 2
    assert "--input-size must be HxW" in capsys.readouterr().err


def test_list_commands(capsys):
    from core.cli import main

    assert main(["list-models"]) == 0
    out = capsys.readouterr().out
    assert "small_cnn" in out and "vgg16" in out
    assert main(["list-datasets"]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "builtin" in out
