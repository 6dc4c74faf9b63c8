"""Helpers shared by the job tests: the terminal run statuses and polling waits for a condition
or a run status."""
from __future__ import annotations

import time

import pytest

from core.store import Store

TERMINAL = ("succeeded", "failed", "cancelled", "interrupted")


def wait_for(cond, *, timeout: float, what: str, interval: float = 0.2):
    """Poll ``cond()`` until it returns something truthy; fail with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def wait_status(store: Store, rid: int, statuses, timeout: float = 240):
    statuses = (statuses,) if isinstance(statuses, str) else tuple(statuses)

    def done():
        r = store.get_run(rid)
        if r.status in statuses:
            return r
        if r.status in TERMINAL:  # ended some other way: show why at once
            log = store.run_dir(rid) / "worker.log"
            tail = log.read_text()[-3000:] if log.exists() else ""
            pytest.fail(f"run {rid} ended {r.status!r} (expected {statuses}): {r.error}\n{tail}")
        return None

    return wait_for(done, timeout=timeout, what=f"run {rid} to become {'/'.join(statuses)}")
