"""Write tests/data/legacy_store with the code of commit 5ae56e9, the last one with the flat
``core/`` layout: a SQLite store with one trained digits run (champion of digits), its run folder
with an ONNX export, and its run bundle. Tests prove that today's code opens, predicts, exports and
imports what an earlier version wrote. Nothing binary is committed: the files are made from git
history at the first test session on a machine (about 40 s) and kept, git-ignored, for later ones.

    python tests/make_legacy_store.py [--force]
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

COMMIT = "5ae56e946f62d3e1d974005f73f37d53b566865f"
ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "tests" / "data" / "legacy_store"
PARTS = ("runs.db", "models/1/model.keras", "models/1/exports", "run1.zip")


def ready(target: Path = TARGET) -> bool:
    return all((target / p).exists() for p in PARTS)


def build(target: Path = TARGET) -> Path:
    """Check out the old code (``git archive``, no work tree change) and run its README commands."""
    with tempfile.TemporaryDirectory(prefix="legacy-code-") as tmp:
        tmp = Path(tmp)
        archive = subprocess.run(["git", "archive", COMMIT], cwd=ROOT, capture_output=True, check=True).stdout
        code = tmp / "code"
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(code, filter="data")
        out = tmp / "store"
        out.mkdir()
        env = {**os.environ, "LAB_DATABASE_URL": f"sqlite:///{out / 'runs.db'}", "LAB_MODELS_DIR": str(out / "models"),
               "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(code)}
        env.pop("LAB_DATA_ROOTS", None)
        for args in (["train", "--dataset", "digits", "--model", "small_cnn", "--epochs", "2", "--name", "legacy-digits"],
                     ["runs", "champion", "digits", "1", "--note", "legacy champion"],
                     ["runs", "export", "1", "--out", str(out / "run1.zip")],
                     ["export", "1", "--format", "onnx"]):
            p = subprocess.run([sys.executable, "-m", "core", *args], cwd=code, env=env, capture_output=True, text=True)
            if p.returncode:
                raise RuntimeError(f"the old code failed on {args[:2]}: {p.stderr[-1500:]}")
        for p in ("runs.db", "models", "run1.zip"):
            dst = target / p
            if dst.is_dir():
                shutil.rmtree(dst)
            elif dst.exists():
                dst.unlink()
            (shutil.copytree if (out / p).is_dir() else shutil.copy)(out / p, dst)
    return target


if __name__ == "__main__":
    if "--force" in sys.argv or not ready():
        print(build())
