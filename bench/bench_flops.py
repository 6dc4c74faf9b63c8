"""Training throughput against the machine's own peak, in GFLOP/s (printed, not asserted).

Both numbers are measured in the same run, so the ratio (the fraction of peak) is what to compare
across machines and loads:

- peak: the best of five 4096x4096 float32 ``tf.matmul`` calls (2 x 4096^3 FLOP each);
- the lab's training: ``core.training.engine.train`` (the lab's own path: its tf.data pipeline,
  seeding with op determinism, callbacks, the progress reporter) on report B's CNN5 recipe
  (Fashion-MNIST 28x28x1, Adam 1e-3) at batch 32 and at the lab's default batch size, and on a
  224x224 backbone (MobileNetV2, weights=None, trainable) on a small set. Images per second come
  from the steady epochs (the first epoch, which builds the graph, is left out).

FLOPs are counted from the model's layers and fixed here, so that neither the count nor the peak
can move to flatter a result: per convolution 2 x kh x kw x (input channels / groups) x output
channels x output height x output width (a depthwise convolution: 2 x kh x kw x channels x
multiplier x oh x ow), per dense layer 2 x inputs x outputs; a training step is 3 x the forward
pass. Pooling, activations, normalisation and the optimiser are not counted.

    .venv/bin/python bench/bench_flops.py [--images 12000] [--epochs 3] [--skip-backbone]
    LAB_SHARED_DATASETS=/work/shared/datasets  (Fashion-MNIST originals)
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def forward_flops(model) -> int:
    """FLOPs of one forward pass of one image, from the model's conv and dense layers."""
    import keras

    total = 0
    for layer in _leaf_layers(model):
        out = layer.output.shape
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kh, kw = layer.kernel_size
            total += 2 * kh * kw * layer.input.shape[-1] * layer.depth_multiplier * out[1] * out[2]
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw = layer.kernel_size
            cin = layer.input.shape[-1] // max(1, getattr(layer, "groups", 1))
            total += 2 * kh * kw * cin * layer.filters * out[1] * out[2]
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * layer.input.shape[-1] * layer.units
    return int(total)


def _leaf_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _leaf_layers(layer)
        else:
            yield layer


def peak_gflops(n: int = 4096, repeats: int = 5) -> float:
    """The best of ``repeats`` float32 n x n matmuls, in GFLOP/s."""
    import tensorflow as tf

    a = tf.random.uniform((n, n), dtype=tf.float32, seed=1)
    b = tf.random.uniform((n, n), dtype=tf.float32, seed=2)
    _ = tf.matmul(a, b).numpy()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        _ = tf.matmul(a, b).numpy()
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def _fashion_home(shared: Path, n_images: int) -> Path:
    """A Keras home with Fashion-MNIST imported from the shared originals (the lab's own import)."""
    from core.datasets.keras_cache import import_keras_dataset

    home = Path(tempfile.mkdtemp(prefix="bench_flops_keras_"))
    import_keras_dataset("fashion_mnist", shared / "fashion_mnist", keras_home_dir=home)
    os.environ["KERAS_HOME"] = str(home)
    return home


def lab_training(cfg: dict, label: str) -> dict:
    """Train ``cfg`` through the lab's engine; images/s and GFLOP/s from the steady epochs."""
    from core.training.config import TrainConfig
    from core.training.engine import train

    config = TrainConfig.from_dict(cfg)
    with tempfile.TemporaryDirectory() as d:
        res = train(config, out_dir=d, n_bootstrap=0)
    model, n_train = res.model, int(res.meta["n_train"])
    epochs = [h["epoch_time_s"] for h in res.history]
    steady = sorted(epochs[1:])[len(epochs[1:]) // 2] if len(epochs) > 1 else epochs[0]
    fl = forward_flops(model)
    ips = n_train / steady
    out = {"label": label, "images_per_s": ips, "gflops": 3 * fl * ips / 1e9, "forward_mflop": fl / 1e6,
           "steady_epoch_s": steady, "n_train": n_train, "accuracy": res.summary.get("accuracy")}
    print(f"  {label:42s} {ips:8.0f} img/s  {out['gflops']:6.1f} GFLOP/s  (forward {fl / 1e6:.1f} MFLOP/img, "
          f"steady epoch {steady:.2f} s over {n_train} images)", flush=True)
    return out


def cnn5_config(batch_size: int | None, n_images: int, epochs: int) -> dict:
    from core.recipes.catalog import budget_config, get_recipe

    run = get_recipe("report_b_cnn5").runs[0]
    cfg = budget_config(run, "full")
    cfg["epochs"] = epochs
    cfg["early_stopping"] = None
    cfg["dataset"] = {"name": cfg["dataset"]["name"],
                      "params": {**cfg["dataset"].get("params", {}), "max_per_class": n_images // 10}}
    if batch_size is not None:
        cfg["batch_size"] = batch_size
    return cfg


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=12000, help="Fashion-MNIST training images per CNN5 run")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--skip-backbone", action="store_true")
    args = ap.parse_args(argv)
    shared = Path(os.environ.get("LAB_SHARED_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets"))
    _fashion_home(shared, args.images)
    peak = peak_gflops()
    print(f"peak: {peak:.1f} GFLOP/s (best of five 4096x4096 float32 tf.matmul)", flush=True)
    from core.training.config import TrainConfig

    default_bs = TrainConfig.from_dict({"dataset": {"name": "digits"}, "model": "small_cnn"}).batch_size
    rows = [lab_training(cnn5_config(32, args.images, args.epochs), "report B CNN5, batch 32")]
    if default_bs != 32:
        rows.append(lab_training(cnn5_config(None, args.images, args.epochs), f"report B CNN5, batch {default_bs} (default)"))
    if not args.skip_backbone:
        cfg = {"dataset": {"name": "digits", "params": {"max_per_class": 20}}, "model": "mobilenetv2",
               "input_size": [224, 224], "epochs": 2, "batch_size": 16, "seed": 0, "weights": None,
               "model_options": {"trainable": "all"}}
        rows.append(lab_training(cfg, "MobileNetV2 224x224, batch 16"))
    print("\nfraction of the peak measured in this run:")
    for r in rows:
        print(f"  {r['label']:42s} {r['gflops'] / peak:6.1%}  ({r['gflops']:.1f} of {peak:.1f} GFLOP/s)")


if __name__ == "__main__":
    main()
