"""CLI round trip through real subprocesses: train -> evaluate -> predict; and user-caused
OS errors (permissions, full disk, missing folder, file-size limit) -> exit 2 with a message
naming the path, never a traceback, never a partial file. The conditions are real: /dev/full
for a full disk, RLIMIT_FSIZE for a file-size limit, a folder that refuses writes (chmod, or
/sys when running as root), a path through a regular file."""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*args, check=True, preexec_fn=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-m", "core", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                       env=env, timeout=600, preexec_fn=preexec_fn)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr[-3000:]}")
    return p


def test_train_evaluate_predict_round_trip(lab_env, tmp_path, monkeypatch):
    # --no-record never opens the run store (here one that cannot be opened)
    monkeypatch.setenv("LAB_DATABASE_URL", "sqlite:////nonexistent-lab-folder/runs.db")
    run = tmp_path / "run"
    p = _run("train", "--dataset", "digits", "--model", "small_cnn", "--epochs", "2", "--batch-size", "32",
             "--lr", "0.002", "--optimizer", "adam", "--out", run, "--save-config", tmp_path / "cfg.json",
             "--no-record")
    assert "Test metrics:" in p.stdout and "accuracy" in p.stdout
    assert "epoch 2 done" in p.stderr  # progress output
    assert "Recorded as run" not in p.stdout and "run store" not in p.stderr
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


def test_cli_errors_are_clear_and_exit_2(lab_env, tmp_path, capsys):
    from core.cli.main import main

    assert main(["train", "--dataset", "digits", "--optimizer", "adamw", "--out", str(tmp_path / "x")]) == 2
    assert "The 'optimizer' parameter must be one of" in capsys.readouterr().err
    bad = tmp_path / "model.keras"
    bad.write_text("nope")
    assert main(["predict", str(tmp_path / "a.png"), "--model", str(bad)]) == 2
    assert "is not a Keras model" in capsys.readouterr().err
    assert main(["train", "--dataset", "digits", "--input-size", "3x3x3"]) == 2
    assert "--input-size must be HxW" in capsys.readouterr().err


def test_train_flags_come_from_the_config_table(lab_env, monkeypatch, capsys):
    """The flags of plain TrainConfig fields, their help and accepted values are read from
    core.training.config.PARAMS: a choice added there is offered and accepted; --gpus sets gpus."""
    import dataclasses

    from core.cli.config_flags import config_from_args
    from core.cli.main import build_parser
    from core.training import config as train_config
    from core.validation import ValidationError

    opt = train_config.PARAMS["optimizer"]
    monkeypatch.setitem(train_config.PARAMS, "optimizer", dataclasses.replace(opt, choices=(*opt.choices, "lion")))
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--optimizer {adam,adamax,adagrad,rmsprop,sgd,lion}" in help_text
    assert "--gpus GPUS GPUs this run needs; 0 = CPU" in help_text
    cfg = config_from_args(build_parser().parse_args(["train", "--dataset", "digits", "--optimizer", "lion",
                                                      "--gpus", "2", "--channels", "1"]))
    assert (cfg.optimizer, cfg.gpus, cfg.channels) == ("lion", 2, 1)
    assert config_from_args(build_parser().parse_args(["train", "--dataset", "digits"])).gpus == 0
    with pytest.raises(ValidationError, match="The 'gpus' parameter must be an int in the range"):
        config_from_args(build_parser().parse_args(["train", "--dataset", "digits", "--gpus", "-1"]))


def test_list_commands(lab_env, capsys):
    from core.cli.main import main

    assert main(["list-models"]) == 0
    out = capsys.readouterr().out
    assert "small_cnn" in out and "vgg16" in out
    assert main(["list-datasets"]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "builtin" in out


# ------------------------------------------------------------------ OS errors a user can cause
def _refusing_dir(tmp_path: Path) -> Path:
    """A folder this process really cannot create files in: a chmod 0555 folder where that
    blocks (not root), else /sys (sysfs refuses new files even to root)."""
    d = tmp_path / "readonly"
    d.mkdir()
    d.chmod(0o555)
    try:
        (d / "probe").write_text("x")
    except PermissionError:
        return d
    (d / "probe").unlink()
    d.chmod(0o755)
    try:
        (Path("/sys") / "lab-write-probe").mkdir()
    except OSError:
        return Path("/sys")
    (Path("/sys") / "lab-write-probe").rmdir()
    pytest.skip("no folder refuses writes on this machine")


def _no_traceback(err: str) -> None:
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 4, err


@pytest.mark.parametrize("record", ["--no-record", "--record"])
def test_unwritable_output_folder_exits_2_before_training(lab_env, tmp_path, capsys, record):
    from core.cli.main import main
    from core.store import Store

    bad = _refusing_dir(tmp_path) / "run"
    assert main(["train", "--dataset", "digits", "--epochs", "1", "--out", str(bad), record]) == 2
    err = capsys.readouterr().err
    _no_traceback(err)
    assert f"Cannot write to the run folder {str(bad)!r}" in err
    assert "(EACCES)" in err or "(EPERM)" in err
    assert "Choose a folder you can write to" in err
    assert not bad.exists()
    s = Store()
    try:
        assert s.list_runs(limit=0)[1] == 0  # nothing recorded for a run that could not start
    finally:
        s.close()


def test_a_path_through_a_file_and_a_missing_folder_exit_2(lab_env, tmp_path, capsys):
    from core.cli.main import main

    f = tmp_path / "notes.txt"
    f.write_text("a file, not a folder")
    assert main(["train", "--dataset", "digits", "--out", str(f / "run"), "--no-record"]) == 2
    err = capsys.readouterr().err
    _no_traceback(err)
    assert str(f / "run") in err and "(ENOTDIR)" in err and "A part of the path is a file" in err

    cfg = tmp_path / "no" / "such" / "folder" / "cfg.json"
    assert main(["train", "--dataset", "digits", "--save-config", str(cfg), "--no-record",
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    _no_traceback(err)
    assert f"Cannot write {str(cfg)!r}" in err and "(ENOENT)" in err and "No such file or directory" in err
    assert not (tmp_path / "r").exists() and not (tmp_path / "no").exists()


def test_full_disk_exits_2_with_a_message(lab_env, tmp_path, capsys):
    """/dev/full: every write fails with ENOSPC, as on a full disk."""
    from core.cli.main import main

    if not os.path.exists("/dev/full"):
        pytest.skip("/dev/full is not available")
    assert main(["train", "--dataset", "digits", "--save-config", "/dev/full", "--no-record",
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    _no_traceback(err)
    assert "Cannot write '/dev/full': No space left on device (ENOSPC)" in err and "The disk is full" in err
    assert os.path.exists("/dev/full") and not Path("/dev/full").is_file()  # written to, not replaced


def _limit_file_size():  # runs in the child: files may not grow past 150 kB (the model is ~340 kB)
    resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000))


def test_file_size_limit_while_saving_leaves_no_partial_files(tmp_path):
    """A real write failure half-way through saving a trained run (EFBIG from RLIMIT_FSIZE, as
    a full disk would give ENOSPC): exit 2, the message names model.keras, the files written
    before it are complete, and no temporary or partial file is left."""
    run = tmp_path / "run"
    p = _run("train", "--dataset", "digits", "--dataset-param", "max_per_class=30", "--epochs", "1",
             "--out", run, "--no-record", check=False, preexec_fn=_limit_file_size)
    assert p.returncode == 2, p.stderr[-3000:]
    _no_traceback(p.stderr.split("error:", 1)[-1])
    assert f"Cannot write {str(run / 'model.keras')!r}: File too large (EFBIG)" in p.stderr
    assert "ulimit -f" in p.stderr
    names = sorted(x.name for x in run.iterdir())
    assert "model.keras" not in names and not [n for n in names if n.startswith(".") or n.endswith(".tmp")], names
    assert json.loads((run / "evaluation.json").read_text())["summary"]["accuracy"] >= 0
    assert json.loads((run / "meta.json").read_text())["model"] == "small_cnn"
