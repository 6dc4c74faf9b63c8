"""Training-engine benchmarks (printed, not asserted).

(a) Frozen backbone: training the head on cached backbone features versus running the frozen
    backbone every batch. VGG16 (weights=None: no downloads here), frozen, cut at block3_pool,
    Flatten-Dense head, on digits upscaled to 32x32. Same config and seed both ways; prints
    the steady-state epoch time ratio, total train time and the final test accuracy.
(b) Latency per image on CPU: evaluation (predict_dataset over a test split) and
    prediction + Grad-CAM + overlay for one uploaded image, for the report B CNN (28x28x1)
    and DenseNet121 at 224x224 (weights=None; latency does not depend on the weights).
    Goal: prediction + Grad-CAM overlay under 1 s for the report B CNN.

    /work/venv/bin/python bench/bench_training.py [--epochs 3] [--repeats 5] [--only a|b]
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


def bench_cached(epochs: int) -> None:
    from core.training.config import TrainConfig
    from core.training.engine import train

    cfg = TrainConfig(
        dataset={"name": "digits"}, model="vgg16", input_size=[32, 32], normalization="rescale", epochs=epochs,
        batch_size=32, seed=0,
        model_options={"weights": None, "trainable": "frozen", "cut_layer": "block3_pool", "head": "flatten_dense",
                       "dense_units": 64},
    )
    rows = {}
    for cache in (False, True):
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            res = train(cfg, out_dir=d, cache_features=cache, n_bootstrap=0)
            total = time.perf_counter() - t0
        ep = [h["epoch_time_s"] for h in res.history]
        steady = min(ep[1:]) if len(ep) > 1 else ep[0]
        rows[cache] = (steady, res.train_time_s, total, res.summary["accuracy"])
        print(f"  cached_features={cache!s:<5}  steady epoch {steady:6.2f}s  fit {res.train_time_s:6.1f}s  "
              f"whole train() {total:6.1f}s  test accuracy {res.summary['accuracy']:.4f}")
    (e0, f0, t0_, a0), (e1, f1, t1, a1) = rows[False], rows[True]
    print(f"  -> epoch time ratio (backbone every batch / cached): {e0 / e1:.1f}x; fit time ratio {f0 / f1:.1f}x; "
          f"whole-run ratio {t0_ / t1:.1f}x; accuracy difference {abs(a0 - a1):.4f}")


def _latency(name: str, input_shape, n_eval: int, repeats: int) -> None:
    import numpy as np

    from core.data.preprocess import Preprocessing
    from core.datasets import load_dataset
    from core.metrics.classification import predict_dataset
    from core.models import cam as explain
    from core.models import create_model, default_cam_layer

    opts = {"weights": None} if name == "densenet121" else {}
    model = create_model(name, input_shape=input_shape, num_classes=10, **opts)
    h, w, c = input_shape
    norm = "backbone" if name == "densenet121" else "rescale"
    prep = Preprocessing((h, w), c, norm, name if norm == "backbone" else None)
    ds = load_dataset("digits")
    test = ds.subset(np.arange(min(n_eval, len(ds))), by="position")
    predict_dataset(model, test.subset(np.arange(8), by="position"), prep, batch_size=32)  # warm-up
    t0 = time.perf_counter()
    predict_dataset(model, test, prep, batch_size=32)
    eval_ms = (time.perf_counter() - t0) / len(test) * 1000

    rng = np.random.default_rng(0)
    upload = rng.integers(0, 256, size=(600, 450, 3), dtype=np.uint8)  # an "uploaded" photo
    layer = default_cam_layer(model)

    def one():
        x = prep.apply_np(upload[None])
        probs = model.predict(x, verbose=0)[0]
        heat = explain.cam(model, x, method="gradcam", class_index=int(np.argmax(probs)), layer=layer)
        return explain.overlay(upload, heat[0])

    one()  # warm-up (first call traces the graphs)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        one()
        times.append(time.perf_counter() - t0)
    print(f"  {name:<14} {h}x{w}x{c}: evaluation {eval_ms:7.2f} ms/image ({len(test)} images); "
          f"predict + Grad-CAM + overlay median {statistics.median(times) * 1000:7.1f} ms (min {min(times) * 1000:.1f}, "
          f"{repeats} runs)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", choices=["a", "b"])
    args = ap.parse_args()
    if args.only in (None, "a"):
        print("(a) frozen VGG16 (block3_pool) + dense head on digits 32x32: cached features vs backbone every batch")
        bench_cached(args.epochs)
    if args.only in (None, "b"):
        print("(b) CPU latency per image")
        _latency("report_b_cnn5", (28, 28, 1), 359, args.repeats)
        _latency("densenet121", (224, 224, 3), 64, args.repeats)


if __name__ == "__main__":
    main()
