"""Background warm-up of the modules the other pages need, once per server process, while no page
is being drawn (app.py wraps each script run in ``page_run`` and starts ``warm_up_in_background``)."""
from __future__ import annotations

import contextlib
import logging
import threading
import time

log = logging.getLogger("lab.pages")

# imported in the background once the first page of a server process is drawn, so that
# the first visit of the other pages does not pay for them (pandas and the store are
# already imported by then; TensorFlow is left to the first prediction)
WARM_UP_MODULES = ("plotly.graph_objects", "plotly.subplots", "core.analysis.plots", "core.metrics.classification",
                   "core.training.engine", "core.datasets.io", "sklearn.datasets", "PIL.Image")
# ... one at a time, each only once no page has run for WARM_UP_QUIET_S: right after a page's
# script the browser is still fetching and drawing it (its scripts come from this process), and
# an import holding the interpreter then delayed that first render and the next visitor's
WARM_UP_QUIET_S = 2.0
_WARM_UP: dict = {}
_PAGE_RUNS = {"active": 0, "last_end": 0.0}
_PAGE_RUNS_LOCK = threading.Lock()


@contextlib.contextmanager
def page_run():
    """Marks a script run of the app (app.py wraps the page and the sidebar in it), so that
    the warm-up imports wait while pages are being drawn."""
    with _PAGE_RUNS_LOCK:
        _PAGE_RUNS["active"] += 1
    try:
        yield
    finally:
        with _PAGE_RUNS_LOCK:
            _PAGE_RUNS["active"] -= 1
            _PAGE_RUNS["last_end"] = time.monotonic()


def server_quiet(quiet_s: float | None = None) -> bool:
    """No page script running, and none ended in the last ``quiet_s`` (default
    ``WARM_UP_QUIET_S``) seconds."""
    quiet_s = WARM_UP_QUIET_S if quiet_s is None else quiet_s
    with _PAGE_RUNS_LOCK:
        return _PAGE_RUNS["active"] == 0 and time.monotonic() - _PAGE_RUNS["last_end"] >= quiet_s


def warm_up_in_background(poll_s: float = 0.25) -> None:
    """Start (once per process) a daemon thread importing ``WARM_UP_MODULES``, each once the
    server is quiet (``server_quiet``)."""
    if _WARM_UP.get("thread") is not None:
        return

    def work() -> None:
        import importlib

        busy = 0.0
        for name in WARM_UP_MODULES:
            while not server_quiet():
                time.sleep(poll_s)
            t = time.perf_counter()
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - an optional module: the page imports it when needed
                log.info("warm-up: could not import %s", name)
            busy += time.perf_counter() - t
        _WARM_UP["seconds"] = busy

    _WARM_UP["thread"] = threading.Thread(target=work, name="lab-warm-up", daemon=True)
    _WARM_UP["thread"].start()
