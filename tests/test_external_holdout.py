"""A run trained with the 42 original photos' lesions left out (dataset parameter exclude_ids) never
saw them: validating it on the originals finds no overlap (neither by lesion id nor by the image
check) and scores all 42, with the same evaluation the run got on its own test split, slices, a
shift report and per-image predictions in the run folder."""
from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from core.analysis.external import validate_run
from external_support import ham_run, original_lesions, originals_as_folders


@pytest.fixture(scope="module")
def lab(shared_datasets, tmp_path_factory):
    from core.store import Store
    from core.store.artifacts import RunFolder

    root = tmp_path_factory.mktemp("ext_holdout")
    holdout = root / "holdout.txt"
    holdout.write_text("# lesions kept for external validation\n" + "\n".join(original_lesions(shared_datasets)))
    rid, env = ham_run(root, shared_datasets, exclude_ids=str(holdout))
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    store = Store()
    folder = RunFolder.of(store.get_run(rid), store)
    yield {"store": store, "run": rid, "folder": folder, "holdout": holdout}
    store.close()
    mp.undo()


def test_the_run_records_the_left_out_file_and_never_saw_those_lesions(lab, shared_datasets):
    meta, split = lab["folder"].read_json("meta"), lab["folder"].read_json("split")
    assert meta["dataset"]["params"]["exclude_ids"] == str(lab["holdout"].resolve())
    used = set(split["train"]) | set(split["val"]) | set(split["test"])
    ham = pd.read_csv(shared_datasets / "ham10000" / "reduced_200x150" / "labels.csv")
    of_held_out_lesions = set(ham.loc[ham["lesion_id"].isin(original_lesions(shared_datasets)), "image_id"])
    assert len(of_held_out_lesions) > 42  # every photo of those lesions, not only the 42
    assert not used & of_held_out_lesions and len(used) == 9959 - len(of_held_out_lesions)


def test_metadata_csv_set_is_scored_whole_with_the_runs_evaluation_shape(lab, shared_datasets, capsys):
    from core.cli.main import main

    store, images = lab["store"], shared_datasets / "ham10000" / "images"
    assert main(["validate", str(lab["run"]), "--data", str(images), "--name", "originals", "--quiet"]) == 0
    out = capsys.readouterr().out
    for text in ("42 image(s) scored, 0 left out", "balanced accuracy", "macro AUC", "sensitivity",
                 "No overlap with the run's own images found", "verdict:", "Research use only, not a diagnosis"):
        assert text in out, text
    [ev] = store.list_external_evaluations(lab["run"])
    eid = ev.id
    assert ev.name == "originals" and ev.created_by is not None  # recorded as the operator
    assert (ev.n_images, ev.n_overlap, ev.overlap["by"]) == (42, 0, "lesion_id")
    # both paths absolute and resolved, whatever relative path the dataset root was given as
    assert ev.source == {"format": "ham10000_csv", "data_dir": str(images.resolve()),
                         "labels_csv": str(images.resolve() / "labels.csv")}
    own = lab["folder"].read_json("evaluation")
    assert set(own) <= set(ev.result) and set(ev.result) - set(own) == {"slices"}
    assert set(own["summary"]) == set(ev.result["summary"])
    assert [r["support"] for r in ev.result["per_class"]] == [6] * 7
    assert sum(map(sum, ev.result["confusion"]["counts"])) == 42
    s = ev.result["summary"]
    assert s["ci_low_balanced_accuracy"] <= s["balanced_accuracy"] <= s["ci_high_balanced_accuracy"]
    assert "age" in ev.result["slices"]["columns"]
    lo, hi = ev.shift["feature_auc_interval"]
    assert 0 <= lo <= ev.shift["feature_auc"] <= hi <= 1
    assert ev.shift["image_stats"]["external"]["width_median"] == 600
    assert ev.shift["image_stats"]["training"]["width_median"] == 200
    assert ev.shift["calibration"]["ece_internal"] == own["summary"]["ece"]
    assert "larger (600x450 against 200x150" in ev.shift["verdict"]
    rel = sorted(f"{c}/{p.name}" for c in ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
                 for p in (images / c).glob("*.jpg"))
    assert ev.files_hash == hashlib.sha256("\n".join(rel).encode()).hexdigest()
    pred = pd.read_csv(lab["folder"].path / "external" / f"{eid}.csv")
    assert list(pred.columns[:3]) == ["index", "label", "pred"] and len(pred) == 42
    assert sorted(pred["index"]) == list(range(42))
    print(f"\nexternal (csv): bacc {s['balanced_accuracy']:.3f} macro AUC {s['macro_auc']:.3f} "
          f"feature AUC {ev.shift['feature_auc']:.3f} [{lo:.3f}, {hi:.3f}]; {ev.shift['verdict']}")


def test_the_image_check_finds_no_false_overlap(lab, shared_datasets, tmp_path):
    eid = validate_run(lab["store"], lab["run"], originals_as_folders(shared_datasets, tmp_path / "clinic"))
    ev = lab["store"].get_external_evaluation(eid)
    assert (ev.n_images, ev.n_overlap, ev.overlap["by"], ev.source["format"]) == (42, 0, "image_hash", "folders")
    assert ev.overlap["counts"] == {"train": 0, "val": 0, "test": 0}



def test_background_validation_is_a_job_of_its_own_kind(lab, shared_datasets, capsys):
    from core.cli.main import main
    from core.jobs import worker

    store, before = lab["store"], {e.id for e in lab["store"].list_external_evaluations(lab["run"])}
    images = shared_datasets / "ham10000" / "images"
    assert main(["validate", str(lab["run"]), "--data", str(images), "--name", "queued", "--background"]) == 0
    assert "Queued validation job" in capsys.readouterr().out
    [job] = [r for r in store.list_runs(kind="validation", parent_id=lab["run"])[0]]
    assert job.status == "queued"
    assert worker.run(job.id) == 0
    done = store.get_run(job.id)
    assert done.status == "succeeded", done.error
    [new] = [e for e in store.list_external_evaluations(lab["run"]) if e.id not in before]
    assert new.name == "queued" and new.n_images == 42
    assert int(done.summary["external_evaluation_id"]) == new.id


def test_a_viewer_is_refused_before_any_image_is_read(lab, shared_datasets):
    from core.auth.guard import Denied, guarded
    from core.auth.policy import Actor

    store = lab["store"]
    store.set_shared(lab["run"], True)
    user = store.upsert_user("https://idp.test", "vic", email="vic@uni.test", role="viewer")
    gs = guarded(store, Actor(user.id, user.label, "viewer"))
    with pytest.raises(Denied, match="viewer"):
        validate_run(gs, lab["run"], shared_datasets / "ham10000" / "images", progress=pytest.fail)
    entries, _ = store.audit_log(actor=user.id, allowed=False)
    assert [e.action for e in entries] == ["validate"]
