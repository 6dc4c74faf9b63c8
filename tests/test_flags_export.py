"""Exporting reviewed flags as dataset versions, and adding a version to a folder dataset's training part."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.auth.guard import Denied, guarded
from core.auth.policy import Actor
from core.datasets.base import DATASETS
from core.datasets.flagged import export_flags, flag_datasets_root
from core.serving.flagging import flag_prediction
from core.store import Store
from core.training.config import TrainConfig
from core.training.engine import split_data
from core.validation import ValidationError

CLASSES = ["ants", "bees", "wasps"]


@pytest.fixture()
def lab(tmp_path, monkeypatch):
    """A store, a run of an image folder (three classes, twelve 8x8 PNGs each) and its config."""
    from PIL import Image

    monkeypatch.setenv("LAB_MODELS_DIR", str(tmp_path / "models"))
    rng = np.random.default_rng(0)
    data = tmp_path / "insects"
    for c in CLASSES:
        (data / c).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(data / c / f"{c}{i}.png")
    store = Store(f"sqlite:///{tmp_path / 'runs.db'}", models_dir=tmp_path / "models")
    config = TrainConfig(dataset={"name": "image_folder", "params": {"path": str(data)}}, epochs=1)
    rid = store.create_run(config.to_dict(), name="insects", dataset="image_folder", model="small_cnn")
    yield store, rid, config
    store.close()
    for name in DATASETS.names("flags-*"):
        DATASETS.unregister(name)


def _flag_file(store, rid, path, label, *, proposed=None):
    probs = np.full(3, 0.2)
    probs[(label + 1) % 3] = 0.6
    return flag_prediction(store, rid, path.read_bytes(), probs, kind="wrong",
                           proposed_label=label if proposed is None else proposed, note="", consent=True,
                           class_names=CLASSES)


def test_a_version_added_to_a_folder_dataset_leaves_its_test_part_alone(lab):
    store, rid, config = lab
    _, _, train, _, test = split_data(config)
    from_test = _flag_file(store, rid, Path(test.paths[0]), int(test.labels[0]))
    from_train = _flag_file(store, rid, Path(train.paths[0]), int(train.labels[0]))
    for fid in (from_test, from_train):
        store.decide_flag(fid, "accept")
    v = export_flags(store, "image_folder")
    assert (v.name, v.version, v.n_images) == ("flags-image_folder-v1", 1, 2)
    _, _, train2, val2, test2 = split_data(config.replace(extra_train=v.name))
    assert list(test2.paths) == list(test.paths) and len(val2) == len(split_data(config)[3])
    added = [i for i in train2.ids if i.startswith("flag-")]
    assert len(added) == 1 and len(train2) == len(train) + 1  # the copy of a test image is left out
    assert train2.spec["extra_train"]["n_left_out_in_held_out_parts"] == 1
    TrainConfig.from_dict({**config.to_dict(), "extra_train": v.name}).validate()


def test_versions_count_up_and_keep_what_they_held(lab, tmp_path):
    store, rid, config = lab
    _, _, train, _, _ = split_data(config)
    first = _flag_file(store, rid, Path(train.paths[0]), int(train.labels[0]))
    with pytest.raises(ValidationError, match="No accepted or relabelled flag"):
        export_flags(store, "image_folder")
    store.decide_flag(first, "relabel", label=2)
    v1 = export_flags(store, "image_folder")
    second = _flag_file(store, rid, Path(train.paths[1]), int(train.labels[1]))
    store.decide_flag(second, "accept")
    v2 = export_flags(store, "image_folder")
    assert (v1.version, v1.n_images, v2.version, v2.n_images) == (1, 1, 2, 2)
    m1 = json.loads((v1.path / "manifest.json").read_text())
    assert [e["label"] for e in m1["images"]] == [2] and m1["images"][0]["file"].startswith("wasps/")
    assert v1.path.parent == flag_datasets_root(tmp_path / "models")
    assert [r.version for r in store.list_flag_datasets("image_folder")] == [2, 1]


def test_an_image_given_two_labels_is_left_out_and_said_so(lab):
    store, rid, config = lab
    _, _, train, _, _ = split_data(config)
    path = Path(train.paths[0])
    a, b = _flag_file(store, rid, path, 0), _flag_file(store, rid, path, 1)
    store.decide_flag(a, "accept")
    store.decide_flag(b, "accept")
    with pytest.raises(ValidationError, match="two different labels"):
        export_flags(store, "image_folder")


def test_only_a_reviewer_exports_and_a_refused_export_leaves_nothing(lab):
    store, rid, config = lab
    _, _, train, _, _ = split_data(config)
    fid = _flag_file(store, rid, Path(train.paths[0]), int(train.labels[0]))
    store.decide_flag(fid, "accept")
    user = store.upsert_user("https://idp.test", "sam", email="sam@uni.test", role="admin")
    student = Actor(user.id, user.label, "student")
    with pytest.raises(Denied, match="signed in as a student"):
        export_flags(guarded(store, student), "image_folder")
    root = flag_datasets_root(store.models_dir)
    assert not (root.exists() and any(root.iterdir())) and store.list_flag_datasets() == []
    entries, _ = store.audit_log(action="review_flags", allowed=False)
    assert entries[0].target == "dataset:image_folder"


def test_extra_train_is_refused_for_another_dataset(lab):
    store, rid, config = lab
    _, _, train, _, _ = split_data(config)
    store.decide_flag(_flag_file(store, rid, Path(train.paths[0]), int(train.labels[0])), "accept")
    v = export_flags(store, "image_folder")
    with pytest.raises(ValidationError, match="holds flags of 'image_folder'"):
        TrainConfig(dataset={"name": "digits", "params": {}}, extra_train=v.name).validate()
    with pytest.raises(ValidationError, match="must name an exported flag dataset version"):
        TrainConfig(extra_train="digits").validate()
