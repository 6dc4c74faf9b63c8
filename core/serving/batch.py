"""Predicting many image files at once: files and folders of any size, streamed in batches.

Each file gets one :class:`BatchRow`: the top class, the calibrated probabilities of every class
(the run's temperature when it has one, as single-image predict and the Predict page), a
low-confidence mark, the compatibility warnings of ``core.serving.inference``, or an error for a
file that cannot be read (missing, not an image, truncated, a decompression bomb). Only one
batch of images is decoded at a time; each image is resized to the model's input as soon as it is
decoded (``Preprocessing.resize_tf``, the lab's own resize), so memory does not grow with the
number of files.

Probabilities come from one call per batch: ONNX Runtime when the run has a verified ONNX export
(its parity check met the goal; ``core.serving.export``) and the runtime asked is ``auto`` or
``onnx``; otherwise Keras (``model.predict`` for backbones, the direct call for small models, as
``TrainedModel`` does). The runtime sees the same raw pixels either way.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.datasets.common import IMAGE_EXTENSIONS
from core.validation import LabError, ValidationError

RUNTIMES = ("auto", "keras", "onnx")
ABSOLUTE_LOW = 0.5  # the Predict page's: below, by the model's own account its answer is more likely wrong


def near_chance_threshold(k: int) -> float:
    """Top-1 probabilities below this are close to guessing among ``k`` classes: twice chance
    (2/k), but never above halfway between chance and certainty (binary models: 0.75)."""
    k = max(2, int(k))
    return min(2.0 / k, (1.0 + 1.0 / k) / 2.0)


def is_low_confidence(p: float, k: int) -> bool:
    """The Predict page's low-confidence rule: the top-1 probability ``p`` of ``k`` classes is near
    chance or under one half."""
    if k < 2 or p != p:
        return False
    return p < near_chance_threshold(k) or p < ABSOLUTE_LOW


@dataclass
class BatchRow:
    """The result for one file, in the order the files were given."""

    file: str
    probs: np.ndarray | None = None   # calibrated when ``calibrated``
    error: str | None = None
    notices: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    thumbnail: np.ndarray | None = None  # a small uint8 copy, when asked (``predict_bytes``)

    def top(self, class_names: list[str], k: int = 1) -> list[dict]:
        if self.probs is None:
            return []
        order = np.argsort(-self.probs)[: max(1, k)]
        return [{"class": class_names[i] if i < len(class_names) else str(i), "index": int(i),
                 "probability": float(self.probs[i])} for i in order]


@dataclass
class ImageList:
    """The files to predict: as given, or found below a given folder (``skipped`` other files there)."""

    files: list[str]
    skipped: int = 0


def collect_images(paths: Iterable[str]) -> ImageList:
    """Files as given (each tried, whatever its suffix: a bad one gets its error row) and, for a
    folder, every image below it (suffixes the lab reads: ``IMAGE_EXTENSIONS``), sorted; other
    files below a folder are skipped and counted. A folder's files keep the folder as written."""
    out = ImageList(files=[])
    for given in paths:
        p = Path(given)
        if not p.is_dir():
            out.files.append(str(given))
            continue
        for root, dirs, names in os.walk(p):
            dirs.sort()
            for name in sorted(names):
                if name.startswith("."):
                    continue
                if Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                    out.files.append(os.path.join(root, name))
                else:
                    out.skipped += 1
    return out


def verified_onnx(folder) -> dict | None:
    """The newest ONNX export of a run folder whose parity check met the goal, or None."""
    from core.serving.export import list_exports

    for rep in list_exports(folder):
        parity = rep.get("parity") or {}
        if rep.get("format") == "onnx" and not rep.get("quantize") and parity.get("meets_goal") is True:
            return rep
    return None


@dataclass
class Runtime:
    """Which runtime computes the probabilities, and how: raw pixels (N, h, w, c) float32 -> (N, k)."""

    name: str                   # "keras" or "onnx"
    describe: str               # one line for the user
    run: Callable[[np.ndarray], np.ndarray]
    tolerance: float = 1e-5     # how far from the Keras single-image path the results may be


def choose_runtime(tm, runtime: str = "auto") -> Runtime:
    """The runtime for ``tm`` (a ``TrainedModel``): ONNX Runtime when asked (``onnx``) or allowed
    (``auto``) and the run folder holds a verified ONNX export, else Keras. ``onnx`` without a
    verified export is a ValidationError saying how to make one."""
    if runtime not in RUNTIMES:
        raise ValidationError(f"--runtime must be one of {', '.join(RUNTIMES)}. Got {runtime!r} instead.")
    rep = verified_onnx(tm.path.parent) if runtime != "keras" else None
    if runtime == "onnx" and rep is None:
        raise ValidationError(
            f"--runtime onnx needs a verified ONNX export of the run, and {str(tm.path.parent)!r} has none (no "
            "export, or its parity check did not meet the goal). Export it first (python -m core export RUN "
            "--format onnx, or the Run page's Export), or use --runtime keras or auto.")
    if rep is not None:
        from core.serving.export import exported_predictor

        run = exported_predictor(rep["path"], "onnx")
        p = rep["parity"]
        return Runtime("onnx", f"ONNX Runtime ({Path(rep['path']).name}, verified: max |delta p| "
                               f"{p['max_abs_diff']:.2g} on {p['images']} test images)",
                       lambda x: np.asarray(run(x), dtype=np.float64),
                       tolerance=max(float(p.get("goal_max_abs_diff") or 1e-4), float(p["max_abs_diff"])))
    return _keras_runtime(tm)


def _keras_runtime(tm) -> Runtime:
    backbone = tm.preprocessing.normalization == "backbone" or bool((tm.meta or {}).get("backbone"))

    def run(x: np.ndarray) -> np.ndarray:
        inp = np.asarray(tm.preprocessing.normalize_tf(x), dtype=np.float32)
        if backbone:
            out = tm.model.predict(inp, batch_size=len(inp), verbose=0)
        else:
            out = tm.model(inp, training=False)
            out = out.numpy() if hasattr(out, "numpy") else out
        return np.asarray(out, dtype=np.float64)

    how = "model.predict per batch" if backbone else "direct call per batch"
    return Runtime("keras", f"Keras ({how})", run)


def _decode(tm, src: str | bytes, thumbnail: int = 0):
    """One file (or the bytes of one) decoded, checked and resized to the model input:
    ``(row, pixels or None)``; with a ``thumbnail`` px copy of the image when > 0."""
    from core.data.images import load_image
    from core.files import describe_os_error
    from core.serving.inference import display_copy, image_warnings

    row = BatchRow(file="" if isinstance(src, bytes) else str(src))
    try:
        img = load_image(src if isinstance(src, bytes) else Path(src))
    except LabError as e:
        row.error = str(e)
        return row, None
    except OSError as e:  # permissions, an I/O error
        row.error = describe_os_error(e, "the upload" if isinstance(src, bytes) else src, "read")
        return row, None
    row.notices = list(img.notices)
    row.warnings = image_warnings(img, tm.meta)
    pixels = np.asarray(tm.preprocessing.resize_tf(np.asarray(img.array)), dtype=np.float32)
    if thumbnail > 0:
        row.thumbnail = display_copy(np.asarray(img.array), thumbnail)
    return row, pixels


def _decode_bytes(tm, name: str, data: bytes, thumbnail: int):
    """``_decode`` of an upload held in memory, its row named ``name``."""
    row, pixels = _decode(tm, bytes(data), thumbnail)
    row.file = name
    return row, pixels


def predict_files(tm, files: list[str], *, runtime: Runtime, batch_size: int = 64, calibrated: bool = True,
                  workers: int | None = None) -> Iterator[BatchRow]:
    """A :class:`BatchRow` per file, in order, streamed: ``batch_size`` files are decoded (in
    ``workers`` threads), their probabilities computed in one ``runtime`` call, their rows yielded."""
    return _predict(tm, files, lambda f: _decode(tm, f), runtime=runtime, batch_size=batch_size,
                    calibrated=calibrated, workers=workers)


def predict_bytes(tm, items: list[tuple[str, bytes]], *, runtime: Runtime, batch_size: int = 64,
                  calibrated: bool = True, workers: int | None = None, thumbnail: int = 0) -> Iterator[BatchRow]:
    """``predict_files`` for images held in memory (the Predict page's uploads): ``(name, bytes)``
    pairs, nothing written to disk; each row named by its ``name``, with a ``thumbnail`` px copy
    of the image when ``thumbnail`` > 0. A caller that stops iterating stops between batches."""
    return _predict(tm, items, lambda it: _decode_bytes(tm, it[0], it[1], int(thumbnail)), runtime=runtime,
                    batch_size=batch_size, calibrated=calibrated, workers=workers)


def _predict(tm, sources: list, decode, *, runtime: Runtime, batch_size: int, calibrated: bool,
             workers: int | None) -> Iterator[BatchRow]:
    from core.metrics.calibration import apply_temperature

    if int(batch_size) < 1:
        raise ValidationError(f"--batch-size must be a whole number of at least 1. Got {batch_size} instead.")
    t = tm.temperature if calibrated else None
    workers = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, len(sources), int(batch_size)):
            decoded = list(pool.map(decode, sources[start:start + int(batch_size)]))
            good = [(row, px) for row, px in decoded if px is not None]
            if good:
                probs = runtime.run(np.stack([px for _, px in good]))
                if t is not None:
                    probs = apply_temperature(probs, t)
                for (row, _), p in zip(good, probs):
                    row.probs = np.asarray(p, dtype=np.float64)
            yield from (row for row, _ in decoded)


class Progress:
    """``done of total`` with the rate and an ETA, written through ``say`` at most every ``every`` s."""

    def __init__(self, total: int, say: Callable[[str], None], *, every: float = 3.0, clock=time.monotonic):
        self.total, self.say, self.every, self.clock = total, say, every, clock
        self.start = self.last = clock()
        self.done = 0

    def step(self, n: int = 1) -> None:
        self.done += n
        now = self.clock()
        if now - self.last >= self.every and self.done < self.total:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            eta = (self.total - self.done) / rate if rate > 0 else float("nan")
            self.say(f"{self.done} of {self.total} images ({self.done / self.total:.0%}), {rate:.0f} images/s, "
                     f"ETA {eta:.0f} s")

    def summary(self) -> str:
        secs = max(self.clock() - self.start, 1e-9)
        return f"{self.done} images in {secs:.1f} s ({self.done / secs:.0f} images/s)"


def csv_header(class_names: list[str]) -> list[str]:
    return ["file", "predicted_class", "probability", "low_confidence",
            *[f"p_{c}" for c in class_names], "warnings", "notices", "error"]


def csv_row(row: BatchRow, class_names: list[str]) -> list[str]:
    """One CSV row; probabilities with 8 significant digits, warnings joined by `` | ``."""
    k = len(class_names)
    joined = [" | ".join(row.warnings), " | ".join(row.notices)]
    if row.probs is None:
        return [row.file, "", "", "", *[""] * k, *joined, row.error or ""]
    top = row.top(class_names, 1)[0]
    return [row.file, top["class"], f"{top['probability']:.8g}",
            "yes" if is_low_confidence(top["probability"], k) else "no",
            *[f"{float(p):.8g}" for p in row.probs], *joined, ""]
