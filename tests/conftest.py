"""Shared fixtures. Real data comes from ../shared/datasets (or LAB_SHARED_DATASETS).

Stores: ``store`` is an empty SQLite store of one test; ``any_store`` is the same on SQLite and,
when a server is configured, on PostgreSQL (``store_url`` gives its URL); ``trained`` is a store
with two real finished digits runs; ``leakage_store`` holds the trained runs of the
pitfall_leakage recipe. Data: ``ham`` is the reduced HAM10000 folder with its metadata."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("LAB_WARM_WORKERS", "0")  # no standby worker unless a test asks for one (tests/test_warm_worker.py)


def pytest_sessionstart(session):
    """tests/data/legacy_store (a store written by the flat-layout code) is made from git history
    at the first session on a machine (tests/make_legacy_store.py), never committed."""
    from make_legacy_store import build, ready

    if not ready():
        build()


def shared_datasets_path() -> Path:
    return Path(os.environ.get("LAB_SHARED_DATASETS", PROJECT_ROOT.parent / "shared" / "datasets"))


def _ham_params(shared: Path) -> dict:
    """The reduced HAM10000 folder (200x150 JPEGs) and the metadata CSV of the shared datasets."""
    return {"path": str(shared / "ham10000" / "reduced_200x150"),
            "metadata_csv": str(shared / "ham10000" / "HAM10000_metadata.csv")}


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    p = shared_datasets_path()
    if not p.is_dir():
        pytest.skip(f"real datasets folder not found at {p} (set LAB_SHARED_DATASETS); CI always has it")
    return p


@pytest.fixture(scope="session")
def ham(shared_datasets):
    """HAM10000 as the loader reads it from the reduced folder and the metadata CSV (every
    image). One per test process: tests only read it."""
    from core.datasets import load_dataset

    return load_dataset("ham10000", **_ham_params(shared_datasets))


# ---------------------------------------------------------------- environments and stores
@pytest.fixture()
def lab_env(tmp_path, monkeypatch):
    """A private store and models folder for one test."""
    monkeypatch.setenv("LAB_DATABASE_URL", f"sqlite:///{tmp_path / 'runs.db'}")
    monkeypatch.setenv("LAB_MODELS_DIR", str(tmp_path / "trained_models"))
    return tmp_path


@pytest.fixture()
def store(tmp_path):
    """An empty SQLite store in the test's folder (``runs.db``, run folders under ``models``)."""
    from core.store import Store

    s = Store(f"sqlite:///{tmp_path / 'runs.db'}", models_dir=tmp_path / "models")
    yield s
    s.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    """The URL of an empty store: a SQLite file, and a fresh PostgreSQL database when
    LAB_TEST_POSTGRES_URL names a server (skipped with the reason otherwise)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'runs.db'}"
    else:
        from store_support import fresh_postgres_database

        with fresh_postgres_database() as url:
            yield url


@pytest.fixture()
def any_store(store_url, tmp_path):
    """An empty store on each database the tests can reach (see ``store_url``)."""
    from core.store import Store

    s = Store(store_url, models_dir=tmp_path / "models")
    yield s
    s.close()


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


@pytest.fixture(scope="session")
def leakage_recipe_runs(shared_datasets, tmp_path_factory) -> dict:
    """The two runs of pitfall_leakage at a tiny budget (40 images per class, 32x40, 2 epochs:
    below the quick budget, through ``overrides``), queued by launch_recipe and trained by the
    worker's own code in this process, once per test process. Returns {"root", "launch"}."""
    from lab_pages_support import lab_environ

    root = tmp_path_factory.mktemp("recipes") / "lab"
    root.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        for k, v in lab_environ(root).items():
            mp.setenv(k, v)
        mp.setenv("LAB_DASHBOARD_SUPERVISOR", "0")
        from core.jobs import worker
        from core.jobs.manager import JobManager
        from core.recipes.runs import launch_recipe
        from core.store import Store
        from core.training.search import update_parents

        store = Store()
        try:
            launch = launch_recipe(JobManager(store, store.models_dir), "pitfall_leakage", "quick",
                                   data={"ham10000": {**_ham_params(shared_datasets), "max_per_class": 40}},
                                   overrides={"epochs": 2, "input_size": [32, 40]})
            for rid in launch.run_ids:
                assert worker.run(rid) == 0, store.get_run(rid).error
            update_parents(store)
        finally:
            store.close()
    return {"root": root, "launch": launch}


@pytest.fixture(scope="module")
def leakage_store(leakage_recipe_runs, tmp_path_factory):
    """A copy of the pitfall_leakage store for one test module, the environment pointing at it
    and the job supervisor off (runs launched by a test stay queued)."""
    from core.store import Store
    from lab_pages_support import lab_environ

    root = tmp_path_factory.mktemp("recipes_copy") / "lab"
    shutil.copytree(leakage_recipe_runs["root"], root)
    mp = pytest.MonkeyPatch()
    for k, v in lab_environ(root).items():
        mp.setenv(k, v)
    mp.setenv("LAB_DASHBOARD_SUPERVISOR", "0")
    store = Store()
    yield {"store": store, "launch": leakage_recipe_runs["launch"], "root": root}
    store.close()
    mp.undo()


@pytest.fixture(scope="module")
def page_jobs_cleanup():
    """Stop the job managers the pages of a module started (use with ``usefixtures``)."""
    yield
    from pages import _resources

    _resources.shutdown_job_managers()


# ---------------------------------------------------------------- a real OpenID Connect provider
OIDC_DIR = PROJECT_ROOT / "tests" / "oidc"


@pytest.fixture(scope="module")
def oidc_provider(tmp_path_factory):
    """The npm package oidc-provider (tests/oidc, pinned by its lock file; scripts/test.sh runs
    `npm ci`) on a free loopback port, with one static client whose redirect URI is
    ``http://127.0.0.1:<lab_port>/oauth2callback`` and four users (login = password: admin,
    instructor, student, clinician) with a ``roles`` claim. Skipped with the reason when Node.js
    or the installed package is missing. Returns {"issuer", "client_id", "client_secret",
    "redirect_uri", "lab_port", "users"}."""
    import secrets
    import shutil
    import subprocess

    from lab_pages_support import free_port, http_ok, wait_for

    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: the sign-in tests need it for their identity provider (tests/oidc)")
    if not (OIDC_DIR / "node_modules" / "oidc-provider" / "package.json").is_file():
        pytest.skip("the test identity provider is not installed: run `npm ci` in tests/oidc (scripts/test.sh does)")
    port, lab_port = free_port(), free_port()
    info = {"issuer": f"http://127.0.0.1:{port}", "client_id": "lab", "client_secret": secrets.token_hex(16),
            "redirect_uri": f"http://127.0.0.1:{lab_port}/oauth2callback", "lab_port": lab_port,
            "users": ("admin", "instructor", "student", "clinician")}
    log = open(tmp_path_factory.mktemp("oidc") / "provider.log", "wb")
    proc = subprocess.Popen([node, "provider.js", str(port), info["client_id"], info["client_secret"],
                             info["redirect_uri"]], cwd=OIDC_DIR, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: proc.poll() is not None or http_ok(info["issuer"] + "/.well-known/openid-configuration"),
                 timeout=30, interval=0.1, what="the OpenID Connect provider")
        assert proc.poll() is None, f"the provider exited: {Path(log.name).read_text()[-2000:]}"
        yield info
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
