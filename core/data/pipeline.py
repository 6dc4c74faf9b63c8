"""tf.data input pipelines for training, evaluation and prediction.

::

    source (in-memory arrays: from_tensor_slices | files: paths, decoded in parallel)
      -> channel conversion + resize (Preprocessing.resize_tf), kept as uint8
      -> cache (memory, or a cache file)            [decoded + resized images only]
      -> training: shuffle (seeded, reshuffled every epoch) | oversampling to balanced classes
      -> batch
      -> training: augmentation (Keras preprocessing layers on float32 [0, 255] batches)
      -> normalisation (Preprocessing.normalize_tf)
      -> prefetch

Evaluation pipelines (``training=False``) never shuffle: the order is the Dataset's order,
and ``with_ids=True`` yields the sample ids with each batch so predictions can always be
aligned to labels by id. Full-size JPEGs are never all held in memory: files are read and
decoded element by element and only the resized images are cached.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.validation import DatasetError, ValidationError, check_number, check_type


def balanced_class_weights(labels, n_classes: int) -> dict[int, float]:
    """sklearn ``compute_class_weight("balanced")``: n_samples / (n_present_classes * count).

    Classes absent from ``labels`` get weight 1.0 (they never contribute to the loss).
    """
    from sklearn.utils.class_weight import compute_class_weight

    n_classes = check_number("n_classes", n_classes, low=1, integer=True)
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) == 0:
        raise ValidationError(f"labels must be a non-empty 1-D array of class indices. Got shape {y.shape} instead.")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValidationError(f"labels must be integer class indices (sparse labels). Got dtype {y.dtype} instead.")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValidationError(
            f"labels must lie in [0, {n_classes - 1}] for n_classes={n_classes}. Got values in [{y.min()}, {y.max()}] instead."
        )
    present = np.unique(y)
    w = compute_class_weight("balanced", classes=present, y=y)
    out = {int(c): 1.0 for c in range(n_classes)}
    out.update({int(c): float(v) for c, v in zip(present, w)})
    return out


def _check_dataset(ds) -> None:
    if not hasattr(ds, "ids") or not hasattr(ds, "labels"):
        raise ValidationError(f"make_dataset needs a core.datasets Dataset. Got {type(ds).__name__} instead.")
    if len(ds) == 0:
        raise DatasetError(f"Dataset {getattr(ds, 'name', '?')!r} has no samples; nothing to feed the model.")
    if ds.images is not None:
        im = np.asarray(ds.images)
        if im.ndim not in (3, 4):
            raise DatasetError(f"In-memory images must be N x H x W (x C). Got shape {im.shape} instead.")


def _source(ds, positions: np.ndarray, prep):
    """Per-sample (uint8-valued image at input size, label, id) dataset, in ``positions`` order."""
    import tensorflow as tf

    AUTOTUNE = tf.data.AUTOTUNE
    labels = ds.labels[positions]
    ids = ds.ids[positions].astype(str)
    if ds.images is not None:
        images = np.asarray(ds.images)[positions]
        if images.ndim == 3:
            images = images[..., None]
        h, w = prep.input_size
        same = images.shape[1:3] == (h, w) and images.shape[-1] == prep.channels
        src = tf.data.Dataset.from_tensor_slices((images, labels, ids))
        if same:
            return src
        out_dtype = tf.uint8 if images.dtype == np.uint8 else tf.float32

        def resize_batch(x, y, i):
            return tf.cast(prep.resize_tf(x), out_dtype), y, i

        # resize in batches (vectorised), then back to single elements
        return src.batch(256).map(resize_batch, num_parallel_calls=AUTOTUNE).unbatch()

    paths = np.asarray(ds.paths)[positions].astype(str)
    missing = [p for p in paths[:2000] if not Path(p).is_file()]
    if missing:
        raise DatasetError(
            f"{len(missing)} image file(s) of dataset {ds.name!r} do not exist (first: {missing[0]}). "
            "Reload the dataset from its folder."
        )
    src = tf.data.Dataset.from_tensor_slices((paths, labels, ids))

    def load(path, y, i):
        raw = tf.io.read_file(path)
        img = tf.io.decode_image(raw, channels=3, expand_animations=False)
        img.set_shape([None, None, 3])
        return tf.cast(prep.resize_tf(img), tf.uint8), y, i

    return src.map(load, num_parallel_calls=AUTOTUNE)


def _materialize(ds, prep) -> np.ndarray:
    """All images of ``ds`` resized (uint8 N x h x w x c), decoded in parallel, in order."""
    chunks = [x.numpy() for x, _, _ in _source(ds, np.arange(len(ds)), prep).batch(256)]
    return np.concatenate(chunks)


def _cache(d, cache):
    if cache is True:
        return d.cache()
    if cache is False or cache is None:
        return d
    path = Path(cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    return d.cache(str(path))


def make_dataset(
    ds,
    prep,
    *,
    batch_size: int,
    training: bool,
    augment=None,
    oversample: bool = False,
    seed: int = 0,
    cache: bool | str | Path = True,
    with_ids: bool = False,
    shuffle_buffer: int = 10_000,
    epoch_samples: int | None = None,
    drop_remainder: bool = False,
):
    """A ``tf.data.Dataset`` of ``(x, y)`` or ``(x, y, id)`` batches for a Dataset.

    Args:
        ds: a ``core.datasets.base.Dataset`` (images in memory or file paths).
        prep: the :class:`core.data.preprocess.Preprocessing` giving size, channels, normalisation.
        batch_size: samples per batch.
        training: shuffle (seeded, different order every epoch), oversample and augment.
            ``False``: the Dataset's order, no augmentation (evaluation, prediction).
        augment: AugmentSpec, dict, preset name or None; used only when ``training``.
        oversample: draw classes with equal probability (each class repeated and
            reshuffled as needed); one epoch = ``epoch_samples`` (default ``len(ds)``)
            samples. Training only. With caching on, the resized images are decoded once
            into memory when the pipeline is built (a cache file path is not used).
        seed: shuffling / sampling / augmentation seed.
        cache: True = decoded+resized images kept in memory after the first epoch;
            a path = cached to that file; False = decode every epoch.
        with_ids: also yield the sample ids (tf.string) for alignment.
        shuffle_buffer: upper bound of the shuffle buffer (the buffer is
            ``min(len(ds), shuffle_buffer)``; the whole dataset by default).
        epoch_samples: epoch length when oversampling.
        drop_remainder: drop the last incomplete batch.
    """
    import tensorflow as tf

    from core.data.augment import _as_spec, build_augmenter

    _check_dataset(ds)
    _check_prep(prep)
    batch_size = check_number("batch_size", batch_size, low=1, integer=True)
    check_type("training", training, bool)
    seed = check_number("seed", seed, low=0, integer=True)
    check_type("cache", cache, (bool, str, Path))
    if oversample and not training:
        raise ValidationError("oversample=True only makes sense for a training pipeline (training=True).")
    spec = _as_spec(augment)
    d = _samples(ds, prep, training=training, oversample=oversample, seed=seed, cache=cache,
                 shuffle_buffer=shuffle_buffer, epoch_samples=epoch_samples)
    d = d.batch(batch_size, drop_remainder=drop_remainder)
    augmenter = build_augmenter(spec, seed=seed) if training and not spec.is_identity else None
    d = d.map(_batch_finisher(prep, augmenter, with_ids), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return without_autotune_thread(d.prefetch(tf.data.AUTOTUNE))


def without_autotune_thread(d):
    """``d`` with tf.data's autotuning off. Its model thread (``RootDataset``'s ``Model::OptimizeLoop``) sleeps up
    to a minute between rounds and an iterator's destructor waits for it: Keras makes a new iterator every
    epoch (and for every validation pass), so on 2 CPU cores most epochs ended with 20-40 s of nothing
    (bench/README.md, "tf.data's autotuning thread"). Without autotuning an ``AUTOTUNE`` parallelism stays at its
    starting value (the number of cores, at most 16) and prefetching keeps a fixed buffer; the data, its order and
    the model's mathematics are the same."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return d.with_options(options)


def _samples(ds, prep, *, training: bool, oversample: bool, seed: int, cache, shuffle_buffer: int,
             epoch_samples: int | None):
    """The per-sample source of :func:`make_dataset`: oversampled, shuffled before decoding
    (training without a cache), or decoded, cached and (training) shuffled."""
    import tensorflow as tf

    if oversample:
        return _balanced_source(ds, prep, cache=cache, seed=seed, shuffle_buffer=shuffle_buffer,
                                epoch_samples=epoch_samples)
    if training and cache is False:
        # without a cache shuffle the cheap (path/array, label, id) slices before decoding
        order = tf.data.Dataset.from_tensor_slices(np.arange(len(ds)))
        order = order.shuffle(len(ds), seed=seed, reshuffle_each_iteration=True)
        return _shuffled_source(ds, prep, order)
    d = _cache(_source(ds, np.arange(len(ds)), prep), cache)
    if training:
        d = d.shuffle(min(len(ds), shuffle_buffer), seed=seed, reshuffle_each_iteration=True)
    return d


def _batch_finisher(prep, augmenter, with_ids: bool):
    """The map of a batch to the model's input: float32, augmented (training), normalised."""
    import tensorflow as tf

    from core.data.augment import augment_batch

    def finish(x, y, i):
        x = tf.cast(x, tf.float32)
        if augmenter is not None:
            x = augment_batch(augmenter, x)
        x = prep.normalize_tf(x)
        return (x, y, i) if with_ids else (x, y)

    return finish


def _balanced_source(ds, prep, *, cache, seed: int, shuffle_buffer: int, epoch_samples: int | None):
    """Oversampled training source: every class drawn with equal probability, one epoch =
    ``epoch_samples`` (default ``len(ds)``) samples."""
    import tensorflow as tf

    n = len(ds)
    positions = np.arange(n)
    epoch_samples = check_number("epoch_samples", epoch_samples, low=1, integer=True, allow_none=True) or n
    classes = np.unique(ds.labels)
    # Per-class streams are consumed partially each epoch (majority classes never finish
    # a pass), so a tf.data cache would never complete. With caching on, the resized
    # images are instead decoded once, in parallel, into one uint8 array.
    mem = None if cache is False else _materialize(ds, prep)
    parts = []
    for c in classes:
        pos_c = positions[ds.labels == c]
        if mem is None:
            d = _source(ds, pos_c, prep)
        else:
            d = tf.data.Dataset.from_tensor_slices((mem[pos_c], ds.labels[pos_c], ds.ids[pos_c].astype(str)))
        d = d.shuffle(min(len(pos_c), shuffle_buffer), seed=seed + int(c), reshuffle_each_iteration=True)
        parts.append(d.repeat())
    weights = [1.0 / len(classes)] * len(classes)
    return tf.data.Dataset.sample_from_datasets(
        parts, weights=weights, seed=seed, rerandomize_each_iteration=True
    ).take(epoch_samples)


def _check_prep(prep) -> None:
    """``prep`` must be a ``core.data.preprocess.Preprocessing``. Checked by what the pipeline calls
    (``resize_tf``, ``normalize_tf``), not by importing the class: ``core.data.preprocess`` builds on
    this module (``fit_preprocessing`` streams a dataset through it), so the import would be a cycle."""
    if not all(callable(getattr(prep, m, None)) for m in ("resize_tf", "normalize_tf", "apply_tf")):
        raise ValidationError(
            f"The 'prep' parameter must be of type Preprocessing. Got {prep!r} ({type(prep).__name__}) instead."
        )


def _shuffled_source(ds, prep, order):
    """Uncached training source: a shuffled index stream mapped to decoded samples."""
    import tensorflow as tf

    AUTOTUNE = tf.data.AUTOTUNE
    labels = tf.constant(ds.labels)
    ids = tf.constant(ds.ids.astype(str))
    if ds.images is not None:
        images = np.asarray(ds.images)
        if images.ndim == 3:
            images = images[..., None]
        out_dtype = tf.uint8 if images.dtype == np.uint8 else tf.float32
        images_t = tf.constant(images)

        def get(k):
            return tf.cast(prep.resize_tf(tf.gather(images_t, k)), out_dtype), tf.gather(labels, k), tf.gather(ids, k)

        return order.batch(256).map(get, num_parallel_calls=AUTOTUNE).unbatch()

    paths = tf.constant(np.asarray(ds.paths).astype(str))

    def load(k):
        img = tf.io.decode_image(tf.io.read_file(tf.gather(paths, k)), channels=3, expand_animations=False)
        img.set_shape([None, None, 3])
        return tf.cast(prep.resize_tf(img), tf.uint8), tf.gather(labels, k), tf.gather(ids, k)

    return order.map(load, num_parallel_calls=AUTOTUNE)


def predict_batches(images_uint8, prep, *, batch_size: int = 64):
    """A plain pipeline over an in-memory array for ``model.predict`` (no labels, in order).

    Kept for batch prediction (predicting a whole folder of images with a trained run), an upcoming feature."""
    import tensorflow as tf

    a = np.asarray(images_uint8)
    if a.ndim == 3:
        a = a[..., None]
    d = tf.data.Dataset.from_tensor_slices(a).batch(batch_size)
    return without_autotune_thread(d.map(prep.apply_tf, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))
