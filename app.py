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

nav = _ui.navigation()
_ui.shared_sidebar()
missing = _ui.missing_page()
if missing is not None:
    _ui.page_not_found(missing)
else:
    nav.run()
_ui.warm_up_in_background()  # after the page: the imports the other pages need, once per process
