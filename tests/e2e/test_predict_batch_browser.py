"""End to end in a real browser (`streamlit run app.py` + headless Chromium): 500 HAM10000 photos
through the Predict page as one zip, with a tiny HAM10000 model (small_cnn, 32x32, one epoch) and
its verified ONNX export. The page shows its progress bar (ONNX Runtime); Cancel stops the pass
between batches with the rows done so far in the table, Continue does the rest; the full table
has 500 rows and the CSV download 500 rows with the zip's file names; the "Uncertain first"
filter reorders the table; selecting a row opens that photo's explanation overlay. Screenshots go
to ``LAB_E2E_SHOTS`` (default: the test's temporary folder). Waits are on conditions, never sleeps."""
from __future__ import annotations

import csv
import io
import os
import re
import sys
import time
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lab_pages_support import CHROMIUM, CHROMIUM_ARGS, StreamlitServer, lab_environ, make_finished_runs, require_chromium  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

N = 500


@pytest.fixture(scope="module")
def server(shared_datasets, tmp_path_factory):
    """A store with one tiny HAM10000 run (and its verified ONNX export) and a server on it."""
    require_chromium()
    ham = shared_datasets / "ham10000"
    root = tmp_path_factory.mktemp("predict_batch")
    (rid,) = make_finished_runs(root, [
        {"name": "ham tiny", "epochs": 1, "batch_size": 32, "input_size": [32, 32],
         "dataset": {"name": "ham10000", "params": {"path": str(ham / "reduced_200x150"),
                                                    "metadata_csv": str(ham / "HAM10000_metadata.csv"),
                                                    "max_per_class": 8}}}])
    from core.serving.export import export_run
    from core.store import Store

    env = lab_environ(root)
    store = Store(env["LAB_DATABASE_URL"], models_dir=env["LAB_MODELS_DIR"])
    export_run(store, rid, "onnx")
    store.close()
    with StreamlitServer(root) as srv:
        yield {"base": srv.base, "id": rid, "ham": ham}


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=90_000)  # the first render of Predict imports TensorFlow on a busy CPU
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
        pg.set_default_timeout(60_000)
        yield pg
        browser.close()


@pytest.fixture()
def shots(tmp_path) -> Path:
    out = Path(os.environ.get("LAB_E2E_SHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _zip_of_photos(folder: Path, n: int) -> tuple[bytes, list[str]]:
    """``n`` photos spread over the classes (every k-th of the sorted set), as ``<class>/<file>``."""
    photos = sorted(folder.rglob("*.jpg"))
    photos = photos[:: max(1, len(photos) // n)][:n]
    buf = io.BytesIO()
    names = []
    with zipfile.ZipFile(buf, "w") as zf:
        for p in photos:
            names.append(f"{p.parent.name}/{p.name}")
            zf.write(p, names[-1])
    return buf.getvalue(), names


def _no_exception(pg):
    from playwright.sync_api import expect

    expect(pg.locator("[data-testid='stException']")).to_have_count(0)
    expect(pg.locator("[data-testid='stAlertContentError']")).to_have_count(0)


def _upload_and_wait(pg, base: str, rid: int, data: bytes, shots: Path) -> tuple[float, bool]:
    """Upload the zip, cancel the pass while it runs, continue it; the seconds to the full table and
    whether the Cancel click came before the pass ended (on a fast machine it may not)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    pg.goto(f"{base}/predict?run={rid}")
    expect(pg.get_by_text("Upload one or more images")).to_be_visible()
    start = time.monotonic()
    pg.locator("input[type='file']").set_input_files(
        files=[{"name": "clinic photos.zip", "mimeType": "application/zip", "buffer": data}])
    expect(pg.locator("[data-testid='stProgress']")).to_be_visible(timeout=120_000)
    try:  # Cancel stops between batches: what was done stays in the table; Continue does the rest
        pg.get_by_role("button", name="Cancel").click(timeout=10_000)
        cancelled = True
    except PlaywrightTimeout:
        cancelled = False
    if cancelled:
        _cancelled_then_continued(pg, shots)
    expect(pg.locator("[data-testid='stProgress']")).to_be_visible()
    expect(pg.get_by_text("ONNX Runtime").first).to_be_visible()  # the verified export did the work
    expect(pg.get_by_text(f"{N} images ·")).to_be_visible(timeout=120_000)
    expect(pg.locator("[data-testid='stDataFrame']")).to_be_visible()
    secs = time.monotonic() - start
    _no_exception(pg)
    pg.screenshot(path=str(shots / "1_table.png"), full_page=True)
    return secs, cancelled


def _cancelled_then_continued(pg, shots: Path) -> None:
    from playwright.sync_api import expect

    stopped = pg.get_by_text(re.compile(rf"Stopped: \d+ of {N} images predicted"))
    expect(stopped).to_be_visible()
    done = int(re.search(r"Stopped: (\d+) of", stopped.inner_text()).group(1))
    assert 0 <= done < N, done
    expect(pg.get_by_text(f"{done} images ·")).to_be_visible()
    expect(pg.get_by_text(f"Showing {done} of {done} images")).to_be_visible()
    expect(pg.locator("[data-testid='stDownloadButton']")).to_be_visible()
    _no_exception(pg)
    pg.screenshot(path=str(shots / "0_cancelled.png"), full_page=True)
    pg.get_by_role("button", name="Continue").click()
    summary = pg.get_by_text(re.compile(r"Predicted \d+ images in .* \d+ came from the cache"))
    expect(summary).to_be_visible(timeout=120_000)
    fresh, cached = map(int, re.search(r"Predicted (\d+) images in .* (\d+) came from", summary.inner_text()).groups())
    # the cancelled pass stopped after its batch (its rows kept); Continue did only the rest
    assert fresh + cached == N and done <= cached < N, (fresh, cached, done)


def _download_csv(pg) -> list[dict]:
    with pg.expect_download() as dl:
        pg.get_by_role("button", name="Download the table (CSV)").click()
    return list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text(encoding="utf-8"))))


def _select_first_row(pg) -> None:
    """Click the first data row's selection marker in the grid (a canvas: by position)."""
    from playwright.sync_api import expect

    grid = pg.locator("[data-testid='stDataFrame']")
    expect(grid).to_have_count(1)  # the filtered table has replaced the full one
    box = grid.bounding_box()
    pg.mouse.click(box["x"] + 12, box["y"] + 35 + 24)


def test_500_photos_as_a_zip(server, page, shots):
    from playwright.sync_api import expect

    pg, base = page, server["base"]
    data, names = _zip_of_photos(server["ham"] / "reduced_200x150", N)
    secs, cancelled = _upload_and_wait(pg, base, server["id"], data, shots)
    (shots / "timing.txt").write_text(f"{N} photos as a zip to the full table: {secs:.1f} s "
                                      f"({'with' if cancelled else 'without'} a cancel)\n")

    rows = _download_csv(pg)
    assert len(rows) == N
    assert [r["file"] for r in rows] == names
    assert all(r["predicted_class"] and 0 < float(r["probability"]) <= 1 for r in rows)

    pg.get_by_role("radio", name="Uncertain first").click()
    expect(pg.get_by_text(f"Showing {N} of {N} images: uncertain first.")).to_be_visible()
    # one filter bar once the rerun has drawn: the pass's progress area keeps its place, so the
    # browser has no stale copy of the bar beside the new one
    expect(pg.get_by_role("radio", name="Uncertain first")).to_have_count(1)
    expect(pg.get_by_role("radio", name="Uncertain first")).to_be_checked()
    expect(pg.get_by_text(re.compile(r"Predicted \d+ images? in "))).to_be_visible()  # the last pass, still said
    _no_exception(pg)
    pg.screenshot(path=str(shots / "2_uncertain_first.png"), full_page=True)

    _select_first_row(pg)
    overlay = pg.locator("[data-testid='stImage']").filter(has_text="Grad-CAM for")
    expect(overlay).to_be_visible(timeout=120_000)
    pg.wait_for_function("img => img.complete && img.naturalWidth > 0",
                         arg=overlay.locator("img").element_handle(), timeout=60_000)
    expect(pg.get_by_text("Prediction:")).to_be_visible()
    expect(pg.get_by_text("Research use only — not a diagnosis").first).to_be_visible()
    _no_exception(pg)
    overlay.scroll_into_view_if_needed()
    pg.screenshot(path=str(shots / "3_detail.png"), full_page=True)
    pg.get_by_text("Prediction:").scroll_into_view_if_needed()
    pg.screenshot(path=str(shots / "4_detail_facts.png"), full_page=True)
