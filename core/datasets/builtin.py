"""In-memory datasets: ``digits`` (bundled with scikit-learn) and the Keras built-ins."""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.datasets import keras_cache
from core.datasets.base import Dataset, register_dataset
from core.datasets.common import check_max_per_class, subsample_positions

# What the Train page starts from for each Keras built-in (see ``register_dataset``).
KERAS_TRAIN_DEFAULTS = {
    "mnist": {"model": "small_cnn", "epochs": 3, "batch_size": 64},
    "fashion_mnist": {"model": "report_b_cnn5", "epochs": 20, "batch_size": 32},
    "cifar10": {"model": "report_e_model3", "epochs": 15, "batch_size": 64},
}
COMMON_PARAMS = {"max_per_class": "int or None: keep at most this many images per class (per official part)"}


@register_dataset(
    "digits", title="Digits (8x8, scikit-learn)",
    description="1,797 handwritten digits 0-9, 8x8 grey, bundled with scikit-learn (values 0-16 scaled to 0-255). "
                "The embedded default: always available, trains in seconds.",
    domain="general", params=dict(COMMON_PARAMS),
    train_defaults={"model": "small_cnn", "epochs": 5, "batch_size": 32},
)
def load_digits(*, max_per_class: int | None = None) -> Dataset:
    max_per_class = check_max_per_class(max_per_class)
    images, target = _digits_arrays()
    x = np.clip(np.rint(images * (255.0 / 16.0)), 0, 255).astype(np.uint8)[..., None]
    y = target.astype(np.int64)
    ids = np.array([f"digits-{i:04d}" for i in range(len(y))])
    pos = subsample_positions(y, max_per_class)
    return Dataset(
        name="digits", class_names=[str(i) for i in range(10)], ids=ids[pos], labels=y[pos], images=x[pos],
        metadata=pd.DataFrame({"id": ids[pos], "index": pos}),
        spec={"name": "digits", "params": {"max_per_class": max_per_class}},
        report={"source": "sklearn.datasets.load_digits", "n_loaded": int(len(pos))},
    )


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits (8x8 images 0-16, targets), read straight from the CSV it ships,
    as ``sklearn.datasets.load_digits`` does, without importing scikit-learn (1-3 s that
    pages showing digits paid on first render); falls back to sklearn if the file moved."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sklearn")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        p = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if p.is_file():
            data = np.loadtxt(p, delimiter=",")
            return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits as _sk_digits

    bunch = _sk_digits()
    return bunch.images, bunch.target


def _keras_dataset(name: str, max_per_class: int | None) -> Dataset:
    max_per_class = check_max_per_class(max_per_class)
    cfg = keras_cache.KERAS_DATASETS[name]
    (x_tr, y_tr), (x_te, y_te), source = keras_cache.load_keras_arrays(name)
    y_tr = np.asarray(y_tr).reshape(-1).astype(np.int64)
    y_te = np.asarray(y_te).reshape(-1).astype(np.int64)
    x = np.concatenate([x_tr, x_te])
    if x.ndim == 3:
        x = x[..., None]
    y = np.concatenate([y_tr, y_te])
    part = np.array(["train"] * len(y_tr) + ["test"] * len(y_te))
    ids = np.array([f"train-{i:05d}" for i in range(len(y_tr))] + [f"test-{i:05d}" for i in range(len(y_te))])
    pos = subsample_positions(y, max_per_class, part)
    return Dataset(
        name=name, class_names=list(cfg.class_names), ids=ids[pos], labels=y[pos],
        images=np.ascontiguousarray(x[pos], dtype=np.uint8),
        metadata=pd.DataFrame({"id": ids[pos], "official_split": part[pos]}),
        official_split=part[pos],
        spec={"name": name, "params": {"max_per_class": max_per_class}},
        report={"source": source, "n_loaded": int(len(pos)), "n_train": int((part[pos] == "train").sum()),
                "n_test": int((part[pos] == "test").sum())},
    )


def _register_keras(name: str) -> None:
    cfg = keras_cache.KERAS_DATASETS[name]

    def loader(*, max_per_class: int | None = None) -> Dataset:
        return _keras_dataset(name, max_per_class)

    loader.__name__ = f"load_{name}"
    loader.__doc__ = f"{cfg.title} through keras.datasets.{name}.load_data() (official test split kept)."
    register_dataset(name, title=cfg.title, description=cfg.description, domain="general",
                     params=dict(COMMON_PARAMS), train_defaults=KERAS_TRAIN_DEFAULTS.get(name),
                     availability=lambda **_: keras_cache.availability(name))(loader)


for _n in keras_cache.KERAS_DATASETS:
    _register_keras(_n)
