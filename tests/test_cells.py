"""From a confusion-matrix cell to its test images (core.analysis.cells and the Run page's Confusion tab).

Real stored runs (the two shared digits runs trained by the real worker); every count is checked
against the run's own evaluation.json and against the predictions file read here with pandas; the
Run page's Confusion tab through Streamlit's AppTest, Grad-CAM computed by the real model."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lab_pages_support import app_at, problems

pytestmark = pytest.mark.slow


def _stored(store, rid):
    from core.store.artifacts import RunFolder

    folder = RunFolder.of(store.get_run(rid), store).path
    ev = json.loads((folder / "evaluation.json").read_text())
    pred = pd.read_csv(folder / "predictions.csv", dtype={"id": str})
    return ev, pred


@pytest.fixture(scope="module")
def trained_store(trained):
    """The shared store of two finished digits runs, opened once for the module."""
    from core.store import Store

    s = Store()
    yield s
    s.close()


def test_cell_counts_equal_the_stored_confusion_matrix(trained, trained_store):
    from core.analysis import cells

    for rid in trained["ids"]:
        ev, pred = _stored(trained_store, rid)
        names = ev["class_names"]
        table = cells.cell_table(pred, names)
        want = np.asarray(ev["confusion"]["counts"])
        assert (cells.cell_counts(table, names) == want).all()
        assert (cells.cell_counts(pred, names) == want).all()  # straight from the predictions frame
        k = len(names)
        for i in range(k):
            for j in range(k):
                pg = cells.cell_page(table, names, names[i], names[j], per_page=1000)
                assert pg.total == want[i, j] == len(pg.rows)
                ids = set(pred.loc[(pred["y_true"] == i) & (pred["y_pred"] == j), "id"])
                assert set(pg.rows["id"]) == ids
                assert (pg.rows["actual"] == names[i]).all() and (pg.rows["predicted"] == names[j]).all()


def test_rows_carry_confidence_and_top3_from_the_probabilities(trained, trained_store):
    from core.analysis import cells

    ev, pred = _stored(trained_store, trained["ids"][0])
    names = ev["class_names"]
    table = cells.cell_table(pred, names).set_index("id")
    p = pred.set_index("id")[[f"p_{c}" for c in range(len(names))]].to_numpy()
    p = p / p.sum(axis=1, keepdims=True)
    for n, rid in enumerate(pred["id"][:25]):
        row = table.loc[rid]
        yp, yt = int(pred["y_pred"][n]), int(pred["y_true"][n])
        assert row["confidence"] == pytest.approx(p[n, yp]) and row["p_true"] == pytest.approx(p[n, yt])
        best = np.argsort(-p[n], kind="stable")[:3]
        assert row["top_k"] == " · ".join(f"{names[c]} {p[n, c]:.2f}" for c in best)


def test_sorting_and_paging_cover_the_cell_once_in_confidence_order(trained, trained_store):
    from core.analysis import cells

    ev, pred = _stored(trained_store, trained["ids"][0])
    names = ev["class_names"]
    table = cells.cell_table(pred, names)
    counts = np.asarray(ev["confusion"]["counts"])
    i, j = cells.most_confused_cell(counts)
    total = int(counts[i, j])
    assert total >= 8, "the shared runs have cells of 20 test images"
    per = 7
    for desc in (True, False):
        pages = [cells.cell_page(table, names, i, j, descending=desc, page=n, per_page=per)
                 for n in range(1, -(-total // per) + 1)]
        assert [pg.pages for pg in pages] == [len(pages)] * len(pages)
        assert [len(pg.rows) for pg in pages[:-1]] == [per] * (len(pages) - 1)
        assert (pages[0].first, pages[-1].last) == (1, total)
        rows = pd.concat([pg.rows for pg in pages], ignore_index=True)
        assert len(rows) == total and rows["id"].is_unique
        conf = rows["confidence"].to_numpy()
        assert (np.diff(conf) <= 0).all() if desc else (np.diff(conf) >= 0).all()
        for _, grp in rows.groupby("confidence", sort=False):  # ties: by id, in both directions
            assert list(grp["id"]) == sorted(grp["id"])
    # a page past the end is the last page; an empty cell is one empty page
    last = cells.cell_page(table, names, i, j, page=99, per_page=per)
    assert last.page == last.pages and len(last.rows) == total - per * (last.pages - 1)
    empty = next((a, b) for a in range(len(names)) for b in range(len(names)) if counts[a, b] == 0)
    pg = cells.cell_page(table, names, *empty)
    assert (pg.total, pg.pages, len(pg.rows), pg.first) == (0, 1, 0, 0)


def test_bad_classes_and_pages_are_clear_errors(trained, trained_store):
    from core.analysis import cells
    from core.validation import ValidationError

    ev, pred = _stored(trained_store, trained["ids"][0])
    names = ev["class_names"]
    table = cells.cell_table(pred, names)
    with pytest.raises(ValidationError, match="not one of the run's classes"):
        cells.cell_page(table, names, "cat", names[0])
    with pytest.raises(ValidationError, match="outside 0..9"):
        cells.cell_page(table, names, 10, 0)
    with pytest.raises(ValidationError, match="page"):
        cells.cell_page(table, names, 0, 0, page=0)


def test_a_click_on_the_matrix_names_its_cell(trained, trained_store):
    from core.analysis import cells, plots

    ev, _ = _stored(trained_store, trained["ids"][0])
    names = ev["class_names"]
    fig = cells.add_click_targets(plots.confusion_matrix(ev), names, np.asarray(ev["confusion"]["counts"]))
    targets = fig.data[-1]
    assert targets.type == "scatter" and len(targets.x) == len(names) ** 2
    for n in (0, 13, len(targets.x) - 1):  # what Streamlit reports for a clicked point
        point = {"curve_number": 1, "point_index": n, "x": targets.x[n], "y": targets.y[n],
                 "customdata": list(targets.customdata[n])}
        i, j = cells.cell_from_selection({"selection": {"points": [point], "box": [], "lasso": []}}, names)
        assert (names[i], names[j]) == (targets.y[n], targets.x[n])
    assert cells.cell_from_selection({"selection": {"points": []}}, names) is None
    assert cells.cell_from_selection(None, names) is None
    assert cells.cell_from_selection({"points": [{"x": names[2], "y": names[5]}]}, names) == (5, 2)


def _open_confusion(rid):
    at = app_at("runs", {"run": str(rid)})
    at.session_state["r_tab"] = "Confusion"
    at.run()
    assert problems(at) == []
    return at


def test_run_page_shows_the_chosen_cells_images_and_gradcam(trained, trained_store):
    rid = trained["ids"][0]
    ev, pred = _stored(trained_store, rid)
    counts = np.asarray(ev["confusion"]["counts"])
    at = _open_confusion(rid)
    off = counts.copy()
    np.fill_diagonal(off, -1)
    i, j = (int(v) for v in np.unravel_index(np.argmax(off), counts.shape))  # the fullest wrong cell
    at.selectbox(key=f"r_cell_true_{rid}").set_value(i).run()
    at.selectbox(key=f"r_cell_pred_{rid}").set_value(j).run()
    assert problems(at) == []
    want = set(pred.loc[(pred["y_true"] == i) & (pred["y_pred"] == j), "id"])
    n = min(len(want), 24)
    assert len(at.image) == n
    caps = [c for im in at.image for c in im.captions]
    assert {c.split(" · ")[0] for c in caps} <= want and len(set(caps)) == n
    assert all(f"true {ev['class_names'][i]} · pred {ev['class_names'][j]}" in c for c in caps)
    tops = [c.value for c in at.caption if c.value.startswith("top 3:")]
    assert len(tops) == n
    assert any(f"{len(want)} test images" in c.value for c in at.caption)
    p = [float(c.rsplit(" p ", 1)[1]) for c in caps]
    assert p == sorted(p, reverse=True)  # most confident first
    # least confident first: the same images, reversed confidence order
    at.radio(key="r_cell_sort").set_value("least confident first").run()
    p = [float(c.rsplit(" p ", 1)[1]) for im in at.image for c in im.captions]
    assert p == sorted(p) and len(p) == n
    # Grad-CAM on demand: one overlay per image, colour, no error
    at.toggle(key="r_cell_cam").set_value(True).run()
    assert problems(at) == []
    overlays = [im for im in at.image if any(c.startswith("Grad-CAM for") for c in im.captions)]
    assert len(overlays) == n and len(at.image) == 2 * n
    # an empty cell says so
    empty = next((a, b) for a in range(len(counts)) for b in range(len(counts)) if counts[a, b] == 0)
    at.selectbox(key=f"r_cell_true_{rid}").set_value(empty[0]).run()
    at.selectbox(key=f"r_cell_pred_{rid}").set_value(empty[1]).run()
    assert problems(at) == [] and len(at.image) == 0
    assert any("No test image has true class" in m.value for m in at.info)


@pytest.mark.e2e
def test_clicking_a_cell_in_the_browser_shows_its_images(trained, tmp_path):
    """Plotly reports no click on heatmap cells (a known Streamlit limitation): the transparent markers of
    core.analysis.cells.add_click_targets make a click on a cell choose it, in a real browser."""
    import shutil

    from lab_pages_support import CHROMIUM, CHROMIUM_ARGS, StreamlitServer, require_chromium

    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    rid = trained["ids"][0]
    root = tmp_path / "lab"
    shutil.copytree(trained["root"], root)
    from core.store import Store

    store = Store()
    ev, _ = _stored(store, rid)
    store.close()
    names, counts = ev["class_names"], np.asarray(ev["confusion"]["counts"])
    k = len(names)
    from core.analysis.cells import most_confused_cell

    start = most_confused_cell(counts)  # the cell the tab opens on: click another one
    i, j = next((a, b) for a in range(k - 1, -1, -1) for b in range(k) if counts[a, b] > 1 and (a, b) != start)
    with StreamlitServer(root) as srv, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            pg = browser.new_page(viewport={"width": 1400, "height": 1100})
            pg.set_default_timeout(90_000)
            pg.goto(f"{srv.base}/runs?run={rid}")
            pg.get_by_role("tab", name="Confusion").click()
            chart = pg.locator("[data-testid='stPlotlyChart']").first
            expect(pg.get_by_text("top 3:").first).to_be_visible()
            chart.scroll_into_view_if_needed()  # callouts above it (e.g. a one-class verdict) can push it down
            box = chart.locator(".nsewdrag").first.bounding_box()  # the plot area: k x k cells, row 0 on top
            x, y = box["x"] + (j + 0.5) * box["width"] / k, box["y"] + (i + 0.5) * box["height"] / k
            pg.mouse.move(x, y)
            pg.mouse.click(x, y)
            chosen = f"True {names[i]} → predicted {names[j]}: {counts[i, j]} test images"
            expect(pg.get_by_text(chosen)).to_be_visible()
            expect(pg.locator("[data-testid='stImage']")).to_have_count(min(int(counts[i, j]), 24))
            expect(pg.locator("[data-testid='stException']")).to_have_count(0)
        finally:
            browser.close()


@pytest.fixture(scope="module")
def ham_run(shared_datasets, tmp_path_factory):
    """A real (tiny) HAM10000 run: image files on disk, lesion domain, grouped split."""
    from lab_pages_support import lab_environ, make_finished_runs

    folder = shared_datasets / "ham10000"
    root = tmp_path_factory.mktemp("cells_ham")
    (rid,) = make_finished_runs(root, [{
        "name": "ham tiny", "epochs": 1, "batch_size": 32, "input_size": [32, 32],
        "dataset": {"name": "ham10000", "params": {"path": str(folder / "reduced_200x150"),
                                                   "metadata_csv": str(folder / "HAM10000_metadata.csv"),
                                                   "max_per_class": 25}}}])
    mp = pytest.MonkeyPatch()
    for k, v in lab_environ(root).items():
        mp.setenv(k, v)
    yield {"root": root, "id": rid}
    mp.undo()


def test_file_dataset_cells_show_lesion_images_with_gradcam_and_the_notice(ham_run):
    """HAM10000 (images read from files, lesion domain): the cell's images, overlays and the notice."""
    from core.store import Store
    from pages._format import RESEARCH_NOTICE

    rid = ham_run["id"]
    store = Store()
    ev, pred = _stored(store, rid)
    store.close()
    counts = np.asarray(ev["confusion"]["counts"])
    at = _open_confusion(rid)
    i, j = at.selectbox(key=f"r_cell_true_{rid}").value, at.selectbox(key=f"r_cell_pred_{rid}").value
    n = min(int(counts[i, j]), 24)
    assert n > 0 and len(at.image) == n
    assert {c.split(" · ")[0] for im in at.image for c in im.captions} <= \
        set(pred.loc[(pred["y_true"] == i) & (pred["y_pred"] == j), "id"])
    at.toggle(key="r_cell_cam").set_value(True).run()
    assert problems(at) == []
    assert len(at.image) == 2 * n
    assert any(RESEARCH_NOTICE in c.value for c in at.caption)


def test_model_card_of_a_real_lesion_run(ham_run):
    """The model card (core.analysis.model_card) of the HAM10000 run: the notice, the grouped split, the
    metadata slices and Grad-CAM examples read from image files, nothing fetched."""
    from core.analysis.model_card import RESEARCH_NOTICE, collect, render_html
    from core.store import Store

    store = Store()
    card = collect(store.get_run(ham_run["id"]), store=store, examples=1, slices_bootstrap=100)
    store.close()
    page = render_html(card)
    assert f"<div class=notice>{RESEARCH_NOTICE}</div>" in page
    assert card["split"]["grouped_by"] == "lesion_id" and "grouped by lesion_id" in page
    assert {r["by"] for r in card["slices"]["rows"]} >= {"sex", "localization"}
    assert 1 <= len(card["examples"]["items"]) <= 2, card["examples"]
    assert "http://" not in page and "https://" not in page
