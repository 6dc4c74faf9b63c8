"""Shared fixtures. Real data comes from ../shared/datasets (or LAB_SHARED_DATASETS)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def shared_datasets_path() -> Path:
    return Path(os.environ.get("LAB_SHARED_DATASETS", PROJECT_ROOT.parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    p = shared_datasets_path()
    if not p.is_dir():
        pytest.skip(f"real datasets folder not found at {p} (set LAB_SHARED_DATASETS); CI always has it")
    return p


@pytest.fixture()
def lab_env(tmp_path, monkeypatch):
    """A private store and models folder for one test."""
    monkeypatch.setenv("LAB_DATABASE_URL", f"sqlite:///{tmp_path / 'runs.db'}")
    monkeypatch.setenv("LAB_MODELS_DIR", str(tmp_path / "trained_models"))
    return tmp_path
