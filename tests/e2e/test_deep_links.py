"""Deep links opened first after a server start, the run page's tabs, and Home's table, in a
real browser (`streamlit run app.py` + headless Chromium at 1400x1000, two real runs).

A folder named ``pages/`` beside app.py makes Streamlit run the first page view after a
start in its legacy pages/ mode: the page file runs without app.py, and its widgets get
other ids than in every later run. The first change of any widget was then lost (the run
page's tab click fell back to Metrics, a chosen augmentation preset jumped back to "No
augmentation") until ``ensure_frame`` (pages/_streamlit_internals.py) restarted that run through app.py. Each test
that needs "the first page view after a start" restarts the server (a few seconds).
scripts/serve.py (what these tests start) now ends that mode before the server starts, so the
first view is one run of app.py; ``ensure_frame`` still covers plain ``streamlit run app.py``.

Set LAB_E2E_SHOTS=/some/folder to keep 1400x1000 screenshots of what the tests saw.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lab_pages_support import CHROMIUM, CHROMIUM_ARGS, StreamlitServer, require_chromium, shared_trained_store, wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ARGS = CHROMIUM_ARGS
SHOTS = os.environ.get("LAB_E2E_SHOTS")


class Lab(StreamlitServer):
    """One store with two finished runs; a Streamlit server on it that tests can restart."""

    def __init__(self, root: Path, ids: list[int]):
        super().__init__(root)
        self.ids = ids

    def fresh(self) -> str:
        """A newly started server: the next page view is the first one after a start."""
        return self.start()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    require_chromium()
    shared = shared_trained_store()
    root = tmp_path_factory.mktemp("deep_links") / "lab"
    shutil.copytree(shared["root"], root)
    lab = Lab(root, list(shared["ids"]))
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=90_000)  # a busy CPU; passing checks return at once
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})  # a session of its own
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    ctx.close()


def _shot(pg, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(Path(SHOTS) / f"H8_{name}.png"))


def _no_exception(pg) -> None:
    from playwright.sync_api import expect

    expect(pg.locator("[data-testid='stException']")).to_have_count(0)


# what only each tab of the run page draws
TAB_MARKS = {
    "Metrics": lambda panel: panel.get_by_text("All summary metrics"),
    "Curves": lambda panel: panel.locator(".st-key-r_curves"),
    "Confusion": lambda panel: panel.get_by_text("Normalise rows (sensitivity on the diagonal)"),
    "ROC / PR / calibration": lambda panel: panel.locator(".st-key-r_roc"),
    "Predictions": lambda panel: panel.get_by_text("Most confused pairs"),
    "Config": lambda panel: panel.locator("[data-testid='stJson']").first,
    "Manage": lambda panel: panel.get_by_role("button", name="Save tags"),
}


@pytest.mark.e2e
@pytest.mark.slow
def test_first_visit_run_page_every_tab_shows_its_own_content(lab, page):
    """/runs?run=N as the first page view after a start: clicking a tab draws that tab (its
    first click used to be lost: the tab looked selected, the Metrics stayed), and the
    sidebar's 2-second refresh does not take the tab back."""
    from playwright.sync_api import expect

    base = lab.fresh()
    main = page.locator("[data-testid='stMain']")
    page.goto(f"{base}/runs?run={lab.ids[0]}")
    expect(TAB_MARKS["Metrics"](main)).to_be_visible()
    expect(page.locator("[data-testid='stSidebar']").get_by_role("link", name="Predict & explain")).to_be_visible()
    order = ["Predictions", "Confusion", "Curves", "ROC / PR / calibration", "Config", "Manage", "Metrics"]
    for name in order:
        page.get_by_role("tab", name=name, exact=True).click()
        panel = main.get_by_role("tabpanel", name=name)
        expect(TAB_MARKS[name](panel)).to_be_visible()
        for other, mark in TAB_MARKS.items():  # only the open tab is drawn, nothing else shows
            if other != name:
                expect(mark(main)).not_to_be_visible()
        expect(page.get_by_role("tab", name=name, exact=True)).to_have_attribute("aria-selected", "true")
        _no_exception(page)
        _shot(page, "run_" + re.sub(r"\W+", "_", name).strip("_").lower())
    # stays open across the sidebar's refreshes (a fragment re-run every 2 s): the one place
    # where a fixed wait is the check itself
    page.get_by_role("tab", name="Predictions", exact=True).click()
    expect(TAB_MARKS["Predictions"](main)).to_be_visible()
    page.wait_for_timeout(5_000)
    expect(TAB_MARKS["Predictions"](main)).to_be_visible()
    expect(TAB_MARKS["Metrics"](main)).not_to_be_visible()


@pytest.mark.e2e
@pytest.mark.slow
def test_first_visit_deep_link_keeps_the_first_widget_change(lab, page):
    """/augmentation as the first page view after a start: the first preset chosen sticks
    (it used to set the sliders while the selectbox jumped back to "No augmentation")."""
    from playwright.sync_api import expect

    base = lab.fresh()
    page.goto(f"{base}/augmentation")
    expect(page.get_by_role("heading", name="Augmentation studio")).to_be_visible()
    preset = page.get_by_role("combobox", name="Preset")
    expect(preset).to_have_value("No augmentation")
    rotation = page.locator("[data-testid='stSlider']").filter(has_text="Rotation (max degrees)")
    expect(rotation.get_by_role("slider")).to_have_value("0")
    preset.click()
    page.get_by_role("option", name="Small rotations + shifts").click()
    expect(page.get_by_text("· modified below")).to_have_count(0)  # the sliders follow the preset...
    expect(rotation.get_by_role("slider")).not_to_have_value("0")
    # ...and the preset stays chosen, after that run and the next one
    page.wait_for_load_state("networkidle")
    expect(preset).to_have_count(1)  # one page drawn, not the legacy run's widgets beside the app's
    expect(preset).to_have_value("Small rotations + shifts")
    page.get_by_role("button", name=re.compile("Use in training")).first.wait_for()
    expect(preset).to_have_value("Small rotations + shifts")
    _no_exception(page)
    _shot(page, "augmentation_deep_link_preset")


@pytest.mark.e2e
@pytest.mark.slow
def test_first_view_after_a_start_is_one_script_run_through_app_py(lab, page):
    """A deep link opened first after a start is drawn by one run of app.py. Without
    scripts/serve.py telling Streamlit that the app declares its pages (the legacy pages/
    mode), that view ran the page file alone, then ``ensure_frame`` ran it again through
    app.py: two script runs (two "new session" messages on the websocket) and 0.15-0.2 s more
    before the first render."""
    from playwright.sync_api import expect
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    base = lab.fresh()
    frames: list[bytes] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda d: frames.append(d) if isinstance(d, bytes) else None))
    page.goto(f"{base}/runs?run={lab.ids[0]}")
    expect(page.get_by_text("Balanced accuracy").first).to_be_visible()
    # the sidebar is app.py's: it shows only in a run through app.py, which in the legacy mode
    # was the second run, so both runs' "new session" messages are in by now
    expect(page.get_by_text("Store:")).to_be_visible()
    done = []
    for d in list(frames):
        try:
            done.append(ForwardMsg.FromString(d).WhichOneof("type"))
        except Exception:  # noqa: BLE001 - a frame that is not one ForwardMsg is not counted
            continue
    assert done.count("new_session") == 1, done
    _no_exception(page)


@pytest.mark.e2e
@pytest.mark.slow
def test_home_recent_runs_fit_beside_the_sidebar(lab, page):
    """Home at 1400x1000: the Recent runs table shows all its columns (it was cut off on the
    right: 687 px of columns in a 530 px wide table)."""
    from playwright.sync_api import expect

    base = lab.base or lab.fresh()
    page.goto(base + "/")
    expect(page.get_by_role("heading", name="Recent runs")).to_be_visible()
    table = page.locator("[data-testid='stDataFrame']").first
    expect(table).to_be_visible()
    sizes = wait_for(lambda: table.evaluate(
        "t => { const s = t.querySelector('.dvn-scroller'); return s && s.clientWidth ? [s.scrollWidth, s.clientWidth]"
        " : null }"), timeout=30, what="the table's scroller")
    assert sizes[0] <= sizes[1], f"Recent runs needs {sizes[0]} px, shows {sizes[1]} px"
    page.get_by_role("heading", name="Recent runs").scroll_into_view_if_needed()
    _shot(page, "home")


@pytest.mark.e2e
@pytest.mark.slow
def test_runs_list_draws_its_filters_only_when_opened_and_they_filter(lab, page):
    """/runs: the table first; the filter inputs are in the browser only once "Filter" is
    opened (their scripts delayed the table's first render), and a search typed there
    filters the table and is named beside the buttons."""
    from playwright.sync_api import expect

    base = lab.base or lab.fresh()
    page.goto(base + "/runs")
    expect(page.locator("[data-testid='stDataFrame']")).to_be_visible()
    expect(page.get_by_text("no filters")).to_be_visible()
    assert page.locator("[data-testid='stMultiSelect'], [data-testid='stTextInput']").count() == 0
    page.get_by_role("button", name=re.compile("Filter")).click()
    search = page.locator("input[aria-label='Search']")
    expect(search).to_be_visible()
    expect(page.locator("[data-testid='stMultiSelect']")).to_have_count(3)
    search.fill("no run is named like this")
    search.press("Enter")
    expect(page.get_by_text("No run matches these filters")).to_be_visible()
    expect(page.get_by_text("filters: text 'no run is named like this'")).to_be_visible()
    expect(search).to_be_visible()  # the popover stays open for the next filter
    _no_exception(page)
    _shot(page, "runs_filter_open")


# counts written as "{n} <plural noun>" read "1 images" for n == 1: pages use _format.plural()
_COUNT_NOUN = re.compile(r"(?<!%)\{[^{}]*\} (images|photos|trials|runs|epochs|files|datasets)\b(?!/)")


def test_pages_write_counts_with_plural():
    bad = []
    for path in sorted((ROOT / "pages").glob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for m in _COUNT_NOUN.finditer(line):
                expr = m.group(0)
                bad.append(f"{path.name}:{n}: {expr}")
    assert not bad, "counts that can read '1 ...s' (use _format.plural):\n" + "\n".join(bad)
