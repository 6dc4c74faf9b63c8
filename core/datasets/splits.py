"""Stratified (and grouped) train/val/test splits stored as sample ids.

* Stratified per class: every class keeps its proportion in every part (rounded per class,
  at least one sample per requested part).
* Grouped: when the dataset has ``groups`` (HAM10000 ``lesion_id``, fundus patient) no group
  spans two parts. Groups are placed greedily, largest first (ties in seeded random order),
  into the part whose per-class quota is least filled, which keeps class proportions within
  a few percent on HAM10000.
* Official splits: a dataset with ``official_split`` keeps its official test part as test
  (``test_ratio`` is then not used) and its official val part as val when it has one;
  otherwise val is carved from the official train part with ``val_ratio`` *of that part*.
  Without an official split, ``val_ratio`` and ``test_ratio`` are fractions of the whole.

A ``Split`` stores the ids of each part, so ``apply_split`` reproduces it exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.datasets.base import Dataset
from core.validation import DatasetError, ValidationError, check_number, check_one_of

PARTS = ("train", "val", "test")
_SPLIT_KEYS = ("train", "val", "test", "seed", "val_ratio", "test_ratio", "grouped_by", "strategy")


@dataclass
class Split:
    train: list[str]
    val: list[str]
    test: list[str]
    seed: int = 0
    val_ratio: float = 0.1
    test_ratio: float = 0.2
    grouped_by: str | None = None
    strategy: str = "stratified"
    dataset: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.train, self.val, self.test = ([str(i) for i in p] for p in (self.train, self.val, self.test))
        seen: set[str] = set()
        for name in PARTS:
            ids = getattr(self, name)
            s = set(ids)
            if len(s) != len(ids):
                raise DatasetError(f"The split's {name} part lists some sample ids twice.")
            both = seen & s
            if both:
                raise DatasetError(f"{len(both)} sample id(s) appear in two parts of the split "
                                   f"(first: {', '.join(sorted(both)[:5])}).")
            seen |= s

    @property
    def sizes(self) -> dict[str, int]:
        return {p: len(getattr(self, p)) for p in PARTS}

    def to_dict(self) -> dict[str, Any]:
        return {"train": list(self.train), "val": list(self.val), "test": list(self.test), "seed": int(self.seed),
                "val_ratio": float(self.val_ratio), "test_ratio": float(self.test_ratio),
                "grouped_by": self.grouped_by, "strategy": self.strategy, "dataset": self.dataset,
                "extra": dict(self.extra)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Split:
        if not isinstance(d, dict):
            raise ValidationError(f"A split must be a dict with keys {', '.join(_SPLIT_KEYS)}. Got {type(d).__name__}.")
        missing = [k for k in ("train", "val", "test") if k not in d]
        if missing:
            raise ValidationError(f"The split lacks key(s) {', '.join(missing)}; found {', '.join(map(str, d))}.")
        known = set(_SPLIT_KEYS) | {"dataset", "extra"}
        return cls(**{k: v for k, v in d.items() if k in known})


def _check_ratios(val_ratio, test_ratio) -> tuple[float, float]:
    v = float(check_number("val_ratio", val_ratio, low=0.0, high=1.0, high_inclusive=False))
    t = float(check_number("test_ratio", test_ratio, low=0.0, high=1.0, high_inclusive=False))
    if v + t >= 1.0:
        raise ValidationError(f"val_ratio + test_ratio must be below 1 (training needs samples). Got {v} + {t} = {v + t}.")
    return v, t


def _class_label(ds: Dataset, c: int) -> str:
    code = ds.class_codes[c] if ds.class_codes else None
    name = ds.class_names[c] if c < len(ds.class_names) else str(c)
    return f"{name!r} ({code})" if code and code != name else repr(name)


def _too_small(ds: Dataset, c: int, n: int, parts: list[str], n_groups: int | None = None) -> DatasetError:
    g = f" in {n_groups} {ds.group_name or 'group'}(s)" if n_groups is not None else ""
    unit = f"{ds.group_name or 'group'}s" if n_groups is not None else "samples"
    return DatasetError(
        f"Class {_class_label(ds, c)} has only {n} sample(s){g}: too few to split into {'/'.join(parts)} "
        f"(each part needs at least one of its {unit}). Lower val_ratio/test_ratio (0 removes a part), "
        f"raise max_per_class, or add images of this class."
    )


def _assign_stratified(ds: Dataset, pos: np.ndarray, fracs: dict[str, float], rng) -> dict[str, np.ndarray]:
    labels = ds.labels[pos]
    active = [p for p in PARTS if fracs.get(p, 0) > 0]
    out: dict[str, list[int]] = {p: [] for p in PARTS}
    for c in np.unique(labels):
        idx = pos[labels == c]
        idx = idx[rng.permutation(len(idx))]
        n = len(idx)
        if n < len(active):
            raise _too_small(ds, int(c), n, active)
        k = {p: max(1, int(round(n * fracs[p]))) for p in active if p != "train"}
        while n - sum(k.values()) < 1:  # keep one for training: shrink the largest non-train part
            big = max(k, key=lambda p: k[p])
            k[big] -= 1
        start = 0
        for p in ("test", "val"):
            if p in k:
                out[p].extend(idx[start:start + k[p]])
                start += k[p]
        out["train"].extend(idx[start:])
    return {p: np.sort(np.asarray(v, dtype=np.int64)) for p, v in out.items()}


def _assign_grouped(ds: Dataset, pos: np.ndarray, fracs: dict[str, float], rng) -> dict[str, np.ndarray]:
    labels = ds.labels[pos]
    groups = pd.Series(np.asarray(ds.groups)[pos]).astype(str).to_numpy()
    active = [p for p in PARTS if fracs.get(p, 0) > 0]
    gkeys, ginv = np.unique(groups, return_inverse=True)
    k = ds.num_classes
    counts = np.zeros((len(gkeys), k), dtype=np.int64)
    np.add.at(counts, (ginv, labels), 1)
    total = counts.sum(0)
    for c in range(k):
        if total[c] == 0:
            continue
        ng = int((counts[:, c] > 0).sum())
        if ng < len(active):
            raise _too_small(ds, c, int(total[c]), active, ng)
    target = np.array([[fracs[p] * total[c] for c in range(k)] for p in active])
    current = np.zeros_like(target)
    sizes = counts.sum(1)
    order = rng.permutation(len(gkeys))
    order = order[np.argsort(-sizes[order], kind="stable")]
    pref = np.argsort([-fracs[p] for p in active], kind="stable")  # tie-break: largest part first
    place = np.empty(len(gkeys), dtype=np.int64)
    safe_target = np.maximum(target, 1e-9)
    for g in order:
        vec = counts[g]
        score = ((target - current) / safe_target * vec).sum(1) / max(vec.sum(), 1)
        best = pref[np.argmax(score[pref])]
        place[g] = best
        current[best] += vec
    out = {p: np.array([], dtype=np.int64) for p in PARTS}
    for i, p in enumerate(active):
        out[p] = np.sort(pos[place[ginv] == i])
    for p in active:
        have = np.bincount(ds.labels[out[p]], minlength=k)
        for c in range(k):
            if total[c] > 0 and have[c] == 0:
                raise _too_small(ds, c, int(total[c]), active, int((counts[:, c] > 0).sum()))
    return out


def make_split(ds: Dataset, *, val_ratio: float = 0.1, test_ratio: float = 0.2, seed: int = 0,
               grouped: bool | str = "auto") -> Split:
    """Stratified train/val/test split of ``ds`` (grouped by ``ds.groups`` when present)."""
    v, t = _check_ratios(val_ratio, test_ratio)
    seed = check_number("seed", seed, low=0, integer=True)
    if grouped is None:
        grouped = "auto"
    check_one_of("grouped", grouped, ["auto", True, False])
    if grouped is True and ds.groups is None:
        raise ValidationError(f"grouped=True, but dataset {ds.name!r} has no groups (no lesion/patient ids). "
                              "Use grouped='auto' or False.")
    use_groups = ds.groups is not None and grouped in ("auto", True)
    if len(ds) == 0:
        raise DatasetError(f"Dataset {ds.name!r} is empty; nothing to split.")
    rng = np.random.default_rng(seed)
    assign = _assign_grouped if use_groups else _assign_stratified
    kind = "stratified_grouped" if use_groups else "stratified"
    all_pos = np.arange(len(ds))
    if ds.official_split is not None:
        off = np.asarray(ds.official_split).astype(str)
        test = all_pos[off == "test"]
        if (off == "val").any():
            parts = {"train": all_pos[off == "train"], "val": all_pos[off == "val"], "test": test}
            strategy = "official"
        else:
            train_pos = all_pos[off == "train"]
            carved = assign(ds, train_pos, {"train": 1.0 - v, "val": v, "test": 0.0}, rng)
            parts = {"train": carved["train"], "val": carved["val"], "test": test}
            strategy = f"official_test+{kind}"
    else:
        parts = assign(ds, all_pos, {"train": 1.0 - v - t, "val": v, "test": t}, rng)
        strategy = kind
    return Split(
        train=list(ds.ids[parts["train"]]), val=list(ds.ids[parts["val"]]), test=list(ds.ids[parts["test"]]),
        seed=seed, val_ratio=v, test_ratio=t, grouped_by=ds.group_name if use_groups else None,
        strategy=strategy, dataset=ds.name,
    )


def apply_split(ds: Dataset, split: Split | dict) -> tuple[Dataset, Dataset, Dataset]:
    """``(train, val, test)`` datasets with exactly the split's ids, in the split's order."""
    if isinstance(split, dict):
        split = Split.from_dict(split)
    return ds.subset(split.train), ds.subset(split.val), ds.subset(split.test)
