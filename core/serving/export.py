"""Export a succeeded run to ONNX or LiteRT (TFLite), verified before it is offered.

The exported graph takes raw pixels: float32 values in [0, 255], NHWC, at the model's input size
(height, width, channels of the run's preprocessing). The run's normalisation (rescale, min-max,
per-image mean, a backbone's own ``preprocess_input``: caffe / tf / torch) is built INTO the graph
from plain tensor ops and constants (:func:`normalize_graph`), so an exported model has exactly one
input; a Keras ``Normalization`` layer inside the model (EfficientNet's) is replaced by the same
arithmetic on constants, because tf2onnx turns its stored tensors into extra graph inputs.
Channel conversion and resizing stay outside the graph: the sidecar JSON next to the export says
the input size, channels and resize method, and ``scripts/predict_exported.py`` applies them
(numpy + pillow + onnxruntime or ai_edge_litert; no TensorFlow, no lab).

The files are made with Keras' own ``model.export(path, format="onnx" | "litert")`` (tf2onnx and
TensorFlow's TFLite converter underneath); LiteRT quantisation: ``float16`` (weights stored as
float16) or ``int8`` (weights and activations, calibrated on a representative dataset of the run's
training and validation images; input and output stay float32). LiteRT exports use the built-in op
set only, so they run on the plain LiteRT interpreter.

Verification: the export is run (onnxruntime; ``ai_edge_litert.interpreter.Interpreter``) on the
run's stored test split, resized exactly as at training time, next to the Keras model on the same
pixels; the largest absolute difference of class probabilities, the prediction agreement and the
test accuracy of both are written to ``<export file>.json`` (with the sidecar facts) and both
files are registered as run artifacts. A float32 export that does not reproduce Keras (agreement
under :data:`MIN_AGREEMENT_FLOAT32`) or that cannot be run is refused with a message, and nothing
is left behind: files are written to a temporary name and moved into place (``os.replace``) only
after verification.

``python -m core export RUN --format onnx|tflite [--quantize float16|int8] [--out PATH]``
(core.cli.export); exit 2 for user errors.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from core.files import OutputError, atomic_write, atomic_write_text, describe_os_error, raise_write_error
from core.store.artifacts import RunFolder, file_name
from core.validation import ModelError, NotFoundError, ValidationError, check_number

__all__ = [
    "FORMATS", "QUANTIZATIONS", "SCHEMA", "ExportError", "export_run", "export_model_file", "pixel_model",
    "normalize_graph", "exported_predictor", "verify_export", "list_exports", "export_name",
]

FORMATS = {"onnx": ".onnx", "tflite": ".tflite"}
FORMAT_TITLES = {"onnx": "ONNX", "tflite": "LiteRT (TFLite)"}
QUANTIZATIONS = ("float16", "int8")  # LiteRT only; None = float32
SCHEMA = "lab-export/1"
GOAL_MAX_ABS_DIFF = 1e-4        # float32 exports: largest |delta p| against Keras
MIN_AGREEMENT_FLOAT32 = 0.99    # below this a float32 export is refused (a broken conversion)
REPRESENTATIVE_IMAGES = 200     # int8 calibration: training (then validation) images
_IMAGENET_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
_IMAGENET_TORCH_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_TORCH_STD = (0.229, 0.224, 0.225)


class ExportError(ModelError):
    """A model that cannot be exported or an export that cannot be verified (message says why)."""


# --------------------------------------------------------------------------------------
# request checks
# --------------------------------------------------------------------------------------
def _check_request(fmt: str, quantize: str | None) -> tuple[str, str | None]:
    fmt = str(fmt).lower()
    if fmt == "litert":
        fmt = "tflite"
    if fmt not in FORMATS:
        raise ValidationError(f"Unknown export format {fmt!r}: use 'onnx' or 'tflite' (LiteRT).")
    if quantize in ("", "none", "float32"):
        quantize = None
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ValidationError(f"Unknown quantisation {quantize!r}: use 'float16' or 'int8' (or none for float32).")
    if quantize is not None and fmt != "tflite":
        raise ValidationError(f"Quantisation ({quantize}) is offered for LiteRT exports only (--format tflite); "
                              "ONNX exports are float32.")
    return fmt, quantize


def export_name(run_id: int, fmt: str, quantize: str | None = None) -> str:
    """The file name of a run's export in its ``exports/`` folder, e.g. ``run12_tflite_int8.tflite``."""
    return f"run{int(run_id)}_{fmt}{'_' + quantize if quantize else ''}{FORMATS[fmt]}"


def _check_out(out: str | os.PathLike | None, default_name: str) -> Path | None:
    """Where ``--out`` will be written, checked before any work (folder exists and is writable)."""
    if out is None or str(out) == "":
        return None
    p = Path(out).expanduser()
    if p.is_dir():
        p = p / default_name
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ValidationError(f"Cannot write the export to {str(p)!r}: the folder {str(parent)!r} does not exist.")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise ValidationError(f"Cannot write the export to {str(p)!r}: no permission to write there.")
    return p


def _resolve_run(store, run_id: int) -> tuple[Any, RunFolder]:
    """The succeeded run and its folder (model.keras checked)."""
    run = store.get_run(int(run_id))  # NotFoundError for an unknown run
    if run.status != "succeeded":
        raise ValidationError(f"Run {run.id} has status {run.status}: only a succeeded run (with a saved model and "
                              "a test split) can be exported.")
    folder = RunFolder.of(run, store)
    if not folder.path_of("model").is_file():
        raise NotFoundError(f"Run {run.id} has no model file: {str(folder.path_of('model'))!r} does not exist "
                            "(deleted or moved?); nothing to export.")
    return run, folder


# --------------------------------------------------------------------------------------
# the graph that is exported: raw pixels -> run's normalisation -> model
# --------------------------------------------------------------------------------------
def normalize_graph(x, prep):
    """The run's normalisation (``Preprocessing.normalize_tf``) as plain Keras ops on ``x`` (float32
    pixels in [0, 255], NHWC): constants only, no weights or stored tensors, so converters keep a
    single graph input."""
    from keras import ops

    mode = prep.normalization
    if mode == "rescale":
        return x / 255.0
    if mode == "minmax":
        return (x - prep.min_value) / (prep.max_value - prep.min_value)
    if mode == "per_image_mean":
        return (x - ops.mean(x, axis=(1, 2, 3), keepdims=True)) / 255.0
    if mode == "backbone":
        kind = prep_backbone_mode(prep)
        if kind == "caffe":  # RGB -> BGR, ImageNet mean subtracted
            bgr = ops.take(x, np.array([2, 1, 0], dtype=np.int32), axis=-1)
            return bgr - np.asarray(_IMAGENET_CAFFE_BGR_MEAN, dtype=np.float32)
        if kind == "tf":
            return x / 127.5 - 1.0
        if kind == "torch":
            return (x / 255.0 - np.asarray(_IMAGENET_TORCH_MEAN, np.float32)) / np.asarray(_IMAGENET_TORCH_STD,
                                                                                            np.float32)
    return x  # "none", or a backbone that rescales itself


def prep_backbone_mode(prep) -> str:
    from core.data.preprocess import backbone_preprocess_mode

    return backbone_preprocess_mode(prep.backbone)


def _constant_normalization_cls():
    """A layer doing what a built ``keras.layers.Normalization`` does, with its mean and variance as
    numpy constants (tf2onnx makes the Normalization layer's stored tensors extra graph inputs)."""
    import keras

    class ConstantNormalization(keras.layers.Layer):
        def __init__(self, mean, variance, invert=False, **kw):
            super().__init__(**kw)
            self.mean_np = np.asarray(mean, dtype=np.float32)
            self.scale_np = np.maximum(np.sqrt(np.asarray(variance, dtype=np.float32)),
                                       np.float32(keras.backend.epsilon())).astype(np.float32)
            self.invert = bool(invert)

        def call(self, x):
            return self.mean_np + x * self.scale_np if self.invert else (x - self.mean_np) / self.scale_np

    return ConstantNormalization


def _plain_graph(model):
    """``model`` with every Normalization layer swapped for :func:`_constant_normalization_cls`; the
    other layers are shared (same weights). The model itself when it has none."""
    import keras

    if not any(isinstance(layer, keras.layers.Normalization) for layer in model.layers):
        return model
    cls = _constant_normalization_cls()

    def swap(layer):
        if isinstance(layer, keras.layers.Normalization):
            return cls(keras.ops.convert_to_numpy(layer.mean), keras.ops.convert_to_numpy(layer.variance),
                       invert=layer.invert, name=layer.name + "_const")
        return layer

    try:
        return keras.models.clone_model(model, clone_function=swap)
    except Exception as e:  # noqa: BLE001 - a subclassed or nested model
        raise ExportError(f"The model's Normalization layer cannot be replaced by constants ({e}); the export "
                          "would need extra graph inputs.") from None


def pixel_model(tm):
    """A Keras model taking raw pixels (float32 0..255, NHWC at the run's input size): the run's
    normalisation (:func:`normalize_graph`) followed by the trained model; called once (export needs it)."""
    import keras

    prep = tm.preprocessing
    shape = tuple(int(v) for v in prep.input_shape)
    got = tuple(tm.model.input_shape[1:])
    if got != shape:
        raise ExportError(f"The model takes inputs of shape {got} but the run's preprocessing gives {shape}: the "
                          "exported graph would not match the training inputs.")
    if getattr(tm.model, "dtype_policy", None) is not None and "float16" in str(tm.model.dtype_policy.name):
        raise ExportError("The model was trained with mixed precision (float16 layers); the exporters need a "
                          "float32 model. Re-train without mixed_precision to export it.")
    inner = _plain_graph(tm.model)
    inp = keras.Input(shape, dtype="float32", name="pixels")
    model = keras.Model(inp, inner(normalize_graph(inp, prep)), name="lab_export")
    model(np.zeros((1, *shape), np.float32))
    return model


# --------------------------------------------------------------------------------------
# the run's images, resized as at training time (raw pixel values, not normalised)
# --------------------------------------------------------------------------------------
def _split_parts(tm, folder: RunFolder):
    from core.datasets import load_dataset
    from core.datasets.splits import Split, apply_split

    spec = tm.meta.get("dataset") or {}
    if not spec.get("name") or not folder.path_of("split").is_file():
        raise NotFoundError(f"{str(folder.path)!r} has no {file_name('split')} or no dataset in {file_name('meta')}: "
                            "the export cannot be verified without the run's test split.")
    ds = load_dataset(spec["name"], **dict(spec.get("params") or {}))
    return apply_split(ds, Split.from_dict(folder.read_json("split")))


def pixel_batches(tm, ds, *, batch_size: int = 64, limit: int | None = None):
    """Batches ``(x, y)`` of ``ds``: x float32 raw pixels at the model's size (the lab's own resize,
    ``Preprocessing.resize_tf``), y the labels; at most ``limit`` images."""
    from core.data.pipeline import make_dataset
    from core.data.preprocess import Preprocessing

    prep = tm.preprocessing
    probe = Preprocessing(prep.input_size, prep.channels, "none")
    n = 0
    for x, y in make_dataset(ds, probe, batch_size=batch_size, training=False, cache=False):
        x, y = np.asarray(x, dtype=np.float32), np.asarray(y).reshape(-1)
        if limit is not None:
            x, y = x[:limit - n], y[:limit - n]
        if len(x):
            yield x, y
        n += len(x)
        if limit is not None and n >= limit:
            return


def keras_probabilities(tm, x: np.ndarray) -> np.ndarray:
    """The Keras model on raw pixels, normalised the lab's way (``Preprocessing.normalize_tf``)."""
    from core.metrics.classification import _to_probabilities

    return _to_probabilities(np.asarray(tm.model(tm.preprocessing.normalize_tf(x), training=False)))


# --------------------------------------------------------------------------------------
# conversion (Keras' own model.export) with clear messages for ops a converter lacks
# --------------------------------------------------------------------------------------
@contextmanager
def _captured_log(name: str):
    """The records logged by logger ``name`` (and its children) while the block runs."""
    records: list[logging.LogRecord] = []

    class _Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    logger, handler = logging.getLogger(name), _Keep(level=logging.WARNING)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def _layers_named_in(paths: list[str], model) -> list[str]:
    """The model's layers whose names appear in converter node paths ('functional_1/aa_resize_1/...')."""
    names = {}
    for layer in _all_layers(model):
        names[layer.name] = f"{layer.name!r} ({type(layer).__name__})"
    found = []
    for path in paths:
        for part in path.split("/"):
            for cand in (part, re.sub(r"_\d+$", "", part)):
                if cand in names and names[cand] not in found:
                    found.append(names[cand])
    return found


def _all_layers(model):
    for layer in getattr(model, "layers", []):
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def _unsupported(converter: str, ops: list[str], paths: list[str], model) -> ExportError:
    layers = _layers_named_in(paths, model)
    where = f", used by layer {', '.join(layers)}" if layers else ""
    return ExportError(f"This model cannot be exported to {converter}: the converter has no equivalent of the "
                       f"TensorFlow op(s) {', '.join(sorted(set(ops)))}{where}. Use a model without that layer "
                       "(e.g. a Resizing layer without antialias) or the other format.")


def _litert_options(quantize: str | None, representative) -> dict[str, Any]:
    import tensorflow as tf

    spec: dict[str, Any] = {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}  # the plain LiteRT interpreter
    opts: dict[str, Any] = {"target_spec": spec}
    if quantize:
        opts["optimizations"] = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        spec["supported_types"] = [tf.float16]
    if quantize == "int8":
        opts["representative_dataset"] = representative
    return opts


def export_model_file(model, path: str | Path, fmt: str, quantize: str | None = None, representative=None) -> None:
    """``model.export(path, format=...)`` (ONNX or LiteRT); :class:`ExportError` naming the op (and
    layer) a converter lacks, or the converter's first message line."""
    path = str(path)
    if fmt == "onnx":
        with _captured_log("tf2onnx") as records, warnings.catch_warnings():
            # Keras' bundled tf2onnx shim probes ``np.object`` at import (a NumPy FutureWarning, not ours)
            warnings.filterwarnings("ignore", message=".*np.object.*", category=FutureWarning)
            try:
                model.export(path, format="onnx", verbose=False)
            except Exception as e:  # noqa: BLE001 - any converter failure becomes a message
                raise_write_error(e)
                raise ExportError(f"The ONNX conversion (tf2onnx) failed: {_first_line(e)}") from None
        found = [re.search(r"Tensorflow op \[(.+?): (\w+)\] is not supported", r.getMessage()) for r in records]
        found = [m for m in found if m]
        if found:
            raise _unsupported("ONNX", [m.group(2) for m in found], [m.group(1) for m in found], model)
        return
    try:
        model.export(path, format="litert", verbose=False, **_litert_options(quantize, representative))
    except Exception as e:  # noqa: BLE001
        raise_write_error(e)
        msg = str(e)
        ops = re.findall(r"'tf\.(\w+)' op is neither", msg)
        if ops:
            raise _unsupported("LiteRT", ops, re.findall(r'fused\["\w+:", "([^"@]+)@', msg), model) from None
        raise ExportError(f"The LiteRT conversion failed: {_first_line(e)}") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:500] if text else type(e).__name__


# --------------------------------------------------------------------------------------
# running and verifying an exported file
# --------------------------------------------------------------------------------------
def exported_predictor(path: str | Path, fmt: str, *, threads: int | None = None):
    """A function ``x (float32 NHWC raw pixels) -> model output`` running the exported file with
    onnxruntime or the LiteRT interpreter. :class:`ExportError` when the file cannot be loaded."""
    path = Path(path)
    runtime = "onnxruntime" if fmt == "onnx" else "the LiteRT interpreter"
    try:
        run = _onnx_predictor(path, threads) if fmt == "onnx" else _litert_predictor(path, threads)
    except ExportError:
        raise
    except Exception as e:  # noqa: BLE001 - a damaged, truncated or foreign file
        raise ExportError(f"The exported file {path.name!r} cannot be loaded by {runtime} (damaged, truncated or "
                          f"not a {FORMAT_TITLES[fmt]} model): {_first_line(e)}") from None
    return run


def _onnx_predictor(path: Path, threads: int | None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = int(threads)
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    inputs = sess.get_inputs()
    if len(inputs) != 1:
        raise ExportError(f"The exported ONNX graph has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
                          "a lab export must take the pixels only.")
    name = inputs[0].name
    return lambda x: sess.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]


def _litert_predictor(path: Path, threads: int | None):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    inp, out = it.get_input_details(), it.get_output_details()
    if len(inp) != 1:
        raise ExportError(f"The exported LiteRT model has {len(inp)} inputs; a lab export must take the pixels only.")
    idx, shape = inp[0]["index"], [list(inp[0]["shape"])]

    def run(x):
        x = np.ascontiguousarray(x, dtype=np.float32)
        if list(x.shape) != shape[0]:
            it.resize_tensor_input(idx, list(x.shape))
            it.allocate_tensors()
            shape[0] = list(x.shape)
        it.set_tensor(idx, x)
        it.invoke()
        return it.get_tensor(out[0]["index"]).copy()

    return run


def verify_export(tm, path: str | Path, fmt: str, batches) -> dict[str, Any]:
    """Run the export and the Keras model on the same raw-pixel ``batches`` ((x, y) pairs): largest
    and mean |delta p|, prediction agreement, test accuracy of both."""
    from core.metrics.classification import _to_probabilities

    run = exported_predictor(path, fmt)
    n = agree = ok_k = ok_e = 0
    max_d = sum_d = 0.0
    t_k = t_e = 0.0
    for x, y in batches:
        t = time.perf_counter()
        pk = keras_probabilities(tm, x)
        t_k += time.perf_counter() - t
        t = time.perf_counter()
        try:
            pe = _to_probabilities(run(x))
        except Exception as e:  # noqa: BLE001
            raise ExportError(f"The exported file {Path(path).name!r} failed while predicting: "
                              f"{_first_line(e)}") from None
        t_e += time.perf_counter() - t
        if pe.shape != pk.shape or not np.isfinite(pe).all():
            raise ExportError(f"The exported model gives {'non-finite values' if pe.shape == pk.shape else pe.shape} "
                              f"where Keras gives probabilities of shape {pk.shape}: it does not reproduce the model.")
        d = np.abs(pe - pk)
        max_d, sum_d = max(max_d, float(d.max())), sum_d + float(d.mean(axis=1).sum())
        yk, ye = pk.argmax(1), pe.argmax(1)
        n, agree = n + len(x), agree + int((yk == ye).sum())
        ok_k, ok_e = ok_k + int((yk == y).sum()), ok_e + int((ye == y).sum())
    if n == 0:
        raise NotFoundError("The run's test split is empty: the export cannot be verified.")
    return {"split": "test", "images": n, "max_abs_diff": max_d, "mean_abs_diff": sum_d / n, "agreement": agree / n,
            "accuracy_keras": ok_k / n, "accuracy_export": ok_e / n, "accuracy_cost": (ok_k - ok_e) / n,
            "seconds_keras": t_k, "seconds_export": t_e}


def _check_parity(parity: dict, fmt: str, quantize: str | None) -> None:
    parity["goal_max_abs_diff"] = None if quantize else GOAL_MAX_ABS_DIFF
    parity["meets_goal"] = None if quantize else bool(parity["max_abs_diff"] < GOAL_MAX_ABS_DIFF
                                                      and parity["agreement"] == 1.0)
    if not quantize and parity["agreement"] < MIN_AGREEMENT_FLOAT32:
        raise ExportError(f"The {FORMAT_TITLES[fmt]} export does not reproduce the Keras model: it agrees on "
                          f"{parity['agreement']:.1%} of the test images (max |delta p| {parity['max_abs_diff']:.3g}); "
                          "refused.")


# --------------------------------------------------------------------------------------
# a run's export: files in <run folder>/exports, written atomically, registered
# --------------------------------------------------------------------------------------
def sidecar(tm, run, fmt: str, quantize: str | None, name: str) -> dict[str, Any]:
    """What a consumer needs besides the file: input (size, channels, resize method, value range,
    normalisation in the graph), output, class names (schema :data:`SCHEMA`, see docs/EXPORT.md)."""
    prep = tm.preprocessing
    h, w, c = (int(v) for v in prep.input_shape)
    return {
        "schema": SCHEMA, "run_id": int(run.id), "run_name": run.name, "dataset": run.dataset, "model": run.model,
        "format": fmt, "quantize": quantize, "file": name,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "class_names": tm.class_names,
        "input": {
            "name": "pixels", "layout": "NHWC", "shape": [None, h, w, c], "dtype": "float32", "value_range": [0, 255],
            "color": "grayscale" if c == 1 else "rgb",
            "resize": {"height": h, "width": w, "method": "bilinear", "antialias": True, "round_to_uint8": True,
                       "in_graph": False},
            "normalization": {"mode": prep.normalization, "in_graph": True, "preprocessing": prep.to_dict()},
        },
        "output": {"kind": "probabilities", "shape": [None, len(tm.class_names)]},
        "calibration_temperature": tm.temperature,
        "versions": _versions(fmt),
    }


def _versions(fmt: str) -> dict[str, str]:
    import importlib.metadata as md

    names = ["keras", "tensorflow", "tf2onnx", "onnxruntime"] if fmt == "onnx" else ["keras", "tensorflow",
                                                                                   "ai-edge-litert"]
    out = {}
    for n in names:
        for dist in (n, n + "-cpu"):
            try:
                out[n] = md.version(dist)
                break
            except md.PackageNotFoundError:
                continue
    return out


@contextmanager
def _temporary(folder: Path, suffix: str):
    """A temporary file name in ``folder`` (removed on exit if still there)."""
    fd, tmp = tempfile.mkstemp(prefix=".partial-", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield Path(tmp)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _representative(tm, parts, n: int = REPRESENTATIVE_IMAGES):
    """int8 calibration data: up to ``n`` raw-pixel images of the training, then validation split."""
    xs: list[np.ndarray] = []
    for part in parts:
        left = n - sum(len(a) for a in xs)
        if left > 0 and len(part):
            xs.extend(x for x, _ in pixel_batches(tm, part, limit=left))
    if not xs:
        raise NotFoundError("The run has no training or validation images for the int8 calibration.")
    images = np.concatenate(xs)

    def gen():
        for i in range(len(images)):
            yield [images[i:i + 1]]

    return gen


def export_run(store, run_id: int, fmt: str = "onnx", *, quantize: str | None = None,
               out: str | os.PathLike | None = None, limit: int | None = None) -> dict[str, Any]:
    """Export run ``run_id`` (``fmt`` 'onnx' or 'tflite', LiteRT ``quantize`` None/'float16'/'int8'),
    verify it on the test split (at most ``limit`` images; None: all) and keep it in the run's
    ``exports/`` folder with ``<file>.json`` (sidecar + parity), both registered as artifacts; also
    copied to ``out`` (a file or folder) when given. Returns the report (with ``path``, ``report_path``)."""
    from core.serving.trained_model import load_trained

    fmt, quantize = _check_request(fmt, quantize)
    check_number("limit", limit, low=1, integer=True, allow_none=True)
    name = export_name(run_id, fmt, quantize)
    out_path = _check_out(out, name)
    run, folder = _resolve_run(store, run_id)
    tm = load_trained(folder)
    train, val, test = _split_parts(tm, folder)
    model = pixel_model(tm)
    dest = folder.exports
    dest.mkdir(parents=True, exist_ok=True)
    report = sidecar(tm, run, fmt, quantize, name)
    try:  # a full disk, a file-size limit, no permission: the message names the export, not its temporary file
        with _temporary(dest, FORMATS[fmt]) as tmp:
            t0 = time.perf_counter()
            export_model_file(model, tmp, fmt, quantize, _representative(tm, (train, val)) if quantize == "int8" else None)
            report["seconds_convert"] = time.perf_counter() - t0
            report["parity"] = verify_export(tm, tmp, fmt, pixel_batches(tm, test, limit=limit))
            _check_parity(report["parity"], fmt, quantize)
            report["bytes"] = tmp.stat().st_size
            os.replace(tmp, dest / name)
        report_path = dest / (name + ".json")
        try:
            atomic_write_text(report_path, json.dumps(report, indent=2, default=str))
        except OSError:
            (dest / name).unlink(missing_ok=True)
            raise
    except OSError as e:
        raise OutputError(describe_os_error(e, dest / name, "write the export")) from e
    store.add_artifact(run.id, "export", dest / name)
    store.add_artifact(run.id, "export_parity", report_path)
    report.update(path=str(dest / name), report_path=str(report_path))
    if out_path is not None:
        try:
            atomic_write(out_path, lambda tmp: shutil.copyfile(dest / name, tmp))
            atomic_write(Path(str(out_path) + ".json"), lambda tmp: shutil.copyfile(report_path, tmp))
        except OSError as e:
            raise OutputError(f"{describe_os_error(e, out_path, 'copy the export to')} The verified export is "
                              f"kept in the run's folder: {str(dest / name)!r}.") from e
        report["out"] = str(out_path)
    return report


def list_exports(folder: RunFolder | str | Path) -> list[dict[str, Any]]:
    """The verified exports kept in a run folder (their ``.json`` reports, with ``path``), newest first."""
    d = RunFolder(folder).exports
    out = []
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        try:
            rep = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        f = d / str(rep.get("file", ""))
        if rep.get("schema") == SCHEMA and f.is_file() and not p.name.startswith("."):
            out.append({**rep, "path": str(f), "report_path": str(p)})
    return sorted(out, key=lambda r: str(r.get("created_at", "")), reverse=True)
