"""Shared, thin UI helpers for the pages: cached resources, error wrapping, small widgets.

No training, SQL, metric maths or prediction logic here (decoding uploads, checking them
against a run and predicting are in ``core.serving.inference``): only glue between widgets and
``core``. The text-formatting helpers the pages share (no ``st.*`` calls) are at the bottom.
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import io
import json
import logging
import re
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from core.config import get_settings
from core.validation import LabError

log = logging.getLogger("lab.pages")

UPLOAD_TYPES = ["jpg", "jpeg", "png", "tif", "tiff", "bmp", "webp", "gif"]
FINAL = ("succeeded", "failed", "cancelled", "interrupted")
RESEARCH_NOTICE = "Research use only — not a diagnosis. This model has not been validated for clinical use."


# ---------------------------------------------------------------- cached resources
@st.cache_resource(show_spinner=False)
def _store_for(url: str, models_dir: str):
    from core.store import Store

    return Store(url, models_dir=models_dir)


def get_store():
    """The run store of this process (one per database URL, shared by all sessions)."""
    s = get_settings()
    return _store_for(s.database_url, str(s.models_dir))


@st.cache_resource(show_spinner=False)
def _jobs_for(url: str, models_dir: str):
    from core.jobs.manager import JobManager, dashboard_supervises

    jm = JobManager(_store_for(url, models_dir), Path(models_dir), poll_interval=1.0, kind="dashboard")
    if dashboard_supervises():
        jm.start()
    _STARTED_JOB_MANAGERS.append(jm)
    return jm


_STARTED_JOB_MANAGERS: list = []


def shutdown_job_managers(*, stop_running: bool = True) -> None:
    """Stop every job manager this process started (tests, benchmarks; at exit with
    ``stop_running=False``: trainings go on and the next supervisor adopts them)."""
    while _STARTED_JOB_MANAGERS:
        jm = _STARTED_JOB_MANAGERS.pop()
        try:
            jm.shutdown(stop_running=stop_running)
        except Exception:  # noqa: BLE001 - best effort at exit
            log.warning("job manager shutdown failed\n%s", traceback.format_exc())
    _jobs_for.clear()


atexit.register(shutdown_job_managers, stop_running=False)  # ends the lease when the server stops


def get_jobs():
    """The job manager (one per process and store, shared by all sessions). Its supervisor
    runs the queue unless LAB_DASHBOARD_SUPERVISOR=0 (then `python -m core jobs serve` does)."""
    s = get_settings()
    return _jobs_for(s.database_url, str(s.models_dir))


def ensure_supervisor():
    """Called on every page view (shared sidebar): the queue of this process's store is
    supervised from the first page view of any session after a (re)start, and a supervisor
    thread that died is started again. Returns the job manager."""
    from core.jobs.manager import dashboard_supervises

    jm = get_jobs()
    if dashboard_supervises() and not jm.running:
        jm.start()
    return jm


def ensure_supervisor_quietly() -> None:
    """``ensure_supervisor()`` before a page is drawn (app.py), so that on the first view of a
    server process a run left `running` by a dead worker is already `interrupted` when the page
    lists it. A store error is left to the sidebar, which shows it."""
    try:
        ensure_supervisor()
    except Exception:  # noqa: BLE001 - the sidebar says what is wrong; the page still renders
        log.warning("job supervisor not started before the page\n%s", traceback.format_exc())


DOUBLE_CLICK_S = 2.0  # a second click on an action button within this time of the first one's end is the same click


@contextlib.contextmanager
def single_click(key: str):
    """Guards a button's action (queue a run, import a bundle) against the second click of a
    double click::

        with _ui.single_click("quick_start") as act:
            if act: ...queue...

    The second click interrupts the first click's script run at its next Streamlit call (every
    ``st.session_state`` access is one); its own run then sees that an action of the same key
    started, or ended, less than ``DOUBLE_CLICK_S`` ago and does nothing. The record is made
    before the action and its end time set without a Streamlit call; an action that raised leaves
    no record, so the next click tries again."""
    k = f"_single_click_{key}"
    last = st.session_state.get(k)
    if last is not None and time.time() - last["at"] < DOUBLE_CLICK_S:
        yield False
        return
    record = {"at": time.time()}
    st.session_state[k] = record
    try:
        yield True
    except Exception:  # not Streamlit's rerun/stop (BaseException): an interrupted action still counts
        st.session_state.pop(k, None)  # the action failed (a message says why): the next click tries again
        raise
    record["at"] = time.time()


JOBS_REFRESH_S = 2.0  # the sidebar, Home and Train job views all refresh at this pace


def job_snapshot(recent: int = 0):
    """The queue's state in one consistent read (core.jobs.manager.job_snapshot): running and queued
    runs with progress, live supervisors, and the ``recent`` newest runs. Every page shows
    job status from this, so that no two places disagree."""
    from core.jobs.manager import job_snapshot as snapshot

    return snapshot(get_store(), recent=recent)


@st.cache_resource(show_spinner=False, max_entries=8)
def _trained_model(model_dir: str, mtime: float):
    from core.serving.trained_model import load_trained

    return load_trained(model_dir)


def load_run_model(run) -> Any:
    """The TrainedModel of a finished run (cached per folder and file time)."""
    d = run_dir(run)
    mp = d / "model.keras"
    if not mp.exists():
        from core.validation import NotFoundError

        raise NotFoundError(f"Run {run.id} has no saved model at {mp}. Only succeeded runs can predict.")
    return _trained_model(str(d), mp.stat().st_mtime)


def run_dir(run) -> Path:
    """Artifact folder of a run: the folder of its recorded model, else the store's run folder."""
    for a in getattr(run, "artifacts", None) or []:
        if a.kind == "model" and a.path:
            return Path(a.path).parent
    return get_store().run_dir(run.id)


# ---------------------------------------------------------------- run artifacts (read-only)
@st.cache_data(show_spinner=False, max_entries=32)
def load_evaluation(run_dir: str, mtime: float) -> dict | None:
    p = Path(run_dir) / "evaluation.json"
    return json.loads(p.read_text()) if p.is_file() else None


@st.cache_data(show_spinner=False, max_entries=32)
def load_predictions(run_dir: str, mtime: float) -> pd.DataFrame | None:
    p = Path(run_dir) / "predictions.csv"
    return pd.read_csv(p, dtype={"id": str}) if p.is_file() else None


def _mtime(p) -> float:
    return p.stat().st_mtime if p.exists() else 0.0


def run_artifacts(r) -> tuple[dict | None, pd.DataFrame | None, dict]:
    d = run_dir(r)
    ev = load_evaluation(str(d), _mtime(d / "evaluation.json"))
    pred = load_predictions(str(d), _mtime(d / "predictions.csv"))
    meta_p = d / "meta.json"
    meta = json.loads(meta_p.read_text()) if meta_p.is_file() else {}
    return ev, pred, meta



# ---------------------------------------------------------------- page wrapping
def guarded(fn: Callable[..., None]) -> Callable[..., None]:
    """Run a page body (or a fragment); LabErrors become st.error messages, never tracebacks."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> None:
        try:
            fn(*args, **kwargs)
        except LabError as err:
            st.error(md_text(err), icon=":material/error:")
        except Exception as err:  # an unexpected bug: a message here, the traceback in the log
            if type(err).__module__.startswith("streamlit"):  # rerun/stop control flow
                raise
            log.error("page error\n%s", traceback.format_exc())
            st.error(f"Something went wrong: {type(err).__name__}: {md_text(err)}. The details are in the server log.",
                     icon=":material/bug_report:")

    return wrapper


def show_error(err: Exception) -> None:
    st.error(md_text(err), icon=":material/error:")


# ---------------------------------------------------------------- shared sidebar
PAGE_TITLE = "Image-classification lab"


def _pages() -> dict[str, list]:
    # url_path = the file's stem, so the URL of a page is the same whichever way Streamlit
    # first resolves it (see ensure_frame).
    return {
        "Lab": [
            st.Page("pages/home.py", title="Home", icon=":material/home:", default=True, url_path="home"),
            st.Page("pages/data_explorer.py", title="Data explorer", icon=":material/query_stats:",
                    url_path="data_explorer"),
            st.Page("pages/augmentation.py", title="Augmentation studio", icon=":material/auto_fix_high:",
                    url_path="augmentation"),
        ],
        "Experiments": [
            st.Page("pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
            st.Page("pages/runs.py", title="Runs", icon=":material/table_rows:", url_path="runs"),
            st.Page("pages/compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
            st.Page("pages/recipes.py", title="Recipes", icon=":material/menu_book:", url_path="recipes"),
        ],
        "Use": [
            st.Page("pages/predict.py", title="Predict & explain", icon=":material/image_search:",
                    url_path="predict"),
        ],
    }


def navigation():
    """Page config + st.navigation over the lab's pages (called by app.py).

    An address that names no page (``/nosuchpage``) is remembered for ``missing_page()`` and
    the request is turned into one for the default page first, so that Streamlit's own
    "Running the app's main page" dialog does not cover the lab's "Page not found" page."""
    st.set_page_config(page_title=PAGE_TITLE, page_icon=":material/biotech:", layout="wide")
    st.session_state["_lab_framed"] = True
    missing = requested_unknown_page()
    st.session_state["_lab_missing_page"] = missing
    if missing is not None:
        _forget_requested_page()
    return st.navigation(_pages(), position="sidebar")


def missing_page() -> str | None:
    """The unknown page asked for in this script run (see ``navigation``), else None."""
    return st.session_state.get("_lab_missing_page")


def _forget_requested_page() -> None:
    try:
        from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

        get_script_run_ctx().pages_manager.set_script_intent("", "")
    except Exception:  # noqa: BLE001 - internal API moved: Streamlit's dialog shows as well
        log.info("could not clear the requested page name")


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


def requested_unknown_page() -> str | None:
    """The URL path the browser asked for when it names no page of the lab (``/nosuchpage``),
    else None. Streamlit then runs the default page without a word; app.py says so instead."""
    try:
        from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

        pm = get_script_run_ctx().pages_manager
        if pm.intended_page_script_hash:  # a page picked in the app (sidebar, page link, rerun)
            return None
        name = (pm.intended_page_name or "").strip("/")
    except Exception:  # noqa: BLE001 - internal API moved: no check rather than a broken app
        return None
    known = {"", "home"} | {p.url_path for section in _pages().values() for p in section}
    return name if name and name not in known else None


def page_not_found(name: str) -> None:
    """A "page not found" page with links to the real ones (instead of silently showing Home)."""
    st.title("Page not found")
    st.error(f"There is no page at /{md_text(name[:200])} in this lab. Check the address, or pick a page "
             "below or in the sidebar.", icon=":material/link_off:")
    st.markdown("The lab's pages:")
    for section, pages in _pages().items():
        st.caption(section)
        for p in pages:
            st.page_link(p, label=p.title, icon=p.icon)


def _legacy_pages_mode() -> bool:
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without it has no legacy mode to escape
        return False
    return bool(PagesManager.uses_pages_directory)


def ensure_frame() -> None:
    """Give a page the app frame when Streamlit ran it without app.py.

    A folder named ``pages/`` beside the entrypoint makes Streamlit treat the app as a
    legacy multipage app until the first session runs ``st.navigation``: a deep link
    (``/runs?run=7``) opened first after a restart runs the page file directly, with a
    file-list sidebar and no frame. Declaring the navigation here ends that mode for
    every session; the run then starts again through app.py (frame, sidebar, same widget
    ids as every later run). A no-op when app.py framed the page, and after a session's
    first run (AppTest re-enters the legacy mode on every run).
    """
    if _legacy_pages_mode() and not st.session_state.get("_lab_framed"):
        navigation()
        # run again, now through app.py: widgets made in this legacy run get other ids than in
        # the app's later runs, so their first change was lost (an upload on a deep-linked
        # Predict page vanished without a prediction)
        st.rerun()


def shared_sidebar() -> None:
    with st.sidebar:
        st.caption("Research and teaching use only.")
        sidebar_jobs()
        st.caption(f"Store: `{redact_url(get_settings().database_url)}`")


@contextlib.contextmanager
def lazy_expander(label: str, *, key: str, **kwargs):
    """A collapsed expander whose content is drawn only while it is open.

    A plain ``st.expander`` sends its content with the page even when collapsed, and the
    browser loads and runs the scripts of every element in it before the page's own content
    shows (the Runs list's import uploader, the Data explorer's raw JSON and charts: +0.1-0.8 s
    on a first render). Opening it reruns the page with the content drawn. Yields ``True``
    when the content should be drawn (open, or when the expander does not track its state)."""
    exp = st.expander(label, key=key, on_change="rerun", **kwargs)
    with exp:
        yield exp.open is not False


def live_fragment(run_every: float):
    """``st.fragment(run_every=...)`` whose output lives in a container of its own.

    A fragment that writes into a container declared outside it (the sidebar, a column, a
    tab) and reruns with *fewer* elements leaves the removed ones on screen in Streamlit: the
    sidebar said "No jobs running." above the finished run's stale progress bar. Elements
    created inside the fragment's own container are cleared on every fragment run."""
    def deco(fn: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(fn)
        def body(*args, **kwargs) -> None:
            with st.container():
                fn(*args, **kwargs)

        return st.fragment(run_every=run_every)(body)

    return deco


@live_fragment(JOBS_REFRESH_S)
def sidebar_jobs() -> None:
    """Job status in the sidebar of every page, redrawn every JOBS_REFRESH_S seconds on its
    own (it used to be drawn once per page run: "No jobs running" during a run started by the
    page below it, "1 running" long after the run had finished)."""
    try:
        jm = ensure_supervisor()
        snap = job_snapshot()
    except LabError as err:
        st.error(str(err))
        return
    except Exception as err:  # store unreachable: say so, keep the app serving
        log.error("store error\n%s", traceback.format_exc())
        st.error(f"The run store is not reachable: {err}")
        return
    render_job_status(snap, own_supervisor=jm.supervisor_id)
    __import__("pages._jobs_ui", fromlist=["executor_caption"]).executor_caption()  # where jobs run (issue 10)


def render_job_status(snap, own_supervisor: str | None = None) -> None:
    """Counts, a progress bar per running job, and a warning when queued runs wait for a
    supervisor that is not alive."""
    from core.jobs.manager import progress_text

    if snap.waiting_unsupervised:
        st.warning(snap.unsupervised_message(), icon=":material/hourglass_disabled:")
    if not snap.active:
        st.caption("No jobs running.")
        return
    st.markdown(f"**Jobs:** {snap.headline()}")
    for r in snap.running:
        st.progress(min(1.0, max(0.0, float(r.progress or 0.0))),
                    text=f"#{r.id} {md_text(r.name)} · {md_text(progress_text(r))}")
    if snap.n_queued:
        shown = ", ".join(f"#{q.id}" for q in snap.queued[:5])
        more = f" and {snap.n_queued - 5} more" if snap.n_queued > 5 else ""
        st.caption(f"Queued: {shown}{more}")
    if snap.supervisors:
        sv = next((x for x in snap.supervisors if x.id == own_supervisor), snap.supervisors[0])
        who = "this dashboard" if sv.id == own_supervisor else f"{sv.kind} on {sv.host}"
        more = f" (+{len(snap.supervisors) - 1} more)" if len(snap.supervisors) > 1 else ""
        st.caption(f"Queue run by {md_text(who)}{more}.")


# ---------------------------------------------------------------- widgets
def dataset_widget_keys(key: str, name: str, info=None) -> list[str]:
    """The session-state keys of ``dataset_picker(key)``'s widgets for dataset ``name`` (the
    dataset choice, its folder, its further path parameters, the subsample), e.g. for a page
    that remembers them across visits."""
    if info is None:
        info = next((i for i in cached_dataset_infos() if i.name == name), None)
    extra = list(info.extra_path_params) if info is not None else []
    return [f"{key}_name", f"{key}_path_{name}", *(f"{key}_{p}_{name}" for p in extra), f"{key}_mpc_{name}"]


def dataset_picker(key: str, *, label: str = "Dataset", default: str = "digits",
                   allow_subsample: bool = True) -> tuple[str, dict] | None:
    """Select a dataset (and its folder/file for those that need one). Returns (name, params).

    The folder widget's placeholder, its pre-filled value (a settings attribute) and further
    path parameters (fundus' labels CSV) come from the dataset's registration metadata."""
    infos = cached_dataset_infos()
    names = [i.name for i in infos]
    by_name = {i.name: i for i in infos}
    default = st.session_state.get(f"{key}_name", default)  # a value set before the widget is shown first
    idx = names.index(default) if default in names else 0
    name = st.selectbox(label, names, index=idx, key=f"{key}_name",
                        format_func=lambda n: f"{by_name[n].title} ({availability_label(by_name[n].availability)})")
    info = by_name[name]
    params: dict[str, Any] = {}
    accepted = info.params or {}
    if "path" in accepted or info.availability == "needs_folder":
        prefill = getattr(get_settings(), info.settings_key, None) if info.settings_key else None
        path = st.text_input(
            "Folder or file on the server", value=str(st.session_state.get(f"{key}_path_{name}", prefill or "")),
            key=f"{key}_path_{name}",
            help=info.how_to or "A folder readable by the lab.",
            placeholder=info.path_placeholder)
        if not path.strip():
            st.info(info.how_to or "Type the folder that holds this dataset.", icon=":material/folder_open:")
            return None
        params["path"] = path.strip()
        for param, param_label in info.extra_path_params.items():
            if param not in accepted:
                continue
            wkey = f"{key}_{param}_{name}"
            value = st.text_input(param_label, key=wkey, value=str(st.session_state.get(wkey, "")))
            if value.strip():
                params[param] = value.strip()
    elif info.availability == "needs_download":
        st.warning(f"{info.title} is not in the local cache yet. {info.how_to}", icon=":material/cloud_download:")
    if allow_subsample and "max_per_class" in accepted:
        mpc = st.number_input("Images per class (0 = all)", min_value=0,
                              value=int(st.session_state.get(f"{key}_mpc_{name}", 0)), step=50, key=f"{key}_mpc_{name}",
                              help="A deterministic stratified subsample for quick looks and runs.")
        if mpc:
            params["max_per_class"] = int(mpc)
    return name, params


@st.cache_data(show_spinner=False, ttl=30)
def cached_dataset_infos():
    from core.datasets import list_datasets

    return list_datasets()


@st.cache_resource(show_spinner=False, max_entries=6, ttl=3600)
def cached_dataset(name: str, params_key: tuple):
    """A loaded Dataset (read-only; shared across sessions)."""
    from core.datasets import load_dataset

    return load_dataset(name, **dict(params_key))


def load_dataset_cached(name: str, params: dict):
    return cached_dataset(name, tuple(sorted(params.items())))


def availability_label(a: str) -> str:
    return {"builtin": "built in", "cached": "ready", "needs_download": "needs download",
            "needs_folder": "needs a folder"}.get(a, a)


def run_label(r) -> str:
    return f"#{r.id} · {r.name} · {r.dataset or '?'} · {r.model or '?'} · {r.status}"


# ---------------------------------------------------------------- pure helpers (no st.*)
_WJ = "\u2060"  # WORD JOINER: invisible, no line break; splits sequences without changing the text
_MD_TYPOGRAPHY = re.compile(r"(?<!\S)(?:<->|->|<-|--|>=|<=|~=)(?!\S)")  # Streamlit turns these into arrows etc.
_MD_ALWAYS = re.compile(r"([\\`*~\[\]<$&|])")  # code, emphasis, strikethrough, links/images, HTML, LaTeX, tables
_MD_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")  # intraword _ never emphasises: keep it
_MD_LINE_START = re.compile(r"^([ \t]*)([#>+=-]|\d+[.)])", re.MULTILINE)  # headings, quotes, lists, setext
_MD_HASH_AFTER_SPACE = re.compile(r"(?<=\s)#")  # a heading's closing "##" would be dropped
_MD_COLON = re.compile(r":(?=[\w+\-/])")  # :red[...], :material/x:, :tada:, :streamlit:, https://
_MD_WWW = re.compile(r"(?<=www)\.", re.IGNORECASE)  # GFM's www. autolinks
_MD_AT = re.compile(r"@(?=[\w-])")  # GFM's e-mail autolinks


def md_text(value: Any) -> str:
    """``value`` shown as literal text inside Streamlit Markdown (titles, captions, st.error,
    progress texts, image captions, spinners...): run names, notes, tags, class names, file
    names, ids, error messages. Not needed for plain-text widgets (selectbox options,
    dataframes, text inputs); never wrap the result in backticks (code spans show backslashes).

    Two mechanisms, because Streamlit's Markdown has two kinds of syntax:
    - constructs parsed from the source (links, images, emphasis, code, HTML, LaTeX, tables,
      headings, lists) are backslash-escaped, which CommonMark shows as the bare character;
    - rewrites done afterwards on the decoded text (GFM autolinks of ``https://``, ``www.``
      and e-mail addresses; Streamlit's ``:red[..]`` directives, ``:material/..:`` icons,
      ``:streamlit:``, emoji shortcodes, ``->`` arrows) cannot be escaped that way: an
      invisible word joiner (U+2060) is put inside the sequence instead.
    Characters that cannot start markup (``.``, ``(``, ``'``, ``/``, ``_`` inside words...)
    are left alone so messages stay readable in the source.
    """
    s = "" if value is None else str(value)
    s = _MD_TYPOGRAPHY.sub(lambda m: _WJ.join(m.group(0)), s)
    s = _MD_ALWAYS.sub(r"\\\1", s)
    s = _MD_UNDERSCORE.sub(r"\\_", s)
    s = _MD_LINE_START.sub(lambda m: m.group(1) + (m.group(2)[:-1] + "\\" + m.group(2)[-1]), s)
    s = _MD_HASH_AFTER_SPACE.sub(r"\\#", s)
    s = _MD_COLON.sub(":" + _WJ, s)
    s = _MD_WWW.sub(_WJ + ".", s)
    return _MD_AT.sub("@" + _WJ, s)


def redact_url(url: str) -> str:
    """Hide a password in a database URL."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "—"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def fmt_num(v: Any, digits: int = 3) -> str:
    if v is None:
        return "—"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not np.isfinite(f):
        return "—"
    return f"{f:.{digits}f}"


def plural(n: int, word: str, plural_word: str | None = None) -> str:
    """``1 run``, ``2 runs``, ``1,000 runs`` (``plural_word`` for irregular ones: ``plural(2, 'class', 'classes')``)."""
    n = int(n)
    return f"{n:,} {word if n == 1 else (plural_word or word + 's')}"


def png_bytes(image: np.ndarray) -> bytes:
    """Encode a uint8 image (HxW, HxWx1 or HxWx3) to PNG in memory."""
    from PIL import Image

    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()
