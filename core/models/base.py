"""Model registry, the build entry points and small model utilities.

Importing this module does not import TensorFlow/Keras: builders import Keras when called,
so pages can list models cheaply.

Notices (an input upscaled for a backbone, grayscale converted to RGB, weights partly
transferred) travel two ways: ``build_model(...)`` returns ``BuildResult(model, notices,
info)``; ``create_model(...)`` returns the model only, and ``model_notices(model)`` gives
the same notices back (they are kept on the model object, not saved with it).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from core.registry import Registry
from core.validation import ModelError, ValidationError, check_number, check_one_of

MODELS: Registry[Callable[..., Any]] = Registry("model")

FAMILIES = ("zoo", "backbone")


def register_model(
    name: str,
    *,
    family: str = "zoo",
    title: str = "",
    report: str | None = None,
    default_input: tuple[int, int, int] = (32, 32, 3),
    description: str = "",
    options: dict[str, Any] | None = None,
    aliases: tuple[str, ...] = (),
    **meta: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering a builder ``fn(ctx: BuildContext, **options) -> keras output``.

    A builder receives a :class:`BuildContext` (validated input shape, number of classes,
    a ``notice`` method) and returns the finished ``keras.Model``. ``options`` maps each
    accepted option to its default (shown by ``model_info`` and used to reject unknown
    options with a clear message).
    """
    check_one_of("family", family, FAMILIES)
    return MODELS.register(
        name,
        aliases=aliases,
        family=family,
        title=title or name,
        report=report,
        default_input=tuple(default_input),
        description=description,
        options=dict(options or {}),
        **meta,
    )


def list_models(filter: str | None = None, family: str | None = None) -> list[str]:
    """Sorted registered model names, optionally matching a glob and/or a family."""
    _ensure_registered()
    if family is not None:
        check_one_of("family", family, FAMILIES)
        return MODELS.names(filter=filter, family=family)
    return MODELS.names(filter=filter)


def model_info(name: str) -> dict[str, Any]:
    """Plain-data description of a model: title, family, report, default input shape,
    minimum input size (backbones; None for zoo models, which accept any size),
    description, options with defaults; backbones add preprocess mode/function,
    default CAM layer and cut points."""
    _ensure_registered()
    entry = MODELS.get(name)
    m = entry.meta
    info = {
        "name": entry.name,
        "title": m["title"],
        "family": m["family"],
        "report": m["report"],
        "default_input": tuple(m["default_input"]),
        "min_input_size": m.get("min_input_size"),
        "description": m["description"],
        "options": dict(m["options"]),
    }
    if m["family"] == "backbone":
        from .backbones import BACKBONES

        cfg = BACKBONES[entry.name]
        info.update(
            preprocess=cfg.preprocess,
            preprocess_input=cfg.preprocess_input,
            default_cam_layer=cfg.default_cam_layer,
            cut_points=list(cfg.cut_points),
            heads=list(HEADS_DOC),
        )
    return info


HEADS_DOC = {
    "gap_dense": "GlobalAveragePooling -> Dense(num_classes, softmax)",
    "flatten_dense": "Flatten -> Dense(dense_units=128, relu) -> Dense(num_classes) (report A)",
    "flatten_dense_dropout": "Flatten -> Dense(dense_units=128, relu) -> Dropout(dropout=0.5) -> Dense(num_classes)",
    "report_c": "GlobalAveragePooling -> Dense(dense_units=128, relu) -> Dropout(dropout=0.5) -> Dense(num_classes) (report C)",
    "report_e": "Flatten -> Dense(256) -> Dense(128) -> Dropout(dropout=0.3) -> Dense(64) -> BatchNorm -> Dense(num_classes) (report E)",
}


@dataclass
class BuildContext:
    """What a builder gets: validated shape and classes, and a place for notices."""

    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    notices: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def notice(self, text: str) -> None:
        self.notices.append(text)


@dataclass
class BuildResult:
    model: Any  # keras.Model
    notices: list[str]
    info: dict[str, Any]  # name, family, input_shape, num_classes, options, backbone facts


def _check_input_shape(input_shape: Any) -> tuple[int, int, int]:
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValidationError(
            "The 'input_shape' parameter must be a (height, width, channels) tuple of 3 positive ints. "
            f"Got {input_shape!r} instead."
        )
    for i, v in enumerate(input_shape):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            try:
                ok = float(v).is_integer() and v >= 1 and not isinstance(v, bool)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ValidationError(
                    "The 'input_shape' parameter must be a (height, width, channels) tuple of 3 positive ints. "
                    f"Got {tuple(input_shape)!r} instead (item {i} is {v!r})."
                )
    h, w, c = (int(v) for v in input_shape)
    if c > 4:
        raise ValidationError(
            f"The 'input_shape' channels must be 1 (grayscale), 3 (RGB) or 4. Got {c} in {tuple(input_shape)!r} "
            "instead; images are height x width x channels (channels last)."
        )
    return (h, w, c)


def check_options(name: str, options: dict[str, Any], accepted: Iterable[str]) -> None:
    accepted = sorted(accepted)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        import difflib

        hints = []
        for u in unknown:
            close = difflib.get_close_matches(u, accepted, n=1)
            if close:
                hints.append(f"{u!r} -> {close[0]!r}?")
        hint = f" Did you mean {', '.join(hints)}" if hints else ""
        acc = ", ".join(repr(a) for a in accepted) if accepted else "none"
        raise ValidationError(
            f"Model {name!r} got unknown option(s) {', '.join(repr(u) for u in unknown)}.{hint} "
            f"Accepted options: {acc}."
        )


def build_model(
    name: str,
    *,
    input_shape: tuple[int, int, int] | None = None,
    num_classes: int,
    **options: Any,
) -> BuildResult:
    """Validate, build and (backbones) load weights; returns model, notices and info.

    ``input_shape=None`` uses the model's default input (``model_info(name)["default_input"]``).
    """
    _ensure_registered()
    entry = MODELS.get(name)
    if input_shape is None:
        input_shape = entry.meta["default_input"]
    shape = _check_input_shape(input_shape)
    n = check_number("num_classes", num_classes, low=2, integer=True)
    check_options(entry.name, options, entry.meta["options"])
    ctx = BuildContext(name=entry.name, input_shape=shape, num_classes=n)
    model = entry.fn(ctx, **options)
    object.__setattr__(model, "_lab_notices", tuple(ctx.notices))
    info = {
        "name": entry.name,
        "family": entry.meta["family"],
        "input_shape": shape,
        "num_classes": n,
        "options": dict(options),
        **ctx.info,
    }
    object.__setattr__(model, "_lab_info", dict(info))
    return BuildResult(model=model, notices=list(ctx.notices), info=info)


def create_model(
    name: str,
    *,
    input_shape: tuple[int, int, int] | None = None,
    num_classes: int,
    **options: Any,
):
    """Build a registered model (a flat functional ``keras.Model``); see ``build_model``."""
    return build_model(name, input_shape=input_shape, num_classes=num_classes, **options).model


def model_notices(model: Any) -> list[str]:
    """Notices recorded when ``model`` was built by this module (empty otherwise)."""
    return list(getattr(model, "_lab_notices", ()))


def count_params(model: Any) -> dict[str, int]:
    """``{"trainable", "non_trainable", "total"}`` parameter counts (like model.summary())."""
    import numpy as np

    t = int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))
    nt = int(sum(int(np.prod(w.shape)) for w in model.non_trainable_weights))
    return {"trainable": t, "non_trainable": nt, "total": t + nt}


# Layers that never make a good CAM target (no spatial features of their own).
_NOT_CAM = (
    "InputLayer",
    "MaxPooling2D",
    "AveragePooling2D",
    "Dropout",
    "SpatialDropout2D",
    "ZeroPadding2D",
    "Cropping2D",
    "Resizing",
    "Rescaling",
    "Normalization",
    "Reshape",
    "GaussianNoise",
)


def _output_shape(layer: Any) -> tuple | None:
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):
        return None


def _spatial(shape: tuple | None) -> bool:
    """A 4D output with more than one spatial cell (a 1x1 map makes a constant CAM)."""
    return shape is not None and len(shape) == 4 and ((shape[1] or 2) > 1 or (shape[2] or 2) > 1)


def default_cam_layer(model: Any) -> str:
    """Name of the layer Grad-CAM should target by default.

    For a backbone model, the backbone's configured CAM layer when it is in the model (it may
    be cut away) and its map is larger than 1x1; otherwise the last layer with a 4D
    (N, H, W, C) output larger than 1x1 (else the last 4D one) that is a convolution or a
    per-pixel op after one (BatchNorm, activation, concatenation, add) -- pooling, dropout,
    padding, resizing and input layers are skipped.
    """
    info = getattr(model, "_lab_info", {}) or {}
    preferred = info.get("cam_layer")
    by_name = {l.name: l for l in model.layers}
    if preferred and preferred in by_name and _spatial(_output_shape(by_name[preferred])):
        return preferred
    last_4d = None
    for layer in reversed(model.layers):
        if type(layer).__name__ in _NOT_CAM:
            continue
        shape = _output_shape(layer)
        if shape is None or len(shape) != 4:
            continue
        if _spatial(shape):
            return layer.name
        last_4d = last_4d or layer.name
    if last_4d:
        return last_4d
    raise ModelError(
        f"Model {getattr(model, 'name', '?')!r} has no layer with a 4D (batch, height, width, channels) "
        "output, so Grad-CAM cannot be computed on it; pass an explicit layer name."
    )


def _ensure_registered() -> None:
    # Importing the builder modules registers them (no Keras import happens here).
    from . import backbones, zoo  # noqa: F401


__all__ = [
    "MODELS",
    "BuildContext",
    "BuildResult",
    "HEADS_DOC",
    "build_model",
    "check_options",
    "count_params",
    "create_model",
    "default_cam_layer",
    "list_models",
    "model_info",
    "model_notices",
    "register_model",
]
