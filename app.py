"""Streamlit frame of the image-classification lab: page config, navigation, shared sidebar.

Run with ``streamlit run app.py``. Every page lives in ``pages/`` and stays thin: read
widgets -> call ``core`` -> render. The frame is ``pages/_frame.py``; the other shared UI
helpers are the private ``pages/_*.py`` modules.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # pages import `pages._frame` and `core`
    sys.path.insert(0, str(ROOT))

from pages import _frame, _resources, _warm_up  # noqa: E402

with _warm_up.page_run():  # the warm-up imports (below) wait while pages are being drawn
    nav = _frame.navigation()
    missing = _frame.missing_page()
    _resources.ensure_supervisor_quietly()  # first view of a process: recovery before any page lists runs
    try:
        # the page first: what a deep link asks for is sent before the sidebar's job status (a
        # query of the store for its counts and progress bars, the executor's description)
        if missing is not None:
            _frame.page_not_found(missing)
        else:
            nav.run()
    finally:  # the sidebar also when the page stops early (st.stop) or fails
        _frame.shared_sidebar()
_warm_up.warm_up_in_background()  # the imports the other pages need, once per process, when the server is quiet
