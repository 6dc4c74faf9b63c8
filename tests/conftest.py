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


@pytest.fixture(scope="module")
def trained():
    """A store with two real finished digits runs (adam / adamax, max_per_class=100), made
    once per test process, and the environment pointing at it for the module's tests."""
    from lab_pages_support import shared_trained_store

    shared = shared_trained_store()
    mp = pytest.MonkeyPatch()
    for k, v in shared["env"].items():
        mp.setenv(k, v)
    yield shared
    mp.undo()


@pytest.fixture(scope="module")
def page_jobs_cleanup():
    """Stop the job managers the pages of a module started (use with ``usefixtures``)."""
    yield
    from pages import _resources

    _resources.shutdown_job_managers()
