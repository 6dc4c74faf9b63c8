"""On-disk datasets: HAM10000, fundus (EyePACS/APTOS), image folders, MedMNIST npz.

Folder datasets keep file paths (decoded lazily by the pipeline); every loader checks the
files cheaply at load time (header parse, JPEG end marker) and lists unreadable ones in
``report["unreadable"]`` instead of failing later in training.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from core.config import get_settings
from core.datasets.base import Dataset, register_dataset
from core.datasets.common import (
    EXCLUDE_IDS_PARAM,
    IMAGE_EXTENSIONS,
    apply_exclusions,
    check_inside_roots,
    check_max_per_class,
    check_path,
    check_readable,
    scan_images,
    subsample_positions,
    walk_images,
)
from core.validation import DatasetError, ValidationError, check_number, check_one_of

HAM_CODES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")  # HAM10000 diagnosis codes, in class order
HAM_NAMES = ["Actinic keratoses", "Basal cell carcinoma", "Benign keratosis-like lesions", "Dermatofibroma",
             "Melanoma", "Melanocytic nevi", "Vascular lesions"]
HAM_COLUMNS = ["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"]
HAM_REQUIRED = ["lesion_id", "image_id", "dx"]
DR_GRADES = ["No DR", "Mild", "Moderate", "Severe", "Proliferative"]
FUNDUS_FORMATS = {"EyePACS": ("image", "level"), "APTOS": ("id_code", "diagnosis")}

FOLDER_PARAMS = {
    "path": "folder of the dataset",
    "max_per_class": "int or None: keep at most this many images per class",
    "max_missing_fraction": "float in [0, 1]: error when more listed images than this are absent (default 0.5)",
    "exclude_ids": EXCLUDE_IDS_PARAM,
}

_EXTS = ", ".join(e.lstrip(".") for e in IMAGE_EXTENSIONS)


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except Exception as e:  # noqa: BLE001 - pandas raises many kinds
        raise DatasetError(f"Cannot read {what} {str(path)!r} as CSV: {e}") from e


def _check_columns(df: pd.DataFrame, required, path: Path, expected_all=None) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DatasetError(
            f"The CSV {str(path)!r} lacks the column(s) {', '.join(missing)}. Found columns: "
            f"{', '.join(map(str, df.columns)) or 'none'}. Expected: {', '.join(expected_all or required)}."
        )


def _check_fraction(x) -> float:
    return float(check_number("max_missing_fraction", x, low=0.0, high=1.0))


def _resolve_folder(path, default: Path | None, what: str, env: str) -> Path:
    if path is None or (isinstance(path, str) and not path.strip()):
        if default is None:
            raise ValidationError(f"The 'path' parameter is required: give the {what} (or set {env}).")
        path = default
    return check_path(path, what=what)


def _missing_report(report: dict, listed: int, missing_ids: list[str], max_missing_fraction: float, what: str,
                    folder: Path) -> None:
    report["missing_images"] = len(missing_ids)
    report["missing_image_ids"] = missing_ids[:50]
    frac = len(missing_ids) / max(listed, 1)
    if listed and frac > max_missing_fraction:
        raise DatasetError(
            f"{len(missing_ids)} of {listed} images listed in the {what} were not found under {str(folder)!r} "
            f"({frac:.0%} > max_missing_fraction={max_missing_fraction:.0%}; first missing: "
            f"{', '.join(missing_ids[:5])}). Accepted image files: {_EXTS}, in the folder or any subfolder."
        )
    if missing_ids:
        report.setdefault("notices", []).append(
            f"{len(missing_ids)} of {listed} images listed in the {what} are absent and were skipped.")


def _require_images(found: dict, folder: Path, what: str) -> None:
    if not found:
        raise DatasetError(f"No image files ({_EXTS}) found in {str(folder)!r} or its subfolders; expected the {what}.")


def _drop_unreadable(paths: np.ndarray, report: dict) -> np.ndarray:
    ok, bad = check_readable(paths)
    report["unreadable"] = bad
    if bad:
        report.setdefault("notices", []).append(f"{len(bad)} unreadable image file(s) skipped.")
    return ok


def _attach_files(df: pd.DataFrame, id_col: str, folder: Path, *, csv: Path, images_what: str, csv_what: str,
                  kind: str, max_missing_fraction: float, report: dict) -> tuple[pd.DataFrame, np.ndarray]:
    """Keep the CSV rows whose image is found (anywhere under ``folder``) and readable.

    Absent images are counted and reported (an error past ``max_missing_fraction``);
    unreadable files are skipped and listed. Returns the kept rows and their file paths.
    """
    found = scan_images(folder, what="dataset folder")
    _require_images(found, folder, images_what)
    present = df[id_col].isin(found.keys()).to_numpy()
    _missing_report(report, len(df), df.loc[~present, id_col].tolist(), max_missing_fraction, csv_what, folder)
    df = df[present].reset_index(drop=True)
    paths = np.array([str(found[i]) for i in df[id_col]])
    ok = _drop_unreadable(paths, report)
    df, paths = df[ok].reset_index(drop=True), paths[ok]
    if len(df) == 0:
        raise DatasetError(f"No readable {kind} listed in {str(csv)!r} were found under {str(folder)!r}.")
    return df, paths


def _folder_availability(path, default_attr: str, what: str, layout: str):
    default = getattr(get_settings(), default_attr)
    p = path or default
    if p is not None and Path(p).expanduser().is_dir():
        return "cached", f"{what} folder: {p}. {layout}"
    return "needs_folder", f"Give the {what} folder (path=...). {layout}"


# ---------------------------------------------------------------------------------- HAM10000

HAM_LAYOUT = ("Expected HAM10000_metadata.csv (lesion_id, image_id, dx, dx_type, age, sex, localization) in the folder "
              "or given as metadata_csv=..., and the images ISIC_xxxxxxx.jpg anywhere below the folder (Kaggle's "
              "HAM10000_images_part_1/_part_2, one folder per class, or flat), any resolution.")


def _find_ham_csv(folder: Path) -> Path:
    for depth_glob in ("HAM10000_metadata.csv", "*/HAM10000_metadata.csv"):
        hits = sorted(folder.glob(depth_glob))
        if hits:
            return check_inside_roots(hits[0], what="HAM10000 metadata CSV")
    for cand in sorted(folder.glob("*.csv")) + sorted(folder.glob("*/*.csv")):
        cand = check_inside_roots(cand, what="CSV file")
        try:
            cols = pd.read_csv(cand, nrows=0).columns
        except Exception:  # noqa: BLE001
            continue
        if all(c in cols for c in HAM_REQUIRED):
            return cand
    raise DatasetError(f"No HAM10000_metadata.csv (columns {', '.join(HAM_COLUMNS)}) found in {str(folder)!r}. "
                       "Put it in the folder or pass metadata_csv=path.")


@register_dataset(
    "ham10000", title="HAM10000 skin lesions",
    description="10,015 dermatoscopic images, 7 diagnostic classes (Tschandl et al. 2018, CC BY-NC 4.0). "
                "Splits are grouped by lesion_id. Research and teaching use only.",
    domain="lesion",
    params={**FOLDER_PARAMS, "metadata_csv": "HAM10000_metadata.csv when it is not inside the folder",
            "impute_age": "'mean', 'median' or None: fill missing ages"},
    availability=lambda path=None, **_: _folder_availability(path, "ham10000_dir", "HAM10000", HAM_LAYOUT),
    train_defaults={"model": "report_a_tuned_cnn", "epochs": 10, "batch_size": 16, "image_size": [120, 150],
                    "class_weight": "balanced"},
    path_placeholder="/data/HAM10000", settings_key="ham10000_dir",
    sensitivity_floors={"Melanoma": 0.5, "Basal cell carcinoma": 0.5, "Actinic keratoses": 0.5},
)
def load_ham10000(path=None, *, metadata_csv=None, impute_age: str | None = None, max_per_class: int | None = None,
                  max_missing_fraction: float = 0.5, exclude_ids=None) -> Dataset:
    max_per_class = check_max_per_class(max_per_class)
    max_missing_fraction = _check_fraction(max_missing_fraction)
    check_one_of("impute_age", impute_age, ["mean", "median", None])
    folder = _resolve_folder(path, get_settings().ham10000_dir, "HAM10000 folder", "LAB_HAM10000_DIR")
    csv = check_path(metadata_csv, what="HAM10000 metadata CSV", must_be="file") if metadata_csv else _find_ham_csv(folder)
    df = _read_csv(csv, "HAM10000 metadata")
    _check_columns(df, HAM_REQUIRED, csv, HAM_COLUMNS)
    report: dict = {"metadata_csv": str(csv), "rows": int(len(df)), "notices": []}
    df["dx"] = df["dx"].str.strip().str.lower()
    bad = sorted(set(df["dx"].dropna()) - set(HAM_CODES))
    if bad or df["dx"].isna().any():
        raise DatasetError(f"The CSV {str(csv)!r} has dx value(s) {', '.join(map(repr, bad or ['(empty)']))}; "
                           f"accepted: {', '.join(HAM_CODES)}.")
    dup = df["image_id"].duplicated()
    if dup.any():
        report["duplicate_rows"] = int(dup.sum())
        report["notices"].append(f"{int(dup.sum())} duplicate image_id row(s) in the CSV ignored.")
        df = df[~dup]
    for col in HAM_COLUMNS:
        if col not in df.columns:
            df[col] = pd.NA
    df, paths = _attach_files(df, "image_id", folder, csv=csv, images_what="HAM10000 images (ISIC_xxxxxxx.jpg)",
                              csv_what="metadata CSV", kind="HAM10000 images",
                              max_missing_fraction=max_missing_fraction, report=report)
    keep, exclude_ids = apply_exclusions(exclude_ids, df["image_id"], df["lesion_id"], report)
    df, paths = df.iloc[keep].reset_index(drop=True), paths[keep]
    age = pd.to_numeric(df["age"], errors="coerce")
    report["missing_age"] = int(age.isna().sum())
    df["age_imputed"] = False
    if impute_age and age.isna().any():
        value = float(age.mean() if impute_age == "mean" else age.median())
        df.loc[age.isna(), "age_imputed"] = True
        age = age.fillna(value)
        report["age_imputation"] = {"method": impute_age, "value": value, "n": report["missing_age"]}
        report["notices"].append(f"{report['missing_age']} missing age(s) filled with the {impute_age} ({value:.1f}).")
    df["age"] = age
    labels = df["dx"].map({c: i for i, c in enumerate(HAM_CODES)}).to_numpy()
    pos = subsample_positions(labels, max_per_class)
    df, paths, labels = df.iloc[pos].reset_index(drop=True), paths[pos], labels[pos]
    meta = df[HAM_COLUMNS + ["age_imputed"]].copy()
    meta.insert(0, "id", df["image_id"].to_numpy())
    report["n_loaded"] = int(len(df))
    return Dataset(
        name="ham10000", class_names=list(HAM_NAMES), class_codes=list(HAM_CODES), ids=df["image_id"].to_numpy(),
        labels=labels, paths=paths, metadata=meta, groups=df["lesion_id"].astype(str).to_numpy(),
        group_name="lesion_id", domain="lesion",
        spec={"name": "ham10000", "params": {"path": str(folder), "metadata_csv": str(csv) if metadata_csv else None,
                                             "impute_age": impute_age, "max_per_class": max_per_class,
                                             "max_missing_fraction": max_missing_fraction,
                                             **({"exclude_ids": exclude_ids} if exclude_ids else {})}},
        report=report,
    )


# ---------------------------------------------------------------------------------- fundus

FUNDUS_LAYOUT = ("Expected retina photos (any resolution, any subfolder) and a labels CSV in EyePACS form (image, level) "
                 "or APTOS form (id_code, diagnosis) with grades 0-4 (No DR, Mild, Moderate, Severe, Proliferative).")


def _fundus_format(cols) -> str | None:
    for fmt, (a, b) in FUNDUS_FORMATS.items():
        if a in cols and b in cols:
            return fmt
    return None


def _find_fundus_csv(folder: Path) -> Path:
    seen = []
    preferred = ("labels.csv", "trainlabels.csv", "train.csv")
    cands = sorted(folder.glob("*.csv"), key=lambda p: (p.name.lower() not in preferred, p.name))
    for cand in cands:
        cand = check_inside_roots(cand, what="CSV file")
        try:
            cols = list(pd.read_csv(cand, nrows=0).columns)
        except Exception:  # noqa: BLE001
            continue
        if _fundus_format(cols):
            return cand
        seen.append(f"{cand.name} ({', '.join(cols)})")
    raise DatasetError(
        f"No labels CSV with columns image,level (EyePACS) or id_code,diagnosis (APTOS) found in {str(folder)!r}"
        + (f"; CSV files seen: {'; '.join(seen)}" if seen else "")
        + ". Put it in the folder or pass labels_csv=path."
    )


def patient_id(image_id: str) -> tuple[str, str | None]:
    """EyePACS ``10_left`` -> (``10``, ``left``); otherwise (the id itself, None) as in APTOS."""
    m = re.match(r"^(.+?)[_-](left|right)$", image_id, flags=re.IGNORECASE)
    return (m.group(1), m.group(2).lower()) if m else (image_id, None)


@register_dataset(
    "fundus", title="Diabetic retinopathy (fundus)",
    description="Colour retina photographs graded 0-4 (EyePACS or APTOS labels). Ordinal grades; splits grouped by "
                "patient. Research and teaching use only.",
    domain="fundus",
    params={**FOLDER_PARAMS, "labels_csv": "labels CSV when it is not inside the folder"},
    availability=lambda path=None, **_: _folder_availability(path, "fundus_dir", "fundus", FUNDUS_LAYOUT),
    train_defaults={"model": "densenet121", "epochs": 10, "batch_size": 16, "image_size": [224, 224],
                    "class_weight": "balanced"},
    settings_key="fundus_dir", extra_path_params={"labels_csv": "Labels CSV (optional: found automatically)"},
    sensitivity_floors={"Moderate": 0.5, "Severe": 0.5, "Proliferative": 0.5},  # the referable grades 2-4
)
def load_fundus(path=None, *, labels_csv=None, max_per_class: int | None = None,
                max_missing_fraction: float = 0.5, exclude_ids=None) -> Dataset:
    max_per_class = check_max_per_class(max_per_class)
    max_missing_fraction = _check_fraction(max_missing_fraction)
    folder = _resolve_folder(path, get_settings().fundus_dir, "fundus folder", "LAB_FUNDUS_DIR")
    csv = check_path(labels_csv, what="fundus labels CSV", must_be="file") if labels_csv else _find_fundus_csv(folder)
    df = _read_csv(csv, "fundus labels")
    fmt = _fundus_format(df.columns)
    if fmt is None:
        raise DatasetError(
            f"The CSV {str(csv)!r} lacks the label columns. Found columns: {', '.join(map(str, df.columns))}. "
            "Expected image,level (EyePACS) or id_code,diagnosis (APTOS)."
        )
    id_col, lab_col = FUNDUS_FORMATS[fmt]
    report: dict = {"labels_csv": str(csv), "format": fmt, "rows": int(len(df)), "notices": []}
    ids_raw = df[id_col].astype(str).str.strip()
    # tolerate ids written with their extension
    ids_raw = ids_raw.where(~ids_raw.str.lower().str.endswith(IMAGE_EXTENSIONS), ids_raw.str.rsplit(".", n=1).str[0])
    lab = pd.to_numeric(df[lab_col], errors="coerce")
    bad = lab.isna() | ~lab.isin([0, 1, 2, 3, 4])
    if bad.any():
        rows = [f"{i}={v!r}" for i, v in zip(ids_raw[bad][:5], df[lab_col][bad][:5])]
        raise DatasetError(
            f"{int(bad.sum())} label(s) in column {lab_col!r} of {str(csv)!r} are not grades 0-4 "
            f"(first: {', '.join(rows)}). Accepted: 0 No DR, 1 Mild, 2 Moderate, 3 Severe, 4 Proliferative."
        )
    df = pd.DataFrame({"image": ids_raw, "level": lab.astype(int)})
    dup = df["image"].duplicated()
    if dup.any():
        report["duplicate_rows"] = int(dup.sum())
        df = df[~dup]
    df, paths = _attach_files(df, "image", folder, csv=csv, images_what="retina photos", csv_what="labels CSV",
                              kind="images", max_missing_fraction=max_missing_fraction, report=report)
    pe = [patient_id(i) for i in df["image"]]
    df["patient_id"] = [p for p, _ in pe]
    df["eye"] = [e for _, e in pe]
    keep, exclude_ids = apply_exclusions(exclude_ids, df["image"], df["patient_id"], report)
    df, paths = df.iloc[keep].reset_index(drop=True), paths[keep]
    labels = df["level"].to_numpy()
    pos = subsample_positions(labels, max_per_class)
    df, paths, labels = df.iloc[pos].reset_index(drop=True), paths[pos], labels[pos]
    meta = pd.DataFrame({"id": df["image"], "patient_id": df["patient_id"], "eye": df["eye"], "level": df["level"]})
    report["n_loaded"] = int(len(df))
    return Dataset(
        name="fundus", class_names=list(DR_GRADES), class_codes=[str(i) for i in range(5)], ids=df["image"].to_numpy(),
        labels=labels, paths=paths, metadata=meta, groups=df["patient_id"].to_numpy(), group_name="patient_id",
        ordinal=True, domain="fundus",
        spec={"name": "fundus", "params": {"path": str(folder), "labels_csv": str(csv) if labels_csv else None,
                                           "max_per_class": max_per_class, "max_missing_fraction": max_missing_fraction,
                                           **({"exclude_ids": exclude_ids} if exclude_ids else {})}},
        report=report,
    )


# ---------------------------------------------------------------------------------- image folder

@register_dataset(
    "image_folder", title="Image folder (one subfolder per class)",
    description="Your own images: one subfolder per class, any image files (JPEG, PNG, TIFF, BMP, WebP, GIF).",
    domain="general", params={"path": "folder with one subfolder per class",
                              "max_per_class": FOLDER_PARAMS["max_per_class"], "exclude_ids": EXCLUDE_IDS_PARAM},
    availability=lambda path=None, **_: ("cached", f"Folder: {path}") if path and Path(path).is_dir() else
    ("needs_folder", "Give a folder with one subfolder per class holding the images (path=...)."),
    train_defaults={"model": "small_cnn", "epochs": 10, "batch_size": 32, "image_size": [64, 64]},
)
def load_image_folder(path=None, *, max_per_class: int | None = None, exclude_ids=None) -> Dataset:
    max_per_class = check_max_per_class(max_per_class)
    folder = check_path(path, what="image folder")
    subdirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    report: dict = {"notices": []}
    classes, rows = [], []
    empty = []
    for d in subdirs:
        files = sorted(walk_images(d, what="class folder"))  # (path under folder, real path), roots checked
        if not files:
            empty.append(d.name)
            continue
        classes.append(d.name)
        rows.extend((str(real), len(classes) - 1, shown.relative_to(folder).with_suffix("").as_posix())
                    for shown, real in files)
    if empty:
        report["empty_classes"] = empty
        report["notices"].append(f"Subfolder(s) without images ignored: {', '.join(empty)}.")
    if not classes:
        loose = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
        hint = f" It holds {len(loose)} image file(s) directly: move them into one subfolder per class." if loose else ""
        raise DatasetError(f"No class subfolders with images ({_EXTS}) found in {str(folder)!r}.{hint} "
                           "Expected one subfolder per class, named after the class.")
    if len(classes) < 2:
        report["notices"].append("Only one class found; classification needs at least two.")
    paths = np.array([r[0] for r in rows])
    labels = np.array([r[1] for r in rows], dtype=np.int64)
    ids = np.array([r[2] for r in rows])
    ok = _drop_unreadable(paths, report)
    paths, labels, ids = paths[ok], labels[ok], ids[ok]
    keep, exclude_ids = apply_exclusions(exclude_ids, ids, None, report)
    paths, labels, ids = paths[keep], labels[keep], ids[keep]
    pos = subsample_positions(labels, max_per_class)
    report["n_loaded"] = int(len(pos))
    return Dataset(
        name="image_folder", class_names=classes, ids=ids[pos], labels=labels[pos], paths=paths[pos],
        metadata=pd.DataFrame({"id": ids[pos], "class_folder": np.array(classes)[labels[pos]]}),
        spec={"name": "image_folder", "params": {"path": str(folder), "max_per_class": max_per_class,
                                                 **({"exclude_ids": exclude_ids} if exclude_ids else {})}},
        report=report,
    )


# ---------------------------------------------------------------------------------- MedMNIST

MEDMNIST_KEYS = ("train_images", "train_labels", "val_images", "val_labels", "test_images", "test_labels")


def _medmnist_kind(stem: str):
    s = stem.lower()
    if "derma" in s:
        return list(HAM_NAMES), "lesion", False
    if "retina" in s:
        return list(DR_GRADES), "fundus", True
    return None, "general", False


@register_dataset(
    "medmnist", title="MedMNIST (.npz)",
    description="A MedMNIST file (e.g. dermamnist.npz, retinamnist.npz) with its official train/val/test split.",
    domain="general", params={"path": "the .npz file", "max_per_class": FOLDER_PARAMS["max_per_class"],
                              "class_names": "optional list of class names"},
    availability=lambda path=None, **_: ("cached", f"File: {path}") if path and Path(path).is_file() else
    ("needs_folder", "Give a MedMNIST .npz file (path=...) with train_images, train_labels, val_images, val_labels, "
                     "test_images, test_labels."),
    train_defaults={"model": "small_cnn", "epochs": 10, "batch_size": 64},
)
def load_medmnist(path=None, *, max_per_class: int | None = None, class_names: list[str] | None = None) -> Dataset:
    max_per_class = check_max_per_class(max_per_class)
    f = check_path(path, what="MedMNIST .npz file", must_be="file")
    try:
        npz = np.load(f, allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        raise DatasetError(f"Cannot read {str(f)!r} as a numpy .npz file: {e}") from e
    with npz:
        missing = [k for k in MEDMNIST_KEYS if k not in npz.files]
        if missing:
            raise DatasetError(f"{str(f)!r} lacks array(s) {', '.join(missing)}; found {', '.join(npz.files)}. "
                               f"Expected {', '.join(MEDMNIST_KEYS)}.")
        xs, ys, parts, ids = [], [], [], []
        for part in ("train", "val", "test"):
            x, y = np.asarray(npz[f"{part}_images"]), np.asarray(npz[f"{part}_labels"])
            if y.ndim == 2 and y.shape[1] > 1:
                raise DatasetError(f"{str(f)!r} is multi-label ({part}_labels has shape {y.shape}); "
                                   "only single-label MedMNIST sets are supported.")
            y = y.reshape(-1)
            if len(y) != len(x):
                raise DatasetError(f"{str(f)!r}: {part} has {len(x)} images but {len(y)} labels.")
            if x.ndim == 3:
                x = x[..., None]
            if x.ndim != 4 or x.shape[-1] not in (1, 3):
                raise DatasetError(f"{str(f)!r}: {part}_images must be N x H x W (x 1 or 3); got {x.shape}.")
            if x.dtype != np.uint8:
                raise DatasetError(f"{str(f)!r}: {part}_images must be uint8; got {x.dtype}.")
            xs.append(x)
            ys.append(y.astype(np.int64))
            parts += [part] * len(y)
            ids += [f"{part}-{i:05d}" for i in range(len(y))]
    shapes = {x.shape[1:] for x in xs}
    if len(shapes) > 1:
        raise DatasetError(f"{str(f)!r}: parts have different image shapes {sorted(shapes)}.")
    x, y = np.concatenate(xs), np.concatenate(ys)
    if len(y) == 0:
        raise DatasetError(f"{str(f)!r} holds no images.")
    if y.min() < 0:
        raise DatasetError(f"{str(f)!r}: labels must be >= 0; found {int(y.min())}.")
    names, domain, ordinal = _medmnist_kind(f.stem)
    k = int(y.max()) + 1
    if class_names is not None:
        names = [str(c) for c in class_names]
    if names is None or len(names) < k:
        names = [f"class {i}" for i in range(k)] if names is None else names + [f"class {i}" for i in range(len(names), k)]
    parts_a, ids_a = np.array(parts), np.array(ids)
    pos = subsample_positions(y, max_per_class, parts_a)
    return Dataset(
        name="medmnist", class_names=names, ids=ids_a[pos], labels=y[pos], images=np.ascontiguousarray(x[pos]),
        metadata=pd.DataFrame({"id": ids_a[pos], "official_split": parts_a[pos]}), official_split=parts_a[pos],
        ordinal=ordinal, domain=domain,
        spec={"name": "medmnist", "params": {"path": str(f), "max_per_class": max_per_class,
                                             "class_names": class_names}},
        report={"file": str(f), "n_loaded": int(len(pos)), "notices": []},
    )
