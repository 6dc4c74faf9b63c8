"""Image decoding, augmentation, preprocessing and tf.data pipelines (below every model and dataset user)."""
