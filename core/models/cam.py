"""Class-activation heatmaps through tf-keras-vis, and overlays on the original image.

- :func:`cam` computes Grad-CAM, Grad-CAM++, (Faster-)Score-CAM or (Smooth-)Grad saliency
  for a batch of *already preprocessed* float images and returns one heatmap per image,
  shape (N, H, W), values in [0, 1] at the model's input resolution.
- :func:`overlay` blends a heatmap, resized to the original image, onto that image.
- :func:`explain_batch` does both for a few uint8 images (the Predict page's flow).

Nothing is written to disk. The user's model is never modified: every method works on a
clone whose softmax is replaced by a linear output (``ReplaceToLinear``), as tf-keras-vis
recommends (Score-CAM applies the softmax to that clone's outputs itself). The CAM maths is
tf-keras-vis's; what surrounds it is made once per (model, method) and kept in a small
thread-safe cache keyed weakly by the model object (it disappears with the model) and by the
optimizer's step count (a model trained further gets fresh objects): the clone (one per model),
the score function, the tf-keras-vis instance and compiled (``tf.function``) model passes for
Grad-CAM, saliency and Score-CAM's masked copies (see :mod:`core.models.cam_cache`). After
changing weights by other means (``set_weights``, ``load_weights``) call :func:`clear_cache`.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.models.cam_cache import _cache, clear_cache, explainer  # noqa: F401  (_cache: tests look at it)
from core.validation import ModelError, NotFoundError, ValidationError, check_number, check_one_of

__all__ = [
    "METHODS",
    "COLORMAPS",
    "cam",
    "overlay",
    "explain_batch",
    "Explanation",
    "conv_layers",
    "resolve_cam_layer",
    "apply_colormap",
    "clear_cache",
]

METHODS = ("gradcam", "gradcam++", "scorecam", "saliency")
_LAYER_METHODS = ("gradcam", "gradcam++", "scorecam")



def _visualizer(model, method: str):
    """The cached tf-keras-vis instance of ``model`` for ``method`` (see core.models.cam_cache)."""
    return explainer(model, method).vis


# --------------------------------------------------------------------------------------
# layers
# --------------------------------------------------------------------------------------
def _output_rank(layer) -> int | None:
    try:
        out = layer.output
    except (AttributeError, ValueError, RuntimeError):
        return None
    if isinstance(out, (list, tuple)):
        return None
    shape = getattr(out, "shape", None)
    return len(shape) if shape is not None else None


def conv_layers(model) -> list[str]:
    """Names of the layers with a 4-D (batch, h, w, channels) output, input layers excluded:
    the layers Grad-CAM and Score-CAM can use."""
    import keras

    return [
        layer.name for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer) and _output_rank(layer) == 4
    ]


def resolve_cam_layer(model, layer: str | None = None) -> str:
    """The layer to explain: ``layer`` if given (checked), else the model's default
    (``core.models.default_cam_layer`` when available) else the last 4-D layer that is not a
    pooling, dropout, padding or cropping layer."""
    candidates = conv_layers(model)
    if not candidates:
        raise ModelError(
            f"Model {model.name!r} has no layer with a 4-D (image-like) output, so class-activation "
            "maps cannot be computed; use method='saliency'."
        )
    if layer is None:
        try:
            from core.models import default_cam_layer  # written by the models helper

            name = default_cam_layer(model)
            if name in candidates:
                return name
        except Exception:  # noqa: BLE001 - any failure there falls back to the last 4-D layer
            pass
        skip = ("Pooling", "Dropout", "ZeroPadding", "Cropping")
        kinds = {lyr.name: type(lyr).__name__ for lyr in model.layers}
        spatial = [c for c in candidates if not any(s in kinds[c] for s in skip)]
        return (spatial or candidates)[-1]
    if not isinstance(layer, str):
        raise ValidationError(f"The 'layer' parameter must be a layer name (str). Got {layer!r}.")
    if layer not in candidates:
        known = {lyr.name for lyr in model.layers}
        why = "has no 4-D output" if layer in known else "does not exist"
        raise NotFoundError(
            f"Layer {layer!r} {why} in model {model.name!r}. Layers usable for CAM: {', '.join(candidates)}."
        )
    return layer


# --------------------------------------------------------------------------------------
# cam
# --------------------------------------------------------------------------------------
def _check_images(model, images) -> np.ndarray:
    x = np.asarray(images)
    if x.dtype.kind not in "fiub":
        raise ValidationError(f"images_float must be a numeric array. Got dtype {x.dtype}.")
    x = x.astype(np.float32)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValidationError(
            f"images_float must have shape (N, H, W, C) (or (H, W, C) for one image). Got shape {x.shape}."
        )
    if len(model.inputs) != 1:
        raise ModelError(f"Model {model.name!r} has {len(model.inputs)} inputs; CAM supports single-input models.")
    want = tuple(model.inputs[0].shape[1:])
    if len(want) != 3 or any(w is not None and w != g for w, g in zip(want, x.shape[1:])):
        raise ValidationError(
            f"Images of shape {x.shape[1:]} do not fit the model input {want}; preprocess them with the "
            "run's preprocessing (resize, channels, normalisation) first."
        )
    if len(x) == 0:
        raise ValidationError("images_float is empty.")
    if not np.isfinite(x).all():
        raise ValidationError("images_float contains NaN or infinite values.")
    return x


def _class_indices(model, x: np.ndarray, class_index) -> np.ndarray:
    n_out = int(model.outputs[0].shape[-1])
    if class_index is None:
        probs = np.asarray(model(x, training=False))
        return probs.argmax(axis=-1).astype(int)
    idx = np.atleast_1d(np.asarray(class_index))
    if idx.dtype.kind not in "iu":
        raise ValidationError(f"class_index must be an int or a list of ints. Got {class_index!r}.")
    if idx.size == 1:
        idx = np.repeat(idx, len(x))
    if idx.shape != (len(x),):
        raise ValidationError(
            f"class_index has {idx.size} entries for {len(x)} images; give one int or one per image."
        )
    if idx.min() < 0 or idx.max() >= n_out:
        raise ValidationError(f"class_index must be in [0, {n_out - 1}] (the model has {n_out} outputs). Got {class_index!r}.")
    return idx.astype(int)


def _relu(grads):
    import tensorflow as tf

    return tf.nn.relu(grads)


def _shifted(score):
    """The class score minus its own (gradient-free) value: same gradients, value 0.

    Grad-CAM++ multiplies the gradients by exp(score); that factor cancels in the alphas and
    only rescales each map (undone by the normalisation), but with confident models exp(logit)
    overflows float32 and the map becomes NaN/zero. exp(0) = 1 keeps it finite.
    """
    import tensorflow as tf

    def fn(output):
        s = score(output)
        return s - tf.stop_gradient(s)

    return fn


def _binomial_blur(maps: np.ndarray, passes: int) -> np.ndarray:
    """``passes`` rounds of the separable [1, 2, 1] / 4 filter over (N, H, W) maps (edges
    reflected). Each round multiplies the frequency f (cycles per pixel) by cos(pi f)^2 per
    axis: the period-2 pattern (f = 0.5) is removed exactly, smooth structure is kept;
    ``passes`` rounds are a Gaussian of s.d. sqrt(passes / 2) pixels."""
    out = np.asarray(maps, dtype=np.float32)
    for _ in range(passes):
        for ax in (1, 2):
            if out.shape[ax] < 2:
                continue
            pad = [(0, 0)] * 3
            pad[ax] = (1, 1)
            p = np.pad(out, pad, mode="reflect")
            n = out.shape[ax]
            out = 0.25 * (np.take(p, range(0, n), axis=ax) + np.take(p, range(2, n + 2), axis=ax)) \
                + 0.5 * np.take(p, range(1, n + 1), axis=ax)
    return out


def _rows_per_call(xb: np.ndarray, budget: int) -> int:
    """Rows (noisy or masked copies) per compiled call: ``budget`` pixels per call, 8 to 256 rows."""
    return int(max(8, min(256, budget // max(1, xb.shape[1] * xb.shape[2]))))


def _smoothgrad(ex, xb: np.ndarray, idx: np.ndarray, samples: int, noise: float, blur: int, rng) -> np.ndarray:
    """SmoothGrad as tf-keras-vis's ``Saliency(smooth_samples=samples)`` computes it: the same noise
    (``rng.normal(0, sigma, (samples, b, H, W, C))`` with sigma = ``noise`` x each image's value range,
    the library's one draw, here from ``rng``, a ``RandomState`` seeded by :func:`cam`, where the library
    uses NumPy's global one), float32 noisy copies, the mean of |d score / d x| summed sample by sample,
    max over channels, min-max normalised. Unlike the library's loop (one gradient call per sample) the
    copies go through the compiled gradient function batched (about a million pixels a call).

    Before the normalisation the map gets ``blur`` rounds of a [1, 2, 1] binomial filter.
    A strided convolution (small_cnn's stride-2 stem from 48 px up, most backbones' first
    conv) covers the pixels of one parity with more kernel taps than the others, so
    |d score / d x| carries a period-2 checkerboard that averaging over noise does not
    remove (it is in every sample); upsampled to the uploaded image's size it shows as a
    regular dot lattice over the whole image. The binomial filter zeroes exactly that
    frequency (the usual light smoothing of gradient maps, here with a zero at the stride)."""
    from tf_keras_vis.utils import normalize

    if samples == 0:
        g = ex.vis(ex.score.bind(idx), xb, smooth_samples=0, keepdims=True, normalize_map=False)
        return normalize(_binomial_blur(np.max(np.asarray(g), axis=-1), blur))
    b = len(xb)
    span = xb.max(axis=(1, 2, 3), keepdims=True) - xb.min(axis=(1, 2, 3), keepdims=True)
    sigma = np.broadcast_to((noise * span)[None], (samples, b, 1, 1, 1))
    noisy = (xb[None] + rng.normal(0.0, sigma, (samples, *xb.shape)).astype(np.float32))
    noisy = noisy.reshape(samples * b, *xb.shape[1:])
    classes = np.tile(idx, samples)
    step = _rows_per_call(xb, 1 << 20)
    grads = np.concatenate([
        np.asarray(ex.vis(ex.score.bind(classes[i:i + step]), noisy[i:i + step], smooth_samples=0, keepdims=True,
                          normalize_map=False))
        for i in range(0, len(noisy), step)
    ]).reshape(samples, b, *xb.shape[1:])
    total = np.zeros_like(xb)
    for g in grads:  # the library's order: sample by sample
        total = total + g
    return normalize(_binomial_blur(np.max(total / samples, axis=-1), blur))


def cam(
    model,
    images_float,
    *,
    method: str = "gradcam",
    class_index: int | Sequence[int] | None = None,
    layer: str | None = None,
    max_n: int = 10,
    smooth_samples: int = 20,
    smooth_noise: float = 0.2,
    smooth_blur: int = 2,
    batch_size: int = 16,
    seed: int = 0,
) -> np.ndarray:
    """Heatmaps (N, H, W) in [0, 1] explaining ``class_index`` (default: each image's
    predicted class) for preprocessed images (N, H, W, C).

    ``method``: ``"gradcam"``, ``"gradcam++"``, ``"scorecam"`` (Faster-Score-CAM keeping the
    ``max_n`` most varying channels; ``max_n=-1`` uses all) or ``"saliency"`` (SmoothGrad
    with ``smooth_samples`` noisy copies, noise s.d. ``smooth_noise`` x the image's value range,
    drawn from ``np.random.RandomState(seed)`` as tf-keras-vis draws it from NumPy's global generator
    (so the same map as ``np.random.seed(seed)`` + the library's own SmoothGrad); 0 samples = vanilla
    gradients; the map is then smoothed by
    ``smooth_blur`` rounds of a [1, 2, 1] binomial filter, a Gaussian of s.d.
    sqrt(smooth_blur / 2) input pixels that removes the checkerboard strided convolutions
    leave in input gradients; 0 = no smoothing).
    ``layer``: the 4-D layer for the CAM methods (default: the model's CAM layer).
    Maps are min-max normalised per image; a map with no signal is all zeros.
    """
    method = check_one_of("method", method, METHODS)
    x = _check_images(model, images_float)
    batch_size = check_number("batch_size", batch_size, low=1, integer=True)
    idx = _class_indices(model, x, class_index)
    layer_name = resolve_cam_layer(model, layer) if method in _LAYER_METHODS else None
    if method == "scorecam":
        max_n = _check_max_n(model, layer_name, max_n)
    smooth = None
    if method == "saliency":
        smooth = (check_number("smooth_samples", smooth_samples, low=0, integer=True),
                  check_number("smooth_noise", smooth_noise, low=0.0),
                  check_number("smooth_blur", smooth_blur, low=0, high=16, integer=True))
        seed = check_number("seed", seed, low=0, integer=True)
    ex = explainer(model, method)
    rng = np.random.RandomState(seed)  # the legacy generator: tf-keras-vis's noise for the same seed
    out = [_batch_maps(ex, method, x[start:start + batch_size], idx[start:start + batch_size], layer_name,
                       max_n, smooth, rng)
           for start in range(0, len(x), batch_size)]
    maps = np.concatenate(out, axis=0)
    maps = np.nan_to_num(maps, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(maps, 0.0, 1.0)


def _check_max_n(model, layer_name: str, max_n: int) -> int:
    """Score-CAM's channel count: -1 (all channels) or >= 1; more than the layer has means all."""
    max_n = check_number("max_n", max_n, integer=True)
    channels = int(model.get_layer(layer_name).output.shape[-1])
    if max_n == 0 or max_n < -1:
        raise ValidationError(f"The 'max_n' parameter must be -1 (all channels) or >= 1. Got {max_n}.")
    return -1 if max_n > channels else max_n


def _batch_maps(ex, method: str, xb: np.ndarray, idx: np.ndarray, layer_name: str | None, max_n: int,
                smooth: tuple[int, float, int] | None, rng) -> np.ndarray:
    """The maps (b, H, W) of one batch of images for ``method`` (see :func:`cam`)."""
    vis = ex.vis
    score = ex.score.bind(idx)
    if method == "gradcam++":
        score = _shifted(score)
    if method == "saliency":
        m = _smoothgrad(ex, xb, idx, *smooth, rng)
    elif method == "scorecam":
        m = vis(score, xb, penultimate_layer=layer_name, seek_penultimate_conv_layer=False,
                max_N=max_n, normalize_cam=True, expand_cam=True, batch_size=_rows_per_call(xb, 1 << 22))
    elif method == "gradcam++":
        # positive gradients only: where the gradient is negative the pixel adds nothing to
        # the weights (ReLU), but its alpha would still enter the per-channel alpha
        # normalisation, which can turn negative when gradients vary in space (Flatten
        # heads) and zero the whole map. With spatially uniform gradients (GAP heads) the
        # result is unchanged.
        m = vis(score, xb, penultimate_layer=layer_name, seek_penultimate_conv_layer=False,
                gradient_modifier=_relu, normalize_cam=True, expand_cam=True)
    else:
        m = vis(score, xb, penultimate_layer=layer_name, seek_penultimate_conv_layer=False,
                normalize_cam=True, expand_cam=True)
    m = np.asarray(m[0] if isinstance(m, list) else m, dtype=np.float32)
    return m[None] if m.ndim == 2 else m


# --------------------------------------------------------------------------------------
# colour maps and overlay
# --------------------------------------------------------------------------------------
# piecewise-linear segment data (x, value) per channel, as matplotlib defines them
_SEGMENTS: dict[str, tuple] = {
    "jet": (
        [(0, 0), (0.35, 0), (0.66, 1), (0.89, 1), (1, 0.5)],
        [(0, 0), (0.125, 0), (0.375, 1), (0.64, 1), (0.91, 0), (1, 0)],
        [(0, 0.5), (0.11, 1), (0.34, 1), (0.65, 0), (1, 0)],
    ),
    "hot": (
        [(0, 0.0416), (0.365079, 1), (1, 1)],
        [(0, 0), (0.365079, 0), (0.746032, 1), (1, 1)],
        [(0, 0), (0.746032, 0), (1, 1)],
    ),
    "gray": ([(0, 0), (1, 1)], [(0, 0), (1, 1)], [(0, 0), (1, 1)]),
}
# viridis sampled at 0, 0.1, ..., 1 (matplotlib's table), linearly interpolated
_VIRIDIS = np.array([
    [0.267004, 0.004874, 0.329415], [0.282623, 0.140926, 0.457517], [0.253935, 0.265254, 0.529983],
    [0.206756, 0.371758, 0.553117], [0.163625, 0.471133, 0.558148], [0.127568, 0.566949, 0.550556],
    [0.134692, 0.658636, 0.517649], [0.266941, 0.748751, 0.440573], [0.477504, 0.821444, 0.318195],
    [0.741388, 0.873449, 0.149561], [0.993248, 0.906157, 0.143936],
])
COLORMAPS = ("jet", "viridis", "hot", "gray")


def _lut(name: str) -> np.ndarray:
    """A 256 x 3 uint8 lookup table."""
    t = np.linspace(0.0, 1.0, 256)
    try:  # matplotlib is optional; when present its colour maps are used (any name)
        import matplotlib

        cmap = matplotlib.colormaps[name]
        return (np.asarray(cmap(t))[:, :3] * 255 + 0.5).astype(np.uint8)
    except ImportError:
        pass
    except KeyError:
        raise ValidationError(
            f"Unknown colormap {name!r}; use a matplotlib colour map name such as 'jet' or 'viridis'."
        ) from None
    check_one_of("colormap", name, COLORMAPS)
    if name == "viridis":
        xs = np.linspace(0, 1, len(_VIRIDIS))
        rgb = np.stack([np.interp(t, xs, _VIRIDIS[:, c]) for c in range(3)], axis=1)
    else:
        rgb = np.stack([np.interp(t, *zip(*seg)) for seg in _SEGMENTS[name]], axis=1)
    return (rgb * 255 + 0.5).astype(np.uint8)


def apply_colormap(heatmap, colormap: str = "jet") -> np.ndarray:
    """Map values in [0, 1] (H, W) to colours: uint8 (H, W, 3)."""
    h = np.nan_to_num(np.asarray(heatmap, dtype=np.float64), nan=0.0)
    h = np.clip(h, 0.0, 1.0)
    return _lut(colormap)[(h * 255 + 0.5).astype(np.uint8)]


def _as_rgb_uint8(image) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype.kind == "f":
        raise ValidationError(
            "overlay() takes the original uint8 image (values 0-255), not the preprocessed float array."
        )
    if img.dtype.kind not in "uib":
        raise ValidationError(f"The image must be a uint8 array. Got dtype {img.dtype}.")
    if img.size and (img.min() < 0 or img.max() > 255):
        raise ValidationError(f"Image values must lie in 0-255. Got {img.min()}..{img.max()}.")
    img = img.astype(np.uint8)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[-1] not in (1, 3, 4):
        raise ValidationError(f"The image must be H x W, H x W x 1, H x W x 3 or H x W x 4. Got shape {img.shape}.")
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    elif img.shape[-1] == 4:
        img = img[..., :3]
    return img


def _resize_map(heatmap: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    h = np.asarray(heatmap, dtype=np.float32)
    if h.shape == tuple(size_hw):
        return h
    im = Image.fromarray(np.ascontiguousarray(h))  # float32 2-D -> mode "F"
    im = im.resize((size_hw[1], size_hw[0]), resample=Image.BILINEAR)
    return np.asarray(im, dtype=np.float32)


def overlay(image_uint8, heatmap, *, colormap: str = "jet", alpha: float = 0.4) -> np.ndarray:
    """Blend a [0, 1] heatmap (any size; resized bilinearly) onto a uint8 image:
    ``(1 - alpha) * image + alpha * colour(heatmap)``, returned as uint8 H x W x 3."""
    alpha = check_number("alpha", alpha, low=0.0, high=1.0)
    img = _as_rgb_uint8(image_uint8)
    h = np.asarray(heatmap)
    if h.ndim == 3 and h.shape[-1] == 1:
        h = h[..., 0]
    if h.ndim != 2 or h.size == 0:
        raise ValidationError(f"The heatmap must be a 2-D array (h, w). Got shape {h.shape}.")
    h = np.clip(np.nan_to_num(h.astype(np.float32), nan=0.0), 0.0, 1.0)
    colour = apply_colormap(_resize_map(h, img.shape[:2]), colormap).astype(np.float32)
    out = (1.0 - alpha) * img.astype(np.float32) + alpha * colour
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------
# explain a few uint8 images end to end
# --------------------------------------------------------------------------------------
@dataclass
class Explanation:
    heatmap: np.ndarray            # (h, w) in [0, 1], model input resolution
    overlay: np.ndarray            # uint8, the original image's size, 3 channels
    class_index: int               # the class explained
    probability: float             # the model's probability for that class
    probabilities: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))


def explain_batch(
    model,
    images_uint8: Sequence[np.ndarray] | np.ndarray,
    preprocess: Callable[[np.ndarray], Any] | Any,
    *,
    method: str = "gradcam",
    class_index: int | Sequence[int] | None = None,
    layer: str | None = None,
    colormap: str = "jet",
    alpha: float = 0.4,
    **cam_options,
) -> list[Explanation]:
    """Explain a few original images (uint8, any sizes) end to end.

    ``preprocess`` maps a uint8 batch (1, H, W, C) to the model's float input: a
    ``Preprocessing`` (its ``apply_np`` is used) or any callable. Returns one
    :class:`Explanation` per image, the overlay at the original image's size.
    """
    fn = preprocess.apply_np if hasattr(preprocess, "apply_np") else preprocess
    if not callable(fn):
        raise ValidationError("preprocess must be a Preprocessing (with apply_np) or a callable.")
    imgs = list(images_uint8) if not isinstance(images_uint8, np.ndarray) or images_uint8.ndim == 4 else [images_uint8]
    if not imgs:
        raise ValidationError("No images to explain.")
    rgb = [_as_rgb_uint8(im) for im in imgs]
    raw = []
    for im in imgs:  # H x W -> H x W x 1; RGBA -> RGB; dtype uint8 as checked above
        a = np.asarray(im).astype(np.uint8)
        a = a[..., None] if a.ndim == 2 else a
        raw.append(a[..., :3] if a.shape[-1] == 4 else a)
    x = np.concatenate([np.asarray(fn(r[None]), dtype=np.float32) for r in raw], axis=0)
    probs = np.asarray(model(x, training=False), dtype=np.float64)
    idx = probs.argmax(axis=-1) if class_index is None else _class_indices(model, x, class_index)
    maps = cam(model, x, method=method, class_index=[int(i) for i in idx], layer=layer, **cam_options)
    return [
        Explanation(
            heatmap=maps[i],
            overlay=overlay(rgb[i], maps[i], colormap=colormap, alpha=alpha),
            class_index=int(idx[i]),
            probability=float(probs[i, idx[i]]),
            probabilities=probs[i],
        )
        for i in range(len(rgb))
    ]
