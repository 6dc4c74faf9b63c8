"""Navigation in a real browser (`streamlit run app.py` + headless Chromium): an address that
names no page says "page not found" with links to the real pages instead of silently
showing Home; real deep links show their page and no such message (empty store); a deep
link to Predict opened first after a server start takes an upload (two real runs)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lab_pages_support import CHROMIUM, CHROMIUM_ARGS, StreamlitServer, digit_png, require_chromium, shared_trained_store  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ARGS = CHROMIUM_ARGS


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    require_chromium()
    with StreamlitServer(tmp_path_factory.mktemp("nav")) as srv:
        yield srv.base


@pytest.fixture()
def page(base):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=90_000)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(60_000)
        yield pg
        browser.close()


def test_unknown_address_says_page_not_found(base, page):
    from playwright.sync_api import expect

    page.goto(base + "/nosuchpage")  # the first visit after the server start
    main = page.locator("[data-testid='stMain']")
    expect(main.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(main.get_by_text("There is no page at /nosuchpage")).to_be_visible()
    for title in ("Home", "Train", "Runs", "Compare", "Predict & explain"):
        expect(main.get_by_role("link", name=title)).to_be_visible()
    # not Home in disguise
    expect(main.get_by_role("heading", name="Image-classification lab")).to_have_count(0)
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    # the first visit after a server start is resolved by Streamlit's legacy pages/ mode,
    # which adds its own "Page not found" dialog: close it (later visits have none, below)
    dialog = page.get_by_role("dialog")
    if dialog.count():
        dialog.get_by_role("button", name="Close").click()
        expect(dialog).to_have_count(0)
    # the links lead to real pages
    main.get_by_role("link", name="Runs").click()
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    expect(main.get_by_text("There is no page at")).to_have_count(0)


@pytest.mark.parametrize("path, heading", [("/runs", "Runs"), ("/compare", "Compare runs"), ("/predict", "Predict & explain"),
                                           ("/train", "Train"), ("/", "Image-classification lab")])
def test_real_pages_are_not_reported_missing(base, page, path, heading):
    from playwright.sync_api import expect

    page.goto(base + path)
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(page.get_by_text("There is no page at")).to_have_count(0)
    expect(page.locator("[data-testid='stException']")).to_have_count(0)


def test_unknown_address_later_has_no_dialog_over_it(base, page):
    from playwright.sync_api import expect

    page.goto(base + "/runs")
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    page.goto(base + "/notapage")
    main = page.locator("[data-testid='stMain']")
    expect(main.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(main.get_by_text("There is no page at /notapage")).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)
    main.get_by_role("link", name="Predict & explain").click()
    expect(page.get_by_role("heading", name="Predict & explain", exact=True)).to_be_visible()


def test_first_visit_deep_link_to_predict_takes_an_upload(tmp_path_factory):
    """A fresh server, and the first page anyone opens is /predict?run=N: the upload gives a
    prediction (the widgets of Streamlit's legacy pages/ run used to get other ids than the
    app's next run, so the upload vanished)."""
    import shutil

    from playwright.sync_api import expect, sync_playwright

    shared = shared_trained_store()
    root = tmp_path_factory.mktemp("nav_predict") / "lab"
    shutil.copytree(shared["root"], root)
    require_chromium()
    with StreamlitServer(root) as srv:
        url = srv.base
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            pg = browser.new_page(viewport={"width": 1400, "height": 1000})
            pg.goto(f"{url}/predict?run={shared['ids'][0]}")
            expect(pg.get_by_text("Upload one or more images")).to_be_visible(timeout=90_000)
            data, _ = digit_png(5)
            pg.locator("input[type='file']").set_input_files(
                files=[{"name": "five.png", "mimeType": "image/png", "buffer": data}])
            expect(pg.locator("strong").filter(has_text="Prediction:")).to_be_visible(timeout=120_000)
            expect(pg.locator("[data-testid='stException']")).to_have_count(0)
            browser.close()
