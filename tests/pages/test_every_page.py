"""Every page of the app (AppTest through app.py): each page file is in the navigation, and each
renders without an exception or error message on an empty store and on a store with real
finished runs. A new pages/<name>.py is covered without touching this file."""
from __future__ import annotations

import ast

import pytest

from lab_pages_support import PROJECT_ROOT, app_at, problems
from lab_pages_support import page_texts as texts

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("page_jobs_cleanup")]

PAGES_DIR = PROJECT_ROOT / "pages"
PAGES = sorted(p.stem for p in PAGES_DIR.glob("*.py") if not p.name.startswith("_"))


def navigation_paths() -> list[str]:
    """The files named by ``st.Page("pages/<name>.py", ...)`` in pages/_frame.py's navigation."""
    tree = ast.parse((PAGES_DIR / "_frame.py").read_text())
    return [node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Page"
            and node.args and isinstance(node.args[0], ast.Constant)]


def test_every_page_file_is_in_the_navigation():
    assert {"home", "train", "runs", "predict"} <= set(PAGES)
    assert sorted(navigation_paths()) == sorted(f"pages/{p}.py" for p in PAGES)


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_on_empty_store(lab_env, page):
    at = app_at(page)
    assert problems(at) == []
    if page in ("runs", "compare", "predict"):
        assert at.info, f"{page} should say what to do on an empty store"
    if page == "home":
        assert "No runs yet" in texts(at)
        assert any(b.key == "quick_start" for b in at.button)


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_with_runs(trained, page):
    at = app_at(page)
    assert problems(at) == []
    if page == "runs":
        df = at.dataframe[0].value
        assert set(trained["ids"]) <= set(df["id"])
        assert df["accuracy"].notna().all()
