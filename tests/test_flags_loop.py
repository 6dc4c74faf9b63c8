"""The flagging loop in core, end to end on real digits runs: flag, review, export a version, train
with it added to the training part only; and nothing of an uploaded photo's metadata anywhere."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest

from core.cli.main import main
from privacy_support import leaks_in, leaky_jpeg

DIGITS = ["--dataset", "digits", "--dataset-param", "max_per_class=30", "--epochs", "1", "--batch-size", "64"]


def _png(gray: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(gray[..., 0]).save(buf, format="PNG")
    return buf.getvalue()


def _run_id(store, name: str) -> int:
    runs, _ = store.list_runs(text=name)
    return next(r.id for r in runs if r.name == name)


def _flag_four(store, plain: int) -> dict:
    """Flags on four digits of the plain run: three of its training part (one sent as a JPEG
    full of metadata) and one of its test part, with the run's calibrated probabilities."""
    from core.cli.common import operator
    from core.datasets import load_dataset
    from core.serving.flagging import flag_prediction
    from core.serving.trained_model import load_trained
    from core.store.artifacts import RunFolder

    split = RunFolder.of(store.get_run(plain), store).read_json("split")
    ds = load_dataset("digits", max_per_class=30)
    picks = {"jpeg": split["train"][0], "relabel": split["train"][1], "reject": split["train"][2],
             "test": split["test"][0]}
    sub = ds.subset(list(picks.values()))
    probs = load_trained(store.run_dir(plain)).predict(sub.images, calibrated=True)
    rgb = np.repeat(sub.images[0], 3, axis=-1)
    images = [leaky_jpeg(rgb), _png(sub.images[1]), _png(sub.images[2]), _png(sub.images[3])]
    _, gs = operator(store)
    names = list(ds.class_names)
    out = {}
    for (key, _), image, p, label in zip(picks.items(), images, probs, sub.labels):
        proposed = (int(label) + 1) % 10 if key == "reject" else None if key == "relabel" else int(label)
        kind = "uncertain" if proposed is None else "wrong"
        out[key] = flag_prediction(gs, plain, image, p, kind=kind, proposed_label=proposed, note=f"flag {key}",
                                   consent=True, class_names=names)
    return {"flags": out, "labels": dict(zip(picks, map(int, sub.labels))), "picks": picks}


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    """Two runs (plain, then with the exported flags added) and everything in between."""
    from core.datasets.base import DATASETS
    from core.store import Store

    root = tmp_path_factory.mktemp("flag_loop")
    mp = pytest.MonkeyPatch()
    mp.setenv("LAB_DATABASE_URL", f"sqlite:///{root / 'runs.db'}")
    mp.setenv("LAB_MODELS_DIR", str(root / "models"))
    mp.setenv("LAB_DASHBOARD_SUPERVISOR", "0")
    try:
        assert main(["train", *DIGITS, "--name", "plain"]) == 0
        store = Store()
        plain = _run_id(store, "plain")
        flagged = _flag_four(store, plain)
        f = flagged["flags"]
        assert main(["flags", "review", str(f["jpeg"]), "--accept"]) == 0
        assert main(["flags", "review", str(f["relabel"]), "--relabel", str(flagged["labels"]["relabel"]),
                     "--note", "it is this digit"]) == 0
        assert main(["flags", "review", str(f["reject"]), "--reject"]) == 0
        assert main(["flags", "review", str(f["test"]), "--accept"]) == 0
        assert main(["flags", "export", "digits"]) == 0
        assert main(["train", *DIGITS, "--extra-train", "flags-digits-v1", "--name", "with flags"]) == 0
        yield {"store": store, "root": root, "plain": plain, "with": _run_id(store, "with flags"), **flagged}
        store.close()
    finally:
        mp.undo()
        DATASETS.unregister("flags-digits-v1")


def test_the_export_is_a_versioned_labelled_dataset_with_the_hash_of_every_image(loop):
    from core.datasets import list_datasets, load_dataset
    from core.datasets.flagged import flag_datasets_root
    from core.files import file_sha256

    folder = flag_datasets_root() / "flags-digits-v1"
    m = json.loads((folder / "manifest.json").read_text())
    f, labels = loop["flags"], loop["labels"]
    assert (m["name"], m["dataset"], m["version"]) == ("flags-digits-v1", "digits", 1) and m["created_at"]
    assert m["flag_ids"] == sorted([f["jpeg"], f["relabel"], f["test"]]) and m["n_images"] == 3
    for e in m["images"]:
        assert file_sha256(folder / e["file"]) == e["sha256"] and e["file"] == f"{e['class']}/{e['sha256']}.png"
    assert sorted(e["label"] for e in m["images"]) == sorted([labels["jpeg"], labels["relabel"], labels["test"]])
    assert "flags-digits-v1" in {i.name for i in list_datasets()}
    alone = load_dataset("flags-digits-v1")
    assert len(alone) == 3 and alone.class_names == [str(i) for i in range(10)]
    [rec] = loop["store"].list_flag_datasets("digits")
    assert rec.name == "flags-digits-v1" and rec.n_images == 3 and sorted(rec.flag_ids) == m["flag_ids"]


def test_the_review_kept_every_decision(loop, capsys):
    store, f, labels = loop["store"], loop["flags"], loop["labels"]
    capsys.readouterr()
    assert main(["flags", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {x["id"] for x in listed} == set(f.values()) and "flag relabel" in {x["note"] for x in listed}
    assert main(["flags", "list", "--status", "rejected"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["id", "run", "dataset", "kind"] and len(table) == 2 and "rejected" in table[1]
    assert store.get_flag(f["relabel"]).status == "relabelled"
    assert store.get_flag(f["relabel"]).final_label == labels["relabel"]
    assert store.get_flag(f["reject"]).status == "rejected"
    [d] = store.flag_decisions(f["relabel"])
    assert (d.decision, d.note) == ("relabel", "it is this digit") and d.decided_by is not None
    confidences = [x.confidence for x in store.list_flags()]
    assert confidences == sorted(confidences)


def test_the_flags_join_the_training_part_only_and_the_run_records_the_version(loop):
    from core.store.artifacts import RunFolder
    from core.training.config import TrainConfig
    from core.training.engine import split_data

    store = loop["store"]
    with_run, plain_run = store.get_run(loop["with"]), store.get_run(loop["plain"])
    assert with_run.status == "succeeded" and with_run.config["extra_train"] == "flags-digits-v1"
    assert with_run.params["extra_train"] == "flags-digits-v1" and plain_run.config["extra_train"] is None
    folder, plain_folder = RunFolder.of(with_run, store), RunFolder.of(plain_run, store)
    assert folder.read_json("split")["test"] == plain_folder.read_json("split")["test"]
    spec = folder.read_json("meta")["dataset"]["extra_train"]
    assert (spec["name"], spec["version"], spec["n_images"]) == ("flags-digits-v1", 1, 3)
    assert (spec["n_added"], spec["n_left_out_in_held_out_parts"]) == (2, 1)  # the test image stays out
    assert len(spec["manifest_sha256"]) == 64
    _, _, train, val, test = split_data(TrainConfig.from_dict(with_run.config))
    _, _, p_train, p_val, p_test = split_data(TrainConfig.from_dict(plain_run.config))
    added = [i for i in train.ids if i.startswith("flag-")]
    assert len(added) == 2 and len(train) == len(p_train) + 2
    assert list(test.ids) == list(p_test.ids) and list(val.ids) == list(p_val.ids)
    assert np.array_equal(test.images, p_test.images)
    preds = folder.read_csv("predictions")
    assert not preds["id"].astype(str).str.startswith("flag-").any()


def test_nothing_of_the_uploaded_photo_survives_anywhere_the_lab_wrote(loop):
    loop["store"].close()  # the write-ahead log checkpointed into runs.db
    assert leaks_in(loop["root"]) == []


def test_deleting_a_flag_takes_its_image_and_the_version_keeps_its_copy(loop):
    from core.datasets import load_dataset
    from core.serving.flagging import flags_dir

    store, fid = loop["store"], loop["flags"]["jpeg"]
    image = flags_dir(store) / store.get_flag(fid).image_path
    assert image.is_file()
    assert main(["flags", "delete", str(fid)]) == 0
    assert not image.exists() and fid not in {f.id for f in store.list_flags()}
    assert len(load_dataset("flags-digits-v1")) == 3


def test_extra_train_must_be_a_version_of_the_same_dataset(loop, capsys):
    assert main(["train", "--dataset", "fashion_mnist", "--extra-train", "flags-digits-v1", "--epochs", "1"]) == 2
    assert "holds flags of 'digits'" in capsys.readouterr().err
    assert main(["train", *DIGITS, "--extra-train", "flags-digits-v9"]) == 2
    assert "must name an exported flag dataset version" in capsys.readouterr().err
