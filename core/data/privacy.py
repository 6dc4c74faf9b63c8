"""Privacy by default for images the lab keeps (flagged predictions): pixels only.

``pixels_only(data)`` decodes an uploaded image and encodes its pixels again as PNG from a
fresh array: nothing of the upload's metadata survives (EXIF with GPS position, device and
dates, ICC profiles, XMP, comments, text chunks, thumbnails). The orientation EXIF asks for is
applied to the pixels first, so the image looks as it did. The result is named by the sha256 of
the PNG bytes (``store_pixels``), never by the file name it was uploaded under.
"""
from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.validation import ValidationError

#: where a store keeps its flagged images: ``<models_dir>/flags``
FLAGS_SUBDIR = "flags"
#: the largest image accepted (pixels), as Pillow's decompression-bomb limit
MAX_PIXELS = 50_000_000


@dataclass(frozen=True)
class PixelImage:
    png: bytes          # the re-encoded image: PNG of the pixels, no metadata
    sha256: str         # of ``png``
    array: np.ndarray   # uint8 H x W (x C)

    @property
    def file_name(self) -> str:
        return f"{self.sha256}.png"


def flag_images_dir(models_dir: str | os.PathLike) -> Path:
    """The folder of a store's flagged images (``<models_dir>/flags``)."""
    return Path(models_dir) / FLAGS_SUBDIR


def decode_pixels(data: bytes) -> np.ndarray:
    """The pixels of an image file's bytes as the lab keeps them (orientation applied; L, RGB or RGBA)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not isinstance(data, (bytes, bytearray, memoryview)) or not len(data):
        raise ValidationError("The image is empty: give the bytes of a PNG, JPEG, BMP, GIF, TIFF or WebP image.")
    try:
        with Image.open(io.BytesIO(bytes(data))) as im:
            if im.width * im.height > MAX_PIXELS:
                raise ValidationError(f"The image has {im.width} x {im.height} pixels; at most {MAX_PIXELS:,} "
                                      "pixels are accepted.")
            im = ImageOps.exif_transpose(im)  # the orientation the EXIF asked for, applied to the pixels
            if im.mode not in ("L", "RGB", "RGBA"):
                im = im.convert("RGBA" if "A" in im.getbands() or "transparency" in im.info else "RGB")
            return np.array(im, dtype=np.uint8, copy=True)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ValidationError(f"The file is not an image the lab can read ({exc}). Accepted: PNG, JPEG, BMP, GIF, "
                              "TIFF, WebP.") from None


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of a uint8 array, from a fresh image: no metadata chunk at all."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def pixels_only(data: bytes) -> PixelImage:
    """The upload's pixels re-encoded as PNG with no metadata, and their sha256.
    ValidationError when ``data`` is not a readable image."""
    arr = decode_pixels(data)
    png = encode_png(arr)
    return PixelImage(png=png, sha256=hashlib.sha256(png).hexdigest(), array=arr)


def store_pixels(folder: str | os.PathLike, data: bytes) -> PixelImage:
    """``pixels_only(data)`` written to ``folder/<sha256>.png`` (atomically; kept as it is when
    the same pixels are stored already)."""
    from core.files import atomic_write

    img = pixels_only(data)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / img.file_name
    if not target.is_file():
        atomic_write(target, lambda tmp: Path(tmp).write_bytes(img.png))
    return img


