"""The Predict page's batched probabilities: every upload through ``core.serving.batch.predict_bytes``
(ONNX Runtime when the run has a verified export, else Keras), batch by batch under a progress bar
with an ETA and a Cancel button that stops between batches. Results are cached per (model file,
image digest), so a rerun of the page, or the same images uploaded again, computes nothing; what a
cancelled pass finished stays cached and shown."""
from __future__ import annotations

import base64
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from pages import _format

BATCH = 64        # images per runtime call (one progress step)
THUMB = 56        # px, the longest side of a table thumbnail
MAX_CACHED = 50_000  # results kept per model file
CANCEL_KEY = "p_cancelled"  # session state: the pass the user cancelled (its key)
SUMMARY_KEY = "_p_pass_summary"  # session state: (pass key, the last finished pass's summary line)


@dataclass
class Result:
    """One image's outcome, without its name (a cache entry shared by uploads of the same bytes)."""

    probs: np.ndarray | None
    error: str | None = None
    notices: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    thumbnail: str | None = None  # a data-URI PNG


class ResultCache:
    """digest -> Result for one model file, oldest dropped beyond ``MAX_CACHED``."""

    def __init__(self):
        self.items: OrderedDict[str, Result] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, digest: str) -> Result | None:
        return self.items.get(digest)

    def put(self, digest: str, res: Result) -> None:
        with self.lock:
            self.items[digest] = res
            while len(self.items) > MAX_CACHED:
                self.items.popitem(last=False)


@st.cache_resource(show_spinner=False, max_entries=8)
def result_cache(model_path: str, model_mtime: float) -> ResultCache:
    return ResultCache()


@st.cache_resource(show_spinner=False, max_entries=4)
def _runtime(_tm, model_path: str, model_mtime: float):
    """The runtime of a model file (an ONNX Runtime session is made once)."""
    from core.serving.batch import choose_runtime

    return choose_runtime(_tm, "auto")


def data_uri(thumb: np.ndarray | None) -> str | None:
    if thumb is None:
        return None
    return "data:image/png;base64," + base64.b64encode(_format.png_bytes(thumb)).decode("ascii")


def cache_for(tm) -> ResultCache:
    return result_cache(str(tm.path), tm.path.stat().st_mtime)


def pass_key(tm, uploads) -> str:
    import hashlib

    h = hashlib.sha256(f"{tm.path}|{tm.path.stat().st_mtime}".encode())
    for u in uploads:
        h.update(u.digest.encode())
    return h.hexdigest()[:20]


def _cancel(key: str) -> None:
    st.session_state[CANCEL_KEY] = key


def _resume() -> None:
    st.session_state.pop(CANCEL_KEY, None)


def results(tm, uploads) -> list[Result | None]:
    """Every upload's result (computing the missing ones unless this pass was cancelled), in order;
    None for an image not predicted (a cancelled pass). The progress bar, the pass's summary and the
    Stopped notice share one container that every run draws, so the table and its filters below keep
    their place in the page between reruns (otherwise the browser shows the old filter bar beside the
    new one until the rerun ends)."""
    slot = st.container()
    cache = cache_for(tm)
    todo = list({u.digest: u for u in uploads if cache.get(u.digest) is None}.values())
    key = pass_key(tm, uploads)
    if todo and st.session_state.get(CANCEL_KEY) != key:
        _compute(slot, tm, todo, cache, key, len(uploads))
    elif (last := st.session_state.get(SUMMARY_KEY)) and last[0] == key:
        slot.caption(last[1])
    out = [cache.get(u.digest) for u in uploads]
    missing = sum(r is None for r in out)
    if missing:
        c = slot.columns([4, 1])
        c[0].info(f"Stopped: {len(out) - missing} of {_format.plural(len(out), 'image')} predicted; the table shows those. "
                  "Continue to predict the others.", icon=":material/pause_circle:")
        c[1].button("Continue", key="p_resume", on_click=_resume, icon=":material/play_arrow:")
    return out


def _compute(slot, tm, todo, cache: ResultCache, key: str, total: int) -> None:
    from core.serving.batch import predict_bytes

    runtime = _runtime(tm, str(tm.path), tm.path.stat().st_mtime)
    bar = slot.progress(0.0, text=f"Predicting {_format.plural(len(todo), 'image')} with {_format.md_text(runtime.describe)}…")
    stop = slot.empty()
    stop.button("Cancel", key="p_cancel", on_click=_cancel, args=(key,), icon=":material/stop_circle:",
                help="Stops after the batch that is running; the images done so far stay in the table.")
    start = time.monotonic()
    rows = predict_bytes(tm, [(u.name, u.data) for u in todo], runtime=runtime, batch_size=BATCH, thumbnail=THUMB)
    for done, (u, row) in enumerate(zip(todo, rows), 1):
        cache.put(u.digest, Result(row.probs, row.error, list(row.notices), list(row.warnings),
                                   data_uri(row.thumbnail)))
        if done % BATCH == 0 or done == len(todo):  # between batches: a Cancel click stops the run here
            bar.progress(done / len(todo), text=progress_text(done, len(todo), time.monotonic() - start))
    stop.empty()
    secs = time.monotonic() - start
    summary = (f"Predicted {_format.plural(len(todo), 'image')} in {secs:.1f} s ({len(todo) / max(secs, 1e-9):.0f} "
               f"images/s) with {_format.md_text(runtime.describe)}."
               + (f" {total - len(todo)} came from the cache." if total > len(todo) else ""))
    bar.progress(1.0, text=summary)
    st.session_state[SUMMARY_KEY] = (key, summary)


def progress_text(done: int, total: int, secs: float) -> str:
    rate = done / max(secs, 1e-9)
    eta = (total - done) / rate if rate > 0 else float("nan")
    return f"{done} of {_format.plural(total, 'image')} ({done / total:.0%}), {rate:.0f} images/s, ETA {eta:.0f} s"
