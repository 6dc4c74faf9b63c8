"""Flagging a prediction: what a person's "this looks wrong / I am not sure" keeps, with their consent.

    fid = flag_prediction(gs, run_id, image_bytes, probs, kind="wrong", proposed_label=2, note="",
                          consent=True, class_names=names)
    delete_flag(gs, fid)        # the record, its decisions and (when no other flag holds it) its image

``store`` is the run store or, on pages and in the CLI, a ``GuardedStore`` (the right "flag" on
the run; deleting: "delete_flag", the flags one made). The image is kept as pixels only
(``core.data.privacy``): decoded and re-encoded as PNG without EXIF (GPS, device, dates), ICC,
XMP or comments, in ``flags_dir(store)`` under the sha256 of the PNG. No uploaded file name is
taken, stored or logged.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data.privacy import flag_images_dir, store_pixels
from core.validation import ValidationError

CONSENT_TEXT = (
    "Flagging keeps, in this lab: the image's pixels only (re-encoded as PNG; its file name, EXIF data such as "
    "GPS position, camera and dates, colour profile, XMP and comments are removed), the run that made the "
    "prediction, the model's calibrated probabilities, the label you propose, whether it looks wrong or "
    "uncertain, your note, your user account and the time. Reviewers see it and may add the image, with "
    "the label they decide, to a training dataset of the lab. You or a reviewer can delete the flag and its "
    "image; a dataset version exported before keeps its own copy."
)


def flags_dir(store=None) -> Path:
    """The folder of flagged images: ``<models_dir>/flags`` of ``store`` (of LAB_MODELS_DIR without one)."""
    if store is None:
        from core.config import get_settings

        return flag_images_dir(get_settings().models_dir)
    return flag_images_dir(store.models_dir)


def flag_prediction(store, run_id: int, image_bytes: bytes, probs, *, kind: str, proposed_label: int | None,
                    note: str, consent: bool, class_names, created_by: int | None = None) -> int:
    """Record a flag on the prediction ``probs`` (calibrated) of run ``run_id`` for the image
    ``image_bytes``; returns the flag's id. Refused (ValidationError) without ``consent`` (the
    person agreed to ``CONSENT_TEXT``). A GuardedStore records the flag as its actor's."""
    if consent is not True:
        raise ValidationError("Flagging needs your consent to keep what it stores: " + CONSENT_TEXT +
                              " Tick the consent box (consent=True) to flag this prediction.")
    p = np.asarray(probs, dtype=float).ravel()
    if p.size != len(list(class_names)) or p.size == 0:
        raise ValidationError(f"The probabilities must hold one value per class ({len(list(class_names))}). "
                              f"Got {p.size}.")
    folder = flags_dir(store)
    img = store_pixels(folder, image_bytes)
    try:
        return int(store.add_flag(run_id, image_sha256=img.sha256, image_path=img.file_name, probs=p.tolist(),
                                  predicted=int(np.argmax(p)), kind=kind, proposed_label=proposed_label, note=note,
                                  class_names=list(class_names), created_by=created_by))
    except BaseException:
        _remove_unused(store, folder, img.sha256)
        raise


def delete_flag(store, flag_id: int) -> None:
    """Delete a flag (and its decisions); its image file goes with it unless another flag holds
    the same image. A dataset version exported before keeps its own copy."""
    rec = store.delete_flag(flag_id)
    _remove_unused(store, flags_dir(store), rec.image_sha256)


def _remove_unused(store, folder: Path, sha256: str) -> None:
    if not store.flag_image_in_use(sha256):
        (folder / f"{sha256}.png").unlink(missing_ok=True)


def flag_image_path(store, flag) -> Path:
    """The file of a flag's image (``flag.image_path`` inside ``flags_dir(store)``)."""
    name = Path(flag.image_path).name
    if name != f"{flag.image_sha256}.png":
        raise ValidationError(f"Flag {flag.id} names an unexpected image file {flag.image_path!r}.")
    return flags_dir(store) / name
