"""Privacy by default: a flagged image is kept as pixels only, named by its hash, never by its file name."""
from __future__ import annotations

import hashlib
import io
import logging

import numpy as np
import pytest

from core.data.privacy import pixels_only
from core.serving.flagging import CONSENT_TEXT, delete_flag, flag_prediction, flags_dir
from core.store import Store
from core.validation import ValidationError
from privacy_support import UPLOAD_NAME, leaks_in, leaky_jpeg, secrets

NAMES = ["cat", "dog", "fox"]


@pytest.fixture()
def lab(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_MODELS_DIR", str(tmp_path / "models"))
    store = Store(f"sqlite:///{tmp_path / 'runs.db'}", models_dir=tmp_path / "models")
    rid = store.create_run({"epochs": 1}, name="a run", dataset="pets", model="small_cnn")
    yield store, rid, tmp_path
    store.close()


def _flag(store, rid, data, **kw):
    args = dict(kind="wrong", proposed_label=1, note="looks like a dog", consent=True, class_names=NAMES)
    return flag_prediction(store, rid, data, [0.7, 0.2, 0.1], **{**args, **kw})


def test_the_leaky_jpeg_really_carries_every_secret():
    data = leaky_jpeg()
    carried = {what for what, needle in secrets().items() if needle in data}
    assert {"make", "model", "date", "comment", "xmp", "icc"} <= carried
    assert any(w.startswith("gps latitude") for w in carried) and any(w.startswith("gps longitude") for w in carried)


def test_pixels_only_drops_every_metadata_and_keeps_the_pixels():
    from PIL import Image

    data = leaky_jpeg()
    img = pixels_only(data)
    assert img.sha256 == hashlib.sha256(img.png).hexdigest() and img.file_name == f"{img.sha256}.png"
    assert not [w for w, needle in secrets().items() if needle in img.png]
    with Image.open(io.BytesIO(img.png)) as png:
        assert png.format == "PNG" and not dict(png.getexif())
        assert not {"exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment", "dpi"} & set(png.info)
        assert not getattr(png, "text", {})
        with Image.open(io.BytesIO(data)) as jpg:
            assert np.array_equal(np.asarray(png), np.asarray(jpg.convert("RGB")))
    assert pixels_only(data).png == img.png  # the same pixels, the same name


def test_a_flag_keeps_pixels_named_by_their_hash_and_nothing_of_the_upload(lab, caplog):
    store, rid, root = lab
    caplog.set_level(logging.DEBUG)
    fid = _flag(store, rid, leaky_jpeg())
    f = store.get_flag(fid)
    files = sorted(p.name for p in flags_dir(store).iterdir())
    assert files == [f.image_path] == [f"{f.image_sha256}.png"]
    assert hashlib.sha256((flags_dir(store) / f.image_path).read_bytes()).hexdigest() == f.image_sha256
    assert f.probs == [0.7, 0.2, 0.1] and f.predicted == 0 and f.confidence == 0.7 and f.status == "pending"
    assert f.dataset == "pets" and f.class_names == NAMES and f.proposed_label == 1
    store.close()  # the SQLite write-ahead log checkpointed into runs.db too
    assert leaks_in(root) == []
    assert not [r for r in caplog.records if UPLOAD_NAME in r.getMessage()]


def test_flagging_without_consent_is_refused_and_stores_nothing(lab):
    store, rid, _ = lab
    for consent in (False, None, "yes"):
        with pytest.raises(ValidationError, match="consent") as err:
            _flag(store, rid, leaky_jpeg(), consent=consent)
        assert CONSENT_TEXT in str(err.value)
    assert store.list_flags() == [] and not flags_dir(store).exists()


def test_the_consent_text_says_what_is_kept():
    text = CONSENT_TEXT.lower()
    for kept in ("pixels", "run", "probabilities", "label", "note", "user account", "time", "delete"):
        assert kept in text, kept
    for removed in ("file name", "exif", "gps", "colour profile", "xmp", "comments"):
        assert removed in text, removed


def test_a_deleted_flag_takes_its_file_unless_another_flag_holds_the_same_image(lab):
    store, rid, _ = lab
    data = leaky_jpeg()
    first, second = _flag(store, rid, data), _flag(store, rid, data, kind="uncertain", proposed_label=None)
    path = flags_dir(store) / store.get_flag(first).image_path
    delete_flag(store, first)
    assert path.is_file() and [f.id for f in store.list_flags()] == [second]
    delete_flag(store, second)
    assert not path.exists() and store.list_flags() == []


def test_a_refused_flag_leaves_no_file(lab):
    store, rid, _ = lab
    with pytest.raises(ValidationError, match="class index"):
        _flag(store, rid, leaky_jpeg(), proposed_label=7)
    assert list(flags_dir(store).iterdir()) == []


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n broken"])
def test_what_is_not_an_image_is_refused_with_what_is_accepted(lab, data):
    store, rid, _ = lab
    with pytest.raises(ValidationError, match="Accepted: PNG, JPEG|give the bytes of a PNG"):
        _flag(store, rid, data)
