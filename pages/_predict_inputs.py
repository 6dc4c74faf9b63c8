"""The Predict page's inputs: uploaded images and zip archives of images, read in memory.

A zip is checked before anything is read from it: a member whose name leaves the archive (an
absolute path, ``..``, a drive letter) is refused, other files than images are skipped and
counted, and the number of images and the decompressed size are capped (both from the archive's
directory and while reading, so a member that lies about its size is cut off). Nothing is
written to disk. No Streamlit here: the page shows ``Inputs.messages``.
"""
from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from core.datasets.common import IMAGE_EXTENSIONS
from pages import _format

MAX_ZIP_IMAGES = 5000                   # images taken from all zips of one upload
MAX_ZIP_BYTES = 1024 * 1024 * 1024      # decompressed bytes taken from all zips of one upload
MAX_MEMBER_BYTES = 200 * 1024 * 1024    # one image in a zip (core.data.images' own limit)
ACCEPTED = ", ".join(e.lstrip(".").upper() for e in IMAGE_EXTENSIONS)


@dataclass
class Upload:
    """One image to predict: the user's own name (a zip member keeps its path inside the zip)."""

    name: str
    data: bytes
    digest: str


@dataclass
class Inputs:
    uploads: list[Upload] = field(default_factory=list)
    messages: list[tuple[str, str]] = field(default_factory=list)  # (kind: "error"|"warning"|"info", text)
    total_bytes: int = 0


def upload(name: str, data: bytes) -> Upload:
    return Upload(name, data, hashlib.sha256(data).hexdigest())


def is_zip(name: str, data: bytes) -> bool:
    return name.lower().endswith(".zip") or data[:4] == b"PK\x03\x04"


def read_inputs(files: list[tuple[str, bytes]]) -> Inputs:
    """The images of the uploaded files: images as they are (a bad one gets its error row later),
    zip archives opened in memory."""
    out = Inputs()
    for name, data in files:
        if is_zip(name, data):
            _read_zip(name, data, out)
        else:
            out.uploads.append(upload(name, data))
    return out


def unsafe_member(name: str) -> bool:
    """A member name that would leave a folder it is extracted to (or names a device)."""
    n = name.replace("\\", "/")
    parts = PurePosixPath(n).parts
    return n.startswith("/") or (len(n) > 1 and n[1] == ":") or ".." in parts or "\x00" in n


def _skipped_member(info: zipfile.ZipInfo) -> bool:
    """Folders and the archivers' own files (``__MACOSX/``, ``._x``, ``.DS_Store``): skipped without a count."""
    parts = info.filename.replace("\\", "/").split("/")
    return info.is_dir() or parts[0] == "__MACOSX" or parts[-1].startswith(".")


def _read_zip(name: str, data: bytes, out: Inputs) -> None:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as err:
        out.messages.append(("error", f"{name} is not a readable zip archive ({err}). Upload a .zip of images "
                                      f"({ACCEPTED}) or the images themselves."))
        return
    counts = {"refused": 0, "skipped": 0, "over": 0, "encrypted": 0, "broken": 0, "taken": 0}
    with zf:
        for info in infos:
            _read_member(zf, info, counts, out)
    _zip_messages(name, counts, out)


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, counts: dict, out: Inputs) -> None:
    if _skipped_member(info):
        return
    if unsafe_member(info.filename):
        counts["refused"] += 1
        return
    if PurePosixPath(info.filename.replace("\\", "/")).suffix.lower() not in IMAGE_EXTENSIONS:
        counts["skipped"] += 1
        return
    if info.flag_bits & 0x1:
        counts["encrypted"] += 1
        return
    left = MAX_ZIP_BYTES - out.total_bytes
    if len(out.uploads) >= MAX_ZIP_IMAGES or info.file_size > min(left, MAX_MEMBER_BYTES):
        counts["over"] += 1
        return
    try:
        with zf.open(info) as fh:
            data = fh.read(min(left, MAX_MEMBER_BYTES) + 1)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError, RuntimeError):
        counts["broken"] += 1
        return
    if len(data) > min(left, MAX_MEMBER_BYTES):  # its header understated its size
        counts["over"] += 1
        return
    out.total_bytes += len(data)
    out.uploads.append(upload(info.filename.replace("\\", "/"), data))
    counts["taken"] += 1


def _zip_messages(name: str, c: dict, out: Inputs) -> None:
    if c["refused"]:
        out.messages.append(("warning", f"{name}: {c['refused']} member(s) refused: their names leave the archive "
                                        "(an absolute path or '..'). Only plain relative names are read."))
    if c["encrypted"]:
        out.messages.append(("warning", f"{name}: {c['encrypted']} encrypted member(s) skipped: password-protected "
                                        "zips are not read."))
    if c["broken"]:
        out.messages.append(("warning", f"{name}: {c['broken']} member(s) could not be decompressed (a damaged "
                                        "archive or an unsupported compression method) and were skipped."))
    if c["over"]:
        out.messages.append(("warning", f"{name}: {c['over']} image(s) left out: at most "
                                        f"{_format.plural(MAX_ZIP_IMAGES, 'image')} "
                                        f"and {MAX_ZIP_BYTES // 2**20} MB decompressed are read from zips, "
                                        f"{MAX_MEMBER_BYTES // 2**20} MB per image."))
    if c["skipped"]:
        out.messages.append(("info", f"{name}: {c['skipped']} file(s) that are not images skipped "
                                     f"(read: {ACCEPTED})."))
    if not c["taken"]:
        out.messages.append(("error", f"{name} holds no image the lab reads ({ACCEPTED}). Put the images "
                                      "in the zip (folders inside it are fine) and upload it again."))
