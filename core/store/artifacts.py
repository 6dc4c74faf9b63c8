"""The run folder: the one place that knows which files a run keeps, under which names.

A run's folder is ``LAB_MODELS_DIR/<run id>`` (or the ``--out`` folder of an unrecorded CLI run).
Training writes into it, the worker registers what is there in the store, and everything else
(bundles, analysis, model cards, export, pitfalls, the pages) reads it through ``RunFolder``:

    rf = RunFolder.of(run, store)          # the folder of a stored run
    rf = RunFolder("/tmp/run1")            # any folder holding run files
    rf.read_json("evaluation")             # None when the file is absent
    rf.write_json("meta", meta)            # atomic: complete or absent, never partial
    rf.path_of("model")                    # the file's path (it may not exist)

Kinds are the names the store's ``artifacts`` table records (``model``, ``meta``, ...); ``ARTIFACTS``
lists every file with its kind, format and what it holds. No other module spells a run file's
name: adding a file to runs means adding one ``Artifact`` here.

No TensorFlow, no pandas at import time (``read_csv`` imports pandas when called).
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.files import atomic_write, atomic_write_text, dumps
from core.validation import NotFoundError


@dataclass(frozen=True)
class Artifact:
    kind: str          # the store's artifact kind, and the key used in code
    name: str          # the file (or folder) name inside the run folder
    fmt: str           # "keras" | "json" | "csv" | "text" | "folder"
    what: str          # one line for a user (bundle manifests, the Run page's file list)
    result: bool       # a result of a finished run: registered in the store and carried in its bundle


ARTIFACTS: tuple[Artifact, ...] = (
    Artifact("model", "model.keras", "keras", "the trained Keras model (loaded with safe mode on)", True),
    Artifact("meta", "meta.json", "json", "how the run was trained: config, preprocessing, classes, notices", True),
    Artifact("predictions", "predictions.csv", "csv", "per-image test predictions: id, y_true, y_pred, p_0..p_k", True),
    Artifact("evaluation", "evaluation.json", "json", "test metrics with bootstrap intervals, per-class figures", True),
    Artifact("split", "split.json", "json", "the train/validation/test ids, seed and grouping", True),
    Artifact("history", "history.csv", "csv", "per-epoch training curves", True),
    Artifact("calibration", "calibration.json", "json", "temperature scaling: ECE and reliability before/after", True),
    Artifact("lr_find", "lr_find.json", "json", "the learning-rate range test's curve and suggestion", False),
    Artifact("audit", "audit.json", "json", "a label audit's summary", False),
    Artifact("audit_table", "audit.csv", "csv", "a label audit's per-image table", False),
    Artifact("search_trials", "search.csv", "csv", "a hyper-parameter search's trials", False),
    Artifact("search_space", "space.json", "json", "a hyper-parameter search's space", False),
    Artifact("traceback", "traceback.txt", "text", "the traceback of a failed run", False),
    Artifact("log", "worker.log", "text", "the worker process's output", False),
    Artifact("store_outage", "store_outage.json", "json", "why the worker stopped: the run store was unreachable", False),
    Artifact("exports", "exports", "folder", "verified ONNX / LiteRT exports and their sidecars", False),
)
BY_KIND: dict[str, Artifact] = {a.kind: a for a in ARTIFACTS}
BY_NAME: dict[str, Artifact] = {a.name: a for a in ARTIFACTS}
RESULT_KINDS: tuple[str, ...] = tuple(a.kind for a in ARTIFACTS if a.result)


def artifact(kind: str) -> Artifact:
    try:
        return BY_KIND[kind]
    except KeyError:
        raise KeyError(f"unknown run artifact kind {kind!r}; known: {', '.join(BY_KIND)}") from None


def file_name(kind: str) -> str:
    """The file name of an artifact kind (``file_name("model") == "model.keras"``)."""
    return artifact(kind).name


def kind_of_name(name: str, default: str = "file") -> str:
    """The artifact kind of a file name in a run folder, else ``default``."""
    a = BY_NAME.get(Path(name).name)
    return a.kind if a else default


class RunFolder:
    """A run's folder on disk, with its files addressed by kind."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunFolder) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    @classmethod
    def of(cls, run: Any, store: Any = None) -> RunFolder:
        """The folder of a stored run: where its recorded model lives (an imported or moved run
        keeps its files where they were registered), else the store's folder for its id."""
        for a in getattr(run, "artifacts", None) or []:
            if a.kind == "model" and a.path:
                return cls(Path(a.path).parent)
        if store is None:
            raise NotFoundError(f"Run {getattr(run, 'id', '?')} has no recorded model folder and no store was given.")
        return cls(store.run_dir(run.id))

    # ------------------------------------------------------------------ paths
    def path_of(self, kind: str) -> Path:
        return self.path / file_name(kind)

    def has(self, kind: str) -> bool:
        return self.path_of(kind).exists()

    def mtime(self, kind: str) -> float:
        """Modification time of a file, 0.0 when absent (a cache key that changes when it is rewritten)."""
        try:
            return self.path_of(kind).stat().st_mtime
        except OSError:
            return 0.0

    def present(self, kinds: Iterable[str] = RESULT_KINDS) -> list[Artifact]:
        """The artifacts of ``kinds`` that exist, in ``ARTIFACTS`` order."""
        wanted = set(kinds)
        return [a for a in ARTIFACTS if a.kind in wanted and (self.path / a.name).exists()]

    @property
    def exports(self) -> Path:
        return self.path_of("exports")

    def mkdir(self) -> RunFolder:
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    # ------------------------------------------------------------------ reading
    def read_json(self, kind: str) -> Any:
        """The file's JSON, or None when absent (a damaged file raises ``json.JSONDecodeError``)."""
        p = self.path_of(kind)
        return json.loads(p.read_text()) if p.is_file() else None

    def read_text(self, kind: str) -> str | None:
        p = self.path_of(kind)
        return p.read_text(errors="replace") if p.is_file() else None

    def read_bytes(self, kind: str) -> bytes | None:
        p = self.path_of(kind)
        return p.read_bytes() if p.is_file() else None

    def read_csv(self, kind: str, **kwargs: Any):
        """A pandas DataFrame of the file, or None when absent."""
        p = self.path_of(kind)
        if not p.is_file():
            return None
        import pandas as pd

        return pd.read_csv(p, **kwargs)

    # ------------------------------------------------------------------ writing (atomic)
    def write_json(self, kind: str, obj: Any) -> Path:
        p = self.path_of(kind)
        atomic_write_text(p, dumps(obj))
        return p

    def write_text(self, kind: str, text: str) -> Path:
        p = self.path_of(kind)
        atomic_write_text(p, text)
        return p

    def write_bytes(self, kind: str, data: bytes) -> Path:
        p = self.path_of(kind)
        atomic_write(p, lambda tmp: Path(tmp).write_bytes(data))
        return p

    def write_csv(self, kind: str, frame: Any, **kwargs: Any) -> Path:
        p = self.path_of(kind)
        kwargs.setdefault("index", False)
        atomic_write(p, lambda tmp: frame.to_csv(tmp, **kwargs))
        return p
