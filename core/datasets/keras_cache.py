"""Keras' dataset cache: where ``keras.datasets.*.load_data()`` looks, and importing local copies.

``keras.datasets`` downloads its files on first use into ``$KERAS_HOME/datasets`` (default
``~/.keras/datasets``). Without network that download fails (or hangs), so the lab checks
the cache *before* calling a loader and, when files are missing, says which files are
expected where and how to import local copies::

    python -m core.datasets.keras_cache fashion_mnist /path/to/fashion_mnist
    python -m core.datasets.keras_cache cifar10 /path/to/cifar10_subset.npz

Layouts (from keras/src/datasets/*.py and keras/src/utils/file_utils.get_file):

* fashion_mnist: ``datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``
  (no hash check).
* mnist: ``datasets/mnist.npz`` (keys x_train, y_train, x_test, y_test; sha256-checked by
  Keras: a copy whose hash differs from the official file is read by the lab directly with
  ``np.load(allow_pickle=False)`` instead, because Keras would try to re-download it).
* cifar10: ``datasets/cifar-10-batches-py-target/cifar-10-batches-py/`` with the python
  pickle batches ``data_batch_1..5``, ``test_batch``, ``batches.meta``; Keras itself also
  requires the original archive ``datasets/cifar-10-batches-py-target_archive`` with the
  official sha256 (it re-extracts it on every call). With the archive present the lab calls
  ``keras.datasets.cifar10.load_data()``; with only the batches folder (e.g. imported from a
  subset npz, which can never match the archive hash) the batches are parsed with Keras' own
  ``keras.src.datasets.cifar.load_batch`` (the same parser ``load_data`` uses, restricted
  unpickler included), because ``load_data`` hard-codes 50,000 training rows.
"""
from __future__ import annotations

import gzip
import os
import pickle
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.datasets.common import check_inside_roots
from core.files import file_sha256
from core.validation import DatasetError, ValidationError, unknown_name

FASHION_FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
CIFAR10_ARCHIVE_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
CIFAR10_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")
CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass(frozen=True)
class KerasDatasetCfg:
    title: str
    description: str
    class_names: tuple[str, ...]
    accepts: str  # what import_keras_dataset accepts as source


KERAS_DATASETS: dict[str, KerasDatasetCfg] = {
    "fashion_mnist": KerasDatasetCfg(
        "Fashion-MNIST", "70,000 28x28 grey clothing images, 10 classes (60,000 train / 10,000 official test), "
        "via keras.datasets.fashion_mnist.",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        "a folder with the four IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz; uncompressed also accepted)"),
    "mnist": KerasDatasetCfg(
        "MNIST", "70,000 28x28 grey handwritten digits (60,000 train / 10,000 official test), via keras.datasets.mnist.",
        tuple(str(i) for i in range(10)),
        "mnist.npz (x_train, y_train, x_test, y_test) or a folder with the four MNIST IDX files"),
    "cifar10": KerasDatasetCfg(
        "CIFAR-10", "32x32 colour images, 10 classes (official test split kept), via keras.datasets.cifar10.",
        CIFAR10_NAMES,
        "cifar-10-python.tar.gz, a cifar-10-batches-py folder, or an .npz of uint8 arrays x_train, y_train, "
        "x_test, y_test (optionally with batches.meta next to it)"),
}


def _check_name(name: str) -> str:
    if name not in KERAS_DATASETS:
        raise unknown_name("Keras dataset", name, KERAS_DATASETS)
    return name


def keras_home() -> Path:
    """The folder Keras caches into: Keras' own value when Keras is loaded, else KERAS_HOME/~/.keras.

    Keras reads KERAS_HOME once, at import; the lab follows the same rule so that the files it
    checks are the files ``load_data()`` will read.
    """
    cfg = sys.modules.get("keras.src.backend.config")
    if cfg is not None and hasattr(cfg, "keras_home"):
        base = Path(cfg.keras_home())
    elif "KERAS_HOME" in os.environ:
        base = Path(os.environ["KERAS_HOME"])
    else:
        home = Path(os.path.expanduser("~"))
        base = (home if os.access(home, os.W_OK) else Path("/tmp")) / ".keras"
    base = base.expanduser()
    # get_file falls back to /tmp/.keras when the home is not writable
    if base.exists() and not os.access(base, os.W_OK):
        base = Path(tempfile.gettempdir()) / ".keras"
    return base


def cache_paths(name: str, home: Path | None = None) -> list[Path]:
    """The files ``keras.datasets.<name>.load_data()`` reads (the extracted form for CIFAR-10)."""
    _check_name(name)
    d = Path(home or keras_home()) / "datasets"
    if name == "fashion_mnist":
        return [d / "fashion-mnist" / f for f in FASHION_FILES]
    if name == "mnist":
        return [d / "mnist.npz"]
    folder = d / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    return [folder / f for f in CIFAR10_BATCHES]


def cifar10_archive_path(home: Path | None = None) -> Path:
    return Path(home or keras_home()) / "datasets" / "cifar-10-batches-py-target_archive"


def is_cached(name: str, home: Path | None = None) -> bool:
    if all(p.is_file() for p in cache_paths(name, home)):
        return True
    return name == "cifar10" and cifar10_archive_path(home).is_file()


def _how_to(name: str, home: Path) -> str:
    cfg = KERAS_DATASETS[name]
    files = cache_paths(name, home)
    folder = files[0].parent
    return (
        f"{cfg.title} is not in Keras' cache and cannot be downloaded here. Expected file(s) "
        f"{', '.join(p.name for p in files)} in {folder}. Import local copies with "
        f"`python -m core import-dataset {name} SOURCE` (or `python -m core.datasets.keras_cache {name} SOURCE`), "
        f"SOURCE being {cfg.accepts}; or run keras.datasets.{name}.load_data() once on a machine with internet "
        f"access using the same KERAS_HOME."
    )


def availability(name: str) -> tuple[str, str]:
    home = keras_home()
    if is_cached(name, home):
        return "cached", f"In Keras' cache ({home / 'datasets'})."
    return "needs_download", _how_to(name, home)


def load_keras_arrays(name: str):
    """``((x_train, y_train), (x_test, y_test), source)`` through Keras, never touching the network."""
    _check_name(name)
    home = keras_home()
    if not is_cached(name, home):
        raise DatasetError(_how_to(name, home))
    import keras  # noqa: F401  (the real loaders)

    actual = Path(sys.modules["keras.src.backend.config"].keras_home())
    if actual.expanduser().resolve() != home.resolve():
        home = actual
        if not is_cached(name, home):
            raise DatasetError(_how_to(name, home))
    if name == "fashion_mnist":
        return (*keras.datasets.fashion_mnist.load_data(), "keras.datasets.fashion_mnist.load_data()")
    if name == "mnist":
        path = cache_paths("mnist", home)[0]
        if file_sha256(path) == MNIST_SHA256:
            return (*keras.datasets.mnist.load_data(), "keras.datasets.mnist.load_data()")
        with np.load(path, allow_pickle=False) as f:
            arrays = (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
        return (*arrays, f"{path} (not the official file, read with np.load; Keras would re-download it)")
    # cifar10
    archive = cifar10_archive_path(home)
    if archive.is_file() and file_sha256(archive) == CIFAR10_ARCHIVE_SHA256:
        return (*keras.datasets.cifar10.load_data(), "keras.datasets.cifar10.load_data()")
    if not all(p.is_file() for p in cache_paths("cifar10", home)):
        raise DatasetError(_how_to(name, home))
    from keras.src.datasets.cifar import load_batch

    folder = cache_paths("cifar10", home)[0].parent
    xs, ys = [], []
    for i in range(1, 6):
        x, y = load_batch(str(folder / f"data_batch_{i}"))
        xs.append(x)
        ys.append(np.asarray(y, dtype=np.uint8))
    x_te, y_te = load_batch(str(folder / "test_batch"))
    x_tr = np.concatenate(xs).transpose(0, 2, 3, 1)
    x_te = np.asarray(x_te).transpose(0, 2, 3, 1)
    return ((x_tr, np.concatenate(ys)), (x_te, np.asarray(y_te, dtype=np.uint8)),
            f"{folder} (CIFAR-10 python batches parsed with keras.src.datasets.cifar.load_batch)")


# ---------------------------------------------------------------------------------- import

def _read_idx(path: Path, kind: str) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise DatasetError(f"Cannot read IDX file {path}: {e}. Expected a gzip-compressed or raw IDX file.") from e
    magic = int.from_bytes(data[:4], "big")
    want = 2051 if kind == "images" else 2049
    if magic != want:
        raise DatasetError(f"{path} is not an IDX {kind} file (magic number {magic}, expected {want}).")
    n = int.from_bytes(data[4:8], "big")
    if kind == "images":
        rows, cols = int.from_bytes(data[8:12], "big"), int.from_bytes(data[12:16], "big")
        arr = np.frombuffer(data, np.uint8, offset=16)
        if arr.size != n * rows * cols:
            raise DatasetError(f"{path} is truncated: header says {n}x{rows}x{cols} pixels, file has {arr.size}.")
        return arr.reshape(n, rows, cols)
    arr = np.frombuffer(data, np.uint8, offset=8)
    if arr.size != n:
        raise DatasetError(f"{path} is truncated: header says {n} labels, file has {arr.size}.")
    return arr


def _find_idx(folder: Path) -> dict[str, Path]:
    found = {}
    for f in FASHION_FILES:
        for cand in (folder / f, folder / f[:-3]):
            if cand.is_file():
                found[f] = check_inside_roots(cand, what="IDX file")
                break
    missing = [f for f in FASHION_FILES if f not in found]
    if missing:
        have = sorted(p.name for p in folder.iterdir())[:20]
        raise DatasetError(
            f"{folder} lacks the IDX file(s) {', '.join(missing)} (.gz or uncompressed). "
            f"Found: {', '.join(have) or 'nothing'}."
        )
    return found


def _import_idx_gz(folder: Path, dest: Path) -> Path:
    found = _find_idx(folder)
    imgs = {k: _read_idx(v, "images") for k, v in found.items() if "images" in k}
    labs = {k: _read_idx(v, "labels") for k, v in found.items() if "labels" in k}
    for part in ("train", "t10k"):
        ni, nl = len(imgs[f"{part}-images-idx3-ubyte.gz"]), len(labs[f"{part}-labels-idx1-ubyte.gz"])
        if ni != nl:
            raise DatasetError(f"{folder}: {part} has {ni} images but {nl} labels.")
    dest.mkdir(parents=True, exist_ok=True)
    for f, src in found.items():
        tmp = dest / (f + ".part")
        if src.suffix == ".gz":
            shutil.copyfile(src, tmp)
        else:
            with open(src, "rb") as fi, gzip.open(tmp, "wb") as fo:
                shutil.copyfileobj(fi, fo)
        os.replace(tmp, dest / f)
    return dest


def _write_cifar_batches(x_train, y_train, x_test, y_test, folder: Path, meta_src: Path | None) -> None:
    """Write CIFAR-10 python pickle batches in the original layout (uint8 rows of 3072 CHW values)."""
    def rows(x):
        x = np.asarray(x)
        if x.dtype != np.uint8:
            raise DatasetError(f"CIFAR-10 arrays must be uint8, got {x.dtype}.")
        if x.ndim != 4 or x.shape[1:] not in ((32, 32, 3), (3, 32, 32)):
            raise DatasetError(f"CIFAR-10 images must be N x 32 x 32 x 3 (or N x 3 x 32 x 32); got {x.shape}.")
        if x.shape[-1] == 3:
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x.reshape(len(x), 3072))

    def labels(y, n):
        y = np.asarray(y).reshape(-1)
        if len(y) != n:
            raise DatasetError(f"CIFAR-10: {n} images but {len(y)} labels.")
        if y.size and (y.min() < 0 or y.max() > 9):
            raise DatasetError(f"CIFAR-10 labels must be 0-9; found {int(y.min())}..{int(y.max())}.")
        return [int(v) for v in y]

    xtr, xte = rows(x_train), rows(x_test)
    ytr, yte = labels(y_train, len(xtr)), labels(y_test, len(xte))
    folder.mkdir(parents=True, exist_ok=True)

    def dump(fname, d):
        tmp = folder / (fname + ".part")
        with open(tmp, "wb") as f:
            pickle.dump(d, f, protocol=3)  # protocol 3: native bytes, ndarray via _reconstruct
        os.replace(tmp, folder / fname)

    chunks = np.array_split(np.arange(len(xtr)), 5)
    for i, idx in enumerate(chunks, start=1):
        dump(f"data_batch_{i}", {
            b"batch_label": f"training batch {i} of 5".encode(),
            b"labels": [ytr[j] for j in idx],
            b"data": xtr[idx],
            b"filenames": [f"train_{j:05d}.png".encode() for j in idx],
        })
    dump("test_batch", {
        b"batch_label": b"testing batch 1 of 1", b"labels": yte, b"data": xte,
        b"filenames": [f"test_{j:05d}.png".encode() for j in range(len(xte))],
    })
    if meta_src is not None and meta_src.is_file():
        shutil.copyfile(meta_src, folder / "batches.meta")
    else:
        dump("batches.meta", {b"label_names": [n.encode() for n in CIFAR10_NAMES],
                              b"num_cases_per_batch": int(len(chunks[0])), b"num_vis": 3072})


def _import_cifar10(src: Path, home: Path) -> Path:
    folder = cache_paths("cifar10", home)[0].parent
    if src.is_file() and (src.name.endswith((".tar.gz", ".tgz", ".tar"))):
        import tarfile

        if not tarfile.is_tarfile(src):
            raise DatasetError(f"{src} is not a tar archive.")
        dest = cifar10_archive_path(home)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        if file_sha256(dest) != CIFAR10_ARCHIVE_SHA256:
            dest.unlink()
            raise DatasetError(f"{src} is not the official cifar-10-python.tar.gz (sha256 differs); "
                               "extract it and import the cifar-10-batches-py folder instead.")
        return dest
    npz = None
    meta = None
    if src.is_dir():
        batches = src / "cifar-10-batches-py" if (src / "cifar-10-batches-py").is_dir() else src
        if all((batches / f).is_file() for f in CIFAR10_BATCHES):
            from keras.src.datasets.cifar import load_batch  # validate with Keras' parser before copying

            for f in CIFAR10_BATCHES:
                check_inside_roots(batches / f, what="CIFAR-10 batch file")

            for f in CIFAR10_BATCHES[:-1]:
                load_batch(str(batches / f))
            folder.mkdir(parents=True, exist_ok=True)
            for f in CIFAR10_BATCHES:
                shutil.copyfile(batches / f, folder / f)
            return folder
        npzs = sorted(src.glob("*.npz"))
        if len(npzs) != 1:
            raise DatasetError(
                f"{src} holds neither the CIFAR-10 python batches ({', '.join(CIFAR10_BATCHES)}) nor exactly one "
                f".npz file (found {len(npzs)}). Accepted: {KERAS_DATASETS['cifar10'].accepts}."
            )
        npz, meta = npzs[0], src / "batches.meta"
    elif src.suffix == ".npz":
        npz, meta = src, src.parent / "batches.meta"
    else:
        raise DatasetError(f"Cannot import {src} as CIFAR-10. Accepted: {KERAS_DATASETS['cifar10'].accepts}.")
    npz = check_inside_roots(npz, what=".npz file")
    if meta.is_file():
        meta = check_inside_roots(meta, what="batches.meta file")
    try:
        with np.load(npz, allow_pickle=False) as f:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f.files]
            if missing:
                raise DatasetError(f"{npz} lacks array(s) {', '.join(missing)}; found {', '.join(f.files)}.")
            arrays = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
    except (OSError, ValueError) as e:
        raise DatasetError(f"Cannot read {npz} as a numpy .npz file: {e}") from e
    _write_cifar_batches(*arrays, folder, meta)
    return folder


def import_keras_dataset(name: str, source_path, *, keras_home_dir=None) -> Path:
    """Copy local files of a Keras built-in dataset into Keras' cache; returns the cache folder/file.

    ``keras_home_dir`` overrides the cache root (default: :func:`keras_home`).
    """
    _check_name(name)
    if source_path is None:
        raise ValidationError(f"The 'source_path' parameter is required: {KERAS_DATASETS[name].accepts}.")
    src = check_inside_roots(Path(source_path).expanduser(), what=f"{name} source")  # symlinks resolved
    if not src.exists():
        raise DatasetError(f"{src} does not exist. Expected {KERAS_DATASETS[name].accepts}.")
    home = Path(keras_home_dir).expanduser() if keras_home_dir else keras_home()
    if name == "fashion_mnist":
        if not src.is_dir():
            raise DatasetError(f"{src} is not a folder. Expected {KERAS_DATASETS[name].accepts}.")
        return _import_idx_gz(src, cache_paths(name, home)[0].parent)
    if name == "mnist":
        dest = cache_paths("mnist", home)[0]
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_file() and src.suffix == ".npz":
            with np.load(src, allow_pickle=False) as f:
                missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f.files]
            if missing:
                raise DatasetError(f"{src} lacks array(s) {', '.join(missing)}.")
            shutil.copyfile(src, dest)
            return dest
        if not src.is_dir():
            raise DatasetError(f"Cannot import {src} as MNIST. Expected {KERAS_DATASETS[name].accepts}.")
        found = _find_idx(src)
        arr = {k: _read_idx(v, "images" if "images" in k else "labels") for k, v in found.items()}
        np.savez_compressed(dest, x_train=arr[FASHION_FILES[1]], y_train=arr[FASHION_FILES[0]],
                            x_test=arr[FASHION_FILES[3]], y_test=arr[FASHION_FILES[2]])
        return dest
    return _import_cifar10(src, home)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from core.validation import LabError

    ap = argparse.ArgumentParser(prog="python -m core.datasets.keras_cache",
                                 description="Import local copies of a Keras built-in dataset into Keras' cache.")
    ap.add_argument("name", help=f"one of {', '.join(KERAS_DATASETS)}")
    ap.add_argument("source", help="folder or file with the dataset files")
    ap.add_argument("--keras-home", default=None, help="cache root (default: KERAS_HOME or ~/.keras)")
    args = ap.parse_args(argv)
    try:
        out = import_keras_dataset(args.name, args.source, keras_home_dir=args.keras_home)
    except LabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"Imported {args.name} into {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
