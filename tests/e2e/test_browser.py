"""End to end in a real browser: `streamlit run app.py` + headless Chromium (Playwright).

Quick-start training to success -> the Runs page shows it -> Predict upload with the
overlay visible -> Compare two runs. Waits are on conditions (Playwright expect/wait_for),
never sleeps.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lab_pages_support import CHROMIUM, CHROMIUM_ARGS, StreamlitServer, digit_png, require_chromium, shared_trained_store  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ARGS = CHROMIUM_ARGS


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    root = tmp_path_factory.mktemp("e2e") / "lab"
    shared = shared_trained_store()  # two finished runs, copied so this server has its own store
    shutil.copytree(shared["root"], root)
    with StreamlitServer(root) as srv:
        yield {"base": srv.base, "root": root, "env": srv.env, "ids": list(shared["ids"])}


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=90_000)  # the first render of a page imports TensorFlow on a busy CPU
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(60_000)
        yield pg
        browser.close()


def _no_exception(pg):
    from playwright.sync_api import expect

    expect(pg.locator("[data-testid='stException']")).to_have_count(0)


def test_browser_flow(server, page):
    from playwright.sync_api import expect

    base = server["base"]
    pg = page
    # 0. the first visit after the server starts is a deep link: the page still gets the
    #    app frame (sections, shared sidebar), not Streamlit's legacy pages/ file list.
    pg.goto(base + "/runs")
    sidebar = pg.locator("[data-testid='stSidebar']")
    expect(sidebar.get_by_text("Predict & explain")).to_be_visible()
    expect(sidebar.get_by_text("Research and teaching use only.")).to_be_visible()
    expect(sidebar.get_by_text("ui", exact=True)).to_have_count(0)
    expect(pg.get_by_text("Page not found")).to_have_count(0)

    # 1. quick start -> success
    pg.goto(base + "/")
    expect(pg.get_by_role("heading", name="Image-classification lab")).to_be_visible()
    pg.get_by_role("button", name="Train small_cnn on digits").click()
    expect(pg.get_by_text("succeeded: test accuracy")).to_be_visible(timeout=300_000)
    _no_exception(pg)
    # the sidebar agrees, with nothing of the finished job left under "No jobs running." (a
    # fragment writing into the sidebar kept the progress bar drawn by the full page run)
    expect(sidebar.get_by_text("No jobs running.")).to_be_visible(timeout=30_000)
    expect(sidebar.locator("[data-testid='stProgress']")).to_have_count(0, timeout=10_000)
    from core.store import Store

    store = Store(server["env"]["LAB_DATABASE_URL"], models_dir=server["env"]["LAB_MODELS_DIR"])
    runs, total = store.list_runs(status="succeeded")
    assert total == 3
    new_id = runs[0].id

    # 2. the Runs page lists it; its run page opens
    pg.goto(base + "/runs")
    expect(pg.get_by_text("3 runs · showing 1–3")).to_be_visible()
    pg.goto(f"{base}/runs?run={new_id}")
    expect(pg.get_by_role("heading", name=f"Run #{new_id}:")).to_be_visible()
    expect(pg.get_by_text("Balanced accuracy").first).to_be_visible()
    _no_exception(pg)

    # 3. Predict: upload a digit, the overlay image appears
    pg.goto(f"{base}/predict?run={new_id}")
    expect(pg.get_by_text("Upload one or more images")).to_be_visible()
    data, _ = digit_png(5)
    pg.locator("input[type='file']").set_input_files(
        files=[{"name": "five.png", "mimeType": "image/png", "buffer": data}])
    overlay = pg.locator("[data-testid='stImage']").filter(has_text="Grad-CAM for")
    expect(overlay).to_be_visible(timeout=120_000)
    expect(overlay.locator("img")).to_have_count(1)
    # the <img> is in the DOM before its bytes arrive: wait until it has decoded pixels
    pg.wait_for_function("img => img.complete && img.naturalWidth > 0",
                         arg=overlay.locator("img").element_handle(), timeout=60_000)
    expect(pg.get_by_text("Prediction:")).to_be_visible()
    _no_exception(pg)

    # 4. Compare two runs
    pg.goto(base + "/compare")
    expect(pg.get_by_role("heading", name="Configuration differences")).to_be_visible()
    expect(pg.get_by_role("heading", name="Results")).to_be_visible()
    _no_exception(pg)
