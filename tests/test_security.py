"""Security: data roots and user text shown as text.

Data roots: with ``LAB_DATA_ROOTS`` set, every file read and every folder walked is resolved
(symbolic links followed) and checked against the roots: a link inside a root that leads
outside refuses the whole load with a message naming it. Real folders and real symlinks in
tmp dirs; the real HAM10000 / fundus / Fashion-MNIST files of ../shared/datasets.

User text (run names, notes, tags, class names, file names, error messages) is shown
as text on every page: the Markdown bodies the pages send (AppTest, on a real store with real
finished runs) hold only the escaped form; the browser check is tests/e2e/test_security_browser.py.
A name longer than the limit is refused with a message, never cut.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.datasets import load_dataset
from core.validation import DatasetError, ValidationError
from lab_pages_support import app_at
from security_support import (
    HOSTILE,
    HOSTILE_CLASS,
    HOSTILE_CLASS_2,
    HOSTILE_FILE,
    RAW,
    add_running_run,
    assert_only_text,
    hostile_store,
)


# ------------------------------------------------------------------------------ helpers
def _images(folder: Path, names, size=(12, 10)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(list(names)))
    out = []
    for n in names:
        p = folder / f"{n}.png"
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(p)
        out.append(p)
    return out


@pytest.fixture()
def roots(tmp_path, monkeypatch):
    """/root1 (the only data root) and /outside (a folder the lab may not read)."""
    root1, outside = tmp_path / "root1", tmp_path / "outside"
    root1.mkdir()
    outside.mkdir()
    monkeypatch.setenv("LAB_DATA_ROOTS", str(root1))
    return root1, outside


# ------------------------------------------------------------------------------ data roots
def test_image_folder_class_symlinked_outside_is_refused(roots):
    """The reported escape: a class subfolder that is a link to a folder outside the roots."""
    root1, outside = roots
    ds_dir = root1 / "pets"
    _images(ds_dir / "cat", ["c1", "c2"])
    _images(outside / "secret", ["s1", "s2", "s3"])
    (ds_dir / "dog").symlink_to(outside / "secret", target_is_directory=True)
    with pytest.raises(DatasetError) as e:
        load_dataset("image_folder", path=ds_dir)
    msg = str(e.value)
    assert "outside the folders this lab may read" in msg
    assert str(ds_dir / "dog") in msg and str(outside / "secret") in msg and str(root1) in msg
    assert "Nothing was loaded" in msg


def test_image_folder_file_and_nested_folder_links_outside_are_refused(roots):
    root1, outside = roots
    ds_dir = root1 / "pets"
    _images(ds_dir / "cat", ["c1", "c2"])
    _images(ds_dir / "dog", ["d1"])
    (secret,) = _images(outside, ["private"])
    (ds_dir / "dog" / "d2.png").symlink_to(secret)  # one symlinked file among real ones
    with pytest.raises(DatasetError, match=r"1 link\(s\).*d2\.png.*private\.png"):
        load_dataset("image_folder", path=ds_dir)
    (ds_dir / "dog" / "d2.png").unlink()
    (ds_dir / "dog" / "more").symlink_to(outside, target_is_directory=True)  # a deeper folder link
    with pytest.raises(DatasetError, match="more"):
        load_dataset("image_folder", path=ds_dir)
    (ds_dir / "dog" / "more").unlink()
    assert len(load_dataset("image_folder", path=ds_dir)) == 3  # the real files alone load


def test_links_inside_the_roots_are_followed_and_read_through_their_target(roots):
    root1, _ = roots
    store = root1 / "store"
    _images(store / "cats", ["a", "b"])
    _images(store / "dogs", ["c"])
    ds_dir = root1 / "pets"
    ds_dir.mkdir()
    (ds_dir / "cat").symlink_to(store / "cats", target_is_directory=True)
    (ds_dir / "dog").mkdir()
    (ds_dir / "dog" / "c.png").symlink_to(store / "dogs" / "c.png")
    ds = load_dataset("image_folder", path=ds_dir)
    assert ds.class_names == ["cat", "dog"] and len(ds) == 3
    assert sorted(ds.ids) == ["cat/a", "cat/b", "dog/c"]  # ids: the paths as the user laid them out
    assert all(Path(p).is_relative_to(store) for p in ds.paths)  # paths: the real files that were checked


def test_symlink_loop_terminates(roots):
    root1, _ = roots
    ds_dir = root1 / "pets"
    _images(ds_dir / "cat", ["a"])
    _images(ds_dir / "dog", ["b"])
    (ds_dir / "dog" / "loop").symlink_to(ds_dir / "dog", target_is_directory=True)
    ds = load_dataset("image_folder", path=ds_dir)
    assert len(ds) == 2


def test_without_roots_links_are_followed(tmp_path, monkeypatch):
    monkeypatch.delenv("LAB_DATA_ROOTS", raising=False)
    _images(tmp_path / "elsewhere", ["x", "y"])
    _images(tmp_path / "pets" / "cat", ["a"])
    (tmp_path / "pets" / "dog").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    ds = load_dataset("image_folder", path=tmp_path / "pets")
    assert len(ds) == 3 and ds.class_names == ["cat", "dog"]


def test_ham10000_csv_and_images_linked_outside_are_refused(roots, shared_datasets):
    root1, _ = roots
    real = shared_datasets / "ham10000"
    ham = root1 / "ham"
    ham.mkdir()
    (ham / "HAM10000_metadata.csv").symlink_to(real / "HAM10000_metadata.csv")
    with pytest.raises(DatasetError, match="HAM10000 metadata CSV.*HAM10000_metadata.csv.*outside"):
        load_dataset("ham10000", path=ham)
    (ham / "HAM10000_metadata.csv").unlink()
    shutil.copyfile(real / "HAM10000_metadata.csv", ham / "HAM10000_metadata.csv")  # a real copy, inside
    (ham / "images").symlink_to(real / "images", target_is_directory=True)
    with pytest.raises(DatasetError, match="leads outside.*images"):
        load_dataset("ham10000", path=ham, max_per_class=2)


def test_fundus_labels_and_photos_linked_outside_are_refused(roots, shared_datasets):
    root1, _ = roots
    real = shared_datasets / "fundus"
    fundus = root1 / "fundus"
    fundus.mkdir()
    (fundus / "labels.csv").symlink_to(real / "labels.csv")
    with pytest.raises(DatasetError, match="CSV file.*labels.csv.*outside"):
        load_dataset("fundus", path=fundus)
    with pytest.raises(DatasetError, match="outside"):  # the same CSV given explicitly
        load_dataset("fundus", path=fundus, labels_csv=fundus / "labels.csv")
    (fundus / "labels.csv").unlink()
    shutil.copyfile(real / "labels.csv", fundus / "labels.csv")
    (fundus / "images").mkdir()
    for f in sorted((real / "images").iterdir())[:3]:  # three photos linked one by one
        (fundus / "images" / f.name).symlink_to(f)
    with pytest.raises(DatasetError, match=r"3 link\(s\)"):
        load_dataset("fundus", path=fundus)


def test_medmnist_file_linked_outside_is_refused(roots):
    root1, outside = roots
    arrays = {f"{p}_{k}": (np.zeros((4, 8, 8), np.uint8) if k == "images" else np.arange(4) % 2)
              for p in ("train", "val", "test") for k in ("images", "labels")}
    np.savez(outside / "dermamnist.npz", **arrays)
    (root1 / "dermamnist.npz").symlink_to(outside / "dermamnist.npz")
    with pytest.raises(DatasetError, match="outside"):
        load_dataset("medmnist", path=root1 / "dermamnist.npz")
    shutil.copyfile(outside / "dermamnist.npz", root1 / "copy.npz")
    assert len(load_dataset("medmnist", path=root1 / "copy.npz")) == 12


def test_keras_import_source_and_files_linked_outside_are_refused(roots, tmp_path, shared_datasets):
    from core.datasets import import_keras_dataset

    root1, _ = roots
    real = shared_datasets / "fashion_mnist"
    idx = [f for f in sorted(real.iterdir()) if "ubyte" in f.name]
    if len(idx) < 4:
        pytest.skip(f"no Fashion-MNIST IDX files in {real}")
    src = root1 / "fm"
    src.mkdir()
    for f in idx:
        (src / f.name).symlink_to(f)
    home = tmp_path / "keras_home"
    with pytest.raises(DatasetError, match="IDX file.*outside"):
        import_keras_dataset("fashion_mnist", src, keras_home_dir=home)
    with pytest.raises(DatasetError, match="outside"):  # the source folder itself outside
        import_keras_dataset("fashion_mnist", real, keras_home_dir=home)
    assert not (home / "datasets").exists()  # nothing was copied


def test_decoding_a_file_outside_the_roots_is_refused(roots):
    from core.datasets.io import decode_file

    root1, outside = roots
    (secret,) = _images(outside, ["private"])
    (root1 / "x.png").symlink_to(secret)
    with pytest.raises(DatasetError, match="image file.*outside"):
        decode_file(str(root1 / "x.png"))
    (inside,) = _images(root1, ["fine"])
    assert decode_file(str(inside)).shape == (10, 12, 3)


# ------------------------------------------------------------------------------ names not cut
LONG = "n" * 100_000


def test_store_refuses_an_overlong_name_instead_of_cutting_it(tmp_path):
    from core.store import Store

    store = Store(f"sqlite:///{tmp_path / 'runs.db'}", models_dir=tmp_path / "m")
    with pytest.raises(ValidationError) as e:
        store.create_run({"model": "small_cnn"}, name=LONG)
    assert "at most 200 characters" in str(e.value) and "100,000" in str(e.value)
    assert store.list_runs(limit=0)[1] == 0  # nothing stored
    rid = store.create_run({"model": "small_cnn"}, name="x" * 200)  # the limit itself is fine
    assert store.get_run(rid).name == "x" * 200
    with pytest.raises(ValidationError, match="at most 200"):
        store.rename_run(rid, "y" * 201)
    assert store.get_run(rid).name == "x" * 200
    with pytest.raises(ValidationError, match="at most 500"):
        store.set_tags(rid, {"note": "v" * 501})
    store.close()


def test_train_config_and_job_names(tmp_path):
    from core.jobs.manager import JobManager
    from core.store import Store
    from core.training.config import TrainConfig

    with pytest.raises(ValidationError, match="at most 200 characters; this one has 100,000"):
        TrainConfig(name=LONG).validate()
    store = Store(f"sqlite:///{tmp_path / 'runs.db'}", models_dir=tmp_path / "m")
    jm = JobManager(store, tmp_path / "m")  # not started: submitting only queues
    with pytest.raises(ValidationError, match="at most 200"):
        jm.submit(TrainConfig(), name=LONG)
    assert store.list_runs(limit=0)[1] == 0
    # names the lab derives from a 200-character name are shortened visibly, not refused
    parent = jm.submit_search(TrainConfig(epochs=1), [{"epochs": 1}, {"epochs": 2}], name="s" * 200)
    trials, _ = store.list_runs(parent_id=parent, limit=None)
    assert sorted(len(t.name) for t in trials) == [200, 200]
    assert all(t.name.endswith(("… · trial 1", "… · trial 2")) for t in trials)
    store.close()


# ------------------------------------------------------------------------------ pages show text
def test_md_text_escapes_every_construct():
    from pages._format import md_text

    out = md_text(HOSTILE)
    assert not RAW.search(out), RAW.search(out)
    assert RAW.search(HOSTILE) and RAW.search(HOSTILE_CLASS) and RAW.search(HOSTILE_FILE)
    assert out.replace("\\", "").replace("\u2060", "") == HOSTILE  # the same characters, shown as text
    assert md_text("empty.jpg: The file is empty (0 bytes); max_per_class=5") == \
        "empty.jpg: The file is empty (0 bytes); max_per_class=5"  # plain messages stay readable
    assert md_text("# big\n- item\n1. x\n> quote") == "\\# big\n\\- item\n1\\. x\n\\> quote"
    assert md_text("a -> b :streamlit: me@evil.example") == "a -\u2060> b :\u2060streamlit: me@\u2060evil.example"


@pytest.fixture(scope="module")
def hostile(shared_datasets):
    h = hostile_store()
    add_running_run(h)
    mp = pytest.MonkeyPatch()
    for k, v in h["env"].items():
        mp.setenv(k, v)
    mp.delenv("LAB_DATA_ROOTS", raising=False)
    yield h
    mp.undo()
    from pages import _resources

    _resources.shutdown_job_managers()


@pytest.mark.slow
def test_run_page_shows_names_notes_tags_classes_and_files_as_text(hostile):
    from pages._format import md_text

    rid = hostile["ids"]["hostile"]
    at = app_at("runs", {"run": str(rid)})
    assert [t.value for t in at.title] == [f"Run #{rid}: {md_text(HOSTILE)}"]
    seen = []
    for tab in ("Metrics", "Curves", "Confusion", "ROC / PR / calibration", "Predictions", "Config", "Manage"):
        at.session_state["r_tab"] = tab
        at.run()
        seen += assert_only_text(at, f"run page, {tab} tab")
        if tab == "Manage":  # notes and tags are edited in text inputs (plain text), unchanged
            assert any(t.value == HOSTILE for t in at.text_area)
    at.session_state["r_tab"] = "Predictions"
    at.run()
    for box in [b for b in at.selectbox if b.key == "r_gal_actual"]:  # the gallery filtered by a class
        box.set_value(HOSTILE_CLASS).run()
        seen += assert_only_text(at, "gallery filtered by a hostile class")
    joined = "\n".join(seen)
    assert md_text(HOSTILE_CLASS) in joined  # the gallery and confusion pairs name the classes, escaped
    assert md_text(HOSTILE_FILE) in joined or md_text(HOSTILE_CLASS_2) in joined


@pytest.mark.slow
def test_failed_run_error_and_bad_query_are_text(hostile):
    from pages._format import md_text

    rid = hostile["ids"]["failed"]
    at = app_at("runs", {"run": str(rid)})
    assert_only_text(at, "failed run page")
    assert any(md_text(HOSTILE) in e.value for e in at.error)
    at = app_at("runs", {"run": "![q](http://127.0.0.1:9/q.png)"})
    assert_only_text(at, "runs?run=<markdown>")
    assert len(at.error) == 1 and "is not a run id" in at.error[0].value


@pytest.mark.parametrize("page", ["home", "runs", "compare", "train", "predict"])
@pytest.mark.slow
def test_pages_listing_runs_show_names_as_text(hostile, page):
    from pages._format import md_text

    ids = hostile["ids"]
    query = {"runs": f"{ids['hostile']},{ids['plain']}"} if page == "compare" else \
        {"run": str(ids["hostile"])} if page == "predict" else None
    at = app_at(page, query)
    texts = assert_only_text(at, page)
    if page == "home":  # the running job is listed (sidebar and/or Running jobs), escaped
        assert any(md_text(HOSTILE) in t for t in texts)


@pytest.mark.slow
def test_predict_upload_with_hostile_file_name_and_classes(hostile):
    from lab_pages_support import digit_png
    from pages._format import md_text

    at = app_at("predict", {"run": str(hostile["ids"]["hostile"])})
    data, _ = digit_png(0, size=16)
    fname = "![u](http://127.0.0.1:9/u.png) :red[U].png"
    at.file_uploader(key="p_files").set_value((fname, data, "image/png")).run()
    texts = assert_only_text(at, "predict with an upload")
    joined = "\n".join(texts)
    assert md_text(fname) in joined  # the upload's caption
    assert "Prediction: " in joined and (md_text(HOSTILE_CLASS) in joined or md_text(HOSTILE_CLASS_2) in joined)


@pytest.mark.slow
@pytest.mark.parametrize("page, key", [("data_explorer", "eda"), ("augmentation", "aug")],
                         ids=["data_explorer", "augmentation"])
def test_data_explorer_and_augmentation_show_class_and_file_names_as_text(hostile, page, key):
    from pages._format import md_text

    at = app_at(page)
    at.selectbox(key=f"{key}_name").set_value("image_folder").run()
    at.text_input(key=f"{key}_path_image_folder").set_value(str(hostile["data"])).run()
    for tab in ("Overview", "Samples"):
        if page == "data_explorer" and "eda_tab" in at.session_state:
            at.session_state["eda_tab"] = tab
            at.session_state["eda_charts"] = True  # the overview's charts carry class names too
            at.session_state["eda_report"] = True
            at.run()
        texts = assert_only_text(at, f"{page} {tab}")
    if page == "data_explorer":
        assert any(md_text(HOSTILE_CLASS) in t for t in texts)
    else:
        assert any(md_text(HOSTILE_CLASS) in t or md_text(HOSTILE_CLASS_2) in t for t in texts)
