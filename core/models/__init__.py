"""Model zoo and transfer backbones.

Importing this package does not import TensorFlow: builders import Keras when called.

    from core.models import create_model, list_models, model_info
    model = create_model("small_cnn", input_shape=(8, 8, 1), num_classes=10)
"""
from .backbones import BACKBONES, BackboneCfg, backbone_layer_names, copy_matching_weights, keras_cache_dir
from .base import (
    MODELS,
    BuildResult,
    build_model,
    count_params,
    create_model,
    default_cam_layer,
    list_models,
    model_info,
    model_notices,
    register_model,
    _ensure_registered,
)
from . import zoo  # noqa: F401  (registers the zoo models)

__all__ = [
    "BACKBONES",
    "MODELS",
    "BackboneCfg",
    "BuildResult",
    "backbone_layer_names",
    "build_model",
    "copy_matching_weights",
    "count_params",
    "create_model",
    "default_cam_layer",
    "keras_cache_dir",
    "list_models",
    "model_info",
    "model_notices",
    "register_model",
]
