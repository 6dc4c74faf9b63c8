"""tf.data pipelines: order and id alignment, shuffling, files from disk, caching, oversampling,
class weights, and a real (tiny) training run fed by the pipeline."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from core.data.pipeline import balanced_class_weights, make_dataset, predict_batches
from core.data.preprocess import Preprocessing
from core.datasets.base import Dataset
from core.validation import ValidationError

HAM_CLASSES = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]


@pytest.fixture(scope="module")
def digits() -> Dataset:
    dg = load_digits()
    imgs = (dg.images * 255 / 16).round().astype(np.uint8)[..., None]  # 1797 x 8 x 8 x 1
    return Dataset(name="digits", class_names=[str(i) for i in range(10)],
                   ids=[f"digit_{i:04d}" for i in range(len(imgs))], labels=dg.target, images=imgs)


def ham_reduced(shared_datasets, every: int = 1) -> Dataset:
    """Every ``every``-th image of the reduced HAM10000 folder, as a Dataset built here from its
    labels.csv (not through the loader: the pipeline is tested on its own)."""
    root = shared_datasets / "ham10000" / "reduced_200x150"
    lab = pd.read_csv(root / "labels.csv").iloc[::every].reset_index(drop=True)
    return Dataset(
        name="ham10000", class_names=HAM_CLASSES, ids=lab.image_id.to_numpy(),
        labels=lab.dx.map({c: i for i, c in enumerate(HAM_CLASSES)}).to_numpy(),
        paths=np.array([str(root / dx / f"{i}.jpg") for dx, i in zip(lab.dx, lab.image_id)]),
        groups=lab.lesion_id.to_numpy(), group_name="lesion_id", class_codes=HAM_CLASSES, domain="lesion",
    )


def collect(d):
    xs, ys, ids = [], [], []
    for x, y, i in d:
        xs.append(x.numpy())
        ys.append(y.numpy())
        ids.append(i.numpy().astype(str))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ids)


def test_eval_pipeline_keeps_dataset_order_and_numbers(digits):
    prep = Preprocessing((12, 12), 3, "rescale")
    x, y, ids = collect(make_dataset(digits, prep, batch_size=100, training=False, with_ids=True))
    np.testing.assert_array_equal(ids, digits.ids)
    np.testing.assert_array_equal(y, digits.labels)
    assert x.shape == (len(digits), 12, 12, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x, prep.apply_np(digits.images), atol=1e-6)
    # without ids: (x, y) pairs, same order
    first_x, first_y = next(iter(make_dataset(digits, prep, batch_size=7, training=False)))
    np.testing.assert_array_equal(first_y.numpy(), digits.labels[:7])


def test_training_pipeline_shuffles_each_epoch_and_keeps_samples_aligned(digits):
    prep = Preprocessing((8, 8), 1, "rescale")
    d = make_dataset(digits, prep, batch_size=64, training=True, seed=5, with_ids=True)
    x1, y1, ids1 = collect(d)
    x2, y2, ids2 = collect(d)
    assert sorted(ids1) == sorted(digits.ids) and len(ids1) == len(digits)
    assert not np.array_equal(ids1, digits.ids) and not np.array_equal(ids1, ids2)
    for x, y, ids in [(x1, y1, ids1), (x2, y2, ids2)]:
        pos = digits.index_of(ids)
        np.testing.assert_array_equal(y, digits.labels[pos])
        np.testing.assert_allclose(x, digits.images[pos] / 255.0, atol=1e-6)
    # the same seed gives the same first-epoch order; another seed another order
    again = collect(make_dataset(digits, prep, batch_size=64, training=True, seed=5, with_ids=True))[2]
    other = collect(make_dataset(digits, prep, batch_size=64, training=True, seed=6, with_ids=True))[2]
    np.testing.assert_array_equal(again, ids1)
    assert not np.array_equal(other, ids1)


def test_training_without_cache_shuffles_before_decoding(digits):
    prep = Preprocessing((8, 8), 1, "none")
    x, y, ids = collect(make_dataset(digits, prep, batch_size=50, training=True, cache=False, with_ids=True))
    pos = digits.index_of(ids)
    assert not np.array_equal(pos, np.arange(len(digits))) and sorted(pos) == list(range(len(digits)))
    np.testing.assert_array_equal(x, digits.images[pos].astype(np.float32))
    np.testing.assert_array_equal(y, digits.labels[pos])


def test_augmentation_only_in_training_and_identity_changes_nothing(digits):
    prep = Preprocessing((16, 16), 1, "rescale")
    sub = digits.subset(np.arange(64), by="position")
    plain = collect(make_dataset(sub, prep, batch_size=16, training=False, with_ids=True, augment="report_a"))
    np.testing.assert_allclose(plain[0], prep.apply_np(sub.images), atol=1e-6)  # eval ignores augment
    ident = collect(make_dataset(sub, prep, batch_size=16, training=True, with_ids=True, augment="none"))
    np.testing.assert_allclose(ident[0], prep.apply_np(sub.images[sub.index_of(ident[2])]), atol=1e-6)
    aug = collect(make_dataset(sub, prep, batch_size=16, training=True, with_ids=True, augment="report_b"))
    ref = prep.apply_np(sub.images[sub.index_of(aug[2])])
    assert np.abs(aug[0] - ref).mean() > 0.01
    assert aug[0].min() >= 0.0 and aug[0].max() <= 1.0
    np.testing.assert_array_equal(aug[1], sub.labels[sub.index_of(aug[2])])


def test_grayscale_and_rgb_datasets_convert_both_ways(digits, shared_datasets):
    d = make_dataset(digits, Preprocessing((32, 32), 3, "rescale"), batch_size=10, training=False)
    assert tuple(next(iter(d))[0].shape) == (10, 32, 32, 3)
    npz = np.load(shared_datasets / "cifar10" / "cifar10_subset.npz")
    key = [k for k in npz.files if "x" in k.lower() and "train" in k.lower()][0]
    cif = npz[key][:40]
    rgb = Dataset(name="cifar", class_names=list("abcdefghij"), ids=[str(i) for i in range(40)],
                  labels=np.zeros(40, int), images=cif)
    prep = Preprocessing((28, 28), 1, "none")
    x = next(iter(make_dataset(rgb, prep, batch_size=40, training=False)))[0].numpy()
    assert x.shape == (40, 28, 28, 1)
    np.testing.assert_allclose(x, prep.apply_np(cif), atol=1e-5)


def test_files_pipeline_on_real_ham10000_images(shared_datasets, tmp_path):
    import tensorflow as tf

    ham = ham_reduced(shared_datasets, every=50)  # ~200 images, every class
    assert 190 <= len(ham) <= 210 and len(np.unique(ham.labels)) == 7
    prep = Preprocessing((64, 48), 3, "rescale")
    cache_file = tmp_path / "cache" / "ham"
    d = make_dataset(ham, prep, batch_size=32, training=False, with_ids=True, cache=cache_file)
    x, y, ids = collect(d)
    np.testing.assert_array_equal(ids, ham.ids)
    np.testing.assert_array_equal(y, ham.labels)
    assert x.shape == (len(ham), 64, 48, 3) and 0.0 <= x.min() and x.max() <= 1.0
    # the same numbers as predicting each file with apply_np
    for k in (0, 77, len(ham) - 1):
        img = tf.io.decode_jpeg(tf.io.read_file(ham.paths[k]), channels=3).numpy()
        assert img.shape == (150, 200, 3)
        np.testing.assert_allclose(x[k], prep.apply_np(img)[0], atol=1e-6)
    assert list(cache_file.parent.iterdir())  # cache file written
    x_again = collect(d)[0]  # second epoch read from the cache file
    np.testing.assert_array_equal(x_again, x)
    # training mode on files: shuffled, aligned, augmented with report C
    xt, yt, it = collect(make_dataset(ham, prep, batch_size=32, training=True, with_ids=True, augment="report_c"))
    assert sorted(it) == sorted(ham.ids) and not np.array_equal(it, ham.ids)
    np.testing.assert_array_equal(yt, ham.labels[ham.index_of(it)])


def test_minmax_fitted_on_files(shared_datasets):
    from core.data.preprocess import fit_preprocessing

    ham = ham_reduced(shared_datasets, every=100)
    prep = fit_preprocessing(ham, input_size=(32, 32), channels=3, normalization="minmax")
    x = collect(make_dataset(ham, Preprocessing((32, 32), 3, "none"), batch_size=50, training=False,
                             with_ids=True))[0]
    assert (prep.min_value, prep.max_value) == (x.min(), x.max())
    scaled = collect(make_dataset(ham, prep, batch_size=50, training=False, with_ids=True))[0]
    assert scaled.min() == 0.0 and scaled.max() == 1.0


def test_oversampling_balances_classes(shared_datasets):
    ham = ham_reduced(shared_datasets, every=50)
    counts = np.bincount(ham.labels, minlength=7)
    assert counts.max() / counts.min() > 10  # heavily imbalanced (nv)
    prep = Preprocessing((16, 16), 3, "rescale")
    d = make_dataset(ham, prep, batch_size=35, training=True, oversample=True, epoch_samples=700, seed=1,
                     with_ids=True)
    for _ in range(2):
        _, y, ids = collect(d)
        assert len(y) == 700
        per_class = np.bincount(y, minlength=7)
        assert per_class.min() >= 60 and per_class.max() <= 140, per_class  # expected 100 each
        np.testing.assert_array_equal(y, ham.labels[ham.index_of(ids)])
    # default epoch length is the dataset size
    _, y, _ = collect(make_dataset(ham, prep, batch_size=32, training=True, oversample=True, with_ids=True))
    assert len(y) == len(ham)
    with pytest.raises(ValidationError, match="oversample=True only makes sense"):
        make_dataset(ham, prep, batch_size=8, training=False, oversample=True)


def test_predict_batches_preprocess_images_in_order(digits):
    """Batches for model.predict over in-memory images: preprocessed as apply_np does, in order,
    no labels; a grey H x W stack gets its channel axis."""
    prep = Preprocessing((12, 12), 3, "rescale")
    batches = [b.numpy() for b in predict_batches(digits.images[:50], prep, batch_size=16)]
    assert [len(b) for b in batches] == [16, 16, 16, 2]
    np.testing.assert_allclose(np.concatenate(batches), prep.apply_np(digits.images[:50]), atol=1e-6)
    flat = np.concatenate([b.numpy() for b in predict_batches(digits.images[:5, ..., 0], prep)])
    np.testing.assert_allclose(flat, prep.apply_np(digits.images[:5]), atol=1e-6)


def test_make_dataset_refuses_what_is_not_a_preprocessing(digits):
    with pytest.raises(ValidationError, match=r"The 'prep' parameter must be of type Preprocessing\. Got \(12, 12\)"):
        make_dataset(digits, (12, 12), batch_size=8, training=False)


def test_balanced_class_weights(shared_datasets):
    w = balanced_class_weights(np.array([0] * 10 + [1] * 30), 3)
    assert w == pytest.approx({0: 2.0, 1: 40 / 60, 2: 1.0})
    labels = pd.read_csv(shared_datasets / "ham10000" / "HAM10000_metadata.csv").dx
    y = labels.map({c: i for i, c in enumerate(HAM_CLASSES)}).to_numpy()
    w = balanced_class_weights(y, 7)
    # report C's values (computed on the 80% train split; same pattern on all images)
    expected = {"akiec": 4.38, "bcc": 2.78, "bkl": 1.30, "df": 12.44, "mel": 1.29, "nv": 0.21, "vasc": 10.13}
    for k, c in enumerate(HAM_CLASSES):
        assert w[k] == pytest.approx(expected[c], rel=0.03), c
    with pytest.raises(ValidationError, match=r"labels must lie in \[0, 1\]"):
        balanced_class_weights([0, 1, 2], 2)


def test_pipeline_feeds_a_real_keras_training_run(digits):
    import keras

    keras.utils.set_random_seed(0)
    prep = Preprocessing((8, 8), 1, "rescale")
    train = digits.subset(np.arange(0, 1500), by="position")
    test = digits.subset(np.arange(1500, len(digits)), by="position")
    model = keras.Sequential([
        keras.Input(prep.input_shape), keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(make_dataset(train, prep, batch_size=32, training=True, augment=None), epochs=6, verbose=0,
              class_weight=balanced_class_weights(train.labels, 10))
    _, acc = model.evaluate(make_dataset(test, prep, batch_size=64, training=False), verbose=0)
    assert acc > 0.85


def test_pipelines_keras_iterates_have_tf_data_autotuning_off(digits):
    """Keras makes a new iterator every epoch; with autotuning on, each one's destructor waited for tf.data's
    sleeping optimisation thread (20-40 s at the end of most epochs, bench/README.md). The pipelines this module
    makes for fit/evaluate/predict have it off, and a training pipeline still yields every sample once per epoch
    (the cached-feature pipelines use the same helper; test_training's frozen-backbone run trains on them)."""
    prep = Preprocessing((8, 8), 1, "rescale")
    pipes = [make_dataset(digits, prep, batch_size=64, training=True, seed=1),
             make_dataset(digits, prep, batch_size=64, training=True, seed=1, oversample=True),
             make_dataset(digits, prep, batch_size=64, training=False),
             predict_batches(digits.images[:10], prep)]
    assert [p.options().autotune.enabled for p in pipes] == [False] * 4
    for _ in range(2):
        assert sum(len(y) for _, y in pipes[0]) == len(digits)
