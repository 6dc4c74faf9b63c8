"""Model registry, the build entry points and small model utilities.

Importing this module does not import TensorFlow/Keras: builders import Keras when called,
so pages can list models cheaply.

Notices (an input upscaled for a backbone, grayscale converted to RGB, weights partly
transferred) travel two ways: ``build_model(...)`` returns ``BuildResult(model, notices,
info)``; ``create_model(...)`` returns the model only, and ``model_notices(model)`` gives
the same notices back (they are kept on the model object, not saved with it).
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from core.registry import Registry
from core.validation import ModelError, ValidationError, check_number, check_one_of

MODELS: Registry[Callable[..., Any]] = Registry("model")

FAMILIES = ("zoo", "backbone")


def builder_options(fn: Callable[..., Any]) -> dict[str, Any]:
    """A builder's options and their defaults, read from its signature: every parameter after
    the :class:`BuildContext` must be keyword-only with a default (``fn(ctx, *, dropout=0.5)``)."""
    params = list(inspect.signature(fn).parameters.values())[1:]
    bad = [p.name for p in params if p.kind is not p.KEYWORD_ONLY or p.default is p.empty]
    if bad:
        raise TypeError(
            f"Model builder {getattr(fn, '__name__', fn)!r}: option(s) {', '.join(bad)} must be keyword-only with a "
            "default, as in fn(ctx, *, dropout=0.5)."
        )
    return {p.name: p.default for p in params}


def register_model(
    name: str,
    *,
    family: str = "zoo",
    title: str = "",
    report: str | None = None,
    default_input: tuple[int, int, int] = (32, 32, 3),
    description: str = "",
    aliases: tuple[str, ...] = (),
    **meta: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering a builder ``fn(ctx: BuildContext, *, option=default, ...) -> keras.Model``.

    A builder receives a :class:`BuildContext` (validated input shape, number of classes,
    a ``notice`` method) and returns the finished ``keras.Model``. Its keyword-only
    parameters are the model's options: their defaults are what ``model_info`` shows, and
    any other option is refused with a clear message (see :func:`builder_options`).
    Backbones add their facts (``preprocess``, ``cut_points``, ...) as further ``meta``.
    """
    check_one_of("family", family, FAMILIES)
    if "options" in meta:
        raise TypeError(f"register_model({name!r}): options come from the builder's keyword-only parameters; "
                        "do not pass options=.")

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        return MODELS.register(
            name,
            aliases=aliases,
            family=family,
            title=title or name,
            report=report,
            default_input=tuple(default_input),
            description=description,
            options=builder_options(fn),
            **meta,
        )(fn)

    return deco


def list_models(filter: str | None = None, family: str | None = None) -> list[str]:
    """Sorted registered model names, optionally matching a glob and/or a family."""
    if family is not None:
        check_one_of("family", family, FAMILIES)
        return MODELS.names(filter=filter, family=family)
    return MODELS.names(filter=filter)


# Facts a backbone registers with its builder (see core.models.backbones) that model_info shows.
BACKBONE_FACTS = ("preprocess", "preprocess_input", "default_cam_layer", "cut_points", "heads")


def model_info(name: str) -> dict[str, Any]:
    """Plain-data description of a model: title, family, report, default input shape,
    minimum input size (backbones; None for zoo models, which accept any size),
    description, options with defaults; backbones add preprocess mode/function,
    default CAM layer, cut points and heads."""
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
        info.update({k: list(m[k]) if isinstance(m[k], (list, tuple)) else m[k] for k in BACKBONE_FACTS})
    return info


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
    """Refuse options the builder of model ``name`` does not take, naming the accepted ones (and,
    for ``weights`` on a model trained from scratch, the models that take weights)."""
    accepted = sorted(accepted)
    unknown = sorted(set(options) - set(accepted))
    if "weights" in unknown:
        raise ValidationError(_no_weights_message(name, options["weights"]))
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


def _no_weights_message(name: str, weights: Any) -> str:
    """Why ``weights`` cannot be given to model ``name`` (a model without a ``weights`` option)."""
    takes = [n for n in MODELS.names() if "weights" in MODELS.get(n).meta.get("options", {})]
    given = "" if weights is None else f" (got weights={weights!r})"
    return (f"Model {name!r} is a model trained from scratch and takes no weights{given}: leave --weights "
            f"(the 'weights' option) unset for it. Pretrained weights (imagenet, a weights file, run:<id>) apply "
            f"only to the backbone models: {', '.join(takes) or 'none registered'}.")


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


__all__ = [
    "MODELS",
    "BuildContext",
    "BuildResult",
    "builder_options",
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
