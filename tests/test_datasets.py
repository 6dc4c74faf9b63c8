"""Dataset loaders on real data (../shared/datasets) and on bad input built in tmp folders."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core.datasets import (
    Dataset,
    DatasetInfo,
    dataset_availability,
    import_keras_dataset,
    keras_cache,
    list_datasets,
    load_dataset,
)
from core.datasets.io import load_images
from core.validation import DatasetError, NotFoundError, ValidationError

PROJECT = Path(__file__).resolve().parent.parent
HAM_COUNTS_REDUCED = {"nv": 6697, "mel": 1105, "bkl": 1083, "bcc": 509, "akiec": 321, "vasc": 136, "df": 108}


# ------------------------------------------------------------------------------ registry

def test_list_datasets_and_unknown_name():
    infos = {i.name: i for i in list_datasets()}
    assert {"digits", "mnist", "fashion_mnist", "cifar10", "ham10000", "fundus", "image_folder", "medmnist"} <= set(infos)
    assert all(isinstance(i, DatasetInfo) for i in infos.values())
    assert infos["digits"].availability == "builtin"
    assert infos["ham10000"].domain == "lesion" and infos["fundus"].domain == "fundus"
    assert infos["image_folder"].availability == "needs_folder" and "subfolder per class" in infos["image_folder"].how_to
    assert "max_per_class" in infos["digits"].params
    json.dumps([i.to_dict() for i in infos.values()])
    with pytest.raises(NotFoundError) as e:
        load_dataset("fashion_mnst")
    assert "fashion_mnist" in str(e.value) and "Did you mean" in str(e.value)
    with pytest.raises(ValidationError, match="does not accept parameter.*'pth'"):
        load_dataset("digits", pth="x")


@pytest.mark.parametrize("name", [i.name for i in list_datasets()])
def test_every_dataset_is_described_for_the_ui(name):
    """Every registered dataset (scikit-learn's all_estimators pattern: a new one is checked
    without editing this file) has its texts, Train page defaults and folder-widget hints."""
    import inspect

    from core.config import get_settings
    from core.datasets import AVAILABILITY, DATASETS
    from core.models import list_models

    info = next(i for i in list_datasets() if i.name == name)
    assert info.title and info.description and info.how_to
    assert info.availability in AVAILABILITY and info.domain in ("general", "lesion", "fundus")
    accepted = set(inspect.signature(DATASETS.get(info.name).fn).parameters)
    assert set(info.params) <= accepted, "params describes a parameter the loader does not accept"
    td = info.train_defaults
    assert list(td) == ["model", "epochs", "batch_size", "image_size", "class_weight"]
    assert td["model"] in list_models(), f"default model {td['model']!r} is not registered"
    assert isinstance(td["epochs"], int) and td["epochs"] >= 1
    assert isinstance(td["batch_size"], int) and td["batch_size"] >= 1
    assert td["image_size"] is None or (len(td["image_size"]) == 2 and all(v >= 1 for v in td["image_size"]))
    assert td["class_weight"] in ("none", "balanced")
    assert info.path_placeholder
    assert info.settings_key is None or hasattr(get_settings(), info.settings_key)
    assert set(info.extra_path_params) <= set(info.params) and all(info.extra_path_params.values())
    d = json.loads(json.dumps(info.to_dict()))
    assert d["train_defaults"] == td and d["extra_path_params"] == info.extra_path_params
    assert (d["path_placeholder"], d["settings_key"]) == (info.path_placeholder, info.settings_key)


def test_train_page_defaults_and_folder_hints():
    infos = {i.name: i for i in list_datasets()}
    keys = ("model", "epochs", "batch_size", "image_size", "class_weight")
    expected = {
        "digits": ("small_cnn", 5, 32, None, "none"),
        "mnist": ("small_cnn", 3, 64, None, "none"),
        "fashion_mnist": ("report_b_cnn5", 20, 32, None, "none"),
        "cifar10": ("report_e_model3", 15, 64, None, "none"),
        "ham10000": ("report_a_tuned_cnn", 10, 16, [120, 150], "balanced"),
        "fundus": ("densenet121", 10, 16, [224, 224], "balanced"),
        "image_folder": ("small_cnn", 10, 32, [64, 64], "none"),
        "medmnist": ("small_cnn", 10, 64, None, "none"),
    }
    assert {n: tuple(infos[n].train_defaults[k] for k in keys) for n in expected} == expected
    assert infos["ham10000"].path_placeholder == "/data/HAM10000" and infos["fundus"].path_placeholder == "/path/to/data"
    assert {n: i.settings_key for n, i in infos.items() if i.settings_key} == {
        "ham10000": "ham10000_dir", "fundus": "fundus_dir"}
    assert {n: i.extra_path_params for n, i in infos.items() if i.extra_path_params} == {
        "fundus": {"labels_csv": "Labels CSV (optional: found automatically)"}}


def test_register_dataset_checks_train_defaults():
    from core.datasets import DATASETS, register_dataset
    from core.datasets.base import DEFAULT_TRAIN_DEFAULTS

    assert DEFAULT_TRAIN_DEFAULTS == {"model": "small_cnn", "epochs": 10, "batch_size": 32, "image_size": None,
                                      "class_weight": "none"}
    with pytest.raises(ValueError, match="unknown train_defaults key.*epoch; accepted: model, epochs"):
        register_dataset("never_registered", title="t", description="d", train_defaults={"epoch": 3})
    assert "never_registered" not in DATASETS


def test_digits():
    ds = load_dataset("digits")
    assert isinstance(ds, Dataset) and len(ds) == 1797
    assert ds.images.shape == (1797, 8, 8, 1) and ds.images.dtype == np.uint8
    assert ds.images.max() == 255 and ds.images.min() == 0
    from sklearn.datasets import load_digits
    raw = load_digits().images
    np.testing.assert_array_equal(ds.images[..., 0], np.rint(raw * 255 / 16).astype(np.uint8))
    assert ds.class_names == [str(i) for i in range(10)] and len(set(ds.ids)) == 1797
    small = load_dataset("digits", max_per_class=7)
    assert np.bincount(small.labels).tolist() == [7] * 10
    again = load_dataset("digits", max_per_class=7)
    assert list(small.ids) == list(again.ids)  # deterministic
    assert small.spec == {"name": "digits", "params": {"max_per_class": 7}}
    with pytest.raises(ValidationError, match="max_per_class"):
        load_dataset("digits", max_per_class=0)


# ------------------------------------------------------------------------------ Keras built-ins

def test_keras_dataset_missing_gives_clear_error(tmp_path, monkeypatch):
    empty_home = tmp_path / "keras_home"
    # availability in a fresh process (Keras reads KERAS_HOME once, at import)
    code = ("from core.datasets import dataset_availability, load_dataset\n"
            "print(dataset_availability('fashion_mnist')[0])\n"
            "try:\n    load_dataset('cifar10')\nexcept Exception as e:\n    print(type(e).__name__, e)\n")
    env = {**os.environ, "KERAS_HOME": str(empty_home)}
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120)
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "needs_download", out.stderr
    msg = lines[1]
    assert msg.startswith("DatasetError") and "data_batch_1" in msg and "test_batch" in msg
    assert str(empty_home / "datasets") in msg and "python -m core import-dataset cifar10" in msg


@pytest.fixture()
def keras_tmp_home(tmp_path, monkeypatch):
    """Point Keras' dataset cache at an empty tmp folder, as KERAS_HOME does at Keras import."""
    import keras  # noqa: F401
    from keras.src.backend import config as kconfig

    home = tmp_path / "keras_home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setattr(kconfig, "_KERAS_DIR", str(home))
    return home


def test_fashion_mnist_through_real_keras_loader(shared_datasets, keras_tmp_home):
    from core.datasets import make_split

    home = keras_tmp_home
    assert dataset_availability("fashion_mnist")[0] == "needs_download"
    dest = import_keras_dataset("fashion_mnist", shared_datasets / "fashion_mnist")
    assert dest == home / "datasets" / "fashion-mnist"
    assert sorted(p.name for p in dest.iterdir()) == sorted(keras_cache.FASHION_FILES)
    assert dataset_availability("fashion_mnist")[0] == "cached"
    ds = load_dataset("fashion_mnist")
    assert ds.images.shape == (70000, 28, 28, 1) and ds.images.dtype == np.uint8
    assert ds.report["source"] == "keras.datasets.fashion_mnist.load_data()"
    assert [ds.ids[0], ds.ids[59999], ds.ids[60000]] == ["train-00000", "train-59999", "test-00000"]
    assert {p: int((ds.official_split == p).sum()) for p in ("train", "test")} == {"train": 60000, "test": 10000}
    assert np.bincount(ds.labels[:60000]).tolist() == [6000] * 10
    assert int(ds.labels[0]) == 9  # the first Fashion-MNIST training image is an ankle boot
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    small = load_dataset("fashion_mnist", max_per_class=30)
    assert len(small) == 600
    s = make_split(small, val_ratio=0.2)
    assert s.sizes == {"train": 240, "val": 60, "test": 300} and s.strategy == "official_test+stratified"
    assert all(i.startswith("test-") for i in s.test)


def test_cifar10_from_npz_through_keras_batches(shared_datasets, keras_tmp_home):
    from keras.src.datasets.cifar import load_batch

    home = keras_tmp_home
    npz = shared_datasets / "cifar10" / "cifar10_subset.npz"
    folder = import_keras_dataset("cifar10", npz)
    assert folder == home / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    assert sorted(p.name for p in folder.iterdir()) == sorted(keras_cache.CIFAR10_BATCHES)
    # the original batches.meta was copied next to the batches
    assert (folder / "batches.meta").read_bytes() == (shared_datasets / "cifar10" / "batches.meta").read_bytes()
    # each batch is in the original format, parsed by Keras' own (restricted) batch reader
    x1, y1 = load_batch(str(folder / "data_batch_1"))
    assert x1.shape == (2000, 3, 32, 32) and x1.dtype == np.uint8 and len(y1) == 2000
    ds = load_dataset("cifar10")
    assert ds.images.shape == (20000, 32, 32, 3) and "load_batch" in ds.report["source"]
    tr = ds.official_split == "train"
    with np.load(npz) as z:
        np.testing.assert_array_equal(ds.images[tr], z["x_train"])
        np.testing.assert_array_equal(ds.images[~tr], z["x_test"])
        np.testing.assert_array_equal(ds.labels[tr], z["y_train"])
        np.testing.assert_array_equal(ds.labels[~tr], z["y_test"])
    assert ds.class_names[0] == "airplane" and ds.class_names[9] == "truck"
    assert [ds.ids[0], ds.ids[-1]] == ["train-00000", "test-09999"]


def test_keras_cache_cli_and_bad_sources(shared_datasets, tmp_path):
    home = tmp_path / "kh"
    rc = keras_cache.main(["fashion_mnist", str(shared_datasets / "fashion_mnist"), "--keras-home", str(home)])
    assert rc == 0 and keras_cache.is_cached("fashion_mnist", home)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="lacks the IDX file"):
        import_keras_dataset("fashion_mnist", tmp_path / "empty", keras_home_dir=home)
    np.savez(tmp_path / "bad.npz", x_train=np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(DatasetError, match="lacks array.*y_train"):
        import_keras_dataset("cifar10", tmp_path / "bad.npz", keras_home_dir=home)
    assert keras_cache.main(["cifar10", str(tmp_path / "nope.npz"), "--keras-home", str(home)]) == 2
    with pytest.raises(NotFoundError, match="Did you mean 'cifar10'"):
        import_keras_dataset("cifar1O", tmp_path, keras_home_dir=home)
    # mnist from IDX files (here the Fashion files stand in: same format) -> mnist.npz read without network
    dest = import_keras_dataset("mnist", shared_datasets / "fashion_mnist", keras_home_dir=home)
    with np.load(dest) as f:
        assert f["x_train"].shape == (60000, 28, 28) and f["y_test"].shape == (10000,)


# ------------------------------------------------------------------------------ HAM10000

def test_ham10000_reduced(ham):
    assert len(ham) == 9959
    counts = dict(zip(ham.class_codes, np.bincount(ham.labels, minlength=7).tolist()))
    assert counts == HAM_COUNTS_REDUCED
    assert ham.class_codes == ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
    assert ham.class_names[ham.class_codes.index("mel")] == "Melanoma"
    assert ham.class_names[ham.class_codes.index("nv")] == "Melanocytic nevi"
    assert ham.domain == "lesion" and ham.group_name == "lesion_id" and ham.paths is not None
    assert ham.report["missing_images"] == 56 and ham.report["unreadable"] == []
    assert ham.report["missing_age"] == 57
    assert list(ham.metadata.columns[:8]) == ["id", "lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"]
    row = ham.metadata[ham.metadata["id"] == "ISIC_0027419"].iloc[0]
    assert row["lesion_id"] == "HAM_0000118" and row["dx"] == "bkl" and row["age"] == 80.0 and row["sex"] == "male"
    i = int(ham.index_of(["ISIC_0027419"])[0])
    assert ham.groups[i] == "HAM_0000118" and Path(ham.paths[i]).parent.name == "bkl"
    imgs = load_images(ham, [0, 1, 2])
    assert imgs.shape == (3, 150, 200, 3) and imgs.dtype == np.uint8


def test_ham10000_impute_and_subsample(shared_datasets):
    root = shared_datasets / "ham10000"
    ds = load_dataset("ham10000", path=root / "reduced_200x150", metadata_csv=root / "HAM10000_metadata.csv",
                      impute_age="median", max_per_class=20)
    assert np.bincount(ds.labels).tolist() == [20] * 7
    assert not ds.metadata["age"].isna().any()
    imp = ds.report["age_imputation"]
    assert imp["method"] == "median" and imp["n"] == 57
    full_age = pd.to_numeric(pd.read_csv(root / "HAM10000_metadata.csv")["age"])
    # the median is computed over the loaded images (9,959): close to the CSV's
    assert abs(imp["value"] - full_age.median()) <= 5


def test_ham10000_original_images_flat_and_kaggle_layout(shared_datasets, tmp_path):
    # the 42 original 600x450 JPEGs, class-per-folder, with the full CSV: most rows missing -> error
    root = shared_datasets / "ham10000"
    with pytest.raises(DatasetError, match="max_missing_fraction"):
        load_dataset("ham10000", path=root / "images", metadata_csv=root / "HAM10000_metadata.csv")
    ds = load_dataset("ham10000", path=root / "images", metadata_csv=root / "HAM10000_metadata.csv",
                      max_missing_fraction=1.0)
    assert len(ds) == 42 and np.bincount(ds.labels).tolist() == [6] * 7
    assert load_images(ds, [0]).shape == (1, 450, 600, 3)
    # Kaggle layout: two part folders + CSV inside the folder, found automatically
    kag = tmp_path / "ham"
    meta = pd.read_csv(root / "HAM10000_metadata.csv")
    files = sorted((root / "images").glob("*/*.jpg"))
    for k, f in enumerate(files):
        part = kag / f"HAM10000_images_part_{1 + k % 2}"
        part.mkdir(parents=True, exist_ok=True)
        os.symlink(f, part / f.name)
    meta[meta["image_id"].isin([f.stem for f in files])].to_csv(kag / "HAM10000_metadata.csv", index=False)
    ds2 = load_dataset("ham10000", path=kag)
    assert len(ds2) == 42 and ds2.report["missing_images"] == 0
    assert sorted(ds2.ids) == sorted(ds.ids)


def _tiny_images(folder: Path, names, size=(20, 16), fmt="JPEG"):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for n in names:
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(
            folder / f"{n}.{'jpg' if fmt == 'JPEG' else fmt.lower()}", format=fmt)


def test_ham10000_bad_inputs(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset("ham10000", path=tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="No HAM10000_metadata.csv"):
        load_dataset("ham10000", path=empty)
    pd.DataFrame({"image_id": ["a"], "diagnosis": ["nv"]}).to_csv(empty / "HAM10000_metadata.csv", index=False)
    with pytest.raises(DatasetError) as e:
        load_dataset("ham10000", path=empty)
    assert "lacks the column(s) lesion_id, dx" in str(e.value) and "Found columns: image_id, diagnosis" in str(e.value)
    # CSV fine, folder has no images
    pd.DataFrame({"lesion_id": ["L1"], "image_id": ["a"], "dx": ["nv"]}).to_csv(empty / "HAM10000_metadata.csv", index=False)
    with pytest.raises(DatasetError, match="No image files"):
        load_dataset("ham10000", path=empty)
    # unknown dx code
    pd.DataFrame({"lesion_id": ["L1"], "image_id": ["a"], "dx": ["xyz"]}).to_csv(empty / "HAM10000_metadata.csv", index=False)
    with pytest.raises(DatasetError, match="'xyz'.*akiec, bcc"):
        load_dataset("ham10000", path=empty)


def test_ham10000_missing_and_unreadable_files_reported(tmp_path):
    folder = tmp_path / "ham"
    ids = [f"ISIC_{i:07d}" for i in range(12)]
    _tiny_images(folder / "imgs", ids[:9])
    (folder / "imgs" / f"{ids[9]}.jpg").write_bytes(b"")                       # zero bytes
    _tiny_images(tmp_path / "big", ["big"], size=(200, 150))
    good = (tmp_path / "big" / "big.jpg").read_bytes()
    (folder / "imgs" / f"{ids[10]}.jpg").write_bytes(good[: len(good) // 2])    # truncated JPEG
    # ids[11] listed but absent
    pd.DataFrame({"lesion_id": [f"L{i // 2}" for i in range(12)], "image_id": ids,
                  "dx": ["nv", "mel", "bkl"] * 4, "dx_type": "histo", "age": [50.0] * 11 + [None],
                  "sex": "male", "localization": "back"}).to_csv(folder / "HAM10000_metadata.csv", index=False)
    ds = load_dataset("ham10000", path=folder)
    assert len(ds) == 9
    assert ds.report["missing_images"] == 1 and ds.report["missing_image_ids"] == [ids[11]]
    bad = {Path(b["path"]).stem: b["error"] for b in ds.report["unreadable"]}
    assert set(bad) == {ids[9], ids[10]}
    assert "0 bytes" in bad[ids[9]] and "truncated" in bad[ids[10]]
    with pytest.raises(DatasetError, match="1 of 12 images.*max_missing_fraction=5%"):
        load_dataset("ham10000", path=folder, max_missing_fraction=0.05)


def test_data_roots_enforced(tmp_path, monkeypatch, shared_datasets):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    monkeypatch.setenv("LAB_DATA_ROOTS", str(allowed))
    with pytest.raises(DatasetError) as e:
        load_dataset("fundus", path=shared_datasets / "fundus")
    assert "outside the folders this lab may read" in str(e.value) and str(allowed.resolve()) in str(e.value)
    with pytest.raises(DatasetError, match="outside"):
        load_dataset("image_folder", path=tmp_path / "allowed" / ".." / "elsewhere")
    _tiny_images(allowed / "a", ["x1", "x2"])
    _tiny_images(allowed / "b", ["y1"])
    assert len(load_dataset("image_folder", path=allowed)) == 3


# ------------------------------------------------------------------------------ fundus

def test_fundus_eyepacs(shared_datasets):
    ds = load_dataset("fundus", path=shared_datasets / "fundus")
    assert len(ds) == 105 and ds.report["format"] == "EyePACS"
    assert np.bincount(ds.labels).tolist() == [45, 15, 15, 15, 15]
    assert ds.class_names == ["No DR", "Mild", "Moderate", "Severe", "Proliferative"]
    assert ds.ordinal and ds.domain == "fundus" and ds.group_name == "patient_id"
    i = int(ds.index_of(["10_left"])[0])
    assert ds.groups[i] == "10" and ds.metadata.loc[i, "eye"] == "left"
    assert Path(ds.paths[i]).parent.name == "images"  # resized copy preferred over originals/
    assert ds.report["unreadable"] == [] and ds.report["missing_images"] == 0


def test_fundus_aptos_and_bad_labels(tmp_path):
    folder = tmp_path / "aptos"
    names = [f"{h:012x}" for h in range(10)]
    _tiny_images(folder / "train_images", names, fmt="PNG")
    pd.DataFrame({"id_code": names, "diagnosis": [0, 1, 2, 3, 4] * 2}).to_csv(folder / "train.csv", index=False)
    ds = load_dataset("fundus", path=folder)
    assert ds.report["format"] == "APTOS" and len(ds) == 10
    assert list(ds.groups) == list(ds.ids)  # APTOS: the id_code is the patient
    pd.DataFrame({"id_code": names, "diagnosis": [0, 1, 2, 3, 7] * 2}).to_csv(folder / "train.csv", index=False)
    with pytest.raises(DatasetError) as e:
        load_dataset("fundus", path=folder)
    assert "2 label(s)" in str(e.value) and "not grades 0-4" in str(e.value) and "=7" in str(e.value.args[0]).replace("'", "")
    (folder / "train.csv").unlink()
    pd.DataFrame({"file": names, "grade": [0] * 10}).to_csv(folder / "labels.csv", index=False)
    with pytest.raises(DatasetError) as e:
        load_dataset("fundus", path=folder)
    assert "image,level (EyePACS) or id_code,diagnosis (APTOS)" in str(e.value) and "labels.csv (file, grade)" in str(e.value)
    with pytest.raises(DatasetError, match="lacks the label columns.*Found columns: file, grade"):
        load_dataset("fundus", path=folder, labels_csv=folder / "labels.csv")


# ------------------------------------------------------------------------------ image folder, medmnist

def test_image_folder(tmp_path):
    root = tmp_path / "pets"
    _tiny_images(root / "cat", ["c1", "c2", "c3"])
    _tiny_images(root / "dog" / "nested", ["d1", "d2"], fmt="PNG")
    (root / "empty_class").mkdir()
    (root / "dog" / "notes.jpg").write_text("not an image")
    ds = load_dataset("image_folder", path=root)
    assert ds.class_names == ["cat", "dog"] and len(ds) == 5
    assert np.bincount(ds.labels).tolist() == [3, 2]
    assert "dog/nested/d1" in set(ds.ids)
    assert ds.report["empty_classes"] == ["empty_class"]
    assert [Path(b["path"]).name for b in ds.report["unreadable"]] == ["notes.jpg"]
    assert load_images(ds, [0, 4], size=(8, 10)).shape == (2, 8, 10, 3)
    flat = tmp_path / "flat"
    _tiny_images(flat, ["a", "b"])
    with pytest.raises(DatasetError, match="holds 2 image file.*one subfolder per class"):
        load_dataset("image_folder", path=flat)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(DatasetError, match="No class subfolders"):
        load_dataset("image_folder", path=tmp_path / "nothing")
    with pytest.raises(ValidationError, match="'path' parameter is required"):
        load_dataset("image_folder")


def _medmnist_npz(path: Path, n=(30, 10, 12), k=5, hw=(28, 28, 3)):
    rng = np.random.default_rng(1)
    arrays = {}
    for part, m in zip(("train", "val", "test"), n):
        arrays[f"{part}_images"] = rng.integers(0, 256, (m, *hw), dtype=np.uint8)
        arrays[f"{part}_labels"] = (np.arange(m) % k).reshape(-1, 1).astype(np.uint8)
    np.savez_compressed(path, **arrays)
    return arrays


def test_medmnist(tmp_path):
    arrays = _medmnist_npz(tmp_path / "retinamnist.npz")
    ds = load_dataset("medmnist", path=tmp_path / "retinamnist.npz")
    assert len(ds) == 52 and ds.images.shape == (52, 28, 28, 3)
    assert ds.class_names == ["No DR", "Mild", "Moderate", "Severe", "Proliferative"] and ds.ordinal
    assert [int((ds.official_split == p).sum()) for p in ("train", "val", "test")] == [30, 10, 12]
    np.testing.assert_array_equal(ds.images[ds.official_split == "val"], arrays["val_images"])
    assert ds.ids[30] == "val-00000"
    small = load_dataset("medmnist", path=tmp_path / "retinamnist.npz", max_per_class=1)
    assert len(small) == 15  # one per class in each official part
    np.savez(tmp_path / "broken.npz", train_images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DatasetError, match="lacks array.*train_labels"):
        load_dataset("medmnist", path=tmp_path / "broken.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(DatasetError, match="Cannot read"):
        load_dataset("medmnist", path=tmp_path / "text.npz")


def test_availability_of_folder_datasets(tmp_path, shared_datasets):
    assert dataset_availability("ham10000")[0] in ("needs_folder", "cached")
    assert dataset_availability("fundus", path=str(shared_datasets / "fundus"))[0] == "cached"
    assert dataset_availability("medmnist", path=str(tmp_path / "x.npz"))[0] == "needs_folder"
