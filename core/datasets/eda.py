"""Exploratory statistics of a Dataset as plain DataFrames and dicts (no plotting).

For on-disk datasets, sizes/modes come from file headers (cheap); pixel statistics decode a
seeded random sample of files at reduced scale (JPEG draft mode, longest side <= 256 px),
which keeps brightness fractions and means while staying fast.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.datasets.base import Dataset
from core.validation import LabError, check_number

_SKIP_META = {"id", "image_id", "path", "index"}


def _class_names(ds: Dataset, labels: np.ndarray) -> np.ndarray:
    return np.asarray(ds.class_names, dtype=object)[labels]


def _sample_positions(ds: Dataset, sample: int | None, seed: int) -> np.ndarray:
    sample = check_number("sample", sample, low=1, integer=True, allow_none=True)
    n = len(ds)
    if sample is None or sample >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=sample, replace=False))


def class_distribution(ds: Dataset, *, by_part: bool = False) -> pd.DataFrame:
    """Counts and percentages per class (every class listed, zeros included).

    Columns: label, code (when the dataset has codes), class, count, percent. With ``by_part``
    and an official split, one column of counts per official part is added.
    """
    counts = np.bincount(ds.labels, minlength=ds.num_classes)
    df = pd.DataFrame({"label": np.arange(ds.num_classes), "class": list(ds.class_names), "count": counts})
    if ds.class_codes:
        df.insert(1, "code", list(ds.class_codes))
    df["percent"] = 100.0 * df["count"] / max(int(counts.sum()), 1)
    if by_part and ds.official_split is not None:
        for part in pd.unique(np.asarray(ds.official_split)):
            m = np.asarray(ds.official_split) == part
            df[f"count_{part}"] = np.bincount(ds.labels[m], minlength=ds.num_classes)
    return df


def imbalance_ratio(ds: Dataset) -> float:
    """Largest class count / smallest class count (inf when a class has no samples)."""
    counts = np.bincount(ds.labels, minlength=ds.num_classes)
    if len(counts) == 0 or counts.max() == 0:
        return float("nan")
    return float("inf") if counts.min() == 0 else float(counts.max() / counts.min())


def group_sizes(ds: Dataset) -> pd.DataFrame:
    """Distribution of images per group (lesion/patient).

    Columns: images_per_group, groups (how many groups have that many images), images.
    ``df.attrs`` holds n_groups, group_name and mixed_class_groups (groups whose images carry
    different labels, e.g. a patient's two eyes with different grades). Empty without groups.
    """
    cols = ["images_per_group", "groups", "images"]
    if ds.groups is None:
        out = pd.DataFrame(columns=cols)
        out.attrs.update(n_groups=0, group_name=None, mixed_class_groups=0)
        return out
    g = pd.DataFrame({"g": np.asarray(ds.groups).astype(str), "y": ds.labels})
    per = g.groupby("g").agg(n=("y", "size"), k=("y", "nunique"))
    dist = per["n"].value_counts().sort_index()
    out = pd.DataFrame({"images_per_group": dist.index.astype(int), "groups": dist.to_numpy()})
    out["images"] = out["images_per_group"] * out["groups"]
    out.attrs.update(n_groups=int(len(per)), group_name=ds.group_name, mixed_class_groups=int((per["k"] > 1).sum()))
    return out


def _header(path: str) -> tuple[int, int, str, str | None]:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size[0], im.size[1], im.mode, im.format
    except Exception:  # noqa: BLE001 - unreadable files are reported as such
        return 0, 0, "unreadable", None


_MODE_CHANNELS = {"1": 1, "L": 1, "P": 3, "RGB": 3, "RGBA": 4, "CMYK": 4, "YCbCr": 3, "LA": 2, "I;16": 1, "I": 1, "F": 1}


def _pixels(ds: Dataset, i: int, max_side: int = 256) -> np.ndarray | None:
    """uint8 H x W x C pixels (reduced scale for files); None when unreadable."""
    if ds.images is not None:
        return ds.images[i]
    from PIL import Image, ImageOps

    try:
        with Image.open(ds.paths[i]) as im:
            if im.format == "JPEG":
                im.draft("RGB" if im.mode not in ("L",) else "L", (max_side, max_side))
            im = ImageOps.exif_transpose(im)
            if im.mode not in ("L", "RGB"):
                im = im.convert("RGB")
            if max(im.size) > max_side:
                im.thumbnail((max_side, max_side))
            a = np.asarray(im, dtype=np.uint8)
    except Exception:  # noqa: BLE001
        return None
    return a[..., None] if a.ndim == 2 else a


def _grey(a: np.ndarray) -> np.ndarray:
    if a.shape[-1] == 1:
        return a[..., 0].astype(np.float32)
    a = a.astype(np.float32)
    return a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114  # ITU-R 601 luma, as Pillow "L"


def image_stats(ds: Dataset, *, sample: int | None = 300, seed: int = 0) -> pd.DataFrame:
    """Per-image statistics of a seeded sample.

    Columns: id, label, class, width, height, channels (as stored), brightness (mean grey
    0-255), contrast (grey std), r_mean, g_mean, b_mean (grey images: the grey mean), readable.
    """
    pos = _sample_positions(ds, sample, seed)
    rows = []
    for i in pos:
        if ds.images is not None:
            h, w, c = ds.images.shape[1:]
        else:
            w, h, mode, _ = _header(ds.paths[i])
            c = _MODE_CHANNELS.get(mode, 3)
        a = _pixels(ds, i)
        row = {"id": ds.ids[i], "label": int(ds.labels[i]), "class": ds.class_names[ds.labels[i]],
               "width": int(w), "height": int(h), "channels": int(c), "readable": a is not None}
        if a is not None:
            g = _grey(a)
            means = a.reshape(-1, a.shape[-1]).mean(0)
            means = np.repeat(means, 3) if len(means) == 1 else means
            row.update(brightness=float(g.mean()), contrast=float(g.std()),
                       r_mean=float(means[0]), g_mean=float(means[1]), b_mean=float(means[2]))
        else:
            row.update(brightness=np.nan, contrast=np.nan, r_mean=np.nan, g_mean=np.nan, b_mean=np.nan)
        rows.append(row)
    return pd.DataFrame(rows, columns=["id", "label", "class", "width", "height", "channels", "brightness", "contrast",
                                       "r_mean", "g_mean", "b_mean", "readable"])


def brightness_histogram(ds: Dataset, *, sample: int | None = 200, bins: int = 32, seed: int = 0,
                         by_class: bool = True) -> pd.DataFrame:
    """Grey-level histogram (fraction of pixels per bin), per class or overall.

    Columns: class ("all" when by_class=False), bin_left, bin_right, fraction.
    """
    bins = check_number("bins", bins, low=2, high=256, integer=True)
    pos = _sample_positions(ds, sample, seed)
    edges = np.linspace(0, 256, bins + 1)
    acc: dict[str, np.ndarray] = {}
    for i in pos:
        a = _pixels(ds, i)
        if a is None:
            continue
        key = ds.class_names[ds.labels[i]] if by_class else "all"
        h, _ = np.histogram(_grey(a), bins=edges)
        acc[key] = acc.get(key, 0) + h
    rows = []
    order = list(ds.class_names) if by_class else ["all"]
    for key in order:
        if key not in acc:
            continue
        frac = acc[key] / max(acc[key].sum(), 1)
        rows += [{"class": key, "bin_left": float(edges[b]), "bin_right": float(edges[b + 1]), "fraction": float(frac[b])}
                 for b in range(bins)]
    return pd.DataFrame(rows, columns=["class", "bin_left", "bin_right", "fraction"])


def exposure_screening(ds: Dataset, *, sample: int | None = None, seed: int = 0, dark_level: int = 30,
                       dark_fraction: float = 0.9, bright_level: int = 225, bright_fraction: float = 0.5) -> dict:
    """Image-quality screening from grey-level histograms (report D).

    Under-exposed: at least ``dark_fraction`` (90%) of pixels in 0..``dark_level`` (30).
    Over-exposed: more than ``bright_fraction`` (most) of pixels at or above ``bright_level``.
    Returns ``{"n_screened", "thresholds", "under_exposed": DataFrame(id, class, dark_fraction),
    "over_exposed": DataFrame(id, class, bright_fraction), "table": all screened images with
    dark_fraction, bright_fraction, flag in {"under-exposed", "over-exposed", "ok", "unreadable"}}``.
    """
    dark_level = check_number("dark_level", dark_level, low=0, high=255, integer=True)
    bright_level = check_number("bright_level", bright_level, low=0, high=255, integer=True)
    dark_fraction = check_number("dark_fraction", dark_fraction, low=0.0, high=1.0)
    bright_fraction = check_number("bright_fraction", bright_fraction, low=0.0, high=1.0)
    pos = _sample_positions(ds, sample, seed)
    rows = []
    for i in pos:
        a = _pixels(ds, i)
        if a is None:
            rows.append((ds.ids[i], ds.class_names[ds.labels[i]], np.nan, np.nan, "unreadable"))
            continue
        g = np.rint(_grey(a))
        d = float((g <= dark_level).mean())
        b = float((g >= bright_level).mean())
        flag = "under-exposed" if d >= dark_fraction else "over-exposed" if b > bright_fraction else "ok"
        rows.append((ds.ids[i], ds.class_names[ds.labels[i]], d, b, flag))
    table = pd.DataFrame(rows, columns=["id", "class", "dark_fraction", "bright_fraction", "flag"])
    under = table[table["flag"] == "under-exposed"][["id", "class", "dark_fraction"]].reset_index(drop=True)
    over = table[table["flag"] == "over-exposed"][["id", "class", "bright_fraction"]].reset_index(drop=True)
    return {"n_screened": int(len(table)),
            "thresholds": {"dark_level": dark_level, "dark_fraction": dark_fraction,
                           "bright_level": bright_level, "bright_fraction": bright_fraction},
            "under_exposed": under, "over_exposed": over, "table": table}


def _meta_columns(ds: Dataset) -> list[str]:
    skip = set(_SKIP_META)
    if ds.group_name:
        skip.add(ds.group_name)
    return [c for c in ds.metadata.columns if c not in skip]


def missing_values(ds: Dataset) -> pd.DataFrame:
    """Missing values per metadata column: missing (NaN/empty), unknown (the text "unknown"), percent.

    Ages filled by ``impute_age`` still count as missing (the ``age_imputed`` flag).
    """
    meta = ds.metadata
    rows = []
    n = max(len(meta), 1)
    for col in meta.columns:
        if col == "age_imputed":
            continue
        s = meta[col]
        miss = s.isna() | (s.astype(str).str.strip() == "")
        if col == "age" and "age_imputed" in meta.columns:
            miss = miss | meta["age_imputed"].astype(bool)
        unknown = s.astype(str).str.strip().str.lower().eq("unknown") & ~miss
        rows.append({"column": col, "missing": int(miss.sum()), "unknown": int(unknown.sum()),
                     "percent": 100.0 * (int(miss.sum()) + int(unknown.sum())) / n})
    return pd.DataFrame(rows, columns=["column", "missing", "unknown", "percent"])


def load_problems(ds: Dataset) -> list[dict]:
    """What went wrong (or was changed) while loading, as sentences to show plainly.

    Returns a list of ``{"level": "warning" | "info", "message": str}``: images listed but
    absent (with the first ids), unreadable files, duplicate rows, empty class folders are
    warnings; other loader notices (e.g. ages filled in) are info.
    """
    rep = ds.report or {}
    out: list[dict] = []
    seen: set[str] = set()
    missing = int(rep.get("missing_images") or 0)
    ids = [str(i) for i in rep.get("missing_image_ids") or []]
    for note in rep.get("notices") or []:
        note = str(note)
        low = note.lower()
        level = "warning" if any(w in low for w in ("absent", "unreadable", "duplicate", "without images",
                                                     "only one class", "skipped", "ignored")) else "info"
        if "absent" in low and missing and ids:
            shown = ", ".join(ids[:5]) + (f" and {missing - 5:,} more" if missing > 5 else "")
            note += f" First missing: {shown}. Everything here (and training) uses only the images that were found."
        out.append({"level": level, "message": note})
        seen.add(low)
    bad = rep.get("unreadable") or []
    if bad and not any("unreadable" in s for s in seen):
        out.append({"level": "warning", "message": f"{len(bad)} unreadable image file(s) skipped."})
    if missing and not any("absent" in s for s in seen):
        out.append({"level": "warning", "message": f"{missing} listed image(s) are absent and were skipped."})
    return out


def group_counts(ds: Dataset) -> dict | None:
    """Groups (lesions, patients) counted two ways: ``present``, those with at least one image in
    this selection, and ``in_metadata``, every group the loader's metadata CSV lists (absent
    images and a subsample included; None when the CSV cannot be read or has no such column).
    None for a dataset without groups. HAM10000: 7,470 lesions in HAM10000_metadata.csv, 7,442 of
    them with an image in the shared reduced 200x150 folder."""
    if ds.groups is None:
        return None
    out = {"present": int(pd.unique(np.asarray(ds.groups).astype(str)).size), "in_metadata": None,
           "group_name": ds.group_name or "group", "metadata_csv": None}
    csv = (ds.report or {}).get("metadata_csv")
    if csv and ds.group_name:
        from core.datasets.common import check_inside_roots

        try:
            col = pd.read_csv(check_inside_roots(csv, what="metadata CSV"), usecols=[ds.group_name])[ds.group_name]
        except (OSError, ValueError, LookupError, LabError):  # moved, unreadable, no such column: present only
            return out
        out.update(in_metadata=int(col.dropna().astype(str).nunique()), metadata_csv=str(csv))
    return out
