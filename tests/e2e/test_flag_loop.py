"""End to end in a real browser (`streamlit run app.py` + headless Chromium): the flagging loop.

On Predict, a digit is uploaded, its case sheet downloaded, and its prediction flagged as wrong with the
correct label and consent; on Review flags the flag is in the queue, is accepted, and the accepted flags are exported as a dataset
version (its name, image count and manifest hash shown). A screenshot of each step is written to
``LAB_E2E_SHOTS`` (default: the test's temporary folder). Waits are on conditions, never sleeps.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lab_pages_support import CHROMIUM, CHROMIUM_ARGS, StreamlitServer, digit_png, require_chromium  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy_store"  # one succeeded digits run (run 1)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    root = tmp_path_factory.mktemp("flag_loop")
    shutil.copy(LEGACY / "runs.db", root / "runs.db")
    shutil.copytree(LEGACY / "models", root / "models")
    env = {**os.environ, "LAB_DATABASE_URL": f"sqlite:///{root / 'runs.db'}", "LAB_MODELS_DIR": str(root / "models"),
           "TF_CPP_MIN_LOG_LEVEL": "2", "LAB_DASHBOARD_SUPERVISOR": "0"}
    with StreamlitServer(root, env) as srv:
        yield {"base": srv.base, "root": root, "env": env}


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=90_000)  # the first render of Predict imports TensorFlow on a busy CPU
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1100})
        pg.set_default_timeout(60_000)
        yield pg
        browser.close()


@pytest.fixture()
def shots(tmp_path) -> Path:
    out = Path(os.environ.get("LAB_E2E_SHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _no_exception(pg):
    from playwright.sync_api import expect

    expect(pg.locator("[data-testid='stException']")).to_have_count(0)
    expect(pg.locator("[data-testid='stAlertContentError']")).to_have_count(0)


def _flag_on_predict(pg, base: str, shots: Path) -> None:
    from playwright.sync_api import expect

    pg.goto(f"{base}/predict?run=1")
    data, label = digit_png(5)
    pg.locator("input[type='file']").set_input_files(
        files=[{"name": "five.png", "mimeType": "image/png", "buffer": data}])
    expect(pg.get_by_text("Prediction:")).to_be_visible(timeout=180_000)
    with pg.expect_download() as dl:  # the case sheet, made on click (nothing written on the server)
        pg.get_by_role("button", name="Case sheet (HTML)").click()
    assert dl.value.suggested_filename == "five_case_run1.html"
    sheet = Path(dl.value.path()).read_text(encoding="utf-8")
    assert "Case sheet: five.png" in sheet and "No external validation yet" in sheet
    assert sheet.count("data:image/png;base64,") == 2
    pg.get_by_text("This prediction is wrong or uncertain").click()
    form = pg.locator("[data-testid='stForm']")
    expect(form).to_be_visible()
    form.locator("[data-testid='stSelectbox']").click()
    pg.get_by_role("option", name="3", exact=True).click()  # a label that is not the digit's (5)
    form.get_by_label("Note (optional)").fill("the stroke looks like a three to me")
    form.locator("[data-testid='stCheckbox'] label").click()
    pg.screenshot(path=str(shots / "1_flag_form.png"), full_page=True)
    form.get_by_role("button", name="Submit flag").click()
    expect(pg.get_by_text("pending review")).to_be_visible()
    _no_exception(pg)
    pg.screenshot(path=str(shots / "2_flag_saved.png"), full_page=True)


def test_flag_review_export(server, page, shots):
    from playwright.sync_api import expect

    from core.store import Store

    pg, base = page, server["base"]
    _flag_on_predict(pg, base, shots)
    store = Store(server["env"]["LAB_DATABASE_URL"], models_dir=server["env"]["LAB_MODELS_DIR"])
    (flag,) = store.list_flags()
    assert (flag.status, flag.proposed_label, flag.note) == ("pending", 3, "the stroke looks like a three to me")

    pg.goto(f"{base}/review")
    expect(pg.get_by_text(f"Flag #{flag.id}").first).to_be_visible()
    expect(pg.get_by_text("the stroke looks like a three to me")).to_be_visible()
    _no_exception(pg)
    pg.screenshot(path=str(shots / "3_review_queue.png"), full_page=True)
    pg.get_by_role("button", name="Save decision").click()  # accept, the default decision
    expect(pg.get_by_text(f"Flag #{flag.id} is now accepted.")).to_be_visible()
    assert store.get_flag(flag.id).status == "accepted"

    pg.get_by_role("button", name="Export accepted flags as a dataset version").click()
    expect(pg.get_by_text("flags-digits-v1").first).to_be_visible()
    expect(pg.get_by_text("1 image, manifest sha256")).to_be_visible()
    _no_exception(pg)
    pg.screenshot(path=str(shots / "4_exported.png"), full_page=True)
    (version,) = store.list_flag_datasets("digits")
    assert version.n_images == 1 and (Path(version.path) / "manifest.json").is_file()
    store.close()
