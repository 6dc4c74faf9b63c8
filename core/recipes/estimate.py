"""A rough wall-time estimate of a recipe's run on 2 CPU cores (minutes or hours?).

    from core.recipes.estimate import estimate_seconds, fmt_seconds
    fmt_seconds(estimate_seconds(planned.config, planned.kind))   # "~4 min"

Also the known image counts of the recipes' datasets (``DATASET_CLASS_COUNTS``), which the
pitfall demos use too. Importing this module does not import TensorFlow.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Forward-pass GFLOPs of one image at a reference size (height*width pixels). Zoo models:
# counted from their layers; backbones: the usual published figures for the whole network
# (a cut backbone costs less, so its estimate is high).
MODEL_GFLOPS: dict[str, tuple[float, int]] = {
    "small_cnn": (0.01, 32 * 32),
    "report_a_baseline_cnn": (0.031, 120 * 150),
    "report_a_tuned_cnn": (0.49, 120 * 150),
    "report_b_cnn5": (0.034, 28 * 28),
    "report_b_concat_resnet": (3.35, 32 * 32),   # no down-sampling: every conv runs at 32x32
    "report_e_model1": (0.015, 32 * 32),
    "report_e_model2": (0.015, 32 * 32),
    "report_e_model3": (0.027, 32 * 32),
    "vgg16": (15.5, 224 * 224), "vgg19": (19.6, 224 * 224), "resnet50": (4.1, 224 * 224),
    "resnet50v2": (4.1, 224 * 224), "inceptionv3": (5.7, 299 * 299), "mobilenetv2": (0.3, 224 * 224),
    "densenet121": (2.9, 224 * 224), "densenet201": (4.3, 224 * 224), "efficientnetb0": (0.39, 224 * 224),
}
CPU_GFLOPS = 100.0         # effective throughput of 2 CPU cores (calibrated: report B's CNN5, 20 epochs ~24 min)
PER_IMAGE_OVERHEAD_S = 1e-4
PER_RUN_OVERHEAD_S = 15.0  # start a worker, import TensorFlow, load the data, build the model
# images per class of the full datasets (Keras built-ins: (train, official test) per class)
DATASET_CLASS_COUNTS: dict[str, Any] = {
    "fashion_mnist": (10, 6000, 1000), "mnist": (10, 6000, 1000), "cifar10": (10, 5000, 1000),
    "ham10000": [327, 514, 1099, 115, 1113, 6705, 142],
    "fundus": [25810, 2443, 5292, 873, 708],     # EyePACS training set
    "digits": [180] * 10,
}


def _n_images(d: dict[str, Any]) -> tuple[int, int, int]:
    """(train, val, test) images of a config's dataset, from its known size (rough)."""
    name = d["dataset"]["name"]
    mpc = d["dataset"].get("params", {}).get("max_per_class")
    sp = {"val_ratio": 0.1, "test_ratio": 0.2, **d.get("split", {})}
    counts = DATASET_CLASS_COUNTS.get(name, [1000] * 5)
    if isinstance(counts, tuple):  # official test split kept; val carved from the train part
        k, tr, te = counts
        tr, te = (min(tr, mpc), min(te, mpc)) if mpc else (tr, te)
        n_tr = k * tr
        return int(n_tr * (1 - sp["val_ratio"])), int(n_tr * sp["val_ratio"]), k * te
    n = sum(min(c, mpc) if mpc else c for c in counts)
    return int(n * (1 - sp["val_ratio"] - sp["test_ratio"])), int(n * sp["val_ratio"]), int(n * sp["test_ratio"])


def estimate_seconds(config: Mapping[str, Any], kind: str = "train") -> float:
    """A ROUGH wall-time estimate of one run on 2 CPU cores: epochs x images x the model's
    forward GFLOPs (x3 when trained, x1 for a frozen backbone whose features are computed once
    or per epoch when augmented), plus one pass over validation each epoch and the test once.
    Off by a factor of 2-3 either way; it only tells minutes from hours."""
    d = dict(config)
    gf, ref_px = MODEL_GFLOPS.get(d["model"], (1.0, 224 * 224))
    size = d.get("input_size") or None
    px = (size[0] * size[1]) if size else ref_px
    fwd = gf * px / ref_px / CPU_GFLOPS + PER_IMAGE_OVERHEAD_S
    n_tr, n_val, n_te = _n_images(d)
    if kind == "lr_find":
        return PER_RUN_OVERHEAD_S + 100 * int(d.get("batch_size", 32)) * 3 * fwd
    opts = {**d.get("model_options", {})}
    frozen = d["model"] in _backbone_names() and opts.get("trainable", "frozen") == "frozen"
    epochs = int(d.get("epochs", 1))
    if frozen and not d.get("augment") and not d.get("oversample"):  # cached features: one forward pass
        return PER_RUN_OVERHEAD_S + (n_tr + n_val + n_te) * fwd + epochs * n_tr * 1e-4
    per_train = fwd * (1.3 if frozen else 3.0)
    return PER_RUN_OVERHEAD_S + epochs * (n_tr * per_train + n_val * fwd) + n_te * fwd


def _backbone_names() -> set[str]:
    from core.models import BACKBONES

    return set(BACKBONES)


def fmt_seconds(s: float) -> str:
    if s < 90:
        return f"~{max(1, round(s))} s"
    if s < 5400:
        return f"~{round(s / 60)} min"
    return f"~{s / 3600:.1f} h"

