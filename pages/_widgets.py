"""Widgets and page wrappers the pages share: error-guarded page bodies, double-click-safe
actions, lazily drawn expanders, live fragments, the dataset picker."""
from __future__ import annotations

import contextlib
import functools
import logging
import time
import traceback
from collections.abc import Callable
from typing import Any

import streamlit as st

from core.config import get_settings
from core.validation import LabError
from pages import _dataset_import, _format, _resources, _streamlit_internals

log = logging.getLogger("lab.pages")

UPLOAD_TYPES = ["jpg", "jpeg", "png", "tif", "tiff", "bmp", "webp", "gif"]


# ---------------------------------------------------------------- page wrapping
def guarded(fn: Callable[..., None]) -> Callable[..., None]:
    """Run a page body (or a fragment); LabErrors become st.error messages, never tracebacks."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> None:
        try:
            fn(*args, **kwargs)
        except LabError as err:
            st.error(_format.md_text(err), icon=":material/error:")
        except Exception as err:  # an unexpected bug: a message here, the traceback in the log
            if _streamlit_internals.raised_by_streamlit(err):  # Streamlit's own: left to it
                raise
            log.error("page error\n%s", traceback.format_exc())
            st.error(unexpected_error_text(err), icon=":material/bug_report:")

    return wrapper


def permitted(action: str, run=None, *, where=None, quiet: bool = False) -> bool:
    """Whether this session's actor may do ``action`` (on ``run``), by ``core.auth.policy``; when
    not, a caption says why (in ``where``, a column or container; nothing with ``quiet``), so a
    control the actor may not use is left out with its reason instead of failing on click."""
    d = _resources.may(action, run)
    if not d and not quiet:
        (where if where is not None else st).caption(f":material/lock: {_format.md_text(d.reason)}")
    return bool(d)


DATABASE_ERROR_TEXT = ("Something went wrong: the run store refused or could not carry out this action ({kind}). "
                       "The details are in the server log.")


def from_database(err: BaseException) -> bool:
    """Whether ``err`` (or an exception it was raised from) is a database error: SQLAlchemy's,
    or a driver's (sqlite3, psycopg), whose text holds SQL statements and their values."""
    seen: set[int] = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        module = type(e).__module__ or ""
        if module.split(".")[0] in ("sqlalchemy", "sqlite3", "psycopg", "psycopg2") or "[SQL:" in str(e):
            return True
        e = e.__cause__ or e.__context__
    return False


def unexpected_error_text(err: BaseException) -> str:
    """What a page shows of an unexpected exception (its traceback is in the log): its type and
    text, except for a database error, which gets a plain message (no SQL, no stored values)."""
    if from_database(err):
        return DATABASE_ERROR_TEXT.format(kind=type(err).__name__)
    return f"Something went wrong: {type(err).__name__}: {_format.md_text(err)}. The details are in the server log."


def show_error(err: Exception) -> None:
    st.error(_format.md_text(err), icon=":material/error:")


DOUBLE_CLICK_S = 2.0  # a second click on an action button within this time of the first one's end is the same click


@contextlib.contextmanager
def single_click(key: str):
    """Guards a button's action (queue a run, import a bundle) against the second click of a
    double click::

        with _widgets.single_click("quick_start") as act:
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


# ---------------------------------------------------------------- the dataset picker
def dataset_widget_keys(key: str, name: str, info=None) -> list[str]:
    """The session-state keys of ``dataset_picker(key)``'s widgets for dataset ``name`` (the
    dataset choice, its folder, its further path parameters, the subsample), e.g. for a page
    that remembers them across visits."""
    if info is None:
        info = next((i for i in _resources.cached_dataset_infos() if i.name == name), None)
    extra = list(info.extra_path_params) if info is not None else []
    return [f"{key}_name", f"{key}_path_{name}", *(f"{key}_{p}_{name}" for p in extra), f"{key}_mpc_{name}"]


def dataset_picker(key: str, *, label: str = "Dataset", default: str = "digits",
                   allow_subsample: bool = True) -> tuple[str, dict] | None:
    """Select a dataset (and its folder/file for those that need one). Returns (name, params),
    or None while the dataset cannot be used yet (no folder typed; a Keras dataset not in the
    cache, whose import form is shown instead).

    The folder widget's placeholder, its pre-filled value (a settings attribute) and further
    path parameters (fundus' labels CSV) come from the dataset's registration metadata."""
    infos = _resources.cached_dataset_infos()
    names = [i.name for i in infos]
    by_name = {i.name: i for i in infos}
    default = st.session_state.get(f"{key}_name", default)  # a value set before the widget is shown first
    idx = names.index(default) if default in names else 0
    name = st.selectbox(label, names, index=idx, key=f"{key}_name",
                        format_func=lambda n: f"{by_name[n].title} ({_format.availability_label(by_name[n].availability)})")
    info = by_name[name]
    _dataset_import.show_flash()  # "Imported ...": once, after the import's rerun
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
    elif info.availability == "needs_download":  # said once, here; the page does not try to load it
        if _dataset_import.is_keras_dataset(name):
            _dataset_import.import_form(key, name, info.title)
        else:
            st.warning(_dataset_import.markdown_with_code(info.how_to), icon=":material/cloud_download:")
        return None
    if allow_subsample and "max_per_class" in accepted:
        mpc = st.number_input("Images per class (0 = all)", min_value=0,
                              value=int(st.session_state.get(f"{key}_mpc_{name}", 0)), step=50, key=f"{key}_mpc_{name}",
                              help="A deterministic stratified subsample for quick looks and runs.")
        if mpc:
            params["max_per_class"] = int(mpc)
    return name, params
