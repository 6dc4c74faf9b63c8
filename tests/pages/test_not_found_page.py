"""The "page not found" page (pages/_frame.py): an address that names no page of the lab is
answered by a page of its own, hidden from the sidebar, so that no sidebar entry is marked as
the current page (it used to be answered as Home, and the sidebar showed Home selected). The
browser check (no highlighted entry, the typed address kept) is tests/e2e/test_page_state.py."""
from __future__ import annotations

import pytest

from lab_pages_support import PROJECT_ROOT, problems

pytestmark = pytest.mark.slow


def _ask_for(url_path: str | None, app_path: str) -> None:
    """The app's frame, on a request for ``url_path`` as a browser sends it."""
    import streamlit as st
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    from pages import _frame

    pm = get_script_run_ctx().pages_manager
    pm._main_script_path = app_path  # the lab's pages are found beside app.py, as when app.py runs
    if url_path is not None:
        pm.set_script_intent("", url_path)
    nav = _frame.navigation()
    st.session_state["_seen"] = {"title": nav.title, "visibility": nav.visibility, "url_path": nav.url_path,
                                 "missing": _frame.missing_page()}


def _frame_for(url_path: str | None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_ask_for, args=(url_path, str(PROJECT_ROOT / "app.py")), default_timeout=60).run()
    assert problems(at) == []
    return at.session_state["_seen"]


@pytest.mark.parametrize("path, kept", [("nosuchpage", "nosuchpage"), ("a/b", "page_not_found")])
def test_an_unknown_address_is_a_hidden_page_not_home(lab_env, path, kept):
    seen = _frame_for(path)
    assert seen["missing"] == path
    assert seen["title"] == "Page not found" and seen["visibility"] == "hidden"  # no sidebar entry marked
    assert seen["url_path"] == kept  # the address typed stays in the browser when it can


@pytest.mark.parametrize("path, title", [("", "Home"), ("runs", "Runs"), (None, "Home")])
def test_real_addresses_are_their_pages(lab_env, path, title):
    seen = _frame_for(path)
    assert seen["missing"] is None and seen["title"] == title and seen["visibility"] == "visible"


def _rerun_of_the_not_found_page(app_path: str) -> None:
    """A browser on /nosuchpage, then a rerun of the page on show (it sends that page's hash)."""
    import streamlit as st
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    from pages import _frame

    pm = get_script_run_ctx().pages_manager
    pm._main_script_path = app_path
    shown = st.session_state.get("_shown")
    if shown is None:
        pm.set_script_intent("", "nosuchpage")
    else:
        pm.set_script_intent(shown, "")
    nav = _frame.navigation()
    st.session_state["_shown"] = nav._script_hash
    st.session_state.setdefault("_titles", []).append(nav.title)


def test_a_rerun_of_the_not_found_page_stays_on_it(lab_env):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_rerun_of_the_not_found_page, args=(str(PROJECT_ROOT / "app.py"),),
                               default_timeout=60).run()
    at.run()
    assert problems(at) == []
    assert at.session_state["_titles"] == ["Page not found", "Page not found"]

