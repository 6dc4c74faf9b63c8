"""What pages/_streamlit_internals.py assumes of Streamlit's private API, checked against the installed
Streamlit: a new version that renames or changes one of them fails here (then re-check the module and
add the version to ``CHECKED_STREAMLIT_VERSIONS``), not on a user's first deep link."""
from __future__ import annotations

import ast

import pytest
import streamlit

from lab_pages_support import APP, PROJECT_ROOT, problems
from pages import _streamlit_internals as sti

pytestmark = pytest.mark.usefixtures("page_jobs_cleanup")


def _version_note() -> str:
    return f"Streamlit {streamlit.__version__}; the module was checked against {', '.join(sti.CHECKED_STREAMLIT_VERSIONS)}"


@pytest.fixture
def legacy_flag():
    """Streamlit's process-wide legacy-mode flag, restored after the test."""
    from streamlit.runtime.pages_manager import PagesManager

    saved = PagesManager.uses_pages_directory
    yield PagesManager
    PagesManager.uses_pages_directory = saved


def test_the_legacy_pages_mode_is_the_class_flag_the_module_reads_and_clears(legacy_flag):
    """A pages manager for app.py (a pages/ folder beside it) switches the legacy mode on when the flag
    is unset; ``leave_legacy_pages_mode`` switches it off for good, as ``st.navigation`` does."""
    PagesManager = legacy_flag
    assert "uses_pages_directory" in vars(PagesManager), _version_note()
    PagesManager.uses_pages_directory = None
    PagesManager(str(PROJECT_ROOT / "app.py"))
    assert PagesManager.uses_pages_directory is True, _version_note()
    assert sti.legacy_pages_mode()
    sti.leave_legacy_pages_mode()
    assert PagesManager.uses_pages_directory is False and not sti.legacy_pages_mode()
    PagesManager(str(PROJECT_ROOT / "app.py"))  # a later session's manager does not switch it on again
    assert PagesManager.uses_pages_directory is False, _version_note()


def test_a_page_run_first_in_legacy_mode_is_drawn_inside_the_frame(lab_env, monkeypatch, legacy_flag):
    """The first run opens a page (not app.py) with the legacy mode on, as a deep link does after a plain
    ``streamlit run app.py``: ``ensure_frame`` declares the navigation and reruns through app.py, so the
    page has the shared sidebar, and the app's navigation has ended the legacy mode."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("LAB_DASHBOARD_SUPERVISOR", "0")
    at = AppTest.from_file(APP, default_timeout=180)
    at.switch_page("pages/recipes.py")  # before any run: the page is resolved by its file, in legacy mode
    at.run()
    assert problems(at) == []
    assert [t.value for t in at.title] == ["Recipes"]
    assert "Research and teaching use only." in [c.value for c in at.sidebar.caption], _version_note()
    assert at.session_state[sti.FRAMED_KEY] is True
    assert legacy_flag.uses_pages_directory is False, _version_note()


def _requested_page_script():
    import streamlit as st
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    from pages import _streamlit_internals as sti

    seen = [sti.requested_url_path()]  # the app's root, nothing picked in the app: ''
    get_script_run_ctx().pages_manager.set_script_intent("", "/nosuchpage/")  # as a browser asking for it
    seen.append(sti.requested_url_path())
    sti.forget_requested_page()
    seen.append(sti.requested_url_path())
    get_script_run_ctx().pages_manager.set_script_intent("somehash", "runs")  # a page picked in the app
    seen.append(sti.requested_url_path())
    st.write(repr(seen))


def test_the_requested_page_is_read_from_and_cleared_in_the_pages_manager():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_requested_page_script).run()
    assert problems(at) == []
    assert at.markdown[0].value == repr(["", "nosuchpage", "", None]), _version_note()
    assert sti.requested_url_path() is None  # outside a script run: no check rather than an error


def _widget_script():
    import streamlit as st

    from pages._streamlit_internals import widget_container, widget_default

    ss = st.session_state
    ss.setdefault("sel", "b")
    ss.setdefault("multi", ["y"])
    ss.setdefault("num", 3)
    ss.setdefault("flag", True)
    cols = st.columns(2)
    options = ["a", "b", "c"]
    sel = cols[0].selectbox("S", options, key="sel", **widget_default(cols[0].selectbox, ss["sel"], options))
    radio = cols[0].radio("R", options, key="rad", **widget_default(cols[0].radio, "c", options))
    multi = st.multiselect("M", ["x", "y"], key="multi", **widget_default(st.multiselect, ss["multi"]))
    num = st.number_input("N", key="num", **widget_default(st.number_input, ss["num"]))
    flag = st.checkbox("F", key="flag", **widget_default(st.checkbox, ss["flag"]))
    widget_container(cols[1].selectbox).warning("in the second column")
    widget_container(st.selectbox).warning("in the main area")
    st.write(repr((sel, radio, multi, num, flag)))


def test_widgets_take_their_session_state_value_also_as_their_default():
    """The Train form's widgets: ``widget_default`` picks the keyword by the command's name (index for a
    selectbox or radio, default for a multiselect, value otherwise); a widget given both that default and
    the same session-state value shows it without an error; ``widget_container`` is the column drawn into."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_widget_script).run()
    assert problems(at) == []
    assert at.selectbox(key="sel").value == "b" and at.radio(key="rad").value == "c"
    assert at.multiselect(key="multi").value == ["y"] and at.number_input(key="num").value == 3
    assert at.checkbox(key="flag").value is True
    assert [w.value for w in at.columns[1].warning] == ["in the second column"], _version_note()
    assert "in the main area" in [w.value for w in at.main.warning]
    assert at.markdown[-1].value == repr(("b", "c", ["y"], 3, True))
    assert sti.widget_default(streamlit.radio, "b", ["a", "b"]) == {"index": 1}
    assert sti.widget_default(streamlit.multiselect, ("x",)) == {"default": ["x"]}
    assert sti.widget_default(streamlit.slider, 0.5) == {"value": 0.5}


def test_streamlit_control_flow_is_not_an_exception_and_its_errors_are_recognised():
    """Pages' error guard (``except Exception``) never swallows st.rerun / st.stop, and re-raises
    Streamlit's own errors, recognised by the module of their class."""
    from streamlit.errors import StreamlitAPIException
    from streamlit.runtime.scriptrunner_utils.exceptions import RerunException, StopException

    assert not issubclass(RerunException, Exception) and not issubclass(StopException, Exception), _version_note()
    assert sti.raised_by_streamlit(StreamlitAPIException("misuse"))
    assert not sti.raised_by_streamlit(ValueError("a bug of the lab"))


def test_the_module_can_be_imported_before_the_server_exists():
    """scripts/serve.py imports it before Streamlit's runtime starts: it declares no Streamlit cache and
    imports no other module of ``pages`` (whose caches would not be the runtime's)."""
    tree = ast.parse((PROJECT_ROOT / "pages" / "_streamlit_internals.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert not (node.module or "").startswith("pages"), node.module
        if isinstance(node, ast.Attribute):
            assert node.attr not in ("cache_data", "cache_resource", "fragment"), node.attr
