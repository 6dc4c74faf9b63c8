"""Model zoo and transfer backbones.

Importing this package registers every model (``zoo`` and ``backbones`` modules, imported
below, once) and does not import TensorFlow: builders import Keras when called.

    from core.models import create_model, list_models, model_info
    model = create_model("small_cnn", input_shape=(8, 8, 1), num_classes=10)
"""
from core.models import zoo  # noqa: F401  (importing it registers the zoo models)
from core.models.backbones import BACKBONES, BackboneCfg, backbone_layer_names
from core.models.base import (
    MODELS,
    BuildResult,
    build_model,
    builder_options,
    count_params,
    create_model,
    default_cam_layer,
    list_models,
    model_info,
    model_notices,
    register_model,
)
from core.models.weights import copy_matching_weights, keras_cache_dir

__all__ = [
    "BACKBONES",
    "MODELS",
    "BackboneCfg",
    "BuildResult",
    "backbone_layer_names",
    "build_model",
    "builder_options",
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
