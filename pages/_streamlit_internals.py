"""Every use of Streamlit's private (undocumented) API by the lab, in one place.

Checked against Streamlit ``CHECKED_STREAMLIT_VERSIONS``; ``tests/test_streamlit_internals.py`` asserts
that each private name used here still exists and behaves as assumed, so an upgrade that changes one
fails there, not on a user's page. Documented ways are used wherever Streamlit has one; what is left:

- **the legacy ``pages/`` mode.** A folder named ``pages/`` beside ``app.py`` makes Streamlit run a
  page file directly (no frame, no sidebar) until some session calls ``st.navigation`` (documented:
  "as soon as any session executes st.navigation, the app ignores the pages/ directory"). No config
  option turns that mode off, and only the private class flag ``PagesManager.uses_pages_directory``
  says whether it is on: ``legacy_pages_mode`` reads it, ``leave_legacy_pages_mode`` (called by
  ``scripts/serve.py`` before the server starts) clears it as ``st.navigation`` does, and
  ``ensure_frame`` (one line at the top of every page) handles the first view after a plain
  ``streamlit run app.py``;
- **the page a browser asked for.** ``requested_url_path`` (and ``requested_page_hash`` for a page
  picked in the app) read it from the script run context's pages manager; ``request_page`` points
  the run at the lab's hidden "page not found" page (``page_hash``: an ``st.Page``'s script hash),
  so that Streamlit neither adds its own "page not found" dialog nor marks Home as the current page
  in the sidebar; ``forget_requested_page`` clears it;
- **widgets drawn with a session-state value** (the Train form): ``widget_default`` passes that value
  as the widget's default too (a run that does not send session-state values to the browser, the
  first view after a start or a legacy-mode run, still shows it), which needs the widget's kind from
  the Streamlit command's function name; ``widget_container`` finds the container a bound widget
  command draws into;
- **Streamlit's own exceptions.** ``raised_by_streamlit`` tells them from the lab's bugs by the module
  that defines their class (``streamlit.*``).

Imports no other module of ``pages`` and declares no Streamlit cache, so ``scripts/serve.py`` can
import it before the server (and its caches) exist.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

log = logging.getLogger("lab.pages")

CHECKED_STREAMLIT_VERSIONS = ("1.67.0",)
FRAMED_KEY = "_lab_framed"  # session state: app.py's navigation ran in this session


# ---------------------------------------------------------------- the legacy pages/ mode
def _pages_manager_class():
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without it has no legacy mode to escape
        return None
    return PagesManager


def legacy_pages_mode() -> bool:
    """Streamlit runs page files of ``pages/`` directly (no ``st.navigation`` call yet in this process)."""
    pm = _pages_manager_class()
    return bool(getattr(pm, "uses_pages_directory", False)) if pm is not None else False


def leave_legacy_pages_mode() -> None:
    """Tell Streamlit up front that this app declares its pages with ``st.navigation``.

    ``st.navigation`` ends the legacy mode by clearing this same process-wide flag; clearing it before
    the server starts makes the first page view after a start one run of app.py like every later one
    (without it, that view ran the page file alone and ``ensure_frame`` ran it again through app.py:
    0.15-0.2 s of a cold deep link, bench/README.md). A Streamlit without the flag is left as it is:
    the page's own ``ensure_frame`` still handles that case."""
    pm = _pages_manager_class()
    if pm is not None and hasattr(pm, "uses_pages_directory"):
        pm.uses_pages_directory = False


def mark_framed() -> None:
    """Called by the app's navigation: this session's pages run inside app.py's frame."""
    st.session_state[FRAMED_KEY] = True


def ensure_frame(declare_navigation: Callable[[], Any]) -> None:
    """Give a page the app frame when Streamlit ran it without app.py (the first line of every page,
    with the app's navigation function: ``_streamlit_internals.ensure_frame(_frame.navigation)``).

    A deep link (``/runs?run=7``) opened first after a plain ``streamlit run app.py`` runs the page
    file directly, with a file-list sidebar and no frame. Declaring the navigation here ends that mode
    for every session; the run then starts again through app.py (frame, sidebar, same widget ids as
    every later run). A no-op when app.py framed the page, and after a session's first run (AppTest
    re-enters the legacy mode on every run)."""
    if legacy_pages_mode() and not st.session_state.get(FRAMED_KEY):
        declare_navigation()
        # run again, now through app.py: widgets made in this legacy run get other ids than in the
        # app's later runs, so their first change was lost (an upload on a deep-linked Predict page
        # vanished without a prediction)
        st.rerun()


# ---------------------------------------------------------------- the page the browser asked for
def _pages_manager():
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    return get_script_run_ctx().pages_manager


def requested_url_path() -> str | None:
    """The URL path (without slashes) the browser asked for in this script run, '' for the app's root;
    None when the page was picked in the app (sidebar, page link, rerun) or Streamlit's internals moved."""
    try:
        pm = _pages_manager()
        if pm.intended_page_script_hash:  # a page picked in the app
            return None
        return (pm.intended_page_name or "").strip("/")
    except Exception:  # noqa: BLE001 - internal API moved: no check rather than a broken app
        return None


def requested_page_hash() -> str | None:
    """The script hash of the page picked in the app for this script run (a rerun of the page on
    show sends its hash), else None."""
    try:
        return _pages_manager().intended_page_script_hash or None
    except Exception:  # noqa: BLE001 - internal API moved: no page known
        return None


def page_hash(page) -> str | None:
    """The script hash Streamlit gives an ``st.Page`` (derived from its url_path)."""
    return getattr(page, "_script_hash", None)


def request_page(page) -> None:
    """Make this run a request for ``page`` (a page given to ``st.navigation`` in this run), so
    that ``st.navigation`` resolves it, marks it as the current page and shows no "page not found"
    dialog of its own."""
    try:
        _pages_manager().set_script_intent(page_hash(page) or "", "")
    except Exception:  # noqa: BLE001 - internal API moved: Streamlit shows its default page
        log.info("could not point this run at the page %s", getattr(page, "url_path", page))


def forget_requested_page() -> None:
    """Make this run a request for the default page (no page name), so that Streamlit does not add
    its own "page not found" dialog to the lab's."""
    try:
        _pages_manager().set_script_intent("", "")
    except Exception:  # noqa: BLE001 - internal API moved: Streamlit's dialog shows as well
        log.info("could not clear the requested page name")


# ---------------------------------------------------------------- widgets
def widget_default(fn: Callable, value: Any, options: Sequence | None = None) -> dict[str, Any]:
    """The keyword argument that makes ``value`` the default of widget command ``fn`` (``st.selectbox``,
    ``cols[0].radio``, ``st.number_input``...): ``index`` for a selectbox or radio, ``default`` for a
    multiselect, ``value`` otherwise. The kind is the command's function name."""
    kind = getattr(fn, "__name__", "")
    if kind in ("selectbox", "radio"):
        return {"index": list(options or []).index(value)}
    if kind == "multiselect":
        return {"default": list(value)}
    return {"value": value}


def widget_container(fn: Callable):
    """The container a widget command draws into (a column's, the sidebar's; ``st`` for ``st.*``)."""
    where = getattr(fn, "__self__", None)
    return where if hasattr(where, "warning") else st


# ---------------------------------------------------------------- exceptions
def raised_by_streamlit(err: BaseException) -> bool:
    """An exception of Streamlit's own (an API misuse, a control-flow signal): left to Streamlit."""
    return type(err).__module__.startswith("streamlit")
