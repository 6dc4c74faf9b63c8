"""Public entry points: ``load_dataset``, ``list_datasets``, ``dataset_availability``."""
from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, field
from typing import Any

from core.datasets.base import DATASETS, DEFAULT_PATH_PLACEHOLDER, DEFAULT_TRAIN_DEFAULTS, Dataset
from core.validation import DatasetError, ValidationError

AVAILABILITY = ("builtin", "cached", "needs_download", "needs_folder")


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    description: str
    availability: str                 # one of AVAILABILITY
    how_to: str                       # what to do to make it available (or how it is available)
    domain: str = "general"
    params: dict[str, Any] = field(default_factory=dict)  # accepted params -> description
    # model, epochs, batch_size, image_size ([h, w] or None), class_weight: what the Train page starts from
    train_defaults: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_TRAIN_DEFAULTS))
    path_placeholder: str = DEFAULT_PATH_PLACEHOLDER   # placeholder of the folder/file widget
    settings_key: str | None = None   # attribute of core.config.get_settings() that pre-fills the folder
    extra_path_params: dict[str, str] = field(default_factory=dict)  # further path params -> widget label
    # class name (or code) -> test sensitivity a champion must reach unless a note says why (core.analysis.verdicts)
    sensitivity_floors: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "title": self.title, "description": self.description,
            "availability": self.availability, "how_to": self.how_to, "domain": self.domain,
            "params": dict(self.params), "train_defaults": copy.deepcopy(self.train_defaults),
            "path_placeholder": self.path_placeholder, "settings_key": self.settings_key,
            "extra_path_params": dict(self.extra_path_params), "sensitivity_floors": dict(self.sensitivity_floors),
        }


def _accepted(fn) -> set[str]:
    return {p.name for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def load_dataset(name: str, **params: Any) -> Dataset:
    """Load a registered dataset by name (``digits``, ``fashion_mnist``, ``ham10000``, ...).

    Unknown names raise ``NotFoundError`` with close matches; unknown parameters raise
    ``ValidationError`` listing the accepted ones.
    """
    _ensure_registered()
    entry = DATASETS.get(name)
    accepted = _accepted(entry.fn)
    extra = sorted(set(params) - accepted)
    if extra:
        raise ValidationError(
            f"Dataset {entry.name!r} does not accept parameter(s) {', '.join(map(repr, extra))}. "
            f"Accepted: {', '.join(sorted(accepted)) or 'none'}."
        )
    ds = entry.fn(**params)
    if not ds.spec:
        ds.spec = {"name": entry.name, "params": {k: (str(v) if hasattr(v, "__fspath__") else v) for k, v in params.items()}}
    return ds


def dataset_availability(name: str, **params: Any) -> tuple[str, str]:
    """``(availability, how_to)`` for a dataset without loading it."""
    _ensure_registered()
    entry = DATASETS.get(name)
    fn = entry.meta.get("availability")
    if fn is None:
        return "builtin", "Bundled with the lab; nothing to do."
    try:
        return fn(**params)
    except DatasetError as e:
        return "needs_folder", str(e)


def list_datasets() -> list[DatasetInfo]:
    _ensure_registered()
    out = []
    for n in DATASETS.names():
        e = DATASETS.get(n)
        avail, how = dataset_availability(n)
        out.append(DatasetInfo(
            name=n, title=e.meta.get("title", n), description=e.meta.get("description", ""),
            availability=avail, how_to=how, domain=e.meta.get("domain", "general"),
            params=dict(e.meta.get("params", {})),
            train_defaults=copy.deepcopy(e.meta.get("train_defaults", DEFAULT_TRAIN_DEFAULTS)),
            path_placeholder=e.meta.get("path_placeholder", DEFAULT_PATH_PLACEHOLDER),
            settings_key=e.meta.get("settings_key"), extra_path_params=dict(e.meta.get("extra_path_params", {})),
            sensitivity_floors=dict(e.meta.get("sensitivity_floors") or {}),
        ))
    return out


def _ensure_registered() -> None:
    """The package ``__init__`` registers the loaders; the exported flag dataset versions (a folder
    each, ``core.datasets.flagged``) are registered here when found."""
    from core.datasets.flagged import register_flag_versions

    register_flag_versions()
