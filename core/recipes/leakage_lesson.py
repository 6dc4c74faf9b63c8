"""The leakage lesson: what an image-level split does for a model that memorises.

Split HAM10000 by image and about 37 % of the test images have a sibling photo of the same
lesion in training. Whether that inflates the test score depends on the model recognising the
lesion in the other photo. The lesson measures it for the simplest memorising model, a
1-nearest-neighbour classifier (scikit-learn) on small thumbnails, each standardised to mean 0
and standard deviation 1, which answers with the label of the most similar training image:

- the share of test images whose lesion is in training (image-level split; 0 when grouped);
- how often the nearest training image *is* the same lesion (the leak the model can use);
- its accuracy on the image-level split vs the lesion-grouped split (the lab's
  ``core.datasets.splits.make_split``, same seed and ratios), and, on the same test images,
  with the training photos of their lesions removed (a paired measure of the leak);
- its accuracy on the leaked test images vs the others, and the share of the majority class
  (nevus) in each (lesions photographed several times are less often nevi: harder images);
- the ceiling: a model that recognised every lesion it had seen.

``measure_leakage_lesson(dataset_config)`` loads the dataset and keeps the result in memory
(a few seconds for the 9,959 images of the reduced set: decoding the thumbnails dominates).
"""
from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np

from core.datasets.base import Dataset

THUMBNAIL = (12, 16)  # height, width: HAM10000's 4:3 pictures at 16x12
TEST_RATIO = 0.2      # 80/20: the 1-NN needs no validation part
_CACHE: dict[str, dict[str, Any]] = {}
_LOCK = threading.Lock()


def thumbnails(ds: Dataset, size: tuple[int, int] = THUMBNAIL) -> np.ndarray:
    """Every image of ``ds`` as a flat float vector of ``size`` pixels, standardised per image."""
    from core.datasets.io import load_images

    x = load_images(ds, np.arange(len(ds)), size=size, channels="rgb").astype(np.float32).reshape(len(ds), -1)
    return (x - x.mean(1, keepdims=True)) / (x.std(1, keepdims=True) + 1e-6)


def _positions(ds: Dataset, *, grouped: bool, seed: int, test_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    from core.datasets.splits import make_split

    sp = make_split(ds, val_ratio=0.0, test_ratio=test_ratio, seed=seed, grouped=grouped)
    return np.asarray(ds.index_of(sp.train)), np.asarray(ds.index_of(sp.test))


def _nearest(x: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Position of each test image's nearest training image (1-NN, Euclidean)."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(x[train])
    return train[nn.kneighbors(x[test], return_distance=False)[:, 0]]


def _mean(mask: np.ndarray) -> float | None:
    return float(mask.mean()) if mask.size else None


def _image_level(ds: Dataset, x: np.ndarray, groups: np.ndarray, top: int, seed: int, test_ratio: float) -> dict:
    y = ds.labels
    train, test = _positions(ds, grouped=False, seed=seed, test_ratio=test_ratio)
    leaked = np.isin(groups[test], groups[train])
    match = _nearest(x, train, test)
    right = y[match] == y[test]
    same = groups[match] == groups[test]
    clean = train[~np.isin(groups[train], groups[test])]  # training minus every photo of a test lesion
    right_clean = y[_nearest(x, clean, test)] == y[test]
    lesion_label = dict(zip(groups[train], y[train]))   # a lesion has one diagnosis
    remembered = np.where(leaked, [lesion_label.get(g, -1) for g in groups[test]], y[match])
    return {
        "test_images": int(len(test)), "leaked": int(leaked.sum()), "leaked_share": float(leaked.mean()),
        "same_lesion_nn": int(same[leaked].sum()), "same_lesion_nn_share": _mean(same[leaked]),
        "knn_accuracy": float(right.mean()), "knn_accuracy_leaked": _mean(right[leaked]),
        "knn_accuracy_other": _mean(right[~leaked]), "knn_accuracy_without_test_lesions": float(right_clean.mean()),
        "lesion_memory_accuracy": float((remembered == y[test]).mean()),
        "top_class_share_leaked": _mean(y[test][leaked] == top), "top_class_share_other": _mean(y[test][~leaked] == top),
    }


def leakage_lesson(ds: Dataset, *, seed: int = 0, test_ratio: float = TEST_RATIO,
                   size: tuple[int, int] = THUMBNAIL) -> dict[str, Any]:
    """The lesson's numbers for ``ds`` (a dataset with groups): ``image_split`` and
    ``grouped_split`` of the same seed and test ratio, see the module's docstring."""
    from core.validation import ValidationError

    if ds.groups is None:
        raise ValidationError(f"Dataset {ds.name!r} has no groups (lesion or patient ids): there is nothing to leak.")
    x = thumbnails(ds, size)
    groups = np.asarray(ds.groups).astype(str)
    top = int(np.bincount(ds.labels, minlength=ds.num_classes).argmax())
    train, test = _positions(ds, grouped=True, seed=seed, test_ratio=test_ratio)
    grouped_right = ds.labels[_nearest(x, train, test)] == ds.labels[test]
    return {
        "dataset": ds.name, "images": int(len(ds)), "lesions": int(len(np.unique(groups))), "seed": int(seed),
        "test_ratio": float(test_ratio), "thumbnail": f"{size[1]}x{size[0]}", "top_class": ds.class_names[top],
        "image_split": _image_level(ds, x, groups, top, seed, test_ratio),
        "grouped_split": {"test_images": int(len(test)),
                          "leaked_share": float(np.isin(groups[test], groups[train]).mean()),
                          "knn_accuracy": float(grouped_right.mean())},
    }


def measure_leakage_lesson(dataset_config: dict[str, Any], *, seed: int = 0) -> dict[str, Any]:
    """``leakage_lesson`` of the dataset ``{"name", "params"}`` (a subsample's ``max_per_class``
    dropped: the lesson is about the whole set), kept in memory per dataset and seed."""
    from core.datasets import load_dataset

    params = {k: v for k, v in (dataset_config.get("params") or {}).items() if k != "max_per_class"}
    key = json.dumps([dataset_config["name"], params, seed], sort_keys=True, default=str)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    result = leakage_lesson(load_dataset(dataset_config["name"], **params), seed=seed)
    result["config"] = {"name": dataset_config["name"], "params": params}
    with _LOCK:
        return _CACHE.setdefault(key, result)


def lesson_text(lesson: dict[str, Any]) -> list[str]:
    """The lesson in plain sentences with its numbers (no Markdown)."""
    img, grp = lesson["image_split"], lesson["grouped_split"]
    pct = round(100 * (1 - lesson["test_ratio"]))
    gain = img["knn_accuracy"] - img["knn_accuracy_without_test_lesions"]
    return [
        f"Split by image ({pct}/{100 - pct}, seed {lesson['seed']}, all {lesson['images']:,} images, "
        f"{lesson['lesions']:,} lesions with images present here), {img['leaked_share']:.0%} of the test images "
        f"({img['leaked']:,} of {img['test_images']:,}) have a photo of the same lesion in training; grouped by "
        f"lesion, {grp['leaked_share']:.0%}.",
        f"A memorising model, 1-nearest-neighbour on {lesson['thumbnail']} normalised thumbnails (it answers with "
        f"the label of the most similar training image), scores {img['knn_accuracy']:.3f} on the image-level split "
        f"and {grp['knn_accuracy']:.3f} on the lesion-grouped one. On the same test images with the training photos "
        f"of their lesions removed it scores {img['knn_accuracy_without_test_lesions']:.3f}: the leak is worth "
        f"{gain:+.3f} to it.",
        f"Why so little: the nearest training image is the same lesion for only {img['same_lesion_nn_share']:.0%} of "
        f"the leaked test images; a second photo of a lesion is taken at another zoom, angle or light. And the leaked "
        f"images are harder: accuracy {img['knn_accuracy_leaked']:.3f} on them vs {img['knn_accuracy_other']:.3f} on "
        f"the others, because lesions photographed several times are less often {lesion_word(lesson)}, the "
        f"large easy class ({img['top_class_share_leaked']:.0%} of the leaked images vs "
        f"{img['top_class_share_other']:.0%} of the others).",
        f"A model that recognised every lesion it had seen would score {img['lesion_memory_accuracy']:.3f} on the "
        "image-level split: the ceiling of the leak. A weak CNN (a few epochs on a subsample, the quick budget) has "
        "learnt colours and textures of classes, not individual lesions, so its two scores differ by noise; the "
        "better a model memorises its training lesions (long training, large networks), the closer the image-level "
        "score moves to that ceiling and the more it overstates how the model does on new lesions.",
    ]


def lesion_word(lesson: dict[str, Any]) -> str:
    """The majority class in words: 'nevi' for HAM10000's melanocytic nevi."""
    top = lesson["top_class"]
    return "nevi" if top.lower().startswith("melanocytic nev") else repr(top)
