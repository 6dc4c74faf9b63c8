"""A real HAM10000 run trained with a learning rate so large that the network collapses: it
predicts one class (or very nearly) for its whole test split and its balanced accuracy is at
chance. Trained by the real worker (about 10 s on a CPU); shared by the verdict tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from lab_pages_support import lab_environ, make_finished_runs


def collapsed_ham_config(shared: Path) -> dict:
    folder = shared / "ham10000"
    return {"name": "ham collapsed", "epochs": 1, "batch_size": 32, "input_size": [32, 32], "learning_rate": 1.0,
            "dataset": {"name": "ham10000", "params": {"path": str(folder / "reduced_200x150"),
                                                       "metadata_csv": str(folder / "HAM10000_metadata.csv"),
                                                       "max_per_class": 80}}}


def collapsed_ham_store(shared: Path, root: Path):
    """(run id, environment) of the collapsed run in a new store at ``root``; the environment is
    set for the caller's module by ``pytest.MonkeyPatch`` (undo it at the end)."""
    (rid,) = make_finished_runs(root, [collapsed_ham_config(shared)])
    mp = pytest.MonkeyPatch()
    for k, v in lab_environ(root).items():
        mp.setenv(k, v)
    return rid, mp
