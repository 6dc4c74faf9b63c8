"""External validations on the Run page and on Compare (AppTest, real finished digits runs): records made
through the store's own API from a real run's evaluation, the per-image predictions in the run's folder and the
set's images in a folder on disk; the list, the drop table, the shift verdict, the overlap, the confusion matrix
with its images (none once the folder changed), the start form's messages, Compare's table and its HTML report."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lab_pages_support import app_at, lab_environ, page_texts, png, problems

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("page_jobs_cleanup")]

TAB = "External validation"
SHIFT = {"image_stats": {"training": {"n": 400, "height_median": 8.0, "brightness_mean": 31.0},
                         "external": {"n": 120, "height_median": 8.0, "brightness_mean": 47.0}},
         "feature_auc": 0.82, "feature_auc_interval": [0.78, 0.86],
         "calibration": {"ece_internal": 0.05, "ece_external": 0.12},
         "verdict": "Clear shift: the external images are brighter than the run's own."}


def _file_list_hash(folder: Path) -> str:
    from core.analysis.external import files_hash

    return files_hash(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))


@pytest.fixture(scope="module")
def ext_lab(tmp_path_factory):
    """A copy of the shared store of two finished digits runs; run A gets an external evaluation whose results are
    run B's real test evaluation, its predictions in A's folder and the images in a folder of PNGs."""
    from sklearn.datasets import load_digits

    from core.store import Store
    from core.store.artifacts import RunFolder
    from core.store.external import predictions_path
    from lab_pages_support import shared_trained_store

    shared = shared_trained_store()
    root = tmp_path_factory.mktemp("external") / "lab"
    shutil.copytree(shared["root"], root)
    mp = pytest.MonkeyPatch()
    for k, v in {**lab_environ(root), "LAB_DASHBOARD_SUPERVISOR": "0"}.items():
        mp.setenv(k, v)
    store = Store()
    a, b = shared["ids"]
    rb = RunFolder.of(store.get_run(b), store)
    ev_b, pred_b = rb.read_json("evaluation"), rb.read_csv("predictions", dtype={"id": str})
    folder = root / "clinic_b"
    folder.mkdir()
    digits = load_digits()
    rel = [f"{y}/{i:04d}.png" for i, y in enumerate(pred_b["y_true"])]  # class folders, named as the run's classes
    for path, sid in zip(rel, pred_b["id"], strict=True):
        img = (digits.images[int(sid.rsplit("-", 1)[-1])] / 16 * 255).astype(np.uint8)
        (folder / path).parent.mkdir(exist_ok=True)
        (folder / path).write_bytes(png(np.kron(img, np.ones((4, 4), np.uint8))))
    position = {p: k for k, p in enumerate(sorted(rel))}  # a prediction's index: its place in the sorted file list
    overlap = {"by": "image_hash", "counts": {"train": 3, "val": 1, "test": 2},
               "items": [{"index": 900 + k, "split": s, "match": f"digits-{k}"}
                         for k, s in enumerate(["train"] * 3 + ["val"] + ["test"] * 2)]}
    eid = store.add_external_evaluation(
        a, name="clinic B scans", n_images=len(pred_b), n_overlap=6, files_hash=_file_list_hash(folder),
        source={"format": "folders", "data_dir": str(folder), "labels_csv": None}, result=ev_b, shift=SHIFT,
        overlap=overlap)
    csv = predictions_path(RunFolder.of(store.get_run(a), store).path, eid)
    csv.parent.mkdir(parents=True, exist_ok=True)
    probs = pred_b[[c for c in pred_b.columns if c.startswith("p_")]]
    pd.concat([pd.DataFrame({"index": [position[p] for p in rel], "label": pred_b["y_true"], "pred": pred_b["y_pred"]}),
               probs], axis=1).to_csv(csv, index=False)
    ev_a = RunFolder.of(store.get_run(a), store).read_json("evaluation")
    yield {"store": store, "a": a, "b": b, "eid": eid, "folder": folder, "ev_a": ev_a, "ev_b": ev_b, "root": root}
    store.close()
    mp.undo()


def _frame(at, column: str) -> pd.DataFrame:
    """The one table the page shows with this column (AppTest gives tables no key)."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(found) == 1, (column, [list(d.value.columns) for d in at.dataframe])
    return found[0]


def _external_tab(lab) -> object:
    at = app_at("runs", {"run": str(lab["a"])})
    at.session_state["r_tab"] = TAB
    return at.run()


def test_run_page_shows_the_external_evaluation_with_drop_shift_and_overlap(ext_lab):
    from core.text import fmt_num

    at = _external_tab(ext_lab)
    assert problems(at) == []
    listed = _frame(at, "left out as overlapping")
    assert list(listed["name"]) == ["clinic B scans"]
    assert listed["left out as overlapping"][0] == "6 (train 3, val 1, test 2; by image content)"
    assert listed["file list"][0] == _file_list_hash(ext_lab["folder"])[:12]
    drop = _frame(at, "drop interval").set_index("metric")
    si, se = ext_lab["ev_a"]["summary"], ext_lab["ev_b"]["summary"]
    row = drop.loc["balanced accuracy"]
    assert (row["internal"], row["external"]) == (fmt_num(si["balanced_accuracy"]), fmt_num(se["balanced_accuracy"]))
    assert row["drop"] == fmt_num(si["balanced_accuracy"] - se["balanced_accuracy"])
    assert row["drop interval"] != "—" and " to " in row["drop interval"]
    texts = page_texts(at)
    assert SHIFT["verdict"].split(":")[0] in texts
    assert "AUC 0.82 (95% interval 0.78–0.86): to the model, this set is clearly different from the training images" in texts
    assert "left out" in texts and "3 in training, 1 in validation, 2 in test" in texts
    stats = _frame(at, "statistic").set_index("statistic")
    assert stats.loc["brightness mean", "external"] == "47.000"
    assert {"Balanced accuracy", "Macro AUC", "ECE on the external set"} <= {m.label for m in at.metric}


def test_confusion_cell_shows_the_sets_images_until_the_folder_changes(ext_lab):
    at = _external_tab(ext_lab)
    assert problems(at) == []
    assert any(el.proto.id.endswith(f"x_cm_{ext_lab['eid']}") for el in at.get("plotly_chart"))
    captions = [c for im in at.image for c in im.captions]
    assert captions and all(c.replace("\\", "").split(" · ")[0].endswith(".png") for c in captions)
    first = sorted(ext_lab["folder"].rglob("*.png"))[0]
    extra = first.parent / "9999.png"
    extra.write_bytes(first.read_bytes())
    try:
        at = _external_tab(ext_lab)
        assert problems(at) == []
        assert not at.image
        assert any("changed since this set was scored" in str(w.value) for w in at.warning)
    finally:
        extra.unlink()


def test_start_form_says_what_is_wrong_with_the_folder_and_the_csv(ext_lab, tmp_path):
    at = _external_tab(ext_lab)
    rid = ext_lab["a"]
    at.text_input(key=f"x_dir_{rid}").input(str(tmp_path / "nowhere"))
    at.button(key=f"x_go_{rid}").click().run()
    assert any("There is no folder" in str(e.value) for e in at.error)
    bad = tmp_path / "labels.csv"
    bad.write_bytes(b"only_one_column\nx\ny\n")
    at.text_input(key=f"x_dir_{rid}").input(str(ext_lab["folder"]))
    at.text_input(key=f"x_csv_{rid}").input(str(bad))
    at.button(key=f"x_go_{rid}").click().run()
    assert any("needs at least an image column and a label column" in str(e.value) for e in at.error)
    bad.write_bytes(b"file,grade\na.png,1\n")
    at.button(key=f"x_go_{rid}").click().run()
    assert any("has neither the HAM10000 columns" in str(e.value) for e in at.error)
    assert not [x for x in ext_lab["store"].list_external_evaluations(rid) if x.source["data_dir"] == str(tmp_path)]


def test_compare_lists_the_external_evaluations_and_the_report_too(ext_lab):
    from core.analysis.report import compare_report

    at = app_at("compare", {"runs": f"{ext_lab['a']},{ext_lab['b']}"})
    assert problems(at) == []
    table = _frame(at, "external set")
    assert list(table["external set"]) == ["clinic B scans"]
    assert table["run"][0].startswith(f"#{ext_lab['a']} ")
    se = ext_lab["ev_b"]["summary"]
    assert table["macro AUC"][0] == f"{se['macro_auc']:.3f}"
    si = ext_lab["ev_a"]["summary"]
    assert table["bal. acc. drop"][0].startswith(f"{si['balanced_accuracy'] - se['balanced_accuracy']:.3f} (")
    html = compare_report(ext_lab["store"], [ext_lab["a"], ext_lab["b"]], n_bootstrap=50)
    assert "<h2>External validations</h2>" in html and "clinic B scans" in html


def test_a_run_without_external_evaluations_says_so(ext_lab):
    at = app_at("runs", {"run": str(ext_lab["b"])})
    at.session_state["r_tab"] = TAB
    at.run()
    assert problems(at) == []
    assert "No external validation of this run yet." in page_texts(at)
    assert "clinic B scans" not in page_texts(at)


def _clinic(folder: Path, n_new: int = 20, n_copies: int = 4) -> None:
    """Class folders of digits: ``n_new`` images the run never saw (its images shifted by two pixels) and
    ``n_copies`` exact copies of images of its own data."""
    from core.datasets import load_dataset

    ds = load_dataset("digits", max_per_class=100)
    labels = ds.labels
    for k in range(n_new + n_copies):
        img = ds.images[k * 7][..., 0]
        img = img if k >= n_new else np.roll(img, 2, axis=1)
        (folder / ds.class_names[labels[k * 7]]).mkdir(parents=True, exist_ok=True)
        (folder / ds.class_names[labels[k * 7]] / f"img_{k:03d}.png").write_bytes(png(img))


def test_validating_from_the_run_page_records_and_shows_a_real_evaluation(ext_lab, tmp_path):
    folder = tmp_path / "clinic_c"
    _clinic(folder)
    rid = ext_lab["a"]
    at = _external_tab(ext_lab)
    at.text_input(key=f"x_dir_{rid}").input(str(folder))
    at.text_input(key=f"x_name_{rid}").input("clinic C")
    at.button(key=f"x_go_{rid}").click().run(timeout=600)
    assert problems(at) == []
    assert any("recorded" in str(s.value) for s in at.success)
    (x,) = [x for x in ext_lab["store"].list_external_evaluations(rid) if x.name == "clinic C"]
    assert (x.n_images, x.n_overlap) == (20, 4)
    assert sum(x.overlap["counts"].values()) == 4
    at = _external_tab(ext_lab)
    at.selectbox(key=f"x_pick_{rid}").set_value(x.id).run()
    assert problems(at) == []
    assert _frame(at, "left out as overlapping").set_index("name").loc["clinic C", "images scored"] == "20"
    texts = page_texts(at)
    assert "4 images of this set were already in the run's own data" in texts
    assert x.shift["verdict"].split(":")[0] in texts.replace("\\", "")
    assert "drop interval" in _frame(at, "drop interval").columns
    assert at.image  # the most confused cell's images, from the unchanged folder


def test_only_those_with_the_validate_right_get_the_form_others_see_why(ext_lab):
    from core.auth.policy import refusal
    from roles_pages_support import open_page

    rid = ext_lab["a"]
    ext_lab["store"].set_shared(rid, True)  # a viewer sees shared runs only

    def tab(who):
        at = open_page(ext_lab, who, "runs", {"run": str(rid)})
        at.session_state["r_tab"] = TAB
        return at.run()

    viewer, instructor = tab("viewer"), tab("instructor")
    assert problems(viewer) == [] and problems(instructor) == []
    assert not [b for b in viewer.button if b.key == f"x_go_{rid}"]
    assert refusal("validate", "viewer").split("(")[0].strip() in page_texts(viewer).replace("\\", "")
    assert "clinic B scans" in set(_frame(viewer, "left out as overlapping")["name"])  # the results are readable
    assert [b for b in instructor.button if b.key == f"x_go_{rid}"]


def test_a_queued_background_validation_is_shown_until_it_runs(ext_lab):
    from core.jobs.validation import submit_validation

    job = submit_validation(ext_lab["store"], ext_lab["a"], str(ext_lab["folder"]), name="clinic B, large")
    try:
        at = _external_tab(ext_lab)
        assert problems(at) == []
        assert any(f"job #{job}" in str(i.value) and "is queued" in str(i.value) for i in at.info)
    finally:
        ext_lab["store"].delete_run(job)
