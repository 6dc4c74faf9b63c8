"""Input-pipeline benchmark: prints ratios measured in one run (nothing is asserted).

(a) HAM10000 JPEGs from disk (reduced_200x150, resized to 224x224) into a small CNN, one
    steady-state epoch (the 2nd) through core.data.pipeline.make_dataset versus a report-C-style
    script (keras ImageDataGenerator(...).flow_from_directory(...) + model.fit), same model,
    without and with report C's augmentation (rotation 20, shear 0.1, zoom 0.1, horizontal
    flip). Goal: ours at least 2x faster.
(b) Fashion-MNIST (idx .gz files read with numpy) with the report B five-conv CNN: our
    augmented epoch (report B: rotation 15, shifts 0.1) versus our plain epoch.
    Goal: at most 1.15x.

Usage:
    python bench/bench_pipeline.py            # ~1,600 HAM images, 10,000 Fashion-MNIST
    python bench/bench_pipeline.py --quick    # 400 / 2,000 (a smoke run)
Data: $LAB_SHARED_DATASETS (default <project>/../shared/datasets).

Note on shear: ImageDataGenerator reads shear_range as DEGREES (0.1 degree is almost no
shear); our AugmentSpec.shear is a shear factor (0.1 = up to 10 % of the height). Both are
given the report's number 0.1, as in report C's script.
"""
from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

HAM_CLASSES = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]


def shared_dir() -> Path:
    p = Path(os.environ.get("LAB_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))
    if not p.is_dir():
        sys.exit(f"Real datasets folder not found at {p}; set LAB_SHARED_DATASETS.")
    return p


class EpochTimer:
    def __init__(self):
        import keras

        class CB(keras.callbacks.Callback):
            def __init__(cb):
                super().__init__()
                cb.times = []

            def on_epoch_begin(cb, epoch, logs=None):
                cb.t0 = time.perf_counter()

            def on_epoch_end(cb, epoch, logs=None):
                cb.times.append(time.perf_counter() - cb.t0)

        self.cb = CB()


EPOCHS = 3  # epoch 1 decodes/caches and traces graphs; the fastest of epochs 2.. is reported


def fit_time(model_fn, data, epochs: int | None = None) -> float:
    """Steady-state epoch seconds: the fastest epoch after the first (robust to other load)."""
    import keras

    keras.utils.set_random_seed(0)
    model = model_fn()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    t = EpochTimer()
    model.fit(data, epochs=epochs or EPOCHS, verbose=0, callbacks=[t.cb])
    return min(t.cb.times[1:])


# ------------------------------------------------------------------------------ (a)
def small_cnn(input_shape=(224, 224, 3), n_classes=7):
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(8, 3, strides=2, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(16, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(32, 3, activation="relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(n_classes, activation="softmax"),
    ], name="small_cnn")


def bench_ham(shared: Path, n_images: int, batch_size: int = 16) -> dict:
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    from core.data.augment import PRESETS
    from core.data.pipeline import make_dataset
    from core.data.preprocess import Preprocessing
    from core.datasets.base import Dataset

    root = shared / "ham10000" / "reduced_200x150"
    lab = pd.read_csv(root / "labels.csv")
    step = max(1, len(lab) // n_images)
    lab = lab.iloc[::step].head(n_images).reset_index(drop=True)  # every k-th row: all classes, real imbalance
    paths = np.array([str(root / dx / f"{i}.jpg") for dx, i in zip(lab.dx, lab.image_id)])
    ds = Dataset(name="ham10000", class_names=HAM_CLASSES, ids=lab.image_id.to_numpy(),
                 labels=lab.dx.map({c: k for k, c in enumerate(HAM_CLASSES)}).to_numpy(), paths=paths)
    tmp = Path(tempfile.mkdtemp(prefix="bench_ham_"))
    try:
        for dx, p in zip(lab.dx, paths):  # class-per-folder layout of symlinks for flow_from_directory
            (tmp / dx).mkdir(exist_ok=True)
            (tmp / dx / Path(p).name).symlink_to(p)

        def idg(augment: bool):
            kw = dict(rotation_range=20, shear_range=0.1, zoom_range=0.1, horizontal_flip=True) if augment else {}
            gen = ImageDataGenerator(rescale=1.0 / 255, **kw)
            return gen.flow_from_directory(str(tmp), target_size=(224, 224), batch_size=batch_size,
                                           class_mode="sparse", shuffle=True, seed=1337)

        prep = Preprocessing((224, 224), 3, "rescale")

        def ours(augment: bool):
            return make_dataset(ds, prep, batch_size=batch_size, training=True, seed=1337,
                                augment=PRESETS["report_c"] if augment else None)

        res = {"n_images": len(ds)}
        for aug in (False, True):
            tag = "aug" if aug else "plain"
            res[f"idg_{tag}"] = fit_time(small_cnn, idg(aug))
            res[f"ours_{tag}"] = fit_time(small_cnn, ours(aug))
            print(f"  (a) {tag:5s}: ImageDataGenerator {res[f'idg_{tag}']:.2f} s, ours {res[f'ours_{tag}']:.2f} s",
                  flush=True)
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------ (b)
def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def report_b_cnn5(input_shape=(28, 28, 1), n_classes=10):
    """Report B (a): five Conv-BN-MaxPool blocks (32..512), Dense 64/32 with dropout 0.5."""
    try:  # the registered zoo model when it exists
        from core.models import create_model

        return create_model("report_b_cnn5", input_shape=input_shape, num_classes=n_classes)
    except Exception:
        pass
    import keras
    from keras import layers

    x = inp = keras.Input(input_shape)
    for f in (32, 64, 128, 256, 512):
        x = layers.Conv2D(f, 3, padding="same", activation="relu")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.5)(layers.Dense(64, activation="relu")(x))
    x = layers.Dropout(0.5)(layers.Dense(32, activation="relu")(x))
    return keras.Model(inp, layers.Dense(n_classes, activation="softmax")(x), name="report_b_cnn5")


def bench_fashion(shared: Path, n_images: int, batch_size: int = 32) -> dict:
    from core.data.augment import PRESETS
    from core.data.pipeline import make_dataset
    from core.data.preprocess import Preprocessing
    from core.datasets.base import Dataset

    fm = shared / "fashion_mnist"
    x = read_idx(fm / "train-images-idx3-ubyte.gz")[:n_images, :, :, None]
    y = read_idx(fm / "train-labels-idx1-ubyte.gz")[:n_images].astype(np.int64)
    ds = Dataset(name="fashion_mnist", class_names=[str(i) for i in range(10)],
                 ids=[f"train_{i}" for i in range(len(x))], labels=y, images=x)
    prep = Preprocessing((28, 28), 1, "rescale")
    res = {"n_images": len(ds), "params": report_b_cnn5().count_params()}
    for aug in (False, True):
        tag = "aug" if aug else "plain"
        d = make_dataset(ds, prep, batch_size=batch_size, training=True, seed=0,
                         augment=PRESETS["report_b"] if aug else None)
        res[tag] = fit_time(report_b_cnn5, d)
        print(f"  (b) {tag:5s}: {res[tag]:.2f} s", flush=True)
    return res


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small subsets (smoke run)")
    ap.add_argument("--ham-images", type=int, default=None, help="HAM10000 subset size (default 1600, quick 400)")
    ap.add_argument("--fashion-images", type=int, default=None, help="Fashion-MNIST subset (default 10000, quick 2000)")
    ap.add_argument("--only", choices=["a", "b"], default=None, help="run one part only")
    ap.add_argument("--epochs", type=int, default=None, help="epochs per measurement (default 3, quick 2)")
    args = ap.parse_args(argv)
    global EPOCHS
    EPOCHS = max(2, args.epochs or (2 if args.quick else 3))
    shared = shared_dir()
    n_ham = args.ham_images or (400 if args.quick else 1600)
    n_fm = args.fashion_images or (2000 if args.quick else 10000)

    import tensorflow as tf

    print(f"load average before start: {os.getloadavg()[0]:.1f}")
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores, GPUs: {len(tf.config.list_physical_devices('GPU'))}")
    out = {}
    if args.only in (None, "a"):
        print(f"(a) HAM10000 from disk -> 224x224 small CNN, {n_ham} images, batch 16, fastest of epochs 2..{EPOCHS} timed")
        out["a"] = a = bench_ham(shared, n_ham)
    if args.only in (None, "b"):
        print(f"(b) Fashion-MNIST, report B CNN5, {n_fm} images, batch 32, fastest of epochs 2..{EPOCHS} timed")
        out["b"] = b = bench_fashion(shared, n_fm)
    print(f"\nResults (load average now {os.getloadavg()[0]:.1f})")
    if "a" in out:
        for tag in ("plain", "aug"):
            r = a[f"idg_{tag}"] / a[f"ours_{tag}"]
            print(f"  (a) {tag:5s} epoch: ImageDataGenerator {a[f'idg_{tag}']:7.2f} s | ours {a[f'ours_{tag}']:6.2f} s "
                  f"| speed-up {r:5.2f}x (goal >= 2x)  [{a['n_images']} images]")
    if "b" in out:
        r = b["aug"] / b["plain"]
        print(f"  (b) report B augmented / plain epoch: {b['aug']:.2f} s / {b['plain']:.2f} s = {r:.2f}x "
              f"(goal <= 1.15x)  [{b['n_images']} images, {b['params']:,} params]")


if __name__ == "__main__":
    main()
