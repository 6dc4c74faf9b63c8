"""Decode a few images of a Dataset (sample grids, previews, EDA)."""
from __future__ import annotations

import numpy as np

from core.datasets.base import Dataset
from core.validation import DatasetError, ValidationError


def _norm_size(size) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValidationError(f"The 'size' parameter must be None, an int or (height, width). Got {size!r} instead.") from None
    if h < 1 or w < 1:
        raise ValidationError(f"The 'size' parameter must be positive. Got {size!r} instead.")
    return h, w


def _resize(arr: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    if arr.shape[:2] == hw:
        return arr
    img = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
    out = np.asarray(img.resize((hw[1], hw[0]), Image.Resampling.BILINEAR), dtype=np.uint8)
    return out[..., None] if out.ndim == 2 else out


def decode_file(path: str, *, max_side: int | None = None, channels: str = "auto") -> np.ndarray:
    """uint8 H x W x C array of an image file (via core.data.images.load_image); DatasetError when unreadable."""
    from core.data.images import ImageError, load_image
    from core.datasets.common import check_inside_roots

    real = check_inside_roots(path, what="image file")  # a path inside a data root may link elsewhere
    try:
        return load_image(str(real), max_side=max_side, channels=channels).array
    except ImageError as e:
        raise DatasetError(f"Cannot decode {path}: {e}") from e


def load_images(ds: Dataset, positions, size=None, *, channels: str = "auto") -> np.ndarray:
    """Images at ``positions`` as one uint8 array (N, H, W, C).

    ``size`` (int or (height, width)) resizes; without it, on-disk images of differing sizes
    are resized to the first one's size. Mixed grey/colour files come back as 3 channels.
    """
    pos = np.asarray(positions, dtype=np.int64).reshape(-1)
    if len(pos) and (pos.min() < -len(ds) or pos.max() >= len(ds)):
        raise ValidationError(f"Positions must be in [0, {len(ds)}); got {pos.min()}..{pos.max()}.")
    hw = _norm_size(size)
    if ds.images is not None:
        imgs = ds.images[pos]
        if channels == "rgb" and imgs.shape[-1] == 1:
            imgs = np.repeat(imgs, 3, axis=-1)
        if hw is None:
            return np.ascontiguousarray(imgs)
        return np.stack([_resize(a, hw) for a in imgs]) if len(imgs) else np.zeros((0, *hw, imgs.shape[-1]), np.uint8)
    arrs = [decode_file(ds.paths[i], max_side=max(hw) * 4 if hw else 2048, channels=channels) for i in pos]
    if not arrs:
        return np.zeros((0, *(hw or (0, 0)), 3), np.uint8)
    if len({a.shape[2] for a in arrs}) > 1:
        arrs = [np.repeat(a, 3, axis=-1) if a.shape[2] == 1 else a for a in arrs]
    target = hw or arrs[0].shape[:2]
    return np.stack([_resize(a, target) for a in arrs])
