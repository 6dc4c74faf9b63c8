"""A store, run folder and bundle written by an earlier version of the lab still open, predict,
export, make a model card and import with today's code.

tests/data/legacy_store was written by the code of commit 5ae56e9, the last one with the flat
``core/`` layout (its README says how). The commands below are the README's, run as a user runs
them; the store is copied to a temporary folder first, so the fixture is never changed.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.store import Store
from core.store.artifacts import RESULT_KINDS, RunFolder

PROJECT = Path(__file__).resolve().parent.parent
LEGACY = Path(__file__).resolve().parent / "data" / "legacy_store"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    root = tmp_path_factory.mktemp("legacy")
    shutil.copytree(LEGACY / "models", root / "models")
    shutil.copy(LEGACY / "runs.db", root / "runs.db")
    env = {**os.environ, "LAB_DATABASE_URL": f"sqlite:///{root / 'runs.db'}", "LAB_MODELS_DIR": str(root / "models"),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    return root, env


def _core(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=PROJECT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_legacy_store_opens_with_its_run_champion_and_files(legacy):
    root, _ = legacy
    store = Store(f"sqlite:///{root / 'runs.db'}", models_dir=root / "models")
    try:
        run = store.get_run(1)
        assert (run.name, run.status, run.dataset, run.model) == ("legacy-digits", "succeeded", "digits", "small_cnn")
        assert store.champion("digits").run_id == 1
        folder = RunFolder.of(run, store)
        assert [a.kind for a in folder.present()] == list(RESULT_KINDS)
        evaluation = folder.read_json("evaluation")
        assert 0.5 < evaluation["summary"]["accuracy"] <= 1.0
        assert folder.read_csv("predictions").shape[0] == evaluation["summary"]["n_samples"]
    finally:
        store.close()


def test_legacy_run_predicts_exports_and_makes_a_model_card(legacy, tmp_path):
    root, env = legacy
    from sklearn.datasets import load_digits

    digits = load_digits()
    image = tmp_path / "digit.png"
    Image.fromarray((digits.images[0] * 255 / 16).astype(np.uint8)).save(image)

    out = _core(env, "predict", str(image), "--model", str(root / "models" / "1"), "--json")
    assert out.returncode == 0, out.stderr
    assert '"top"' in out.stdout or '"class"' in out.stdout or "probab" in out.stdout

    out = _core(env, "export", "1", "--format", "onnx", "--limit", "60")
    assert out.returncode == 0, out.stderr + out.stdout
    assert "verified on the test split" in out.stdout

    card = tmp_path / "card.html"
    out = _core(env, "model-card", "1", "--out", str(card), "--examples", "0", "--no-slices")
    assert out.returncode == 0, out.stderr + out.stdout
    assert "legacy-digits" in card.read_text()


def test_legacy_bundle_imports_into_a_new_store(tmp_path):
    env = {**os.environ, "LAB_DATABASE_URL": f"sqlite:///{tmp_path / 'runs.db'}", "LAB_MODELS_DIR": str(tmp_path / "models"),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = _core(env, "runs", "import", str(LEGACY / "run1.zip"), "--json")
    assert out.returncode == 0, out.stderr + out.stdout
    store = Store(env["LAB_DATABASE_URL"], models_dir=tmp_path / "models")
    try:
        (run,), total = store.list_runs()
        assert total == 1
        detail = store.get_run(run.id)
        assert detail.status == "succeeded" and detail.dataset == "digits"
        folder = RunFolder.of(detail, store)
        assert folder.has("model") and folder.read_json("evaluation")["summary"]["n_samples"] > 0
    finally:
        store.close()
