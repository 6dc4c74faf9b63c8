"""First render of the Data explorer and the Augmentation studio.

AppTest on the real pages and real digits. The Data explorer draws only the open tab (a first
visit: the overview) and keeps its image statistics in Streamlit's data cache, so a new
session does not measure the images again; the Augmentation studio draws its controls and
the original image before the variants (TensorFlow) and caches the variants per (image, spec,
n, seed). Deep links: no TensorFlow on the first script run of the other pages, the page's
elements sent before the shared sidebar's, the background warm-up imports waiting until no page
is being drawn (bench/README.md, "Deep links again")."""
from __future__ import annotations

import pytest

from lab_pages_support import app_at, problems

pytestmark = pytest.mark.slow


def cache_bytes(function_name: str) -> int:
    """Bytes held by one st.cache_data function in this process (Streamlit's own cache stats,
    grouped per function): unchanged after a visit = a cache hit, grown = a new entry."""
    from streamlit.runtime.caching import get_data_cache_stats_provider

    return sum(s.byte_length for stats in get_data_cache_stats_provider().get_stats().values() for s in stats
               if s.cache_name.rsplit(".", 1)[-1] == function_name)


def test_data_explorer_first_visit_draws_only_the_overview_and_reuses_statistics(lab_env):
    at = app_at("data_explorer")
    assert problems(at) == []
    assert [m.label for m in at.metric][:3] == ["Images", "Classes", "Imbalance ratio"]
    # only the overview is drawn: no decoded samples, no image statistics, and no chart library
    # before it is asked for (the class shares are a bar column of the table; plotly.js held the
    # browser's main thread 0.75 s before the metrics showed); the raw loading report neither
    assert len(at.image) == 0 and len(at.select_slider) == 0 and len(at.get("plotly_chart")) == 0
    assert len(at.json) == 0 and len(at.dataframe) == 1
    share = at.dataframe[0].value.set_index("class")["percent"]
    assert share.round(1).sum() == pytest.approx(100, abs=0.5)
    at.session_state["eda_charts"] = True  # the user opens "Bar and pie charts"
    at.run()
    assert problems(at) == [] and len(at.get("plotly_chart")) == 2
    at.session_state["eda_tab"] = "Image statistics"
    at.run()
    assert problems(at) == [] and len(at.get("plotly_chart")) == 4
    measured = cache_bytes("_image_stats_cached")
    assert measured > 0

    again = app_at("data_explorer")  # a new visitor: the statistics come from the cache
    again.session_state["eda_tab"] = "Image statistics"
    again.run()
    assert problems(again) == []
    assert cache_bytes("_image_stats_cached") == measured
    assert any("Images to measure" == s.label for s in again.select_slider)

    again.session_state["eda_tab"] = "Samples"
    again.run()
    assert problems(again) == []
    assert len(again.image) == 10 * 6  # 6 per class by default


def test_augmentation_draws_original_first_and_caches_variants(lab_env):
    at = app_at("augmentation")
    assert problems(at) == []
    captions = [img.proto.imgs[0].caption for img in at.image]
    assert captions[0].startswith("original · ") and captions[1:] == [f"variant {i}" for i in range(1, 9)]
    cached = cache_bytes("_preview_cached")
    assert cached > 0

    again = app_at("augmentation")  # same image, spec, n and seed: no new preview computed
    assert problems(again) == []
    assert len(again.image) == 9 and cache_bytes("_preview_cached") == cached
    again.button(key="aug_reroll").click().run()  # a new seed: a new entry
    assert problems(again) == [] and len(again.image) == 9
    assert cache_bytes("_preview_cached") > cached


def test_train_draws_the_jobs_tab_only_while_it_is_open(lab_env, monkeypatch):
    import os

    from core.store import Store

    monkeypatch.setenv("LAB_DASHBOARD_SUPERVISOR", "0")
    store = Store(os.environ["LAB_DATABASE_URL"], models_dir=os.environ["LAB_MODELS_DIR"])
    rid = store.create_run({"dataset": {"name": "digits", "params": {}}, "model": "small_cnn", "epochs": 2},
                           name="curves", dataset="digits", model="small_cnn", seed=0)
    store.set_status(rid, "running")
    for step in (1, 2):
        store.log_metrics(rid, {"loss": 1.0 / step, "accuracy": 0.4 * step}, step=step)
    store.set_status(rid, "succeeded")

    at = app_at("train")
    assert problems(at) == []
    assert at.button(key="t_submit") is not None
    # the Jobs tab (panel, queue table, curves chart) waits until it is opened
    assert len(at.get("plotly_chart")) == 0 and len(at.dataframe) == 0
    assert "t_watch_select" not in [s.key for s in at.selectbox]

    at.session_state["train_tab"] = "Jobs"
    at.run()
    assert problems(at) == []
    assert at.selectbox(key="t_watch_select").value == rid
    charts = [c for c in at.get("plotly_chart") if c.proto.id.endswith(f"t_curves_{rid}")]
    assert len(charts) == 1


# ------------------------------------------------------------------ item 18: first render of deep links
def test_first_script_run_of_the_pages_does_not_import_tensorflow(trained, tmp_path):
    """A deep link to any page renders without TensorFlow: on the first view after a server
    start it would add seconds. The Augmentation studio included: with no augmentation set (a
    first visit) its variants are copies, and TensorFlow (the Keras layers) is imported only
    once a setting changes the image (it was imported for copies too: 3 s of CPU while the
    browser loaded the page). Run in a fresh interpreter: this test process may have imported
    TensorFlow already."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "probe.py"
    script.write_text(
        "import json, sys\n"
        f"sys.path[:0] = [{str(Path(__file__).resolve().parent.parent)!r}, {str(Path(__file__).resolve().parent)!r}]\n"
        "from lab_pages_support import app_at, problems\n"
        "out = {}\n"
        f"rid = {str(trained['ids'][0])!r}\n"
        "for page, q in [('home', None), ('runs', None), ('runs', {'run': rid}), ('compare', {'runs': rid}),\n"
        "                ('predict', {'run': rid}), ('train', None), ('data_explorer', None), ('recipes', None),\n"
        "                ('augmentation', None)]:\n"
        "    at = app_at(page, q)\n"
        "    out[f'{page} {q}'] = [problems(at), 'tensorflow' in sys.modules, 'keras' in sys.modules]\n"
        "print('RESULT' + json.dumps(out))\n")
    env = {**os.environ, "LAB_DASHBOARD_SUPERVISOR": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT")), None)
    assert line is not None, proc.stdout[-2000:] + proc.stderr[-3000:]
    for page, (probs, tf, keras) in json.loads(line[len("RESULT"):]).items():
        assert probs == [], (page, probs)
        assert not tf and not keras, f"{page}: its first script run imported TensorFlow/Keras"


def test_warm_up_imports_wait_until_no_page_is_being_drawn(monkeypatch):
    """The background imports (other pages' modules) start only once no page script has run
    for WARM_UP_QUIET_S: right after a page's script the browser still fetches and draws it
    from this process, and an import holding the interpreter delayed that first render."""
    import sys
    import threading

    from lab_pages_support import wait_for
    from pages import _warm_up

    sys.modules.pop("colorsys", None)  # a leaf module of the standard library, imported by nothing here
    monkeypatch.setattr(_warm_up, "WARM_UP_MODULES", ("colorsys",))
    monkeypatch.setattr(_warm_up, "WARM_UP_QUIET_S", 0.3)
    monkeypatch.setattr(_warm_up, "_WARM_UP", {})
    monkeypatch.setattr(_warm_up, "_PAGE_RUNS", {"active": 0, "last_end": 0.0})
    monkeypatch.setattr(_warm_up, "_PAGE_RUNS_LOCK", threading.Lock())

    with _warm_up.page_run():
        assert not _warm_up.server_quiet()
        _warm_up.warm_up_in_background(poll_s=0.02)
        worker = _warm_up._WARM_UP["thread"]
        worker.join(timeout=0.5)  # a page is being drawn: nothing imported meanwhile
        assert worker.is_alive() and "colorsys" not in sys.modules
    assert not _warm_up.server_quiet(0.3)  # just ended: the browser is still drawing it
    wait_for(lambda: not worker.is_alive(), timeout=30, interval=0.05, what="the warm-up to finish")
    assert "colorsys" in sys.modules and _warm_up.server_quiet(0.3)


@pytest.fixture
def chromium_page():
    from lab_pages_support import CHROMIUM, CHROMIUM_ARGS, require_chromium

    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        finally:
            browser.close()


def test_deep_link_sends_the_page_before_the_sidebar(lab_env, chromium_page):
    """A real server and browser: the messages of a deep link's script run carry the page's
    elements (main area) before the shared sidebar's (job status, a query of the store, and
    on the first view of a server process the job supervisor's start)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    from lab_pages_support import StreamlitServer

    order: list[int] = []  # 0 = main area, 1 = sidebar, per new element in arrival order

    def on_frame(payload) -> None:
        if isinstance(payload, bytes | bytearray):
            msg = ForwardMsg()
            msg.ParseFromString(bytes(payload))
            if msg.WhichOneof("type") == "delta" and msg.delta.WhichOneof("type") == "new_element":
                order.append(msg.metadata.delta_path[0])

    with StreamlitServer(lab_env) as srv:
        pg = chromium_page
        pg.on("websocket", lambda ws: ws.on("framereceived", on_frame))
        pg.goto(srv.base + "/recipes", wait_until="commit")
        pg.get_by_text("Research and teaching use only.").wait_for(state="visible", timeout=120_000)
        pg.locator("[data-testid='stHeading']").first.wait_for(state="visible", timeout=60_000)
    assert 0 in order and 1 in order, order
    assert order.index(0) < order.index(1), f"sidebar before the page: {order[:12]}"


def test_serve_opens_the_store_before_the_first_visit_and_survives_a_bad_one(tmp_path):
    """scripts/serve.py (run_app.sh, the browser tests) does the first view's imports and opens
    the store at start: with no page visited yet, runs.db exists at the current schema (plain
    `streamlit run app.py` created it on the first visit). A store that cannot be opened does not
    stop the server: it starts, logs why, and the pages say what is wrong."""
    import os
    import urllib.request

    from core.store import Store
    from lab_pages_support import StreamlitServer, lab_environ

    root = tmp_path / "ok"
    root.mkdir()
    with StreamlitServer(root):
        assert (root / "runs.db").exists()  # nothing visited: opened (and migrated) at start
        # uvicorn's fast event loop and HTTP parser are installed and used (requirements.txt):
        # with asyncio + h11 a new visitor's page painted 0.1-0.3 s later (bench/README.md)
        assert "serving with the uvloop event loop and the httptools HTTP parser" in (root / "server.log").read_text()
        store = Store(lab_environ(root)["LAB_DATABASE_URL"], models_dir=lab_environ(root)["LAB_MODELS_DIR"])
        assert store.list_runs()[1] == 0
        store.close()

    bad = tmp_path / "bad"
    bad.mkdir()
    env = {**os.environ, **lab_environ(bad), "LAB_DATABASE_URL": f"sqlite:///{bad / 'missing' / 'runs.db'}"}
    with StreamlitServer(bad, env) as srv:
        with urllib.request.urlopen(f"{srv.base}/_stcore/health", timeout=10) as r:
            assert r.status == 200
    log = (bad / "server.log").read_text()
    assert "the store could not be opened at start" in log and "does not exist" in log
    assert not (bad / "missing").exists()
