"""One bad image does not stop a batch: ``python -m core predict`` and scripts/predict_exported.py
give every file its own result or its own error line (plain and --json) and exit 2 when any file
failed, 0 when all were predicted. The bad files are real: decompression bombs made by Pillow (a
large, almost empty image above the lab's pixel limit; one above Pillow's own limit too) and a
truncated JPEG. Every "too large" message states one limit: the lab's (core.data.images)."""
from __future__ import annotations

import json
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.data.images import DEFAULT_MAX_PIXELS, ImageError, load_image

ROOT = Path(__file__).resolve().parent.parent
LEGACY_RUN = ROOT / "tests" / "data" / "legacy_store" / "models" / "1"
SCRIPT = ROOT / "scripts" / "predict_exported.py"
LIMIT_TEXT = f"the limit is {DEFAULT_MAX_PIXELS:,} pixels"


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """A copy of a trained digits run (with its ONNX export) and five files: two good digits, a
    decompression bomb above Pillow's own limit, one between the lab's and Pillow's, a truncated JPEG."""
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("batch")
    run = root / "run"
    shutil.copytree(LEGACY_RUN, run)
    digits = load_digits()
    for name, i in (("good.png", 0), ("other.jpg", 5)):
        Image.fromarray((digits.images[i] * 255 / 16).astype(np.uint8)).resize((64, 64)).save(root / name)
    Image.new("1", (20000, 20000)).save(root / "bomb.png")  # 400 M pixels, ~50 kB: over Pillow's limit too
    Image.new("1", (10000, 10000)).save(root / "big.png")  # 100 M pixels: over the lab's limit only
    jpeg = (root / "other.jpg").read_bytes()
    (root / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    files = {n: str(root / n) for n in ("good.png", "bomb.png", "cut.jpg", "big.png", "other.jpg")}
    return {"run": run, "files": files, "onnx": run / "exports" / "run1_onnx.onnx"}


def _run(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True, env=env,
                          timeout=600)


def _one_limit(text: str) -> None:
    """The lab's limit is stated; Pillow's own (178,956,970 by default, or any other) never is."""
    assert LIMIT_TEXT in text, text
    for pillow in (Image.MAX_IMAGE_PIXELS, 2 * Image.MAX_IMAGE_PIXELS):
        assert f"{pillow:,}" not in text and str(pillow) not in text, text


def test_core_predict_gives_each_file_its_result_or_error(batch):
    f = batch["files"]
    p = _run("-m", "core", "predict", *f.values(), "--model", batch["run"], "--top-k", "2")
    assert p.returncode == 2, p.stderr[-3000:]
    assert "Traceback" not in p.stderr
    by_file: dict[str, list[str]] = {}  # "FILE:" then its indented lines
    for ln in p.stdout.splitlines():
        if ln.startswith("  "):
            by_file[list(by_file)[-1]].append(ln.strip())
        else:
            by_file[ln.removesuffix(":")] = []
    assert list(by_file) == list(f.values())  # every file, in order
    for good in ("good.png", "other.jpg"):
        assert len(by_file[f[good]]) == 2 and not any(x.startswith("error") for x in by_file[f[good]])
    for bad in ("bomb.png", "big.png", "cut.jpg"):
        assert len(by_file[f[bad]]) == 1 and by_file[f[bad]][0].startswith(f"error: '{bad}' ")
    _one_limit(by_file[f["bomb.png"]][0])
    _one_limit(by_file[f["big.png"]][0])
    assert "truncated" in by_file[f["cut.jpg"]][0]
    assert "3 of 5 images could not be read" in p.stderr


def test_core_predict_json_has_an_entry_per_file(batch):
    f = batch["files"]
    p = _run("-m", "core", "predict", *f.values(), "--model", batch["run"], "--json")
    assert p.returncode == 2, p.stderr[-3000:]
    out = json.loads(p.stdout)
    assert [r["image"] for r in out] == list(f.values())
    errors = {Path(r["image"]).name: r["error"] for r in out}
    assert errors["good.png"] is None and errors["other.jpg"] is None
    assert all(len(r["top"]) == 3 for r in out if r["error"] is None)
    assert all(errors[n] for n in ("bomb.png", "big.png", "cut.jpg"))
    _one_limit(errors["bomb.png"])


def test_core_predict_help_text(capsys):
    from core.cli.main import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Exit status: 0 when every image was predicted, 2 when any image could not be read" in text


def test_exported_model_script_gives_each_file_its_result_or_error(batch):
    f = batch["files"]
    p = _run(SCRIPT, batch["onnx"], *f.values())
    assert p.returncode == 2, p.stderr[-3000:]
    assert "Traceback" not in p.stderr and "DecompressionBombError" not in p.stderr
    lines = p.stdout.strip().splitlines()
    assert [ln.split(": ", 1)[0] for ln in lines] == list(f.values())
    by_file = dict(ln.split(": ", 1) for ln in lines)
    for good in ("good.png", "other.jpg"):
        assert not by_file[f[good]].startswith("error") and len(by_file[f[good]].split(", ")) == 3
    for bad in ("bomb.png", "big.png", "cut.jpg"):
        assert by_file[f[bad]].startswith("error: ")
    _one_limit(by_file[f["bomb.png"]])
    _one_limit(by_file[f["big.png"]])
    assert "3 of 5 images could not be read" in p.stderr

    p = _run(SCRIPT, batch["onnx"], *f.values(), "--json")
    assert p.returncode == 2, p.stderr[-3000:]
    out = json.loads(p.stdout)
    assert [r["image"] for r in out] == list(f.values())
    assert [("probabilities" in r, "error" in r) for r in out] == [(True, False), (False, True), (False, True),
                                                                   (False, True), (True, False)]
    assert abs(sum(out[0]["probabilities"].values()) - 1) < 1e-4

    p = _run(SCRIPT, batch["onnx"], f["good.png"], f["other.jpg"])
    assert p.returncode == 0 and len(p.stdout.strip().splitlines()) == 2, p.stderr[-3000:]


def test_the_script_and_the_lab_share_one_pixel_limit(batch):
    """scripts/predict_exported.py runs without the lab, so it repeats the limit: the same number."""
    assert runpy.run_path(str(SCRIPT))["MAX_PIXELS"] == DEFAULT_MAX_PIXELS
    for name in ("bomb.png", "big.png"):
        with pytest.raises(ImageError) as e:
            load_image(batch["files"][name])
        _one_limit(str(e.value))
        assert "decompression bomb" in str(e.value) and "It is " in str(e.value)
