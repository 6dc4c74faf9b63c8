"""Datasets: registry of loaders, splits, EDA statistics.

``load_dataset(name, **params) -> Dataset`` and ``list_datasets() -> list[DatasetInfo]``.
Importing this package registers the loaders (the ``builtin`` and ``folders`` modules, imported
below, once); nothing is read or downloaded until a loader runs.
"""
from core.datasets import builtin, folders  # noqa: F401  (importing them registers the loaders)
from core.datasets.base import DATASETS, Dataset, register_dataset
from core.datasets.catalog import AVAILABILITY, DatasetInfo, dataset_availability, list_datasets, load_dataset
from core.datasets.splits import Split, apply_split, make_split


def import_keras_dataset(name: str, source_path, *, keras_home_dir=None):
    """Copy local files of a Keras built-in dataset into Keras' cache (see ``core.datasets.keras_cache``)."""
    from core.datasets.keras_cache import import_keras_dataset as _imp

    return _imp(name, source_path, keras_home_dir=keras_home_dir)


__all__ = [
    "AVAILABILITY", "DATASETS", "Dataset", "DatasetInfo", "Split", "apply_split", "dataset_availability",
    "import_keras_dataset", "list_datasets", "load_dataset", "make_split", "register_dataset",
]
