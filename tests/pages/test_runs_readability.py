"""What the Runs list, a run's page and the reproduction table say at a glance (AppTest, a copy of
tests/data/legacy_store): an imported run says where and when it came from; a recipe group reads as
a group with its runs done; names that differ only at the end can be told apart; no "None" cells;
one way of writing input sizes; every reproduction row with its claim and a verdict shown in full."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from core.store import Store
from lab_pages_support import app_at, page_texts, problems

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("page_jobs_cleanup")]

LEGACY = Path(__file__).resolve().parent.parent / "data" / "legacy_store"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The legacy store (one succeeded digits run, #1), its bundle imported again (#2), and a recipe
    group (#3) with two runs whose names differ only at the end (#4 succeeded, #5 queued)."""
    from core.serving.bundle import import_bundle

    root = tmp_path_factory.mktemp("readable")
    shutil.copytree(LEGACY / "models", root / "models")
    shutil.copy(LEGACY / "runs.db", root / "runs.db")
    mp = pytest.MonkeyPatch()
    mp.setenv("LAB_DATABASE_URL", f"sqlite:///{root / 'runs.db'}")
    mp.setenv("LAB_MODELS_DIR", str(root / "models"))
    mp.setenv("LAB_DASHBOARD_SUPERVISOR", "0")
    store = Store(f"sqlite:///{root / 'runs.db'}", models_dir=root / "models")
    imported = import_bundle(store, LEGACY / "run1.zip")
    cfg = {"dataset": {"name": "digits"}, "model": "small_cnn", "input_size": [64, 64]}
    group = store.create_run(cfg, name="recipe pitfall_leakage (quick)", dataset="digits", model="small_cnn",
                             kind="group", status="running")
    kids = [store.create_run(cfg, name=f"recipe pitfall_leakage · {k} (quick)", dataset="digits",
                             model="small_cnn", parent_id=group) for k in ("image_split", "grouped_split")]
    store.set_status(kids[0], "running")
    store.set_status(kids[0], "succeeded")
    yield {"store": store, "imported": imported, "group": group, "kids": kids, "root": root}
    store.close()
    mp.undo()


def _plain(md: str) -> str:
    """Markdown made by _format.md_text, read back as text (no escapes, no word joiners)."""
    return md.replace("\\", "").replace("\u2060", "")


def test_an_imported_run_says_where_and_when_it_came_from(lab):
    imported = lab["imported"]
    run = lab["store"].get_run(imported.run_id)
    original = lab["store"].get_run(1)
    assert run.created_at == original.created_at  # the original's creation time is kept ...
    assert run.tags.get("imported_at")  # ... and the import's time recorded beside it
    at = app_at("runs", {"run": str(imported.run_id)})
    assert problems(at) == []
    said = _plain(page_texts(at))
    assert f"imported from run 1 of {imported.source}" in said
    assert f"created {original.created_at:%Y-%m-%d %H:%M}" in said and "imported 20" in said
    at = app_at("runs")
    assert problems(at) == []
    listed = _plain(" ".join(str(c.value) for c in at.caption))
    assert f"#{imported.run_id} imported from run 1 of {imported.source}" in listed
    at.pills(key="r_cols").set_value(["Parameters", "Metrics", "Dataset, duration, tags, date"]).run()
    df = at.dataframe[0].value.set_index("id")
    assert str(df.loc[imported.run_id, "imported"]).startswith("20") and df.loc[1, "imported"] == ""


def _shown(df: pd.DataFrame) -> list[tuple]:
    return [(c, v) for c in df.columns for v in df[c] if v is None or (isinstance(v, float) and pd.isna(v))]


def test_runs_list_reads_groups_names_metrics_and_sizes(lab):
    at = app_at("runs")
    assert problems(at) == []
    df = at.dataframe[0].value.set_index("id")
    group, kids = lab["group"], lab["kids"]
    assert df.loc[group, "status"] == "1/2 runs done" and df.loc[group, "model"] == "recipe group"
    assert df.loc[group, "input"] == "" and df.loc[group, "epochs"] == ""
    # the name cells of two runs that differ only at the end differ in what the column shows
    cols = json.loads(at.dataframe[0].proto.columns)
    width = cols["name"]["width"]
    seen = {df.loc[k, "name"][: width // 8] for k in kids}
    assert len(seen) == 2, f"both read {seen} in a {width} px column"
    assert _shown(df.reset_index()) == []  # missing values: an empty cell or "—", never None
    assert df.loc[kids[1], "accuracy"] == "—"
    # one way of writing input sizes: height x width
    assert set(df.loc[[1, kids[0], kids[1]], "input"]) == {"8x8", "64x64"}


def test_reproduction_table_has_every_claim_no_none_and_full_verdicts(lab):
    from core.recipes.reproduction import reproduction_table

    assert [(r["recipe"], r["run"]) for r in reproduction_table(lab["store"]) if not r["claim"]] == []
    at = app_at("recipes")
    at.session_state["rc_tab"] = "Reproduction table"
    at.run()
    assert problems(at) == []
    table = at.dataframe[0].value
    assert _shown(table) == []
    assert (table["claim"] != "").all()
    cols = json.loads(at.dataframe[0].proto.columns)
    longest = max(len(v) for v in table["verdict"])
    assert cols.get("verdict", {}).get("width", 0) >= 7 * longest, cols.get("verdict")
