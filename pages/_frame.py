"""The app's frame (app.py): page config, the navigation over the lab's pages, "page not found",
and the shared sidebar. A new page is one ``st.Page`` line in ``_pages()`` (url_path = the file's stem)."""
from __future__ import annotations

import functools

import streamlit as st

from core.config import get_settings
from pages import _auth, _auth_config, _format, _jobs_ui, _resources, _streamlit_internals

PAGE_TITLE = "Image-classification lab"
_auth.use_store(_resources.get_store)  # the signed-in person's user record is read from the cached store


def _pages() -> dict[str, list]:
    # url_path = the file's stem, so the URL of a page is the same whichever way Streamlit
    # first resolves it (see _streamlit_internals.ensure_frame).
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
            st.Page("pages/review.py", title="Review flags", icon=":material/flag:", url_path="review"),
            st.Page("pages/admin.py", title="Admin", icon=":material/admin_panel_settings:", url_path="admin",
                    visibility="visible" if _resources.admin_page_visible() else "hidden"),
        ],
    }


NOT_FOUND_URL = "page_not_found"  # the hidden page's address when the one asked for cannot be a page's


def navigation():
    """Page config + st.navigation over the lab's pages (called by app.py).

    An address that names no page (``/nosuchpage``) is remembered for ``missing_page()`` and
    answered by a hidden page of its own (``_not_found_page``): the request is turned into one for
    that page, so Streamlit neither adds its "Running the app's main page" dialog nor marks a
    sidebar entry (Home, the default page) as the page on show."""
    st.set_page_config(page_title=PAGE_TITLE, page_icon=":material/biotech:", layout="wide")
    _streamlit_internals.mark_framed()
    instead = _auth.gate()  # sign-in (configuration, landing page, disabled account) before any page
    if instead is not None:
        return _only_page(instead)
    warn_if_exposed()
    missing = requested_unknown_page()
    if missing is None:
        missing = _still_not_found()
    st.session_state["_lab_missing_page"] = missing
    pages = _pages()
    if missing is not None:
        not_found = _not_found_page(missing)
        pages["Lab"].append(not_found)  # hidden: no sidebar entry, and none marked as the current page
        _streamlit_internals.request_page(not_found)
    return st.navigation(pages, position="sidebar")


def _only_page(view):
    """The one page a visitor who may not use the lab gets, whatever address they asked for: no
    sidebar entries, no "page not found" dialog, no other page's name."""
    st.session_state["_lab_missing_page"] = None
    page = st.Page(view, title="Sign in", icon=":material/login:", url_path="sign_in", default=True)
    _streamlit_internals.request_page(page)
    return st.navigation([page], position="hidden")


def warn_if_exposed() -> None:
    """Single-user mode on an address beyond this machine (an explicit --server.address): every
    page says that anyone who reaches it can do everything."""
    if _auth.auth_enabled():
        return
    address = st.get_option("server.address")
    if not _auth_config.is_loopback(address):
        st.warning(_format.md_text(_auth_config.exposed_warning(address)), icon=":material/public:")


def _not_found_page(name: str):
    """The hidden page that answers an unknown address; its URL is the address asked for when
    that can be a page's (no slash in it), so the browser keeps showing what was typed."""
    view = functools.partial(page_not_found, name)  # app.py draws it; st.navigation needs a page
    if name and "/" not in name:
        try:
            return st.Page(view, title="Page not found", icon=":material/link_off:", url_path=name,
                           visibility="hidden")
        except Exception:  # noqa: BLE001 - a name Streamlit does not take as a URL path
            pass
    return st.Page(view, title="Page not found", icon=":material/link_off:", url_path=NOT_FOUND_URL,
                   visibility="hidden")


def _still_not_found() -> str | None:
    """The unknown address of this session's last run when this run is a rerun of its page."""
    last = st.session_state.get("_lab_missing_page")
    picked = _streamlit_internals.requested_page_hash()
    if last is None or picked is None:
        return None
    return last if picked == _streamlit_internals.page_hash(_not_found_page(last)) else None


def missing_page() -> str | None:
    """The unknown page asked for in this script run (see ``navigation``), else None."""
    return st.session_state.get("_lab_missing_page")


def requested_unknown_page() -> str | None:
    """The URL path the browser asked for when it names no page of the lab (``/nosuchpage``),
    else None. Streamlit then runs the default page without a word; app.py says so instead."""
    name = _streamlit_internals.requested_url_path()
    if not name:  # the app's root, a page picked in the app, or no script run
        return None
    known = {"home"} | {p.url_path for section in _pages().values() for p in section}
    return name if name not in known else None


def page_not_found(name: str) -> None:
    """A "page not found" page with links to the real ones (instead of silently showing Home)."""
    st.title("Page not found")
    st.error(f"There is no page at /{_format.md_text(name[:200])} in this lab. Check the address, or pick a page "
             "below or in the sidebar.", icon=":material/link_off:")
    st.markdown("The lab's pages:")
    for section, pages in _pages().items():
        st.caption(section)
        for p in pages:
            if p.visibility != "hidden":  # the Admin page, for those who may not use it
                st.page_link(p, label=p.title, icon=p.icon)


def shared_sidebar() -> None:
    with st.sidebar:
        if not _auth.may_see_lab():  # a visitor who is not signed in: no jobs, no store address
            st.caption("Research and teaching use only.")
            return
        _auth.sign_out_button()
        st.caption("Research and teaching use only.")
        _jobs_ui.sidebar_jobs()
        st.caption(f"Store: `{_format.redact_url(get_settings().database_url)}`")
