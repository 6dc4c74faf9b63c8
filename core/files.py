"""Files the lab writes: atomic writes (complete or absent, never partial), a writable-folder
check made before minutes of training, one-line messages for OS errors a user can fix, and the
one JSON normaliser (``jsonable``: NaN and infinities become null, numpy values plain Python).
"""
from __future__ import annotations

import dataclasses
import datetime
import errno
import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from core.validation import LabError


class OutputError(LabError):
    """A file or folder could not be written or created (permissions, full disk, missing
    folder, file-size limit). The message names the path and what to do; no partial file
    is left behind (writes go to a temporary file that is removed on failure)."""


_OS_ADVICE = {
    errno.ENOSPC: "The disk is full: free some space, or write to a folder on another disk",
    errno.EDQUOT: "Your disk quota is used up: free some space, or write to another folder",
    errno.EFBIG: "The file is larger than this system allows (see `ulimit -f`): raise the limit or write elsewhere",
    errno.EACCES: "Choose a folder you can write to, or change its permissions",
    errno.EPERM: "Choose a folder you can write to (this one does not allow it)",
    errno.EROFS: "The file system is read-only: choose a writable folder",
    errno.ENOENT: "Check the path (for an output, create its folder first)",
    errno.ENOTDIR: "A part of the path is a file, not a folder: choose another path",
    errno.EISDIR: "That path is a folder: give a file name",
    errno.EEXIST: "A file already exists where a folder is needed: choose another path",
    errno.ENAMETOOLONG: "Choose a shorter path",
}


def describe_os_error(exc: OSError, path: Any = None, action: str = "write") -> str:
    """One line for a user: what could not be done to which path, why, and what to do."""
    path = path if path is not None else (exc.filename or None)
    reason = exc.strerror or str(exc) or type(exc).__name__
    code = errno.errorcode.get(exc.errno or -1)
    advice = _OS_ADVICE.get(exc.errno, "Check the path and that its disk is writable, then try again")
    where = f" {str(path)!r}" if path is not None else ""
    return f"Cannot {action}{where}: {reason}{f' ({code})' if code else ''}. {advice}."


# OS errors of writing a file that the user can fix (full disk, quota, file-size limit, permissions)
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM, errno.EROFS})


def raise_write_error(exc: BaseException) -> None:
    """Raise the OSError of writing a file (``WRITE_ERRNOS``) found in ``exc`` or its causes, when
    there is one: a library that wrapped it (a converter, a saver) hides a condition the user can fix."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in WRITE_ERRNOS:
            raise e
        e = e.__cause__ or e.__context__


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def atomic_write(path: str | os.PathLike, write) -> None:
    """``write(tmp_path)`` into a temporary file next to ``path``, then ``os.replace`` it: the
    file is complete or absent, never partial; the temporary file is removed on any failure.
    A ``path`` that exists and is not a regular file (``/dev/stdout``, a FIFO) is written
    directly (replacing it would replace the device)."""
    path = Path(path)
    try:
        if path.is_symlink():
            path = path.resolve()
        if path.exists() and not path.is_file():
            write(path)
            return
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:  # name the file asked for, not a temporary one
        raise OSError(e.errno, e.strerror or str(e), str(path)) from e
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # the permissions of a plainly created file, not mkstemp's 0600
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno is not None:
            raise OSError(e.errno, e.strerror or str(e), str(path)) from e
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda p: Path(p).write_text(text))


def check_writable_dir(folder: str | os.PathLike, what: str = "folder") -> Path:
    """Create ``folder`` if needed and prove it is writable (a probe file, removed); an
    ``OutputError`` naming the folder otherwise -- before minutes of training, not after."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputError(describe_os_error(e, folder, f"write to the {what}")) from e
    return folder


def save_model_atomic(model, path: Path) -> None:
    tmp = path.parent / f".{path.stem}.{os.getpid()}.tmp.keras"
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON data, by the lab's one rule for every file and store column it writes:
    NaN and infinities become ``None`` (JSON null, never the non-standard ``NaN`` token); numpy
    scalars and arrays, tuples and sets become Python numbers and lists; paths and datetimes their
    text; dataclasses and objects with ``to_dict()`` their dict; dict keys become strings; anything
    else its ``repr``."""
    if obj is None or isinstance(obj, (str, bool)):
        return obj
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, (Path, datetime.datetime, datetime.date)):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(dataclasses.asdict(obj))
    if hasattr(obj, "to_dict"):
        return jsonable(obj.to_dict())
    if hasattr(obj, "item"):  # other numpy-like scalars
        try:
            return jsonable(obj.item())
        except Exception:  # noqa: BLE001
            pass
    return repr(obj)


def dumps(obj: Any, indent: int | None = 2) -> str:
    """JSON text of ``jsonable(obj)`` (strict JSON: no NaN tokens)."""
    return json.dumps(jsonable(obj), indent=indent, allow_nan=False)


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (hex), read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
