"""Helpers shared by the store tests: a fresh database on the PostgreSQL test server (or a skip
with the reason) and the script of a process that writes a run while the test reads it."""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PG_ENV = "LAB_TEST_POSTGRES_URL"


def postgres_base_url() -> str:
    """The server URL from the environment, or skip with the reason."""
    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        pytest.skip(f"{PG_ENV} is not set (a PostgreSQL URL whose role may CREATE DATABASE); .ci/run sets it")
    try:
        eng = sa.create_engine(url, connect_args={"connect_timeout": 5})
        with eng.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        eng.dispose()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"PostgreSQL at {sa.make_url(url).render_as_string(hide_password=True)} is unreachable: {exc}")
    return url


@contextmanager
def fresh_postgres_database():
    """A new, empty database on the test server; dropped afterwards."""
    base = sa.make_url(postgres_base_url())
    name = f"lab_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        admin.dispose()


# a worker-like process: 300 steps of metrics and progress for run argv[2] of the store at argv[1]
WRITER = r"""
import sys
from core.store import Store
s = Store(sys.argv[1])
rid = int(sys.argv[2])
print("ready", flush=True)
for step in range(300):
    s.log_metrics(rid, {"loss": 1.0 / (step + 1), "accuracy": step / 300}, step)
    s.set_progress(rid, step / 300, {"epoch": step, "message": "writing"})
s.log_summary(rid, {"accuracy": 0.99})
s.set_status(rid, "succeeded")
"""
