"""The Train page in a real browser (`streamlit run app.py` + headless Chromium): Enter in a
field never queues a run, a double click on Submit queues one, a reload keeps the form and
the Jobs tab keeps following the run, and the Jobs tab's panel and queue table refresh
together from the store. Waits are on conditions, never sleeps.

The job supervisor is off (LAB_DASHBOARD_SUPERVISOR=0): runs stay queued and the test moves
its run along with the store API a worker uses, so no training runs here.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_pages_support import CHROMIUM, StreamlitServer, lab_environ, require_chromium  # noqa: E402
from lab_pages_support import CHROMIUM_ARGS as ARGS

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    root = tmp_path_factory.mktemp("e2e_train") / "lab"
    root.mkdir()
    env = {**os.environ, **lab_environ(root), "TF_CPP_MIN_LOG_LEVEL": "2", "LAB_DASHBOARD_SUPERVISOR": "0"}
    with StreamlitServer(root, env) as srv:
        yield {"base": srv.base, "root": root, "env": env}


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=90_000)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(60_000)
        yield pg
        browser.close()


def _type_and_enter(pg, label: str, text: str, url_part: str) -> None:
    from playwright.sync_api import expect

    box = pg.get_by_label(label, exact=True)
    expect(box).to_have_count(1)  # no element of a run still being replaced
    box.fill(text)
    box.press("Enter")
    pg.wait_for_url(re.compile(re.escape(url_part)))  # the app has taken the value (and rerun)


def test_enter_double_click_reload_and_live_jobs(server, page):
    from playwright.sync_api import expect

    from core.store import Store

    store = Store(server["env"]["LAB_DATABASE_URL"], models_dir=server["env"]["LAB_MODELS_DIR"])
    pg = page
    pg.goto(server["base"] + "/train")  # the first view after the server start is a deep link
    expect(pg.get_by_label("Epochs", exact=True)).to_have_value("5")
    expect(pg.locator("[data-testid='stException']")).to_have_count(0)

    # Enter in a number field and in the name field commits the value, queues nothing
    _type_and_enter(pg, "Epochs", "3", "t_epochs=3")
    _type_and_enter(pg, "Run name (optional)", "enter probe", "t_name=enter")
    assert store.list_runs()[1] == 0

    # a double click on Submit queues one run
    pg.get_by_role("button", name="Submit").dblclick()
    pg.wait_for_url(re.compile(r"[?&]run=1(&|$)"))
    _type_and_enter(pg, "Seed", "1", "t_seed=1")  # a later rerun: both clicks have been handled
    runs, total = store.list_runs()
    assert total == 1, [(r.id, r.name) for r in runs]
    assert runs[0].name == "enter probe" and store.get_run(runs[0].id).config["epochs"] == 3

    # a reload (a new browser session) keeps the form and follows the run
    pg.reload()
    expect(pg.get_by_label("Epochs", exact=True)).to_have_value("3")
    expect(pg.get_by_label("Seed", exact=True)).to_have_value("1")
    expect(pg.get_by_label("Run name (optional)", exact=True)).to_have_value("enter probe")
    pg.get_by_role("tab", name="Jobs").click()
    expect(pg.get_by_role("combobox", name="Run", exact=True)).to_have_value(re.compile(r"^#1 · enter probe"))

    # the panel and the queue table follow the store together, with no interaction
    store.set_status(1, "running")
    store.set_progress(1, 0.42, {"epoch": 2, "epochs": 3, "message": "training"})
    tabs = pg.get_by_test_id("stTabs")
    expect(tabs.get_by_test_id("stProgress").filter(has_text="epoch 2/3")).to_contain_text("42 %")
    grid = tabs.get_by_test_id("stDataFrame").last
    # the grid's accessible text has the raw cell values (the canvas draws "42 %")
    expect(grid).to_contain_text(re.compile(r"running\w*small_cnn42(?!\d)"))
    store.set_progress(1, 0.77, {"epoch": 3, "epochs": 3, "message": "training"})
    expect(tabs.get_by_test_id("stProgress").filter(has_text="epoch 3/3")).to_contain_text("77 %")
    expect(grid).to_contain_text(re.compile(r"running\w*small_cnn77(?!\d)"))
    pg.screenshot(path=str(server["root"] / "jobs_tab.png"), full_page=True)
    expect(pg.locator("[data-testid='stException']")).to_have_count(0)
