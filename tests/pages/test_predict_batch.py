"""The Predict page with many images at once (AppTest, real finished digits runs): a zip or a
multi-selection gives one sortable table row per image from one batched pass, with filters, a CSV
of the user's file names, a clear message for a bad zip, cached results on reruns, and the
explanation overlay of the row the user selects."""
from __future__ import annotations

import csv
import io
import zipfile

import numpy as np
import pytest

from lab_pages_support import app_at, digit_png, png, problems

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("page_jobs_cleanup")]


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _photo() -> bytes:
    """A colour photo, far larger than the run's 8x8 grey digits: it gets compatibility warnings."""
    return png(np.random.default_rng(3).integers(0, 256, (120, 160, 3), dtype=np.uint8))


DIGITS = {f"digits/d{i}.png": digit_png(i)[0] for i in range(7)}


@pytest.fixture(scope="module")
def zipped_page(trained):
    """The page after uploading one zip: seven digits in a folder, a colour photo, a text file, an
    archiver's file and a member whose name leaves the archive."""
    at = app_at("predict")
    data = _zip({**DIGITS, "photo.png": _photo(), "readme.txt": b"notes", "__MACOSX/digits/._d0.png": b"x",
                 "../evil.png": digit_png(1)[0]})
    at.file_uploader(key="p_files").set_value(("my images.zip", data, "application/zip")).run()
    return at


def _table(at):
    (df,) = [d for d in at.dataframe if "prediction" in d.value.columns]
    return df.value


def test_zip_gives_one_row_per_image(zipped_page):
    at = zipped_page
    assert problems(at) == []
    df = _table(at)
    assert list(df["file"]) == [*DIGITS, "photo.png"]  # the user's names, upload order
    assert df["prediction"].notna().all() and ((df["probability"] > 0) & (df["probability"] <= 1)).all()
    assert all(str(u).startswith("data:image/png;base64,") for u in df["image"])
    p = df[[c for c in df.columns if c.startswith("p(")]].to_numpy()
    assert p.shape[1] == 10 and np.allclose(p.sum(axis=1), 1, atol=1e-5)
    texts = [i.value for i in at.info] + [w.value for w in at.warning]
    assert any("1 file(s) that are not images skipped" in t for t in texts), texts
    assert any("1 member(s) refused" in t and ".." in t for t in texts), texts
    assert len(at.image) == 0  # no explanation until a row is selected (CAMs on demand)
    assert any("Select a row" in c.value for c in at.caption)
    assert at.get("progress"), "the batched pass shows a progress bar"
    photo = df[df["file"] == "photo.png"].iloc[0]
    assert "in colour" in photo["warnings"] and "far larger" in photo["warnings"]


def test_rerun_does_not_recompute(zipped_page):
    at = zipped_page
    at.slider(key="p_alpha").set_value(0.6).run()  # any other widget: a rerun of the page
    assert problems(at) == []
    assert len(_table(at)) == 8
    assert not at.get("progress"), "every result came from the cache: no pass ran"


def test_filters(zipped_page):
    at = zipped_page
    full = _table(at)
    at.segmented_control(key="p_filter").set_value("uncertain").run()
    df = _table(at)
    assert len(df) == len(full)
    flags = list(df["uncertain"])
    assert flags == sorted(flags, reverse=True)  # uncertain rows first
    unc = df[df["uncertain"]]["probability"].tolist()
    assert unc == sorted(unc)  # the least sure first
    at.segmented_control(key="p_filter").set_value("warnings").run()
    assert list(_table(at)["file"]) == ["photo.png"]
    at.segmented_control(key="p_filter").set_value("class").run()
    cls = at.selectbox(key="p_filter_class").value
    df = _table(at)
    assert len(df) >= 1 and set(df["prediction"]) == {cls}
    assert len(df) == int((full["prediction"] == cls).sum())
    at.segmented_control(key="p_filter").set_value("all").run()
    assert problems(at) == []


def _downloads(at, monkeypatch) -> dict[str, bytes]:
    """file name -> bytes of every download a run of the page offers (recorded as Streamlit's
    in-memory media storage takes them: AppTest's runtime is gone once the run ends)."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    seen: dict[str, bytes] = {}
    keep = MemoryMediaFileStorage.load_and_get_id

    def record(self, path_or_data, mimetype, kind, filename=None):
        if isinstance(path_or_data, bytes) and filename:
            seen[filename] = path_or_data
        return keep(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    at.run()
    return seen


def test_csv_has_the_users_file_names(zipped_page, monkeypatch):
    at = zipped_page
    got = _downloads(at, monkeypatch)
    (name,) = [n for n in got if n.endswith(".csv")]
    rows = list(csv.DictReader(io.StringIO(got[name].decode("utf-8"))))
    df = _table(at)
    assert [r["file"] for r in rows] == list(df["file"])
    assert [r["predicted_class"] for r in rows] == list(df["prediction"])
    for r, p in zip(rows, df["probability"]):
        assert float(r["probability"]) == pytest.approx(p, rel=1e-6)
    assert [r["low_confidence"] == "yes" for r in rows] == list(df["uncertain"])
    assert "in colour" in rows[-1]["warnings"]


def test_row_selection_opens_the_overlay(zipped_page):
    at = zipped_page
    at.session_state["p_table"] = {"selection": {"rows": [2], "columns": [], "cells": []}}
    at.run()
    assert problems(at) == []
    assert len(at.image) == 2  # the image and its overlay
    assert any("digits/d2.png" in str(i.proto.imgs[0].caption) for i in at.image)
    assert sum("Prediction:" in m.value for m in at.markdown) == 1
    df = _table(at)
    pred = df.iloc[2]["prediction"]
    assert any(f"**Prediction: {pred}**" in m.value for m in at.markdown)


def test_multi_selection_with_a_bad_file(trained):
    at = app_at("predict")
    files = [(f"scan {i}.png", digit_png(i)[0], "image/png") for i in range(4)]
    files.append(("notes.png", b"this is text, not an image\n" * 10, "image/png"))
    at.file_uploader(key="p_files").set_value(files).run()
    assert not at.exception
    df = _table(at)
    assert list(df["file"]) == [f[0] for f in files]
    assert df["prediction"].notna().sum() == 4 and df.iloc[4]["error"]
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("notes.png"), errors


@pytest.mark.parametrize("data, words", [
    (b"PK\x03\x04 this is not really a zip", ["is not a readable zip archive", "Upload a .zip of images"]),
    (_zip({"readme.txt": b"hello"}), ["holds no image", "JPG"]),
], ids=["broken", "no_images"])
def test_bad_zip_gets_a_clear_message(trained, data, words):
    at = app_at("predict")
    at.file_uploader(key="p_files").set_value(("photos.zip", data, "application/zip")).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("photos.zip"), errors
    for w in words:
        assert w in errors[0], errors[0]
    assert not [d for d in at.dataframe if "prediction" in d.value.columns]


def test_the_same_image_under_two_names_gets_two_rows_and_two_details(trained):
    at = app_at("predict")
    data, _ = digit_png(4)
    at.file_uploader(key="p_files").set_value([("a.png", data, "image/png"), ("copy of a.png", data, "image/png")]).run()
    assert problems(at) == []
    assert list(_table(at)["file"]) == ["a.png", "copy of a.png"]
    assert sum("Prediction:" in m.value for m in at.markdown) == 2  # a few uploads: each detail opens at once
    assert len(at.image) == 4
