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

The machine is often shared: each row also gives GFLOP per CPU-second of the process (the same FLOPs over
the CPU time it got instead of the wall clock; the peak likewise) and the load averages, so that a
loaded run can still be compared with an idle one.

    .venv/bin/python bench/bench_flops.py [--images 12000] [--epochs 3] [--skip-backbone] [--not-reproducible-too]
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
    return peak_both(n, repeats)[0]


def peak_both(n: int = 4096, repeats: int = 5) -> tuple[float, float]:
    """(GFLOP/s, GFLOP per CPU-second) of the best of ``repeats`` float32 n x n matmuls. The second
    counts the process's CPU time instead of the wall clock: on a machine shared with other work it
    changes far less with the load than the first."""
    import tensorflow as tf

    a = tf.random.uniform((n, n), dtype=tf.float32, seed=1)
    b = tf.random.uniform((n, n), dtype=tf.float32, seed=2)
    _ = tf.matmul(a, b).numpy()  # warm-up
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        _ = tf.matmul(a, b).numpy()
        best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
    return 2 * n**3 / best / 1e9, 2 * n**3 / best_cpu / 1e9


def _fashion_home(shared: Path, n_images: int) -> Path:
    """A Keras home with Fashion-MNIST imported from the shared originals (the lab's own import)."""
    from core.datasets.keras_cache import import_keras_dataset

    home = Path(tempfile.mkdtemp(prefix="bench_flops_keras_"))
    import_keras_dataset("fashion_mnist", shared / "fashion_mnist", keras_home_dir=home)
    os.environ["KERAS_HOME"] = str(home)
    return home


def _cpu_clock():
    """A Keras callback recording the process's CPU seconds of each epoch."""
    import keras

    class CpuClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.cpu_s: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.c0 = time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            self.cpu_s.append(time.process_time() - self.c0)

    return CpuClock()


def lab_training(cfg: dict, label: str) -> dict:
    """Train ``cfg`` through the lab's engine; images/s and GFLOP/s from the steady epochs (the median
    epoch after the first), and GFLOP per CPU-second of that same epoch."""
    from core.training.config import TrainConfig
    from core.training.engine import train

    config = TrainConfig.from_dict(cfg)
    clock = _cpu_clock()
    with tempfile.TemporaryDirectory() as d:
        res = train(config, out_dir=d, n_bootstrap=0, extra_callbacks=[clock])
    model, n_train = res.model, int(res.meta["n_train"])
    epochs = [h["epoch_time_s"] for h in res.history]
    later = sorted(range(1, len(epochs)), key=epochs.__getitem__) or [0]
    k = later[len(later) // 2]
    steady = epochs[k]
    fl = forward_flops(model)
    ips = n_train / steady
    out = {"label": label, "images_per_s": ips, "gflops": 3 * fl * ips / 1e9, "forward_mflop": fl / 1e6,
           "steady_epoch_s": steady, "n_train": n_train, "accuracy": res.summary.get("accuracy"),
           "gflop_per_cpu_s": 3 * fl * n_train / clock.cpu_s[k] / 1e9, "load": os.getloadavg()}
    print(f"  {label:42s} {ips:8.0f} img/s  {out['gflops']:6.1f} GFLOP/s  (forward {fl / 1e6:.1f} MFLOP/img, "
          f"steady epoch {steady:.2f} s over {n_train} images; {out['gflop_per_cpu_s']:.1f} GFLOP per CPU-s; "
          f"load {_load(out['load'])})", flush=True)
    return out


def _load(avg) -> str:
    return "/".join(f"{v:.1f}" for v in avg)


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
    ap.add_argument("--not-reproducible-too", action="store_true",
                    help="also train CNN5 at batch 32 with reproducible=False (TensorFlow's op determinism off)")
    args = ap.parse_args(argv)
    shared = Path(os.environ.get("LAB_SHARED_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets"))
    _fashion_home(shared, args.images)
    peak, peak_cpu = peak_both()
    print(f"peak: {peak:.1f} GFLOP/s, {peak_cpu:.1f} GFLOP per CPU-s (best of five 4096x4096 float32 tf.matmul; "
          f"load {_load(os.getloadavg())})", flush=True)
    from core.training.config import TrainConfig

    default_bs = TrainConfig.from_dict({"dataset": {"name": "digits"}, "model": "small_cnn"}).batch_size
    rows = [lab_training(cnn5_config(32, args.images, args.epochs), "report B CNN5, batch 32")]
    if args.not_reproducible_too:
        rows.append(lab_training({**cnn5_config(32, args.images, args.epochs), "reproducible": False},
                                 "report B CNN5, batch 32, not reproducible"))
    if default_bs != 32:
        rows.append(lab_training(cnn5_config(None, args.images, args.epochs), f"report B CNN5, batch {default_bs} (default)"))
    if not args.skip_backbone:
        cfg = {"dataset": {"name": "digits", "params": {"max_per_class": 20}}, "model": "mobilenetv2",
               "input_size": [224, 224], "epochs": 2, "batch_size": 16, "seed": 0, "weights": None,
               "model_options": {"trainable": "all"}}
        rows.append(lab_training(cfg, "MobileNetV2 224x224, batch 16"))
    print("\nfraction of the peak measured in this run (wall clock; per CPU-second):")
    for r in rows:
        print(f"  {r['label']:42s} {r['gflops'] / peak:6.1%}  ({r['gflops']:.1f} of {peak:.1f} GFLOP/s);  "
              f"{r['gflop_per_cpu_s'] / peak_cpu:6.1%} per CPU-s  (test accuracy {r['accuracy']:.4f})")


if __name__ == "__main__":
    main()
