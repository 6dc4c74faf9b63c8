"""What a page shows about where the user is, in a real browser (`streamlit run app.py` +
headless Chromium, empty store, one browser for the module): the "page not found" page marks no
sidebar entry as current and keeps the address typed; the Train page greys out the search's
fields while search is off; a reload of the Train page reopens the tab that was open (the tab is
kept in the URL, a reload being a new session). Waits are on conditions, never sleeps."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lab_pages_support import CHROMIUM, CHROMIUM_ARGS, StreamlitServer, lab_environ, require_chromium  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TRANSPARENT = "rgba(0, 0, 0, 0)"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    require_chromium()
    root = tmp_path_factory.mktemp("page_state") / "lab"
    root.mkdir()
    env = {**os.environ, **lab_environ(root), "LAB_DASHBOARD_SUPERVISOR": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}
    with StreamlitServer(root, env) as srv:
        yield srv.base


@pytest.fixture(scope="module")
def browser(base):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=90_000)  # a busy CPU; passing checks return at once
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})  # a session of its own
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    ctx.close()


def marked_sidebar_entries(pg) -> list[str]:
    """The sidebar's page links drawn as the current page (a background of their own)."""
    pg.mouse.move(1300, 900)  # no hover highlight
    links = pg.locator("[data-testid='stSidebarNavLink']")
    links.first.wait_for()
    return [link.inner_text().split("\n")[-1].strip() for link in links.all()
            if link.evaluate("el => getComputedStyle(el).backgroundColor") != TRANSPARENT]


def test_not_found_page_marks_no_sidebar_entry(base, page):
    from playwright.sync_api import expect

    page.goto(base + "/train")
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible()
    assert marked_sidebar_entries(page) == ["Train"]  # what "marked" looks like on a real page

    page.goto(base + "/nosuchpage")
    main = page.locator("[data-testid='stMain']")
    expect(main.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(main.get_by_text("There is no page at /nosuchpage")).to_be_visible()
    assert marked_sidebar_entries(page) == []  # Home used to be marked
    assert page.url.endswith("/nosuchpage")  # the address typed is kept
    expect(page.get_by_role("dialog")).to_have_count(0)
    main.get_by_role("link", name="Runs").click()
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    assert marked_sidebar_entries(page) == ["Runs"]


def test_search_fields_are_greyed_out_until_search_is_ticked(base, page):
    from playwright.sync_api import expect

    page.goto(base + "/train")
    trials = page.get_by_label("Trials", exact=True)
    expect(trials).to_be_disabled()
    expect(page.get_by_label("LR from", exact=True)).to_be_disabled()
    expect(trials).to_have_value("4")  # the value is still shown
    page.get_by_text("Hyper-parameter search instead of one run").click()
    expect(trials).to_be_enabled()
    expect(page.get_by_label("LR to", exact=True)).to_be_enabled()


def test_a_reload_reopens_the_tab_that_was_open(base, page):
    from playwright.sync_api import expect

    page.goto(base + "/train")
    jobs, new_run = page.get_by_role("tab", name="Jobs"), page.get_by_role("tab", name="New run")
    expect(new_run).to_have_attribute("aria-selected", "true")
    jobs.click()
    expect(page.get_by_text("No jobs yet")).to_be_visible()
    expect(page).to_have_url(f"{base}/train?train_tab=Jobs")

    page.reload()  # a new session: the tab comes back from the URL
    expect(page.get_by_text("No jobs yet")).to_be_visible()
    expect(jobs).to_have_attribute("aria-selected", "true")

    new_run.click()
    expect(page.get_by_role("button", name="Submit")).to_be_visible()
    expect(page).to_have_url(f"{base}/train")  # the default tab leaves the URL clean
    page.reload()
    expect(new_run).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("button", name="Submit")).to_be_visible()
