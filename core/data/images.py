"""Safe decoding of uploaded and on-disk images into uint8 arrays.

``load_image(source)`` accepts bytes, a path or a binary file object and returns a
``LoadedImage``; everything that can go wrong raises ``ImageError`` (a ``LabError``) with a
message saying what was wrong and which formats are accepted. Handled on the way:

* size limits before decoding (decompression bombs refused, naming the pixel limit);
* EXIF orientation applied (``ImageOps.exif_transpose``);
* CMYK, palette, 1-bit, 16-bit (``I;16`` scaled to 8 bit), 32-bit integer/float greyscale,
  alpha (composited on white);
* animated GIF/WebP/TIFF: first frame, with a notice;
* huge but valid photos: decoded at reduced scale (JPEG draft) and downscaled so the longest
  side is at most ``max_side``, with a notice;
* empty, truncated or non-image data.

Nothing is written to disk.
"""
from __future__ import annotations

import io
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.validation import LabError, check_number, check_one_of

ACCEPTED_FORMATS = ("JPEG", "PNG", "TIFF", "BMP", "WebP", "GIF")
_PIL_FORMATS = {"JPEG", "MPO", "PNG", "TIFF", "BMP", "DIB", "WEBP", "GIF"}
# The lab's one pixel limit: every "too large to decode" message states it, never Pillow's own
# MAX_IMAGE_PIXELS (scripts/predict_exported.py, which runs without the lab, repeats it: a test keeps them equal).
DEFAULT_MAX_PIXELS = 80_000_000     # ~ 10000 x 8000; 30000 x 30000 is refused
DEFAULT_MAX_SIDE = 4096
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
_ACCEPTED_TEXT = ", ".join(ACCEPTED_FORMATS)


class ImageError(LabError):
    """An image cannot be decoded safely (bad data, unsupported format, too large)."""


@dataclass
class LoadedImage:
    array: np.ndarray                 # uint8, H x W x 3 (colour) or H x W x 1 (grey)
    original_size: tuple[int, int]    # (width, height) as stored in the file, before any change
    mode: str                         # Pillow mode of the file (e.g. "RGB", "CMYK", "I;16", "P")
    notices: list[str] = field(default_factory=list)
    format: str | None = None         # Pillow format name ("JPEG", "PNG", ...)

    @property
    def height(self) -> int:
        return int(self.array.shape[0])

    @property
    def width(self) -> int:
        return int(self.array.shape[1])

    @property
    def channels(self) -> int:
        return int(self.array.shape[2])


def _read_source(source, max_bytes: int) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), "the uploaded data"
    elif isinstance(source, (str, os.PathLike)):
        p = Path(source)
        name = f"{p.name!r}"
        if not p.is_file():
            raise ImageError(f"Image file {str(p)!r} does not exist or is not a file.")
        size = p.stat().st_size
        if size > max_bytes:
            raise ImageError(f"Image file {name} is {size / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB.")
        data = p.read_bytes()
    elif hasattr(source, "read"):
        name = repr(getattr(source, "name", "the uploaded file"))
        if hasattr(source, "seek"):
            try:
                source.seek(0)
            except Exception:  # noqa: BLE001 - non-seekable streams are fine
                pass
        data = source.read(max_bytes + 1)
        if not isinstance(data, (bytes, bytearray)):
            raise ImageError(f"Reading {name} gave {type(data).__name__}, not bytes; open the file in binary mode.")
        data = bytes(data)
    else:
        raise ImageError(f"Cannot read an image from {type(source).__name__}; give bytes, a file path or a binary file.")
    if len(data) == 0:
        raise ImageError(f"{name[0].upper() + name[1:]} is empty (0 bytes). Accepted formats: {_ACCEPTED_TEXT}.")
    if len(data) > max_bytes:
        raise ImageError(f"{name[0].upper() + name[1:]} is larger than the limit of {max_bytes / 2**20:.0f} MiB.")
    return data, name


def _to_8bit(img, notices: list[str]):
    from PIL import Image

    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(img).astype(np.float64)
        if mode.startswith("I;16") or arr.max(initial=0) <= 65535 and arr.min(initial=0) >= 0 and arr.max(initial=0) > 255:
            arr = arr / 257.0
            notices.append("16-bit image scaled to 8 bit.")
        elif arr.min(initial=0) < 0 or arr.max(initial=0) > 255:
            lo, hi = float(arr.min()), float(arr.max())
            arr = (arr - lo) / max(hi - lo, 1e-12) * 255.0
            notices.append("32-bit integer image rescaled (min-max) to 8 bit.")
        return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")
    if mode == "F":
        arr = np.asarray(img).astype(np.float64)
        finite = np.isfinite(arr)
        lo, hi = (float(arr[finite].min()), float(arr[finite].max())) if finite.any() else (0.0, 1.0)
        if 0.0 <= lo and hi <= 1.0:
            lo, hi = 0.0, 1.0
        arr = np.where(finite, (arr - lo) / max(hi - lo, 1e-12) * 255.0, 0)
        notices.append("Floating-point image rescaled to 8 bit.")
        return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")
    return img


def _flatten(img, notices: list[str]):
    """Any Pillow mode -> "L" or "RGB" (alpha composited on white)."""
    from PIL import Image

    img = _to_8bit(img, notices)
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    elif mode == "1":
        img = img.convert("L")
        mode = "L"
    if mode in ("LA", "La", "PA"):
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "RGBa"):
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"))
        if (alpha < 255).any():
            bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(bg, rgba).convert("RGB")
            notices.append("Transparent pixels composited on a white background.")
        else:
            img = rgba.convert("RGB")
        return img
    if mode == "CMYK":
        notices.append("CMYK image converted to RGB.")
        return img.convert("RGB")
    if mode in ("L", "RGB"):
        return img
    return img.convert("RGB")  # YCbCr, LAB, HSV, RGBX ...


def load_image(source, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_side: int | None = DEFAULT_MAX_SIDE,
               channels: str = "auto", max_bytes: int = DEFAULT_MAX_BYTES) -> LoadedImage:
    """Decode ``source`` (bytes, path or binary file object) into a uint8 array.

    ``channels``: "auto" (grey images H x W x 1, others H x W x 3), "rgb" (always 3) or "gray" (always 1).
    ``max_pixels``: images with more pixels (width x height) are refused before decoding.
    ``max_side``: longer images are downscaled so their longest side is ``max_side`` (None: never).
    """
    max_pixels = check_number("max_pixels", max_pixels, low=1, integer=True)
    max_side = check_number("max_side", max_side, low=1, integer=True, allow_none=True)
    max_bytes = check_number("max_bytes", max_bytes, low=1, integer=True)
    check_one_of("channels", channels, ["auto", "rgb", "gray"])
    data, name = _read_source(source, max_bytes)
    Name = name[0].upper() + name[1:]
    notices: list[str] = []
    bomb_msg = (f"{Name} is too large to decode safely (possible decompression bomb); the limit is "
                f"{max_pixels:,} pixels (width x height).")
    img = _open(data, Name, bomb_msg)
    try:
        fmt, orig_mode, (w, h) = img.format, img.mode, img.size
        _check_opened(img, Name, bomb_msg, max_pixels)
        img = _decode(img, Name, bomb_msg, max_side, notices)
        img = _flatten(img, notices)
        arr = _to_array(img, (w, h), max_side, channels, notices)
        return LoadedImage(array=arr, original_size=(int(w), int(h)), mode=orig_mode, notices=notices, format=fmt)
    finally:
        img.close()


def _open(data: bytes, Name: str, bomb_msg: str):
    """The Pillow image of ``data``, opened lazily (pixels not decoded yet)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:  # above Pillow's own limit: say ours, and the size
        raise ImageError(f"{bomb_msg}{_bomb_size(e)}") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{Name} is not a readable image (unrecognised or corrupt data). "
                         f"Accepted formats: {_ACCEPTED_TEXT}.") from e


def _bomb_size(err: Exception) -> str:
    """The image's size as ' It is N pixels.', read from Pillow's DecompressionBombError (Pillow's
    own limit left out: the message states the lab's), or '' when the error does not give it."""
    m = re.search(r"Image size \((\d+) pixels\)", str(err))
    return f" It is {int(m.group(1)):,} pixels." if m else ""


def _check_opened(img, Name: str, bomb_msg: str, max_pixels: int) -> None:
    """Refuse, before decoding, a format that is not accepted, an empty image or too many pixels."""
    fmt = img.format
    if fmt not in _PIL_FORMATS:
        raise ImageError(f"{Name} is a {fmt} image, which is not accepted. Accepted formats: {_ACCEPTED_TEXT}.")
    w, h = img.size
    if w < 1 or h < 1:
        raise ImageError(f"{Name} has no pixels ({w}x{h}).")
    if w * h > max_pixels:
        raise ImageError(f"{bomb_msg} It is {w}x{h} = {w * h:,} pixels.")


def _decode(img, Name: str, bomb_msg: str, max_side: int | None, notices: list[str]):
    """Decode the first frame (a large JPEG at reduced scale), turned upright by its EXIF tag."""
    from PIL import Image, ImageOps

    fmt = img.format
    w, h = img.size
    n_frames = getattr(img, "n_frames", 1)
    if n_frames > 1:
        img.seek(0)
        what = "Animated GIF" if fmt == "GIF" else f"Multi-frame {fmt}"
        notices.append(f"{what} with {n_frames} frames: only the first frame is used.")
    if max_side is not None and max(w, h) > max_side and fmt == "JPEG":
        scale = max_side / max(w, h)
        img.draft(img.mode, (max(1, int(w * scale)), max(1, int(h * scale))))  # decode at reduced scale
    try:
        img.load()
    except Image.DecompressionBombError as e:
        raise ImageError(f"{bomb_msg}{_bomb_size(e)}") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"{Name} is truncated or corrupt ({e}). Accepted formats: {_ACCEPTED_TEXT}.") from e
    orientation = img.getexif().get(0x0112, 1) if hasattr(img, "getexif") else 1
    if orientation not in (None, 1):
        img = ImageOps.exif_transpose(img)
        notices.append(f"Rotated/flipped according to the EXIF orientation tag ({orientation}).")
    return img


def _to_array(img, size: tuple[int, int], max_side: int | None, channels: str, notices: list[str]) -> np.ndarray:
    """The flattened image downscaled to ``max_side``, in the channels asked, as uint8 H x W x C."""
    from PIL import Image

    w, h = size
    if max_side is not None and max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    if max_side is not None and max(w, h) > max_side:
        notices.append(f"Large image ({w}x{h}) downscaled to {img.size[0]}x{img.size[1]} "
                       f"(longest side limit {max_side}).")
    if channels == "rgb" and img.mode != "RGB":
        img = img.convert("RGB")
    elif channels == "gray" and img.mode != "L":
        img = img.convert("L")
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[..., None]
    return np.ascontiguousarray(arr)
