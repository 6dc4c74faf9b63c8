"""What the pages show of refused and stored text (Streamlit AppTest on the real app and a real
store, SQLite and PostgreSQL):

- a note with a NUL is refused with the store's message (the character, what is accepted),
  never "Something went wrong" with the SQL statement, and the note is not saved;
- a database error reaching a page's guard shows a plain message, the details go to the log;
- text already stored with a bidirectional control or an invisible character (an older store)
  is shown with a visible marker instead (``[U+202E]``), so "\u202egpj.exe" never reads "exe.jpg".
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.store import Store
from core.store import schema as S
from lab_pages_support import app_at, page_texts
from pages import _format
from store_support import fresh_postgres_database

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def page_store(request, tmp_path, monkeypatch):
    """A store the pages use (LAB_DATABASE_URL), no supervisor; the pages' cached store and job
    managers are dropped afterwards (before a PostgreSQL test database is)."""
    from pages import _resources

    monkeypatch.setenv("LAB_DASHBOARD_SUPERVISOR", "0")
    monkeypatch.setenv("LAB_MODELS_DIR", str(tmp_path / "models"))

    def opened(url):
        monkeypatch.setenv("LAB_DATABASE_URL", url)
        s = Store(url, models_dir=tmp_path / "models")
        try:
            yield s
        finally:
            s.close()
            _resources.shutdown_job_managers()
            _resources._store_for.clear()

    if request.param == "sqlite":
        yield from opened(f"sqlite:///{tmp_path / 'runs.db'}")
    else:
        with fresh_postgres_database() as url:
            yield from opened(url)


def _errors(at) -> list[str]:
    return [str(e.value) for e in at.error] + [str(e.value) for e in at.exception]


def test_runs_page_refuses_a_note_with_a_nul_without_sql(page_store):
    rid = page_store.create_run({"model": "small_cnn"}, name="a search", dataset="digits", kind="search")
    at = app_at("runs", {"run": str(rid)})
    at.session_state["r_parent_tab"] = "Manage"
    at.run()
    assert _errors(at) == []
    at.text_area(key=f"r_notes_{rid}").set_value("before\x00after").run()
    at.button(key=f"r_save_notes_{rid}").click().run()
    errors = _errors(at)
    assert len(errors) == 1, errors
    assert "U+0000 NULL" in errors[0] and "Accepted:" in errors[0]
    assert "SQL:" not in errors[0] and "UPDATE" not in errors[0] and "Something went wrong" not in errors[0]
    assert not any("Notes saved" in str(s.value) for s in at.success)
    assert page_store.get_run(rid).notes is None


def _failing_page():
    """A guarded page body whose database refuses a statement (a real SQLAlchemy error)."""
    import sqlalchemy as sa

    from pages import _widgets

    @_widgets.guarded
    def body():
        engine = sa.create_engine("sqlite://")
        with engine.connect() as conn:
            conn.exec_driver_sql("UPDATE runs SET notes = 'secret note' WHERE id = 1")

    body()


def test_a_database_error_on_a_page_shows_no_sql(caplog):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_failing_page, default_timeout=60)
    with caplog.at_level("ERROR", logger="lab.pages"):
        at.run()
    assert [e.value for e in at.exception] == []
    (err,) = [str(e.value) for e in at.error]
    assert "SQL:" not in err and "UPDATE" not in err and "secret note" not in err and "no such table" not in err
    assert "run store" in err and "server log" in err
    assert "UPDATE runs SET notes" in caplog.text  # the details are in the log


def test_stored_spoofing_characters_are_shown_with_a_marker(page_store):
    rid = page_store.create_run({}, name="placeholder", dataset="digits", kind="search")
    with page_store.engine.begin() as conn:  # what an older lab could store
        conn.execute(sa.update(S.runs).where(S.runs.c.id == rid).values(
            name="invoice\u202egpj.exe", notes="copy\u2060me"))
    at = app_at("runs", {"run": str(rid)})
    title = " ".join(str(t.value) for t in at.title)
    assert "\u202e" not in title and "[U+202E]" in title.replace("\\", "")
    assert "\u202e" not in page_texts(at)


def test_md_text_and_run_label_mark_invisible_and_bidi_characters():
    assert _format.plain_text("\u202egpj.exe") == "[U+202E]gpj.exe"
    assert _format.plain_text("a\u2060b\u200bc\ufeff\x00") == "a[U+2060]b[U+200B]c[U+FEFF][U+0000]"
    assert _format.plain_text("line 1\n\tline 2 名前 🙂") == "line 1\n\tline 2 名前 🙂"
    assert _format.md_text("\u202egpj.exe") == "\\[U+202E\\]gpj.exe"
    assert _format.md_text("a -> b") == "a -\u2060> b"  # the helper's own word joiner is still put in

    class R:
        id, name, dataset, model, status = 3, "x\u2066y", "digits", "small_cnn", "failed"

    assert _format.run_label(R) == "#3 · x[U+2066]y · digits · small_cnn · failed"
