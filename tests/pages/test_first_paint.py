"""The first paint after a server start (bench_pages.py, "cold"): scripts/serve.py does at start
what the first visit to any page would otherwise wait for: every page's first script run imports
none of the lab's own modules nor the libraries they stand on (they are imported at start)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lab_pages_support import PROJECT_ROOT

pytestmark = pytest.mark.slow

# the lab's own packages and the libraries behind them (a Streamlit or pyarrow internal that a
# first element of its kind imports is Streamlit's business, and differs between its versions)
HEAVY = ("core", "numpy", "pandas", "sqlalchemy", "alembic", "mako", "pygments", "PIL", "sklearn", "scipy")
FIRST_VIEWS = [("home", None), ("runs", None), ("runs", {"run": "RID"}), ("compare", {"runs": "RID"}),
               ("predict", {"run": "RID"}), ("train", None), ("data_explorer", None), ("recipes", None),
               ("augmentation", None), ("review", None), ("admin", None)]


def test_after_the_start_up_imports_a_page_s_first_script_run_imports_only_page_modules(trained, tmp_path):
    """In a fresh interpreter: scripts/serve.py's start-up imports (``preload``), then the first
    script run of every page, one after the other; none imports a lab module or a library of ``HEAVY``
    (before, the first visit after a start imported core.auth, core.training.config, the model
    zoo, PIL, ... while the browser waited for the page)."""
    import json

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
        f"HEAVY = {HEAVY!r}\n"
        f"rid = {str(trained['ids'][0])!r}\n"
        "out = {}\n"
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
        assert new == [], f"{view}: its first script run imported {new} (add them to scripts/serve.py's PRELOAD)"
