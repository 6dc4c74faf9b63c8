"""The first view of a page: after scripts/serve.py's start-up imports, a deep link's first script run
imports no lab module nor the libraries under them, and no TensorFlow (any page),
the background warm-up imports wait until no page is being drawn, a real browser receives the
page's elements before the shared sidebar's, and scripts/serve.py opens the store before the
first visit (bench/README.md, "Deep links again")."""
from __future__ import annotations

import pytest

from lab_pages_support import CHROMIUM, CHROMIUM_ARGS, PROJECT_ROOT, StreamlitServer, lab_environ, require_chromium, wait_for

pytestmark = pytest.mark.slow


# the lab's own packages and the libraries behind them (a Streamlit or pyarrow internal that a
# first element of its kind imports is Streamlit's business, and differs between its versions)
HEAVY = ("core", "numpy", "pandas", "sqlalchemy", "alembic", "mako", "pygments", "PIL", "sklearn", "scipy")
# never on a first view: seconds of import while the browser waits (imported once a click needs them)
ON_A_CLICK = ("tensorflow", "keras")
FIRST_VIEWS = [("home", None), ("runs", None), ("runs", {"run": "RID"}), ("compare", {"runs": "RID"}),
               ("predict", {"run": "RID"}), ("train", None), ("data_explorer", None), ("recipes", None),
               ("augmentation", None), ("review", None), ("admin", None)]


def test_first_script_runs_after_the_start_up_imports_import_nothing_heavy(trained, tmp_path):
    """In a fresh interpreter: scripts/serve.py's start-up imports (``preload``), then the first
    script run of every page, one after the other; none imports a lab module or a library of ``HEAVY``
    (scripts/serve.py imports them at start; before, the first visit after a start imported core.auth,
    core.training.config, the model zoo, PIL, ... while the browser waited for the page), and none
    imports TensorFlow or Keras at all: not even the Augmentation studio, whose first view (no
    augmentation set) shows copies. A fresh interpreter: this test process may have imported them."""
    import json
    import os
    import subprocess
    import sys

    script = tmp_path / "probe.py"
    script.write_text(
        "import json, sys\n"
        f"sys.path[:0] = [{str(PROJECT_ROOT)!r}, {str(PROJECT_ROOT / 'scripts')!r}, {str(PROJECT_ROOT / 'tests')!r}]\n"
        "import serve\n"
        "serve.preload()\n"
        "serve.open_store_once()\n"
        "from streamlit.testing.v1 import AppTest\n"
        f"trivial = {str(tmp_path / 'trivial.py')!r}\n"
        "open(trivial, 'w').write('import streamlit as st\\nst.write(1)\\n')\n"
        "AppTest.from_file(trivial).run()  # what AppTest itself imports on a first run\n"
        "from lab_pages_support import app_at, problems\n"
        f"views = {FIRST_VIEWS!r}\n"
        f"HEAVY = {HEAVY + ON_A_CLICK!r}\n"
        f"rid = {str(trained['ids'][0])!r}\n"
        f"out = {{'start-up': [[], sorted(m for m in {ON_A_CLICK!r} if m in sys.modules)]}}\n"
        "for page, q in views:\n"
        "    q = {k: v.replace('RID', rid) for k, v in q.items()} if q else None\n"
        "    before = set(sys.modules)\n"
        "    at = app_at(page, q)\n"
        "    new = sorted(m for m in set(sys.modules) - before if m.split('.')[0] in HEAVY)\n"
        "    out[f'{page} {q}'] = [problems(at), new]\n"
        "print('RESULT' + json.dumps(out))\n")
    env = {**os.environ, "LAB_DASHBOARD_SUPERVISOR": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT")), None)
    assert line is not None, proc.stdout[-2000:] + proc.stderr[-3000:]
    for view, (probs, new) in json.loads(line[len("RESULT"):]).items():
        assert probs == [], (view, probs)
        assert not set(new) & set(ON_A_CLICK), f"{view}: its first script run imported TensorFlow/Keras: {new}"
        assert new == [], f"{view}: its first script run imported {new} (add them to scripts/serve.py's PRELOAD)"


def test_warm_up_imports_wait_until_no_page_is_being_drawn(monkeypatch):
    """The background imports (other pages' modules) start only once no page script has run
    for WARM_UP_QUIET_S: right after a page's script the browser still fetches and draws it
    from this process, and an import holding the interpreter delayed that first render."""
    import sys
    import threading

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
