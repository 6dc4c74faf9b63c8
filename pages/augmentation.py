"""Augmentation studio: one image, every AugmentSpec setting, a grid of variants; presets;
"use in training" hands the spec to the Train page through st.session_state."""
from __future__ import annotations

import numpy as np
import streamlit as st

from core.serving.inference import decode_upload
from pages import _format, _frame, _resources, _streamlit_internals, _widgets

_streamlit_internals.ensure_frame(_frame.navigation)

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
VARIANTS = [4, 8, 12, 16]  # choices of the number of variants (at least the first row's two)
GRID_COLUMNS = 3      # preview images per row; each image fills its column (never wider than it)
MIN_PREVIEW_PX = 128  # tiny images (digits are 8x8) are enlarged with sharp pixels to at least this


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


@_widgets.guarded
def body() -> None:
    from core.data.augment import AugmentSpec

    st.title("Augmentation studio")
    st.caption("What the training pipeline will do to an image: the same Keras layers, the same seed.")
    if "aug_rotation" not in st.session_state:  # first visit: start from the spec in use, else none
        _set_widgets(AugmentSpec.from_dict(st.session_state.get("train_augment")).to_dict())
        st.session_state.pop("aug_preset_applied", None)

    controls, view = st.columns([1, 2], gap="large")
    # the picked image is sent first, then the ten sliders: what a visit comes for is drawn
    # before the browser has loaded the scripts of every control (the sliders first delayed the
    # original image's first render by ~0.2 s, bench/README.md); the page looks the same
    with view:
        head, knobs, grid, tail = st.container(), st.container(), st.container(), st.container()
    with head:
        image, caption = pick_image()
    cells = []
    if image is not None:
        with grid:  # the first row: the original and the places of variants 1 and 2
            cells = preview_grid([image, None, None], [f"original · {caption}", "variant 1", "variant 2"])

    with controls:
        spec = spec_controls()
    if image is None:
        return

    with knobs:
        c1, c2, c3 = st.columns([1, 1, 1])
        n = c1.select_slider("Variants", VARIANTS, value=8, key="aug_n")
        st.session_state.setdefault("aug_seed", 0)
        seed = int(c2.number_input("Seed", 0, 1_000_000, key="aug_seed"))
        c3.button("Reroll", icon=":material/casino:", key="aug_reroll", on_click=_reroll)
        st.markdown(f"**Spec:** {spec.describe()}")
    # the variants (TensorFlow's import on a server's first changing preview, then the Keras
    # layers) fill their places at the end
    with grid:  # the other rows: variants 3..n
        cells += preview_grid([None] * (int(n) - 2), [f"variant {i + 1}" for i in range(2, int(n))])
    with tail:
        busy = st.empty()
        use_in_training(spec)
    with busy, st.spinner("Augmenting…"):
        variants = _preview_cached(image, spec.to_dict(), int(n), seed)
    busy.empty()
    for (cell, cap), img in zip(cells, variants):
        cell.image(_enlarge(img), caption=cap, width="stretch", clamp=True)


def spec_controls():
    """The preset and every AugmentSpec setting; the AugmentSpec they describe."""
    from core.data.augment import FILL_MODES, PRESET_INFO, AugmentSpec, canonical_preset, get_preset, preset_names

    if st.session_state.get("aug_preset") not in (None, *preset_names()):  # an old name (report_c)
        st.session_state["aug_preset"] = canonical_preset(st.session_state["aug_preset"])
    preset = st.selectbox("Preset", preset_names(), key="aug_preset", format_func=lambda n: PRESET_INFO[n][0],
                          help="Each preset sets the sliders below; change them freely.")
    # a newly chosen preset sets the sliders (before they are created in this run); no on_change
    # callback: on a session opened by a deep link the callback's rerun reset the selectbox
    if st.session_state.get("aug_preset_applied", preset) != preset:
        _set_widgets(get_preset(preset).to_dict())
    st.session_state["aug_preset_applied"] = preset
    preset_hint = st.empty()
    values: dict = {}
    for k, (label, lo, hi, step, hlp) in SLIDERS.items():
        values[k] = st.slider(label, lo, hi, step=step, key=f"aug_{k}", help=hlp)
    a, b = st.columns(2)
    values["horizontal_flip"] = a.toggle(TOGGLES["horizontal_flip"], key="aug_horizontal_flip")
    values["vertical_flip"] = b.toggle(TOGGLES["vertical_flip"], key="aug_vertical_flip")
    values["fill_mode"] = st.selectbox("Fill mode", list(FILL_MODES), key="aug_fill_mode",
                                       help="How the area uncovered by rotation/shift/zoom is filled.")
    spec = AugmentSpec(**values)
    modified = spec != get_preset(preset)
    hint = PRESET_INFO[preset][1]
    preset_hint.caption(hint[:1].upper() + hint[1:] + (" · modified below" if modified else "") + ".")
    return spec


def use_in_training(spec) -> None:
    """"Use in training": hand the spec to the Train page (session state), and what it uses now."""
    from core.data.augment import AugmentSpec

    st.divider()
    source = st.session_state.get("aug_source_title") or "an uploaded image"
    st.caption(f"**Use in training** hands these settings to the **Train** page. They apply to the training "
               f"images of the next run you submit there, on the dataset you choose on that page (the validation "
               f"and test images are never augmented). Previewed here on: {source}.")
    if st.button("Use in training", type="primary", icon=":material/send:", key="aug_use"):
        st.session_state["train_augment"] = None if spec.is_identity else spec.to_dict()
        st.session_state["train_augment_source"] = source
        st.success(f"Saved for the Train page: {spec.describe()}. It will augment the training images of the next "
                   f"run you submit on Train, on the dataset chosen there (previewed on {source}).",
                   icon=":material/check:")
    current = st.session_state.get("train_augment")
    st.caption("In use for training: " + (AugmentSpec.from_dict(current).describe() if current else "no augmentation")
               + (f" (previewed on {st.session_state['train_augment_source']})"
                  if current and st.session_state.get("train_augment_source") else ""))


@st.cache_data(show_spinner=False, max_entries=64)
def _preview_cached(image: np.ndarray, spec: dict, n: int, seed: int) -> list[np.ndarray]:
    """core.data.augment.preview, cached per (image, spec, n, seed): a revisit redraws at once."""
    from core.data.augment import AugmentSpec, preview

    return list(preview(image, AugmentSpec.from_dict(spec), n=n, seed=seed))


def preview_grid(images: list[np.ndarray | None], captions: list[str]) -> list:
    """Rows of GRID_COLUMNS columns, one image per column, each as wide as its column: images
    never overlap or run past the page whatever their pixel size or the window width. A None
    image leaves an empty placeholder in its place; (placeholder, caption) pairs are returned,
    in order, to be filled later."""
    cells = []
    for start in range(0, len(images), GRID_COLUMNS):
        cols = st.columns(GRID_COLUMNS)
        for col, img, cap in zip(cols, images[start:start + GRID_COLUMNS], captions[start:start + GRID_COLUMNS]):
            if img is None:
                cells.append((col.empty(), _format.md_text(cap)))
            else:
                col.image(_enlarge(img), caption=_format.md_text(cap), width="stretch", clamp=True)
    return cells


def _enlarge(image: np.ndarray) -> np.ndarray:
    """Small images repeated pixel by pixel (sharp, not blurred by the browser) up to MIN_PREVIEW_PX."""
    h, w = image.shape[:2]
    f = int(np.ceil(MIN_PREVIEW_PX / max(min(h, w), 1)))
    if f <= 1:
        return image
    return np.repeat(np.repeat(image, f, axis=0), f, axis=1)


def pick_image() -> tuple[np.ndarray | None, str]:
    src = st.radio("Image", ["From a dataset", "Upload"], horizontal=True, key="aug_src")
    if src == "Upload":
        up = st.file_uploader("An image (JPEG, PNG, TIFF, BMP, WebP, GIF)", type=_widgets.UPLOAD_TYPES, key="aug_upload")
        if up is None:
            st.info("Upload an image to see its augmented variants.")
            return None, ""
        out = decode_upload(up.name, up.getvalue())
        if not out.ok:
            st.error(_format.md_text(out.error))
            return None, ""
        for note in out.notices:
            st.caption(note)
        st.session_state["aug_source_title"] = None
        return out.image, up.name
    picked = _widgets.dataset_picker("aug", allow_subsample=False)
    if picked is None:
        return None, ""
    name, params = picked
    with st.spinner(f"Loading {name}…"):
        ds = _resources.load_dataset_cached(name, params)
    st.session_state["aug_source_title"] = _dataset_title(name)
    from core.datasets.io import load_images

    k = st.selectbox("Class", range(ds.num_classes), format_func=lambda i: ds.class_names[i], key=f"aug_class_{name}")
    pos = np.flatnonzero(ds.labels == k)
    if len(pos) == 0:
        st.info("This class has no images.")
        return None, ""
    j = st.number_input(f"Image of that class (0-{len(pos) - 1})", 0, len(pos) - 1, 0, key=f"aug_idx_{name}")
    img = load_images(ds, [int(pos[int(j)])])[0]
    return np.asarray(img, dtype=np.uint8), f"{ds.class_names[k]} · {ds.ids[pos[int(j)]]}"


def _dataset_title(name: str) -> str:
    info = next((i for i in _resources.cached_dataset_infos() if i.name == name), None)
    return info.title if info is not None else name


body()
