"""Shared by the external-validation tests: a tiny HAM10000 run trained on the reduced set (real data)
and the 42 original-resolution photos of the shared datasets in the forms the lab reads."""
from __future__ import annotations

import shutil
from pathlib import Path

HAM_CLASSES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")


def ham_run(root: Path, shared: Path, **params) -> tuple[int, dict]:
    """A finished small_cnn run (1 epoch, 24x32 input) on the whole reduced HAM10000 set (``params``:
    more dataset parameters); (run id, the environment of its store)."""
    from lab_pages_support import lab_environ, make_finished_runs

    ham = shared / "ham10000"
    cfg = {"dataset": {"name": "ham10000", "params": {"path": str(ham / "reduced_200x150"),
                                                      "metadata_csv": str(ham / "HAM10000_metadata.csv"), **params}},
           "model": "small_cnn", "epochs": 1, "batch_size": 64, "input_size": [24, 32], "name": "ham tiny"}
    [rid] = make_finished_runs(root, [cfg])
    return rid, lab_environ(root)


def originals_as_folders(shared: Path, dest: Path) -> Path:
    """The 42 originals as class folders only (no CSV: no lesion ids, so the image check is used)."""
    for c in HAM_CLASSES:
        shutil.copytree(shared / "ham10000" / "images" / c, dest / c)
    return dest


def original_lesions(shared: Path) -> list[str]:
    import pandas as pd

    return sorted(pd.read_csv(shared / "ham10000" / "images" / "labels.csv")["lesion_id"].astype(str))
