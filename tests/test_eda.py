"""EDA statistics against counts computed independently from the source files."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from core.datasets import Dataset, eda, load_dataset


@pytest.fixture(scope="module")
def ham_truth(shared_datasets):
    """The reduced folder's own labels.csv joined with the metadata CSV (independent of the loader)."""
    labels = pd.read_csv(shared_datasets / "ham10000" / "reduced_200x150" / "labels.csv")
    meta = pd.read_csv(shared_datasets / "ham10000" / "HAM10000_metadata.csv")
    return meta[meta["image_id"].isin(labels["image_id"])]


def test_class_distribution_and_imbalance(ham, ham_truth):
    cd = eda.class_distribution(ham)
    assert list(cd.columns) == ["label", "code", "class", "count", "percent"]
    got = dict(zip(cd["code"], cd["count"]))
    assert got == {"nv": 6697, "mel": 1105, "bkl": 1083, "bcc": 509, "akiec": 321, "vasc": 136, "df": 108}
    assert got == ham_truth["dx"].value_counts().to_dict()
    assert math.isclose(cd["percent"].sum(), 100.0)
    assert math.isclose(float(cd.loc[cd["code"] == "nv", "percent"].iloc[0]), 100 * 6697 / 9959)
    assert math.isclose(eda.imbalance_ratio(ham), 6697 / 108)


def test_group_sizes(ham, ham_truth):
    gs = eda.group_sizes(ham)
    per_lesion = ham_truth.groupby("lesion_id").size()
    expected = per_lesion.value_counts().sort_index()
    assert gs["images_per_group"].tolist() == expected.index.tolist()
    assert gs["groups"].tolist() == expected.tolist()
    assert gs["images"].sum() == 9959 and gs.attrs["n_groups"] == ham_truth["lesion_id"].nunique()
    assert gs.attrs["mixed_class_groups"] == int((ham_truth.groupby("lesion_id")["dx"].nunique() > 1).sum())
    assert eda.group_sizes(load_dataset("digits")).empty


def test_missing_values_of_ham10000(ham, ham_truth):
    mv = eda.missing_values(ham).set_index("column")
    assert mv.loc["age", "missing"] == ham_truth["age"].isna().sum() == 57
    assert mv.loc["sex", "unknown"] == (ham_truth["sex"] == "unknown").sum()
    assert mv.loc["localization", "unknown"] == (ham_truth["localization"] == "unknown").sum()
    assert mv.loc["lesion_id", "missing"] == 0


def test_missing_values_counts_imputed_ages(shared_datasets):
    ds = load_dataset("ham10000", path=shared_datasets / "ham10000" / "reduced_200x150",
                      metadata_csv=shared_datasets / "ham10000" / "HAM10000_metadata.csv", impute_age="mean")
    assert eda.missing_values(ds).set_index("column").loc["age", "missing"] == 57


def test_image_stats_on_disk(ham, shared_datasets):
    fundus = load_dataset("fundus", path=shared_datasets / "fundus")
    fs = eda.image_stats(fundus, sample=None)
    assert set(fs["width"]) == {512} and len(fs) == 105 and set(fs["height"]) <= set(range(338, 385))
    st = eda.image_stats(ham, sample=40, seed=1)
    assert len(st) == 40 and st["readable"].all()
    assert (st["width"] == 200).all() and st["brightness"].between(0, 255).all()
    # brightness from the statistic equals a direct decode of one image
    from PIL import Image
    i = int(ham.index_of([st["id"].iloc[0]])[0])
    grey = np.asarray(Image.open(ham.paths[i]).convert("RGB"), dtype=np.float64) @ [0.299, 0.587, 0.114]
    assert abs(st["brightness"].iloc[0] - grey.mean()) < 0.5


def _synthetic():
    n = 4
    imgs = np.zeros((n, 10, 10, 3), np.uint8)
    imgs[0] = 10                      # dark everywhere -> under-exposed
    imgs[1] = 250                     # white -> over-exposed
    imgs[2] = 128                     # fine
    imgs[3, :9] = 5                   # 90% dark, 10% mid -> under-exposed (exactly at the 90% threshold)
    imgs[3, 9:] = 128
    return Dataset(name="synthetic", class_names=["a", "b"], ids=["dark", "white", "mid", "mostly_dark"],
                   labels=[0, 1, 0, 1], images=imgs)


def test_exposure_screening_and_histogram():
    ds = _synthetic()
    res = eda.exposure_screening(ds)
    assert res["n_screened"] == 4
    assert res["under_exposed"]["id"].tolist() == ["dark", "mostly_dark"]
    assert res["under_exposed"]["dark_fraction"].tolist() == [1.0, 0.9]
    assert res["over_exposed"]["id"].tolist() == ["white"] and res["over_exposed"]["bright_fraction"].tolist() == [1.0]
    assert res["table"].set_index("id").loc["mid", "flag"] == "ok"
    assert res["thresholds"]["dark_level"] == 30
    h = eda.brightness_histogram(ds, bins=16)
    a = h[h["class"] == "a"]
    assert math.isclose(a["fraction"].sum(), 1.0)
    # class a: one image all 10 (bin 0..16) and one all 128 (bin 128..144): half each
    assert a.loc[a["bin_left"] == 0.0, "fraction"].iloc[0] == 0.5
    assert a.loc[a["bin_left"] == 128.0, "fraction"].iloc[0] == 0.5
    overall = eda.brightness_histogram(ds, bins=8, by_class=False)
    assert set(overall["class"]) == {"all"} and math.isclose(overall["fraction"].sum(), 1.0)
    st = eda.image_stats(ds)
    mid = st.set_index("id").loc["mid", ["brightness", "r_mean", "g_mean", "b_mean"]]
    assert mid.tolist() == pytest.approx([128] * 4, abs=0.01)
    assert st[["width", "height", "channels"]].drop_duplicates().values.tolist() == [[10, 10, 3]] and len(st) == 4


def test_class_distribution_by_official_part():
    d = load_dataset("digits", max_per_class=5)
    assert eda.class_distribution(d)["count"].tolist() == [5] * 10
    assert math.isclose(eda.imbalance_ratio(d), 1.0)
    # fundus-like ordinal grades with an empty class: inf imbalance
    ds = Dataset(name="x", class_names=["a", "b"], ids=["1", "2"], labels=[0, 0], images=np.zeros((2, 2, 2, 1), np.uint8))
    assert eda.imbalance_ratio(ds) == float("inf")
