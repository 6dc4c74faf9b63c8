"""Streamlit frame of the image-classification lab: page config, navigation, shared sidebar.

Run with ``streamlit run app.py``. Every page lives in ``pages/`` and stays thin: read
widgets -> call ``core`` -> render. Shared UI helpers are in ``pages/_ui.py``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # pages import `pages._ui` and `core`
    sys.path.insert(0, str(ROOT))

from pages import _ui  # noqa: E402

st.set_page_config(page_title="Image-classification lab", page_icon=":material/biotech:", layout="wide")

PAGES = {
    "Lab": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True, url_path="home"),
        st.Page("pages/data_explorer.py", title="Data explorer", icon=":material/query_stats:", url_path="data"),
        st.Page("pages/augmentation.py", title="Augmentation studio", icon=":material/auto_fix_high:",
                url_path="augment"),
    ],
    "Experiments": [
        st.Page("pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
        st.Page("pages/runs.py", title="Runs", icon=":material/table_rows:", url_path="runs"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
    ],
    "Use": [
        st.Page("pages/predict.py", title="Predict & explain", icon=":material/image_search:", url_path="predict"),
    ],
}

nav = st.navigation(PAGES, position="sidebar")
_ui.shared_sidebar()
nav.run()
