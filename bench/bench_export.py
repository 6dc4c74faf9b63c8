"""Inference speed on CPU: Keras vs ONNX Runtime vs LiteRT (issue 12, item 2). Printed, not asserted.

Two models, both as the lab exports them (``core.serving.export.pixel_model``: raw pixels in, the run's
normalisation inside the graph, then the model): the report B five-block CNN (``report_b_cnn5``,
28x28x1, 10 classes) and a backbone at 224x224 (default ``mobilenetv2``, weights none -- speed does
not depend on the weight values -- with the lab's gap_dense head, 7 classes). Each is exported with
Keras' own ``model.export`` to ONNX and to LiteRT (float32, and int8 with ``--int8``), then timed on
the same random pixels, single image and batch of 64:

* Keras ``model.predict(x)`` (what a script would call; builds a tf.data pipeline per call),
* Keras direct call ``model(x, training=False)`` (what the lab's Predict page uses for small batches),
* ONNX Runtime ``InferenceSession.run`` (CPU provider, default threads),
* LiteRT ``Interpreter.invoke`` (``num_threads`` = CPU count, XNNPACK).

Median of ``--repeats`` timed calls after one warm-up call; ratios are Keras ``predict`` time over
each runtime's time (> 1: faster than Keras predict), all measured in one process, one run.

    .venv/bin/python bench/bench_export.py [--backbone mobilenetv2] [--repeats 5] [--int8]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def _median_time(fn, x, repeats: int) -> float:
    fn(x)  # warm-up (graph building, allocation)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _exported(name: str, input_shape, num_classes: int, normalization: dict, folder: Path, int8: bool):
    from core.data.preprocess import Preprocessing
    from core.models.base import build_model
    from core.serving.export import export_model_file, exported_predictor, pixel_model
    from core.serving.trained_model import TrainedModel

    opts = {"weights": None} if normalization.get("normalization") == "backbone" else {}
    model = build_model(name, input_shape=input_shape, num_classes=num_classes, **opts).model
    prep = Preprocessing(tuple(input_shape[:2]), input_shape[2], **normalization)
    tm = TrainedModel(model, {"class_names": [str(i) for i in range(num_classes)]}, prep, folder / "model.keras")
    pm = pixel_model(tm)
    runners = {"Keras predict": lambda x: pm.predict(x, batch_size=64, verbose=0),
               "Keras direct call": lambda x: pm(x, training=False)}
    builds = [("ONNX Runtime", "onnx", None), ("LiteRT float32", "tflite", None)]
    if int8:
        rng = np.random.default_rng(1)
        rep = [rng.uniform(0, 255, (1, *input_shape)).astype(np.float32) for _ in range(16)]
        builds.append(("LiteRT int8", "tflite", lambda: ([r] for r in rep)))
    for label, fmt, rep_fn in builds:
        path = folder / f"{name}_{label.replace(' ', '_')}.{'onnx' if fmt == 'onnx' else 'tflite'}"
        t = time.perf_counter()
        export_model_file(pm, path, fmt, "int8" if rep_fn else None, rep_fn)
        print(f"  exported {label:<15} in {time.perf_counter() - t:6.1f}s  ({path.stat().st_size / 1e6:.1f} MB)")
        runners[label] = exported_predictor(path, fmt, threads=os.cpu_count() if fmt == "tflite" else None)
    return runners


def bench(name: str, input_shape, num_classes: int, normalization: dict, repeats: int, int8: bool) -> None:
    print(f"\n{name} at {'x'.join(map(str, input_shape))}, {num_classes} classes")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
        runners = _exported(name, input_shape, num_classes, normalization, Path(d), int8)
        rows = {}
        for batch in (1, 64):
            x = rng.uniform(0, 255, (batch, *input_shape)).astype(np.float32)
            rows[batch] = {label: _median_time(fn, x, repeats if batch == 1 else max(1, repeats // 2 + 1))
                           for label, fn in runners.items()}
    base = {b: rows[b]["Keras predict"] for b in rows}
    print(f"  {'runtime':<18} {'1 image ms':>11} {'ratio':>7} {'batch 64 ms':>12} {'ratio':>7} {'per image ms':>13}")
    for label in runners:
        t1, t64 = rows[1][label], rows[64][label]
        print(f"  {label:<18} {t1 * 1e3:11.2f} {base[1] / t1:6.1f}x {t64 * 1e3:12.1f} {base[64] / t64:6.1f}x "
              f"{t64 / 64 * 1e3:13.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="mobilenetv2", help="backbone timed at 224x224 (default mobilenetv2)")
    ap.add_argument("--repeats", type=int, default=5, help="timed calls per measurement (batch 64: about half)")
    ap.add_argument("--int8", action="store_true", help="also time an int8 LiteRT export")
    args = ap.parse_args()
    import keras
    import onnxruntime
    import tensorflow as tf

    print(f"CPU count {os.cpu_count()}, load average {' / '.join(f'{v:.2f}' for v in os.getloadavg())}; "
          f"Keras {keras.__version__}, TensorFlow {tf.__version__}, onnxruntime {onnxruntime.__version__}")
    bench("report_b_cnn5", (28, 28, 1), 10, {"normalization": "rescale"}, args.repeats, args.int8)
    bench(args.backbone, (224, 224, 3), 7, {"normalization": "backbone", "backbone": args.backbone}, args.repeats,
          args.int8)
    print(f"\nload average at the end {' / '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
