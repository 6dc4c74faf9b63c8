#!/usr/bin/env python3
"""Predict images with a model exported by the lab (``python -m core export`` or the Run page's
"Export" section): ONNX through onnxruntime, LiteRT (.tflite) through ai_edge_litert.

Needs only numpy, pillow and onnxruntime or ai-edge-litert -- no TensorFlow, no lab code:

    pip install numpy pillow onnxruntime        # for .onnx
    pip install numpy pillow ai-edge-litert     # for .tflite

    python scripts/predict_exported.py run12_onnx.onnx photo1.jpg photo2.png [--top-k 3] [--json]

The sidecar JSON written next to the export (``<model file>.json``; ``--sidecar`` to give another
path) says what the graph expects; this script applies the part that is NOT in the graph:

1. open the image, turn it upright (EXIF orientation), convert to grayscale ("L") or RGB as
   ``input.color`` says (an alpha channel is dropped);
2. resize to ``input.resize.width`` x ``input.resize.height`` with bilinear interpolation (Pillow's
   bilinear filter widens when downscaling, like the lab's ``tf.image.resize(antialias=True)``; the
   two differ by a grey level here and there, so probabilities can differ slightly from the lab's
   for images that need resizing -- none for images already at the input size);
3. float32 pixel values 0..255, shape (N, height, width, channels).

The normalisation (``input.normalization``) is inside the graph. The output is class probabilities
in the order of ``class_names``; ``--calibrated`` applies the run's temperature
(``calibration_temperature``) when it has one, as the lab's Predict page does.

An image that cannot be read (missing, not an image, truncated, or more than ``MAX_PIXELS``
pixels: a decompression bomb) gets its own error line and the others are still predicted; the
exit status is 0 when every image was predicted, 2 when any could not be read.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from pathlib import Path

import numpy as np

SCHEMA = "lab-export/1"
# Images with more pixels (width x height) are refused before decoding: the lab's limit
# (core.data.images.DEFAULT_MAX_PIXELS, repeated here because this script runs without the lab).
MAX_PIXELS = 80_000_000


class ImageReadError(ValueError):
    """An image that cannot be read (missing, not an image, truncated, too large): one line naming it."""


def load_sidecar(model_path: Path, sidecar: str | None = None) -> dict:
    path = Path(sidecar) if sidecar else Path(str(model_path) + ".json")
    if not path.is_file():
        raise SystemExit(f"error: no sidecar JSON at {path}: it is written next to the export as <file>.json "
                         "(or give --sidecar PATH).")
    meta = json.loads(path.read_text())
    if meta.get("schema") != SCHEMA:
        raise SystemExit(f"error: {path} is not a lab export sidecar (schema {meta.get('schema')!r}, "
                         f"expected {SCHEMA!r}).")
    return meta


def _open(path: str | Path):
    """The Pillow image of ``path``, opened lazily, refused before decoding when it has more than
    ``MAX_PIXELS`` pixels (the lab's limit; Pillow's own, larger one never shows in the message)."""
    from PIL import Image

    name = repr(Path(path).name)
    too_large = (f"{name} is too large to decode safely (possible decompression bomb); the limit is "
                 f"{MAX_PIXELS:,} pixels (width x height).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError as e:
        m = re.search(r"Image size \((\d+) pixels\)", str(e))
        raise ImageReadError(too_large + (f" It is {int(m.group(1)):,} pixels." if m else "")) from None
    w, h = im.size
    if w * h > MAX_PIXELS:
        im.close()
        raise ImageReadError(f"{too_large} It is {w}x{h} = {w * h:,} pixels.")
    return im


def load_image(path: str | Path, meta: dict) -> np.ndarray:
    """One image as float32 (height, width, channels), values 0..255, resized as the sidecar says;
    ``ImageReadError`` (one line, naming the file) when it cannot be read."""
    from PIL import Image, ImageOps

    spec = meta["input"]
    try:
        with _open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                im = im.convert("RGBA" if spec["color"] == "rgb" else "LA")
                im = Image.fromarray(np.asarray(im)[..., :-1].squeeze())  # drop alpha, no compositing
            im = im.convert("L" if spec["color"] == "grayscale" else "RGB")
            size = (int(spec["resize"]["width"]), int(spec["resize"]["height"]))
            if im.size != size:
                im = im.resize(size, Image.Resampling.BILINEAR)
            arr = np.asarray(im, dtype=np.float32)
    except ImageReadError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError) as e:  # missing, unreadable, truncated or not an image
        raise ImageReadError(f"cannot read the image {path}: {e}") from None
    return arr[..., None] if arr.ndim == 2 else arr


def predictor(model_path: Path, fmt: str):
    """A function: float32 batch (N, H, W, C) -> model output (N, classes)."""
    if fmt == "onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return lambda x: sess.run(None, {name: x})[0]
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(model_path))
    inp, out = it.get_input_details()[0], it.get_output_details()[0]

    def run(x):
        it.resize_tensor_input(inp["index"], list(x.shape))
        it.allocate_tensors()
        it.set_tensor(inp["index"], x)
        it.invoke()
        return it.get_tensor(out["index"]).copy()

    return run


def apply_temperature(p: np.ndarray, t: float) -> np.ndarray:
    z = np.log(np.clip(p, 1e-12, 1.0)) / float(t)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def predict(model_path: str | Path, images: list[str], *, sidecar: str | None = None,
            calibrated: bool = False) -> tuple[list[np.ndarray | str], dict]:
    """For each of ``images``, its class probabilities (classes,) or, when it cannot be read, the
    reason (a str); and the sidecar. One bad image does not stop the others."""
    model_path = Path(model_path)
    meta = load_sidecar(model_path, sidecar)
    results: list[np.ndarray | str] = []
    for p in images:
        try:
            results.append(load_image(p, meta))
        except ImageReadError as e:
            results.append(str(e))
    good = [i for i, r in enumerate(results) if not isinstance(r, str)]
    if good:
        x = np.stack([results[i] for i in good]).astype(np.float32)
        probs = np.asarray(predictor(model_path, meta["format"])(x), dtype=np.float64)
        t = meta.get("calibration_temperature")
        if calibrated and t:
            probs = apply_temperature(probs, t)
        for i, p in zip(good, probs, strict=True):
            results[i] = p
    return results, meta


def _print(images: list[str], results: list, names: list[str], top_k: int, as_json: bool) -> None:
    if as_json:
        print(json.dumps([{"image": i, "error": r} if isinstance(r, str) else
                          {"image": i, "probabilities": dict(zip(names, map(float, r), strict=True))}
                          for i, r in zip(images, results, strict=True)]))
        return
    for img, p in zip(images, results, strict=True):
        if isinstance(p, str):
            print(f"{img}: error: {p}")
            continue
        top = np.argsort(-p)[:max(1, top_k)]
        print(f"{img}: " + ", ".join(f"{names[k]} {p[k]:.3f}" for k in top))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Predict images with a lab export (ONNX or LiteRT).",
                                 epilog="Every image gets its own result, or its own error line (an unreadable, "
                                        "truncated or too large file) and the others are still predicted. Exit "
                                        "status: 0 when every image was predicted, 2 when any image could not be read.")
    ap.add_argument("model", help="the exported .onnx or .tflite file")
    ap.add_argument("images", nargs="+", help="image files (PNG, JPEG, ...)")
    ap.add_argument("--sidecar", help="sidecar JSON (default: <model>.json)")
    ap.add_argument("--top-k", type=int, default=3, help="classes shown per image (default 3)")
    ap.add_argument("--calibrated", action="store_true", help="apply the run's temperature, when it has one")
    ap.add_argument("--json", action="store_true", help="print the probabilities as JSON (an \"error\" instead "
                                                        "for an image that could not be read)")
    args = ap.parse_args(argv)
    results, meta = predict(args.model, args.images, sidecar=args.sidecar, calibrated=args.calibrated)
    _print(args.images, results, meta["class_names"], args.top_k, args.json)
    failed = [i for i, r in zip(args.images, results, strict=True) if isinstance(r, str)]
    if failed:
        print(f"error: {len(failed)} of {len(results)} images could not be read: {', '.join(failed)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
