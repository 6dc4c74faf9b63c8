"""Is an external image set really external? Its images checked against a run's own training,
validation and test images before anything is scored.

By lesion or patient id when both sides have that id (HAM10000 ``lesion_id``, fundus
``patient_id``); otherwise by a near-duplicate image fingerprint that does not depend on the
resolution or the JPEG encoding: a 64-bit difference hash (dHash: 9x8 grayscale, is each pixel
brighter than its right neighbour) to find candidates, confirmed by the correlation of 16x16
grayscale thumbnails. Both are computed on a grayscale reduction of the whole image, so a photo and
its downscaled, re-encoded copy match while two different lesions on a similar skin do not
(thresholds checked on HAM10000: the 42 originals at 600x450 against their 200x150 re-encoded copies
differ in at most 5 bits and correlate at 0.995 or more; the closest photo of another lesion
correlates at 0.952, and among 1,400 x 9,959 pairs of the reduced set no two lesions pass both).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: a pair is a near duplicate when the dHash differs in at most this many of 64 bits ...
MAX_HASH_BITS = 8
#: ... and the 16x16 grayscale thumbnails correlate at least this much
MIN_THUMB_CORRELATION = 0.99
THUMB = 16
SPLITS = ("train", "val", "test")


def fingerprint(path: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(dHash bits (64,) bool, normalised 16x16 thumbnail (256,) float32) of an image file; None when
    it cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.draft("L", (64, 64))  # JPEG: decode at a reduced scale, plenty for a 16x16 thumbnail
            g = im.convert("L")
            small = np.asarray(g.resize((THUMB, THUMB), Image.Resampling.BOX), dtype=np.float32)
            d = np.asarray(g.resize((9, 8), Image.Resampling.BOX), dtype=np.float32)
    except (OSError, ValueError):
        return None
    return _from_arrays(small, d)


def fingerprint_array(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same fingerprint of an in-memory uint8 image (H x W or H x W x C)."""
    from PIL import Image

    a = np.asarray(img)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    g = Image.fromarray(a.astype(np.uint8)).convert("L")
    small = np.asarray(g.resize((THUMB, THUMB), Image.Resampling.BOX), dtype=np.float32)
    d = np.asarray(g.resize((9, 8), Image.Resampling.BOX), dtype=np.float32)
    return _from_arrays(small, d)


def _from_arrays(small: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bits = (d[:, 1:] > d[:, :-1]).reshape(-1)
    v = small.reshape(-1) - small.mean()
    norm = float(np.linalg.norm(v))
    return bits, (v / norm if norm > 0 else v).astype(np.float32)


def fingerprints(ds, *, progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bits (N, 64), thumbnails (N, 256), readable (N,)) of every image of a dataset."""
    n = len(ds)
    bits = np.zeros((n, 64), dtype=bool)
    thumbs = np.zeros((n, THUMB * THUMB), dtype=np.float32)
    ok = np.zeros(n, dtype=bool)
    for i in range(n):
        fp = fingerprint_array(ds.images[i]) if ds.in_memory else fingerprint(str(ds.paths[i]))
        if fp is not None:
            bits[i], thumbs[i], ok[i] = fp[0], fp[1], True
        if progress is not None and (i % 500 == 0 or i == n - 1):
            progress(i + 1, n)
    return bits, thumbs, ok


def near_duplicates(a_bits: np.ndarray, a_thumbs: np.ndarray, b_bits: np.ndarray, b_thumbs: np.ndarray,
                    a_ok: np.ndarray | None = None, b_ok: np.ndarray | None = None,
                    chunk: int = 256) -> list[tuple[int, int, int, float]]:
    """For each image of A with a near duplicate in B: (index in A, index of its best match in B,
    dHash bits apart, thumbnail correlation)."""
    a_ok = np.ones(len(a_bits), bool) if a_ok is None else a_ok
    b_ok = np.ones(len(b_bits), bool) if b_ok is None else b_ok
    out = []
    if len(b_bits) == 0:
        return out
    b_int = b_bits.astype(np.int16)
    for s in range(0, len(a_bits), chunk):
        ai = a_bits[s:s + chunk].astype(np.int16)
        ham = ai.sum(1)[:, None] + b_int.sum(1)[None, :] - 2 * (ai @ b_int.T)  # bits apart
        corr = a_thumbs[s:s + chunk] @ b_thumbs.T
        good = (ham <= MAX_HASH_BITS) & (corr >= MIN_THUMB_CORRELATION) & b_ok[None, :]
        for r in np.flatnonzero(good.any(1)):
            if not a_ok[s + r]:
                continue
            cand = np.flatnonzero(good[r])
            j = int(cand[np.argmax(corr[r, cand])])
            out.append((s + int(r), j, int(ham[r, j]), float(corr[r, j])))
    return out


def split_of(run_ds, split) -> np.ndarray:
    """The split ("train"/"val"/"test", "" when in none) of every sample of the run's dataset."""
    where = np.full(len(run_ds), "", dtype=object)
    for name in SPLITS:
        ids = list(getattr(split, name))
        if not ids:
            continue
        pos = run_ds.index_of(ids)
        where[pos] = name
    return where


def by_group(ext_ds, run_ds, where: np.ndarray) -> dict[str, Any]:
    """Overlap by the group id both datasets carry (lesion_id / patient_id)."""
    first: dict[str, tuple[str, str]] = {}
    for g, split, i in zip(np.asarray(run_ds.groups).astype(str), where, run_ds.ids):
        if split and g not in first:
            first[g] = (split, str(i))
    items = []
    for k, g in enumerate(np.asarray(ext_ds.groups).astype(str)):
        if g in first:
            split, _ = first[g]
            items.append({"index": k, "split": split, "match": g})
    return _result(ext_ds.group_name, items)


def by_image_hash(ext_fp, run_ds, where: np.ndarray, *,
                  progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Overlap by near-duplicate images (``near_duplicates``) between the external set and the run's
    training, validation and test images."""
    used = np.flatnonzero(where != "")
    run_fp = fingerprints(run_ds.subset(used, by="position"), progress=progress)
    pairs = near_duplicates(ext_fp[0], ext_fp[1], run_fp[0], run_fp[1], ext_fp[2], run_fp[2])
    items = [{"index": int(i), "split": str(where[used[j]]), "match": str(run_ds.ids[used[j]]),
              "hash_bits_apart": bits, "correlation": round(corr, 4)} for i, j, bits, corr in pairs]
    return _result("image_hash", items)


def _result(by: str, items: list[dict]) -> dict[str, Any]:
    counts = {s: sum(1 for it in items if it["split"] == s) for s in SPLITS}
    return {"by": by, "counts": counts, "items": sorted(items, key=lambda it: it["index"])}


def overlap_sentence(overlap: dict[str, Any], n_total: int) -> str:
    c = overlap.get("counts") or {}
    n = sum(c.values())
    how = {"image_hash": "near-duplicate image check"}.get(overlap.get("by"), f"checked by {overlap.get('by')}")
    if not n:
        return f"No overlap with the run's own images found ({how}, {n_total} image(s) checked)."
    parts = ", ".join(f"{c.get(s, 0)} in {name}" for s, name in
                      (("train", "training"), ("val", "validation"), ("test", "test")))
    return (f"{n} of {n_total} image(s) overlap the run's own data ({how}): {parts}. They were left out of the "
            "external figures.")


def check_overlap(ext_ds, run_ds, split, *, ext_fp=None, progress=None) -> dict[str, Any]:
    """The overlap record (``core.store.external``): by group id when both sides have the same kind of
    group id, else by image hash (``ext_fp``: the external set's ``fingerprints``)."""
    where = split_of(run_ds, split)
    if ext_ds.group_name and ext_ds.group_name == run_ds.group_name and ext_ds.groups is not None \
            and run_ds.groups is not None:
        return by_group(ext_ds, run_ds, where)
    if ext_fp is None:
        ext_fp = fingerprints(ext_ds)
    return by_image_hash(ext_fp, run_ds, where, progress=progress)


def overlapping_indices(overlap: dict[str, Any]) -> Sequence[int]:
    return sorted({int(it["index"]) for it in overlap.get("items") or []})
