"""Helpers shared by the bundle tests: the store of the ``trained`` fixture and a check that an
imported run is the same as its original, down to the model's predictions."""
from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from core.store import Store


def source_store(trained) -> Store:
    return Store(trained["env"]["LAB_DATABASE_URL"], models_dir=trained["env"]["LAB_MODELS_DIR"])


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def assert_same_run(src: Store, sid: int, dst: Store, did: int) -> None:
    """Everything of run ``sid`` of ``src`` arrived as run ``did`` of ``dst``: fields, config, params,
    summary, metric history, tags, notes, files (byte for byte) and a model that predicts the same."""
    a, b = src.get_run(sid), dst.get_run(did)
    for f in ("name", "kind", "status", "dataset", "model", "seed", "created_at", "started_at", "finished_at",
              "duration_s", "error", "notes", "config", "params", "progress"):
        assert getattr(a, f) == getattr(b, f), f
    assert a.summary.keys() == b.summary.keys() and all(_same(a.summary[k], b.summary[k]) for k in a.summary)
    assert b.tags == {**a.tags, "imported_from": b.tags["imported_from"], "imported_at": b.tags["imported_at"]}
    assert datetime.fromisoformat(b.tags["imported_at"]) >= b.created_at  # the import's time; created_at the original's
    assert b.tags["imported_from"].startswith(f"run {sid} of ")
    assert b.parent_id is None and b.pid is None and b.supervisor_id is None
    ha, hb = src.get_metric_history(sid), dst.get_metric_history(did)
    assert len(ha) == len(hb) > 0
    assert list(ha["key"]) == list(hb["key"]) and list(ha["step"]) == list(hb["step"])
    np.testing.assert_array_equal(ha["value"].to_numpy(), hb["value"].to_numpy())
    drift = (ha["time"] - hb["time"]).abs().max()  # ISO 8601 text in the bundle: microseconds
    assert drift <= np.timedelta64(2, "us"), drift
    files_a = {x.path.name: (x.kind, x.path.read_bytes()) for x in a.artifacts}
    files_b = {x.path.name: (x.kind, x.path.read_bytes()) for x in b.artifacts}
    assert files_a == files_b
    assert {"model", "meta", "predictions", "evaluation", "split"} <= {k for k, _ in files_a.values()}
    assert all(x.path.parent == dst.run_dir(did) for x in b.artifacts)
    assert_model_predicts_the_same(a.artifact("model").path.parent, b.artifact("model").path.parent)


def assert_model_predicts_the_same(src_dir: Path, dst_dir: Path) -> None:
    from sklearn.datasets import load_digits

    from core.serving.trained_model import evaluate_saved, load_trained

    images = (load_digits().images[:200] / 16.0 * 255).astype(np.uint8)[..., None]
    pa, pb = load_trained(src_dir).predict(images), load_trained(dst_dir).predict(images)
    np.testing.assert_allclose(pa, pb, rtol=0, atol=1e-6)
    assert (pa.argmax(1) == pb.argmax(1)).all()
    # the imported run re-evaluates on its own stored split like the original did when it was trained
    ev = evaluate_saved(dst_dir, n_bootstrap=10)
    stored = json.loads((src_dir / "evaluation.json").read_text())["summary"]
    assert ev["summary"]["accuracy"] == pytest.approx(stored["accuracy"], abs=1e-9)
