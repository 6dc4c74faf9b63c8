"""A run trained on the reduced HAM10000 set (every image at 200x150) is validated on the 42
original-resolution photos (600x450) of the same images: the overlap check must find every one of
them, by lesion id from the metadata CSV and by the near-duplicate image check from bare class
folders, and say which split each is in. Nothing is scored or recorded then."""
from __future__ import annotations

import pytest

from core.analysis.external import NothingLeftError, validate_run
from external_support import ham_run, originals_as_folders


@pytest.fixture(scope="module")
def lab(shared_datasets, tmp_path_factory):
    from core.store import Store
    from core.store.artifacts import RunFolder

    root = tmp_path_factory.mktemp("ext_overlap")
    rid, env = ham_run(root, shared_datasets)
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    store = Store()
    split = RunFolder.of(store.get_run(rid), store).read_json("split")
    where = {i: part for part in ("train", "val", "test") for i in split[part]}
    yield {"store": store, "run": rid, "where": where, "root": root}
    store.close()
    mp.undo()


def _check_every_original_found(err: NothingLeftError, where: dict, by: str) -> None:
    ov = err.overlap
    assert ov["by"] == by
    assert len(ov["items"]) == 42 and len(err.rel_paths) == 42
    for it in ov["items"]:  # each original is told with the split its reduced copy is in
        image_id = err.rel_paths[it["index"]].rsplit("/", 1)[-1].split(".")[0]
        assert it["split"] == where[image_id], (image_id, it)
    assert sum(ov["counts"].values()) == 42 and all(ov["counts"][s] > 0 for s in ("train", "val", "test"))
    assert "nothing is left to validate on" in str(err) and "exclude_ids" in str(err)


def test_the_image_check_finds_every_original_across_resolutions(lab, shared_datasets, tmp_path):
    folder = originals_as_folders(shared_datasets, tmp_path / "clinic")
    with pytest.raises(NothingLeftError) as err:
        validate_run(lab["store"], lab["run"], folder)
    _check_every_original_found(err.value, lab["where"], "image_hash")
    for it in err.value.overlap["items"]:  # matched to its own reduced copy, not a look-alike
        assert err.value.rel_paths[it["index"]].rsplit("/", 1)[-1].startswith(it["match"])
    assert lab["store"].list_external_evaluations(lab["run"]) == []


def test_the_metadata_csv_finds_every_original_by_lesion(lab, shared_datasets):
    with pytest.raises(NothingLeftError) as err:
        validate_run(lab["store"], lab["run"], shared_datasets / "ham10000" / "images")
    _check_every_original_found(err.value, lab["where"], "lesion_id")


def test_cli_lists_each_overlapping_image_with_its_split(lab, shared_datasets, capsys):
    from core.cli.main import main

    assert main(["validate", str(lab["run"]), "--data", str(shared_datasets / "ham10000" / "images"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Every one of the 42 images" in err and err.count("(matches HAM_") == 42
    assert "bcc/ISIC_" in err and ": in train" in err
