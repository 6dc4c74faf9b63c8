"""The Compare page exports its comparison as one HTML report (AppTest, real finished runs): a title and a
note typed on the page, a button that builds the report with core.analysis.report, and a download button
that carries exactly the report's bytes."""
from __future__ import annotations

import pytest

from lab_pages_support import app_at, problems

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("page_jobs_cleanup")]


def _served_url(data: bytes, file_name: str) -> str:
    """The address Streamlit's in-memory media storage gives these bytes (what AppTest's runtime uses)."""
    from streamlit.runtime.media_file_storage import MediaFileKind
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    storage = MemoryMediaFileStorage("/mock/media")
    return storage.get_url(storage.load_and_get_id(data, "text/html", MediaFileKind.DOWNLOADABLE, file_name))


def test_compare_page_exports_the_report(trained):
    at = app_at("compare")
    assert problems(at) == []
    assert not [b for b in at.get("download_button") if "report" in b.proto.label.lower()]  # built on request
    at.text_input(key="c_report_title").input("Optimisers, week 3")
    at.text_area(key="c_report_note").input("Adam <b>vs</b> Adamax")
    at.button(key="c_report_build").click().run()
    assert problems(at) == []
    data = at.session_state["c_report"]["html"]
    text = data.decode("utf-8")
    assert "<h1>Optimisers, week 3</h1>" in text and "Adam &lt;b&gt;vs&lt;/b&gt; Adamax" in text
    for rid in trained["ids"]:
        assert f"#{rid} " in text
    (button,) = [b for b in at.get("download_button") if b.proto.label == "Download report (HTML)"]
    name = at.session_state["c_report"]["file_name"]
    assert name.endswith(".html") and "<" not in name
    assert button.proto.url == _served_url(data, name)
    # a changed title or note makes the built report stale: the button goes until it is built again
    at.text_input(key="c_report_title").input("Another title").run()
    assert not [b for b in at.get("download_button") if b.proto.label == "Download report (HTML)"]
