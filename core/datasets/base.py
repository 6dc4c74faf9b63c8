"""The Dataset value every loader returns, and the dataset registry."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from core.registry import Registry

DATASETS: Registry = Registry("dataset")

Domain = Literal["general", "lesion", "fundus"]

# What the Train page starts from for a dataset registered without ``train_defaults``.
DEFAULT_TRAIN_DEFAULTS: dict[str, Any] = {
    "model": "small_cnn", "epochs": 10, "batch_size": 32, "image_size": None, "class_weight": "none",
}
DEFAULT_PATH_PLACEHOLDER = "/path/to/data"


def register_dataset(
    name: str, *, title: str, description: str, domain: Domain = "general", params: dict[str, str] | None = None,
    availability: Callable[..., tuple[str, str]] | None = None, train_defaults: dict[str, Any] | None = None,
    path_placeholder: str = DEFAULT_PATH_PLACEHOLDER, settings_key: str | None = None,
    extra_path_params: dict[str, str] | None = None, aliases: tuple[str, ...] = (),
    sensitivity_floors: dict[str, float] | None = None,
) -> Callable:
    """Decorator registering a loader ``fn(**params) -> Dataset`` under ``name``: the one place a dataset's facts live.

    - ``params``: accepted parameter -> description (the loader's signature decides what is accepted).
    - ``availability(**params) -> (availability, how_to)``: without it the dataset is "builtin".
    - ``train_defaults``: what the Train page starts from (``model``, ``epochs``, ``batch_size``,
      ``image_size`` ([h, w] or None), ``class_weight``); missing keys come from ``DEFAULT_TRAIN_DEFAULTS``.
    - ``path_placeholder``: placeholder of the folder/file widget; ``settings_key``: the attribute of
      ``core.config.get_settings()`` that pre-fills it (e.g. ``"ham10000_dir"``).
    - ``extra_path_params``: further path parameters -> widget label (e.g. fundus' ``labels_csv``).
    - ``sensitivity_floors``: class name (or code) -> the test sensitivity a run must reach for that class
      to be made champion without a note (``core.analysis.verdicts``; ``LAB_SENSITIVITY_FLOORS`` overrides).
    """
    floors = {str(k): float(v) for k, v in (sensitivity_floors or {}).items()}
    if any(not 0 <= v <= 1 for v in floors.values()):
        raise ValueError(f"dataset {name!r}: sensitivity_floors must be between 0 and 1; got {floors}")
    unknown = sorted(set(train_defaults or {}) - set(DEFAULT_TRAIN_DEFAULTS))
    if unknown:
        raise ValueError(f"dataset {name!r}: unknown train_defaults key(s) {', '.join(unknown)}; "
                         f"accepted: {', '.join(DEFAULT_TRAIN_DEFAULTS)}")
    meta: dict[str, Any] = {
        "title": title, "description": description, "domain": domain, "params": dict(params or {}),
        "train_defaults": {**DEFAULT_TRAIN_DEFAULTS, **(train_defaults or {})},
        "path_placeholder": path_placeholder, "settings_key": settings_key,
        "extra_path_params": dict(extra_path_params or {}), "sensitivity_floors": floors,
    }
    if availability is not None:
        meta["availability"] = availability
    return DATASETS.register(name, aliases=aliases, **meta)


@dataclass
class Dataset:
    """Images, labels, class names, per-sample ids and metadata, aligned by position.

    Exactly one of ``images`` (in memory, uint8, N x H x W x C) and ``paths`` (image files
    decoded lazily, e.g. by the tf.data pipeline) is set.
    """

    name: str                               # registry name, e.g. "ham10000"
    class_names: list[str]                  # human names, index = label
    ids: np.ndarray                         # (N,) str, unique per sample, stable across loads
    labels: np.ndarray                      # (N,) int64 in [0, n_classes)
    images: np.ndarray | None = None        # (N, H, W, C) uint8
    paths: np.ndarray | None = None         # (N,) str absolute file paths
    metadata: pd.DataFrame = field(default_factory=pd.DataFrame)  # N rows, same order; column "id"
    groups: np.ndarray | None = None        # (N,) group key for grouped splits (lesion_id, patient_id)
    group_name: str | None = None           # "lesion_id" / "patient_id"
    official_split: np.ndarray | None = None  # (N,) "train"/"val"/"test" where the source defines it
    class_codes: list[str] | None = None    # short codes (HAM10000 "nv"), index = label
    ordinal: bool = False                   # labels are ordered grades (fundus): report kappa
    domain: Domain = "general"              # lesion/fundus -> "research use only" notice
    spec: dict[str, Any] = field(default_factory=dict)  # {"name":..., "params":...}: reload recipe
    report: dict[str, Any] = field(default_factory=dict)  # load report: skipped files, notices, imputation

    def __post_init__(self) -> None:
        self.ids = np.asarray(self.ids).astype(str)
        self.labels = np.asarray(self.labels).astype(np.int64)
        if (self.images is None) == (self.paths is None):
            raise ValueError("exactly one of images and paths must be set")
        n = len(self.ids)
        for nm in ("labels", "images", "paths", "groups", "official_split"):
            v = getattr(self, nm)
            if v is not None and len(v) != n:
                raise ValueError(f"{nm} has {len(v)} entries, ids has {n}")
        if len(self.metadata) == 0:
            self.metadata = pd.DataFrame({"id": self.ids})

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def in_memory(self) -> bool:
        return self.images is not None

    def index_of(self, ids) -> np.ndarray:
        """Positions of the given ids; raises DatasetError naming missing ids."""
        from core.validation import DatasetError

        pos = pd.Index(self.ids).get_indexer(np.asarray(ids).astype(str))
        if (pos < 0).any():
            missing = np.asarray(ids)[pos < 0]
            raise DatasetError(
                f"{len(missing)} sample id(s) are not in dataset {self.name!r} "
                f"(first: {', '.join(map(str, missing[:5]))}). The split does not belong to this data."
            )
        return pos

    def subset(self, ids_or_positions, *, by: Literal["id", "position"] = "id") -> Dataset:
        pos = self.index_of(ids_or_positions) if by == "id" else np.asarray(ids_or_positions, dtype=np.int64)
        take = lambda a: None if a is None else np.asarray(a)[pos]  # noqa: E731
        return Dataset(
            name=self.name,
            class_names=list(self.class_names),
            ids=self.ids[pos],
            labels=self.labels[pos],
            images=take(self.images),
            paths=take(self.paths),
            metadata=self.metadata.iloc[pos].reset_index(drop=True),
            groups=take(self.groups),
            group_name=self.group_name,
            official_split=take(self.official_split),
            class_codes=self.class_codes,
            ordinal=self.ordinal,
            domain=self.domain,
            spec=dict(self.spec),
            report=dict(self.report),
        )
