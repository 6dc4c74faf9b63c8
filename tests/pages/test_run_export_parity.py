"""The Run page's Export section states the parity of an export: an export that scores what Keras
scores shows no change (no arrow, neutral colour), a real cost or gain keeps its arrow and colour.
The export is the legacy store's real ONNX export of its digits run (copied first)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import lab_pages_support  # noqa: F401 - puts the project on sys.path for the page modules

LEGACY_RUN = Path(__file__).resolve().parent.parent / "data" / "legacy_store" / "models" / "1"


def _parity_page(rep: dict):
    from pages._export_ui import _show_parity

    _show_parity(rep, 1)


@pytest.fixture()
def export_report(tmp_path) -> dict:
    folder = tmp_path / "exports"
    shutil.copytree(LEGACY_RUN / "exports", folder)
    rep = json.loads((folder / "run1_onnx.onnx.json").read_text())
    return {**rep, "path": str(folder / rep["file"])}


def _accuracy_metric(rep: dict):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_parity_page, args=(rep,), default_timeout=60)
    at.run()
    assert not at.exception
    (metric,) = [m for m in at.metric if m.label == "Test accuracy (export)"]
    return metric


def test_an_exact_match_shows_no_change(export_report):
    from streamlit.proto.Metric_pb2 import Metric

    assert export_report["parity"]["accuracy_cost"] == 0.0  # the stored export scores what Keras scores
    metric = _accuracy_metric(export_report)
    assert metric.proto.direction == Metric.MetricDirection.NONE
    assert metric.proto.color == Metric.MetricColor.GRAY
    assert metric.delta == "same as Keras"


@pytest.mark.parametrize(("cost", "direction", "color"), [(0.02, "DOWN", "RED"), (-0.01, "UP", "GREEN"),
                                                          (0.0004, "NONE", "GRAY")])
def test_a_cost_or_gain_keeps_its_arrow(export_report, cost, direction, color):
    from streamlit.proto.Metric_pb2 import Metric

    rep = {**export_report, "parity": {**export_report["parity"], "accuracy_cost": cost}}
    metric = _accuracy_metric(rep)
    assert metric.proto.direction == Metric.MetricDirection.Value(direction)
    assert metric.proto.color == Metric.MetricColor.Value(color)
