"""Stratified / grouped / official splits on real data."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.datasets import Split, apply_split, load_dataset, make_split
from core.validation import DatasetError, ValidationError


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _no_group_in_two_parts(ds, split):
    g = dict(zip(ds.ids, ds.groups))
    sets = [{g[i] for i in getattr(split, p)} for p in ("train", "val", "test")]
    return not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])


def _class_percentages(ds, ids) -> np.ndarray:
    """Each class's share (percent) of the images ``ids`` of ``ds``."""
    counts = np.bincount(ds.labels[ds.index_of(ids)], minlength=ds.num_classes)
    return 100.0 * counts / max(counts.sum(), 1)


def test_stratified_digits_ratios_and_reproducible(digits):
    s = make_split(digits, val_ratio=0.1, test_ratio=0.2, seed=3)
    assert s.strategy == "stratified" and s.grouped_by is None
    assert sum(s.sizes.values()) == len(digits)
    assert abs(s.sizes["test"] - 0.2 * len(digits)) <= 10 and abs(s.sizes["val"] - 0.1 * len(digits)) <= 10
    overall = 100 * np.bincount(digits.labels) / len(digits)
    for p in ("train", "val", "test"):
        assert np.abs(_class_percentages(digits, getattr(s, p)) - overall).max() < 1.5
    assert make_split(digits, seed=3).to_dict() == s.to_dict()
    assert make_split(digits, seed=4).test != s.test
    # round trip through JSON reproduces the exact parts
    s2 = Split.from_dict(json.loads(json.dumps(s.to_dict())))
    tr, va, te = apply_split(digits, s2)
    assert list(tr.ids) == s.train and list(va.ids) == s.val and list(te.ids) == s.test
    np.testing.assert_array_equal(te.images, digits.images[digits.index_of(s.test)])
    assert not (set(s.train) & set(s.test))


def test_no_val_part(digits):
    s = make_split(digits, val_ratio=0.0, test_ratio=0.25)
    assert s.val == [] and s.sizes["train"] + s.sizes["test"] == len(digits)
    _, va, _ = apply_split(digits, s)
    assert len(va) == 0


def test_ham10000_grouped_by_lesion(ham):
    s = make_split(ham, val_ratio=0.1, test_ratio=0.2, seed=0)
    assert s.grouped_by == "lesion_id" and s.strategy == "stratified_grouped"
    assert sum(s.sizes.values()) == len(ham)
    assert _no_group_in_two_parts(ham, s)
    overall = 100 * np.bincount(ham.labels) / len(ham)
    for p in ("train", "val", "test"):
        assert np.abs(_class_percentages(ham, getattr(s, p)) - overall).max() < 2.0, p
    assert abs(s.sizes["test"] / len(ham) - 0.2) < 0.02 and abs(s.sizes["val"] / len(ham) - 0.1) < 0.02
    # ungrouped on request
    s_img = make_split(ham, grouped=False, seed=0)
    assert s_img.grouped_by is None and not _no_group_in_two_parts(ham, s_img)


def test_fundus_grouped_by_patient(shared_datasets):
    ds = load_dataset("fundus", path=shared_datasets / "fundus")
    s = make_split(ds, val_ratio=0.15, test_ratio=0.2, seed=1)
    assert s.grouped_by == "patient_id" and _no_group_in_two_parts(ds, s)
    tr, va, te = apply_split(ds, s)
    for part in (tr, va, te):
        assert set(np.unique(part.labels)) == {0, 1, 2, 3, 4}  # every grade in every part
    assert {i.split("_")[0] for i in s.test}.isdisjoint({i.split("_")[0] for i in s.train})


def test_official_splits_kept(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {}
    for part, m in zip(("train", "val", "test"), (40, 10, 15)):
        arrays[f"{part}_images"] = rng.integers(0, 256, (m, 8, 8), dtype=np.uint8)
        arrays[f"{part}_labels"] = (np.arange(m) % 2).reshape(-1, 1).astype(np.uint8)
    np.savez(tmp_path / "pneumoniamnist.npz", **arrays)
    ds = load_dataset("medmnist", path=tmp_path / "pneumoniamnist.npz")
    s = make_split(ds)
    assert s.strategy == "official" and s.sizes == {"train": 40, "val": 10, "test": 15}
    assert all(i.startswith("val-") for i in s.val) and all(i.startswith("test-") for i in s.test)


def test_class_too_small(digits):
    tiny = digits.subset(np.r_[np.flatnonzero(digits.labels == 0)[:2], np.flatnonzero(digits.labels == 1)[:30]],
                         by="position")
    with pytest.raises(DatasetError) as e:
        make_split(tiny, val_ratio=0.1, test_ratio=0.2)
    assert "Class '0' has only 2 sample(s)" in str(e.value) and "train/val/test" in str(e.value)
    s = make_split(tiny, val_ratio=0.0, test_ratio=0.2)  # two parts are possible
    assert s.sizes["val"] == 0 and len(set(tiny.labels[tiny.index_of(s.test)])) == 2


def test_grouped_class_too_small(ham):
    df_pos = np.flatnonzero(ham.labels == ham.class_codes.index("df"))
    lesions = np.unique(ham.groups[df_pos])[:2]
    keep = np.r_[np.flatnonzero(np.isin(ham.groups, lesions)), np.flatnonzero(ham.labels == 0)[:60]]
    small = ham.subset(keep, by="position")
    with pytest.raises(DatasetError) as e:
        make_split(small)
    msg = str(e.value)
    assert "'Dermatofibroma' (df)" in msg and "in 2 lesion_id(s)" in msg


def test_bad_parameters_and_foreign_split(digits, ham):
    with pytest.raises(ValidationError, match="val_ratio \\+ test_ratio must be below 1"):
        make_split(digits, val_ratio=0.5, test_ratio=0.5)
    with pytest.raises(ValidationError, match="'test_ratio' parameter must be a number in the range"):
        make_split(digits, test_ratio=1.5)
    with pytest.raises(ValidationError, match="grouped"):
        make_split(digits, grouped="lesion")
    with pytest.raises(ValidationError, match="has no groups"):
        make_split(digits, grouped=True)
    with pytest.raises(DatasetError, match="not in dataset 'digits'"):
        apply_split(digits, make_split(ham.subset(np.arange(0, len(ham), 4), by="position")))
    with pytest.raises(DatasetError, match="appear in two parts"):
        Split(train=["a", "b"], val=[], test=["b"])
    with pytest.raises(ValidationError, match="lacks key"):
        Split.from_dict({"train": []})
