"""A run's files for the pages, read through ``core.store.artifacts.RunFolder`` (which alone knows
their names) and cached per folder and file time: evaluation, predictions, meta, the trained model."""
from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core.store.artifacts import RunFolder
from pages import _resources


def run_folder(run) -> RunFolder:
    """The run's folder: where its recorded model lives, else the store's folder for its id."""
    return RunFolder.of(run, _resources.get_store())


@st.cache_data(show_spinner=False, max_entries=32)
def load_evaluation(folder: str, mtime: float) -> dict | None:
    return RunFolder(folder).read_json("evaluation")


@st.cache_data(show_spinner=False, max_entries=32)
def load_predictions(folder: str, mtime: float) -> pd.DataFrame | None:
    return RunFolder(folder).read_csv("predictions", dtype={"id": str})


def run_artifacts(r) -> tuple[dict | None, pd.DataFrame | None, dict]:
    """(evaluation, predictions, meta) of a run; None, None and {} for the files it does not have."""
    rf = run_folder(r)
    ev = load_evaluation(str(rf.path), rf.mtime("evaluation"))
    pred = load_predictions(str(rf.path), rf.mtime("predictions"))
    return ev, pred, rf.read_json("meta") or {}


@st.cache_resource(show_spinner=False, max_entries=8)
def _trained_model(folder: str, mtime: float):
    from core.serving.trained_model import load_trained

    return load_trained(folder)


def load_run_model(run) -> Any:
    """The TrainedModel of a finished run (cached per folder and file time)."""
    rf = run_folder(run)
    mp = rf.path_of("model")
    if not mp.exists():
        from core.validation import NotFoundError

        raise NotFoundError(f"Run {run.id} has no saved model at {mp}. Only succeeded runs can predict.")
    return _trained_model(str(rf.path), mp.stat().st_mtime)
