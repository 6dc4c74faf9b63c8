"""Streamlit frame of the image-classification lab: page config, navigation, shared sidebar.

Run with ``streamlit run app.py``. Every page lives in ``pages/`` and stays thin: read
widgets -> call ``core`` -> render. Shared UI helpers are in ``pages/_ui.py``.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # pages import `pages._ui` and `core`
    sys.path.insert(0, str(ROOT))

from pages import _ui  # noqa: E402

with _ui.page_run():  # the warm-up imports (below) wait while pages are being drawn
    nav = _ui.navigation()
    missing = _ui.missing_page()
    _ui.ensure_supervisor_quietly()  # first view of a process: recovery before any page lists runs
    try:
        # the page first: what a deep link asks for is sent before the sidebar's job status (a
        # query of the store for its counts and progress bars, the executor's description)
        if missing is not None:
            _ui.page_not_found(missing)
        else:
            nav.run()
    finally:  # the sidebar also when the page stops early (st.stop) or fails
        _ui.shared_sidebar()
_ui.warm_up_in_background()  # the imports the other pages need, once per process, when the server is quiet
