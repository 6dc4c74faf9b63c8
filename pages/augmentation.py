"""Augmentation studio: one image, every AugmentSpec setting, a grid of variants; presets;
"use in training" hands the spec to the Train page through st.session_state."""
from __future__ import annotations

import numpy as np
import streamlit as st

from pages import _ui

_ui.ensure_frame()

# field -> (label, min, max, step, help)
SLIDERS = {
    "rotation": ("Rotation (max degrees)", 0.0, 360.0, 1.0, "Angle drawn from U(-r, r)."),
    "width_shift": ("Width shift (fraction)", 0.0, 0.95, 0.01, "Horizontal shift, fraction of the width."),
    "height_shift": ("Height shift (fraction)", 0.0, 0.95, 0.01, "Vertical shift, fraction of the height."),
    "shear": ("Shear (factor)", 0.0, 1.0, 0.01, "0.2 = pixels move by up to 20% of the height."),
    "zoom": ("Zoom (fraction)", 0.0, 0.95, 0.01, "Scale drawn from U(1 - z, 1 + z)."),
    "brightness": ("Brightness (fraction of range)", 0.0, 1.0, 0.01, None),
    "contrast": ("Contrast (factor)", 0.0, 1.0, 0.01, None),
    "gaussian_noise": ("Gaussian noise (std, 0-1 units)", 0.0, 0.5, 0.005, None),
    "salt_pepper": ("Salt & pepper (fraction of pixels)", 0.0, 0.5, 0.001, None),
    "random_crop": ("Random crop (fraction kept, 1 = off)", 0.05, 1.0, 0.01, "Crop then resize back."),
}
TOGGLES = {"horizontal_flip": "Horizontal flip", "vertical_flip": "Vertical flip"}
PRESET_LABELS = {"none": "None", "report_a": "Report A (HAM10000 CNNs)", "report_b": "Report B (Fashion-MNIST)",
                 "report_c": "Report C (HAM10000 224px)", "report_d": "Report D (fundus)"}


def _apply_preset() -> None:
    from core.augment import get_preset

    spec = get_preset(st.session_state["aug_preset"])
    _set_widgets(spec.to_dict())


def _reroll() -> None:
    st.session_state["aug_seed"] = int(st.session_state.get("aug_seed", 0)) + 1


def _set_widgets(d: dict) -> None:
    for k, v in d.items():
        if k in SLIDERS:
            st.session_state[f"aug_{k}"] = float(v)
        elif k in TOGGLES:
            st.session_state[f"aug_{k}"] = bool(v)
        elif k == "fill_mode":
            st.session_state["aug_fill_mode"] = v


@_ui.guarded
def body() -> None:
    from core.augment import FILL_MODES, PRESETS, AugmentSpec, preview

    st.title("Augmentation studio")
    st.caption("What the training pipeline will do to an image: the same Keras layers, the same seed.")
    if "aug_rotation" not in st.session_state:  # first visit: start from the spec in use, else none
        _set_widgets(AugmentSpec.from_dict(st.session_state.get("train_augment")).to_dict())

    controls, view = st.columns([1, 2], gap="large")
    with controls:
        st.selectbox("Preset", list(PRESETS), key="aug_preset", format_func=lambda n: PRESET_LABELS.get(n, n),
                     on_change=_apply_preset)
        values: dict = {}
        for k, (label, lo, hi, step, hlp) in SLIDERS.items():
            values[k] = st.slider(label, lo, hi, step=step, key=f"aug_{k}", help=hlp)
        a, b = st.columns(2)
        values["horizontal_flip"] = a.toggle(TOGGLES["horizontal_flip"], key="aug_horizontal_flip")
        values["vertical_flip"] = b.toggle(TOGGLES["vertical_flip"], key="aug_vertical_flip")
        values["fill_mode"] = st.selectbox("Fill mode", list(FILL_MODES), key="aug_fill_mode",
                                           help="How the area uncovered by rotation/shift/zoom is filled.")
        spec = AugmentSpec(**values)

    with view:
        image, caption = pick_image()
        if image is None:
            return
        c1, c2, c3 = st.columns([1, 1, 1])
        n = c1.select_slider("Variants", [4, 8, 12, 16], value=8, key="aug_n")
        st.session_state.setdefault("aug_seed", 0)
        seed = int(c2.number_input("Seed", 0, 1_000_000, key="aug_seed"))
        c3.button("Reroll", icon=":material/casino:", key="aug_reroll", on_click=_reroll)
        with st.spinner("Augmenting…"):
            variants = preview(image, spec, n=int(n), seed=seed)
        st.markdown(f"**Spec:** {spec.describe()}")
        width = _display_width(image)
        cols = st.columns(5)
        cols[0].image(image, caption=f"original · {caption}", width=width, clamp=True)
        for i, v in enumerate(variants):
            cols[(i + 1) % 5].image(v, caption=f"variant {i + 1}", width=width, clamp=True)
        st.divider()
        if st.button("Use in training", type="primary", icon=":material/send:", key="aug_use"):
            st.session_state["train_augment"] = None if spec.is_identity else spec.to_dict()
            st.success(f"The Train page will use: {spec.describe()}.")
        current = st.session_state.get("train_augment")
        st.caption("In use for training: " + (AugmentSpec.from_dict(current).describe() if current else "no augmentation"))


def _display_width(image: np.ndarray) -> int:
    h, w = image.shape[:2]
    return int(min(220, max(96, w * max(1, 96 // max(w, 1)))))


def pick_image() -> tuple[np.ndarray | None, str]:
    src = st.radio("Image", ["From a dataset", "Upload"], horizontal=True, key="aug_src")
    if src == "Upload":
        up = st.file_uploader("An image (JPEG, PNG, TIFF, BMP, WebP, GIF)", type=_ui.UPLOAD_TYPES, key="aug_upload")
        if up is None:
            st.info("Upload an image to see its augmented variants.")
            return None, ""
        out = _ui.decode_upload(up.name, up.getvalue())
        if not out.ok:
            st.error(out.error)
            return None, ""
        for note in out.notices:
            st.caption(note)
        return out.image, up.name
    picked = _ui.dataset_picker("aug", allow_subsample=False)
    if picked is None:
        return None, ""
    name, params = picked
    with st.spinner(f"Loading {name}…"):
        ds = _ui.load_dataset_cached(name, params)
    from core.datasets.io import load_images

    k = st.selectbox("Class", range(ds.num_classes), format_func=lambda i: ds.class_names[i], key=f"aug_class_{name}")
    pos = np.flatnonzero(ds.labels == k)
    if len(pos) == 0:
        st.info("This class has no images.")
        return None, ""
    j = st.number_input(f"Image of that class (0-{len(pos) - 1})", 0, len(pos) - 1, 0, key=f"aug_idx_{name}")
    img = load_images(ds, [int(pos[int(j)])])[0]
    return np.asarray(img, dtype=np.uint8), f"{ds.class_names[k]} · {ds.ids[pos[int(j)]]}"


body()
