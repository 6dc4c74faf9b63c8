"""Helpers shared by the dataset loaders: path checks, subsampling, file scanning."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..config import get_settings
from ..validation import DatasetError, ValidationError, check_number

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")


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
    if roots and not any(p == r or r in p.parents for r in roots):
        raise DatasetError(
            f"The {what} {str(p)!r} is outside the folders this lab may read. "
            f"Allowed data roots (LAB_DATA_ROOTS): {', '.join(str(r) for r in roots)}."
        )
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


def scan_images(folder: Path) -> dict[str, Path]:
    """Map of file stem -> path for all image files under ``folder`` (recursive).

    Duplicated stems keep the first path in sorted order.
    """
    out: dict[str, Path] = {}
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for f in sorted(files):
            if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."):
                stem = f.rsplit(".", 1)[0]
                out.setdefault(stem, Path(root) / f)
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
