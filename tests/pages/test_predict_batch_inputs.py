"""The Predict page's zip reading (pages._predict_inputs), in memory: names that leave the archive
are refused, other files than images are skipped and counted, the number of images and the
decompressed size are capped before anything is read, damaged or encrypted members are skipped
with a message, and a file that is not a zip says so."""
from __future__ import annotations

import io
import zipfile

import pytest

from lab_pages_support import digit_png
from pages import _predict_inputs as inputs

IMG = digit_png(0)[0]


def _zip(members: dict[str, bytes], *, compression=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _texts(out) -> str:
    return "\n".join(t for _, t in out.messages)


@pytest.mark.parametrize("name, unsafe", [
    ("a.png", False), ("dir/sub/a.png", False), ("..png", False), ("a..b/c.png", False),
    ("../a.png", True), ("dir/../../a.png", True), ("/etc/a.png", True), ("C:/a.png", True), ("c:a.png", True),
    ("..\\..\\a.png", True), ("\\\\server\\a.png", True),
])
def test_member_names_that_leave_the_archive_are_unsafe(name, unsafe):
    assert inputs.unsafe_member(name) is unsafe


def test_a_zip_gives_its_images_with_their_paths_and_counts_the_rest():
    data = _zip({"clinic/a.png": IMG, "clinic/b.JPG": IMG, "notes.txt": b"x", "clinic/": b"",
                 "__MACOSX/clinic/._a.png": b"x", ".DS_Store": b"x", "../../escape.png": IMG, "/abs.png": IMG})
    out = inputs.read_inputs([("set.zip", data), ("loose.png", IMG)])
    assert [u.name for u in out.uploads] == ["clinic/a.png", "clinic/b.JPG", "loose.png"]
    assert len({u.digest for u in out.uploads}) == 1  # the same bytes, the same digest
    kinds = dict((t.split(":")[1].strip().split(" ")[0], k) for k, t in out.messages)
    assert kinds == {"2": "warning", "1": "info"}, out.messages
    assert "2 member(s) refused" in _texts(out) and "1 file(s) that are not images skipped" in _texts(out)


def test_the_number_of_images_is_capped(monkeypatch):
    monkeypatch.setattr(inputs, "MAX_ZIP_IMAGES", 3)
    out = inputs.read_inputs([("many.zip", _zip({f"{i}.png": IMG for i in range(5)}))])
    assert len(out.uploads) == 3
    assert "2 image(s) left out: at most 3 images" in _texts(out)


def test_a_zip_bomb_is_refused_from_its_directory_before_reading(monkeypatch):
    monkeypatch.setattr(inputs, "MAX_ZIP_BYTES", 5 * 2**20)
    bomb = _zip({"big.png": b"\0" * (50 * 2**20), "ok.png": IMG}, compression=zipfile.ZIP_DEFLATED)
    assert len(bomb) < 200_000
    out = inputs.read_inputs([("bomb.zip", bomb)])
    assert [u.name for u in out.uploads] == ["ok.png"]
    assert "1 image(s) left out" in _texts(out)
    assert out.total_bytes == len(IMG)


def test_a_member_over_the_per_image_limit_is_left_out(monkeypatch):
    monkeypatch.setattr(inputs, "MAX_MEMBER_BYTES", len(IMG) - 1)
    out = inputs.read_inputs([("one.zip", _zip({"a.png": IMG}))])
    assert out.uploads == []
    assert [k for k, _ in out.messages] == ["warning", "error"]
    assert "holds no image" in out.messages[-1][1]


def test_damaged_and_encrypted_members_are_skipped_with_a_message():
    data = bytearray(_zip({"a.png": IMG, "b.png": IMG}))
    at = data.find(IMG[20:60])  # a byte inside a.png's stored data: its CRC no longer matches
    data[at] ^= 0xFF
    out = inputs.read_inputs([("damaged.zip", bytes(data))])
    assert [u.name for u in out.uploads] == ["b.png"]
    assert "1 member(s) could not be decompressed" in _texts(out)
    locked = bytearray(_zip({"secret.png": IMG, "open.png": IMG}))
    for sig, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # secret.png's headers: "encrypted"
        locked[locked.find(sig) + at] |= 0x1
    out = inputs.read_inputs([("locked.zip", bytes(locked))])
    assert [u.name for u in out.uploads] == ["open.png"]
    assert "1 encrypted member(s) skipped" in _texts(out)


@pytest.mark.parametrize("data", [b"PK\x03\x04garbage", b"", b"hello"], ids=["garbage", "empty", "text"])
def test_a_file_named_zip_that_is_not_one_says_so(data):
    out = inputs.read_inputs([("photos.zip", data)])
    assert out.uploads == []
    kind, text = out.messages[0]
    assert kind == "error" and text.startswith("photos.zip is not a readable zip archive")
    assert "Upload a .zip of images (JPG, JPEG, PNG" in text
