"""A JPEG that carries everything a phone photo may leak (GPS EXIF, camera, dates, ICC, XMP, a
comment), the byte strings that would betray it, and a search of every file a lab wrote."""
from __future__ import annotations

import io
import struct
from fractions import Fraction
from pathlib import Path

import numpy as np

UPLOAD_NAME = "jane_doe_MRN4411_clinic-visit.jpg"
MAKE = "SecretPhoneMakerXQ"
MODEL = "ModelZZ-9000"
WHEN = "2019:05:17 08:15:42"
COMMENT = b"SECRET-COMMENT-4242"
XMP_MARK = b"SECRET-XMP-7777"
GPS_LAT = ((48, 1), (51, 1), (291234, 10000))
GPS_LON = ((2, 1), (17, 1), (409876, 10000))


def leaky_jpeg(pixels: np.ndarray | None = None) -> bytes:
    """A JPEG with GPSInfo, Make, Model, DateTimeOriginal, an ICC profile, XMP and a comment."""
    from PIL import Image, ImageCms
    from PIL.TiffImagePlugin import IFDRational

    if pixels is None:
        rng = np.random.default_rng(0)
        pixels = rng.integers(0, 255, size=(16, 16, 3), dtype=np.uint8)
    im = Image.fromarray(pixels).convert("RGB")
    exif = Image.Exif()
    exif[0x010F] = MAKE
    exif[0x0110] = MODEL
    exif[0x0132] = WHEN
    exif.get_ifd(0x8769)[0x9003] = WHEN  # DateTimeOriginal
    gps = exif.get_ifd(0x8825)
    gps[1], gps[3] = "N", "E"
    gps[2] = tuple(IFDRational(n, d) for n, d in GPS_LAT)
    gps[4] = tuple(IFDRational(n, d) for n, d in GPS_LON)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description>' + XMP_MARK + b'</rdf:Description></rdf:RDF></x:xmpmeta>')
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=95, exif=exif.tobytes(), icc_profile=icc, comment=COMMENT, xmp=xmp)
    return buf.getvalue()


def icc_sample() -> bytes:
    """A run of bytes from the middle of the ICC profile leaky_jpeg embeds."""
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return icc[128:160]


def secrets() -> dict[str, bytes]:
    """What must never be found in a file the lab wrote: EXIF strings and GPS rationals, the ICC
    profile, XMP, the comment, the upload's file name."""
    out = {"make": MAKE.encode(), "model": MODEL.encode(), "date": WHEN.encode(), "comment": COMMENT,
           "xmp": XMP_MARK, "icc": icc_sample(), "file name": UPLOAD_NAME.encode(),
           "file name stem": Path(UPLOAD_NAME).stem.encode(), "file name (utf-16)": UPLOAD_NAME.encode("utf-16-le")}
    for order in ("<", ">"):  # the seconds as written (a reduced fraction), in either byte order
        for what, (n, d) in (("latitude", GPS_LAT[2]), ("longitude", GPS_LON[2])):
            f = Fraction(n, d)
            out[f"gps {what} {order}"] = struct.pack(f"{order}LL", f.numerator, f.denominator)
    return out


def leaks_in(folder: Path) -> list[str]:
    """``"<file>: <what>"`` for every secret found in any file under ``folder``."""
    found = []
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        data = path.read_bytes()
        found += [f"{path}: {what}" for what, needle in secrets().items() if needle in data]
    return found
