"""Run page tabs and the Compare page's paired comparison with 1,000 stored runs (issue 11).

A store with 2 real finished digits runs (the worker's code, ``make_finished_runs``) and
``--runs - 2`` cheap runs made through the store API (config, summary, tags; as
``bench_pages.fill_store``), so the runs table and its queries are realistic. The tabs render
the real runs' folders. Every figure is an AppTest ``run()`` of the whole script (app.py's
frame, the run header, the open tab), as a tab click is a rerun (``st.tabs(on_change="rerun")``).

* first: the first time a tab is drawn in this process (caches cold: datasets, slices, model card).
* later: median of ``--repeats`` renders after it, each a click back to the tab from Metrics
  (caches warm, as for a user who opened the tab before).
* "first on run B": the same tab opened first on the second real run (process-wide caches warm,
  that run's own caches cold).
* The real runs are trained by worker processes, so this process starts as a fresh server does
  (TensorFlow not imported, no dataset loaded).
* baseline: a one-line ``st.write`` script through AppTest (AppTest's own cost per run).

    .venv/bin/python bench/bench_run_tabs.py [--runs 1000] [--repeats 3]

Goal: each tab under 1 s after the first load. Store and runs live in a temporary folder that is
removed at the end.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from lab_pages_support import app_at, lab_environ, make_finished_runs, problems  # noqa: E402

GOAL_S = 1.0
TABS = ["Metrics", "Curves", "Confusion", "ROC / PR / calibration", "Predictions", "Slices", "Config", "Manage"]


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def check(at, what: str) -> None:
    p = problems(at)
    if p:
        raise AssertionError(f"{what}: {p}")


DRAWN: dict[str, str] = {}


def drawn(at) -> str:
    """What a render showed (charts, images, tables), to see that a tab drew its content."""
    return (f"{len(at.get('plotly_chart'))} charts, {len(at.get('image'))} images, "
            f"{len(at.dataframe)} tables, {len(at.get('json'))} json")


def open_tab(at, tab: str) -> float:
    at.session_state["r_tab"] = tab
    s = timed(at.run)
    check(at, tab)
    DRAWN.setdefault(tab, drawn(at))
    return s


def tab_times(rid: int, repeats: int) -> tuple[dict[str, tuple[float, list[float]]], object]:
    """tab -> (first, [later...]) on run ``rid``; the Metrics first is the page's first load."""
    out = {}
    at = None

    def first_page():
        nonlocal at
        at = app_at("runs", {"run": str(rid)})

    first = timed(first_page)
    check(at, "Metrics")
    DRAWN.setdefault("Metrics", drawn(at))
    out["Metrics"] = (first, [])
    for tab in TABS[1:]:
        out[tab] = (open_tab(at, tab), [])
    for tab in TABS:
        for _ in range(repeats):
            open_tab(at, "Config" if tab == "Metrics" else "Metrics")
            out[tab][1].append(open_tab(at, tab))
    return out, at


def busiest_cells(run_dir: Path, n: int) -> list[tuple[int, int]]:
    """The n non-empty confusion cells with the most test images (a weak model leaves some empty)."""
    import json

    import numpy as np
    import pandas as pd

    from core.analysis.cells import cell_counts

    names = json.loads((run_dir / "meta.json").read_text())["class_names"]
    cm = cell_counts(pd.read_csv(run_dir / "predictions.csv"), names)
    order = np.argsort(-cm, axis=None, kind="stable")[:n]
    return [tuple(int(v) for v in np.unravel_index(o, cm.shape)) for o in order if cm.flat[o] > 0]


def cell_times(at, rid: int, run_dir: Path, repeats: int) -> dict[str, tuple[float, list[float]]]:
    """Confusion tab: choosing another cell (its images), and the Grad-CAM overlays of a page."""
    open_tab(at, "Confusion")
    cells = busiest_cells(run_dir, repeats + 1)
    times = []
    for i, j in cells:
        at.selectbox(key=f"r_cell_true_{rid}").set_value(i)
        at.selectbox(key=f"r_cell_pred_{rid}").set_value(j)
        times.append(timed(at.run))
        check(at, f"cell {i},{j}")
    out = {"Confusion: choose a cell (its images)": (times[0], times[1:])}
    cams = []
    for _ in range(repeats + 1):
        at.toggle(key="r_cell_cam").set_value(True)
        cams.append(timed(at.run))
        check(at, "Grad-CAM overlays")
        at.toggle(key="r_cell_cam").set_value(False).run()
    out["Confusion: Grad-CAM overlays of a cell page"] = (cams[0], cams[1:])
    return out


def card_times(at, rid: int, repeats: int) -> tuple[float, list[float]]:
    open_tab(at, "Manage")
    ts = []
    for _ in range(repeats + 1):
        ts.append(timed(at.button(key=f"r_card_build_{rid}").click().run))
        check(at, "model card")
        assert any(b.key == f"r_dl_card_html_{rid}" for b in at.get("download_button")), "no model card offered"
    return ts[0], ts[1:]


def compare_times(ids: list[int], repeats: int) -> tuple[float, list[float]]:
    ts = []
    for _ in range(repeats + 1):  # a fresh session each time
        at = None

        def go():
            nonlocal at
            at = app_at("compare", {"runs": ",".join(map(str, ids))})

        ts.append(timed(go))
        check(at, "Compare")
        assert any("McNemar" in m.value for m in at.markdown), "the paired comparison is not shown"
    return ts[0], ts[1:]


def baseline_times(repeats: int) -> tuple[float, list[float]]:
    from streamlit.testing.v1 import AppTest

    ts = []
    for _ in range(repeats + 1):
        at = AppTest.from_string('import streamlit as st\nst.write("main content")\n', default_timeout=60)
        ts.append(timed(at.run))
    return ts[0], ts[1:]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000, help="runs in the store (2 real ones + cheap ones)")
    ap.add_argument("--repeats", type=int, default=3, help="later renders per tab (median)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_run_tabs_"))
    os.environ.update(lab_environ(root))
    load0 = os.getloadavg()
    try:
        print(f"== load average at start {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}; store in {root}", flush=True)
        t = time.perf_counter()
        ids = make_finished_runs(root, [{"name": "adam run", "optimizer": "adam", "seed": 1},
                                        {"name": "adamax run", "optimizer": "adamax", "seed": 2}],
                                 in_process=False)  # worker processes: this process's dataset caches stay cold
        print(f"   trained runs {ids} in {time.perf_counter() - t:.1f} s", flush=True)
        from bench_pages import fill_store

        from core.store import Store

        store = Store(os.environ["LAB_DATABASE_URL"], models_dir=os.environ["LAB_MODELS_DIR"])
        t = time.perf_counter()
        fill_store(store, ids[0], args.runs - len(ids))
        _, total = store.list_runs()
        print(f"   {total} runs stored ({time.perf_counter() - t:.1f} s)", flush=True)

        rows = []
        base = baseline_times(args.repeats)
        a, at = tab_times(ids[0], args.repeats)
        b, _ = tab_times(ids[1], args.repeats)
        for tab in TABS:
            label = tab + (" (page's first load)" if tab == "Metrics" else "")
            rows.append((label, a[tab][0], b[tab][0], a[tab][1]))
        for label, (f, later) in cell_times(at, ids[0], store.run_dir(ids[0]), args.repeats).items():
            rows.append((label, f, None, later))
        f, later = card_times(at, ids[0], args.repeats)
        rows.append(("Manage: Build model card (click)", f, None, later))
        f, later = compare_times(ids, args.repeats)
        rows.append(("Compare, 2 real runs (paired comparison), fresh session", f, None, later))
        rows.append(("Baseline: one-line st.write script (AppTest)", base[0], None, base[1]))
        load1 = os.getloadavg()

        print(f"\nRun page tabs with {total} stored runs (AppTest, whole script per render; "
              f"goal: later < {GOAL_S:.0f} s)")
        print("| tab / action | first s | first on run B s | median later s | goal met (< 1 s) |")
        print("| --- | ---: | ---: | ---: | --- |")
        for label, f, fb, later in rows:
            med = statistics.median(later)
            fb_s = f"{fb:.2f}" if fb is not None else ""
            print(f"| {label} | {f:.2f} | {fb_s} | {med:.2f} | {'yes' if med < GOAL_S else '**no**'} |")
        print("drawn on the first open (run A): " + "; ".join(f"{k}: {v}" for k, v in DRAWN.items()))
        print(f"load average: start {load0[0]:.2f} / {load0[1]:.2f} / {load0[2]:.2f}, "
              f"end {load1[0]:.2f} / {load1[1]:.2f} / {load1[2]:.2f}; {os.cpu_count()} CPU cores (shared); "
              f"later = median of {args.repeats}")
        store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
