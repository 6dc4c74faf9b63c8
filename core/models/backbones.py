"""Transfer-learning backbones (keras.applications) with a per-backbone config.

Models are FLAT functional graphs: the backbone is built on our own input tensor
(``input_tensor=``), so every backbone layer is a layer of the returned model and
Grad-CAM can reach e.g. ``block5_conv3`` with ``model.get_layer``.

Order of work: validate every option (and that the requested weights exist) -> build the
graph (grayscale -> RGB, upscaling to the backbone minimum, backbone, cut, head) -> set
trainability -> load weights last.

Weights:
- ``"imagenet"``: Keras' own no-top file, read from Keras' cache folder
  (``$KERAS_HOME/models`` or ``~/.keras/models``), downloaded there when missing and the
  network allows (timeout ``LAB_WEIGHTS_TIMEOUT`` seconds, default 30; no attempt when
  ``LAB_OFFLINE=1``). Unavailable -> ``ModelError`` naming the file, the folder and the
  alternatives.
- ``None`` (the default, so that an unset TrainConfig.weights never triggers a download):
  random initialisation, with a notice.
- a path: ``*.weights.h5`` = weights of a whole lab model with the same architecture
  (``model.save_weights``); ``*.keras`` = a saved model whose layers with matching names and
  shapes are copied (loaded with ``safe_mode=True``); other ``*.h5`` = a Keras-applications
  weights file for the backbone (e.g. a no-top ImageNet file fetched by hand).
- ``"run:<id>"``: the model of an earlier run (its run folder's model file); layers
  with matching names and shapes are copied (the backbone, and the head when it matches).

This module checks the option (``parse_weights``); finding, downloading and loading the files
is ``core.models.weights``'s.
"""
from __future__ import annotations

import inspect
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.models.base import BuildContext, register_model
from core.models.weights import WeightsSpec, imagenet_weights_path, load_weights
from core.validation import ModelError, NotFoundError, ValidationError, check_number, check_one_of

_KERAS_APPS = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class BackboneCfg:
    """What the lab needs to know about one keras.applications backbone."""

    name: str
    title: str
    constructor: str  # attribute of keras.applications, e.g. "VGG16"
    module: str  # keras.applications submodule holding preprocess_input, e.g. "vgg16"
    min_size: int  # smallest height/width the full backbone accepts
    default_size: int  # the ImageNet training size
    preprocess: str  # "caffe" (BGR, mean-centred), "tf" ([-1, 1]), "torch" (ImageNet mean/std), "none" (in-model)
    default_cam_layer: str
    cut_points: tuple[str, ...]  # sensible places to cut (last one = the full backbone output)
    weights_file: str  # Keras' no-top ImageNet file ("{rows}" filled in for MobileNetV2)
    weights_url: str  # folder URL of that file
    weights_md5: str | None = None
    report: str | None = None

    @property
    def preprocess_input(self) -> str:
        """Dotted name of the backbone's own preprocessing function."""
        return f"keras.applications.{self.module}.preprocess_input"

    def preprocess_fn(self):
        """The callable ``keras.applications.<module>.preprocess_input`` (expects RGB in [0, 255])."""
        import importlib

        return importlib.import_module(f"keras.applications.{self.module}").preprocess_input

    def constructor_fn(self):
        import keras

        return getattr(keras.applications, self.constructor)

    def imagenet_file(self, height: int, width: int) -> str:
        rows = height if (height == width and height in (96, 128, 160, 192, 224)) else 224
        return self.weights_file.format(rows=rows)


BACKBONES: dict[str, BackboneCfg] = {
    c.name: c
    for c in (
        BackboneCfg(
            "vgg16", "VGG16", "VGG16", "vgg16", 32, 224, "caffe", "block5_conv3",
            ("block1_pool", "block2_pool", "block3_pool", "block4_conv3", "block4_pool", "block5_conv3", "block5_pool"),
            "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", _KERAS_APPS + "vgg16/",
            "6d6bbae143d832006294945121d1f1fc", report="A, C, E",
        ),
        BackboneCfg(
            "vgg19", "VGG19", "VGG19", "vgg19", 32, 224, "caffe", "block5_conv4",
            ("block1_pool", "block2_pool", "block3_pool", "block4_conv1", "block4_pool", "block5_conv4", "block5_pool"),
            "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", _KERAS_APPS + "vgg19/",
            "253f8cb515780f3b799900260a226db6", report="B, E",
        ),
        BackboneCfg(
            "resnet50", "ResNet50", "ResNet50", "resnet50", 32, 224, "caffe", "conv5_block3_out",
            ("conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out"),
            "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", _KERAS_APPS + "resnet/",
            "4d473c1dd8becc155b73f8504c6f6626", report="A",
        ),
        BackboneCfg(
            "resnet50v2", "ResNet50V2", "ResNet50V2", "resnet_v2", 32, 224, "tf", "post_relu",
            ("conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "post_relu"),
            "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5", _KERAS_APPS + "resnet/",
            "fac2f116257151a9d068a22e544a4917", report="C, E",
        ),
        BackboneCfg(
            "inceptionv3", "InceptionV3", "InceptionV3", "inception_v3", 75, 299, "tf", "mixed10",
            ("mixed2", "mixed5", "mixed7", "mixed10"),
            "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", _KERAS_APPS + "inception_v3/",
            "bcbd6486424b2319ff4ef7d526e38f63", report="E",
        ),
        BackboneCfg(
            "mobilenetv2", "MobileNetV2", "MobileNetV2", "mobilenet_v2", 32, 224, "tf", "out_relu",
            ("block_3_expand_relu", "block_6_expand_relu", "block_13_expand_relu", "out_relu"),
            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5", _KERAS_APPS + "mobilenet_v2/",
            None,
        ),
        BackboneCfg(
            "densenet121", "DenseNet121", "DenseNet121", "densenet", 32, 224, "torch", "relu",
            ("pool2_relu", "pool3_relu", "pool4_relu", "relu"),
            "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5", _KERAS_APPS + "densenet/",
            "30ee3e1110167f948a6b9946edeeb738",
        ),
        BackboneCfg(
            "densenet201", "DenseNet201", "DenseNet201", "densenet", 32, 224, "torch", "relu",
            ("pool2_relu", "pool3_relu", "pool4_relu", "relu"),
            "densenet201_weights_tf_dim_ordering_tf_kernels_notop.h5", _KERAS_APPS + "densenet/",
            "c13680b51ded0fb44dff2d8f86ac8bb1", report="D",
        ),
        BackboneCfg(
            "efficientnetb0", "EfficientNetB0", "EfficientNetB0", "efficientnet", 32, 224, "none", "top_activation",
            ("block2a_expand_activation", "block3a_expand_activation", "block4a_expand_activation",
             "block6a_expand_activation", "top_activation"),
            "efficientnetb0_notop.h5", "https://storage.googleapis.com/keras-applications/",
            "50bc09e76180e00e4465e1a485ddc09d",
        ),
    )
}

HEADS_DOC = {
    "gap_dense": "GlobalAveragePooling -> Dense(num_classes, softmax)",
    "flatten_dense": "Flatten -> Dense(dense_units=128, relu) -> Dense(num_classes) (report A)",
    "flatten_dense_dropout": "Flatten -> Dense(dense_units=128, relu) -> Dropout(dropout=0.5) -> Dense(num_classes)",
    "report_c": "GlobalAveragePooling -> Dense(dense_units=128, relu) -> Dropout(dropout=0.5) -> Dense(num_classes) "
                "(report C)",
    "report_e": "Flatten -> Dense(256) -> Dense(128) -> Dropout(dropout=0.3) -> Dense(64) -> BatchNorm -> "
                "Dense(num_classes) (report E)",
}
HEADS = tuple(HEADS_DOC)
_HEAD_DEFAULTS = {  # (dense_units, dropout)
    "gap_dense": (None, None),
    "flatten_dense": (128, None),
    "flatten_dense_dropout": (128, 0.5),
    "report_c": (128, 0.5),
    "report_e": (None, 0.3),
}
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


# ------------------------------------------------------------------------ weights option
def parse_weights(weights: Any) -> WeightsSpec:
    if weights is None:
        return WeightsSpec("none", label="None")
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    if not isinstance(weights, str):
        raise ValidationError(
            "The 'weights' parameter must be 'imagenet', None, a path to a .weights.h5/.keras/.h5 file or "
            f"'run:<id>'. Got {weights!r} ({type(weights).__name__}) instead."
        )
    if weights.lower() in ("imagenet",):
        return WeightsSpec("imagenet", label="imagenet")
    if weights.lower() in ("none", "random", ""):
        return WeightsSpec("none", label="None")
    if weights.startswith("run:"):
        from core.config import get_settings

        run_id = weights[4:].strip()
        if not _RUN_ID.match(run_id) or ".." in run_id:
            raise ValidationError(
                f"The 'weights' parameter 'run:<id>' needs a run id made of letters, digits, '_', '-' or '.'. "
                f"Got {weights!r} instead."
            )
        from core.store.artifacts import RunFolder

        models_dir = get_settings().models_dir
        path = RunFolder(models_dir / run_id).path_of("model")
        if not path.is_file():
            raise ModelError(
                f"Cannot use weights {weights!r}: run {run_id!r} has no saved model at '{path}' (models folder "
                f"'{models_dir}', set by LAB_MODELS_DIR). Pick a finished run, or use weights='imagenet' or None."
            )
        return WeightsSpec("run", path, weights)
    path = Path(weights).expanduser()
    name = path.name.lower()
    if not (name.endswith(".weights.h5") or name.endswith(".keras") or name.endswith(".h5")):
        raise ValidationError(
            "The 'weights' parameter must be 'imagenet', None, 'run:<id>' or a path ending in .weights.h5, "
            f".keras or .h5. Got {weights!r} instead."
        )
    if not path.is_file():
        raise ModelError(f"The weights file '{path}' does not exist (weights={weights!r}).")
    kind = "weights_h5" if name.endswith(".weights.h5") else "keras" if name.endswith(".keras") else "legacy_h5"
    return WeightsSpec(kind, path, str(path))


# --------------------------------------------------------------------------------- build
def _check_trainable(value: Any) -> str | int:
    if (isinstance(value, str) and value not in ("frozen", "all")) or isinstance(value, bool) or not isinstance(
        value, (str, int)
    ):
        raise ValidationError(
            "The 'trainable' parameter must be 'frozen', 'all' or an int N >= 0 (fine-tune the last N "
            f"backbone layers that have weights). Got {value!r} ({type(value).__name__}) instead."
        )
    if isinstance(value, str):
        return value
    return check_number("trainable", value, low=0, integer=True)


def _layer_error(cfg: BackboneCfg, cut_layer: str, names: list[str]) -> NotFoundError:
    import difflib

    close = difflib.get_close_matches(cut_layer, names, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    if len(names) <= 40:
        valid = f"Valid layers: {', '.join(names)}."
    else:
        valid = (f"{cfg.title} has {len(names)} named layers (see backbone_layer_names({cfg.name!r})); "
                 f"sensible cut points: {', '.join(cfg.cut_points)}.")
    return NotFoundError(f"Unknown cut_layer {cut_layer!r} for backbone {cfg.name!r}.{hint} {valid} "
                         f"Suggested cut points: {', '.join(cfg.cut_points)}.")


def backbone_layer_names(name: str, input_shape: tuple[int, int, int] | None = None) -> list[str]:
    """Names of the backbone's layers (valid ``cut_layer`` values), in graph order."""
    import keras

    cfg = BACKBONES[check_one_of("backbone", name, BACKBONES)]
    size = max(cfg.min_size, 32)
    shape = input_shape or (size, size, 3)
    m = cfg.constructor_fn()(include_top=False, weights=None, input_shape=(shape[0], shape[1], 3))
    try:
        return [l.name for l in m.layers if not isinstance(l, keras.layers.InputLayer)]
    finally:
        del m


def build_backbone_model(
    ctx: BuildContext,
    cfg: BackboneCfg,
    *,
    weights: Any = None,
    cut_layer: str | None = None,
    head: str = "gap_dense",
    dense_units: int | None = None,
    dropout: float | None = None,
    trainable: str | int = "frozen",
):
    """Validate every option, build the flat graph (grayscale -> RGB, upscaling, backbone, cut,
    head), set trainability, then load the weights (see the module docstring)."""
    head, dense_units, dropout, trainable = _check_head_options(head, dense_units, dropout, trainable)
    if cut_layer is not None and (not isinstance(cut_layer, str) or not cut_layer.strip()):
        raise ValidationError(
            f"The 'cut_layer' parameter must be None (the whole backbone) or a layer name such as "
            f"{cfg.cut_points[0]!r}. Got {cut_layer!r} instead."
        )
    h, w, c = ctx.input_shape
    if c not in (1, 3):
        raise ValidationError(
            f"Backbone {cfg.name!r} needs 1-channel (grayscale, converted to RGB in the model) or 3-channel "
            f"RGB input. Got {c} channels in input_shape={ctx.input_shape!r} instead."
        )
    spec = parse_weights(weights)
    th, tw = h, w
    if min(h, w) < cfg.min_size:  # each side up to the minimum (no blow-up of very elongated inputs)
        th, tw = max(h, cfg.min_size), max(w, cfg.min_size)
    imagenet_path = imagenet_weights_path(cfg, th, tw) if spec.kind == "imagenet" else None

    import keras

    inp, backbone, bb_layers, feat = _backbone_graph(ctx, cfg, (th, tw), cut_layer)
    out = _head(feat, head, dense_units, dropout, ctx.num_classes)
    model = keras.Model(inp, out, name=f"{cfg.name}_{head}")
    in_model = {l.name for l in model.layers}
    used = [l for l in bb_layers if l.name in in_model]  # the backbone layers that made it into the model
    _set_trainable(ctx, cfg, used, trainable)
    load_weights(ctx, cfg, model, backbone, used, spec, imagenet_path, head, cut_layer)
    ctx.info.update(
        backbone=cfg.name,
        cut_layer=cut_layer,
        head=head,
        weights=spec.label,
        trainable=trainable,
        preprocess=cfg.preprocess,
        preprocess_input=cfg.preprocess_input,
        cam_layer=cfg.default_cam_layer if cfg.default_cam_layer in in_model else None,
        backbone_input_size=(th, tw),
    )
    return model


def _check_head_options(head: Any, dense_units: Any, dropout: Any, trainable: Any):
    """Validated ``(head, dense_units, dropout, trainable)``, the head's defaults filled in."""
    head = check_one_of("head", head, HEADS)
    du_default, dr_default = _HEAD_DEFAULTS[head]
    if dense_units is not None:
        dense_units = check_number("dense_units", dense_units, low=1, high=65536, integer=True)
    if dropout is not None:
        dropout = float(check_number("dropout", dropout, low=0.0, high=1.0, high_inclusive=False))
    dense_units = dense_units if dense_units is not None else du_default
    dropout = dropout if dropout is not None else dr_default
    return head, dense_units, dropout, _check_trainable(trainable)


def _backbone_graph(ctx: BuildContext, cfg: BackboneCfg, size: tuple[int, int], cut_layer: str | None):
    """``(input, backbone, backbone layers, features)``: the backbone built flat on our input
    (grayscale repeated to RGB, upscaled to ``size`` when smaller), cut at ``cut_layer``."""
    import keras

    L = keras.layers
    h, w, c = ctx.input_shape
    th, tw = size
    inp = keras.Input(ctx.input_shape, name="input")
    x = inp
    if c == 1:
        x = L.Concatenate(axis=-1, name="lab_gray_to_rgb")([x, x, x])
        ctx.notice(f"Grayscale input: the model repeats the single channel to RGB for {cfg.title}.")
    if (th, tw) != (h, w):
        x = L.Resizing(th, tw, interpolation="bilinear", name="lab_upscale")(x)
        ctx.notice(
            f"{cfg.title} needs inputs of at least {cfg.min_size}x{cfg.min_size}; the model upscales "
            f"{h}x{w} inputs to {th}x{tw} (bilinear Resizing layer inside the model)."
        )
    backbone = cfg.constructor_fn()(include_top=False, weights=None, input_tensor=x, input_shape=(th, tw, 3))
    bb_layers = [l for l in backbone.layers
                 if not isinstance(l, keras.layers.InputLayer) and l.name not in ("lab_gray_to_rgb", "lab_upscale")]
    if cut_layer is None:
        return inp, backbone, bb_layers, backbone.output
    names = [l.name for l in bb_layers]
    if cut_layer not in names:
        raise _layer_error(cfg, cut_layer, names)
    feat = backbone.get_layer(cut_layer).output
    if len(feat.shape) != 4:
        raise ValidationError(f"cut_layer {cut_layer!r} of {cfg.name!r} does not output a feature map "
                              f"(its output shape is {tuple(feat.shape)}); choose one of {', '.join(cfg.cut_points)}.")
    return inp, backbone, bb_layers, feat


def _head(feat, head: str, dense_units: int | None, dropout: float | None, num_classes: int):
    """The classification head on the feature map (see ``HEADS_DOC``); float32 softmax output."""
    import keras

    L = keras.layers
    y = feat
    if head in ("gap_dense", "report_c"):
        y = L.GlobalAveragePooling2D(name="head_gap")(y)
    else:
        y = L.Flatten(name="head_flatten")(y)
    if head in ("flatten_dense", "flatten_dense_dropout", "report_c"):
        y = L.Dense(dense_units, activation="relu", name="head_dense1")(y)
        if head != "flatten_dense":
            y = L.Dropout(dropout, name="head_dropout")(y)
    elif head == "report_e":
        y = L.Dense(256, activation="relu", name="head_dense1")(y)
        y = L.Dense(128, activation="relu", name="head_dense2")(y)
        y = L.Dropout(dropout, name="head_dropout")(y)
        y = L.Dense(64, activation="relu", name="head_dense3")(y)
        y = L.BatchNormalization(name="head_bn")(y)
    return L.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(y)


def _set_trainable(ctx: BuildContext, cfg: BackboneCfg, used: list, trainable: str | int) -> None:
    """'all', 'frozen' or the last N weighted backbone layers trainable (BatchNorm stays frozen)."""
    import keras

    if trainable == "all":
        for l in used:
            l.trainable = True
        return
    for l in used:
        l.trainable = False
    n = 0 if trainable == "frozen" else int(trainable)
    if n:
        weighted = [l for l in used if l.weights and not isinstance(l, keras.layers.BatchNormalization)]
        for l in weighted[-n:]:
            l.trainable = True
        if n > len(weighted):
            ctx.notice(f"trainable={n} is more than the {len(weighted)} weighted layers of the (cut) "
                       f"{cfg.title}; all of them are fine-tuned (BatchNorm layers stay frozen).")


def _make_builder(cfg: BackboneCfg):
    def builder(ctx: BuildContext, **options):
        return build_backbone_model(ctx, cfg, **options)

    builder.__name__ = f"build_{cfg.name}"
    builder.__doc__ = f"{cfg.title} transfer model (keras.applications.{cfg.constructor})."
    # the options are build_backbone_model's keyword-only parameters (cfg is bound here)
    sig = inspect.signature(build_backbone_model)
    builder.__signature__ = sig.replace(parameters=[p for p in sig.parameters.values() if p.name != "cfg"])
    return builder


def _register(cfg: BackboneCfg) -> None:
    register_model(
        cfg.name,
        family="backbone",
        title=f"{cfg.title} (transfer)",
        report=cfg.report,
        default_input=(cfg.default_size, cfg.default_size, 3),
        min_input_size=cfg.min_size,
        description=(
            f"keras.applications.{cfg.constructor} (include_top=False) built flat on the lab input, cut at "
            f"cut_layer (default: full backbone), with a classification head. Preprocessing: "
            f"{cfg.preprocess_input} ({cfg.preprocess}). Smaller inputs than {cfg.min_size}x{cfg.min_size} "
            "are upscaled inside the model."
        ),
        preprocess=cfg.preprocess,
        preprocess_input=cfg.preprocess_input,
        default_cam_layer=cfg.default_cam_layer,
        cut_points=tuple(cfg.cut_points),
        heads=HEADS,
    )(_make_builder(cfg))


for _cfg in BACKBONES.values():
    _register(_cfg)
del _cfg
