"""Datasets made of reviewed flags: versioned, labelled, usable by Train.

    v = export_flags(store, "ham10000")     # FlagDatasetVersion("flags-ham10000-v1", 1, path, ...)
    load_dataset("flags-ham10000-v1")       # alone
    TrainConfig(dataset={"name": "ham10000", ...}, extra_train="flags-ham10000-v1")  # added to training only

An export copies the image of every accepted or relabelled flag of a dataset into a folder of
its own, ``<models_dir>/flag_datasets/flags-<dataset>-v<N>/<class>/<sha256>.png``, with
``manifest.json``: the source dataset, the version, the date, the class names, the flag ids and
the sha256 of every image. The version keeps its own copy: deleting a flag later does not change
it. Versions are registered in the dataset registry when found (``register_flag_versions``,
called by the catalog), so the Train page lists them.

Added to a dataset's training part (``add_extra_train``), a version's images join the training
part only, after the split: that dataset's validation and test parts stay exactly the ones a run
without them gets. An image whose pixels equal one of those parts' images is left out.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.datasets.base import DATASETS, Dataset, register_dataset
from core.validation import DatasetError, ValidationError

FLAG_DATASETS_SUBDIR = "flag_datasets"
MANIFEST = "manifest.json"
_NAME = re.compile(r"^flags-(?P<dataset>[A-Za-z0-9_.-]+)-v(?P<version>[0-9]+)$")


@dataclass(frozen=True)
class FlagDatasetVersion:
    name: str               # "flags-<dataset>-v<N>"
    version: int
    path: Path
    n_images: int
    manifest_sha256: str


def flag_datasets_root(models_dir: str | os.PathLike | None = None) -> Path:
    """``<models_dir>/flag_datasets`` (LAB_MODELS_DIR without a folder given)."""
    if models_dir is None:
        from core.config import get_settings

        models_dir = get_settings().models_dir
    return Path(models_dir) / FLAG_DATASETS_SUBDIR


def version_name(dataset: str, version: int) -> str:
    return f"flags-{dataset}-v{int(version)}"


def _safe_folder(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._") or "class"
    out, i = base, 2
    while out in taken:
        out, i = f"{base}_{i}", i + 1
    taken.add(out)
    return out


def _reviewed(store, dataset: str) -> tuple[list, list[str]]:
    flags = store.list_flags(status=["accepted", "relabelled"], dataset=dataset)
    if not flags:
        raise ValidationError(f"No accepted or relabelled flag of dataset {dataset!r} to export. Review its flags "
                              "first (python -m core flags review ID --accept|--relabel CLASS).")
    names = flags[0].class_names
    other = sorted({f.id for f in flags if f.class_names != names})
    if other:
        raise ValidationError(f"Flags {', '.join(map(str, other[:10]))} of {dataset!r} have other class names than "
                              f"flag {flags[0].id} ({', '.join(names)}); a version holds one set of classes. "
                              "Reject or delete the flags of the other class set and export again.")
    return flags, list(names)


def _images(flags) -> tuple[dict[str, dict], list[dict]]:
    """sha256 -> {label, flag_ids}; and the images left out (reviewers gave one image two labels)."""
    by_sha: dict[str, dict] = {}
    for f in sorted(flags, key=lambda f: f.id):
        by_sha.setdefault(f.image_sha256, {"labels": set(), "flag_ids": []})
        by_sha[f.image_sha256]["labels"].add(int(f.final_label))
        by_sha[f.image_sha256]["flag_ids"].append(int(f.id))
    conflicts = [{"sha256": s, "flag_ids": v["flag_ids"], "labels": sorted(v["labels"])}
                 for s, v in by_sha.items() if len(v["labels"]) > 1]
    keep = {s: {"label": next(iter(v["labels"])), "flag_ids": v["flag_ids"]}
            for s, v in by_sha.items() if len(v["labels"]) == 1}
    return keep, conflicts


def _write_version(tmp: Path, src_dir: Path, images: dict[str, dict], names: list[str], head: dict) -> dict:
    taken: set[str] = set()
    folders = [_safe_folder(n, taken) for n in names]
    for f in folders:
        (tmp / f).mkdir(parents=True)
    entries = []
    for sha, info in sorted(images.items(), key=lambda kv: (kv[1]["label"], kv[0])):
        src = src_dir / f"{sha}.png"
        data = src.read_bytes() if src.is_file() else b""
        if hashlib.sha256(data).hexdigest() != sha:
            raise DatasetError(f"The image of flag(s) {info['flag_ids']} is missing or changed ({src}); "
                               "delete those flags or restore the file, then export again.")
        rel = f"{folders[info['label']]}/{sha}.png"
        (tmp / rel).write_bytes(data)
        entries.append({"file": rel, "sha256": sha, "label": info["label"], "class": names[info["label"]],
                        "flag_ids": info["flag_ids"]})
    manifest = {**head, "class_names": names, "class_folders": folders, "n_images": len(entries),
                "flag_ids": sorted(i for e in entries for i in e["flag_ids"]), "images": entries}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def export_flags(store, dataset: str, *, decided_by: int | None = None) -> FlagDatasetVersion:
    """Export the accepted and relabelled flags of ``dataset`` as its next version (1, 2, ...):
    class folders and a manifest with the sha256 of every image; recorded in the store and
    registered for Train. ``store`` may be a GuardedStore (the right "review_flags")."""
    from core.data.privacy import flag_images_dir

    can = getattr(store, "can", None)  # a GuardedStore: a refusal before anything is read or written
    if can is not None and not can("review_flags"):
        store.authorize("review_flags", target=f"dataset:{dataset}")  # records the denial and raises it
    flags, names = _reviewed(store, dataset)
    images, conflicts = _images(flags)
    if not images:
        raise ValidationError(f"Every reviewed image of {dataset!r} was given two different labels "
                              f"(flags {', '.join(str(i) for c in conflicts for i in c['flag_ids'])}); "
                              "relabel them to one class and export again.")
    root = flag_datasets_root(store.models_dir)
    root.mkdir(parents=True, exist_ok=True)
    version = store.next_flag_dataset_version(dataset)
    while (root / version_name(dataset, version)).exists():
        version += 1
    name = version_name(dataset, version)
    head = {"name": name, "dataset": dataset, "version": version, "domain": _domain(dataset),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"), "left_out_conflicting_labels": conflicts}
    final = root / name
    tmp = root / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        manifest = _write_version(tmp, flag_images_dir(store.models_dir), images, names, head)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    msha = hashlib.sha256((final / MANIFEST).read_bytes()).hexdigest()
    try:
        store.add_flag_dataset(name=name, dataset=dataset, version=version, path=str(final),
                               n_images=manifest["n_images"], manifest_sha256=msha, flag_ids=manifest["flag_ids"],
                               created_by=decided_by)
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)
        raise
    register_flag_versions(root)
    return FlagDatasetVersion(name, version, final, int(manifest["n_images"]), msha)


def _domain(dataset: str) -> str:
    return DATASETS.get(dataset).meta.get("domain", "general") if dataset in DATASETS else "general"


# ---------------------------------------------------------------------------- registry and loading
def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    p = Path(folder) / MANIFEST
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(f"The flag dataset folder {str(folder)!r} has no readable {MANIFEST} ({exc}).") from None


def load_flag_version(folder: str | os.PathLike, *, max_per_class: int | None = None) -> Dataset:
    """The images of an exported flag dataset version (file paths, labels from its manifest);
    DatasetError when an image is missing or its sha256 differs from the manifest."""
    folder = Path(folder)
    m = read_manifest(folder)
    rows = list(m.get("images") or [])
    if max_per_class is not None:
        count: dict[int, int] = {}
        kept = []
        for r in rows:
            count[r["label"]] = count.get(r["label"], 0) + 1
            if count[r["label"]] <= max_per_class:
                kept.append(r)
        rows = kept
    paths = [folder / r["file"] for r in rows]
    from core.files import file_sha256

    bad = [r["file"] for r, p in zip(rows, paths) if not p.is_file() or file_sha256(p) != r["sha256"]]
    if bad:
        raise DatasetError(f"{len(bad)} image(s) of {m.get('name')!r} are missing or changed (first: {bad[0]}); "
                           "a version is kept as exported: export a new version instead.")
    ids = [f"flag-{r['sha256'][:16]}" for r in rows]
    return Dataset(
        name=m["name"], class_names=list(m["class_names"]), ids=np.array(ids, dtype=str),
        labels=np.array([int(r["label"]) for r in rows], dtype=np.int64),
        paths=np.array([str(p) for p in paths], dtype=str),
        metadata=pd.DataFrame({"id": ids, "sha256": [r["sha256"] for r in rows],
                               "flag_ids": [",".join(map(str, r["flag_ids"])) for r in rows]}),
        domain=m.get("domain", "general"),
        spec={"name": m["name"], "params": {} if max_per_class is None else {"max_per_class": max_per_class},
              "version": int(m["version"]), "source_dataset": m["dataset"]},
        report={"source": str(folder), "n_loaded": len(rows), "created_at": m.get("created_at")},
    )


def register_flag_versions(root: str | os.PathLike | None = None) -> list[str]:
    """Register every exported version under ``root`` (``flag_datasets_root()``) not registered
    yet, and forget the versions registered from another folder or deleted since; returns the
    names registered now. Cheap (one folder listing)."""
    root = Path(root) if root is not None else flag_datasets_root()
    for name in DATASETS.names():  # versions of another lab folder, or deleted: forgotten
        src = DATASETS.get(name).meta.get("flag_source")
        if src and (Path(src["path"]).parent.resolve() != root.resolve() or not (Path(src["path"]) / MANIFEST).is_file()):
            DATASETS.unregister(name)
    if not root.is_dir():
        return []
    new = []
    for folder in sorted(root.iterdir()):
        m = _NAME.match(folder.name)
        if not m or folder.name in DATASETS or not (folder / MANIFEST).is_file():
            continue
        _register(folder, m["dataset"], int(m["version"]))
        new.append(folder.name)
    return new


def _register(folder: Path, dataset: str, version: int) -> None:
    def load(*, max_per_class: int | None = None) -> Dataset:
        return load_flag_version(folder, max_per_class=max_per_class)

    register_dataset(
        folder.name, title=f"Flags of {dataset}, version {version}",
        description=f"Images of {dataset} predictions that were flagged and accepted or relabelled by a reviewer "
                    f"(exported version {version}); add it to {dataset}'s training part with extra_train.",
        domain=_domain(dataset), params={"max_per_class": "at most this many images per class"},
        train_defaults=dict(DATASETS.get(dataset).meta.get("train_defaults") or {}) if dataset in DATASETS else None,
    )(load)
    DATASETS.get(folder.name).meta["flag_source"] = {"dataset": dataset, "version": version, "path": str(folder)}


def flag_source(name: str) -> dict | None:
    """``{"dataset", "version", "path"}`` of a registered flag dataset version; None for another dataset."""
    if name not in DATASETS:
        register_flag_versions()
    return DATASETS.get(name).meta.get("flag_source") if name in DATASETS else None


# ---------------------------------------------------------------------------- added to a training part
def _as_arrays(extra: Dataset, like: np.ndarray) -> np.ndarray:
    """The extra images decoded to the shape and channels of the in-memory images ``like``."""
    from PIL import Image

    h, w, c = like.shape[1], like.shape[2], (like.shape[3] if like.ndim == 4 else 1)
    out = np.empty((len(extra), *like.shape[1:]), dtype=np.uint8)
    for i, p in enumerate(extra.paths):
        with Image.open(p) as im:
            im = im.convert("L" if c == 1 else "RGB")
            if im.size != (w, h):
                im = im.resize((w, h), Image.Resampling.BILINEAR)
            out[i] = np.asarray(im, dtype=np.uint8).reshape(like.shape[1:])
    return out


def _concat(a: Dataset, b: Dataset, b_images: np.ndarray | None) -> Dataset:
    def cat(x, y):
        return None if x is None else np.concatenate([np.asarray(x), np.asarray(y)])

    return Dataset(
        name=a.name, class_names=list(a.class_names), ids=cat(a.ids, b.ids), labels=cat(a.labels, b.labels),
        images=cat(a.images, b_images) if a.in_memory else None, paths=None if a.in_memory else cat(a.paths, b.paths),
        metadata=pd.concat([a.metadata, b.metadata], ignore_index=True),
        groups=cat(a.groups, b.ids), group_name=a.group_name,
        official_split=cat(a.official_split, np.full(len(b), "train")), class_codes=a.class_codes,
        ordinal=a.ordinal, domain=a.domain, spec=dict(a.spec), report=dict(a.report),
    )


def _pixel_key(x: np.ndarray) -> bytes:
    x = np.ascontiguousarray(x)
    return hashlib.sha256(repr(x.shape).encode() + x.tobytes()).digest()


def _not_held_out(extra: Dataset, arrays: np.ndarray | None, held_out: list[Dataset]) -> np.ndarray:
    """Which of ``extra``'s images differ from every image of ``held_out`` (pixel for pixel):
    in-memory data is compared as the model sees it; image files decoded as a flag keeps them."""
    from core.data.privacy import decode_pixels

    seen: set[bytes] = set()
    for part in held_out:
        if part.in_memory:
            seen.update(_pixel_key(x) for x in part.images)
        else:
            for p in part.paths:
                try:
                    seen.add(_pixel_key(decode_pixels(Path(p).read_bytes())))
                except (OSError, ValidationError):
                    continue  # unreadable: the loader reports it, it matches nothing
    if arrays is None:
        arrays = [decode_pixels(Path(p).read_bytes()) for p in extra.paths]
    return np.array([_pixel_key(x) not in seen for x in arrays], dtype=bool)


def add_extra_train(name: str, train_ds: Dataset, held_out: list[Dataset]) -> tuple[Dataset, dict[str, Any]]:
    """``train_ds`` with the images of flag dataset version ``name`` added, and what was added
    (recorded in the run's dataset spec). Only a version of ``train_ds``'s own dataset with the
    same classes is accepted. An image equal (pixel for pixel) to an image of ``held_out`` (the
    validation and test parts) is left out, so it can never be trained on and tested on."""
    src = flag_source(name)
    if src is None:
        raise ValidationError(f"extra_train must name an exported flag dataset version (flags-<dataset>-v<N>, "
                              f"python -m core flags export DATASET). {name!r} is not one.")
    if src["dataset"] != train_ds.name:
        raise ValidationError(f"{name!r} holds flags of {src['dataset']!r}; it can be added only to that dataset's "
                              f"training part, not to {train_ds.name!r}.")
    extra = load_flag_version(src["path"])
    if list(extra.class_names) != list(train_ds.class_names):
        raise DatasetError(f"{name!r} has the classes {extra.class_names}, {train_ds.name!r} has "
                           f"{list(train_ds.class_names)}; a version can be added only to data with the same classes.")
    arrays = _as_arrays(extra, train_ds.images) if train_ds.in_memory else None
    keep = _not_held_out(extra, arrays, held_out)
    kept = extra.subset(np.flatnonzero(keep), by="position")
    merged = _concat(train_ds, kept, None if arrays is None else arrays[keep])
    m = read_manifest(src["path"])
    info = {"name": name, "version": int(src["version"]), "manifest_sha256": file_sha256_of(src["path"]),
            "n_images": int(m.get("n_images", len(extra))), "n_added": int(keep.sum()),
            "n_left_out_in_held_out_parts": int((~keep).sum()), "created_at": m.get("created_at")}
    return merged, info


def file_sha256_of(folder: str | os.PathLike) -> str:
    """The sha256 of a version's manifest.json (what identifies the version's exact contents)."""
    return hashlib.sha256((Path(folder) / MANIFEST).read_bytes()).hexdigest()


def versions_of(dataset: str) -> list[str]:
    """The exported flag dataset versions of ``dataset``, oldest first (registered on the way)."""
    register_flag_versions()
    found = [(src["version"], n) for n in DATASETS.names()
             if (src := DATASETS.get(n).meta.get("flag_source")) and src["dataset"] == dataset]
    return [n for _, n in sorted(found)]
