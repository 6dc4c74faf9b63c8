"""Helpers shared by the dataset loaders: path checks, subsampling, file scanning."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from core.config import get_settings
from core.validation import DatasetError, ValidationError, check_number

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")


def inside_roots(real: Path, roots) -> bool:
    """Whether the resolved path ``real`` is one of ``roots`` or below one (no roots: anything goes)."""
    return not roots or any(real == r or r in real.parents for r in roots)


def _roots_text(roots) -> str:
    return f"Allowed data roots (LAB_DATA_ROOTS): {', '.join(str(r) for r in roots)}."


def check_inside_roots(path, *, what: str = "file", roots=None) -> Path:
    """The real path of ``path`` (symlinks resolved); DatasetError when it is outside ``LAB_DATA_ROOTS``.

    Call it on every file the lab reads and every folder it walks: a path inside a data root
    may be a symbolic link to somewhere else.
    """
    roots = get_settings().data_roots if roots is None else roots
    real = Path(os.path.realpath(os.fspath(path)))
    if not inside_roots(real, roots):
        via = f" (a link to {str(real)!r})" if str(real) != os.path.abspath(os.fspath(path)) else ""
        raise DatasetError(
            f"The {what} {os.fspath(path)!r}{via} is outside the folders this lab may read. {_roots_text(roots)} "
            "Move or copy the files into a data root, or remove the link."
        )
    return real


def check_path(path, *, what: str = "dataset folder", must_be: str = "dir") -> Path:
    """Resolve ``path``; refuse it when outside ``LAB_DATA_ROOTS`` or missing.

    ``must_be`` is "dir" or "file".
    """
    if path is None or (isinstance(path, str) and not path.strip()):
        raise ValidationError(f"The 'path' parameter is required: give the {what}.")
    if not isinstance(path, (str, os.PathLike)):
        raise ValidationError(f"The 'path' parameter must be a folder path (str). Got {path!r} ({type(path).__name__}) instead.")
    p = Path(path).expanduser().resolve()
    roots = get_settings().data_roots
    if not inside_roots(p, roots):
        raise DatasetError(f"The {what} {str(p)!r} is outside the folders this lab may read. {_roots_text(roots)}")
    if not p.exists():
        raise DatasetError(f"The {what} {str(p)!r} does not exist.")
    if must_be == "dir" and not p.is_dir():
        raise DatasetError(f"The {what} {str(p)!r} is not a folder.")
    if must_be == "file" and not p.is_file():
        raise DatasetError(f"The {what} {str(p)!r} is not a file.")
    return p


def check_max_per_class(max_per_class) -> int | None:
    return check_number("max_per_class", max_per_class, low=1, integer=True, allow_none=True)


def subsample_positions(labels: np.ndarray, max_per_class: int | None, parts: np.ndarray | None = None,
                        seed: int = 0) -> np.ndarray:
    """Positions keeping at most ``max_per_class`` samples of each class within each part.

    Deterministic (seeded permutation); the original order is kept.
    """
    n = len(labels)
    if max_per_class is None:
        return np.arange(n)
    parts = np.zeros(n, dtype=object) if parts is None else np.asarray(parts)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    keep = np.zeros(n, dtype=bool)
    counts: dict[tuple, int] = {}
    for i in perm:
        key = (parts[i], int(labels[i]))
        c = counts.get(key, 0)
        if c < max_per_class:
            keep[i] = True
            counts[key] = c + 1
    return np.flatnonzero(keep)


def walk_images(folder: Path, *, what: str = "dataset folder") -> list[tuple[Path, Path]]:
    """``(path as found under folder, real path)`` of every image file below ``folder``.

    Recursive, in a stable order (a folder's files sorted, then its subfolders sorted);
    symbolic links to folders are followed once (no cycles). Every folder walked and every
    file found is resolved and checked against ``LAB_DATA_ROOTS``: when anything leads
    outside the roots the whole walk is refused with a DatasetError naming the paths.
    """
    roots = get_settings().data_roots
    out: list[tuple[Path, Path]] = []
    outside: list[tuple[str, str]] = []
    seen: set[str] = set()

    def walk(shown: Path, real: str) -> None:
        if real in seen:
            return
        seen.add(real)
        try:
            entries = sorted(os.scandir(real), key=lambda e: e.name)
        except OSError:
            return
        subdirs = []
        for e in entries:
            try:
                is_dir = e.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                subdirs.append(e)
            elif e.name.lower().endswith(IMAGE_EXTENSIONS) and not e.name.startswith("."):
                # ``real`` is inside the roots: only a link can lead out of it
                if not e.is_symlink():
                    out.append((shown / e.name, Path(e.path)))
                    continue
                rp = os.path.realpath(e.path)
                if inside_roots(Path(rp), roots):
                    out.append((shown / e.name, Path(rp)))
                else:
                    outside.append((str(shown / e.name), rp))
        for e in subdirs:
            rp = os.path.realpath(e.path) if e.is_symlink() else e.path
            if inside_roots(Path(rp), roots):
                walk(shown / e.name, rp)
            else:
                outside.append((str(shown / e.name), rp))

    start = os.path.realpath(os.fspath(folder))
    if not inside_roots(Path(start), roots):
        outside.append((str(folder), start))
    else:
        walk(Path(folder), start)
    if outside:
        first = "; ".join(f"{a!r} -> {b!r}" for a, b in outside[:3])
        raise DatasetError(
            f"The {what} {str(folder)!r} leads outside the folders this lab may read: {len(outside)} "
            f"link(s) to files or folders elsewhere ({first}{'; ...' if len(outside) > 3 else ''}). "
            f"{_roots_text(roots)} Nothing was loaded: replace the links by the files themselves or "
            "move their targets into a data root."
        )
    return out


def scan_images(folder: Path, *, what: str = "dataset folder") -> dict[str, Path]:
    """Map of file stem -> real path of all image files under ``folder`` (see :func:`walk_images`).

    Duplicated stems keep the first path in walking order.
    """
    out: dict[str, Path] = {}
    for shown, real in walk_images(folder, what=what):
        out.setdefault(shown.name.rsplit(".", 1)[0], real)
    return out


def check_readable(paths) -> tuple[np.ndarray, list[dict]]:
    """Cheap readability check of image files (header parse + size, no full decode).

    Returns a boolean mask of readable files and a list of ``{"path", "error"}`` for the others.
    A zero-byte file, a non-image, or a JPEG without its end marker counts as unreadable.
    """
    from PIL import Image

    ok = np.ones(len(paths), dtype=bool)
    bad: list[dict] = []
    for i, p in enumerate(paths):
        err = None
        try:
            size = os.path.getsize(p)
            if size == 0:
                err = "empty file (0 bytes)"
            else:
                with Image.open(p) as im:
                    w, h = im.size
                    fmt = im.format
                if w <= 0 or h <= 0:
                    err = "image has no pixels"
                elif fmt == "JPEG":
                    with open(p, "rb") as fh:
                        fh.seek(max(0, size - 64))
                        tail = fh.read()
                    if b"\xff\xd9" not in tail:
                        err = "truncated JPEG (no end-of-image marker)"
        except Exception as e:  # noqa: BLE001 - any decode failure means unreadable
            err = f"{type(e).__name__}: {e}"
        if err:
            ok[i] = False
            bad.append({"path": str(p), "error": err})
    return ok, bad


# ---------------------------------------------------------------------------------- left-out ids
EXCLUDE_IDS_PARAM = ("file of image or group ids (lesion_id, patient_id) to leave out, one per line: "
                     "a hold-out set that training must never see")


def read_exclude_ids(path) -> tuple[str, set[str]]:
    """(the file's resolved path, the ids it lists): one id per line (or the first column of a CSV
    line); blank lines and lines starting with '#' ignored; a file extension on an id is dropped."""
    p = check_path(path, what="file of ids to leave out (exclude_ids)", must_be="file")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"The file of ids to leave out {str(p)!r} cannot be read as text ({e}). "
                           "Expected one image or lesion/patient id per line.") from None
    ids = set()
    for line in text.splitlines():
        v = line.split(",")[0].strip().strip('"')
        if not v or v.startswith("#"):
            continue
        ids.add(v.rsplit(".", 1)[0] if v.lower().endswith(IMAGE_EXTENSIONS) else v)
    if not ids:
        raise DatasetError(f"The file of ids to leave out {str(p)!r} lists no id. Expected one image or "
                           "lesion/patient id per line.")
    return str(p), ids


def excluded_mask(exclude: set[str], ids, groups=None) -> np.ndarray:
    """True for the samples whose id (or the id's last path part) or group is listed in ``exclude``."""
    ids = np.asarray(ids).astype(str)
    base = np.array([i.rsplit("/", 1)[-1] for i in ids])
    out = np.isin(ids, list(exclude)) | np.isin(base, list(exclude))
    if groups is not None:
        out |= np.isin(np.asarray(groups).astype(str), list(exclude))
    return out


def apply_exclusions(exclude_ids, ids, groups, report: dict) -> tuple[np.ndarray, str | None]:
    """(positions to keep, the file's path or None) for a loader's ``exclude_ids`` parameter; the
    count left out and the ids listed that matched nothing go to ``report``."""
    n = len(ids)
    if exclude_ids is None or (isinstance(exclude_ids, str) and not exclude_ids.strip()):
        return np.arange(n), None
    path, listed = read_exclude_ids(exclude_ids)
    drop = excluded_mask(listed, ids, groups)
    seen = set(np.asarray(ids).astype(str)[drop]) | {i.rsplit("/", 1)[-1] for i in np.asarray(ids).astype(str)[drop]}
    if groups is not None:
        seen |= set(np.asarray(groups).astype(str)[drop])
    report["excluded"] = {"file": path, "listed": len(listed), "images_left_out": int(drop.sum()),
                          "ids_not_found": len(listed - seen)}
    report.setdefault("notices", []).append(
        f"{int(drop.sum())} image(s) left out as listed in {path} ({len(listed)} id(s) listed, "
        f"{len(listed - seen)} matched no image).")
    return np.flatnonzero(~drop), path
