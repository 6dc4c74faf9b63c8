"""core.data.images.load_image on images generated in memory with Pillow."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from core.data.images import ACCEPTED_FORMATS, ImageError, LoadedImage, load_image
from core.validation import LabError


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def gradient(w=64, h=48) -> np.ndarray:
    x = np.linspace(0, 255, w, dtype=np.float64)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h, dtype=np.float64)[:, None].repeat(w, 1)
    return np.stack([x, y, 255 - x], -1).astype(np.uint8)


def test_rgb_png_roundtrip_exact():
    arr = gradient()
    out = load_image(encode(Image.fromarray(arr), "PNG"))
    assert isinstance(out, LoadedImage)
    assert out.array.dtype == np.uint8 and out.array.shape == (48, 64, 3)
    np.testing.assert_array_equal(out.array, arr)
    assert out.original_size == (64, 48) and out.mode == "RGB" and out.format == "PNG" and out.notices == []


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF", "BMP", "WEBP", "GIF"])
def test_accepted_formats_decode(fmt):
    img = Image.fromarray(gradient(40, 30))
    out = load_image(encode(img, fmt))
    assert out.array.shape[:2] == (30, 40)
    assert out.array.shape[2] == 3


def test_path_and_file_object(tmp_path):
    p = tmp_path / "a.png"
    Image.fromarray(gradient()).save(p)
    a = load_image(p)
    b = load_image(str(p))
    c = load_image(io.BytesIO(p.read_bytes()))
    np.testing.assert_array_equal(a.array, b.array)
    np.testing.assert_array_equal(a.array, c.array)
    with pytest.raises(ImageError, match="does not exist"):
        load_image(tmp_path / "missing.png")


def test_exif_orientation_applied():
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :10] = 255  # white band on the left
    img = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW when displayed
    out = load_image(encode(img, "JPEG", exif=exif, quality=95))
    assert out.array.shape == (40, 20, 3)  # width/height swapped
    assert out.array[:10].mean() > 200 and out.array[-10:].mean() < 50  # left band is now on top
    assert any("EXIF" in n for n in out.notices)
    assert out.original_size == (40, 20)


def test_cmyk_converted():
    img = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red in CMYK
    out = load_image(encode(img, "JPEG", quality=95))
    assert out.array.shape == (16, 16, 3) and out.mode == "CMYK"
    r, g, b = out.array.reshape(-1, 3).mean(0)
    assert r > 200 and g < 60 and b < 60
    assert any("CMYK" in n for n in out.notices)


def test_16bit_png_scaled_to_8bit():
    arr16 = (np.arange(256, dtype=np.uint16).reshape(16, 16) * 257).astype(np.uint16)  # 0..65535
    img = Image.fromarray(arr16, mode="I;16")
    out = load_image(encode(img, "PNG"))
    assert out.array.shape == (16, 16, 1) and out.array.dtype == np.uint8
    np.testing.assert_array_equal(out.array[..., 0], np.arange(256, dtype=np.uint8).reshape(16, 16))
    assert any("16-bit" in n for n in out.notices)


def test_alpha_composited_on_white():
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 0] = 255          # red
    rgba[:, :5, 3] = 0          # left half fully transparent
    rgba[:, 5:, 3] = 255
    out = load_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert out.array.shape == (10, 10, 3)
    np.testing.assert_array_equal(out.array[:, :5], 255)                 # white where transparent
    assert (out.array[:, 5:] == [255, 0, 0]).all()  # opaque red kept
    assert any("white" in n for n in out.notices)


def test_palette_and_palette_transparency():
    p = Image.fromarray(gradient(20, 20)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    out = load_image(encode(p, "PNG"))
    assert out.array.shape == (20, 20, 3) and out.mode == "P"
    pt = Image.new("P", (8, 8), 0)
    pt.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    pt.paste(1, (4, 0, 8, 8))
    out = load_image(encode(pt, "PNG", transparency=0))
    np.testing.assert_array_equal(out.array[:, :4], 255)  # transparent index -> white
    assert (out.array[:, 4:] == [0, 255, 0]).all()


def test_grayscale_channels_option():
    g = Image.fromarray(np.full((12, 9), 77, np.uint8), "L")
    data = encode(g, "PNG")
    assert load_image(data).array.shape == (12, 9, 1)
    rgb = load_image(data, channels="rgb").array
    assert rgb.shape == (12, 9, 3) and (rgb == 77).all()
    assert load_image(encode(Image.fromarray(gradient()), "PNG"), channels="gray").array.shape == (48, 64, 1)
    bw = Image.new("1", (8, 8), 1)
    assert (load_image(encode(bw, "PNG")).array == 255).all()


def test_animated_gif_first_frame_with_notice():
    frames = [Image.new("RGB", (10, 10), c) for c in [(255, 0, 0), (0, 0, 255), (0, 255, 0)]]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    out = load_image(buf.getvalue())
    assert out.array.shape == (10, 10, 3)
    r, g, b = out.array.reshape(-1, 3).mean(0)
    assert r > 200 and g < 50 and b < 50  # the first (red) frame
    assert any("3 frames" in n and "first frame" in n for n in out.notices)


def _png_with_header_size(width: int, height: int) -> bytes:
    """A small valid PNG whose IHDR claims width x height (the shape of a decompression bomb)."""
    data = bytearray(encode(Image.new("L", (1, 1)), "PNG"))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr:ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


def test_decompression_bomb_refused_with_limit():
    with pytest.raises(ImageError) as e:
        load_image(_png_with_header_size(30000, 30000))
    assert "80,000,000 pixels" in str(e.value) and "decompression bomb" in str(e.value)
    # below Pillow's own limit but above ours: refused by our check, stating the size
    with pytest.raises(ImageError) as e:
        load_image(_png_with_header_size(5000, 5000), max_pixels=10_000_000)
    assert "10,000,000 pixels" in str(e.value) and "5000x5000" in str(e.value)
    assert isinstance(e.value, LabError)


def test_huge_valid_photo_downscaled_with_notice():
    img = Image.fromarray(np.tile(gradient(64, 48), (40, 40, 1)))  # 2560 x 1920
    out = load_image(encode(img, "JPEG", quality=80), max_side=1024)
    assert max(out.array.shape[:2]) == 1024 and out.array.shape[:2] == (768, 1024)
    assert out.original_size == (2560, 1920)
    assert any("downscaled" in n for n in out.notices)
    out_png = load_image(encode(img, "PNG"), max_side=1000)
    assert out_png.array.shape[:2] == (750, 1000)


@pytest.mark.parametrize("data,what", [
    (b"", "empty"),
    (b"hello, this is a text file renamed to .jpg\n" * 3, "not a readable image"),
])
def test_bad_bytes(data, what):
    with pytest.raises(ImageError) as e:
        load_image(data)
    msg = str(e.value)
    assert what in msg
    assert all(f in msg for f in ACCEPTED_FORMATS)


def test_truncated_jpeg(tmp_path):
    data = encode(Image.fromarray(gradient(200, 150)), "JPEG", quality=90)
    with pytest.raises(ImageError) as e:
        load_image(data[: len(data) // 2])
    assert "truncated or corrupt" in str(e.value) and "JPEG, PNG" in str(e.value)
    p = tmp_path / "notes.jpg"
    p.write_text("not an image")
    with pytest.raises(ImageError, match="Accepted formats"):
        load_image(p)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(tmp_path / "empty.jpg")


def test_unsupported_format_and_bad_params():
    ico = encode(Image.new("RGB", (16, 16)), "ICO")
    with pytest.raises(ImageError, match="not accepted"):
        load_image(ico)
    with pytest.raises(LabError, match="channels"):
        load_image(b"x", channels="rgba")
    with pytest.raises(ImageError, match="Cannot read an image"):
        load_image(12345)


def test_never_writes_to_disk(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    load_image(encode(Image.fromarray(gradient()), "PNG"))
    assert list(tmp_path.iterdir()) == []


def test_inference_module_is_light():
    """core.serving.inference (the Predict page's and the CLI's upload checks) loads no TensorFlow."""
    import subprocess
    import sys
    from pathlib import Path

    code = "import sys, core.serving.inference; print([m for m in ('tensorflow', 'keras', 'streamlit') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
